/*-------------------------------------------------------------------------
 *
 * feed.h
 *	  Settings and checks shared by every module of the feed extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_H
#define FEED_H

#include "postgres.h"
#include "fmgr.h"

/* GUCs, see docs/configuration.md */
extern int	feed_region_id;
extern char *feed_database;
extern int	feed_max_body_bytes;
extern int	feed_max_page;
extern int	feed_inbox_max;
extern int	feed_fanout_batch_size;
extern int	feed_debug_clock_offset_ms;
extern int	feed_celebrity_threshold;
extern int	feed_fanout_active_days;
extern int	feed_fanout_backlog_limit;
extern int	feed_fanout_pull_minutes;
extern int	feed_activity_slots;
extern int	feed_tombstone_retention;
extern int	feed_inbox_sweep_users;

/*
 * Every SQL-callable function starts here: without shared_preload_libraries
 * there is no shared memory for ids, so nothing may run.
 */
extern void feed_check_preloaded(void);

#endif							/* FEED_H */
