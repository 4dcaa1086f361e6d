/*-------------------------------------------------------------------------
 *
 * fanout.c
 *	  Fanout of one job in batches, inbox backfills, feed.wait_idle.
 *
 * A batch is one statement: it reads the next `batch_size` active followers
 * after the job's cursor (in follower order), inserts their inbox rows,
 * trims some of those inboxes, and either advances the cursor or deletes the
 * finished job.  Because rows and cursor move together, a crash between
 * batches resumes at the next batch with no duplicate and no gap.
 *
 * Inboxes are capped at about feed.inbox_max entries.  Counting every inbox
 * on every delivery would cost more than the delivery, so each delivery
 * trims its recipient with probability 1/FEED_TRIM_EVERY (deterministic on
 * (user, entry)); trimmed entries move the user's horizon up, and reads pull
 * what lies below the horizon from the tables.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "datatype/timestamp.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/timestamp.h"

#include "cache.h"
#include "counters.h"
#include "storage/latch.h"
#include "utils/wait_event.h"
#include "workers.h"
#include "fanout.h"
#include "feed.h"
#include "spi_plans.h"

PG_FUNCTION_INFO_V1(feed_wait_idle);

#define FEED_TRIM_EVERY		32
#define FEED_FOLD_BATCH		10000
#define FEED_BACKFILL_BATCH	500
#define WAIT_IDLE_POLL_MS	10

#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * Moves the sentinel of the users in CTE "mv(user_id, horizon)" up to that
 * horizon.  Only an existing sentinel moves: an inbox without one is not
 * trusted, and trimming must not make it so.
 */
#define SQL_RAISE_HORIZON \
	"mvh AS (UPDATE feed.inbox i SET entry_id = -1 - mv.horizon FROM mv " \
	"        WHERE i.user_id = mv.user_id AND i.entry_id < 0 AND i.entry_id > -1 - mv.horizon) "

/*
 * CTE fragment: "tr" = recipients in "rcpt(user_id)" picked for trimming
 * given the delivered entry E, with the id of their newest entry beyond the
 * cap CAP; every entry at or below it goes, and the horizon follows.  The
 * pick hashes (user, entry) because the low bits of ids are a per-
 * millisecond sequence, mostly zero.
 */
#define SQL_TRIM(E, CAP) \
	"tr AS (SELECT r.user_id, " \
	"              (SELECT i.entry_id FROM feed.inbox i " \
	"               WHERE i.user_id = r.user_id AND i.entry_id >= 0 " \
	"               ORDER BY i.entry_id DESC OFFSET " CAP " LIMIT 1) AS cut " \
	"       FROM rcpt r WHERE (hashint8(r.user_id # " E ") & " STR(FEED_TRIM_EVERY - 1) ") = 0), " \
	"trd AS (DELETE FROM feed.inbox i USING tr " \
	"        WHERE i.user_id = tr.user_id AND i.entry_id BETWEEN 0 AND tr.cut), " \
	"mv AS (SELECT user_id, cut AS horizon FROM tr WHERE cut IS NOT NULL), " \
	SQL_RAISE_HORIZON

/*
 * Cached windows of the batch's recipients (column 2 of the batch result)
 * get the entry when the batch commits.
 */
static void
cache_deliveries(Datum entry, Datum orig)
{
	bool		isnull;
	Datum		users = feed_spi_datum(0, 2, &isnull);
	Datum	   *elems;
	int			n;

	if (isnull)
		return;
	deconstruct_array(DatumGetArrayTypeP(users), INT8OID, 8, true, TYPALIGN_DOUBLE,
					  &elems, NULL, &n);
	for (int i = 0; i < n; i++)
		feed_cache_feed_append(DatumGetInt64(elems[i]), DatumGetInt64(entry),
							   DatumGetInt64(orig));
}

/*
 * One batch of the oldest fanout job.  Returns the number of inbox rows
 * written (0 is possible), or -1 when there was no job to work on.
 *
 * Followers who have not read their feed for feed.fanout_active_days are
 * skipped: writing to inboxes nobody reads is the bulk of a celebrity's
 * fanout.  Their inbox loses its sentinel instead, so their next read pulls
 * (exact), and maintenance rebuilds the inbox once they are back.  The cold
 * check locks the activity row, so a concurrent "user is back" update either
 * commits first (the follower is pushed) or waits for this batch (and the
 * rebuild that follows sees this post).
 */
