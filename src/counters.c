/*-------------------------------------------------------------------------
 *
 * counters.c
 *	  Counter deltas: folding, and feed.user_stats.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "utils/tuplestore.h"

#include "counters.h"
#include "auth.h"
#include "feed.h"
#include "graph.h"
#include "spi_plans.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(feed_user_stats);

/*
 * One statement moves a batch of deltas into the counter tables, so a reader
 * sees either the deltas or their sum, never both or neither.  The rows are
 * locked in delta_id order; a concurrent folder waits for them and then
 * finds them gone (or skips them), so every delta is folded exactly once.
 *
 * The batch is deleted by ctid (a TID scan): a join of the batch with the
 * table, planned once while the queue was empty, could be a nested loop
 * rescanning the queue per delta, quadratic after a burst.  Counter rows are
 * upserted in target order so two folders never deadlock on them.
 */
uint64
feed_counters_fold(int limit, bool skip_locked, bool *drained)
{
#define SQL_FOLD(LOCKING) \
		"WITH del AS (DELETE FROM feed.counter_deltas " \
		"             WHERE ctid = ANY (ARRAY(SELECT ctid FROM feed.counter_deltas " \
		"                                     ORDER BY delta_id LIMIT $1 " LOCKING ")) " \
		"             RETURNING kind, target, delta), " \
		"u AS (INSERT INTO feed.user_counters AS uc (user_id, follower_count, following_count, post_count) " \
		"      SELECT target, " \
		"             coalesce(sum(delta) FILTER (WHERE kind = 'r'), 0), " \
		"             coalesce(sum(delta) FILTER (WHERE kind = 'g'), 0), " \
		"             coalesce(sum(delta) FILTER (WHERE kind = 'p'), 0) " \
		"      FROM del WHERE kind IN ('r', 'g', 'p') GROUP BY target ORDER BY target " \
		"      ON CONFLICT (user_id) DO UPDATE SET " \
		"        follower_count = uc.follower_count + excluded.follower_count, " \
		"        following_count = uc.following_count + excluded.following_count, " \
		"        post_count = uc.post_count + excluded.post_count), " \
		"l AS (INSERT INTO feed.post_counters AS pc (post_id, like_count) " \
		"      SELECT target, sum(delta) FROM del WHERE kind = 'l' GROUP BY target ORDER BY target " \
		"      ON CONFLICT (post_id) DO UPDATE SET like_count = pc.like_count + excluded.like_count) " \
		"SELECT count(*) FROM del"

	/*
	 * Custom plans: the queue swings between empty and large, and a plan
	 * cached while it was empty can scan all of it for each batch.
	 */
	static FeedPlan fold_wait_plan = {
		"fold_counters", SQL_FOLD("FOR UPDATE"), 1, {INT4OID}, NULL, CURSOR_OPT_CUSTOM_PLAN
	};
	static FeedPlan fold_skip_plan = {
		"fold_counters_skip", SQL_FOLD("FOR UPDATE SKIP LOCKED"), 1, {INT4OID}, NULL, CURSOR_OPT_CUSTOM_PLAN
	};
	/*
	 * Likes not yet folded are marked folded and added to the counts in one
	 * statement, walked in key order (the partial index) so two folders
	 * lock them in one order.  An unlike that deletes a like first wins:
	 * the fold then skips it or finds it gone; one that comes after sees
	 * folded and appends a -1 delta.
	 */
#define SQL_FOLD_LIKES(LOCKING) \
		"WITH f AS (UPDATE feed.likes SET folded = true " \
		"           WHERE ctid = ANY (ARRAY(SELECT ctid FROM feed.likes WHERE NOT folded " \
		"                                   ORDER BY post_id, user_id LIMIT $1 " LOCKING ")) " \
		"             AND NOT folded " \
		"           RETURNING post_id), " \
		"l AS (INSERT INTO feed.post_counters AS pc (post_id, like_count) " \
		"      SELECT post_id, count(*) FROM f GROUP BY post_id ORDER BY post_id " \
		"      ON CONFLICT (post_id) DO UPDATE SET like_count = pc.like_count + excluded.like_count) " \
		"SELECT count(*) FROM f"

	static FeedPlan fold_likes_wait_plan = {
		"fold_likes", SQL_FOLD_LIKES("FOR UPDATE"), 1, {INT4OID}, NULL, CURSOR_OPT_CUSTOM_PLAN
	};
	static FeedPlan fold_likes_skip_plan = {
		"fold_likes_skip", SQL_FOLD_LIKES("FOR UPDATE SKIP LOCKED"), 1, {INT4OID}, NULL, CURSOR_OPT_CUSTOM_PLAN
	};
	Datum		values[1] = {Int32GetDatum(limit)};
	bool		isnull;
	uint64		deltas;
	uint64		likes;

	feed_spi_exec(skip_locked ? &fold_skip_plan : &fold_wait_plan, values, NULL, false, 0);
	deltas = (uint64) feed_spi_int64(0, 1, &isnull);
	feed_spi_exec(skip_locked ? &fold_likes_skip_plan : &fold_likes_wait_plan, values, NULL, false, 0);
	likes = (uint64) feed_spi_int64(0, 1, &isnull);
	if (drained != NULL)
		*drained = deltas < (uint64) limit && likes < (uint64) limit;
	return deltas + likes;
}

/*
 * feed.user_stats(user_id bigint)
 *   -> (follower_count bigint, following_count bigint, post_count bigint)
 */
Datum
feed_user_stats(PG_FUNCTION_ARGS)
{
	static FeedPlan stats_plan = {
		"user_stats",
		"SELECT coalesce(uc.follower_count, 0) + coalesce(d.r, 0), "
		"       coalesce(uc.following_count, 0) + coalesce(d.g, 0), "
		"       coalesce(uc.post_count, 0) + coalesce(d.p, 0) "
		"FROM (SELECT sum(delta) FILTER (WHERE kind = 'r') AS r, "
		"             sum(delta) FILTER (WHERE kind = 'g') AS g, "
		"             sum(delta) FILTER (WHERE kind = 'p') AS p "
		"      FROM feed.counter_deltas WHERE target = $1 AND kind IN ('r', 'g', 'p')) d "
		"LEFT JOIN feed.user_counters uc ON uc.user_id = $1",
		1, {INT8OID}
	};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		user_id;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	Datum		args[1];

	feed_check_preloaded();
	user_id = feed_arg_int64(fcinfo, 0, "user_id");
	feed_auth_check_actor(user_id, FEED_ACCESS_READ);
	SetSingleFuncCall(fcinfo, 0);

	feed_spi_connect();
	(void) feed_graph_require_user(user_id, "user_id");
	args[0] = Int64GetDatum(user_id);
	feed_spi_exec(&stats_plan, args, NULL, true, 1);
	for (int i = 0; i < 3; i++)
	{
		bool		isnull;

		values[i] = Int64GetDatum(feed_spi_int64(0, i + 1, &isnull));
	}
	feed_spi_finish();

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
