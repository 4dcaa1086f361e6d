/*-------------------------------------------------------------------------
 *
 * workers.h
 *	  Background workers: a launcher and its fanout workers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_WORKERS_H
#define FEED_WORKERS_H

#include "postgres.h"

#define FEED_MAX_WORKERS 32

extern int	feed_fanout_workers;
extern int	feed_fanout_rate_limit;

extern void feed_workers_register(void);
extern void feed_workers_shmem_request(void);
extern void feed_workers_shmem_startup(void);

/* Are fanout workers running and connected to the current database? */
extern bool feed_workers_serving(void);

/* Wake the workers when the current transaction commits (not on abort). */
extern void feed_workers_wake_at_commit(void);

/* Wake every worker now. */
extern void feed_workers_wake_all(void);

/* Rows written by fanout in the last `seconds` seconds (at most 60). */
extern uint64 feed_workers_recent_rows(int seconds);

#endif							/* FEED_WORKERS_H */
