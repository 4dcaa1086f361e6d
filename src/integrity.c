/*-------------------------------------------------------------------------
 *
 * integrity.c
 *	  Reconciliation of counts, verify / repair of every stored invariant,
 *	  tombstone purge, and the pg_cron schedule of maintenance.
 *
 * Counts are fixed by appending a correcting delta, never by updating the
 * counter row: the check and the truth come from one snapshot in which every
 * writer's source row and delta are either both visible or both not, so the
 * correction is exact, and writers never wait for the reconciliation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "cache.h"
#include "fanout.h"
#include "feed.h"
#include "spi_plans.h"
#include "timeline.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(feed_reconcile_counts);
PG_FUNCTION_INFO_V1(feed_verify);
PG_FUNCTION_INFO_V1(feed_repair);
PG_FUNCTION_INFO_V1(feed_repair_inboxes);
PG_FUNCTION_INFO_V1(feed_purge_tombstones);
PG_FUNCTION_INFO_V1(feed_schedule_maintenance);
PG_FUNCTION_INFO_V1(feed_unschedule_maintenance);

#define SAMPLE_SIZE 5

/* ---------------------------------------------------------------------
 * Reconciliation
 * ---------------------------------------------------------------------
 */

/*
 * One batch of users after $1: truth from the source rows against folded
 * value + pending deltas, a correcting delta and a log row per difference.
 * Returns (last user id, users checked, fixed r, fixed g, fixed p).
 */
static FeedPlan reconcile_users_plan = {
	"reconcile_users",
	"WITH u AS (SELECT user_id FROM feed.users WHERE user_id > $1 ORDER BY user_id LIMIT $2), "
	"cur AS (SELECT u.user_id, "
	"          (SELECT count(*) FROM feed.follows f WHERE f.followee_id = u.user_id AND f.state = 'active') AS r, "
	"          (SELECT count(*) FROM feed.follows f WHERE f.follower_id = u.user_id AND f.state = 'active') AS g, "
	"          (SELECT count(*) FROM feed.posts p WHERE p.author_id = u.user_id AND p.deleted_at IS NULL) AS p, "
	"          coalesce(uc.follower_count, 0) + coalesce(d.r, 0) AS cr, "
	"          coalesce(uc.following_count, 0) + coalesce(d.g, 0) AS cg, "
	"          coalesce(uc.post_count, 0) + coalesce(d.p, 0) AS cp "
	"        FROM u LEFT JOIN feed.user_counters uc ON uc.user_id = u.user_id "
	"        LEFT JOIN LATERAL (SELECT sum(delta) FILTER (WHERE kind = 'r') AS r, "
	"                                  sum(delta) FILTER (WHERE kind = 'g') AS g, "
	"                                  sum(delta) FILTER (WHERE kind = 'p') AS p "
	"                           FROM feed.counter_deltas cd WHERE cd.target = u.user_id "
	"                           AND cd.kind IN ('r', 'g', 'p')) d ON true), "
	"diffs AS (SELECT cur.user_id, v.kind, v.old, v.new FROM cur, "
	"          LATERAL (VALUES ('r'::\"char\", cr, r), ('g'::\"char\", cg, g), ('p'::\"char\", cp, p)) "
	"          v(kind, old, new) WHERE v.old <> v.new), "
	"fix AS (INSERT INTO feed.counter_deltas (kind, target, delta) "
	"        SELECT kind, user_id, (new - old)::integer FROM diffs), "
	"log AS (INSERT INTO feed.reconcile_log (target_id, kind, old_value, new_value) "
	"        SELECT user_id, CASE kind WHEN 'r' THEN 'follower_count' WHEN 'g' THEN 'following_count' "
	"                        ELSE 'post_count' END, old, new FROM diffs) "
	"SELECT (SELECT max(user_id) FROM u), (SELECT count(*) FROM u), "
	"       (SELECT count(*) FROM diffs WHERE kind = 'r'), (SELECT count(*) FROM diffs WHERE kind = 'g'), "
	"       (SELECT count(*) FROM diffs WHERE kind = 'p')",
	2, {INT8OID, INT4OID}
};

