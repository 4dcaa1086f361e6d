/*-------------------------------------------------------------------------
 *
 * spi_plans.c
 *	  Saved, parameterised SPI plans.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "spi_plans.h"

void
feed_spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "feed: SPI_connect failed: %s", SPI_result_code_string(rc));
}

void
feed_spi_finish(void)
{
	int			rc = SPI_finish();

	if (rc != SPI_OK_FINISH)
		elog(ERROR, "feed: SPI_finish failed: %s", SPI_result_code_string(rc));
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
