/*-------------------------------------------------------------------------
 *
 * tokens.c
 *	  Token sessions: issue, login, logout, revoke, expire.
 *
 * A token is "feed_" and 64 hex digits: 32 bytes from pg_strong_random.
 * Only its SHA-256 is stored (feed.tokens.token_hash), so a copy of the
 * table or of a backup does not yield usable tokens.  A token carries 256
 * bits, so a fast unsalted hash is enough: guessing one is out of reach,
 * and the lookup costs one index probe.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "auth.h"
#include "feed.h"
#include "graph.h"
#include "ratelimit.h"
#include "spi_plans.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(feed_issue_token);
PG_FUNCTION_INFO_V1(feed_login);
PG_FUNCTION_INFO_V1(feed_logout);
PG_FUNCTION_INFO_V1(feed_logged_in_user);
PG_FUNCTION_INFO_V1(feed_revoke_tokens);
PG_FUNCTION_INFO_V1(feed_revoke_all_tokens);
PG_FUNCTION_INFO_V1(feed_expire_tokens);
PG_FUNCTION_INFO_V1(feed_security_status);

#define TOKEN_PREFIX		"feed_"
#define TOKEN_PREFIX_LEN	5
#define TOKEN_BYTES			32
#define TOKEN_TEXT_LEN		(TOKEN_PREFIX_LEN + 2 * TOKEN_BYTES)

/* Same columns for both probes of a login; latest snapshot, see feed_login. */
static FeedPlan token_lookup_plan = {
	"token_lookup",
	"SELECT token_id, user_id, expires_at, revoked_at IS NOT NULL, expires_at <= clock_timestamp() "
	"FROM feed.tokens WHERE token_hash = $1",
	1, {BYTEAOID}
};

static bytea *
sha256(const uint8 *data, size_t len)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	bytea	   *out = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, data, len) < 0 ||
		pg_cryptohash_final(ctx, (uint8 *) VARDATA(out), PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "feed: could not compute SHA-256: %s",
			 ctx ? pg_cryptohash_error(ctx) : "out of memory");
	pg_cryptohash_free(ctx);
	SET_VARSIZE(out, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	return out;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes a token's text into its bytes; false if it is not a token's shape. */
static bool
parse_token(text *t, uint8 *raw)
{
	const char *s = VARDATA_ANY(t);

	if (VARSIZE_ANY_EXHDR(t) != TOKEN_TEXT_LEN ||
		memcmp(s, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
		return false;
	s += TOKEN_PREFIX_LEN;
	for (int i = 0; i < TOKEN_BYTES; i++)
	{
		int			hi = hexval(s[2 * i]);
		int			lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		raw[i] = (uint8) (hi << 4 | lo);
	}
	return true;
}

static int64
interval_usecs(Interval *iv)
{
	return iv->time + (int64) iv->day * USECS_PER_DAY +
		(int64) iv->month * DAYS_PER_MONTH * USECS_PER_DAY;
}

static Interval *
arg_interval(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be NULL", name)));
	return PG_GETARG_INTERVAL_P(argno);
}

/*
 * feed.issue_token(user_id bigint, ttl interval DEFAULT '30 days') -> text
 */
Datum
feed_issue_token(PG_FUNCTION_ARGS)
{
	static FeedPlan insert_plan = {
		"token_insert",
		"INSERT INTO feed.tokens (user_id, token_hash, expires_at, issued_by) "
		"VALUES ($1, $2, now() + $3, $4) RETURNING token_id, expires_at",
		4, {INT8OID, BYTEAOID, INTERVALOID, TEXTOID}
	};
	int64		user_id;
	Interval   *ttl;
	int64		ttl_us;
	uint8		raw[TOKEN_BYTES];
	char		out[TOKEN_TEXT_LEN + 1];
	Datum		values[4];
	int64		token_id;
	TimestampTz expires_at;
	bool		isnull;
	char		detail[128];
	const char *role;

	feed_check_preloaded();
	user_id = feed_arg_int64(fcinfo, 0, "user_id");
	ttl = arg_interval(fcinfo, 1, "ttl");
	if (!feed_auth_caller_trusted() && !feed_auth_caller_admin())
		feed_auth_deny(user_id, "feed.issue_token",
					   "a superuser or a member of feed_service or feed_admin");
	ttl_us = interval_usecs(ttl);
	if (ttl_us <= 0 || ttl_us / USECS_PER_SEC > feed_token_max_ttl)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must be positive and at most feed.token_max_ttl (%d s)",
						feed_token_max_ttl)));

	if (!pg_strong_random(raw, TOKEN_BYTES))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random token")));

	feed_spi_connect();
	(void) feed_graph_require_user(user_id, "user_id");
	role = GetUserNameFromId(GetOuterUserId(), true);
	values[0] = Int64GetDatum(user_id);
	values[1] = PointerGetDatum(sha256(raw, TOKEN_BYTES));
	values[2] = PointerGetDatum(ttl);
	values[3] = CStringGetTextDatum(role ? role : "?");
	feed_spi_exec(&insert_plan, values, NULL, false, 1);
	token_id = feed_spi_int64(0, 1, &isnull);
	expires_at = DatumGetTimestampTz(feed_spi_datum(0, 2, &isnull));
	feed_spi_finish();

	snprintf(detail, sizeof(detail), "token %lld issued, expires at %s",
			 (long long) token_id, timestamptz_to_str(expires_at));
	feed_auth_at_commit(false, user_id, FEED_AUDIT_TOKEN_ISSUED, detail);

	memcpy(out, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
	for (int i = 0; i < TOKEN_BYTES; i++)
		snprintf(out + TOKEN_PREFIX_LEN + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out, TOKEN_TEXT_LEN));
}

