/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  Roles, token sessions and the access check of every contract call.
 *
 * The SQL functions are SECURITY DEFINER (see feed--1.0.sql), so inside
 * them GetUserId() is the extension's owner.  The caller is the outer role:
 * the session's role after SET ROLE, which is what PostgREST-style servers
 * switch per request.  A SECURITY DEFINER wrapper of the caller's own does
 * not lend its owner's rights: the role that opened the call counts.
 *
 * Session binding: feed.login(token) binds the backend to the token's user
 * and remembers the token's expiry and the revocation epochs current at the
 * time.  The binding is the backend's, not the transaction's (except with
 * is_local), and is honoured only while the outer role is the one that
 * logged in.  Revocation: revoke_tokens marks the rows and, after commit,
 * bumps an epoch in shared memory (one of 4096, chosen by the user id; one
 * global for revoke_all_tokens).  Each call compares the remembered epochs
 * with the current ones (two atomic reads); if one moved, it re-reads its
 * token row under a fresh snapshot, so a colliding bump costs one index
 * probe and a real revocation denies the very next call, on every backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "auth.h"
#include "feed.h"
#include "ratelimit.h"
#include "spi_plans.h"

#define EPOCH_BUCKETS	4096	/* power of two */
#define DETAIL_LEN		192

bool		feed_rate_limit_exempt_service = false;
int			feed_token_max_ttl = 90 * 24 * 3600;

typedef struct AuthShared
{
	pg_atomic_uint64 bumps;		/* every epoch bump, counted first */
	pg_atomic_uint64 global_epoch;
	pg_atomic_uint64 epochs[EPOCH_BUCKETS];
} AuthShared;

static AuthShared *auth = NULL;

/* ---- roles ---- */
enum
{
	ROLE_ADMIN,
	ROLE_SERVICE,
	ROLE_CLIENT,
	NROLES
};
static const char *const role_names[NROLES] = {"feed_admin", "feed_service", "feed_client"};
static Oid	role_oids[NROLES];
static bool roles_valid = false;
static bool roles_callback = false;

/* ---- the session binding ---- */
typedef struct Session
{
	bool		bound;
	bool		local;			/* ends with the transaction */
	int64		user_id;
	int64		token_id;
	Oid			role;			/* outer role that logged in */
	TimestampTz expires_at;
	int			bucket;
	uint64		user_epoch;
	uint64		global_epoch;
} Session;

static Session session;

/* The logged-in user, if the binding is the calling role's; else 0. */
static int64
bound_user(void)
{
	return session.bound && session.role == GetOuterUserId() ? session.user_id : 0;
}

/* ---- work for commit time ---- */
typedef struct AtCommit
{
	bool		bump;
	int64		user_id;		/* 0: global epoch */
	FeedAuditEvent event;
	int			nest_level;
	NameData	role;
	int64		session_user_id;
	char		detail[DETAIL_LEN];
} AtCommit;

static AtCommit *at_commit = NULL;
static int	nat_commit = 0;
static int	at_commit_cap = 0;
static bool xact_callbacks = false;

void
feed_auth_define_gucs(void)
{
	DefineCustomBoolVariable("feed.rate_limit_exempt_service",
							 "Calls made by feed_service members are not charged to the users' rate limits.",
							 "Off by default: a user's budget is the same whichever path the calls take.",
							 &feed_rate_limit_exempt_service,
							 false,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("feed.token_max_ttl",
							"Longest lifetime feed.issue_token accepts.",
							NULL,
							&feed_token_max_ttl,
							90 * 24 * 3600, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	feed_ratelimit_define_gucs();
	feed_audit_define_gucs();
}

void
feed_auth_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(AuthShared)));
	feed_ratelimit_shmem_request();
	feed_audit_shmem_request();
}

