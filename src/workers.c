/*-------------------------------------------------------------------------
 *
 * workers.c
 *	  Background workers: the launcher, fanout workers, wake-ups, rate limit.
 *
 * The launcher is a static worker registered at preload.  It connects to
 * feed.database, starts feed.fanout_workers dynamic workers (restarting any
 * that exit, at most once a second each) and runs the periodic maintenance
 * of maintenance.c.  Fanout workers loop: claim work with SKIP LOCKED, apply
 * one batch in its own transaction, commit, repeat; when there is nothing to
 * do they sleep on their latch, which publishing transactions set when they
 * commit.  The sleep has a timeout only as a safety net.
 *
 * SIGTERM stops a worker between batches: the batch in flight commits (or
 * not) as a whole, and its successor resumes at the next batch.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "counters.h"
#include "fanout.h"
#include "feed.h"
#include "maintenance.h"
#include "spi_plans.h"
#include "workers.h"

PGDLLEXPORT void feed_launcher_main(Datum main_arg);
PGDLLEXPORT void feed_fanout_worker_main(Datum main_arg);

int			feed_fanout_workers = 2;
int			feed_fanout_rate_limit = 0;

#define SAFETY_POLL_MS		1000
#define LAUNCHER_TICK_MS	1000
#define RATE_RING_SECONDS	60
#define WORKER_FOLD_BATCH	10000
#define WORKER_BACKFILL_BATCH 200
#define WORKER_JOBS_PER_UNIT	8
#define WORKER_FOLD_PAUSE_MS	50

typedef enum FeedWorkerState
{
	FEED_WORKER_STARTING = 0,
	FEED_WORKER_IDLE,
	FEED_WORKER_FANOUT,
	FEED_WORKER_BACKFILL,
	FEED_WORKER_COUNTERS,
	FEED_WORKER_THROTTLED
} FeedWorkerState;

typedef struct FeedWorkerSlot
{
	pid_t		pid;			/* 0 when no worker holds the slot */
	Latch	   *latch;
	FeedWorkerState state;
	TimestampTz state_since;
	uint64		rows;			/* inbox rows written since start */
	uint64		batches;
} FeedWorkerSlot;

typedef struct FeedWorkersShared
{
	slock_t		mutex;
	Oid			database_id;	/* where the workers run; InvalidOid before */
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	uint32		next_wake;		/* round robin over slots */
	/* rate limit: a token bucket in rows, refilled feed.fanout_rate_limit/s */
	double		tokens;
	TimestampTz tokens_at;
	/* rows written per second over the last minute */
	int64		ring_second[RATE_RING_SECONDS];
	uint64		ring_rows[RATE_RING_SECONDS];
	FeedWorkerSlot slots[FEED_MAX_WORKERS];
} FeedWorkersShared;

static FeedWorkersShared *workers = NULL;

static volatile sig_atomic_t got_sigterm = false;
static int	my_slot = -1;
static bool wake_registered = false;
static bool wake_pending = false;

/* ---------------------------------------------------------------------
 * Shared memory
 * ---------------------------------------------------------------------
 */
void
feed_workers_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(FeedWorkersShared)));
}

void
feed_workers_shmem_startup(void)
{
	bool		found;

	workers = ShmemInitStruct("feed workers", sizeof(FeedWorkersShared), &found);
	if (!found)
	{
		memset(workers, 0, sizeof(FeedWorkersShared));
		SpinLockInit(&workers->mutex);
		workers->database_id = InvalidOid;
	}
}

/* ---------------------------------------------------------------------
 * Registration (from _PG_init, while preloading)
 * ---------------------------------------------------------------------
 */
void
feed_workers_register(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("feed.fanout_workers",
							"Number of fanout background workers (0 disables them).",
							"With none, feed.wait_idle() applies pending work in the caller.",
							&feed_fanout_workers,
							2, 0, FEED_MAX_WORKERS,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("feed.fanout_rate_limit",
							"Most inbox rows per second the fanout workers write together (0: no limit).",
							NULL,
							&feed_fanout_rate_limit,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "feed");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "feed_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "feed launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "feed launcher");
	RegisterBackgroundWorker(&worker);
}

/* ---------------------------------------------------------------------
 * Wake-ups
 * ---------------------------------------------------------------------
 */
