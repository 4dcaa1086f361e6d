/*-------------------------------------------------------------------------
 *
 * graph.h
 *	  Users, follows, follow requests, blocks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_GRAPH_H
#define FEED_GRAPH_H

/* Raises P0002 unless the user exists; returns is_private. */
extern bool feed_graph_require_user(int64 user_id, const char *argname);

#endif							/* FEED_GRAPH_H */
