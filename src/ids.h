/*-------------------------------------------------------------------------
 *
 * ids.h
 *	  Time-ordered, region-aware 64-bit ids.
 *
 * Layout: 41 bits of milliseconds since FEED_ID_EPOCH | 10 bits region |
 * 12 bits sequence.  Ordering by id is ordering by creation time.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_IDS_H
#define FEED_IDS_H

#define FEED_ID_REGION_BITS		10
#define FEED_ID_SEQUENCE_BITS	12
#define FEED_ID_MAX_REGION		((1 << FEED_ID_REGION_BITS) - 1)

extern void feed_ids_shmem_request(void);
extern void feed_ids_shmem_startup(void);
extern bool feed_ids_attached(void);

/* Next id; the caller must be connected to SPI (first use reads a floor). */
extern int64 feed_ids_next(void);

#endif							/* FEED_IDS_H */
