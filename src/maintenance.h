/*-------------------------------------------------------------------------
 *
 * maintenance.h
 *	  Reader activity, inbox rebuilds and the fanout degradation policy,
 *	  applied periodically by the launcher.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_MAINTENANCE_H
#define FEED_MAINTENANCE_H

extern void feed_maintenance_shmem_request(void);
extern void feed_maintenance_shmem_startup(void);

/*
 * The read path notes that user_id read their feed, and whether their inbox
 * needs a rebuild (it had no sentinel).  Shared memory only: no table write
 * on the read path.  Never fails; when the table is full the note is lost
 * (the user may then be taken for cold, which costs speed, not exactness).
 */
extern void feed_activity_note(int64 user_id, bool needs_rebuild);

/* One maintenance round; runs in a transaction with SPI connected. */
extern void feed_maintenance_tick(void *arg);

#endif							/* FEED_MAINTENANCE_H */
