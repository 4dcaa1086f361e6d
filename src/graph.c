/*-------------------------------------------------------------------------
 *
 * graph.c
 *	  Users, follows, follow requests and blocks.
 *
 * Every change of a follow's active state appends counter deltas in the same
 * statement (counters.c folds them), and a follow that becomes active queues
 * an inbox backfill (fanout.c), so the follower's home feed shows the
 * author's older posts at once (read by pull until the backfill is applied).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "utils/builtins.h"

#include "cache.h"
#include "auth.h"
#include "feed.h"
#include "graph.h"
#include "ids.h"
#include "probe.h"
#include "spi_plans.h"
#include "validate.h"
#include "workers.h"

PG_FUNCTION_INFO_V1(feed_create_user);
PG_FUNCTION_INFO_V1(feed_set_private);
PG_FUNCTION_INFO_V1(feed_follow);
PG_FUNCTION_INFO_V1(feed_approve_follow);
PG_FUNCTION_INFO_V1(feed_unfollow);
PG_FUNCTION_INFO_V1(feed_remove_follower);
PG_FUNCTION_INFO_V1(feed_block);
PG_FUNCTION_INFO_V1(feed_unblock);

/*
 * CTE fragments.  "act" holds follows that just became active, "del" follows
 * that were just removed (with their state); both are (follower_id,
 * followee_id[, state]).
 */
#define SQL_ON_ACTIVATED \
	"d AS (INSERT INTO feed.counter_deltas (kind, target, delta) " \
	"      SELECT v.kind, v.target, 1 FROM act, " \
	"      LATERAL (VALUES ('r'::\"char\", act.followee_id), ('g'::\"char\", act.follower_id)) v(kind, target)), " \
	"bf AS (INSERT INTO feed.inbox_backfill (user_id, author_id) " \
	"      SELECT follower_id, followee_id FROM act ON CONFLICT DO NOTHING) "

/*
 * PAIRS restates, on feed.inbox_backfill b and with the statement's
 * parameters, the pairs "del" can hold: the planner cannot derive an index
 * condition from the join with a data-modifying CTE, and without one the
 * delete of a pending backfill scanned the whole primary key.
 */
#define SQL_ON_REMOVED(PAIRS) \
	"d AS (INSERT INTO feed.counter_deltas (kind, target, delta) " \
	"      SELECT v.kind, v.target, -1 FROM del, " \
	"      LATERAL (VALUES ('r'::\"char\", del.followee_id), ('g'::\"char\", del.follower_id)) v(kind, target) " \
	"      WHERE del.state = 'active'), " \
	"bf AS (DELETE FROM feed.inbox_backfill b WHERE (" PAIRS ") " \
	"      AND EXISTS (SELECT 1 FROM del WHERE b.user_id = del.follower_id AND b.author_id = del.followee_id)) "

/*
 * A follow and a block of the same two users must not both commit.  Row
 * locks on feed.users serialise them without filling the lock table (a
 * transaction may follow thousands of accounts): follow holds the followee
 * FOR SHARE, block holds both users FOR NO KEY UPDATE, which conflict.
 * set_private's UPDATE conflicts with the share lock too, so a follow sees
 * the privacy setting that is current when it commits.
 */
static FeedPlan followee_lock_plan = {
	"followee_lock",
	"SELECT is_private FROM feed.users WHERE user_id = $1 FOR SHARE",
	1, {INT8OID}
};

static FeedPlan pair_lock_plan = {
	"pair_lock",
	"SELECT user_id FROM feed.users WHERE user_id IN ($1, $2) ORDER BY user_id FOR NO KEY UPDATE",
	2, {INT8OID, INT8OID}
};

bool
feed_graph_require_user(int64 user_id, const char *argname)
{
	Snapshot	snap = feed_probe_begin();
	bool		is_private = false;
	bool		found = feed_probe_user(snap, user_id, &is_private);

	feed_probe_end();
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("user %lld does not exist", (long long) user_id),
				 errdetail("Argument \"%s\" names no row of feed.users.", argname)));
	return is_private;
}

static bool
blocked_either_way(int64 a, int64 b)
{
	Snapshot	snap = feed_probe_begin();
	bool		blocked = feed_probe_block(snap, a, b) || feed_probe_block(snap, b, a);

	feed_probe_end();
	return blocked;
}

/*
 * feed.create_user(handle text, is_private boolean DEFAULT false) -> bigint
 */
