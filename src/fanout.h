/*-------------------------------------------------------------------------
 *
 * fanout.h
 *	  Fanout of posts into follower inboxes, and inbox backfills.
 *
 * The work items are durable rows (feed.fanout_jobs, feed.inbox_backfill)
 * written by the transactions that create them.  One call applies one
 * batch; callers (feed.wait_idle today, background workers later) decide
 * how batches map onto transactions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_FANOUT_H
#define FEED_FANOUT_H

/*
 * Applies one batch of the oldest fanout job; returns the inbox rows written
 * or -1 when there was no job.  skip_locked: take a job nobody else holds
 * (workers) instead of waiting for it (wait_idle).  Must be connected to SPI.
 */
extern int64 feed_fanout_run_batch(int batch_size, int inbox_max, bool skip_locked);

/* Applies up to `batch` queued inbox backfills; returns how many. */
extern uint64 feed_fanout_run_backfills(int batch, int inbox_max, bool skip_locked);

#endif							/* FEED_FANOUT_H */
