/*-------------------------------------------------------------------------
 *
 * cache.c
 *	  Shared-memory feed cache: home-feed windows and hot post rows.
 *
 * Layout.  feed.cache_size is split in two arenas, feed windows and post
 * rows, each cut into partitions with their own LWLock, hash chains, free
 * list and CLOCK hand.  Nothing is global on the read path: a hit takes one
 * partition lock in shared mode for the window and one per post.  A full
 * partition evicts with a generalised CLOCK (a count per slot), and with
 * second_read admission a window is made only for a feed read before and
 * more often than the one it would evict (door_admit, freq_touch); a window
 * being built is never evicted.  Memory is fixed at startup and never grows.
 *
 * A window holds the newest FEED_CACHE_WINDOW entries of one user's home
 * feed (entry id and original id: 16 bytes each); post rows hold what a page
 * shows (author, body, time, like count) plus the deleted flag.  A page is
 * served from the cache when the window covers it and every post on it is
 * a live post row in the cache (timeline.c).
 *
 * Coherence.  Writers record changes during the transaction; nothing is
 * applied before commit:
 *
 *	- at PRE_COMMIT (still invisible to others) a negative change takes the
 *	  cached copy out of service (window marked invalid, post row dropped)
 *	  and raises a "pending" count on what it touches;
 *	- after COMMIT it applies positive changes (fanout appends, like counts),
 *	  stamps what it touched with a new value of a global change sequence,
 *	  and lowers the pending count; ABORT only lowers the counts.
 *
 * A fill (window build, post row read) notes the sequence before taking the
 * fresh snapshot it reads with, and installs its result only if nothing it
 * covers was stamped after that or is pending now.  So a cached copy never
 * misses a change committed before a reader's snapshot: either the change
 * was pending or stamped when the copy was installed (and the install was
 * refused), or the change's commit callback found the copy and fixed it.
 * Invariant I2 therefore holds for cached entries too, with no window
 * between a commit and its cache update.
 *
 * Changes whose readers cannot be listed cheaply use stamps checked when a
 * window is served: a privacy change stamps all windows (rare, and it may
 * change any feed through reposts); a post by a pulled (celebrity) author
 * stamps one of PULL_BUCKETS buckets, and a window remembers, as a bitmap,
 * the buckets of the pulled authors it depends on.  A deleted post is found
 * when a page is served: its post row says so, and the window is rebuilt.
 *
 * Single flight.  A missing window is built by one backend; others wait on
 * the partition's condition variable up to feed.cache_wait and then read the
 * tables without caching.  An expired window (feed.cache_ttl) stays in
 * service while one backend refreshes it.  A builder that fails releases
 * its claim in the abort callback; a claim whose backend is gone is taken
 * over (build_abandoned).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "cache_internal.h"
#include "feed.h"

PG_FUNCTION_INFO_V1(feed_cache_stats);
PG_FUNCTION_INFO_V1(feed_cache_reset);

#define BUILD_CHECK_USECS	(5 * USECS_PER_SEC)
#define BUILD_DEADLINE_USECS (600 * USECS_PER_SEC)

int			feed_cache_size_kb = 64 * 1024;
int			feed_cache_ttl_s = 3600;
int			feed_cache_wait_ms = 50;
bool		feed_cache_enabled = true;
bool		feed_cache_single_flight = true;
int			feed_cache_admission = FEED_CACHE_ADMIT_SECOND_READ;

static const struct config_enum_entry admission_options[] = {
	{"first_read", FEED_CACHE_ADMIT_FIRST_READ, false},
	{"second_read", FEED_CACHE_ADMIT_SECOND_READ, false},
	{NULL, 0, false}
};



CacheShared *feed_cache_shm = NULL;
LWLockPadded *feed_cache_locks = NULL;

/* the window this backend is building, if any */
static int64 building_user = 0;
static bool building = false;
static uint64 building_seq0 = 0;


/* this process's counters (see CacheProcStats), found on first use */
static CacheProcStats *my_stats = NULL;
static bool my_stats_shared = false;

static inline CacheProcStats *
proc_stats_at(int i)
{
	return (CacheProcStats *) ((char *) feed_cache_shm + feed_cache_shm->procstats_off) + i;
}

static void
stat_add_n(CacheStat st, uint64 n)
{
	if (unlikely(my_stats == NULL))
	{
		int			i = feed_cache_shm->nprocstats - 1;

		if (MyProc != NULL && MyProc->pgprocno >= 0 && MyProc->pgprocno < i)
			i = MyProc->pgprocno;
		my_stats = proc_stats_at(i);
		my_stats_shared = i == feed_cache_shm->nprocstats - 1;
	}
	if (my_stats_shared)
		pg_atomic_fetch_add_u64(&my_stats->stats[st], n);
	else
		pg_atomic_write_u64(&my_stats->stats[st],
							pg_atomic_read_u64(&my_stats->stats[st]) + n);
}

static inline void
stat_add(CacheStat st)
{
	stat_add_n(st, 1);
}

/* ---------------------------------------------------------------- */


SlotHead *
feed_cache_part_find(CachePart *p, uint64 hash, int64 key)
{
	int32		idx = part_buckets(p)[hash & (p->nbuckets - 1)];

	while (idx >= 0)
	{
		SlotHead   *s = slot_at(p, idx);

		if (s->key == key)
			return s;
		idx = s->next;
	}
	return NULL;
}

/* Puts slot idx (s), already out of its chain, on the free list. */
static inline void
slot_release(CachePart *p, SlotHead *s, int32 idx)
{
	s->used = false;
	s->key = 0;
	s->next = p->free_head;
	p->free_head = idx;
	p->used--;
}

/* Unlinks s from its chain and puts it on the free list; exclusive lock. */
void
feed_cache_part_free(CachePart *p, SlotHead *s)
{
	uint64		hash;
	int32	   *link;
	int32		idx = slot_index(p, s);

	(void) part_index(s->key, true, &hash);
	link = &part_buckets(p)[hash & (p->nbuckets - 1)];
	while (*link != idx)
		link = &slot_at(p, *link)->next;
	*link = s->next;
	slot_release(p, s, idx);
}