typedef struct TokenRow
{
	bool		found;
	int64		token_id;
	int64		user_id;
	TimestampTz expires_at;
	bool		revoked;
	bool		expired;
} TokenRow;

/*
 * Under the latest snapshot, not the transaction's: a REPEATABLE READ
 * transaction older than a revocation must not log in with the token.
 */
static TokenRow
lookup(bytea *hash)
{
	TokenRow	r;
	Datum		values[1] = {PointerGetDatum(hash)};
	bool		isnull;

	memset(&r, 0, sizeof(r));
	if (feed_spi_exec_snapshot(&token_lookup_plan, values, NULL, GetLatestSnapshot(), 1) == 1)
	{
		r.found = true;
		r.token_id = feed_spi_int64(0, 1, &isnull);
		r.user_id = feed_spi_int64(0, 2, &isnull);
		r.expires_at = DatumGetTimestampTz(feed_spi_datum(0, 3, &isnull));
		r.revoked = feed_spi_bool(0, 4, &isnull);
		r.expired = feed_spi_bool(0, 5, &isnull);
	}
	return r;
}

static void login_failed(int64 user_id, const char *detail) pg_attribute_noreturn();

static void
login_failed(int64 user_id, const char *detail)
{
	feed_audit(FEED_AUDIT_LOGIN_FAILED, user_id, 0, "%s", detail);
	/* one message for every cause: no oracle for whoever holds a guess */
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("invalid token"),
			 errdetail("The token is malformed, unknown, expired or revoked."),
			 errhint("Obtain a new token from the service (feed.issue_token).")));
}

static void
check_row(TokenRow *r)
{
	if (!r->found)
		login_failed(0, "unknown token");
	if (r->revoked || r->expired)
		login_failed(r->user_id, psprintf("token %lld is %s", (long long) r->token_id,
										  r->revoked ? "revoked" : "expired"));
}

/*
 * feed.login(token text, is_local boolean DEFAULT false) -> bigint
 *
 * Binds the session to the token's user and returns the user id.  Any
 * previous binding ends first, so a failed login leaves the session logged
 * out.  is_local: the binding ends with the transaction (commit or abort),
 * for connection pools that hand a connection to a new client per
 * transaction.
 */
Datum
feed_login(PG_FUNCTION_ARGS)
{
	text	   *token;
	bool		is_local;
	uint8		raw[TOKEN_BYTES];
	bytea	   *hash;
	TokenRow	first;
	TokenRow	second;
	uint64		user_epoch;
	uint64		global_epoch;
	uint64		bumps;

	feed_check_preloaded();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"token\" must not be NULL")));
	token = PG_GETARG_TEXT_PP(0);
	is_local = feed_arg_bool(fcinfo, 1, "is_local");

	(void) feed_auth_unbind();
	if (!feed_auth_caller_client())
		feed_auth_deny(0, "feed.login", "a superuser or a member of feed_client or feed_service");

	if (!parse_token(token, raw))
		login_failed(0, psprintf("malformed token (%d bytes)", (int) VARSIZE_ANY_EXHDR(token)));
	hash = sha256(raw, TOKEN_BYTES);
	explicit_bzero(raw, sizeof(raw));

	feed_spi_connect();
	bumps = feed_auth_bumps();
	first = lookup(hash);
	check_row(&first);

	/*
	 * The user's epoch can be read only now that the user is known.  If a
	 * revocation bumped it between the lookup's snapshot and this read, the
	 * session would remember the new epoch without having seen the
	 * revocation; the bump count tells whether any bump happened since
	 * before the lookup, and only then is the row read again under a newer
	 * snapshot (rare: one probe per login otherwise).
	 */
	feed_auth_epochs(first.user_id, &user_epoch, &global_epoch);
	second = first;
	if (feed_auth_bumps() != bumps)
	{
		second = lookup(hash);
		check_row(&second);
	}
	feed_spi_finish();

	feed_auth_bind(second.user_id, second.token_id, second.expires_at, is_local,
				   user_epoch, global_epoch);
	if (feed_audit_logins)
		feed_audit(FEED_AUDIT_LOGIN, second.user_id, second.user_id,
				   "token %lld%s", (long long) second.token_id, is_local ? " (local)" : "");
	PG_RETURN_INT64(second.user_id);
}

/*
 * feed.logout() -> boolean: true if the session was logged in.
 */
Datum
feed_logout(PG_FUNCTION_ARGS)
{
	feed_check_preloaded();
	PG_RETURN_BOOL(feed_auth_unbind());
}

