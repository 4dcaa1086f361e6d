/*-------------------------------------------------------------------------
 *
 * spi_plans.c
 *	  Saved, parameterised SPI plans.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "storage/proc.h"
#include "utils/guc.h"

#include "spi_plans.h"

/*
 * The search_path of every statement feed runs, pinned for each SPI
 * connection and restored when it ends (an abort unwinds it too).  The C
 * functions are SECURITY DEFINER without a function-level SET search_path:
 * with one, every call, a cache hit that runs no SQL included, had fmgr
 * parse the setting and restore every GUC at exit, 5% of a cached read.
 * Nothing else in the C code resolves names through the path (the probes
 * look tables up in schema feed by name).
 */
#define FEED_SEARCH_PATH "pg_catalog, pg_temp"
#define PATH_LEVELS_MAX 64

#if PG_VERSION_NUM >= 170000
#define MY_LXID (MyProc->vxid.lxid)
#else
#define MY_LXID (MyProc->lxid)
#endif

/* the GUC nest level of each open connection, innermost last */
typedef struct PathLevel
{
	LocalTransactionId lxid;
	SubTransactionId subxid;
	int			level;
} PathLevel;

static PathLevel path_levels[PATH_LEVELS_MAX];
static int	n_path_levels = 0;

/*
 * Forgets the levels of connections that an abort ended: those of another
 * transaction or of a subtransaction that is over, and (when a new level is
 * being pushed) those at or above it, which the abort's unwinding of the
 * GUC nesting left behind.
 */
static void
forget_ended(int new_level)
{
	while (n_path_levels > 0)
	{
		PathLevel  *top = &path_levels[n_path_levels - 1];

		if (top->lxid == MY_LXID && top->subxid <= GetCurrentSubTransactionId() &&
			(new_level == 0 || top->level < new_level))
			break;
		n_path_levels--;
	}
}

void
feed_spi_connect(void)
{
	int			rc = SPI_connect();
	int			level;

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "feed: SPI_connect failed: %s", SPI_result_code_string(rc));
	level = NewGUCNestLevel();
	forget_ended(level);
	if (n_path_levels == PATH_LEVELS_MAX)
		elog(ERROR, "feed: SPI connections nested more than %d deep", PATH_LEVELS_MAX);
	path_levels[n_path_levels].lxid = MY_LXID;
	path_levels[n_path_levels].subxid = GetCurrentSubTransactionId();
	path_levels[n_path_levels].level = level;
	n_path_levels++;
	(void) set_config_option("search_path", FEED_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

void
feed_spi_finish(void)
{
	int			rc = SPI_finish();

	if (rc != SPI_OK_FINISH)
		elog(ERROR, "feed: SPI_finish failed: %s", SPI_result_code_string(rc));
	forget_ended(0);
	if (n_path_levels > 0)
		AtEOXact_GUC(true, path_levels[--n_path_levels].level);
}

static void
prepare(FeedPlan *plan)
{
	SPIPlanPtr	p;

	p = SPI_prepare_cursor(plan->sql, plan->nargs, plan->argtypes, plan->cursor_options);
	if (p == NULL)
		elog(ERROR, "feed: could not prepare plan \"%s\": %s",
			 plan->name, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(p) != 0)
		elog(ERROR, "feed: could not keep plan \"%s\"", plan->name);
	plan->plan = p;
}

uint64
feed_spi_exec(FeedPlan *plan, Datum *values, const char *nulls,
			  bool read_only, long tcount)
{
	int			rc;

	if (plan->plan == NULL)
		prepare(plan);

	rc = SPI_execute_plan(plan->plan, values, nulls, read_only, tcount);
	switch (rc)
	{
		case SPI_OK_SELECT:
		case SPI_OK_INSERT:
		case SPI_OK_UPDATE:
		case SPI_OK_DELETE:
		case SPI_OK_INSERT_RETURNING:
		case SPI_OK_UPDATE_RETURNING:
		case SPI_OK_DELETE_RETURNING:
		case SPI_OK_UTILITY:
			break;
		default:
			elog(ERROR, "feed: plan \"%s\" failed: %s",
				 plan->name, SPI_result_code_string(rc));
	}
	return SPI_processed;
}

/*
 * Like feed_spi_exec (read-only), but under the given snapshot: for checks
 * that must see what committed after the transaction's snapshot was taken.
 */
uint64
feed_spi_exec_snapshot(FeedPlan *plan, Datum *values, const char *nulls,
					   Snapshot snapshot, long tcount)
{
	int			rc;

	if (plan->plan == NULL)
		prepare(plan);

	rc = SPI_execute_snapshot(plan->plan, values, nulls, snapshot,
							  InvalidSnapshot, true, false, tcount);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "feed: plan \"%s\" failed: %s",
			 plan->name, SPI_result_code_string(rc));
	return SPI_processed;
}

Datum
feed_spi_datum(uint64 row, int col, bool *isnull)
{
	Assert(SPI_tuptable != NULL && row < SPI_processed);
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}

int64
feed_spi_int64(uint64 row, int col, bool *isnull)
{
	Datum		d = feed_spi_datum(row, col, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

bool
feed_spi_bool(uint64 row, int col, bool *isnull)
{
	Datum		d = feed_spi_datum(row, col, isnull);

	return *isnull ? false : DatumGetBool(d);
}
