/*-------------------------------------------------------------------------
 *
 * graph.h
 *	  Users, follows, follow requests, blocks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_GRAPH_H
#define FEED_GRAPH_H

/* Raises 22004/P0002 unless the user exists; returns is_private. */
extern bool feed_graph_require_user(int64 user_id, const char *argname);

/*
 * Serialises follow/block changes of one pair of users (in either order)
 * until the end of the transaction, so that a follow and a block of the same
 * pair can never both commit.
 */
extern void feed_graph_lock_pair(int64 a, int64 b);

#endif							/* FEED_GRAPH_H */
