/*-------------------------------------------------------------------------
 *
 * probe.h
 *	  Primary-key probes of feed's tables without the executor.
 *
 * A saved SPI plan still pays executor start-up and shutdown on every run:
 * for the one-row lookups of the hottest writes (like, unlike) that was
 * most of their CPU time (perf: ExecInitNode alone about 30% of a like).
 * These probes open the table and its primary key, fetch at most one
 * tuple under the caller's snapshot and read the columns they need.  They
 * take the same AccessShareLock the executor would, held to the end of the
 * transaction.  Keys are bound as scan keys: no SQL text is involved.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_PROBE_H
#define FEED_PROBE_H

#include "utils/snapshot.h"

typedef struct FeedProbePost
{
	int64		author_id;
	int64		repost_of;		/* 0 for an original */
	bool		deleted;		/* deleted_at IS NOT NULL */
} FeedProbePost;

/*
 * A group of probes.  begin pushes a fresh snapshot as SPI would for a
 * statement (after a command counter increment, so the transaction's own
 * earlier writes are seen) and returns it: every probe of the group takes
 * it.  The tables probed stay open, each with one index scan, until
 * feed_probe_end closes them and pops the snapshot; an error in between
 * leaves them to the abort's cleanup.
 */
extern Snapshot feed_probe_begin(void);
extern void feed_probe_end(void);

/* feed.users by user_id; *is_private may be NULL */
extern bool feed_probe_user(Snapshot snap, int64 user_id, bool *is_private);

/* feed.posts by post_id */
extern bool feed_probe_post(Snapshot snap, int64 post_id, FeedProbePost *post);

/* feed.blocks: does blocker block blocked? */
extern bool feed_probe_block(Snapshot snap, int64 blocker, int64 blocked);

/* feed.follows: does follower follow followee, with state 'active'? */
extern bool feed_probe_follows_active(Snapshot snap, int64 follower, int64 followee);

#endif							/* FEED_PROBE_H */
