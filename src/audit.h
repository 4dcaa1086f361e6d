/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  Security audit trail: a shared-memory ring flushed into feed.audit_log.
 *
 * Recording never writes a table and never waits: an event survives the
 * rollback of the transaction that recorded it (a refused call always rolls
 * back), and a full ring drops the event and counts it.  The launcher
 * flushes its database's events every second; feed.audit_flush() does it
 * on demand in any database.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_AUDIT_H
#define FEED_AUDIT_H

typedef enum FeedAuditEvent
{
	FEED_AUDIT_LOGIN = 0,		/* only with feed.audit_logins */
	FEED_AUDIT_LOGIN_FAILED,
	FEED_AUDIT_REVOKED_TOKEN_USE,
	FEED_AUDIT_EXPIRED_TOKEN_USE,
	FEED_AUDIT_DENIED,
	FEED_AUDIT_RATE_LIMITED,
	FEED_AUDIT_TOKEN_ISSUED,
	FEED_AUDIT_REVOKE,
	FEED_AUDIT_REVOKE_ALL,
	FEED_AUDIT_OVERFLOW
} FeedAuditEvent;

extern int	feed_audit_ring_size;
extern bool feed_audit_logins;

extern void feed_audit_define_gucs(void);
extern void feed_audit_shmem_request(void);
extern void feed_audit_shmem_startup(void);

/*
 * Records one event.  user_id: the user the event concerns (0: unknown);
 * session_user_id: the user the session is logged in as (0: none).
 */
extern void feed_audit(FeedAuditEvent event, int64 user_id, int64 session_user_id,
					   const char *fmt,...) pg_attribute_printf(4, 5);

/*
 * The same, with the role name resolved by the caller: for events recorded
 * from a commit callback, where the catalogs cannot be read.
 */
extern void feed_audit_as(const char *role, FeedAuditEvent event, int64 user_id,
						  int64 session_user_id, const char *detail);

/* Counters since startup, for feed.security_status(). */
extern void feed_audit_stats(uint64 *pending, uint64 *flushed, uint64 *overflowed,
							 uint64 *dropped);

/* Might the ring hold unflushed events?  A hint: no lock taken. */
extern bool feed_audit_pending(void);

/*
 * Launcher chore: moves this database's events into feed.audit_log.  Runs
 * in a transaction with SPI connected; the events leave the ring only when
 * that transaction commits.
 */
extern void feed_audit_flush_chore(void *arg);

#endif							/* FEED_AUDIT_H */
