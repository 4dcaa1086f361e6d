/*-------------------------------------------------------------------------
 *
 * timeline.c
 *	  The read path: feed.home and feed.user_posts.
 *
 * feed.home(V) is defined by the visibility oracle of DESIGN.md: visible
 * posts grouped by original, each group shown once at the smallest id among
 * its visible posts.  The read walks candidate entries newest first, in
 * batches, from one of two sources, and keeps a candidate only if it is
 * visible now and no smaller visible post of its group exists:
 *
 *	- above V's horizon (kept in a sentinel row of V's inbox, see
 *	  feed--1.0.sql): the materialised inbox, plus posts of pending fanout
 *	  jobs and of authors with a pending backfill (work not yet applied), so
 *	  the page is exact even before fanout catches up;
 *	- at or below the horizon (deep pages, trimmed inboxes), or everywhere
 *	  when V's inbox has no sentinel (evicted, never built): a pull from the
 *	  posts of V and V's followees, with the same cursor.
 *
 * Because every check runs against the tables under one snapshot, an
 * unfollow, block, delete or privacy change hides entries the moment it
 * commits, whatever the inbox still holds (invariant I2).
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
#include "maintenance.h"
#include "spi_plans.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(feed_home);
PG_FUNCTION_INFO_V1(feed_user_posts);

#define TIMELINE_COLS 7

/*
 * Does $1 actively follow the user in column X?  Written as an uncorrelated
 * IN so the planner builds one hashed subplan of $1's followees per query
 * instead of probing the index once per candidate row.
 */
#define SQL_FOLLOWS(X) \
	X " IN (SELECT f.followee_id FROM feed.follows f " \
	"       WHERE f.follower_id = $1 AND f.state = 'active')"

/* No block in either direction between $1 and the user in column X. */
#define SQL_NOT_BLOCKED(X) \
	"NOT " X " IN (SELECT b.blocked_id FROM feed.blocks b WHERE b.blocker_id = $1 " \
	"              UNION ALL " \
	"              SELECT b.blocker_id FROM feed.blocks b WHERE b.blocked_id = $1)"

/*
 * Rules 1, 3 and 4 for an entry e showing original o (author row ou):
 * neither deleted, no block with o's author, o's author public, $1, or
 * followed.  Rule 2 (e's author is $1 or followed) is added by home.
 */
#define SQL_GROUP_VISIBLE \
	"e.deleted_at IS NULL AND o.deleted_at IS NULL " \
	"AND (o.author_id = $1 OR (" SQL_NOT_BLOCKED("o.author_id") \
	"     AND (NOT ou.is_private OR " SQL_FOLLOWS("o.author_id") ")))"

/*
 * e is the smallest visible post of its group.  An original always is (its
 * reposts have larger ids), so only a repost is checked: the original must
 * not be a visible member (else it would be smaller), nor any visible repost
 * of o with a smaller id.  Blocks need no check for members: their authors
 * are $1 or followed, and a block removes follows.
 */
#define SQL_GROUP_MINIMUM \
	"(e.repost_of IS NULL OR (" \
	" NOT (o.author_id = $1 OR " SQL_FOLLOWS("o.author_id") ") " \
	" AND NOT EXISTS (SELECT 1 FROM feed.posts q " \
	"                 WHERE q.repost_of = o.post_id AND q.post_id < e.post_id " \
	"                 AND q.deleted_at IS NULL " \
	"                 AND (q.author_id = $1 OR " SQL_FOLLOWS("q.author_id") "))))"

/*
 * Check of a batch of candidate entry ids (CTE "cand(entry_id)", newest
 * first).  Every candidate comes back, with "emit" saying whether it is a
 * row of the page, so the caller can move its cursor past rejected ones.
 * MATERIALIZED: emit is used twice below, and an inlined CTE would evaluate
 * the whole check twice.
 */
#define SQL_HOME_CHECK(SOURCE) \
	"WITH cand (entry_id) AS (" SOURCE "), " \
	"chk AS MATERIALIZED (SELECT c.entry_id, o.post_id, o.author_id, " \
	"               CASE WHEN e.repost_of IS NOT NULL THEN e.author_id END AS reposted_by, " \
	"               o.body, o.created_at, " \
	"               coalesce(" SQL_GROUP_VISIBLE \
	"                        AND (e.author_id = $1 OR " SQL_FOLLOWS("e.author_id") ") " \
	"                        AND " SQL_GROUP_MINIMUM ", false) AS emit " \
	"        FROM cand c " \
	"        LEFT JOIN feed.posts e ON e.post_id = c.entry_id " \
	"        LEFT JOIN feed.posts o ON o.post_id = coalesce(e.repost_of, e.post_id) " \
	"        LEFT JOIN feed.users ou ON ou.user_id = o.author_id) " \
	"SELECT entry_id, post_id, author_id, reposted_by, body, created_at, " \
	"       CASE WHEN emit THEN " FEED_SQL_LIKE_COUNT("chk.post_id") " END, emit " \
	"FROM chk ORDER BY entry_id DESC"

