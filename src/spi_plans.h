/*-------------------------------------------------------------------------
 *
 * spi_plans.h
 *	  Saved, parameterised SPI plans: the only way feed's C code runs SQL.
 *
 * Each module declares its statements as static FeedPlan values next to the
 * code that uses them; the plan is prepared on first use in a backend and
 * kept for the backend's life.  Arguments are always passed as parameters,
 * never spliced into the SQL text.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_SPI_PLANS_H
#define FEED_SPI_PLANS_H

#include "executor/spi.h"

#define FEED_PLAN_MAX_ARGS 8

typedef struct FeedPlan
{
	const char *name;			/* for error messages */
	const char *sql;
	int			nargs;
	Oid			argtypes[FEED_PLAN_MAX_ARGS];
	SPIPlanPtr	plan;			/* NULL until first use */
	int			cursor_options; /* e.g. CURSOR_OPT_CUSTOM_PLAN; 0: default */
} FeedPlan;

/*
 * Runs the plan (preparing it first if needed) and returns SPI_processed.
 * nulls follows SPI's convention (' ' not null, 'n' null) and may be NULL.
 * read_only runs under the caller's snapshot, so that several reads of one
 * call see one consistent state.
 */
extern uint64 feed_spi_exec(FeedPlan *plan, Datum *values, const char *nulls,
							bool read_only, long tcount);

/* Read-only run under an explicit snapshot (e.g. GetLatestSnapshot()). */
extern uint64 feed_spi_exec_snapshot(FeedPlan *plan, Datum *values, const char *nulls,
									 Snapshot snapshot, long tcount);

/* Column accessors for row `row` of SPI_tuptable (columns count from 1). */
extern int64 feed_spi_int64(uint64 row, int col, bool *isnull);
extern bool feed_spi_bool(uint64 row, int col, bool *isnull);
extern Datum feed_spi_datum(uint64 row, int col, bool *isnull);

extern void feed_spi_connect(void);
extern void feed_spi_finish(void);

#endif							/* FEED_SPI_PLANS_H */
