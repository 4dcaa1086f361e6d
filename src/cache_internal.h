/*-------------------------------------------------------------------------
 *
 * cache_internal.h
 *	  Shared-memory layout of the feed cache, shared by cache.c (arenas and
 *	  the read side) and cache_sync.c (changes applied at commit).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_CACHE_INTERNAL_H
#define FEED_CACHE_INTERNAL_H

#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#include "cache.h"

#define CACHE_FEED_PARTS	64
#define CACHE_POST_PARTS	64
#define PULL_BUCKETS		1024
#define PENDING_MAX			4096
#define BLOOM_BITS			4096
/* admission doorkeeper (cache.c): 32 kB, cleared after DOOR_BITS / 8 ids */
#define DOOR_BITS			(1 << 18)
/*
 * admission frequency sketch (cache.c): 64-byte blocks of byte counters,
 * halved every FREQ_AGE_AFTER reads.  A long period tells feeds at the
 * cache's edge apart (a handful of reads each per period): simulating
 * bench/cache.sh's Zipf population, the hit rate was 85.0% when halving every
 * 65536 reads, 85.2 to 85.5% every 262144, against 85.7% for an admission
 * that knew each feed's true rank; 16384 gave 83.6%.
 */
#define FREQ_BLOCKS			1024
#define FREQ_AGE_AFTER		(FREQ_BLOCKS * 64 * 4)

typedef struct SlotHead
{
	int64		key;
	int32		next;			/* hash chain or free list; -1 ends it */
	bool		used;
	pg_atomic_uint32 referenced;	/* CLOCK count, 0 .. CLOCK_MAX */
} SlotHead;

typedef struct FeedSlot
{
	SlotHead	head;			/* key: user id */
	bool		valid;			/* entries may be served */
	bool		complete;		/* the window holds the whole feed */
	int			builder;		/* pid of the backend building it, 0: none */
	TimestampTz build_started;
	TimestampTz built_at;
	uint64		seq0;			/* change sequence before the build's snapshot */
	uint64		last_change;	/* stamp of the last change applied to it */
	int32		n;
	uint64		pullmap[PULL_BUCKETS / 64];
	uint64		followees[BLOOM_BITS / 64];	/* Bloom filter of followed authors */
	FeedCacheEntry e[FEED_CACHE_WINDOW];	/* newest first */
} FeedSlot;

typedef struct PostSlot
{
	SlotHead	head;			/* key: post id */
	int64		author_id;
	int64		repost_of;
	TimestampTz created_at;
	int64		like_count;
	uint64		seq0;
	bool		deleted;
	bool		body_null;
	uint16		body_len;
	char		body[FEED_CACHE_BODY_MAX];
} PostSlot;

typedef enum CacheStat
{
	ST_HITS,
	ST_MISSES,
	ST_STALE,
	ST_WAITS,
	ST_WAIT_TIMEOUTS,
	ST_REBUILDS,
	ST_REJECTED,
	ST_FEED_EVICTIONS,
	ST_DISCARDS,
	ST_UNCACHED,
	ST_POST_HITS,
	ST_POST_MISSES,
	ST_POST_EVICTIONS,
	ST_COUNT
} CacheStat;

typedef struct CachePart
{
	ConditionVariable cv;		/* a build in this partition ended */
	uint32		pending;		/* committing writers touching it (lock) */
	uint64		last_change;	/* newest stamp of those writers (lock) */
	int32		free_head;
	int32		hand;
	int32		nslots;
	int32		nbuckets;
	int32		used;
	Size		slot_size;
	Size		slots_off;		/* from the start of CacheShared */
	Size		buckets_off;
	pg_atomic_uint32 changes;	/* odd while an exclusive holder writes */
} CachePart;

/*
 * The counters behind feed.cache_stats, one set per PGPROC on a cache line
 * of its own: the owner alone writes it, with plain stores.  Why: shared
 * counters bumped on every hit kept a line bouncing between cores, and with
 * them the partition headers the read path needs.  The last set is for a
 * process without a PGPROC (atomic adds).
 */
typedef union CacheProcStats
{
	pg_atomic_uint64 stats[ST_COUNT];
	char		pad[PG_CACHE_LINE_SIZE];
} CacheProcStats;

/*
 * Posts committed but not yet delivered to every follower.  A window built
 * before such a post committed lacks it until fanout appends it; serving
 * checks the (short) list so that a follower sees the post at once.
 * Readers copy the list without a lock (a sequence counter, even when
 * stable), so the read path never writes shared memory for it.
 */
typedef struct PendingPost
{
	int64		post_id;
	int64		orig_id;
	int64		author_id;
	uint64		seq;			/* commit stamp; PG_UINT64_MAX while committing */
} PendingPost;

typedef struct PendingTable
{
	slock_t		mutex;			/* writers */
	pg_atomic_uint64 version;	/* odd while a writer changes the list */
	int			n;
	uint64		dropped;		/* posts not tracked: the table was full */
	PendingPost e[PENDING_MAX];
} PendingTable;