int64
feed_fanout_run_batch(int batch_size, int inbox_max, bool skip_locked)
{
#define SQL_CLAIM(LOCKING) \
		"SELECT j.job_id, j.post_id, j.orig_id, j.author_id, j.next_follower, " \
		"       p.deleted_at IS NOT NULL " \
		"FROM feed.fanout_jobs j JOIN feed.posts p ON p.post_id = j.post_id " \
		"ORDER BY j.job_id LIMIT 1 " LOCKING

	/* wait_idle must wait for a job in flight; workers take another */
	static FeedPlan claim_wait_plan = {
		"fanout_claim", SQL_CLAIM("FOR UPDATE OF j"), 0, {InvalidOid}
	};
	static FeedPlan claim_skip_plan = {
		"fanout_claim_skip", SQL_CLAIM("FOR UPDATE OF j SKIP LOCKED"), 0, {InvalidOid}
	};
	static FeedPlan drop_plan = {
		"fanout_drop",
		"DELETE FROM feed.fanout_jobs WHERE job_id = $1",
		1, {INT8OID}
	};
	static FeedPlan batch_plan = {
		"fanout_batch",
		"WITH f AS (SELECT follower_id AS user_id FROM feed.follows "
		"           WHERE followee_id = $3 AND follower_id > $4 AND state = 'active' "
		"           ORDER BY follower_id LIMIT $5), "
		"cold AS (SELECT a.user_id FROM feed.user_activity a "
		"         WHERE $8 > 0 AND a.user_id IN (SELECT user_id FROM f) "
		"         AND a.last_read < now() - make_interval(days => $8) "
		"         FOR SHARE OF a), "
		"rcpt AS (SELECT user_id FROM f WHERE user_id NOT IN (SELECT user_id FROM cold)), "
		"ins AS (INSERT INTO feed.inbox (user_id, entry_id, post_id) "
		"        SELECT user_id, $1, $2 FROM rcpt ON CONFLICT DO NOTHING), "
		"unt AS (DELETE FROM feed.inbox i USING cold "
		"        WHERE i.user_id = cold.user_id AND i.entry_id < 0), "
		SQL_TRIM("$1", "$7") ", "
		"n AS (SELECT count(*) AS cnt, max(user_id) AS last, "
		"             (SELECT count(*) FROM rcpt) AS written FROM f), "
		"adv AS (UPDATE feed.fanout_jobs SET next_follower = n.last, rows_done = rows_done + n.cnt "
		"        FROM n WHERE job_id = $6 AND n.cnt = $5), "
		"fin AS (DELETE FROM feed.fanout_jobs USING n WHERE job_id = $6 AND n.cnt < $5) "
		"SELECT written, (SELECT array_agg(user_id) FROM rcpt), cnt < $5 FROM n",
		8, {INT8OID, INT8OID, INT8OID, INT8OID, INT4OID, INT8OID, INT4OID, INT4OID}
	};
	Datum		values[8];
	bool		isnull;
	int64		job_id;

	if (feed_spi_exec(skip_locked ? &claim_skip_plan : &claim_wait_plan,
					  NULL, NULL, false, 1) == 0)
		return -1;

	job_id = feed_spi_int64(0, 1, &isnull);
	if (feed_spi_bool(0, 6, &isnull))
	{
		/* deleted before it reached its followers: nothing to deliver */
		int64		post_id = feed_spi_int64(0, 2, &isnull);

		feed_cache_fanout_ended(feed_spi_int64(0, 4, &isnull), post_id, post_id);
		values[0] = Int64GetDatum(job_id);
		feed_spi_exec(&drop_plan, values, NULL, false, 0);
		return 0;
	}
	values[0] = Int64GetDatum(feed_spi_int64(0, 2, &isnull));	/* entry */
	values[1] = Int64GetDatum(feed_spi_int64(0, 3, &isnull));	/* original */
	values[2] = Int64GetDatum(feed_spi_int64(0, 4, &isnull));	/* author */
	values[3] = Int64GetDatum(feed_spi_int64(0, 5, &isnull));	/* cursor */
	values[4] = Int32GetDatum(batch_size);
	values[5] = Int64GetDatum(job_id);
	values[6] = Int32GetDatum(inbox_max);
	values[7] = Int32GetDatum(feed_fanout_active_days);
	feed_spi_exec(&batch_plan, values, NULL, false, 0);
	cache_deliveries(values[0], values[1]);
	if (feed_spi_bool(0, 3, &isnull))
		feed_cache_fanout_ended(DatumGetInt64(values[2]), DatumGetInt64(values[0]),
								DatumGetInt64(values[0]));
	return feed_spi_int64(0, 1, &isnull);
}

