/*-------------------------------------------------------------------------
 *
 * maintenance.c
 *	  Reader activity, inbox rebuilds and the fanout degradation policy.
 *
 * Reader activity: feed.home notes each read in a partitioned shared hash
 * (16 LWLocks; a reader that read within the last minute only takes its
 * partition's lock in shared mode).  Each maintenance round moves the notes
 * into feed.user_activity, which fanout consults to skip cold followers,
 * and rebuilds the inboxes of readers whose inbox had no sentinel (cold,
 * evicted, or never built), so their next reads come from the inbox again.
 *
 * Lazy cleanup: inbox rows that can never be shown again are swept a few
 * users per round (feed.inbox_sweep_users, default 20: a few thousand
 * index probes a second).
 *
 * Degradation: when the fanout backlog (follower rows still to write)
 * passes feed.fanout_backlog_limit, the authors with the largest backlog
 * switch to pull mode for feed.fanout_pull_minutes: their queued jobs are
 * dropped and their posts in that id range are pulled by readers, and new
 * posts are not fanned out until the mode expires.  Feeds stay exact, since
 * a post is either in an inbox, in a queued job or in a pulled range.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "cache.h"
#include "fanout.h"
#include "feed.h"
#include "maintenance.h"
#include "spi_plans.h"

#define ACTIVITY_PARTITIONS		16
#define ACTIVITY_REFRESH_USECS	(60 * USECS_PER_SEC)
#define REBUILDS_PER_TICK		200

typedef struct ActivityEntry
{
	int64		user_id;		/* hash key */
	TimestampTz last_read;
	bool		needs_rebuild;
} ActivityEntry;

static HTAB *activity = NULL;
static LWLockPadded *activity_locks = NULL;

void
feed_maintenance_shmem_request(void)
{
	RequestAddinShmemSpace(hash_estimate_size(feed_activity_slots, sizeof(ActivityEntry)));
	RequestNamedLWLockTranche("feed_activity", ACTIVITY_PARTITIONS);
}

void
feed_maintenance_shmem_startup(void)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(int64);
	info.entrysize = sizeof(ActivityEntry);
	info.num_partitions = ACTIVITY_PARTITIONS;
	activity = ShmemInitHash("feed reader activity",
							 feed_activity_slots, feed_activity_slots,
							 &info, HASH_ELEM | HASH_BLOBS | HASH_PARTITION);
	activity_locks = GetNamedLWLockTranche("feed_activity");
}

void
feed_activity_note(int64 user_id, bool needs_rebuild)
{
	uint32		hash;
	LWLock	   *lock;
	ActivityEntry *e;
	TimestampTz now = GetCurrentTimestamp();
	bool		found;

	if (activity == NULL)
		return;
	hash = get_hash_value(activity, &user_id);
	lock = &activity_locks[hash % ACTIVITY_PARTITIONS].lock;

	/* the common case: noted recently, nothing to change */
	LWLockAcquire(lock, LW_SHARED);
	e = hash_search_with_hash_value(activity, &user_id, hash, HASH_FIND, NULL);
	if (e != NULL && now - e->last_read < ACTIVITY_REFRESH_USECS &&
		(e->needs_rebuild || !needs_rebuild))
	{
		LWLockRelease(lock);
		return;
	}
	LWLockRelease(lock);

	LWLockAcquire(lock, LW_EXCLUSIVE);
	e = hash_search_with_hash_value(activity, &user_id, hash, HASH_ENTER_NULL, &found);
	if (e != NULL)
	{
		if (!found)
			e->needs_rebuild = false;
		e->last_read = now;
		e->needs_rebuild |= needs_rebuild;
	}
	LWLockRelease(lock);
}

/*
 * Takes every note out of the hash (all partition locks, in order, for a
 * moment) into palloc'd arrays.
 */
static int
take_notes(Datum **users, Datum **times, int64 **rebuild, int *nrebuild)
{
	HASH_SEQ_STATUS status;
	ActivityEntry *e;
	int			n = 0;
	long		count;

	for (int i = 0; i < ACTIVITY_PARTITIONS; i++)
		LWLockAcquire(&activity_locks[i].lock, LW_EXCLUSIVE);
	count = hash_get_num_entries(activity);
	*users = palloc(sizeof(Datum) * (count + 1));
	*times = palloc(sizeof(Datum) * (count + 1));
	*rebuild = palloc(sizeof(int64) * (count + 1));
	*nrebuild = 0;
	hash_seq_init(&status, activity);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		(*users)[n] = Int64GetDatum(e->user_id);
		(*times)[n] = TimestampTzGetDatum(e->last_read);
		n++;
		if (e->needs_rebuild && *nrebuild < REBUILDS_PER_TICK)
			(*rebuild)[(*nrebuild)++] = e->user_id;
		else if (e->needs_rebuild)
			continue;			/* keep it for the next round */
		(void) hash_search(activity, &e->user_id, HASH_REMOVE, NULL);
	}
	for (int i = ACTIVITY_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&activity_locks[i].lock);
	return n;
}