void
feed_auth_shmem_startup(void)
{
	bool		found;

	auth = ShmemInitStruct("feed auth", sizeof(AuthShared), &found);
	if (!found)
	{
		pg_atomic_init_u64(&auth->bumps, 0);
		pg_atomic_init_u64(&auth->global_epoch, 0);
		for (int i = 0; i < EPOCH_BUCKETS; i++)
			pg_atomic_init_u64(&auth->epochs[i], 0);
	}
	feed_ratelimit_shmem_startup();
	feed_audit_shmem_startup();
}

/* ---------------------------------------------------------------------
 * Roles
 * ---------------------------------------------------------------------
 */
static void
roles_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	roles_valid = false;
}

/* The roles' OIDs, looked up once and again after any change to pg_authid. */
static Oid
role_oid(int which)
{
	if (!roles_valid)
	{
		if (!roles_callback)
		{
			CacheRegisterSyscacheCallback(AUTHOID, roles_invalidate, (Datum) 0);
			roles_callback = true;
		}
		for (int i = 0; i < NROLES; i++)
			role_oids[i] = get_role_oid(role_names[i], true);
		roles_valid = true;
	}
	return role_oids[which];
}

static bool
outer_has(int which)
{
	Oid			role = role_oid(which);

	return OidIsValid(role) && has_privs_of_role(GetOuterUserId(), role);
}

bool
feed_auth_caller_trusted(void)
{
	return superuser_arg(GetOuterUserId()) || outer_has(ROLE_SERVICE);
}

bool
feed_auth_caller_admin(void)
{
	return superuser_arg(GetOuterUserId()) || outer_has(ROLE_ADMIN);
}

bool
feed_auth_caller_client(void)
{
	return feed_auth_caller_trusted() || outer_has(ROLE_CLIENT);
}

void
feed_auth_deny(int64 user_id, const char *what, const char *need)
{
	feed_audit(FEED_AUDIT_DENIED, user_id, bound_user(),
			   "%s: role is not %s", what, need);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s", what),
			 errdetail("Only %s may call it.", need),
			 errhint("GRANT the matching feed_* role to the calling role (see docs/security.md).")));
}

void
feed_auth_check_trusted(const char *what)
{
	if (!feed_auth_caller_trusted())
		feed_auth_deny(0, what, "a superuser or a member of feed_service");
}

void
feed_auth_check_admin(const char *what)
{
	if (!feed_auth_caller_admin())
		feed_auth_deny(0, what, "a superuser or a member of feed_admin");
}

/* ---------------------------------------------------------------------
 * Epochs and commit-time work
 * ---------------------------------------------------------------------
 */
static int
epoch_bucket(int64 user_id)
{
	return hash_bytes_uint32((uint32) user_id ^ (uint32) (user_id >> 32)) & (EPOCH_BUCKETS - 1);
}

uint64
feed_auth_bumps(void)
{
	pg_memory_barrier();
	return pg_atomic_read_u64(&auth->bumps);
}

void
feed_auth_epochs(int64 user_id, uint64 *user_epoch, uint64 *global_epoch)
{
	*user_epoch = pg_atomic_read_u64(&auth->epochs[epoch_bucket(user_id)]);
	*global_epoch = pg_atomic_read_u64(&auth->global_epoch);
}

static void
auth_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			for (int i = 0; i < nat_commit; i++)
			{
				AtCommit   *c = &at_commit[i];

				/*
				 * After the commit is visible, so a re-check sees it; the
				 * bump count first, see feed_auth_bumps().
				 */
				if (c->bump)
					pg_atomic_fetch_add_u64(&auth->bumps, 1);
				if (c->bump && c->user_id == 0)
					pg_atomic_fetch_add_u64(&auth->global_epoch, 1);
				else if (c->bump)
					pg_atomic_fetch_add_u64(&auth->epochs[epoch_bucket(c->user_id)], 1);
				feed_audit_as(NameStr(c->role), c->event, c->user_id, c->session_user_id,
							  c->detail);
			}
			nat_commit = 0;
			if (session.local)
				memset(&session, 0, sizeof(session));
			break;
		case XACT_EVENT_ABORT:
			nat_commit = 0;
			if (session.local)
				memset(&session, 0, sizeof(session));
			break;
		default:
			break;
	}
}

