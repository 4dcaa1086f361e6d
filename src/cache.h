/*-------------------------------------------------------------------------
 *
 * cache.h
 *	  Shared-memory feed cache: home-feed windows and hot post rows.
 *
 * Two halves: a read side (lookup, single-flight build, install) used by
 * timeline.c, and a write side that modules call when they change what a
 * feed shows.  Write-side calls only record the change; it is applied when
 * the transaction commits, and dropped if it aborts (see cache.c for the
 * protocol that keeps a cached copy from ever being older than a commit a
 * reader can see).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_CACHE_H
#define FEED_CACHE_H

#include "datatype/timestamp.h"

/* entries of a home feed kept per cached user */
#define FEED_CACHE_WINDOW	200

/* one row of a cached home feed: the entry and the original it shows */
typedef struct FeedCacheEntry
{
	int64		entry_id;
	int64		orig_id;
} FeedCacheEntry;

/* a cached post row; body is NULL for reposts and deleted posts */
typedef struct FeedCachePost
{
	int64		post_id;
	int64		author_id;
	int64		repost_of;		/* 0: an original */
	TimestampTz created_at;
	int64		like_count;
	bool		deleted;
	bool		body_null;
	int			body_len;
	const char *body;			/* points into caller-owned memory */
	struct varlena *body_text;	/* the body as text, when get made one */
} FeedCachePost;

typedef enum FeedCacheLookup
{
	FEED_CACHE_HIT,				/* page copied out of the cache */
	FEED_CACHE_BUILD,			/* caller builds the window, then installs */
	FEED_CACHE_UNCACHED			/* caller reads the tables; nothing cached */
} FeedCacheLookup;

/* settings (docs/configuration.md) */
extern int	feed_cache_size_kb;
extern int	feed_cache_ttl_s;
extern int	feed_cache_wait_ms;
extern bool feed_cache_enabled;
extern bool feed_cache_single_flight;

typedef enum FeedCacheAdmission
{
	FEED_CACHE_ADMIT_FIRST_READ,
	FEED_CACHE_ADMIT_SECOND_READ
} FeedCacheAdmission;
extern int	feed_cache_admission;

extern void feed_cache_define_gucs(void);
extern void feed_cache_shmem_request(void);
extern void feed_cache_shmem_startup(void);

/* Can this call use the cache at all (snapshot, xid, recovery, size)? */
extern bool feed_cache_usable(void);

/*
 * Read side.  lookup copies up to lim entries below `before` (0: from the
 * top) into page when the cached window covers the page.  On BUILD the
 * caller must take a fresh snapshot after the call, build the window, and
 * call install (or release when it gives up); errors release the claim.
 */
extern FeedCacheLookup feed_cache_feed_lookup(int64 user_id, int64 before, int32 lim,
											  FeedCacheEntry *page, int *npage,
											  bool *stale);
extern void feed_cache_feed_install(int64 user_id, const FeedCacheEntry *entries,
									int n, bool complete, const int64 *authors,
									const bool *pulled, int nauthors);
extern void feed_cache_feed_release(int64 user_id);

/* Drops a cached window that turned out to be wrong (e.g. a deleted post). */
extern void feed_cache_feed_discard(int64 user_id);

/*
 * Post rows.  get copies the row and returns false on a miss; the body goes
 * to buf (FEED_CACHE_BODY_MAX bytes) or, when buf is NULL, into a text datum
 * of its exact size (body_text), which is what a page returns.  put stores a row read from the tables under
 * a snapshot taken after feed_cache_fill_begin() returned `seq`; it is
 * silently skipped if a write could have raced the read.
 */
#define FEED_CACHE_BODY_MAX 440
extern bool feed_cache_post_get(int64 post_id, FeedCachePost *post, char *buf);

/*
 * The rows of a page at once: as n calls of feed_cache_post_get with buf
 * NULL (found[i] says which were cached; returns how many), but the body
 * datums are built in texts, n slots of FEED_CACHE_TEXT_SLOT bytes, when it
 * is not NULL (a page's rows are copied into the result at once, so the
 * caller can keep one space for every call: no allocation per row), and the
 * shared-memory reads of all of them start together, before any is needed.
 * A row is two cache misses (its hash bucket, its slot) in a segment too
 * large for the TLB; one after another, a page's 50 to 100 rows were most of
 * a cached read (perf: the hash lookup alone 16% of the backend's time).
 */
#define FEED_CACHE_TEXT_SLOT MAXALIGN(VARHDRSZ + FEED_CACHE_BODY_MAX)
extern int	feed_cache_posts_get(int n, const int64 *post_ids, FeedCachePost *posts,
								 bool *found, char *texts);
extern uint64 feed_cache_fill_begin(void);
extern void feed_cache_post_put(const FeedCachePost *post, uint64 seq);

/*
 * Write side: record a change to apply at commit.  The calls never fail for
 * lack of cache space and cost nothing when the cache is off.
 */
extern void feed_cache_feed_changed(int64 user_id);
extern void feed_cache_feed_append(int64 user_id, int64 entry_id, int64 orig_id);
extern void feed_cache_post_changed(int64 post_id);
extern void feed_cache_like(int64 post_id, int delta);
extern void feed_cache_pull_published(int64 author_id, bool first_pull);
extern void feed_cache_all_feeds_changed(void);

/*
 * A post's fanout job was queued (at publish); fanout of author's posts
 * first..last ended (job finished, dropped, or moved to pull mode).
 */
extern void feed_cache_fanout_queued(int64 post_id, int64 orig_id, int64 author_id);
extern void feed_cache_fanout_ended(int64 author_id, int64 first_post_id,
									int64 last_post_id);
extern void feed_cache_all_posts_changed(void);

/*
 * For verify: ids of up to max valid windows / post rows, and copies of
 * them (peek: false when the window is not servable now).  post bodies go
 * to buf (FEED_CACHE_BODY_MAX bytes).  clear empties the cache now.
 */
extern int	feed_cache_sample(bool windows, int64 *ids, int max);
extern bool feed_cache_feed_peek(int64 user_id, FeedCacheEntry *entries, int *n,
								 bool *complete);
extern void feed_cache_clear(void);

/* No committing transaction has cache changes still to apply. */
extern bool feed_cache_quiet(void);

/* the launcher counts reads for metrics; tests and admins reset */
extern void feed_cache_count_uncached(void);

#endif							/* FEED_CACHE_H */