/*
 * Rebuild user_id's inbox from the tables: the newest inbox_max entries of
 * the user and their followees, and a sentinel below them.  Runs after the
 * activity flush in the same transaction; the flush's row locks on
 * user_activity keep fanout from skipping the user meanwhile (fanout.c).
 */
static void
rebuild_inbox(int64 user_id)
{
	static FeedPlan clear_plan = {
		"rebuild_clear",
		"DELETE FROM feed.inbox WHERE user_id = $1",
		1, {INT8OID}
	};
	static FeedPlan fill_plan = {
		"rebuild_fill",
		"WITH src AS (SELECT p.post_id, p.orig FROM "
		"   (SELECT $1::bigint AS author_id UNION ALL "
		"    SELECT f.followee_id FROM feed.follows f "
		"    WHERE f.follower_id = $1 AND f.state = 'active') a "
		"   CROSS JOIN LATERAL "
		"   (SELECT p.post_id, coalesce(p.repost_of, p.post_id) AS orig FROM feed.posts p "
		"    WHERE p.author_id = a.author_id AND p.deleted_at IS NULL "
		"    AND " FEED_SQL_NOT_PULLED("p") " "
		"    ORDER BY p.post_id DESC LIMIT $2) p "
		"   ORDER BY p.post_id DESC LIMIT $2), "
		"ins AS (INSERT INTO feed.inbox (user_id, entry_id, post_id) "
		"        SELECT $1, post_id, orig FROM src) "
		"INSERT INTO feed.inbox (user_id, entry_id, post_id) "
		"SELECT $1, -1 - CASE WHEN count(*) = $2 THEN min(post_id) - 1 ELSE 0 END, 0 FROM src",
		2, {INT8OID, INT4OID}
	};
	Datum		values[2] = {Int64GetDatum(user_id), Int32GetDatum(feed_inbox_max)};

	feed_spi_exec(&clear_plan, values, NULL, false, 0);
	feed_spi_exec(&fill_plan, values, NULL, false, 0);
}