Datum
feed_create_user(PG_FUNCTION_ARGS)
{
	static FeedPlan handle_taken_plan = {
		"handle_taken",
		"SELECT EXISTS (SELECT 1 FROM feed.users WHERE lower(handle) = lower($1))",
		1, {TEXTOID}
	};
	static FeedPlan insert_plan = {
		"create_user",
		"WITH u AS (INSERT INTO feed.users (user_id, handle, is_private, last_region) "
		"           VALUES ($1, $2, $3, $4) RETURNING user_id), "
		"a AS (INSERT INTO feed.user_activity (user_id, last_read) SELECT user_id, now() FROM u) "
		/* an empty inbox complete above 0: the sentinel, see feed--1.0.sql */
		"INSERT INTO feed.inbox (user_id, entry_id, post_id) SELECT user_id, -1, 0 FROM u",
		4, {INT8OID, TEXTOID, BOOLOID, INT2OID}
	};
	text	   *handle;
	bool		is_private;
	int64		user_id;
	Datum		values[4];
	bool		isnull;

	feed_check_preloaded();
	handle = feed_arg_handle(fcinfo, 0);
	is_private = feed_arg_bool(fcinfo, 1, "is_private");
	feed_auth_check_trusted("feed.create_user");

	feed_spi_connect();
	values[0] = PointerGetDatum(handle);
	feed_spi_exec(&handle_taken_plan, values, NULL, false, 1);
	if (feed_spi_bool(0, 1, &isnull))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("handle \"%s\" is already taken", text_to_cstring(handle)),
				 errdetail("Handles are unique without regard to case.")));

	user_id = feed_ids_next();
	values[0] = Int64GetDatum(user_id);
	values[1] = PointerGetDatum(handle);
	values[2] = BoolGetDatum(is_private);
	values[3] = Int16GetDatum((int16) feed_region_id);
	feed_spi_exec(&insert_plan, values, NULL, false, 0);
	feed_spi_finish();

	PG_RETURN_INT64(user_id);
}

/*
 * feed.set_private(user_id bigint, is_private boolean) -> boolean
 *
 * Turning public approves every pending request.  That runs as a second
 * statement so that its snapshot sees requests committed while the first
 * one waited for the user row.
 */
Datum
feed_set_private(PG_FUNCTION_ARGS)
{
	static FeedPlan update_plan = {
		"set_private",
		"UPDATE feed.users SET is_private = $2, updated_at = now(), last_region = $3 "
		"WHERE user_id = $1 AND is_private <> $2",
		3, {INT8OID, BOOLOID, INT2OID}
	};
	static FeedPlan approve_all_plan = {
		"approve_all_pending",
		"WITH act AS (UPDATE feed.follows SET state = 'active', updated_at = now(), last_region = $2 "
		"             WHERE followee_id = $1 AND state = 'pending' "
		"             RETURNING follower_id, followee_id), "
		SQL_ON_ACTIVATED
		"SELECT count(*) FROM act",
		2, {INT8OID, INT2OID}
	};
	int64		user_id;
	bool		is_private;
	bool		changed;
	Datum		values[3];

	feed_check_preloaded();
	user_id = feed_arg_int64(fcinfo, 0, "user_id");
	is_private = feed_arg_bool(fcinfo, 1, "is_private");
	feed_auth_check_actor(user_id, FEED_ACCESS_WRITE);

	feed_spi_connect();
	(void) feed_graph_require_user(user_id, "user_id");
	values[0] = Int64GetDatum(user_id);
	values[1] = BoolGetDatum(is_private);
	values[2] = Int16GetDatum((int16) feed_region_id);
	changed = feed_spi_exec(&update_plan, values, NULL, false, 0) > 0;
	if (changed)
	{
		/* reposts of this user's posts appear or vanish in any feed */
		feed_cache_all_feeds_changed();
	}
	if (!is_private)
	{
		values[1] = Int16GetDatum((int16) feed_region_id);
		if (feed_spi_exec(&approve_all_plan, values, NULL, false, 0) > 0)
		{
			feed_cache_all_feeds_changed();
			feed_workers_wake_at_commit();
		}
	}
	feed_spi_finish();

	PG_RETURN_BOOL(changed);
}

/*
 * feed.follow(follower bigint, followee bigint) -> 'active' | 'pending'
 */