static void
wake_one(void)
{
	uint32		start;

	if (workers == NULL)
		return;
	SpinLockAcquire(&workers->mutex);
	start = workers->next_wake++;
	for (int i = 0; i < FEED_MAX_WORKERS; i++)
	{
		FeedWorkerSlot *slot = &workers->slots[(start + i) % FEED_MAX_WORKERS];

		if (slot->pid != 0 && slot->latch != NULL)
		{
			SetLatch(slot->latch);
			break;
		}
	}
	SpinLockRelease(&workers->mutex);
}

void
feed_workers_wake_all(void)
{
	if (workers == NULL)
		return;
	SpinLockAcquire(&workers->mutex);
	for (int i = 0; i < FEED_MAX_WORKERS; i++)
		if (workers->slots[i].pid != 0 && workers->slots[i].latch != NULL)
			SetLatch(workers->slots[i].latch);
	SpinLockRelease(&workers->mutex);
}

static void
wake_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_pending)
				wake_one();
			wake_pending = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_pending = false;
			break;
		default:
			break;
	}
}

void
feed_workers_wake_at_commit(void)
{
	if (!wake_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		wake_registered = true;
	}
	wake_pending = true;
}

bool
feed_workers_serving(void)
{
	bool		serving = false;

	if (workers == NULL)
		return false;
	SpinLockAcquire(&workers->mutex);
	if (workers->database_id == MyDatabaseId)
		for (int i = 0; i < FEED_MAX_WORKERS; i++)
			if (workers->slots[i].pid != 0)
				serving = true;
	SpinLockRelease(&workers->mutex);
	return serving;
}

/* ---------------------------------------------------------------------
 * Throughput accounting and rate limit
 * ---------------------------------------------------------------------
 */
static void
account_rows(uint64 rows)
{
	int64		sec = GetCurrentTimestamp() / USECS_PER_SEC;
	int			b = (int) (sec % RATE_RING_SECONDS);

	SpinLockAcquire(&workers->mutex);
	if (workers->ring_second[b] != sec)
	{
		workers->ring_second[b] = sec;
		workers->ring_rows[b] = 0;
	}
	workers->ring_rows[b] += rows;
	if (my_slot >= 0)
	{
		workers->slots[my_slot].rows += rows;
		workers->slots[my_slot].batches++;
	}
	SpinLockRelease(&workers->mutex);
}

uint64
feed_workers_recent_rows(int seconds)
{
	int64		now = GetCurrentTimestamp() / USECS_PER_SEC;
	uint64		total = 0;

	if (workers == NULL)
		return 0;
	seconds = Max(1, Min(seconds, RATE_RING_SECONDS));
	SpinLockAcquire(&workers->mutex);
	for (int i = 0; i < RATE_RING_SECONDS; i++)
		if (workers->ring_second[i] > now - seconds && workers->ring_second[i] <= now)
			total += workers->ring_rows[i];
	SpinLockRelease(&workers->mutex);
	return total;
}

static void
set_state(FeedWorkerState state)
{
	if (my_slot < 0)
		return;
	SpinLockAcquire(&workers->mutex);
	if (workers->slots[my_slot].state != state)
	{
		workers->slots[my_slot].state = state;
		workers->slots[my_slot].state_since = GetCurrentTimestamp();
	}
	SpinLockRelease(&workers->mutex);
}

/*
 * Token bucket shared by all workers: a batch takes its rows from the bucket
 * and, if that leaves it in debt, sleeps until the debt is repaid.  A burst
 * of up to one second's worth is allowed.
 */
static void
throttle(uint64 rows)
{
	int			limit = feed_fanout_rate_limit;
	double		debt = 0;
	TimestampTz now;

	if (limit <= 0 || rows == 0)
		return;
	now = GetCurrentTimestamp();
	SpinLockAcquire(&workers->mutex);
	if (workers->tokens_at == 0)
		workers->tokens = limit;
	else
		workers->tokens = Min((double) limit,
							  workers->tokens +
							  (double) (now - workers->tokens_at) * limit / USECS_PER_SEC);
	workers->tokens_at = now;
	workers->tokens -= (double) rows;
	if (workers->tokens < 0)
		debt = -workers->tokens;
	SpinLockRelease(&workers->mutex);

	if (debt > 0)
	{
		long		ms = (long) (debt * 1000.0 / limit);

		set_state(FEED_WORKER_THROTTLED);
		(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(ms, 1), PG_WAIT_EXTENSION);
	}
}