/*
 * Has the build of f been abandoned?  Builders release their claim when
 * they finish, fail or exit, so this only catches what cleanup could not:
 * a builder that is gone (checked after a while, as it costs a ProcArray
 * scan) or one that has taken absurdly long.
 */
static bool
build_abandoned(FeedSlot *f, TimestampTz now)
{
	if (f->builder == 0)
		return true;
	if (now - f->build_started < BUILD_CHECK_USECS)
		return false;
	return now - f->build_started > BUILD_DEADLINE_USECS ||
		BackendPidGetProc(f->builder) == NULL;
}

static bool
slot_evictable(CachePart *p, SlotHead *s, TimestampTz now)
{
	if (p->slot_size != sizeof(FeedSlot))
		return true;
	return build_abandoned((FeedSlot *) s, now);
}

/*
 * Frequency of feed reads (TinyLFU's sketch, small): four counters per feed
 * in one 64-byte block (one cache miss a read), the estimate is their
 * minimum, and every FREQ_AGE_AFTER reads all counters are halved so the
 * sketch follows what is hot now.  Counters are bytes written without
 * atomics: a read lost to a race only makes an estimate one lower.
 */
static inline uint8 *
freq_block(int64 key, int idx[4])
{
	uint64		h = mix64((uint64) key ^ UINT64CONST(0x2545f4914f6cdd1d));

	for (int r = 0; r < 4; r++)
		idx[r] = (int) ((h >> (16 + 6 * r)) & 63);
	return feed_cache_shm->freq[h % FREQ_BLOCKS];
}

/*
 * Reads are added to the shared count FREQ_COUNT_BATCH at a time: one atomic
 * add a read on a single counter made every core fight for its cache line.
 */
#define FREQ_COUNT_BATCH 64

static void
freq_touch(int64 key)
{
	static uint32 unflushed = 0;
	int			idx[4];
	volatile uint8 *b = freq_block(key, idx);

	for (int r = 0; r < 4; r++)
		if (b[idx[r]] < 255)
			b[idx[r]]++;
	if (++unflushed < FREQ_COUNT_BATCH)
		return;
	unflushed = 0;
	if (pg_atomic_add_fetch_u32(&feed_cache_shm->freq_count, FREQ_COUNT_BATCH) >= FREQ_AGE_AFTER)
	{
		pg_atomic_write_u32(&feed_cache_shm->freq_count, 0);
		for (int k = 0; k < FREQ_BLOCKS; k++)
			for (int i = 0; i < 64; i++)
				((volatile uint8 *) feed_cache_shm->freq[k])[i] >>= 1;
	}
}

static int
freq_estimate(int64 key)
{
	int			idx[4];
	volatile uint8 *b = freq_block(key, idx);
	int			est = 255;

	for (int r = 0; r < 4; r++)
		est = Min(est, (int) b[idx[r]]);
	return est;
}

/*
 * A slot for key, taken from the free list or by CLOCK eviction; NULL when
 * every slot is being built.  With admit_freq >= 0 (feed windows), the
 * CLOCK's victim is evicted only if key is read more often than it
 * (TinyLFU admission); otherwise NULL, and nothing is evicted: a feed read
 * now and then must not push out one read all the time.  Exclusive lock.
 */
static SlotHead *
part_alloc(CachePart *p, uint64 hash, int64 key, CacheStat evict_stat, int admit_freq)
{
	SlotHead   *s = NULL;
	int32	   *bucket;

	if (p->free_head >= 0)
	{
		s = slot_at(p, p->free_head);
		p->free_head = s->next;
	}
	else
	{
		TimestampTz now = GetCurrentTimestamp();

		for (int i = 0; i < (CLOCK_MAX + 1) * p->nslots + 1; i++)
		{
			SlotHead   *victim = slot_at(p, p->hand);
			uint32		count;

			p->hand = (p->hand + 1) % p->nslots;
			if (!slot_evictable(p, victim, now))
				continue;
			count = pg_atomic_read_u32(&victim->referenced);
			if (count != 0)
			{
				pg_atomic_write_u32(&victim->referenced, count - 1);
				continue;
			}
			if (admit_freq >= 0 && admit_freq <= freq_estimate(victim->key))
				return NULL;
			feed_cache_part_free(p, victim);
			stat_add(evict_stat);
			s = slot_at(p, p->free_head);
			p->free_head = s->next;
			break;
		}
		if (s == NULL)
			return NULL;
	}
	memset((char *) s + sizeof(SlotHead), 0, p->slot_size - sizeof(SlotHead));
	s->key = key;
	s->used = true;
	pg_atomic_write_u32(&s->referenced, 1);
	bucket = &part_buckets(p)[hash & (p->nbuckets - 1)];
	s->next = *bucket;
	*bucket = slot_index(p, s);
	p->used++;
	return s;
}


static inline void
bloom_bits(int64 author, int bits[3])
{
	uint64		h = mix64((uint64) author + UINT64CONST(0x9e3779b97f4a7c15));

	bits[0] = (int) (h & (BLOOM_BITS - 1));
	bits[1] = (int) ((h >> 21) & (BLOOM_BITS - 1));
	bits[2] = (int) ((h >> 42) & (BLOOM_BITS - 1));
}

static bool
bloom_test(const uint64 *bloom, int64 author)
{
	int			bits[3];

	bloom_bits(author, bits);
	for (int i = 0; i < 3; i++)
		if ((bloom[bits[i] / 64] & (UINT64CONST(1) << (bits[i] % 64))) == 0)
			return false;
	return true;
}

static void
bloom_add(uint64 *bloom, int64 author)
{
	int			bits[3];

	bloom_bits(author, bits);
	for (int i = 0; i < 3; i++)
		bloom[bits[i] / 64] |= UINT64CONST(1) << (bits[i] % 64);
}

/* ---- posts waiting for fanout ---- */

static PendingPost pending_copy[PENDING_MAX];