static void
auth_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		int			level = GetCurrentTransactionNestLevel();

		while (nat_commit > 0 && at_commit[nat_commit - 1].nest_level >= level)
			nat_commit--;
	}
}

static void
register_callbacks(void)
{
	if (!xact_callbacks)
	{
		RegisterXactCallback(auth_xact_callback, NULL);
		RegisterSubXactCallback(auth_subxact_callback, NULL);
		xact_callbacks = true;
	}
}

void
feed_auth_at_commit(bool bump, int64 user_id, FeedAuditEvent event, const char *detail)
{
	AtCommit   *c;
	const char *role;

	register_callbacks();
	if (nat_commit == at_commit_cap)
	{
		at_commit_cap = Max(8, at_commit_cap * 2);
		at_commit = at_commit == NULL
			? MemoryContextAlloc(TopMemoryContext, sizeof(AtCommit) * at_commit_cap)
			: repalloc(at_commit, sizeof(AtCommit) * at_commit_cap);
	}
	c = &at_commit[nat_commit++];
	memset(c, 0, sizeof(AtCommit));
	c->bump = bump;
	c->user_id = user_id;
	c->event = event;
	c->nest_level = GetCurrentTransactionNestLevel();
	role = GetUserNameFromId(GetOuterUserId(), true);
	namestrcpy(&c->role, role ? role : "?");
	c->session_user_id = bound_user();
	strlcpy(c->detail, detail, sizeof(c->detail));
}

/* ---------------------------------------------------------------------
 * Session binding
 * ---------------------------------------------------------------------
 */
void
feed_auth_bind(int64 user_id, int64 token_id, TimestampTz expires_at, bool local,
			   uint64 user_epoch, uint64 global_epoch)
{
	register_callbacks();
	session.bound = true;
	session.local = local;
	session.user_id = user_id;
	session.token_id = token_id;
	session.role = GetOuterUserId();
	session.expires_at = expires_at;
	session.bucket = epoch_bucket(user_id);
	session.user_epoch = user_epoch;
	session.global_epoch = global_epoch;
}

bool
feed_auth_unbind(void)
{
	bool		was = session.bound;

	memset(&session, 0, sizeof(session));
	return was;
}

/* Is the session's token still unrevoked and unexpired, per the latest commits? */
static bool
token_still_valid(void)
{
	static FeedPlan recheck_plan = {
		"token_recheck",
		"SELECT revoked_at IS NULL AND expires_at > clock_timestamp() "
		"FROM feed.tokens WHERE token_id = $1",
		1, {INT8OID}
	};
	Datum		values[1] = {Int64GetDatum(session.token_id)};
	bool		valid = false;
	bool		isnull;

	feed_spi_connect();
	if (feed_spi_exec_snapshot(&recheck_plan, values, NULL, GetLatestSnapshot(), 1) == 1)
		valid = feed_spi_bool(0, 1, &isnull);
	feed_spi_finish();
	return valid;
}

typedef enum SessionState
{
	SESSION_OK,
	SESSION_NONE,
	SESSION_EXPIRED,
	SESSION_REVOKED
} SessionState;

static SessionState
validate_session(void)
{
	uint64		user_epoch;
	uint64		global_epoch;

	if (!session.bound || session.role != GetOuterUserId())
		return SESSION_NONE;
	if (GetCurrentTimestamp() >= session.expires_at)
		return SESSION_EXPIRED;

	/* read before the re-check's snapshot: a later bump is seen next call */
	user_epoch = pg_atomic_read_u64(&auth->epochs[session.bucket]);
	global_epoch = pg_atomic_read_u64(&auth->global_epoch);
	if (user_epoch != session.user_epoch || global_epoch != session.global_epoch)
	{
		if (!token_still_valid())
			return SESSION_REVOKED;
		session.user_epoch = user_epoch;
		session.global_epoch = global_epoch;
	}
	return SESSION_OK;
}

