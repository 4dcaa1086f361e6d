/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *	  Per-user token buckets in shared memory.
 *
 * A bucket holds up to `burst` calls and refills at `rate` calls per
 * second; a call takes one.  Buckets live in a fixed table of
 * feed.rate_limit_slots slots split into stripes, each under its own
 * LWLock; a user's slot is found by probing a few slots of its stripe.
 * No sweep is needed: a bucket that has refilled to its burst carries no
 * state, so its slot is free for another user.  Only when every probed slot
 * belongs to a user still below burst is the fullest of them taken over
 * (that user restarts with a full bucket): under such pressure the limit is
 * approximate, never tighter than configured.  Size the table for the
 * users active within `burst / rate` seconds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "feed.h"
#include "ratelimit.h"

#define RATE_STRIPES	128
#define RATE_PROBES		8

int			feed_rate_limit_reads = 20;
int			feed_rate_limit_read_burst = 100;
int			feed_rate_limit_writes = 5;
int			feed_rate_limit_write_burst = 30;
int			feed_rate_limit_slots = 65536;

typedef struct RateSlot
{
	int64		user_id;		/* 0: free */
	double		tokens[FEED_RATE_KINDS];
	TimestampTz at[FEED_RATE_KINDS];	/* when tokens[] was computed */
	TimestampTz audited_at[FEED_RATE_KINDS];
	uint32		refused[FEED_RATE_KINDS];	/* since audited_at */
} RateSlot;

typedef struct RateShared
{
	int			per_stripe;
	pg_atomic_uint64 refused_total[FEED_RATE_KINDS];
	RateSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} RateShared;

static RateShared *rate = NULL;
static LWLockPadded *rate_locks = NULL;

static int
per_stripe(void)
{
	return Max(RATE_PROBES, (feed_rate_limit_slots + RATE_STRIPES - 1) / RATE_STRIPES);
}

static Size
rate_size(void)
{
	return add_size(offsetof(RateShared, slots),
					mul_size(mul_size(per_stripe(), RATE_STRIPES), sizeof(RateSlot)));
}