/*
 * Above the horizon: $1 viewer, $2 cursor (exclusive), $3 batch, $4 horizon.
 * Four sources: the inbox; posts of queued fanout jobs; posts of authors
 * with a queued backfill; posts in the pulled ranges of followed authors
 * (celebrities, pull mode: never in inboxes).  Each is limited, then they
 * are merged: the newest $3 overall are among each source's newest $3.
 */
#define SQL_SOURCE_INBOX \
	"SELECT entry_id FROM (" \
	" (SELECT i.entry_id FROM feed.inbox i " \
	"  WHERE i.user_id = $1 AND i.entry_id < $2 AND i.entry_id > $4 " \
	"  ORDER BY i.entry_id DESC LIMIT $3) " \
	" UNION " \
	" (SELECT j.post_id FROM feed.fanout_jobs j " \
	"  WHERE j.post_id < $2 AND j.post_id > $4 " \
	"  AND (j.author_id = $1 OR " SQL_FOLLOWS("j.author_id") ") " \
	"  ORDER BY j.post_id DESC LIMIT $3) " \
	" UNION " \
	" (SELECT bp.post_id FROM feed.inbox_backfill b CROSS JOIN LATERAL " \
	"   (SELECT p.post_id FROM feed.posts p WHERE p.author_id = b.author_id " \
	"    AND p.post_id < $2 AND p.post_id > $4 AND p.deleted_at IS NULL " \
	"    ORDER BY p.post_id DESC LIMIT $3) bp " \
	"  WHERE b.user_id = $1) " \
	" UNION " \
	" (SELECT pp.post_id FROM feed.pull_authors pa CROSS JOIN LATERAL " \
	"   (SELECT p.post_id FROM feed.posts p WHERE p.author_id = pa.author_id " \
	"    AND p.post_id < $2 AND p.post_id > $4 " \
	"    AND p.post_id BETWEEN pa.first_post_id AND pa.last_post_id AND p.deleted_at IS NULL " \
	"    ORDER BY p.post_id DESC LIMIT $3) pp " \
	"  WHERE pa.author_id = $1 OR " SQL_FOLLOWS("pa.author_id") ") " \
	") s (entry_id) ORDER BY entry_id DESC LIMIT $3"

/* At or below the horizon: newest posts of $1 and $1's followees. */
#define SQL_SOURCE_PULL \
	"SELECT p.post_id FROM " \
	" (SELECT $1::bigint AS author_id UNION ALL " \
	"  SELECT f.followee_id FROM feed.follows f WHERE f.follower_id = $1 AND f.state = 'active') a " \
	"CROSS JOIN LATERAL " \
	" (SELECT p.post_id FROM feed.posts p WHERE p.author_id = a.author_id " \
	"  AND p.post_id < $2 AND p.deleted_at IS NULL " \
	"  ORDER BY p.post_id DESC LIMIT $3) p " \
	"ORDER BY p.post_id DESC LIMIT $3"

static FeedPlan home_inbox_plan = {
	"home_inbox", SQL_HOME_CHECK(SQL_SOURCE_INBOX),
	4, {INT8OID, INT8OID, INT4OID, INT8OID}
};

static FeedPlan home_pull_plan = {
	"home_pull", SQL_HOME_CHECK(SQL_SOURCE_PULL),
	3, {INT8OID, INT8OID, INT4OID}
};

/* The sentinel row; none means the inbox is not trusted at all. */
static FeedPlan horizon_plan = {
	"inbox_horizon",
	"SELECT -1 - entry_id FROM feed.inbox WHERE user_id = $1 AND entry_id < 0",
	1, {INT8OID}
};