/* ---------------------------------------------------------------------
 * Common worker plumbing
 * ---------------------------------------------------------------------
 */
static void
handle_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
process_reload(void)
{
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/*
 * Run fn in a transaction of its own, with SPI and a snapshot.  An error is
 * logged and the transaction rolled back; the caller carries on (its next
 * round retries), so a bad batch cannot put a worker into a restart loop.
 * Returns false after an error.
 */
static bool
in_transaction(const char *activity, void (*fn) (void *), void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		Oid			extoid;

		pgstat_report_activity(STATE_RUNNING, activity);

		/*
		 * The extension may be absent, or being dropped.  DROP EXTENSION
		 * locks the extension object before its tables; locking it first
		 * here too makes us queue behind a drop instead of holding one of
		 * its tables while it waits for another (a deadlock).
		 */
		extoid = get_extension_oid("feed", true);
		if (OidIsValid(extoid))
		{
			LockDatabaseObject(ExtensionRelationId, extoid, 0, AccessShareLock);
			extoid = get_extension_oid("feed", true);
		}
		PushActiveSnapshot(GetTransactionSnapshot());
		if (OidIsValid(extoid))
		{
			feed_spi_connect();
			fn(arg);
			feed_spi_finish();
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		ok = false;
	}
	PG_END_TRY();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/* ---------------------------------------------------------------------
 * Fanout worker
 * ---------------------------------------------------------------------
 */
typedef struct WorkUnit
{
	int64		rows;			/* inbox rows written, or -1: nothing done */
	FeedWorkerState kind;
	bool		drained;		/* folded a partial batch: the queue is empty */
} WorkUnit;

/*
 * One unit: the next batch of a fanout job if there is one, else a batch of
 * backfills, else a batch of counter deltas.
 */
static void
do_one_unit(void *arg)
{
	WorkUnit   *unit = (WorkUnit *) arg;
	int64		rows;
	uint64		folded;
	bool		drained;

	rows = feed_fanout_run_batch(feed_fanout_batch_size, feed_inbox_max, true);
	if (rows >= 0)
	{
		/*
		 * Most jobs are smaller than a batch: take a few more in the same
		 * transaction, until a batch's worth of rows is written.  A big job
		 * fills the batch alone, so big jobs still spread over the workers.
		 */
		for (int i = 1; i < WORKER_JOBS_PER_UNIT && rows < feed_fanout_batch_size; i++)
		{
			int64		more = feed_fanout_run_batch(feed_fanout_batch_size, feed_inbox_max, true);

			if (more < 0)
				break;
			rows += more;
		}
		unit->rows = rows;
		unit->kind = FEED_WORKER_FANOUT;
		return;
	}
	if (feed_fanout_run_backfills(WORKER_BACKFILL_BATCH, feed_inbox_max, true) > 0)
	{
		unit->rows = 0;
		unit->kind = FEED_WORKER_BACKFILL;
		return;
	}
	folded = feed_counters_fold(WORKER_FOLD_BATCH, true, &drained);
	if (folded > 0)
	{
		unit->rows = 0;
		unit->kind = FEED_WORKER_COUNTERS;
		unit->drained = drained;
		return;
	}
	unit->rows = -1;
}

static void
release_slot(int code, Datum arg)
{
	if (workers == NULL || my_slot < 0)
		return;
	SpinLockAcquire(&workers->mutex);
	if (workers->slots[my_slot].pid == MyProcPid)
	{
		workers->slots[my_slot].pid = 0;
		workers->slots[my_slot].latch = NULL;
	}
	SpinLockRelease(&workers->mutex);
}

void
feed_fanout_worker_main(Datum main_arg)
{
	int			slot = DatumGetInt32(main_arg);
	char		appname[NAMEDATALEN];

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, handle_sigterm);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(feed_database, NULL, 0);

	snprintf(appname, sizeof(appname), "feed fanout worker %d", slot);
	SetConfigOption("application_name", appname, PGC_USERSET, PGC_S_SESSION);
	pgstat_report_appname(appname);

	my_slot = slot;
	SpinLockAcquire(&workers->mutex);
	workers->slots[slot].pid = MyProcPid;
	workers->slots[slot].latch = MyLatch;
	workers->slots[slot].state = FEED_WORKER_STARTING;
	workers->slots[slot].state_since = GetCurrentTimestamp();
	workers->slots[slot].rows = 0;
	workers->slots[slot].batches = 0;
	SpinLockRelease(&workers->mutex);
	before_shmem_exit(release_slot, (Datum) 0);

	while (!got_sigterm)
	{
		WorkUnit	unit = {-1, FEED_WORKER_IDLE, false};

		CHECK_FOR_INTERRUPTS();
		process_reload();
		if (slot >= feed_fanout_workers)
			break;				/* the pool shrank */

		/* orphaned: the launcher that started us is gone */
		if (workers->launcher_pid != MyBgworkerEntry->bgw_notify_pid)
			break;

		ResetLatch(MyLatch);
		if (in_transaction("feed: fanout", do_one_unit, &unit) && unit.rows >= 0)
		{
			set_state(unit.kind);
			account_rows((uint64) unit.rows);
			throttle((uint64) unit.rows);
			if (!unit.drained)
				continue;		/* more may be waiting: no sleep */

			/*
			 * Under a stream of likes every fold would find a handful of
			 * deltas, and folding them one by one costs more than they do
			 * (each fold is planned afresh, then commits): let a batch build
			 * up.  A wake (new fanout work, wait_idle) ends the pause.
			 */
			set_state(FEED_WORKER_IDLE);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 WORKER_FOLD_PAUSE_MS, PG_WAIT_EXTENSION);
			continue;
		}

		set_state(FEED_WORKER_IDLE);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 SAFETY_POLL_MS, PG_WAIT_EXTENSION);
	}
	proc_exit(0);
}