/* A consistent copy of the pending list, without taking a lock. */
static int
pending_snapshot(void)
{
	PendingTable *t = &feed_cache_shm->pending;

	for (;;)
	{
		uint64		v = pg_atomic_read_u64(&t->version);
		int			n;

		if ((v & 1) == 0)
		{
			pg_read_barrier();
			n = Min(t->n, PENDING_MAX);
			if (n > 0)
				memcpy(pending_copy, t->e, n * sizeof(PendingPost));
			pg_read_barrier();
			if (pg_atomic_read_u64(&t->version) == v)
				return n;
		}
		SPIN_DELAY();
	}
}


/*
 * Does the window lack a post that committed after it was built and that
 * fanout has not appended yet?  Such a window must not be served.
 */
static bool
window_lacks_pending(FeedSlot *f, int npending)
{
	for (int i = 0; i < npending; i++)
	{
		PendingPost *pp = &pending_copy[i];
		bool		present = false;

		if (pp->seq <= f->seq0 || !bloom_test(f->followees, pp->author_id))
			continue;
		if (f->n > 0 && !f->complete && pp->post_id < f->e[f->n - 1].entry_id)
			continue;			/* below the window */
		for (int k = 0; k < f->n && !present; k++)
			present = f->e[k].entry_id == pp->post_id ||
				(f->e[k].orig_id == pp->orig_id && f->e[k].entry_id < pp->post_id);
		if (!present)
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------- */

void
feed_cache_define_gucs(void)
{
	DefineCustomIntVariable("feed.cache_size",
							"Shared memory for the feed cache (0 turns the cache off).",
							"Half holds home-feed windows, half post rows.",
							&feed_cache_size_kb,
							64 * 1024, 0, INT_MAX / 2,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("feed.cache_ttl",
							"Age after which a cached feed is refreshed; it is still served meanwhile.",
							"Coherence does not depend on it: committed changes reach the cache at commit.",
							&feed_cache_ttl_s,
							3600, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("feed.cache_wait",
							"How long a reader waits for another backend's rebuild of the same feed.",
							"After that it reads the tables without caching.",
							&feed_cache_wait_ms,
							50, 0, 60000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("feed.cache",
							 "Serve feed.home from the shared-memory cache.",
							 "Off: every read goes to the tables (for comparisons and diagnosis).",
							 &feed_cache_enabled,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomEnumVariable("feed.cache_admission",
							 "When a feed not in the cache gets a window: on its first read or its second.",
							 "second_read keeps feeds read once in a while from evicting feeds read often.",
							 &feed_cache_admission,
							 FEED_CACHE_ADMIT_SECOND_READ, admission_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("feed.cache_single_flight",
							 "One backend rebuilds a missing feed while the others wait.",
							 "Off only to measure a stampede: every miss then rebuilds.",
							 &feed_cache_single_flight,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

static Size
arena_slots(Size bytes, Size slot_size, int nparts)
{
	Size		per_part = bytes / nparts;
	Size		n = per_part / (slot_size + 2 * sizeof(int32));

	return Max(n, 1);
}

static int32
pow2_at_least(Size n)
{
	int32		b = 1;

	while ((Size) b < n)
		b <<= 1;
	return b;
}

/*
 * Offsets below are from the start of CacheShared, which is on a cache line
 * (ShmemAlloc hands out every chunk on one).
 *
 * Slots start on a cache line, so that a post row's
 * header and a body of average length are 3 lines, not 4 (see
 * POST_PREFETCH_BYTES).
 */
static inline Size
slots_start(Size buckets_off, int32 nbuckets)
{
	return TYPEALIGN(PG_CACHE_LINE_SIZE, buckets_off + nbuckets * sizeof(int32));
}

/* PGPROCs whose counters get a set of their own (see CacheProcStats) */
static int
proc_stats_count(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS + max_prepared_xacts;
}

static Size
cache_layout(CacheShared *init)
{
	int			nstats = proc_stats_count() + 1;
	Size		stats_off = TYPEALIGN(PG_CACHE_LINE_SIZE, sizeof(CacheShared));
	Size		off = MAXALIGN(stats_off + nstats * sizeof(CacheProcStats));
	Size		size = (Size) feed_cache_size_kb * 1024;

	/* the fixed part comes out of the budget too (a tiny cache gets 1 slot a partition) */
	Size		bytes = size > off ? size - off : 0;

	for (int i = 0; i < CACHE_FEED_PARTS + CACHE_POST_PARTS; i++)
	{
		bool		feeds = i < CACHE_FEED_PARTS;
		Size		slot_size = feeds ? sizeof(FeedSlot) : sizeof(PostSlot);
		Size		nslots = arena_slots(bytes / 2, slot_size,
										 feeds ? CACHE_FEED_PARTS : CACHE_POST_PARTS);
		int32		nbuckets = pow2_at_least(nslots);

		if (init)
		{
			CachePart  *p = &init->parts[i];

			ConditionVariableInit(&p->cv);
			p->pending = 0;
			p->last_change = 0;
			p->hand = 0;
			p->nslots = (int32) nslots;
			p->nbuckets = nbuckets;
			p->used = 0;
			p->slot_size = slot_size;
			p->buckets_off = off;
			p->slots_off = slots_start(off, nbuckets);
			for (int b = 0; b < nbuckets; b++)
				part_buckets(p)[b] = -1;
			for (int32 s = 0; s < (int32) nslots; s++)
			{
				SlotHead   *h = slot_at(p, s);

				memset(h, 0, slot_size);
				pg_atomic_init_u32(&h->referenced, 0);
				h->next = s + 1 < (int32) nslots ? s + 1 : -1;
			}
			p->free_head = 0;
			pg_atomic_init_u32(&p->changes, 0);
		}
		off = MAXALIGN(slots_start(off, nbuckets) + nslots * slot_size);
	}
	if (init)
	{
		init->nprocstats = nstats;
		init->procstats_off = stats_off;
		for (int i = 0; i < nstats; i++)
			for (int st = 0; st < ST_COUNT; st++)
				pg_atomic_init_u64(&proc_stats_at(i)->stats[st], 0);
	}
	return off;
}

void
feed_cache_shmem_request(void)
{
	if (feed_cache_size_kb == 0)
		return;
	RequestAddinShmemSpace(cache_layout(NULL));
	RequestNamedLWLockTranche("feed_cache", CACHE_FEED_PARTS + CACHE_POST_PARTS);
}

void
feed_cache_shmem_startup(void)
{
	bool		found;

	if (feed_cache_size_kb == 0)
		return;
	feed_cache_shm = ShmemInitStruct("feed cache", cache_layout(NULL), &found);
	Assert((uintptr_t) feed_cache_shm % PG_CACHE_LINE_SIZE == 0);
	feed_cache_locks = GetNamedLWLockTranche("feed_cache");
	if (found)
		return;
	pg_atomic_init_u64(&feed_cache_shm->seq, 1);
	pg_atomic_init_u32(&feed_cache_shm->inflight, 0);
	pg_atomic_init_u32(&feed_cache_shm->feeds_pending, 0);
	pg_atomic_init_u64(&feed_cache_shm->feeds_last, 0);
	pg_atomic_init_u32(&feed_cache_shm->posts_pending, 0);
	pg_atomic_init_u64(&feed_cache_shm->posts_last, 0);
	for (int b = 0; b < PULL_BUCKETS; b++)
	{
		pg_atomic_init_u32(&feed_cache_shm->pull_pending[b], 0);
		pg_atomic_init_u64(&feed_cache_shm->pull_last[b], 0);
	}
	pg_atomic_init_u32(&feed_cache_shm->freq_count, 0);
	memset(feed_cache_shm->freq, 0, sizeof(feed_cache_shm->freq));
	pg_atomic_init_u32(&feed_cache_shm->door_count, 0);
	for (int w = 0; w < DOOR_BITS / 32; w++)
		pg_atomic_init_u32(&feed_cache_shm->door[w], 0);
	SpinLockInit(&feed_cache_shm->pending.mutex);
	pg_atomic_init_u64(&feed_cache_shm->pending.version, 0);
	feed_cache_shm->pending.n = 0;
	feed_cache_shm->pending.dropped = 0;
	(void) cache_layout(feed_cache_shm);
}

bool
feed_cache_usable(void)
{
	return feed_cache_shm != NULL && feed_cache_enabled
		&& !IsolationUsesXactSnapshot()
		&& !TransactionIdIsValid(GetTopTransactionIdIfAny())
		&& !feed_cache_sync_pending()
		&& !RecoveryInProgress();
}

/* ---- read side: windows ---- */

static bool
feed_slot_servable(FeedSlot *f, int npending)
{
	if (!f->valid)
		return false;
	if (npending > 0 && window_lacks_pending(f, npending))
		return false;
	if (!stamp_ok(&feed_cache_shm->feeds_pending, &feed_cache_shm->feeds_last, f->seq0))
		return false;
	for (int w = 0; w < PULL_BUCKETS / 64; w++)
	{
		uint64		bits = f->pullmap[w];

		while (bits != 0)
		{
			int			b = w * 64 + pg_rightmost_one_pos64(bits);

			if (!stamp_ok(&feed_cache_shm->pull_pending[b], &feed_cache_shm->pull_last[b], f->seq0))
				return false;
			bits &= bits - 1;
		}
	}
	return true;
}

/*
 * Admission.  Under a skewed population (Zipf) most feeds are read once in
 * a long while; giving each of them a window on its first read evicts
 * windows that are read often, for nothing.  With second_read, a feed gets
 * a window only when it was read recently already: the doorkeeper, a Bloom
 * filter of the feeds missed lately (two bits an id, set lock-free), cleared
 * when it has taken DOOR_BITS / 8 ids (about 5% false positives then).  A
 * first read is served from the tables, which costs less than a build (one
 * page, not a 200-entry window).  cache_reset leaves the doorkeeper alone,
 * so feeds that were hot get their windows back on their next read.
 */
static bool
door_admit(int64 user_id)
{
	uint64		h = mix64((uint64) user_id ^ UINT64CONST(0x9e3779b97f4a7c15));
	uint32		b1 = (uint32) h & (DOOR_BITS - 1);
	uint32		b2 = (uint32) (h >> 32) & (DOOR_BITS - 1);
	uint32		m1 = (uint32) 1 << (b1 % 32);
	uint32		m2 = (uint32) 1 << (b2 % 32);
	pg_atomic_uint32 *door = feed_cache_shm->door;

	if (feed_cache_admission == FEED_CACHE_ADMIT_FIRST_READ)
		return true;
	if ((pg_atomic_read_u32(&door[b1 / 32]) & m1) != 0 &&
		(pg_atomic_read_u32(&door[b2 / 32]) & m2) != 0)
		return true;
	pg_atomic_fetch_or_u32(&door[b1 / 32], m1);
	pg_atomic_fetch_or_u32(&door[b2 / 32], m2);
	if (pg_atomic_add_fetch_u32(&feed_cache_shm->door_count, 1) >= DOOR_BITS / 8)
	{
		/* racing clears and adds only make it forget a little early */
		pg_atomic_write_u32(&feed_cache_shm->door_count, 0);
		for (int w = 0; w < DOOR_BITS / 32; w++)
			pg_atomic_write_u32(&door[w], 0);
	}
	return false;
}

/* Copies the page below `before`; true if the window covers it. */
static bool
copy_page(FeedSlot *f, int64 before, int32 lim, FeedCacheEntry *page, int *npage)
{
	int			i = 0;
	int			k;

	while (i < f->n && f->e[i].entry_id >= before)
		i++;
	k = Min(lim, f->n - i);
	memcpy(page, &f->e[i], k * sizeof(FeedCacheEntry));
	*npage = k;
	return k == lim || f->complete;
}

/* The abort callback releases the claim if the build fails. */
static void
claim_build(FeedSlot *f, int64 user_id)
{
	feed_cache_sync_register();
	f->builder = MyProcPid;
	f->build_started = GetCurrentTimestamp();
	building = true;
	building_user = user_id;
	/* read after the claim and before the caller's snapshot: see header */
	pg_memory_barrier();
	building_seq0 = pg_atomic_read_u64(&feed_cache_shm->seq);
}

FeedCacheLookup
feed_cache_feed_lookup(int64 user_id, int64 before, int32 lim,
					   FeedCacheEntry *page, int *npage, bool *stale)
{
	uint64		hash;
	int			pi = part_index(user_id, true, &hash);
	CachePart  *p = &feed_cache_shm->parts[pi];
	FeedSlot   *f;
	bool		first_page = before == PG_INT64_MAX;
	TimestampTz start;
	bool		counted_wait = false;
	int			npending = pending_snapshot();

	*stale = false;
	*npage = 0;
	if (first_page && feed_cache_admission != FEED_CACHE_ADMIT_FIRST_READ)
		freq_touch(user_id);

	LWLockAcquire(part_lock(pi), LW_SHARED);
	f = (FeedSlot *) feed_cache_part_find(p, hash, user_id);
	if (f != NULL && feed_slot_servable(f, npending))
	{
		bool		covered = copy_page(f, before, lim, page, npage);
		TimestampTz now = GetCurrentTimestamp();
		bool		expired = now - f->built_at > (int64) feed_cache_ttl_s * USECS_PER_SEC;
		bool		refreshing = !build_abandoned(f, now);

		slot_touch(&f->head.referenced);
		LWLockRelease(part_lock(pi));
		if (!covered)
		{
			stat_add(ST_UNCACHED);
			return FEED_CACHE_UNCACHED;
		}
		if (!expired)
		{
			stat_add(ST_HITS);
			return FEED_CACHE_HIT;
		}
		/* stale while revalidate: one first-page reader refreshes */
		if (!refreshing && first_page)
		{
			part_write_lock(pi);
			f = (FeedSlot *) feed_cache_part_find(p, hash, user_id);
			if (f != NULL && build_abandoned(f, GetCurrentTimestamp()))
			{
				claim_build(f, user_id);
				part_write_unlock(pi);
				stat_add(ST_MISSES);
				return FEED_CACHE_BUILD;
			}
			part_write_unlock(pi);
		}
		*stale = true;
		stat_add(ST_STALE);
		return FEED_CACHE_HIT;
	}
	LWLockRelease(part_lock(pi));

	if (!first_page)
	{
		/* deeper pages of an uncached feed are not worth a build */
		stat_add(ST_UNCACHED);
		return FEED_CACHE_UNCACHED;
	}

	stat_add(ST_MISSES);
	if (f == NULL && !door_admit(user_id))
	{
		/* a feed read for the first time lately: no window yet */
		stat_add(ST_UNCACHED);
		return FEED_CACHE_UNCACHED;
	}
	start = GetCurrentTimestamp();
	for (;;)
	{
		long		remaining;

		part_write_lock(pi);
		f = (FeedSlot *) feed_cache_part_find(p, hash, user_id);
		if (f != NULL && feed_slot_servable(f, npending))
		{
			bool		covered = copy_page(f, before, lim, page, npage);

			part_write_unlock(pi);
			ConditionVariableCancelSleep();
			return covered ? FEED_CACHE_HIT : FEED_CACHE_UNCACHED;
		}
		if (f == NULL || !feed_cache_single_flight ||
			build_abandoned(f, GetCurrentTimestamp()))
		{
			if (f == NULL)
				f = (FeedSlot *) part_alloc(p, hash, user_id, ST_FEED_EVICTIONS,
											feed_cache_admission == FEED_CACHE_ADMIT_FIRST_READ
											? -1 : freq_estimate(user_id));
			if (f == NULL)
			{
				part_write_unlock(pi);
				ConditionVariableCancelSleep();
				stat_add(ST_UNCACHED);
				return FEED_CACHE_UNCACHED;
			}
			claim_build(f, user_id);
			part_write_unlock(pi);
			ConditionVariableCancelSleep();
			return FEED_CACHE_BUILD;
		}
		part_write_unlock(pi);

		if (!counted_wait)
		{
			stat_add(ST_WAITS);
			counted_wait = true;
		}
		remaining = feed_cache_wait_ms -
			(long) ((GetCurrentTimestamp() - start) / 1000);
		if (remaining <= 0)
		{
			ConditionVariableCancelSleep();
			stat_add(ST_WAIT_TIMEOUTS);
			return FEED_CACHE_UNCACHED;
		}
		/* wake now and then to notice a builder that vanished */
		(void) ConditionVariableTimedSleep(&p->cv, Min(remaining, 1000), PG_WAIT_EXTENSION);
		npending = pending_snapshot();
	}
}

static void
end_build(CachePart *p, FeedSlot *f)
{
	if (f != NULL && f->builder == MyProcPid)
		f->builder = 0;
	building = false;
}

void
feed_cache_feed_install(int64 user_id, const FeedCacheEntry *entries, int n,
						bool complete, const int64 *authors, const bool *pulled,
						int nauthors)
{
	uint64		hash;
	int			pi = part_index(user_id, true, &hash);
	CachePart  *p = &feed_cache_shm->parts[pi];
	FeedSlot   *f;
	uint64		pullmap[PULL_BUCKETS / 64];
	uint64		bloom[BLOOM_BITS / 64];
	bool		ok;

	Assert(building && building_user == user_id);
	memset(pullmap, 0, sizeof(pullmap));
	memset(bloom, 0, sizeof(bloom));
	for (int i = 0; i < nauthors; i++)
	{
		bloom_add(bloom, authors[i]);
		if (pulled[i])
		{
			int			b = pull_bucket(authors[i]);

			pullmap[b / 64] |= UINT64CONST(1) << (b % 64);
		}
	}

	part_write_lock(pi);
	f = (FeedSlot *) feed_cache_part_find(p, hash, user_id);
	ok = f != NULL && f->builder == MyProcPid
		&& p->pending == 0 && f->last_change <= building_seq0
		&& stamp_ok(&feed_cache_shm->feeds_pending, &feed_cache_shm->feeds_last, building_seq0);
	for (int b = 0; ok && b < PULL_BUCKETS; b++)
		if (pullmap[b / 64] & (UINT64CONST(1) << (b % 64)))
			ok = stamp_ok(&feed_cache_shm->pull_pending[b], &feed_cache_shm->pull_last[b], building_seq0);
	if (ok)
	{
		n = Min(n, FEED_CACHE_WINDOW);
		memcpy(f->e, entries, n * sizeof(FeedCacheEntry));
		f->n = n;
		f->complete = complete;
		memcpy(f->pullmap, pullmap, sizeof(pullmap));
		memcpy(f->followees, bloom, sizeof(bloom));
		f->seq0 = building_seq0;
		f->built_at = GetCurrentTimestamp();
		f->valid = true;
		stat_add(ST_REBUILDS);
	}
	else
		stat_add(ST_REJECTED);
	end_build(p, f);
	part_write_unlock(pi);
	ConditionVariableBroadcast(&p->cv);
}

void
feed_cache_feed_release(int64 user_id)
{
	uint64		hash;
	int			pi;
	CachePart  *p;

	if (!building || feed_cache_shm == NULL)
		return;
	pi = part_index(user_id, true, &hash);
	p = &feed_cache_shm->parts[pi];
	part_write_lock(pi);
	end_build(p, (FeedSlot *) feed_cache_part_find(p, hash, user_id));
	part_write_unlock(pi);
	ConditionVariableBroadcast(&p->cv);
}

/* A failed or abandoned build gives its claim back (abort callbacks). */
void
feed_cache_abort_build(void)
{
	if (building)
		feed_cache_feed_release(building_user);
}

void
feed_cache_feed_discard(int64 user_id)
{
	uint64		hash;
	int			pi = part_index(user_id, true, &hash);
	CachePart  *p = &feed_cache_shm->parts[pi];
	FeedSlot   *f;

	part_write_lock(pi);
	f = (FeedSlot *) feed_cache_part_find(p, hash, user_id);
	if (f != NULL)
	{
		f->valid = false;
		stat_add(ST_DISCARDS);
	}
	part_write_unlock(pi);
}

void
feed_cache_count_uncached(void)
{
	if (feed_cache_shm != NULL)
		stat_add(ST_UNCACHED);
}

/* ---- read side: posts ---- */

/*
 * A row's body from src: into buf (raw bytes), or as a text datum, in text
 * (FEED_CACHE_TEXT_SLOT bytes of the caller's) or, both NULL, palloc'd.
 */
static void
post_fill_body(FeedCachePost *post, char *buf, struct varlena *text, const char *src)
{
	post->body_text = NULL;
	if (buf == NULL)
	{
		/* straight into the result's datum: no buffer per row */
		post->body_text = text != NULL ? text : palloc(VARHDRSZ + post->body_len);
		SET_VARSIZE(post->body_text, VARHDRSZ + post->body_len);
		buf = VARDATA(post->body_text);
	}
	memcpy(buf, src, post->body_len);
	post->body = buf;
}

/* The fields of slot s but the body; volatile for the lockless reader. */
static inline void
post_fields(FeedCachePost *post, int64 post_id, const volatile PostSlot *s)
{
	post->post_id = post_id;
	post->author_id = s->author_id;
	post->repost_of = s->repost_of;
	post->created_at = s->created_at;
	post->like_count = s->like_count;
	post->deleted = s->deleted;
	post->body_null = s->body_null;
	post->body_len = s->body_len;
}

/* The lookup and copy of one row under its partition's lock; no stats. */
static bool
post_copy_locked(int pi, uint64 hash, int64 post_id, FeedCachePost *post, char *buf,
				 struct varlena *text)
{
	CachePart  *p = &feed_cache_shm->parts[pi];
	PostSlot   *s;
	bool		hit = false;

	LWLockAcquire(part_lock(pi), LW_SHARED);
	s = (PostSlot *) feed_cache_part_find(p, hash, post_id);
	if (s != NULL && stamp_ok(&feed_cache_shm->posts_pending, &feed_cache_shm->posts_last, s->seq0))
	{
		post_fields(post, post_id, s);
		post_fill_body(post, buf, text, s->body);
		slot_touch(&s->head.referenced);
		hit = true;
	}
	LWLockRelease(part_lock(pi));
	return hit;
}

typedef enum
{
	OPT_HIT,
	OPT_MISS,
	OPT_RETRY					/* a writer got in the way: take the lock */
} OptimisticRead;

/*
 * The same without the lock (a seqlock read): copy, then check that no
 * writer held the partition meanwhile.  What is read before that check may
 * be torn, so it is only trusted for bounds, and the copy of the body goes
 * to a private buffer first.  Why: with a shared LWLock per row, a page of
 * 50 rows made 100 atomic writes to lock words that several cores share,
 * a few percent of a cached read.
 */
static OptimisticRead
post_copy_optimistic(int pi, uint64 hash, int64 post_id, FeedCachePost *post, char *buf,
					 struct varlena *text)
{
	CachePart  *p = &feed_cache_shm->parts[pi];
	static char body[FEED_CACHE_BODY_MAX];
	uint32		v = pg_atomic_read_u32(&p->changes);
	volatile PostSlot *s = NULL;
	int32		idx;
	uint64		seq0 = 0;

	if (v & 1)
		return OPT_RETRY;
	pg_read_barrier();
	idx = ((volatile int32 *) part_buckets(p))[hash & (p->nbuckets - 1)];
	for (int steps = 0; idx >= 0; steps++)
	{
		if (idx >= p->nslots || steps > p->nslots)
			return OPT_RETRY;
		s = (volatile PostSlot *) slot_at(p, idx);
		if (s->head.key == post_id)
			break;
		idx = s->head.next;
		s = NULL;
	}
	if (s != NULL)
	{
		post_fields(post, post_id, s);
		seq0 = s->seq0;
		if (post->body_len > FEED_CACHE_BODY_MAX)
			return OPT_RETRY;
		memcpy(body, (const char *) s->body, post->body_len);
	}
	pg_read_barrier();
	if (pg_atomic_read_u32(&p->changes) != v)
		return OPT_RETRY;
	if (s == NULL ||
		!stamp_ok(&feed_cache_shm->posts_pending, &feed_cache_shm->posts_last, seq0))
		return OPT_MISS;
	post_fill_body(post, buf, text, body);
	slot_touch((pg_atomic_uint32 *) &s->head.referenced);
	return OPT_HIT;
}

static bool
post_copy(int pi, uint64 hash, int64 post_id, FeedCachePost *post, char *buf,
		  struct varlena *text)
{
	for (int attempt = 0; attempt < 2; attempt++)
	{
		switch (post_copy_optimistic(pi, hash, post_id, post, buf, text))
		{
			case OPT_HIT:
				return true;
			case OPT_MISS:
				return false;
			case OPT_RETRY:
				break;
		}
	}
	return post_copy_locked(pi, hash, post_id, post, buf, text);
}

bool
feed_cache_post_get(int64 post_id, FeedCachePost *post, char *buf)
{
	uint64		hash;
	int			pi = part_index(post_id, false, &hash);
	bool		hit = post_copy(pi, hash, post_id, post, buf, NULL);

	stat_add(hit ? ST_POST_HITS : ST_POST_MISSES);
	return hit;
}

#define POSTS_BATCH 128
/*
 * What a page's post rows are prefetched for: a slot's header and the first
 * 124 bytes of its body (three 64-byte lines; posts average about 100).
 * Longer bodies fetch the rest when copied: 50 rows' worth of prefetches
 * already outnumber the lines a core can have in flight, so each line more
 * delays the others.
 */
#define POST_PREFETCH_BYTES 192

int
feed_cache_posts_get(int n, const int64 *post_ids, FeedCachePost *posts, bool *found,
					 char *texts)
{
	uint64		hashes[POSTS_BATCH];
	int			pis[POSTS_BATCH];
	int			hits = 0;

	/* no palloc: a cached read must not grow the heap (see timeline.c) */
	if (n > POSTS_BATCH)
	{
		hits = feed_cache_posts_get(POSTS_BATCH, post_ids, posts, found, texts);
		return hits + feed_cache_posts_get(n - POSTS_BATCH, post_ids + POSTS_BATCH,
										   posts + POSTS_BATCH, found + POSTS_BATCH,
										   texts ? texts + POSTS_BATCH * FEED_CACHE_TEXT_SLOT : NULL);
	}

	/* start every bucket read, then every slot read, then use them */
	for (int i = 0; i < n; i++)
	{
		CachePart  *p;

		pis[i] = part_index(post_ids[i], false, &hashes[i]);
		p = &feed_cache_shm->parts[pis[i]];
		cache_prefetch(&part_buckets(p)[hashes[i] & (p->nbuckets - 1)]);
	}
	for (int i = 0; i < n; i++)
	{
		CachePart  *p = &feed_cache_shm->parts[pis[i]];

		/* unlocked: only a hint, the locked lookup below decides */
		int32		idx = ((volatile int32 *) part_buckets(p))[hashes[i] & (p->nbuckets - 1)];

		if (idx >= 0 && idx < p->nslots)
		{
			char	   *slot = (char *) slot_at(p, idx);

			for (int off = 0; off < POST_PREFETCH_BYTES; off += 64)
				cache_prefetch(slot + off);
		}
	}
	for (int i = 0; i < n; i++)
	{
		found[i] = post_copy(pis[i], hashes[i], post_ids[i], &posts[i], NULL,
							 texts ? (struct varlena *) (texts + i * FEED_CACHE_TEXT_SLOT) : NULL);
		hits += found[i] ? 1 : 0;
	}
	if (n > 0)
	{
		stat_add_n(ST_POST_HITS, hits);
		stat_add_n(ST_POST_MISSES, n - hits);
	}
	return hits;
}

uint64
feed_cache_fill_begin(void)
{
	pg_memory_barrier();
	return pg_atomic_read_u64(&feed_cache_shm->seq);
}

void
feed_cache_post_put(const FeedCachePost *post, uint64 seq)
{
	uint64		hash;
	int			pi;
	CachePart  *p;
	PostSlot   *s;

	if (post->body_len > FEED_CACHE_BODY_MAX)
		return;					/* long bodies are read from the table */
	pi = part_index(post->post_id, false, &hash);
	p = &feed_cache_shm->parts[pi];
	part_write_lock(pi);
	if (p->pending == 0 && p->last_change <= seq
		&& stamp_ok(&feed_cache_shm->posts_pending, &feed_cache_shm->posts_last, seq)
		&& feed_cache_part_find(p, hash, post->post_id) == NULL
		&& (s = (PostSlot *) part_alloc(p, hash, post->post_id, ST_POST_EVICTIONS, -1)) != NULL)
	{
		s->author_id = post->author_id;
		s->repost_of = post->repost_of;
		s->created_at = post->created_at;
		s->like_count = post->like_count;
		s->seq0 = seq;
		s->deleted = post->deleted;
		s->body_null = post->body_null;
		s->body_len = (uint16) post->body_len;
		if (post->body_len > 0)
			memcpy(s->body, post->body, post->body_len);
	}
	part_write_unlock(pi);
}

/* ---- SQL-callable: stats and reset ---- */

/*
 * feed.cache_stats() -> one row; the view feed.cache_stats shows it.
 */
Datum
feed_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[16];
	bool		nulls[16];
	uint64		sums[ST_COUNT];
	int64		feeds = 0;
	int64		posts = 0;
	int64		feed_slots = 0;
	int64		post_slots = 0;
	int64		lookups;

	feed_check_preloaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(sums, 0, sizeof(sums));
	memset(nulls, 0, sizeof(nulls));
	if (feed_cache_shm != NULL)
	{
		for (int i = 0; i < feed_cache_shm->nprocstats; i++)
			for (int st = 0; st < ST_COUNT; st++)
				sums[st] += pg_atomic_read_u64(&proc_stats_at(i)->stats[st]);
		for (int i = 0; i < CACHE_FEED_PARTS + CACHE_POST_PARTS; i++)
		{
			CachePart  *p = &feed_cache_shm->parts[i];

			LWLockAcquire(part_lock(i), LW_SHARED);
			if (i < CACHE_FEED_PARTS)
			{
				feeds += p->used;
				feed_slots += p->nslots;
			}
			else
			{
				posts += p->used;
				post_slots += p->nslots;
			}
			LWLockRelease(part_lock(i));
		}
	}
	lookups = sums[ST_HITS] + sums[ST_STALE] + sums[ST_MISSES];
	values[0] = Int64GetDatum(sums[ST_HITS]);
	values[1] = Int64GetDatum(sums[ST_MISSES]);
	values[2] = Int64GetDatum(sums[ST_STALE]);
	values[3] = Int64GetDatum(sums[ST_WAITS]);
	values[4] = Int64GetDatum(sums[ST_WAIT_TIMEOUTS]);
	values[5] = Int64GetDatum(sums[ST_REBUILDS]);
	values[6] = Int64GetDatum(sums[ST_REJECTED]);
	values[7] = Int64GetDatum(sums[ST_FEED_EVICTIONS] + sums[ST_POST_EVICTIONS]);
	values[8] = Int64GetDatum(sums[ST_UNCACHED]);
	values[9] = Int64GetDatum(sums[ST_POST_HITS]);
	values[10] = Int64GetDatum(sums[ST_POST_MISSES]);
	values[11] = Int64GetDatum(feeds);
	values[12] = Int64GetDatum(posts);
	values[13] = Int64GetDatum(feeds * (int64) sizeof(FeedSlot) + posts * (int64) sizeof(PostSlot));
	values[14] = Int64GetDatum(feed_cache_shm == NULL ? 0 : (int64) cache_layout(NULL));
	if (lookups > 0)
		values[15] = Float8GetDatum((double) (sums[ST_HITS] + sums[ST_STALE]) / lookups);
	else
		nulls[15] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

int
feed_cache_sample(bool windows, int64 *ids, int max)
{
	int			n = 0;
	int			first = windows ? 0 : CACHE_FEED_PARTS;
	int			last = windows ? CACHE_FEED_PARTS : CACHE_FEED_PARTS + CACHE_POST_PARTS;

	if (feed_cache_shm == NULL)
		return 0;
	for (int i = first; i < last && n < max; i++)
	{
		CachePart  *p = &feed_cache_shm->parts[i];

		LWLockAcquire(part_lock(i), LW_SHARED);
		for (int32 s = 0; s < p->nslots && n < max; s++)
		{
			SlotHead   *h = slot_at(p, s);

			if (h->used && (!windows || ((FeedSlot *) h)->valid))
				ids[n++] = h->key;
		}
		LWLockRelease(part_lock(i));
	}
	return n;
}

bool
feed_cache_feed_peek(int64 user_id, FeedCacheEntry *entries, int *n, bool *complete)
{
	uint64		hash;
	int			pi = part_index(user_id, true, &hash);
	int			npending = pending_snapshot();
	FeedSlot   *f;
	bool		ok;

	LWLockAcquire(part_lock(pi), LW_SHARED);
	f = (FeedSlot *) feed_cache_part_find(&feed_cache_shm->parts[pi], hash, user_id);
	ok = f != NULL && feed_slot_servable(f, npending);
	if (ok)
	{
		memcpy(entries, f->e, f->n * sizeof(FeedCacheEntry));
		*n = f->n;
		*complete = f->complete;
	}
	LWLockRelease(part_lock(pi));
	return ok;
}

/*
 * Empties the cache now (not transactional).  Builds in flight are refused
 * at install, since everything is stamped.  Statistics are cumulative and
 * stay.
 */
void
feed_cache_clear(void)
{
	uint64		seq;

	if (feed_cache_shm == NULL)
		return;
	/* the stamps alone take every entry out of service, at once */
	seq = pg_atomic_add_fetch_u64(&feed_cache_shm->seq, 1);
	advance_u64(&feed_cache_shm->feeds_last, seq);
	advance_u64(&feed_cache_shm->posts_last, seq);

	/*
	 * Freeing the slots is only tidying (CLOCK would reuse them anyway):
	 * skip a partition that readers keep busy rather than wait for it, as
	 * a stream of shared lockers can hold off an exclusive one for long.
	 * Walk the hash chains, not the slots: a backend touching every slot
	 * header of a large cache for the first time takes a page fault per
	 * 4 kB page (0.4 s for 256MB when idle; 7 to 9 s under 64 busy readers
	 * on 2 cores, as bench/cache.sh measured), the chains only reach the
	 * slots in use.
	 */
	for (int i = 0; i < CACHE_FEED_PARTS + CACHE_POST_PARTS; i++)
	{
		CachePart  *p = &feed_cache_shm->parts[i];
		int32	   *buckets = part_buckets(p);

		if (!part_write_trylock(i))
			continue;
		for (int32 b = 0; b < p->nbuckets; b++)
		{
			int32		idx = buckets[b];

			buckets[b] = -1;
			while (idx >= 0)
			{
				SlotHead   *h = slot_at(p, idx);
				int32		next = h->next;

				if (i < CACHE_FEED_PARTS && ((FeedSlot *) h)->builder != 0)
				{
					/* being built: stays, out of service, in its chain */
					((FeedSlot *) h)->valid = false;
					((FeedSlot *) h)->last_change = seq;
					h->next = buckets[b];
					buckets[b] = idx;
				}
				else
					slot_release(p, h, idx);
				idx = next;
			}
		}
		p->last_change = Max(p->last_change, seq);
		part_write_unlock(i);
	}
}

/*
 * feed.cache_reset()
 */
Datum
feed_cache_reset(PG_FUNCTION_ARGS)
{
	feed_check_preloaded();
	feed_cache_clear();
	PG_RETURN_VOID();
}
