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
 * Applies one batch of the oldest fanout job.  Returns false when there was
 * no job.  Must be connected to SPI.
 */
extern bool feed_fanout_run_batch(int batch_size, int inbox_max);

/* Applies up to `batch` queued inbox backfills; returns how many. */
extern uint64 feed_fanout_run_backfills(int batch, int inbox_max);

#endif							/* FEED_FANOUT_H */