void
feed_ratelimit_define_gucs(void)
{
	DefineCustomIntVariable("feed.rate_limit_reads",
							"Read calls per second allowed to each user, all sessions together (0: no limit).",
							"feed.home, feed.user_posts and feed.user_stats; bursts up to feed.rate_limit_read_burst.",
							&feed_rate_limit_reads,
							20, 0, 1000000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("feed.rate_limit_read_burst",
							"Read calls a user may make at once after being idle.",
							NULL,
							&feed_rate_limit_read_burst,
							100, 1, 1000000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("feed.rate_limit_writes",
							"Write calls per second allowed to each user, all sessions together (0: no limit).",
							"Every contract function that changes something; bursts up to feed.rate_limit_write_burst.",
							&feed_rate_limit_writes,
							5, 0, 1000000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("feed.rate_limit_write_burst",
							"Write calls a user may make at once after being idle.",
							NULL,
							&feed_rate_limit_write_burst,
							30, 1, 1000000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("feed.rate_limit_slots",
							"Users whose rate-limit buckets are tracked at once in shared memory.",
							NULL,
							&feed_rate_limit_slots,
							65536, 1024, 16777216,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
}

void
feed_ratelimit_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(rate_size()));
	RequestNamedLWLockTranche("feed_rate_limit", RATE_STRIPES);
}

void
feed_ratelimit_shmem_startup(void)
{
	bool		found;

	rate = ShmemInitStruct("feed rate limits", rate_size(), &found);
	if (!found)
	{
		memset(rate, 0, rate_size());
		rate->per_stripe = per_stripe();
		for (int k = 0; k < FEED_RATE_KINDS; k++)
			pg_atomic_init_u64(&rate->refused_total[k], 0);
	}
	rate_locks = GetNamedLWLockTranche("feed_rate_limit");
}

static void
settings(FeedRateKind kind, int *limit, int *burst)
{
	if (kind == FEED_RATE_READ)
	{
		*limit = feed_rate_limit_reads;
		*burst = feed_rate_limit_read_burst;
	}
	else
	{
		*limit = feed_rate_limit_writes;
		*burst = feed_rate_limit_write_burst;
	}
}

bool
feed_ratelimit_enabled(FeedRateKind kind)
{
	return rate != NULL &&
		(kind == FEED_RATE_READ ? feed_rate_limit_reads : feed_rate_limit_writes) > 0;
}

/* Tokens slot s would hold for `kind` at `now` (capped at the burst). */
static double
refilled(RateSlot *s, int kind, TimestampTz now)
{
	int			limit;
	int			burst;

	settings((FeedRateKind) kind, &limit, &burst);
	if (limit <= 0)
		return burst;
	return Min((double) burst,
			   s->tokens[kind] + (double) (now - s->at[kind]) * limit / USECS_PER_SEC);
}

static bool
slot_idle(RateSlot *s, TimestampTz now)
{
	int			limit;
	int			burst;

	if (s->user_id == 0)
		return true;
	for (int k = 0; k < FEED_RATE_KINDS; k++)
	{
		settings((FeedRateKind) k, &limit, &burst);
		if (refilled(s, k, now) < burst)
			return false;
	}
	return true;
}

static void
slot_reset(RateSlot *s, int64 user_id, TimestampTz now)
{
	memset(s, 0, sizeof(RateSlot));
	s->user_id = user_id;
	for (int k = 0; k < FEED_RATE_KINDS; k++)
	{
		int			limit;
		int			burst;

		settings((FeedRateKind) k, &limit, &burst);
		s->tokens[k] = burst;
		s->at[k] = now;
	}
}

bool
feed_ratelimit_take(int64 user_id, FeedRateKind kind, int64 *retry_ms,
					int *limit, int *burst, bool *audit, uint32 *suppressed)
{
	uint32		hash = hash_bytes_uint32((uint32) user_id ^ (uint32) (user_id >> 32));
	int			stripe = hash % RATE_STRIPES;
	int			n;
	RateSlot   *base;
	int			start;
	RateSlot   *s = NULL;
	RateSlot   *victim = NULL;
	double		victim_tokens = -1;
	TimestampTz now = GetCurrentTimestamp();
	bool		allowed;
	double		tokens;

	settings(kind, limit, burst);
	*audit = false;
	*suppressed = 0;
	*retry_ms = 0;
	if (*limit <= 0 || rate == NULL)
		return true;

	n = rate->per_stripe;
	base = &rate->slots[stripe * n];
	start = (hash / RATE_STRIPES) % n;
	LWLockAcquire(&rate_locks[stripe].lock, LW_EXCLUSIVE);
	for (int i = 0; i < RATE_PROBES; i++)
	{
		RateSlot   *c = &base[(start + i) % n];
		double		t;

		if (c->user_id == user_id)
		{
			s = c;
			break;
		}
		if (victim_tokens == (double) PG_INT32_MAX)
			continue;			/* already found a free slot */
		if (slot_idle(c, now))
		{
			victim = c;
			victim_tokens = (double) PG_INT32_MAX;
			continue;
		}
		t = refilled(c, FEED_RATE_READ, now) + refilled(c, FEED_RATE_WRITE, now);
		if (t > victim_tokens)
		{
			victim = c;
			victim_tokens = t;
		}
	}
	if (s == NULL)
	{
		s = victim;
		slot_reset(s, user_id, now);
	}

	tokens = refilled(s, kind, now);
	s->at[kind] = now;
	if (tokens >= 1.0)
	{
		s->tokens[kind] = tokens - 1.0;
		allowed = true;
	}
	else
	{
		s->tokens[kind] = tokens;
		*retry_ms = (int64) ceil((1.0 - tokens) * 1000.0 / *limit);
		s->refused[kind]++;
		if (now - s->audited_at[kind] >= USECS_PER_SEC)
		{
			*audit = true;
			*suppressed = s->refused[kind] - 1;
			s->refused[kind] = 0;
			s->audited_at[kind] = now;
		}
		allowed = false;
	}
	LWLockRelease(&rate_locks[stripe].lock);

	if (!allowed)
		pg_atomic_fetch_add_u64(&rate->refused_total[kind], 1);
	return allowed;
}

uint64
feed_ratelimit_refused(FeedRateKind kind)
{
	return rate == NULL ? 0 : pg_atomic_read_u64(&rate->refused_total[kind]);
}
