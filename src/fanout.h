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
 * SQL condition: post P (a feed.posts alias) is not in its author's pulled
 * range.  Pulled posts are read at read time and never copied into inboxes
 * (by backfills and rebuilds either).
 */
#define FEED_SQL_NOT_PULLED(P) \
	"NOT EXISTS (SELECT 1 FROM feed.pull_authors pa WHERE pa.author_id = " P ".author_id " \
	"            AND " P ".post_id BETWEEN pa.first_post_id AND pa.last_post_id)"

/*
 * Applies one batch of the oldest fanout job; returns the inbox rows written
 * or -1 when there was no job.  skip_locked: take a job nobody else holds
 * (workers) instead of waiting for it (wait_idle).  Must be connected to SPI.
 */
extern int64 feed_fanout_run_batch(int batch_size, int inbox_max, bool skip_locked);

/* Applies up to `batch` queued inbox backfills; returns how many. */
extern uint64 feed_fanout_run_backfills(int batch, int inbox_max, bool skip_locked);

#endif							/* FEED_FANOUT_H */