/* ---------------------------------------------------------------------
 * Launcher
 * ---------------------------------------------------------------------
 */
static BackgroundWorkerHandle *handles[FEED_MAX_WORKERS];
static TimestampTz last_start[FEED_MAX_WORKERS];
static bool warned_no_slots = false;

static void
start_worker(int slot)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "feed");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "feed_fanout_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "feed fanout worker %d", slot);
	snprintf(worker.bgw_type, BGW_MAXLEN, "feed fanout worker");
	worker.bgw_main_arg = Int32GetDatum(slot);
	worker.bgw_notify_pid = MyProcPid;

	last_start[slot] = GetCurrentTimestamp();
	if (!RegisterDynamicBackgroundWorker(&worker, &handles[slot]))
	{
		handles[slot] = NULL;
		if (!warned_no_slots)
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("feed: out of background worker slots for fanout worker %d", slot),
					 errhint("Increase max_worker_processes (feed needs feed.fanout_workers + 1).")));
		warned_no_slots = true;
	}
	else
		warned_no_slots = false;
}

/* Keep slots 0..feed_fanout_workers-1 running; stop the others. */
static void
manage_pool(void)
{
	TimestampTz now = GetCurrentTimestamp();

	for (int slot = 0; slot < FEED_MAX_WORKERS; slot++)
	{
		pid_t		pid;
		bool		alive = false;

		if (handles[slot] != NULL)
		{
			BgwHandleStatus st = GetBackgroundWorkerPid(handles[slot], &pid);

			alive = (st == BGWH_STARTED || st == BGWH_NOT_YET_STARTED);
			if (!alive)
			{
				pfree(handles[slot]);
				handles[slot] = NULL;
			}
		}
		if (slot < feed_fanout_workers)
		{
			/* restart at most once a second, so a crash loop cannot spin */
			if (!alive && TimestampDifferenceExceeds(last_start[slot], now, 1000))
				start_worker(slot);
		}
		else if (alive)
			TerminateBackgroundWorker(handles[slot]);
	}
}

static void
launcher_exit(int code, Datum arg)
{
	if (workers == NULL)
		return;
	SpinLockAcquire(&workers->mutex);
	if (workers->launcher_pid == MyProcPid)
	{
		workers->launcher_pid = 0;
		workers->launcher_latch = NULL;
	}
	SpinLockRelease(&workers->mutex);
}