Datum
feed_follow(PG_FUNCTION_ARGS)
{
	static FeedPlan insert_plan = {
		"follow",
		"WITH ins AS (INSERT INTO feed.follows (follower_id, followee_id, state, last_region) "
		"             VALUES ($1, $2, CASE WHEN $3 THEN 'pending' ELSE 'active' END, $4) "
		"             ON CONFLICT (follower_id, followee_id) DO NOTHING "
		"             RETURNING follower_id, followee_id, state), "
		"act AS (SELECT follower_id, followee_id FROM ins WHERE state = 'active'), "
		SQL_ON_ACTIVATED
		"SELECT state FROM ins",
		4, {INT8OID, INT8OID, BOOLOID, INT2OID}
	};
	static FeedPlan state_plan = {
		"follow_state",
		"SELECT state FROM feed.follows WHERE follower_id = $1 AND followee_id = $2",
		2, {INT8OID, INT8OID}
	};
	int64		follower;
	int64		followee;
	bool		followee_private;
	Datum		values[4];
	bool		isnull;
	text	   *state;

	feed_check_preloaded();
	follower = feed_arg_int64(fcinfo, 0, "follower");
	followee = feed_arg_int64(fcinfo, 1, "followee");
	feed_auth_check_actor(follower, FEED_ACCESS_WRITE);
	feed_check_distinct_users(follower, followee, "follow");

	feed_spi_connect();
	(void) feed_graph_require_user(follower, "follower");
	(void) feed_graph_require_user(followee, "followee");

	/* lock first, so the block check below sees any block committed before */
	values[0] = Int64GetDatum(followee);
	feed_spi_exec(&followee_lock_plan, values, NULL, false, 1);
	followee_private = feed_spi_bool(0, 1, &isnull);
	if (blocked_either_way(follower, followee))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("user %lld cannot follow user %lld: one has blocked the other",
						(long long) follower, (long long) followee)));

	values[0] = Int64GetDatum(follower);
	values[1] = Int64GetDatum(followee);
	values[2] = BoolGetDatum(followee_private);
	values[3] = Int16GetDatum((int16) feed_region_id);
	if (feed_spi_exec(&insert_plan, values, NULL, false, 0) == 0)
		feed_spi_exec(&state_plan, values, NULL, false, 1);
	else
	{
		feed_cache_feed_changed(follower);
		feed_workers_wake_at_commit();	/* a backfill may be queued */
	}
	state = DatumGetTextPP(feed_spi_datum(0, 1, &isnull));
	state = (text *) SPI_datumTransfer(PointerGetDatum(state), false, -1);
	feed_spi_finish();

	PG_RETURN_TEXT_P(state);
}

/*
 * feed.approve_follow(followee bigint, follower bigint) -> boolean
 */
Datum
feed_approve_follow(PG_FUNCTION_ARGS)
{
	static FeedPlan approve_plan = {
		"approve_follow",
		"WITH act AS (UPDATE feed.follows SET state = 'active', updated_at = now(), last_region = $3 "
		"             WHERE follower_id = $2 AND followee_id = $1 AND state = 'pending' "
		"             RETURNING follower_id, followee_id), "
		SQL_ON_ACTIVATED
		"SELECT count(*) FROM act",
		3, {INT8OID, INT8OID, INT2OID}
	};
	int64		followee;
	int64		follower;
	Datum		values[3];
	bool		isnull;
	bool		approved;

	feed_check_preloaded();
	followee = feed_arg_int64(fcinfo, 0, "followee");
	follower = feed_arg_int64(fcinfo, 1, "follower");
	feed_auth_check_actor(followee, FEED_ACCESS_WRITE);
	feed_check_distinct_users(followee, follower, "approve a follow request from");

	feed_spi_connect();
	(void) feed_graph_require_user(followee, "followee");
	(void) feed_graph_require_user(follower, "follower");
	values[0] = Int64GetDatum(followee);
	values[1] = Int64GetDatum(follower);
	values[2] = Int16GetDatum((int16) feed_region_id);
	feed_spi_exec(&approve_plan, values, NULL, false, 0);
	approved = feed_spi_int64(0, 1, &isnull) > 0;
	if (approved)
	{
		feed_cache_feed_changed(follower);
		feed_workers_wake_at_commit();
	}
	feed_spi_finish();

	PG_RETURN_BOOL(approved);
}

/* Removes the follow (or request) follower -> followee; true if one existed. */
static bool
remove_follow(int64 follower, int64 followee)
{
	static FeedPlan remove_plan = {
		"remove_follow",
		"WITH del AS (DELETE FROM feed.follows WHERE follower_id = $1 AND followee_id = $2 "
		"             RETURNING follower_id, followee_id, state), "
		SQL_ON_REMOVED("b.user_id = $1 AND b.author_id = $2")
		"SELECT count(*) FROM del",
		2, {INT8OID, INT8OID}
	};
	Datum		values[2] = {Int64GetDatum(follower), Int64GetDatum(followee)};
	bool		isnull;

	(void) feed_graph_require_user(follower, "follower");
	(void) feed_graph_require_user(followee, "followee");
	feed_spi_exec(&remove_plan, values, NULL, false, 0);
	if (feed_spi_int64(0, 1, &isnull) == 0)
		return false;
	feed_cache_feed_changed(follower);
	return true;
}