static FeedPlan reconcile_likes_plan = {
	"reconcile_likes",
	"WITH o AS (SELECT post_id FROM feed.posts WHERE post_id > $1 AND repost_of IS NULL "
	"           ORDER BY post_id LIMIT $2), "
	"cur AS (SELECT o.post_id, (SELECT count(*) FROM feed.likes l WHERE l.post_id = o.post_id) AS n, "
	"               coalesce(pc.like_count, 0) + coalesce((SELECT sum(cd.delta) FROM feed.counter_deltas cd "
	"                      WHERE cd.target = o.post_id AND cd.kind = 'l'), 0) "
	"               + (SELECT count(*) FROM feed.likes l WHERE l.post_id = o.post_id AND NOT l.folded) AS c "
	"        FROM o LEFT JOIN feed.post_counters pc ON pc.post_id = o.post_id), "
	"diffs AS (SELECT post_id, c AS old, n AS new FROM cur WHERE c <> n), "
	"fix AS (INSERT INTO feed.counter_deltas (kind, target, delta) "
	"        SELECT 'l', post_id, (new - old)::integer FROM diffs), "
	"log AS (INSERT INTO feed.reconcile_log (target_id, kind, old_value, new_value) "
	"        SELECT post_id, 'like_count', old, new FROM diffs) "
	"SELECT (SELECT max(post_id) FROM o), (SELECT count(*) FROM o), (SELECT count(*) FROM diffs)",
	2, {INT8OID, INT4OID}
};

typedef struct ReconcileTotals
{
	int64		users;
	int64		posts;
	int64		fixed_r;
	int64		fixed_g;
	int64		fixed_p;
	int64		fixed_l;
} ReconcileTotals;

/*
 * Must be connected to SPI.  Two reconciliations at once would each see the
 * same drift in their own snapshot and both append the fix; a self-
 * conflicting lock on the log serialises them (readers and the writers of
 * counts are not blocked), and each batch statement takes its snapshot
 * after the lock, so the second sees the first one's corrections.
 */
static void
reconcile_all(int batch, ReconcileTotals *t)
{
	static FeedPlan serialise_plan = {
		"reconcile_lock",
		"LOCK TABLE feed.reconcile_log IN SHARE ROW EXCLUSIVE MODE",
		0, {InvalidOid}
	};
	int64		cursor = 0;
	bool		isnull;

	memset(t, 0, sizeof(*t));
	feed_spi_exec(&serialise_plan, NULL, NULL, false, 0);
	for (;;)
	{
		Datum		values[2] = {Int64GetDatum(cursor), Int32GetDatum(batch)};
		int64		last;

		CHECK_FOR_INTERRUPTS();
		feed_spi_exec(&reconcile_users_plan, values, NULL, false, 0);
		last = feed_spi_int64(0, 1, &isnull);
		if (isnull)
			break;
		t->users += feed_spi_int64(0, 2, &isnull);
		t->fixed_r += feed_spi_int64(0, 3, &isnull);
		t->fixed_g += feed_spi_int64(0, 4, &isnull);
		t->fixed_p += feed_spi_int64(0, 5, &isnull);
		cursor = last;
	}
	cursor = 0;
	for (;;)
	{
		Datum		values[2] = {Int64GetDatum(cursor), Int32GetDatum(batch)};
		int64		last;

		CHECK_FOR_INTERRUPTS();
		feed_spi_exec(&reconcile_likes_plan, values, NULL, false, 0);
		last = feed_spi_int64(0, 1, &isnull);
		if (isnull)
			break;
		t->posts += feed_spi_int64(0, 2, &isnull);
		t->fixed_l += feed_spi_int64(0, 3, &isnull);
		cursor = last;
	}
	/* the corrections go to the table, cached like counts must follow */
	if (t->fixed_l > 0)
		feed_cache_all_posts_changed();
}

static void
put3(ReturnSetInfo *rsinfo, const char *name, int64 a, int64 b)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(a);
	values[2] = Int64GetDatum(b);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * feed.reconcile_counts(batch integer DEFAULT 10000)
 *   -> TABLE(kind text, checked bigint, fixed bigint)
 */
