/*-------------------------------------------------------------------------
 *
 * ratelimit.h
 *	  Per-user token buckets in shared memory, for reads and for writes.
 *
 * One bucket per (user, kind) for the whole server: every session and
 * every token of a user draws from it, so more connections or more tokens
 * do not buy more calls.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_RATELIMIT_H
#define FEED_RATELIMIT_H

typedef enum FeedRateKind
{
	FEED_RATE_READ = 0,
	FEED_RATE_WRITE = 1
} FeedRateKind;

#define FEED_RATE_KINDS 2

extern void feed_ratelimit_define_gucs(void);
extern void feed_ratelimit_shmem_request(void);
extern void feed_ratelimit_shmem_startup(void);

/* Is a limit configured for this kind (feed.rate_limit_reads/writes > 0)? */
extern bool feed_ratelimit_enabled(FeedRateKind kind);

/*
 * Takes one call from user_id's bucket.  Returns true if allowed.  When
 * refused, *retry_ms is how long until the bucket holds a whole call again,
 * *limit and *burst the settings in force, and *audit is true for at most one
 * refusal per user and kind per second (then *suppressed counts the
 * refusals since the last audited one), so a client hammering at a limit
 * cannot flood the audit trail.
 */
extern bool feed_ratelimit_take(int64 user_id, FeedRateKind kind, int64 *retry_ms,
								int *limit, int *burst, bool *audit, uint32 *suppressed);

/* Refusals since startup, per kind (for feed.security_status). */
extern uint64 feed_ratelimit_refused(FeedRateKind kind);

#endif							/* FEED_RATELIMIT_H */
