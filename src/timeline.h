/*-------------------------------------------------------------------------
 *
 * timeline.h
 *	  The read path, as other modules need it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_TIMELINE_H
#define FEED_TIMELINE_H

/*
 * Compares cached windows and post rows with what the tables say now, and
 * returns how many differ (entries still changing are skipped).  *sample
 * gets a JSON array of up to 10 of them ({"user_id": ...} for a window,
 * {"post_id": ...} for a post row).  Must not be connected to SPI; finds
 * nothing when the cache cannot be used (e.g. the transaction wrote).
 */
extern int64 feed_timeline_verify_cache(char **sample);

#endif							/* FEED_TIMELINE_H */