int64
feed_auth_session_user(void)
{
	return validate_session() == SESSION_OK ? session.user_id : 0;
}

/* Raises unless the session is logged in with a live token. */
static void
require_session(int64 user_id)
{
	int64		bound_user = session.user_id;
	int64		token_id = session.token_id;

	switch (validate_session())
	{
		case SESSION_OK:
			return;
		case SESSION_NONE:
			feed_audit(FEED_AUDIT_DENIED, user_id, 0,
					   "call for user %lld without a login", (long long) user_id);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("not logged in"),
					 errdetail("Members of feed_client must log in before acting for a user."),
					 errhint("Call feed.login(token) first.")));
			break;
		case SESSION_EXPIRED:
			feed_auth_unbind();
			feed_audit(FEED_AUDIT_EXPIRED_TOKEN_USE, bound_user, bound_user,
					   "token %lld expired", (long long) token_id);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("the session's token has expired"),
					 errdetail("The session is now logged out."),
					 errhint("Log in again with a new token.")));
			break;
		case SESSION_REVOKED:
			feed_auth_unbind();
			feed_audit(FEED_AUDIT_REVOKED_TOKEN_USE, bound_user, bound_user,
					   "token %lld was revoked", (long long) token_id);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("the session's token has been revoked"),
					 errdetail("The session is now logged out."),
					 errhint("Log in again with a new token.")));
			break;
	}
}

/* ---------------------------------------------------------------------
 * The per-call check
 * ---------------------------------------------------------------------
 */
static void
charge_rate_limit(int64 user_id, FeedAccess access, int64 session_user_id)
{
	FeedRateKind kind = access == FEED_ACCESS_READ ? FEED_RATE_READ : FEED_RATE_WRITE;
	const char *what = kind == FEED_RATE_READ ? "reads" : "writes";
	int64		retry_ms;
	int			limit;
	int			burst;
	bool		audit;
	uint32		suppressed;

	if (feed_ratelimit_take(user_id, kind, &retry_ms, &limit, &burst, &audit, &suppressed))
		return;
	if (audit)
		feed_audit(FEED_AUDIT_RATE_LIMITED, user_id, session_user_id,
				   "more than %d %s per second (burst %d); %u more refused since the last record",
				   limit, what, burst, suppressed);
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("rate limit exceeded: user %lld made more than %d %s per second",
					(long long) user_id, limit, what),
			 errdetail("The limit is per user, shared by all of the user's sessions and tokens; bursts of up to %d are allowed.",
					   burst),
			 errhint("Retry in %lld ms.", (long long) retry_ms)));
}

void
feed_auth_check_actor(int64 user_id, FeedAccess access)
{
	Oid			outer = GetOuterUserId();

	if (superuser_arg(outer))
		return;
	if (outer_has(ROLE_SERVICE))
	{
		if (!feed_rate_limit_exempt_service)
			charge_rate_limit(user_id, access, 0);
		return;
	}
	if (!outer_has(ROLE_CLIENT))
		feed_auth_deny(user_id, "this function", "a superuser or a member of feed_service or feed_client");

	require_session(user_id);

	/*
	 * Charged to the logged-in user before the comparison, so that a client
	 * repeating refused calls is throttled too (and cannot flood the audit
	 * trail with them).
	 */
	charge_rate_limit(session.user_id, access, session.user_id);
	if (user_id != session.user_id)
	{
		feed_audit(FEED_AUDIT_DENIED, user_id, session.user_id,
				   "%s for user %lld by a session logged in as user %lld",
				   access == FEED_ACCESS_READ ? "read" : "write",
				   (long long) user_id, (long long) session.user_id);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("user %lld may not act as user %lld",
						(long long) session.user_id, (long long) user_id),
				 errdetail("Members of feed_client may pass only the user id they logged in as.")));
	}
}
