/*-------------------------------------------------------------------------
 *
 * counters.h
 *	  Follower, following, post and like counts without hot rows.
 *
 * Writers append deltas to feed.counter_deltas in their own statement; no
 * two writers ever update the same counter row, so a celebrity's follower
 * count does not serialise its followers.  A like row is its own delta
 * (feed.likes.folded is false until it is counted), so a like writes one
 * row; an unlike of a folded like appends a -1 delta.  Readers add the
 * pending deltas and unfolded likes to the folded value, so counts are
 * exact at any time, and folding moves both into feed.user_counters /
 * feed.post_counters.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_COUNTERS_H
#define FEED_COUNTERS_H

/* SQL expression: exact like count of the original post whose id is X */
#define FEED_SQL_LIKE_COUNT(X) \
	"(coalesce((SELECT pc.like_count FROM feed.post_counters pc WHERE pc.post_id = " X "), 0) + " \
	" (SELECT count(*) FROM feed.likes lk WHERE lk.post_id = " X " AND NOT lk.folded) + " \
	" coalesce((SELECT sum(cd.delta) FROM feed.counter_deltas cd " \
	"           WHERE cd.target = " X " AND cd.kind = 'l'), 0))::bigint"

/*
 * Folds pending deltas and unfolded likes, at most `limit` of each per
 * statement; returns how many were folded.  skip_locked: leave deltas another folder holds (workers) instead
 * of waiting for them (wait_idle).  *drained (may be NULL): both were short
 * of `limit`, i.e. nothing is left but what arrived meanwhile.  Must be
 * connected to SPI.
 */
extern uint64 feed_counters_fold(int limit, bool skip_locked, bool *drained);

#endif							/* FEED_COUNTERS_H */