/*
 * feed.logged_in_user() -> bigint: the user the session acts as, after the
 * same checks as a call (expiry, revocation), or NULL.
 */
Datum
feed_logged_in_user(PG_FUNCTION_ARGS)
{
	int64		user_id;

	feed_check_preloaded();
	user_id = feed_auth_session_user();
	if (user_id == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(user_id);
}

/*
 * feed.revoke_tokens(user_id bigint) -> integer
 *
 * Revokes every live token of the user; sessions logged in with one lose
 * access at their next call, on every backend, once this commits.  A
 * feed_client may revoke its own tokens ("log out everywhere").
 */
Datum
feed_revoke_tokens(PG_FUNCTION_ARGS)
{
	static FeedPlan revoke_plan = {
		"tokens_revoke",
		"WITH r AS (UPDATE feed.tokens SET revoked_at = now() "
		"           WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() RETURNING 1) "
		"SELECT count(*) FROM r",
		1, {INT8OID}
	};
	int64		user_id;
	int64		n;
	Datum		values[1];
	bool		isnull;
	char		detail[64];

	feed_check_preloaded();
	user_id = feed_arg_int64(fcinfo, 0, "user_id");
	if (!feed_auth_caller_admin() && !feed_auth_caller_trusted())
		feed_auth_check_actor(user_id, FEED_ACCESS_WRITE);

	feed_spi_connect();
	(void) feed_graph_require_user(user_id, "user_id");
	values[0] = Int64GetDatum(user_id);
	feed_spi_exec(&revoke_plan, values, NULL, false, 1);
	n = feed_spi_int64(0, 1, &isnull);
	feed_spi_finish();

	snprintf(detail, sizeof(detail), "%lld tokens revoked", (long long) n);
	feed_auth_at_commit(true, user_id, FEED_AUDIT_REVOKE, detail);
	PG_RETURN_INT32((int32) Min(n, PG_INT32_MAX));
}

/*
 * feed.revoke_all_tokens() -> bigint: every live token of every user (the
 * first step of the breach runbook, docs/security.md).
 */
Datum
feed_revoke_all_tokens(PG_FUNCTION_ARGS)
{
	static FeedPlan revoke_all_plan = {
		"tokens_revoke_all",
		"WITH r AS (UPDATE feed.tokens SET revoked_at = now() "
		"           WHERE revoked_at IS NULL AND expires_at > now() RETURNING 1) "
		"SELECT count(*) FROM r",
		0, {InvalidOid}
	};
	int64		n;
	bool		isnull;
	char		detail[64];

	feed_check_preloaded();
	feed_auth_check_admin("feed.revoke_all_tokens");

	feed_spi_connect();
	feed_spi_exec(&revoke_all_plan, NULL, NULL, false, 1);
	n = feed_spi_int64(0, 1, &isnull);
	feed_spi_finish();

	snprintf(detail, sizeof(detail), "%lld tokens revoked", (long long) n);
	feed_auth_at_commit(true, 0, FEED_AUDIT_REVOKE_ALL, detail);
	PG_RETURN_INT64(n);
}

/*
 * feed.expire_tokens(retention interval DEFAULT '7 days') -> bigint
 *
 * Deletes the rows of tokens that expired or were revoked more than
 * `retention` ago (kept until then for investigations).  Meant for the
 * periodic maintenance.
 */
Datum
feed_expire_tokens(PG_FUNCTION_ARGS)
{
	static FeedPlan expire_plan = {
		"tokens_expire",
		"WITH d AS (DELETE FROM feed.tokens "
		"           WHERE expires_at < now() - $1 OR revoked_at < now() - $1 RETURNING 1) "
		"SELECT count(*) FROM d",
		1, {INTERVALOID}
	};
	Interval   *retention;
	Datum		values[1];
	int64		n;
	bool		isnull;

	feed_check_preloaded();
	retention = arg_interval(fcinfo, 0, "retention");
	feed_auth_check_admin("feed.expire_tokens");
	if (interval_usecs(retention) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention must not be negative")));

	feed_spi_connect();
	values[0] = PointerGetDatum(retention);
	feed_spi_exec(&expire_plan, values, NULL, false, 1);
	n = feed_spi_int64(0, 1, &isnull);
	feed_spi_finish();
	PG_RETURN_INT64(n);
}

/*
 * feed.security_status() -> one row of counters since the server started.
 */
Datum
feed_security_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	uint64		pending;
	uint64		flushed;
	uint64		overflowed;
	uint64		dropped;

	feed_check_preloaded();
	feed_auth_check_admin("feed.security_status");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "feed: security_status must return a row");
	tupdesc = BlessTupleDesc(tupdesc);

	feed_audit_stats(&pending, &flushed, &overflowed, &dropped);
	values[0] = Int64GetDatum((int64) pending);
	values[1] = Int64GetDatum((int64) flushed);
	values[2] = Int64GetDatum((int64) overflowed);
	values[3] = Int64GetDatum((int64) dropped);
	values[4] = Int64GetDatum((int64) feed_ratelimit_refused(FEED_RATE_READ));
	values[5] = Int64GetDatum((int64) feed_ratelimit_refused(FEED_RATE_WRITE));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