void
feed_launcher_main(Datum main_arg)
{
	TimestampTz last_tick = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, handle_sigterm);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(feed_database, NULL, 0);
	pgstat_report_appname("feed launcher");

	SpinLockAcquire(&workers->mutex);
	workers->launcher_pid = MyProcPid;
	workers->launcher_latch = MyLatch;
	workers->database_id = MyDatabaseId;
	SpinLockRelease(&workers->mutex);
	before_shmem_exit(launcher_exit, (Datum) 0);

	ereport(LOG,
			(errmsg("feed launcher started in database \"%s\" with %d fanout workers",
					feed_database, feed_fanout_workers)));

	while (!got_sigterm)
	{
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		process_reload();
		manage_pool();

		now = GetCurrentTimestamp();
		if (TimestampDifferenceExceeds(last_tick, now, LAUNCHER_TICK_MS))
		{
			last_tick = now;
			(void) in_transaction("feed: maintenance", feed_maintenance_tick, NULL);
			if (feed_audit_pending())
				(void) in_transaction("feed: audit flush", feed_audit_flush_chore, NULL);
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LAUNCHER_TICK_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	/* dynamic workers have BGW_NEVER_RESTART: stop them with us */
	for (int slot = 0; slot < FEED_MAX_WORKERS; slot++)
		if (handles[slot] != NULL)
			TerminateBackgroundWorker(handles[slot]);

	/*
	 * Exit code 1 so that the postmaster restarts us (bgw_restart_time)
	 * after a pg_terminate_backend; at shutdown nothing is restarted.
	 */
	proc_exit(1);
}

/* ---------------------------------------------------------------------
 * feed.worker_status(): one row per running worker
 * ---------------------------------------------------------------------
 */
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(feed_worker_status);
PG_FUNCTION_INFO_V1(feed_fanout_recent_rows);

/*
 * feed.fanout_recent_rows(seconds integer) -> bigint
 */
Datum
feed_fanout_recent_rows(PG_FUNCTION_ARGS)
{
	int32		seconds = PG_GETARG_INT32(0);

	feed_check_preloaded();
	if (seconds < 1 || seconds > RATE_RING_SECONDS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seconds must be between 1 and %d, got %d", RATE_RING_SECONDS, seconds)));
	PG_RETURN_INT64((int64) feed_workers_recent_rows(seconds));
}

static const char *
state_name(FeedWorkerState s)
{
	switch (s)
	{
		case FEED_WORKER_STARTING:
			return "starting";
		case FEED_WORKER_IDLE:
			return "idle";
		case FEED_WORKER_FANOUT:
			return "fanout";
		case FEED_WORKER_BACKFILL:
			return "backfill";
		case FEED_WORKER_COUNTERS:
			return "counters";
		case FEED_WORKER_THROTTLED:
			return "throttled";
	}
	return "unknown";
}

Datum
feed_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FeedWorkerSlot copy[FEED_MAX_WORKERS];
	pid_t		launcher_pid;

	feed_check_preloaded();
	SetSingleFuncCall(fcinfo, 0);

	/* copy out under the spinlock, format afterwards */
	SpinLockAcquire(&workers->mutex);
	memcpy(copy, workers->slots, sizeof(copy));
	launcher_pid = workers->launcher_pid;
	SpinLockRelease(&workers->mutex);

	if (launcher_pid != 0)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, true, true, true};

		values[0] = CStringGetTextDatum("launcher");
		values[1] = Int32GetDatum(launcher_pid);
		values[2] = CStringGetTextDatum("running");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	for (int i = 0; i < FEED_MAX_WORKERS; i++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		char		name[32];

		if (copy[i].pid == 0)
			continue;
		snprintf(name, sizeof(name), "fanout %d", i);
		values[0] = CStringGetTextDatum(name);
		values[1] = Int32GetDatum(copy[i].pid);
		values[2] = CStringGetTextDatum(state_name(copy[i].state));
		values[3] = TimestampTzGetDatum(copy[i].state_since);
		values[4] = Int64GetDatum((int64) copy[i].rows);
		values[5] = Int64GetDatum((int64) copy[i].batches);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
