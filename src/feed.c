/*-------------------------------------------------------------------------
 *
 * feed.c
 *	  Entry point: settings, shared-memory hooks, the preload check.
 *
 * _PG_init stays short: one init call per module that needs one.  Later
 * modules (workers, cache, rate limits) hook in here the same way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include <limits.h>

#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "utils/guc.h"

#include "auth.h"
#include "cache.h"
#include "feed.h"
#include "ids.h"
#include "maintenance.h"
#include "workers.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

int			feed_region_id = 0;
char	   *feed_database = NULL;
int			feed_max_body_bytes = 4096;
int			feed_max_page = 200;
int			feed_inbox_max = 800;
int			feed_fanout_batch_size = 1000;
int			feed_debug_clock_offset_ms = 0;
int			feed_celebrity_threshold = 10000;
int			feed_fanout_active_days = 30;
int			feed_fanout_backlog_limit = 1000000;
int			feed_fanout_pull_minutes = 10;
int			feed_activity_slots = 65536;
int			feed_tombstone_retention = 30 * 24 * 3600;
int			feed_inbox_sweep_users = 20;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void feed_shmem_request(void);
static void feed_shmem_startup(void);
static void feed_define_gucs(void);

void
_PG_init(void)
{
	/*
	 * Loaded by CREATE EXTENSION or a function call without preload: do
	 * nothing, so the functions can raise the preload error themselves (as
	 * pg_stat_statements does) instead of failing at load time.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	feed_define_gucs();
	feed_cache_define_gucs();
	feed_auth_define_gucs();
	feed_workers_register();
	MarkGUCPrefixReserved("feed");

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = feed_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = feed_shmem_startup;
}

static void
feed_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	feed_ids_shmem_request();
	feed_workers_shmem_request();
	feed_maintenance_shmem_request();
	feed_auth_shmem_request();
	feed_cache_shmem_request();
}

static void
feed_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	feed_ids_shmem_startup();
	feed_workers_shmem_startup();
	feed_maintenance_shmem_startup();
	feed_auth_shmem_startup();
	feed_cache_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
}

void
feed_check_preloaded(void)
{
	if (!feed_ids_attached())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("feed must be loaded via shared_preload_libraries"),
				 errhint("Add 'feed' to shared_preload_libraries in postgresql.conf and restart the server.")));
}

static void
feed_define_gucs(void)
{
	DefineCustomIntVariable("feed.region_id",
							"Region id stamped into every id and row this server writes.",
							"Each region of a multi-region deployment needs a distinct value.",
							&feed_region_id,
							0, 0, FEED_ID_MAX_REGION,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("feed.database",
							   "Database in which feed's background workers run.",
							   NULL,
							   &feed_database,
							   "postgres",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("feed.max_body_bytes",
							"Largest post body accepted, in bytes.",
							NULL,
							&feed_max_body_bytes,
							4096, 1, 1024 * 1024,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("feed.max_page",
							"Largest page size accepted by feed.home and feed.user_posts.",
							NULL,
							&feed_max_page,
							200, 1, 10000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("feed.inbox_max",
							"Entries kept per materialised inbox; older entries are read by pull.",
							NULL,
							&feed_inbox_max,
							800, 10, 100000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("feed.fanout_batch_size",
							"Followers written per fanout batch.",
							NULL,
							&feed_fanout_batch_size,
							1000, 1, 100000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("feed.debug_clock_offset_ms",
							"Testing only: shifts the clock read by the id generator.",
							"Lets tests step the clock backwards to prove that ids never go back.",
							&feed_debug_clock_offset_ms,
							0, PG_INT32_MIN + 1, PG_INT32_MAX,
							PGC_SUSET, GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("feed.celebrity_threshold",
							"Authors with more active followers than this are never fanned out; readers pull their posts.",
							NULL,
							&feed_celebrity_threshold,
							10000, 0, INT_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("feed.fanout_active_days",
							"Followers who have not read their feed for this many days get no inbox rows (0: fan out to all).",
							"Their next read pulls from the tables and their inbox is rebuilt.",
							&feed_fanout_active_days,
							30, 0, 3650,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("feed.fanout_backlog_limit",
							"Pending fanout rows above which the largest authors switch to pull mode (0: never).",
							NULL,
							&feed_fanout_backlog_limit,
							1000000, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("feed.fanout_pull_minutes",
							"How long an author stays in pull mode after a backlog overload.",
							NULL,
							&feed_fanout_pull_minutes,
							10, 1, 10080,
							PGC_SIGHUP, GUC_UNIT_MIN,
							NULL, NULL, NULL);

	DefineCustomIntVariable("feed.activity_slots",
							"Readers tracked in shared memory between two flushes of reader activity.",
							NULL,
							&feed_activity_slots,
							65536, 1024, 16777216,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("feed.inbox_sweep_users",
							"Users whose inbox the launcher sweeps of dead entries each second (0: no sweep).",
							NULL,
							&feed_inbox_sweep_users,
							20, 0, 100000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("feed.tombstone_retention",
							"How long deleted posts are kept as tombstones before feed.purge_tombstones() removes them.",
							"Regions need the tombstone until each has seen the delete.",
							&feed_tombstone_retention,
							30 * 24 * 3600, 60, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
}