#define SQL_BACKFILL_REST \
		"h AS (SELECT b.user_id, b.author_id, " \
		"             coalesce((SELECT -1 - i.entry_id FROM feed.inbox i " \
		"                       WHERE i.user_id = b.user_id AND i.entry_id < 0), 0) AS hz " \
		"      FROM b), " \
		"src AS (SELECT h.user_id, h.author_id, p.post_id, p.orig FROM h CROSS JOIN LATERAL " \
		"          (SELECT p.post_id, coalesce(p.repost_of, p.post_id) AS orig FROM feed.posts p " \
		"           WHERE p.author_id = h.author_id AND p.post_id > h.hz AND p.deleted_at IS NULL " \
		"           AND " FEED_SQL_NOT_PULLED("p") " " \
		"           ORDER BY p.post_id DESC LIMIT $2) p), " \
		"ins AS (INSERT INTO feed.inbox (user_id, entry_id, post_id) " \
		"        SELECT user_id, post_id, orig FROM src ON CONFLICT DO NOTHING), " \
		"mv AS (SELECT user_id, max(horizon) AS horizon FROM " \
		"         (SELECT user_id, min(post_id) - 1 AS horizon FROM src " \
		"          GROUP BY user_id, author_id HAVING count(*) = $2) full_authors " \
		"       GROUP BY user_id), " \
		SQL_RAISE_HORIZON \
		"SELECT count(*) FROM b"

/*
 * Follows that became active: copy each author's posts above the follower's
 * horizon into the follower's inbox, for up to `batch` queued backfills in
 * one statement.  At most inbox_max posts per author; if an author has more,
 * the horizon rises to just below the oldest one copied, so the inbox stays
 * complete above the horizon and deeper reads pull.  Returns the number of
 * backfills applied.
 */
uint64
feed_fanout_run_backfills(int batch, int inbox_max, bool skip_locked)
{
#define SQL_BACKFILL(LOCKING) \
		"WITH b AS (DELETE FROM feed.inbox_backfill " \
		"           WHERE (user_id, author_id) IN " \
		"                 (SELECT user_id, author_id FROM feed.inbox_backfill " \
		"                  ORDER BY user_id, author_id LIMIT $1 " LOCKING ") " \
		"           RETURNING user_id, author_id), " \
		SQL_BACKFILL_REST
	/* custom plans, for the same reason as the counter fold (counters.c) */
	static FeedPlan backfill_wait_plan = {
		"backfill", SQL_BACKFILL("FOR UPDATE"), 2, {INT4OID, INT4OID}, NULL, CURSOR_OPT_CUSTOM_PLAN
	};
	static FeedPlan backfill_skip_plan = {
		"backfill_skip", SQL_BACKFILL("FOR UPDATE SKIP LOCKED"), 2, {INT4OID, INT4OID}, NULL, CURSOR_OPT_CUSTOM_PLAN
	};
	Datum		values[2];
	bool		isnull;

	values[0] = Int32GetDatum(batch);
	values[1] = Int32GetDatum(inbox_max);
	feed_spi_exec(skip_locked ? &backfill_skip_plan : &backfill_wait_plan,
				  values, NULL, false, 0);
	return (uint64) feed_spi_int64(0, 1, &isnull);
}

/*
 * Is any work committed before `since` still queued?  Jobs, backfills and
 * unfolded likes carry the start time of the transaction that queued them,
 * which is before its commit; deltas are compared by id with the largest id seen
 * at the start of the wait.
 */
static bool
work_pending(TimestampTz since, int64 max_delta)
{
	static FeedPlan pending_plan = {
		"work_pending",
		"SELECT EXISTS (SELECT 1 FROM feed.fanout_jobs WHERE created_at <= $1) "
		"    OR EXISTS (SELECT 1 FROM feed.inbox_backfill WHERE created_at <= $1) "
		"    OR EXISTS (SELECT 1 FROM feed.counter_deltas WHERE delta_id <= $2) "
		"    OR EXISTS (SELECT 1 FROM feed.likes WHERE NOT folded AND created_at <= $1)",
		2, {TIMESTAMPTZOID, INT8OID}
	};
	Datum		values[2] = {TimestampTzGetDatum(since), Int64GetDatum(max_delta)};
	bool		isnull;

	feed_spi_exec(&pending_plan, values, NULL, false, 1);
	return feed_spi_bool(0, 1, &isnull);
}