Datum
feed_reconcile_counts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		batch;
	ReconcileTotals t;

	feed_check_preloaded();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"batch\" must not be NULL")));
	batch = PG_GETARG_INT32(0);
	if (batch < 1 || batch > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch must be between 1 and 1000000, got %d", batch)));
	SetSingleFuncCall(fcinfo, 0);

	feed_spi_connect();
	reconcile_all(batch, &t);
	feed_spi_finish();

	put3(rsinfo, "follower_count", t.users, t.fixed_r);
	put3(rsinfo, "following_count", t.users, t.fixed_g);
	put3(rsinfo, "post_count", t.users, t.fixed_p);
	put3(rsinfo, "like_count", t.posts, t.fixed_l);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * verify / repair
 * ---------------------------------------------------------------------
 */

/*
 * Each check is a query over "bad" rows (a CTE body returning one jsonb
 * column "item") and the statement that repairs them, returning the number
 * of rows it fixed.  Counter drift is the reconciliation above.  Every
 * repair statement takes one boolean, "overdue rows only", which only the
 * sweep's check uses (feed.repair_inboxes leaves the rest to the sweep).
 */
typedef struct IntegrityCheck
{
	const char *name;
	bool		inbox;			/* also run by feed.repair_inboxes() */
	FeedPlan	find;			/* SELECT count(*), jsonb sample */
	FeedPlan	repair;			/* returns one bigint: rows fixed */
} IntegrityCheck;

#define FIND(NAME, BAD) \
	{ NAME, "WITH bad AS (" BAD ") " \
	  "SELECT (SELECT count(*) FROM bad), " \
	  "       (SELECT coalesce(jsonb_agg(item), '[]') FROM (SELECT item FROM bad LIMIT $1) s)", \
	  1, {INT4OID} }

#define REPAIR(NAME, SQL) \
	{ NAME, SQL, 1, {BOOLOID} }

/*
 * Entries whose post or original row is missing.  No function leaves them
 * behind (purge_tombstones deletes entries with their posts): they were
 * made by hand, by a partial restore, or by a bug.
 */
#define BAD_DEAD_ENTRIES \
	"SELECT i.user_id, i.entry_id, jsonb_build_object('user_id', i.user_id, 'entry_id', i.entry_id) AS item " \
	"FROM feed.inbox i LEFT JOIN feed.posts e ON e.post_id = i.entry_id " \
	"LEFT JOIN feed.posts o ON o.post_id = i.post_id " \
	"WHERE i.entry_id >= 0 AND (e.post_id IS NULL OR o.post_id IS NULL)"

/*
 * Entries of deleted posts and of authors the user no longer follows: normal
 * after delete_post, unfollow, remove_follower, block or set_private.  Reads
 * filter them out and the launcher's sweep (maintenance.c, same criteria)
 * deletes them, feed.inbox_sweep_users inboxes a second, so they are work in
 * progress, not damage.  They are overdue when the sweep is off, or when the
 * post was deleted longer ago than one round of the sweep over all users
 * plus 10 minutes (an unfollow leaves no date behind: those rows are never
 * overdue while the sweep runs).
 */
#define SWEEP_USERS "current_setting('feed.inbox_sweep_users')::integer"
#define BAD_AWAITING_SWEEP \
	"SELECT i.user_id, i.entry_id, ov.overdue, " \
	"       jsonb_build_object('user_id', i.user_id, 'entry_id', i.entry_id, " \
	"                          'reason', CASE WHEN e.deleted_at IS NOT NULL OR o.deleted_at IS NOT NULL " \
	"                                         THEN 'deleted' ELSE 'unfollowed' END, " \
	"                          'overdue', ov.overdue) AS item " \
	"FROM feed.inbox i JOIN feed.posts e ON e.post_id = i.entry_id " \
	"JOIN feed.posts o ON o.post_id = i.post_id " \
	"CROSS JOIN LATERAL (SELECT coalesce(CASE WHEN " SWEEP_USERS " <= 0 THEN true " \
	"       ELSE greatest(e.deleted_at, o.deleted_at) < now() - make_interval(secs => " \
	"            (SELECT count(*) FROM feed.users)::float8 / " SWEEP_USERS " + 600) END, false) AS overdue) ov " \
	"WHERE i.entry_id >= 0 AND (e.deleted_at IS NOT NULL OR o.deleted_at IS NOT NULL " \
	"      OR (e.author_id <> i.user_id AND NOT EXISTS " \
	"          (SELECT 1 FROM feed.follows f WHERE f.follower_id = i.user_id " \
	"           AND f.followee_id = e.author_id AND f.state = 'active')))"

#define BAD_ORIGINAL_MISMATCH \
	"SELECT i.user_id, i.entry_id, coalesce(e.repost_of, e.post_id) AS orig, " \
	"       jsonb_build_object('user_id', i.user_id, 'entry_id', i.entry_id, 'post_id', i.post_id, " \
	"                          'expected', coalesce(e.repost_of, e.post_id)) AS item " \
	"FROM feed.inbox i JOIN feed.posts e ON e.post_id = i.entry_id " \
	"WHERE i.entry_id >= 0 AND i.post_id <> coalesce(e.repost_of, e.post_id)"

#define BAD_OVER_CAP \
	"SELECT i.user_id, count(*) AS n, jsonb_build_object('user_id', i.user_id, 'entries', count(*)) AS item " \
	"FROM feed.inbox i WHERE i.entry_id >= 0 GROUP BY i.user_id " \
	"HAVING count(*) > 2 * current_setting('feed.inbox_max')::integer"

#define BAD_ORPHAN_JOBS \
	"SELECT j.job_id, jsonb_build_object('job_id', j.job_id, 'post_id', j.post_id) AS item " \
	"FROM feed.fanout_jobs j LEFT JOIN feed.posts p ON p.post_id = j.post_id " \
	"WHERE p.post_id IS NULL OR p.deleted_at IS NOT NULL"

#define BAD_STUCK_JOBS \
	"SELECT j.job_id, jsonb_build_object('job_id', j.job_id, 'post_id', j.post_id, " \
	"                                    'age', (now() - j.created_at)::text) AS item " \
	"FROM feed.fanout_jobs j WHERE j.created_at < now() - interval '10 minutes'"

#define BAD_FOLLOW_BLOCK \
	"SELECT f.follower_id, f.followee_id, f.state, " \
	"       jsonb_build_object('follower_id', f.follower_id, 'followee_id', f.followee_id) AS item " \
	"FROM feed.follows f WHERE EXISTS (SELECT 1 FROM feed.blocks b " \
	"  WHERE (b.blocker_id = f.follower_id AND b.blocked_id = f.followee_id) " \
	"     OR (b.blocker_id = f.followee_id AND b.blocked_id = f.follower_id))"

#define BAD_ORPHAN_BACKFILLS \
	"SELECT b.user_id, b.author_id, jsonb_build_object('user_id', b.user_id, 'author_id', b.author_id) AS item " \
	"FROM feed.inbox_backfill b WHERE NOT EXISTS (SELECT 1 FROM feed.follows f " \
	"  WHERE f.follower_id = b.user_id AND f.followee_id = b.author_id AND f.state = 'active')"

#define BAD_DUPLICATE_SENTINEL_SHAPE \
	"SELECT i.user_id, i.entry_id, jsonb_build_object('user_id', i.user_id, 'entry_id', i.entry_id) AS item " \
	"FROM feed.inbox i WHERE i.entry_id < 0 AND i.post_id <> 0"

/* order matters: removing follows across blocks makes inbox rows stale */
static IntegrityCheck checks[] = {
	{"follows_across_blocks", false,
		FIND("verify_follow_block", BAD_FOLLOW_BLOCK),
		REPAIR("repair_follow_block",
			   "WITH bad AS (" BAD_FOLLOW_BLOCK "), "
			   "del AS (DELETE FROM feed.follows f USING bad WHERE f.follower_id = bad.follower_id "
			   "        AND f.followee_id = bad.followee_id RETURNING f.follower_id, f.followee_id, f.state), "
			   "d AS (INSERT INTO feed.counter_deltas (kind, target, delta) "
			   "      SELECT v.kind, v.target, -1 FROM del, "
			   "      LATERAL (VALUES ('r'::\"char\", del.followee_id), ('g'::\"char\", del.follower_id)) v(kind, target) "
			   "      WHERE del.state = 'active') "
			   "SELECT count(*) FROM del")},
	{"inbox_dead_entries", true,
		FIND("verify_dead_entries", BAD_DEAD_ENTRIES),
		REPAIR("repair_dead_entries",
			   "WITH bad AS (" BAD_DEAD_ENTRIES "), "
			   "d AS (DELETE FROM feed.inbox i USING bad WHERE i.user_id = bad.user_id "
			   "      AND i.entry_id = bad.entry_id RETURNING 1) "
			   "SELECT count(*) FROM d")},
	{"inbox_original_mismatch", true,
		FIND("verify_original_mismatch", BAD_ORIGINAL_MISMATCH),
		REPAIR("repair_original_mismatch",
			   "WITH bad AS (" BAD_ORIGINAL_MISMATCH "), "
			   "u AS (UPDATE feed.inbox i SET post_id = bad.orig FROM bad WHERE i.user_id = bad.user_id "
			   "      AND i.entry_id = bad.entry_id RETURNING 1) "
			   "SELECT count(*) FROM u")},
	{"inbox_awaiting_sweep", true,
		{"verify_awaiting_sweep",
			"WITH bad AS (" BAD_AWAITING_SWEEP ") "
			"SELECT (SELECT count(*) FROM bad WHERE overdue), "
			"       (SELECT coalesce(jsonb_agg(item), '[]') FROM "
			"          (SELECT item FROM bad ORDER BY overdue DESC LIMIT $1) s)",
		1, {INT4OID}},
		/* $1: only the overdue ones (repair_inboxes); repair takes them all */
		REPAIR("repair_awaiting_sweep",
			   "WITH bad AS (" BAD_AWAITING_SWEEP "), "
			   "d AS (DELETE FROM feed.inbox i USING bad WHERE i.user_id = bad.user_id "
			   "      AND i.entry_id = bad.entry_id AND (bad.overdue OR NOT $1) RETURNING 1) "
			   "SELECT count(*) FROM d")},
	{"inbox_over_cap", true,
		FIND("verify_over_cap", BAD_OVER_CAP),
		/* keep the newest inbox_max entries; the sentinel rises to the cut */
		REPAIR("repair_over_cap",
			   "WITH bad AS (" BAD_OVER_CAP "), "
			   "cut AS (SELECT bad.user_id, (SELECT i.entry_id FROM feed.inbox i "
			   "          WHERE i.user_id = bad.user_id AND i.entry_id >= 0 "
			   "          ORDER BY i.entry_id DESC OFFSET current_setting('feed.inbox_max')::integer "
			   "          LIMIT 1) AS cut FROM bad), "
			   "d AS (DELETE FROM feed.inbox i USING cut WHERE i.user_id = cut.user_id "
			   "      AND i.entry_id BETWEEN 0 AND cut.cut RETURNING 1), "
			   "s AS (UPDATE feed.inbox i SET entry_id = -1 - cut.cut FROM cut "
			   "      WHERE i.user_id = cut.user_id AND i.entry_id < 0 AND i.entry_id > -1 - cut.cut) "
			   "SELECT count(*) FROM d")},
	{"fanout_jobs_orphaned", false,
		FIND("verify_orphan_jobs", BAD_ORPHAN_JOBS),
		REPAIR("repair_orphan_jobs",
			   "WITH bad AS (" BAD_ORPHAN_JOBS "), "
			   "d AS (DELETE FROM feed.fanout_jobs j USING bad WHERE j.job_id = bad.job_id RETURNING 1) "
			   "SELECT count(*) FROM d")},
	{"fanout_jobs_stuck", false,
		FIND("verify_stuck_jobs", BAD_STUCK_JOBS),
		{NULL, NULL, 0, {InvalidOid}}},	/* repaired by running them, below */
	{"backfills_orphaned", false,
		FIND("verify_orphan_backfills", BAD_ORPHAN_BACKFILLS),
		REPAIR("repair_orphan_backfills",
			   "WITH bad AS (" BAD_ORPHAN_BACKFILLS "), "
			   "d AS (DELETE FROM feed.inbox_backfill b USING bad WHERE b.user_id = bad.user_id "
			   "      AND b.author_id = bad.author_id RETURNING 1) "
			   "SELECT count(*) FROM d")},
	{"inbox_bad_sentinels", true,
		FIND("verify_bad_sentinels", BAD_DUPLICATE_SENTINEL_SHAPE),
		REPAIR("repair_bad_sentinels",
			   "WITH bad AS (" BAD_DUPLICATE_SENTINEL_SHAPE "), "
			   "d AS (DELETE FROM feed.inbox i USING bad WHERE i.user_id = bad.user_id "
			   "      AND i.entry_id = bad.entry_id RETURNING 1) "
			   "SELECT count(*) FROM d")},
};

/* Counter drift, counted without fixing: same truth as the reconciliation. */
static FeedPlan drift_plan = {
	"verify_counter_drift",
	"WITH cur AS (SELECT u.user_id, "
	"   (SELECT count(*) FROM feed.follows f WHERE f.followee_id = u.user_id AND f.state = 'active') AS r, "
	"   (SELECT count(*) FROM feed.follows f WHERE f.follower_id = u.user_id AND f.state = 'active') AS g, "
	"   (SELECT count(*) FROM feed.posts p WHERE p.author_id = u.user_id AND p.deleted_at IS NULL) AS p, "
	"   coalesce(uc.follower_count, 0) + coalesce((SELECT sum(delta) FROM feed.counter_deltas cd "
	"        WHERE cd.target = u.user_id AND cd.kind = 'r'), 0) AS cr, "
	"   coalesce(uc.following_count, 0) + coalesce((SELECT sum(delta) FROM feed.counter_deltas cd "
	"        WHERE cd.target = u.user_id AND cd.kind = 'g'), 0) AS cg, "
	"   coalesce(uc.post_count, 0) + coalesce((SELECT sum(delta) FROM feed.counter_deltas cd "
	"        WHERE cd.target = u.user_id AND cd.kind = 'p'), 0) AS cp "
	"  FROM feed.users u LEFT JOIN feed.user_counters uc ON uc.user_id = u.user_id), "
	"likes AS (SELECT o.post_id, (SELECT count(*) FROM feed.likes l WHERE l.post_id = o.post_id) AS n, "
	"   coalesce(pc.like_count, 0) + coalesce((SELECT sum(cd.delta) FROM feed.counter_deltas cd "
	"        WHERE cd.target = o.post_id AND cd.kind = 'l'), 0) "
	"   + (SELECT count(*) FROM feed.likes l WHERE l.post_id = o.post_id AND NOT l.folded) AS c "
	"  FROM feed.posts o LEFT JOIN feed.post_counters pc ON pc.post_id = o.post_id "
	"  WHERE o.repost_of IS NULL), "
	"bad AS (SELECT jsonb_build_object('user_id', user_id, 'follower_count', cr, 'true_follower_count', r, "
	"          'following_count', cg, 'true_following_count', g, 'post_count', cp, 'true_post_count', p) AS item "
	"        FROM cur WHERE r <> cr OR g <> cg OR p <> cp "
	"        UNION ALL "
	"        SELECT jsonb_build_object('post_id', post_id, 'like_count', c, 'true_like_count', n) "
	"        FROM likes WHERE n <> c) "
	"SELECT (SELECT count(*) FROM bad), "
	"       (SELECT coalesce(jsonb_agg(item), '[]') FROM (SELECT item FROM bad LIMIT $1) s)",
	1, {INT4OID}
};

static void
put_verify_row(ReturnSetInfo *rsinfo, const char *name, FeedPlan *plan)
{
	Datum		args[1] = {Int32GetDatum(SAMPLE_SIZE)};
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	bool		isnull;

	feed_spi_exec(plan, args, NULL, true, 1);
	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(feed_spi_int64(0, 1, &isnull));
	values[2] = feed_spi_datum(0, 2, &nulls[2]);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Cached windows and post rows that differ from the tables (changes made
 * behind the functions' back), with up to 10 sample ids.
 */
static void
put_cache_row(ReturnSetInfo *rsinfo)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	char	   *sample;

	values[0] = CStringGetTextDatum("cache_disagrees");
	values[1] = Int64GetDatum(feed_timeline_verify_cache(&sample));
	values[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(sample));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * feed.verify() -> TABLE(check_name text, problems bigint, sample jsonb)
 */
Datum
feed_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	feed_check_preloaded();
	SetSingleFuncCall(fcinfo, 0);
	feed_spi_connect();
	for (int i = 0; i < (int) lengthof(checks); i++)
		put_verify_row(rsinfo, checks[i].name, &checks[i].find);
	put_verify_row(rsinfo, "counter_drift", &drift_plan);
	feed_spi_finish();
	put_cache_row(rsinfo);
	return (Datum) 0;
}

/*
 * Runs the repairs in dependency order and returns a row per check run.
 * inbox_only: the inbox checks, and of the rows awaiting the sweep only the
 * overdue ones (feed.repair_inboxes); otherwise everything, counts included.
 */
static void
repair_checks(ReturnSetInfo *rsinfo, bool inbox_only)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};
	ReconcileTotals t;
	char	   *sample;
	int64		cache_bad = 0;

	/* judged before this transaction writes (a writer's reads bypass it) */
	if (!inbox_only)
		cache_bad = feed_timeline_verify_cache(&sample);
	feed_spi_connect();
	for (int i = 0; i < (int) lengthof(checks); i++)
	{
		int64		fixed = 0;
		bool		isnull;

		if (inbox_only && !checks[i].inbox)
			continue;
		if (checks[i].repair.sql != NULL)
		{
			Datum		args[1] = {BoolGetDatum(inbox_only)};

			feed_spi_exec(&checks[i].repair, args, NULL, false, 0);
			fixed = feed_spi_int64(0, 1, &isnull);
		}
		else
		{
			/* stuck jobs: apply them in this transaction */
			int64		rows;

			while ((rows = feed_fanout_run_batch(feed_fanout_batch_size, feed_inbox_max, true)) >= 0)
			{
				CHECK_FOR_INTERRUPTS();
				fixed += rows;
			}
		}
		values[0] = CStringGetTextDatum(checks[i].name);
		values[1] = Int64GetDatum(fixed);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	if (!inbox_only)
	{
		reconcile_all(10000, &t);
		values[0] = CStringGetTextDatum("counter_drift");
		values[1] = Int64GetDatum(t.fixed_r + t.fixed_g + t.fixed_p + t.fixed_l);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	feed_spi_finish();
	if (!inbox_only)
	{
		/* the repairs above reach the cache at commit; this is for the rest */
		if (cache_bad > 0)
			feed_cache_clear();
		values[0] = CStringGetTextDatum("cache_disagrees");
		values[1] = Int64GetDatum(cache_bad);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * feed.repair() -> TABLE(check_name text, fixed bigint)
 *
 * Fixes what verify finds: deletes or corrects bad inbox rows, jobs,
 * backfills and follows, trims oversized inboxes, applies stuck fanout jobs
 * here, and reconciles counts.
 */
Datum
feed_repair(PG_FUNCTION_ARGS)
{
	feed_check_preloaded();
	SetSingleFuncCall(fcinfo, 0);
	repair_checks((ReturnSetInfo *) fcinfo->resultinfo, false);
	return (Datum) 0;
}

/*
 * feed.repair_inboxes() -> TABLE(check_name text, fixed bigint)
 *
 * The periodic inbox work alone (the feed_repair_inboxes job): dead and
 * mismatched entries, bad sentinels, inboxes over the cap, and entries the
 * sweep should have removed by now.  No fanout job is run and no count is
 * reconciled (feed_reconcile_counts does that).
 */
Datum
feed_repair_inboxes(PG_FUNCTION_ARGS)
{
	feed_check_preloaded();
	SetSingleFuncCall(fcinfo, 0);
	repair_checks((ReturnSetInfo *) fcinfo->resultinfo, true);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Tombstone purge
 * ---------------------------------------------------------------------
 */

/*
 * feed.purge_tombstones() -> bigint
 *
 * Hard-deletes posts deleted more than feed.tombstone_retention ago, with
 * their likes, counters, jobs and inbox rows (the inbox pass is a scan of
 * the table per batch of 10000 posts: a daily job, not a hot path).  An original still referenced by a
 * repost row waits until the repost is purged (a later run).  Replicas need
 * the tombstone until every region has seen it: keep the retention well
 * above the longest partition you want to survive.
 */
Datum
feed_purge_tombstones(PG_FUNCTION_ARGS)
{
	static FeedPlan purge_plan = {
		"purge_tombstones",
		"WITH gone AS (SELECT p.post_id FROM feed.posts p "
		"              WHERE p.deleted_at < now() - make_interval(secs => $1) "
		"              AND NOT EXISTS (SELECT 1 FROM feed.posts r WHERE r.repost_of = p.post_id) "
		"              LIMIT 10000), "
		"l AS (DELETE FROM feed.likes x USING gone WHERE x.post_id = gone.post_id), "
		"pc AS (DELETE FROM feed.post_counters x USING gone WHERE x.post_id = gone.post_id), "
		"cd AS (DELETE FROM feed.counter_deltas x USING gone WHERE x.target = gone.post_id AND x.kind = 'l'), "
		"j AS (DELETE FROM feed.fanout_jobs x USING gone WHERE x.post_id = gone.post_id), "
		/* one pass over the inbox per batch: hashed subplans, no per-post probe */
		"i AS (DELETE FROM feed.inbox x WHERE x.entry_id IN (SELECT post_id FROM gone) "
		"      OR x.post_id IN (SELECT post_id FROM gone)), "
		"p AS (DELETE FROM feed.posts x USING gone WHERE x.post_id = gone.post_id RETURNING 1) "
		"SELECT count(*) FROM p",
		1, {FLOAT8OID}
	};
	int64		total = 0;
	int64		n;
	bool		isnull;

	feed_check_preloaded();
	feed_spi_connect();
	do
	{
		Datum		values[1] = {Float8GetDatum((double) feed_tombstone_retention)};

		CHECK_FOR_INTERRUPTS();
		feed_spi_exec(&purge_plan, values, NULL, false, 0);
		n = feed_spi_int64(0, 1, &isnull);
		total += n;
	} while (n > 0);
	feed_spi_finish();

	PG_RETURN_INT64(total);
}

/* ---------------------------------------------------------------------
 * pg_cron schedule
 * ---------------------------------------------------------------------
 */

typedef struct CronJob
{
	const char *name;
	const char *schedule;
	const char *command;
} CronJob;

static const CronJob cron_jobs[] = {
	{"feed_reconcile_counts", "17 * * * *", "SELECT * FROM feed.reconcile_counts()"},
	{"feed_repair_inboxes", "*/10 * * * *", "SELECT * FROM feed.repair_inboxes()"},
	{"feed_purge_tombstones", "41 3 * * *", "SELECT feed.purge_tombstones()"},
	{"feed_expire_tokens", "43 3 * * *", "SELECT feed.expire_tokens()"},
	{"feed_verify", "*/15 * * * *",
	"INSERT INTO feed.verify_log (check_name, problems, sample) "
	"SELECT check_name, problems, sample FROM feed.verify() WHERE problems > 0"},
};

static void
require_pg_cron(void)
{
	static FeedPlan cron_present_plan = {
		"cron_present",
		"SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron')",
		0, {InvalidOid}
	};
	bool		isnull;

	feed_spi_exec(&cron_present_plan, NULL, NULL, false, 1);
	if (!feed_spi_bool(0, 1, &isnull))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron is not installed in this database"),
				 errhint("Add pg_cron to shared_preload_libraries, set cron.database_name to this database "
						 "and CREATE EXTENSION pg_cron; or call the maintenance functions yourself.")));
}

/*
 * feed.schedule_maintenance(every_minute boolean DEFAULT false) -> integer
 *
 * Registers (or updates, by name) the periodic jobs in pg_cron, to run in
 * the current database, which must be pg_cron's cron.database_name.
 * every_minute runs them all every minute (for tests and drills).  Returns
 * the number of jobs.
 */
Datum
feed_schedule_maintenance(PG_FUNCTION_ARGS)
{
	static FeedPlan schedule_plan = {
		"cron_schedule",
		"SELECT cron.schedule_in_database($1, $2, $3, current_database())",
		3, {TEXTOID, TEXTOID, TEXTOID}
	};
	bool		every_minute;

	feed_check_preloaded();
	every_minute = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	feed_spi_connect();
	require_pg_cron();
	for (int i = 0; i < (int) lengthof(cron_jobs); i++)
	{
		Datum		values[3];

		values[0] = CStringGetTextDatum(cron_jobs[i].name);
		values[1] = CStringGetTextDatum(every_minute ? "* * * * *" : cron_jobs[i].schedule);
		values[2] = CStringGetTextDatum(cron_jobs[i].command);
		feed_spi_exec(&schedule_plan, values, NULL, false, 0);
	}
	feed_spi_finish();
	PG_RETURN_INT32(lengthof(cron_jobs));
}

/*
 * feed.unschedule_maintenance() -> integer: the number of jobs removed
 */
Datum
feed_unschedule_maintenance(PG_FUNCTION_ARGS)
{
	static FeedPlan unschedule_plan = {
		"cron_unschedule",
		"SELECT count(cron.unschedule(jobid)) FROM cron.job WHERE jobname = ANY ($1)",
		1, {TEXTARRAYOID}
	};
	Datum		names[lengthof(cron_jobs)];
	Datum		values[1];
	bool		isnull;
	int64		n;

	feed_check_preloaded();
	for (int i = 0; i < (int) lengthof(cron_jobs); i++)
		names[i] = CStringGetTextDatum(cron_jobs[i].name);
	values[0] = PointerGetDatum(construct_array(names, lengthof(cron_jobs), TEXTOID, -1, false, TYPALIGN_INT));
	feed_spi_connect();
	require_pg_cron();
	feed_spi_exec(&unschedule_plan, values, NULL, false, 1);
	n = feed_spi_int64(0, 1, &isnull);
	feed_spi_finish();
	PG_RETURN_INT32((int32) n);
}
