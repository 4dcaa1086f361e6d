/*-------------------------------------------------------------------------
 *
 * auth.h
 *	  Who may act as which user: roles, token sessions, the per-call check.
 *
 * Every contract function calls feed_auth_check_actor() once, right after
 * parsing its arguments, with the user it acts for (the viewer of a read,
 * the actor of a write).  The check decides from the calling role:
 *
 *	- superuser: anything, no rate limit;
 *	- member of feed_service: any user; the user's rate limit applies unless
 *	  feed.rate_limit_exempt_service;
 *	- member of feed_client: only the user the session logged in as with
 *	  feed.login(token), while that token is neither expired nor revoked;
 *	  the user's rate limit applies;
 *	- any other role: nothing.
 *
 * Refusals are recorded in the audit trail (audit.h) before the error.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_AUTH_H
#define FEED_AUTH_H

#include "datatype/timestamp.h"

#include "audit.h"

typedef enum FeedAccess
{
	FEED_ACCESS_READ,
	FEED_ACCESS_WRITE
} FeedAccess;

extern bool feed_rate_limit_exempt_service;
extern int	feed_token_max_ttl;

/* From _PG_init and the shared-memory hooks of feed.c (rate limits and audit included). */
extern void feed_auth_define_gucs(void);
extern void feed_auth_shmem_request(void);
extern void feed_auth_shmem_startup(void);

/* May the caller act as user_id?  Then charges user_id's rate limit. */
extern void feed_auth_check_actor(int64 user_id, FeedAccess access);

/* For functions that act for no particular user (create_user): superuser or feed_service. */
extern void feed_auth_check_trusted(const char *what);

/* Superuser or feed_admin (maintenance, metrics, revocation). */
extern void feed_auth_check_admin(const char *what);

/* ---- for tokens.c ---- */

/* Superuser, feed_service (trusted) or feed_admin? */
extern bool feed_auth_caller_trusted(void);
extern bool feed_auth_caller_admin(void);
/* Member of feed_client (or trusted)? */
extern bool feed_auth_caller_client(void);

/* Records the refusal and raises 42501: "what" may be called only by "need". */
extern void feed_auth_deny(int64 user_id, const char *what, const char *need) pg_attribute_noreturn();

/*
 * Epoch bumps so far, all buckets together.  Each bump counts here before
 * it moves its epoch, so if this count did not change across a read of an
 * epoch, that epoch was not bumped meanwhile.  Full memory barrier.
 */
extern uint64 feed_auth_bumps(void);

/* Current revocation epochs: of user_id's bucket, and the global one. */
extern void feed_auth_epochs(int64 user_id, uint64 *user_epoch, uint64 *global_epoch);

extern void feed_auth_bind(int64 user_id, int64 token_id, TimestampTz expires_at,
						   bool local, uint64 user_epoch, uint64 global_epoch);
/* Returns whether the session was logged in. */
extern bool feed_auth_unbind(void);
/* The logged-in user after a full validation, or 0 (never raises). */
extern int64 feed_auth_session_user(void);

/*
 * At commit: bump user_id's revocation epoch (0: the global one), then
 * record the audit event.  Nothing happens if the (sub)transaction aborts.
 */
extern void feed_auth_at_commit(bool bump, int64 user_id, FeedAuditEvent event,
								const char *detail);

#endif							/* FEED_AUTH_H */