static int64
max_delta_id(void)
{
	static FeedPlan max_plan = {
		"max_delta_id",
		"SELECT coalesce(max(delta_id), 0) FROM feed.counter_deltas",
		0, {InvalidOid}
	};
	bool		isnull;

	feed_spi_exec(&max_plan, NULL, NULL, false, 1);
	return feed_spi_int64(0, 1, &isnull);
}

/*
 * Will the fanout workers do the work, or must the caller?  Decided once
 * per call: work the caller applies stays uncommitted until it returns, and
 * workers that started meanwhile would block on those rows while the
 * caller waited for them.  Workers configured for this database but not up
 * yet (the launcher retries while the database is being created) are
 * waited for, a few seconds at most.
 */
static bool
workers_will_serve(TimestampTz deadline)
{
	TimestampTz until;
	char	   *dbname;

	if (feed_workers_serving())
		return true;
	dbname = get_database_name(MyDatabaseId);
	if (feed_fanout_workers == 0 || dbname == NULL || strcmp(dbname, feed_database) != 0)
		return false;
	until = Min(deadline, TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 10000));
	while (GetCurrentTimestamp() < until)
	{
		CHECK_FOR_INTERRUPTS();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 WAIT_IDLE_POLL_MS * 5, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (feed_workers_serving())
			return true;
	}
	return false;
}

/*
 * feed.wait_idle(timeout interval DEFAULT '30 s') -> boolean
 *
 * Returns true once the work committed before the call (fanout jobs, inbox
 * backfills, counter deltas, cache updates of committed transactions) has
 * been applied, false if the timeout came
 * first.  When fanout workers serve this database it wakes them and waits;
 * otherwise it applies the work itself, in the caller's transaction (what
 * was applied stays applied when the caller commits).
 */
Datum
feed_wait_idle(PG_FUNCTION_ARGS)
{
	Interval   *timeout;
	int64		timeout_us;
	TimestampTz start;
	TimestampTz deadline;
	int64		max_delta;
	bool		idle = false;
	bool		use_workers;
	TimestampTz last_served;

	feed_check_preloaded();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"timeout\" must not be NULL")));
	timeout = PG_GETARG_INTERVAL_P(0);
	timeout_us = timeout->time +
		(int64) timeout->day * USECS_PER_DAY +
		(int64) timeout->month * DAYS_PER_MONTH * USECS_PER_DAY;
	if (timeout_us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative")));
	start = GetCurrentTimestamp();
	deadline = TimestampTzPlusMilliseconds(start, timeout_us / 1000);

	use_workers = workers_will_serve(deadline);
	last_served = GetCurrentTimestamp();
	feed_spi_connect();
	max_delta = max_delta_id();
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();

		if (use_workers)
		{
			if (!work_pending(start, max_delta) && feed_cache_quiet())
			{
				idle = true;
				break;
			}
			if (GetCurrentTimestamp() >= deadline)
				break;
			/* the pool was shrunk to 0 (or died): do the rest here */
			if (feed_workers_serving())
				last_served = GetCurrentTimestamp();
			else if (GetCurrentTimestamp() - last_served > 2 * USECS_PER_SEC)
			{
				use_workers = false;
				continue;
			}
			feed_workers_wake_all();
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 WAIT_IDLE_POLL_MS, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		else
		{
			bool		worked = false;

			worked |= feed_fanout_run_backfills(FEED_BACKFILL_BATCH, feed_inbox_max, false) > 0;
			if (!worked)
				worked |= feed_fanout_run_batch(feed_fanout_batch_size, feed_inbox_max, false) >= 0;
			if (!worked)
				worked |= feed_counters_fold(FEED_FOLD_BATCH, false, NULL) > 0;

			/*
			 * A claim can come back empty while work exists (FOR UPDATE ...
			 * LIMIT 1 skips a row a concurrent caller deleted while we waited
			 * for it), so only a plain look at the queues decides.
			 */
			if (!worked && !work_pending(start, max_delta) && feed_cache_quiet())
			{
				idle = true;
				break;
			}
			if (GetCurrentTimestamp() >= deadline)
				break;
		}
	}
	feed_spi_finish();

	PG_RETURN_BOOL(idle);
}