typedef struct CacheShared
{
	pg_atomic_uint64 seq;		/* the change sequence */
	pg_atomic_uint32 inflight;	/* transactions between PRE_COMMIT and end */
	pg_atomic_uint32 feeds_pending;
	pg_atomic_uint64 feeds_last;
	pg_atomic_uint32 posts_pending;
	pg_atomic_uint64 posts_last;
	pg_atomic_uint32 pull_pending[PULL_BUCKETS];
	pg_atomic_uint64 pull_last[PULL_BUCKETS];
	PendingTable pending;
	pg_atomic_uint32 door_count;	/* ids added since the last clear */
	pg_atomic_uint32 door[DOOR_BITS / 32];
	pg_atomic_uint32 freq_count;	/* reads counted since the last halving */
	uint8		freq[FREQ_BLOCKS][64];	/* see freq_touch: racy on purpose */
	int32		nprocstats;		/* PGPROCs counted, plus one shared set */
	Size		procstats_off;	/* from the start of CacheShared */
	CachePart	parts[CACHE_FEED_PARTS + CACHE_POST_PARTS];
} CacheShared;

extern CacheShared *feed_cache_shm;
extern LWLockPadded *feed_cache_locks;

/* a read hint: start loading the cache line at p (never faults) */
#if defined(__GNUC__) || defined(__clang__)
#define cache_prefetch(p) __builtin_prefetch(p)
#else
#define cache_prefetch(p) ((void) (p))
#endif

/*
 * Generalised CLOCK: a hit raises the slot's count up to CLOCK_MAX, the hand
 * lowers it and evicts at 0, so a slot read often outlives one read once
 * (closer to LFU, which is what a skewed population wants).  The update is
 * a plain read and write under a shared lock: two hits at once may count as
 * one, which a heuristic can afford, and a slot already at the maximum is
 * only read, so hot slots' cache lines stay shared between backends.
 */
#define CLOCK_MAX 3

static inline void
slot_touch(pg_atomic_uint32 *referenced)
{
	uint32		v = pg_atomic_read_u32(referenced);

	if (v < CLOCK_MAX)
		pg_atomic_write_u32(referenced, v + 1);
}

static inline uint64
mix64(uint64 x)
{
	x ^= x >> 33;
	x *= UINT64CONST(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64CONST(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

static inline int
part_index(int64 key, bool feeds, uint64 *hash)
{
	uint64		h = mix64((uint64) key);

	*hash = h >> 32;
	return feeds ? (int) (h % CACHE_FEED_PARTS)
		: CACHE_FEED_PARTS + (int) (h % CACHE_POST_PARTS);
}

static inline LWLock *
part_lock(int idx)
{
	return &feed_cache_locks[idx].lock;
}

/*
 * Writers take a partition's lock exclusively through these, which also make
 * its change counter odd for the duration: post rows are read without the
 * lock (feed_cache_posts_get), checking the counter before and after the
 * copy, so a page of 50 rows takes no lock in the common case.  Nothing
 * between the two may raise an error: a counter left odd by an aborted
 * holder would not be unsafe, but every later read would take the lock.
 */
static inline void
part_write_lock(int idx)
{
	LWLockAcquire(part_lock(idx), LW_EXCLUSIVE);
	pg_atomic_fetch_add_u32(&feed_cache_shm->parts[idx].changes, 1);
}

static inline bool
part_write_trylock(int idx)
{
	if (!LWLockConditionalAcquire(part_lock(idx), LW_EXCLUSIVE))
		return false;
	pg_atomic_fetch_add_u32(&feed_cache_shm->parts[idx].changes, 1);
	return true;
}

static inline void
part_write_unlock(int idx)
{
	pg_atomic_fetch_add_u32(&feed_cache_shm->parts[idx].changes, 1);
	LWLockRelease(part_lock(idx));
}

static inline SlotHead *
slot_at(CachePart *p, int32 idx)
{
	return (SlotHead *) ((char *) feed_cache_shm + p->slots_off + (Size) idx * p->slot_size);
}

static inline int32 *
part_buckets(CachePart *p)
{
	return (int32 *) ((char *) feed_cache_shm + p->buckets_off);
}

static inline int32
slot_index(CachePart *p, SlotHead *s)
{
	return (int32) (((char *) s - ((char *) feed_cache_shm + p->slots_off)) / p->slot_size);
}

/* Advances an atomic stamp; stamps of concurrent commits may arrive out of order. */
static inline void
advance_u64(pg_atomic_uint64 *a, uint64 v)
{
	uint64		cur = pg_atomic_read_u64(a);

	while (cur < v && !pg_atomic_compare_exchange_u64(a, &cur, v))
		;
}

/* pending must be read before last: a writer stamps before it lowers pending */
static inline bool
stamp_ok(pg_atomic_uint32 *pending, pg_atomic_uint64 *last, uint64 seq0)
{
	if (pg_atomic_read_u32(pending) != 0)
		return false;
	pg_read_barrier();
	return pg_atomic_read_u64(last) <= seq0;
}

static inline int
pull_bucket(int64 author)
{
	return (int) (mix64((uint64) author ^ UINT64CONST(0x5bd1e995)) % PULL_BUCKETS);
}

/* Writers of the pending list hold the mutex; readers use the counter. */
static inline void
pending_write_begin(PendingTable *t)
{
	SpinLockAcquire(&t->mutex);
	pg_atomic_fetch_add_u64(&t->version, 1);
}

static inline void
pending_write_end(PendingTable *t)
{
	pg_atomic_fetch_add_u64(&t->version, 1);
	SpinLockRelease(&t->mutex);
}

/* cache.c */
extern SlotHead *feed_cache_part_find(CachePart *p, uint64 hash, int64 key);
extern void feed_cache_part_free(CachePart *p, SlotHead *s);
extern void feed_cache_abort_build(void);

/* cache_sync.c */
extern void feed_cache_sync_register(void);
extern bool feed_cache_sync_pending(void);

#endif							/* FEED_CACHE_INTERNAL_H */