/*
 * feed.unfollow(follower bigint, followee bigint) -> boolean
 */
Datum
feed_unfollow(PG_FUNCTION_ARGS)
{
	int64		follower;
	int64		followee;
	bool		removed;

	feed_check_preloaded();
	follower = feed_arg_int64(fcinfo, 0, "follower");
	followee = feed_arg_int64(fcinfo, 1, "followee");
	feed_auth_check_actor(follower, FEED_ACCESS_WRITE);
	feed_check_distinct_users(follower, followee, "unfollow");

	feed_spi_connect();
	removed = remove_follow(follower, followee);
	feed_spi_finish();
	PG_RETURN_BOOL(removed);
}

/*
 * feed.remove_follower(followee bigint, follower bigint) -> boolean
 */
Datum
feed_remove_follower(PG_FUNCTION_ARGS)
{
	int64		followee;
	int64		follower;
	bool		removed;

	feed_check_preloaded();
	followee = feed_arg_int64(fcinfo, 0, "followee");
	follower = feed_arg_int64(fcinfo, 1, "follower");
	feed_auth_check_actor(followee, FEED_ACCESS_WRITE);
	feed_check_distinct_users(followee, follower, "remove as a follower");

	feed_spi_connect();
	removed = remove_follow(follower, followee);
	feed_spi_finish();
	PG_RETURN_BOOL(removed);
}

/*
 * feed.block(blocker bigint, blocked bigint) -> boolean
 */
Datum
feed_block(PG_FUNCTION_ARGS)
{
	static FeedPlan block_plan = {
		"block",
		"WITH blk AS (INSERT INTO feed.blocks (blocker_id, blocked_id, last_region) "
		"             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1), "
		"del AS (DELETE FROM feed.follows "
		"        WHERE (follower_id = $1 AND followee_id = $2) OR (follower_id = $2 AND followee_id = $1) "
		"        RETURNING follower_id, followee_id, state), "
		SQL_ON_REMOVED("(b.user_id = $1 AND b.author_id = $2) OR (b.user_id = $2 AND b.author_id = $1)")
		"SELECT count(*) FROM blk",
		3, {INT8OID, INT8OID, INT2OID}
	};
	int64		blocker;
	int64		blocked;
	Datum		values[3];
	bool		isnull;
	bool		inserted;

	feed_check_preloaded();
	blocker = feed_arg_int64(fcinfo, 0, "blocker");
	blocked = feed_arg_int64(fcinfo, 1, "blocked");
	feed_auth_check_actor(blocker, FEED_ACCESS_WRITE);
	feed_check_distinct_users(blocker, blocked, "block");

	feed_spi_connect();
	(void) feed_graph_require_user(blocker, "blocker");
	(void) feed_graph_require_user(blocked, "blocked");
	values[0] = Int64GetDatum(blocker);
	values[1] = Int64GetDatum(blocked);
	feed_spi_exec(&pair_lock_plan, values, NULL, false, 0);
	values[2] = Int16GetDatum((int16) feed_region_id);
	feed_spi_exec(&block_plan, values, NULL, false, 0);
	inserted = feed_spi_int64(0, 1, &isnull) > 0;
	if (inserted)
	{
		feed_cache_feed_changed(blocker);
		feed_cache_feed_changed(blocked);
	}
	feed_spi_finish();

	PG_RETURN_BOOL(inserted);
}

/*
 * feed.unblock(blocker bigint, blocked bigint) -> boolean
 */
Datum
feed_unblock(PG_FUNCTION_ARGS)
{
	static FeedPlan unblock_plan = {
		"unblock",
		"DELETE FROM feed.blocks WHERE blocker_id = $1 AND blocked_id = $2",
		2, {INT8OID, INT8OID}
	};
	int64		blocker;
	int64		blocked;
	Datum		values[2];
	bool		removed;

	feed_check_preloaded();
	blocker = feed_arg_int64(fcinfo, 0, "blocker");
	blocked = feed_arg_int64(fcinfo, 1, "blocked");
	feed_auth_check_actor(blocker, FEED_ACCESS_WRITE);
	feed_check_distinct_users(blocker, blocked, "unblock");

	feed_spi_connect();
	(void) feed_graph_require_user(blocker, "blocker");
	(void) feed_graph_require_user(blocked, "blocked");
	values[0] = Int64GetDatum(blocker);
	values[1] = Int64GetDatum(blocked);
	removed = feed_spi_exec(&unblock_plan, values, NULL, false, 0) > 0;
	if (removed)
	{
		feed_cache_feed_changed(blocker);
		feed_cache_feed_changed(blocked);
	}
	feed_spi_finish();

	PG_RETURN_BOOL(removed);
}