/* Copies row `row` of the SPI result (first 7 columns) into the tuplestore. */
static void
put_row(ReturnSetInfo *rsinfo, uint64 row)
{
	Datum		values[TIMELINE_COLS];
	bool		nulls[TIMELINE_COLS];

	for (int col = 0; col < TIMELINE_COLS; col++)
		values[col] = feed_spi_datum(row, col + 1, &nulls[col]);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * feed.home(viewer bigint, lim integer DEFAULT 50, before bigint DEFAULT NULL)
 */
Datum
feed_home(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		viewer;
	int32		lim;
	int64		cursor;
	int64		horizon = 0;
	int32		emitted = 0;
	bool		from_inbox;
	Datum		values[4];
	bool		isnull;

	feed_check_preloaded();
	viewer = feed_arg_int64(fcinfo, 0, "viewer");
	lim = feed_arg_limit(fcinfo, 1);
	cursor = feed_arg_cursor(fcinfo, 2);
	feed_auth_check_actor(viewer, FEED_ACCESS_READ);
	SetSingleFuncCall(fcinfo, 0);

	feed_spi_connect();
	(void) feed_graph_require_user(viewer, "viewer");
	values[0] = Int64GetDatum(viewer);
	if (feed_spi_exec(&horizon_plan, values, NULL, true, 1) == 1)
	{
		horizon = feed_spi_int64(0, 1, &isnull);
		from_inbox = cursor - 1 > horizon;
		feed_activity_note(viewer, false);
	}
	else
	{
		/* evicted, cold or never built: pull it all, and ask for a rebuild */
		from_inbox = false;
		feed_activity_note(viewer, true);
	}

	while (emitted < lim)
	{
		/* rejected candidates are rare; a little slack saves a round trip */
		int32		batch = Min((lim - emitted) + (lim - emitted) / 4 + 8, 10000);
		uint64		n;

		values[0] = Int64GetDatum(viewer);
		values[1] = Int64GetDatum(cursor);
		values[2] = Int32GetDatum(batch);
		values[3] = Int64GetDatum(horizon);
		n = feed_spi_exec(from_inbox ? &home_inbox_plan : &home_pull_plan,
						  values, NULL, true, 0);

		for (uint64 row = 0; row < n && emitted < lim; row++)
		{
			cursor = feed_spi_int64(row, 1, &isnull);
			if (feed_spi_bool(row, 8, &isnull))
			{
				put_row(rsinfo, row);
				emitted++;
			}
		}
		if (n < (uint64) batch)
		{
			/* this source is exhausted below the cursor */
			if (!from_inbox)
				break;
			from_inbox = false;
			cursor = Min(cursor, horizon + 1);
		}
	}
	feed_spi_finish();

	return (Datum) 0;
}

/*
 * feed.user_posts(viewer bigint, author bigint, lim integer DEFAULT 50,
 *				   before bigint DEFAULT NULL)
 *
 * The author's own posts and reposts visible to the viewer, one row each.
 * A private author the viewer does not follow, or a block either way, gives
 * no rows rather than an error, so a profile page needs no special case.
 */
Datum
feed_user_posts(PG_FUNCTION_ARGS)
{
	static FeedPlan author_visible_plan = {
		"author_visible",
		"SELECT $1 = $2 OR (" SQL_NOT_BLOCKED("$2") " AND (NOT $3 OR " SQL_FOLLOWS("$2") "))",
		3, {INT8OID, INT8OID, BOOLOID}
	};
	static FeedPlan posts_plan = {
		"user_posts",
		"SELECT e.post_id, o.post_id, o.author_id, "
		"       CASE WHEN e.repost_of IS NOT NULL THEN e.author_id END, o.body, o.created_at, "
		FEED_SQL_LIKE_COUNT("o.post_id") " "
		"FROM feed.posts e "
		"JOIN feed.posts o ON o.post_id = coalesce(e.repost_of, e.post_id) "
		"JOIN feed.users ou ON ou.user_id = o.author_id "
		"WHERE e.author_id = $2 AND e.post_id < $3 AND " SQL_GROUP_VISIBLE " "
		"ORDER BY e.post_id DESC LIMIT $4",
		4, {INT8OID, INT8OID, INT8OID, INT4OID}
	};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		viewer;
	int64		author;
	int32		lim;
	int64		before;
	bool		author_private;
	Datum		values[4];
	bool		isnull;

	feed_check_preloaded();
	viewer = feed_arg_int64(fcinfo, 0, "viewer");
	author = feed_arg_int64(fcinfo, 1, "author");
	lim = feed_arg_limit(fcinfo, 2);
	before = feed_arg_cursor(fcinfo, 3);
	feed_auth_check_actor(viewer, FEED_ACCESS_READ);
	SetSingleFuncCall(fcinfo, 0);

	feed_spi_connect();
	(void) feed_graph_require_user(viewer, "viewer");
	author_private = feed_graph_require_user(author, "author");

	values[0] = Int64GetDatum(viewer);
	values[1] = Int64GetDatum(author);
	values[2] = BoolGetDatum(author_private);
	feed_spi_exec(&author_visible_plan, values, NULL, true, 1);
	if (feed_spi_bool(0, 1, &isnull))
	{
		uint64		n;

		values[2] = Int64GetDatum(before);
		values[3] = Int32GetDatum(lim);
		n = feed_spi_exec(&posts_plan, values, NULL, true, 0);
		for (uint64 row = 0; row < n; row++)
			put_row(rsinfo, row);
	}
	feed_spi_finish();

	return (Datum) 0;
}