static void
flush_activity(void)
{
	static FeedPlan flush_plan = {
		"activity_flush",
		"INSERT INTO feed.user_activity AS a (user_id, last_read) "
		"SELECT u, t FROM unnest($1::bigint[], $2::timestamptz[]) AS n(u, t) "
		"WHERE EXISTS (SELECT 1 FROM feed.users WHERE user_id = n.u) "
		"ON CONFLICT (user_id) DO UPDATE SET last_read = greatest(a.last_read, excluded.last_read)",
		2, {INT8ARRAYOID, TIMESTAMPTZARRAYOID}
	};
	Datum	   *users;
	Datum	   *times;
	int64	   *rebuild;
	int			nrebuild;
	int			n;
	Datum		values[2];

	n = take_notes(&users, &times, &rebuild, &nrebuild);
	if (n == 0)
		return;
	values[0] = PointerGetDatum(construct_array(users, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(times, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	feed_spi_exec(&flush_plan, values, NULL, false, 0);
	for (int i = 0; i < nrebuild; i++)
		rebuild_inbox(rebuild[i]);
}

/*
 * Backlog above the limit: move the authors with the most pending rows to
 * pull mode until the backlog is back under half the limit.
 */
static void
degrade_backlog(void)
{
	static FeedPlan backlog_plan = {
		"fanout_backlog",
		"WITH pend AS (SELECT j.author_id, min(j.post_id) AS first_id, max(j.post_id) AS last_id, "
		"                     sum(greatest(coalesce(uc.follower_count, 0) - j.rows_done, 0))::bigint AS rows "
		"              FROM feed.fanout_jobs j "
		"              LEFT JOIN feed.user_counters uc ON uc.user_id = j.author_id "
		"              GROUP BY j.author_id) "
		"SELECT author_id, first_id, last_id, rows, (sum(rows) OVER ())::bigint AS total "
		"FROM pend ORDER BY rows DESC",
		0, {InvalidOid}
	};
	static FeedPlan pull_plan = {
		"fanout_to_pull",
		"WITH pa AS (INSERT INTO feed.pull_authors AS pa (author_id, first_post_id, last_post_id) "
		"            VALUES ($1, $2, $3) "
		"            ON CONFLICT (author_id) DO UPDATE SET "
		"              first_post_id = least(pa.first_post_id, excluded.first_post_id), "
		"              last_post_id = greatest(pa.last_post_id, excluded.last_post_id)), "
		"d AS (DELETE FROM feed.fanout_jobs WHERE author_id = $1 AND post_id BETWEEN $2 AND $3) "
		"INSERT INTO feed.fanout_pull_mode AS m (author_id, since, until, reason, rows_avoided) "
		"VALUES ($1, now(), now() + make_interval(mins => $5), 'backlog', $4) "
		"ON CONFLICT (author_id) DO UPDATE SET until = excluded.until, "
		"  rows_avoided = m.rows_avoided + excluded.rows_avoided",
		5, {INT8OID, INT8OID, INT8OID, INT8OID, INT4OID}
	};
	uint64		n;
	int64		total;
	int64		limit = feed_fanout_backlog_limit;
	bool		isnull;
	int64	   *authors;
	int64	   *firsts;
	int64	   *lasts;
	int64	   *rows;
	int			chosen = 0;

	if (limit <= 0)
		return;
	n = feed_spi_exec(&backlog_plan, NULL, NULL, false, 0);
	if (n == 0)
		return;
	total = feed_spi_int64(0, 5, &isnull);
	if (total <= limit)
		return;

	authors = palloc(sizeof(int64) * n);
	firsts = palloc(sizeof(int64) * n);
	lasts = palloc(sizeof(int64) * n);
	rows = palloc(sizeof(int64) * n);
	for (uint64 i = 0; i < n && total > limit / 2; i++)
	{
		authors[chosen] = feed_spi_int64(i, 1, &isnull);
		firsts[chosen] = feed_spi_int64(i, 2, &isnull);
		lasts[chosen] = feed_spi_int64(i, 3, &isnull);
		rows[chosen] = feed_spi_int64(i, 4, &isnull);
		total -= rows[chosen];
		chosen++;
	}
	for (int i = 0; i < chosen; i++)
	{
		Datum		values[5];

		values[0] = Int64GetDatum(authors[i]);
		values[1] = Int64GetDatum(firsts[i]);
		values[2] = Int64GetDatum(lasts[i]);
		values[3] = Int64GetDatum(rows[i]);
		values[4] = Int32GetDatum(feed_fanout_pull_minutes);
		feed_spi_exec(&pull_plan, values, NULL, false, 0);
		/* the author's queued posts are pulled now: windows must learn that */
		feed_cache_fanout_ended(authors[i], firsts[i], lasts[i]);
		feed_cache_all_feeds_changed();
		ereport(LOG,
				(errmsg("feed: fanout backlog over feed.fanout_backlog_limit (%lld rows); author %lld switched to pull mode for %d minutes",
						(long long) limit, (long long) authors[i], feed_fanout_pull_minutes),
				 errdetail("%lld pending follower rows of this author will be read by pull instead.",
						   (long long) rows[i])));
	}
}

/*
 * Unfollows, blocks and deletes hide entries on the read path at once; the
 * inbox rows themselves are cleaned here, lazily: each round sweeps the
 * inboxes of the next users (in user_id order, wrapping around) and deletes
 * entries that can never be shown again (deleted post or original, author
 * no longer followed).  A later follow backfills what it needs.
 */
static void
sweep_inboxes(void)
{
	/*
	 * The LIMIT 1 subqueries are not flattened, so each inbox row costs two
	 * primary-key probes and one follows probe, whatever the planner thinks
	 * of the table sizes (a join here chose to scan all posts, every round).
	 */
	static FeedPlan sweep_plan = {
		"inbox_sweep",
		"WITH u AS (SELECT user_id FROM feed.users WHERE user_id > $1 ORDER BY user_id LIMIT $2), "
		"dead AS (SELECT i.user_id, i.entry_id "
		"         FROM u JOIN feed.inbox i ON i.user_id = u.user_id AND i.entry_id >= 0 "
		"         LEFT JOIN LATERAL (SELECT e.author_id, e.deleted_at FROM feed.posts e "
		"                            WHERE e.post_id = i.entry_id LIMIT 1) e ON true "
		"         LEFT JOIN LATERAL (SELECT o.deleted_at FROM feed.posts o "
		"                            WHERE o.post_id = i.post_id LIMIT 1) o ON true "
		"         WHERE e.author_id IS NULL OR e.deleted_at IS NOT NULL OR o.deleted_at IS NOT NULL "
		"            OR (e.author_id <> i.user_id AND NOT EXISTS "
		"                (SELECT 1 FROM feed.follows f WHERE f.follower_id = i.user_id "
		"                 AND f.followee_id = e.author_id AND f.state = 'active'))), "
		"del AS (DELETE FROM feed.inbox x USING dead "
		"        WHERE x.user_id = dead.user_id AND x.entry_id = dead.entry_id) "
		"SELECT max(user_id) FROM u",
		2, {INT8OID, INT4OID}
	};
	static int64 cursor = 0;
	Datum		values[2] = {Int64GetDatum(cursor), Int32GetDatum(feed_inbox_sweep_users)};
	bool		isnull;
	int64		last;

	if (feed_inbox_sweep_users <= 0)
		return;
	feed_spi_exec(&sweep_plan, values, NULL, false, 1);
	last = feed_spi_int64(0, 1, &isnull);
	cursor = isnull ? 0 : last;
}

void
feed_maintenance_tick(void *arg)
{
	flush_activity();
	degrade_backlog();
	sweep_inboxes();
}
