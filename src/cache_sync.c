/*-------------------------------------------------------------------------
 *
 * cache_sync.c
 *	  Keeping the feed cache coherent: changes recorded by writers and
 *	  applied by the transaction callbacks.
 *
 * A function that changes what a feed shows records the change here while
 * it runs; nothing reaches shared memory before commit.  At PRE_COMMIT
 * (still invisible to other snapshots) negative changes take cached copies
 * out of service and raise "pending" counts; after COMMIT positive changes
 * are applied, everything touched is stamped with a new change sequence
 * value, and the counts go down; ABORT only lowers the counts.  cache.c's
 * header explains why fills that race a commit are never installed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"

#include "cache_internal.h"
#include "feed.h"

typedef enum ChangeKind
{
	CH_FEED,					/* a user's feed lost or changed entries */
	CH_APPEND,					/* an entry was delivered to a user's inbox */
	CH_POST,					/* a post row changed (edit, delete) */
	CH_LIKE,
	CH_PULL,					/* a pulled author published */
	CH_ALL_FEEDS,
	CH_ALL_POSTS,
	CH_QUEUED,					/* a post waits for fanout */
	CH_DELIVERED				/* fanout of an author's posts in [a, b] ended */
} ChangeKind;

typedef struct Change
{
	ChangeKind	kind;
	int			level;			/* subtransaction nesting level */
	int64		key;
	int64		a;
	int64		b;
	bool		overflowed;		/* CH_QUEUED: the pending list was full */
} Change;

static Change *changes = NULL;
static int	nchanges = 0;
static int	maxchanges = 0;
static bool changes_prepared = false;	/* PRE_COMMIT raised the counts */
static bool callbacks_registered = false;

static void cache_xact_callback(XactEvent event, void *arg);
static void cache_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								   SubTransactionId parentSubid, void *arg);

/* Registered on first use: by a writer, or by a reader that claims a build. */
void
feed_cache_sync_register(void)
{
	if (!callbacks_registered)
	{
		RegisterXactCallback(cache_xact_callback, NULL);
		RegisterSubXactCallback(cache_subxact_callback, NULL);
		callbacks_registered = true;
	}
}

/* This transaction has cache changes to apply at commit. */
bool
feed_cache_sync_pending(void)
{
	return nchanges > 0;
}

static void
record(ChangeKind kind, int64 key, int64 a, int64 b)
{
	if (feed_cache_shm == NULL)
		return;
	feed_cache_sync_register();
	if (nchanges == maxchanges)
	{
		int			newmax = Max(64, maxchanges * 2);

		if (changes == NULL)
			changes = MemoryContextAlloc(TopTransactionContext, newmax * sizeof(Change));
		else
			changes = repalloc(changes, newmax * sizeof(Change));
		maxchanges = newmax;
	}
	changes[nchanges].kind = kind;
	changes[nchanges].level = GetCurrentTransactionNestLevel();
	changes[nchanges].key = key;
	changes[nchanges].a = a;
	changes[nchanges].b = b;
	changes[nchanges].overflowed = false;
	nchanges++;
}

void
feed_cache_feed_changed(int64 user_id)
{
	record(CH_FEED, user_id, 0, 0);
}

void
feed_cache_feed_append(int64 user_id, int64 entry_id, int64 orig_id)
{
	record(CH_APPEND, user_id, entry_id, orig_id);
}

void
feed_cache_post_changed(int64 post_id)
{
	record(CH_POST, post_id, 0, 0);
}

void
feed_cache_like(int64 post_id, int delta)
{
	record(CH_LIKE, post_id, delta, 0);
}

void
feed_cache_pull_published(int64 author_id, bool first_pull)
{
	record(CH_PULL, author_id, first_pull ? 1 : 0, 0);
}

void
feed_cache_fanout_queued(int64 post_id, int64 orig_id, int64 author_id)
{
	record(CH_QUEUED, post_id, orig_id, author_id);
}

void
feed_cache_fanout_ended(int64 author_id, int64 first_post_id, int64 last_post_id)
{
	record(CH_DELIVERED, author_id, first_post_id, last_post_id);
}

void
feed_cache_all_feeds_changed(void)
{
	record(CH_ALL_FEEDS, 0, 0, 0);
}

void
feed_cache_all_posts_changed(void)
{
	record(CH_ALL_POSTS, 0, 0, 0);
}

/*
 * An original delivered to a cached window goes in at its place; anything
 * that could change how the window groups its entries (a repost, an
 * original whose repost the window already shows) drops the window instead.
 */
static void
apply_append(FeedSlot *f, int64 entry_id, int64 orig_id)
{
	int			pos;

	if (!f->valid)
		return;
	if (entry_id != orig_id)
	{
		for (int i = 0; i < f->n; i++)
			if (f->e[i].entry_id == entry_id)
				return;			/* built after the commit */
		f->valid = false;
		return;
	}
	for (int i = 0; i < f->n; i++)
	{
		if (f->e[i].entry_id == entry_id)
			return;				/* already there (built after the commit) */
		if (f->e[i].orig_id == orig_id)
		{
			f->valid = false;
			return;
		}
	}
	pos = 0;
	while (pos < f->n && f->e[pos].entry_id > entry_id)
		pos++;
	if (pos == f->n && !f->complete)
		return;					/* below the window: read from the tables */
	if (f->n == FEED_CACHE_WINDOW)
	{
		f->n--;
		f->complete = false;
		if (pos > f->n)
			return;
	}
	memmove(&f->e[pos + 1], &f->e[pos], (f->n - pos) * sizeof(FeedCacheEntry));
	f->e[pos].entry_id = entry_id;
	f->e[pos].orig_id = orig_id;
	f->n++;
}

typedef enum ApplyPhase
{
	PHASE_PRE_COMMIT,
	PHASE_COMMIT,
	PHASE_ABORT
} ApplyPhase;

/*
 * A queued post enters the pending list before its commit is visible
 * (marked "committing", so every window counts as lacking it) and gets its
 * stamp after; an abort takes it out.  An ended fanout takes its posts out.
 */
static void
pending_apply(ApplyPhase phase, Change *c, uint64 seq)
{
	PendingTable *t = &feed_cache_shm->pending;

	pending_write_begin(t);
	if (c->kind == CH_QUEUED && phase == PHASE_PRE_COMMIT)
	{
		if (t->n < PENDING_MAX)
		{
			t->e[t->n].post_id = c->key;
			t->e[t->n].orig_id = c->a;
			t->e[t->n].author_id = c->b;
			t->e[t->n].seq = PG_UINT64_MAX;
			t->n++;
		}
		else
		{
			/*
			 * Full (a fanout backlog): windows cannot be told about this
			 * post, so every window is stamped at commit instead.  Reads
			 * then rebuild from the tables, which see it.
			 */
			t->dropped++;
			c->overflowed = true;
			pg_atomic_fetch_add_u32(&feed_cache_shm->feeds_pending, 1);
		}
	}
	else if (c->overflowed)
	{
		if (phase == PHASE_COMMIT)
			advance_u64(&feed_cache_shm->feeds_last, seq);
		pg_atomic_fetch_sub_u32(&feed_cache_shm->feeds_pending, 1);
	}
	else
	{
		for (int i = 0; i < t->n; i++)
		{
			PendingPost *pp = &t->e[i];
			bool		match;

			if (c->kind == CH_QUEUED)
				match = pp->post_id == c->key;
			else
				match = pp->author_id == c->key && pp->post_id >= c->a && pp->post_id <= c->b;
			if (!match)
				continue;
			if (c->kind == CH_QUEUED && phase == PHASE_COMMIT)
			{
				pp->seq = seq;
				break;
			}
			/* abort, or delivered: remove by moving the last one here */
			t->e[i] = t->e[t->n - 1];
			t->n--;
			i--;
		}
	}
	pending_write_end(t);
}

static void
apply_changes(ApplyPhase phase)
{
	uint64		seq = 0;

	if (phase == PHASE_COMMIT)
		seq = pg_atomic_add_fetch_u64(&feed_cache_shm->seq, 1);

	for (int i = 0; i < nchanges; i++)
	{
		Change	   *c = &changes[i];
		uint64		hash;
		int			pi;
		CachePart  *p;
		SlotHead   *s;

		switch (c->kind)
		{
			case CH_FEED:
			case CH_APPEND:
			case CH_POST:
			case CH_LIKE:
				pi = part_index(c->key, c->kind == CH_FEED || c->kind == CH_APPEND, &hash);
				p = &feed_cache_shm->parts[pi];
				if (c->kind == CH_APPEND && phase != PHASE_COMMIT)
					break;		/* appends only exist once committed */
				part_write_lock(pi);
				s = feed_cache_part_find(p, hash, c->key);
				if (c->kind == CH_APPEND)
				{
					if (s != NULL)
					{
						apply_append((FeedSlot *) s, c->a, c->b);
						((FeedSlot *) s)->last_change = seq;
					}
					part_write_unlock(pi);
					break;
				}
				if (phase == PHASE_PRE_COMMIT)
				{
					p->pending++;
					if (s != NULL && c->kind == CH_FEED)
						((FeedSlot *) s)->valid = false;
					else if (s != NULL && c->kind == CH_POST)
						feed_cache_part_free(p, s);
				}
				else
				{
					p->pending--;
					if (phase == PHASE_COMMIT)
					{
						p->last_change = Max(p->last_change, seq);
						if (s != NULL && c->kind == CH_FEED)
						{
							((FeedSlot *) s)->valid = false;
							((FeedSlot *) s)->last_change = seq;
						}
						else if (s != NULL && c->kind == CH_POST)
							feed_cache_part_free(p, s);
						else if (s != NULL && c->kind == CH_LIKE)
							((PostSlot *) s)->like_count += c->a;
					}
				}
				part_write_unlock(pi);
				break;
			case CH_PULL:
				{
					int			b = pull_bucket(c->key);

					if (phase == PHASE_PRE_COMMIT)
					{
						pg_atomic_fetch_add_u32(&feed_cache_shm->pull_pending[b], 1);
						if (c->a)
							pg_atomic_fetch_add_u32(&feed_cache_shm->feeds_pending, 1);
						break;
					}
					if (phase == PHASE_COMMIT)
					{
						advance_u64(&feed_cache_shm->pull_last[b], seq);
						if (c->a)
							advance_u64(&feed_cache_shm->feeds_last, seq);
					}
					pg_atomic_fetch_sub_u32(&feed_cache_shm->pull_pending[b], 1);
					if (c->a)
						pg_atomic_fetch_sub_u32(&feed_cache_shm->feeds_pending, 1);
				}
				break;
			case CH_QUEUED:
				pending_apply(phase, c, seq);
				break;
			case CH_DELIVERED:
				if (phase == PHASE_COMMIT)
					pending_apply(phase, c, seq);
				break;
			case CH_ALL_FEEDS:
			case CH_ALL_POSTS:
				{
					bool		feeds = c->kind == CH_ALL_FEEDS;
					pg_atomic_uint32 *pending = feeds ? &feed_cache_shm->feeds_pending : &feed_cache_shm->posts_pending;

					if (phase == PHASE_PRE_COMMIT)
					{
						pg_atomic_fetch_add_u32(pending, 1);
						break;
					}
					if (phase == PHASE_COMMIT)
						advance_u64(feeds ? &feed_cache_shm->feeds_last : &feed_cache_shm->posts_last, seq);
					pg_atomic_fetch_sub_u32(pending, 1);
				}
				break;
		}
	}
}

static void
forget_changes(void)
{
	/* the array lives in TopTransactionContext, which goes with the xact */
	changes = NULL;
	nchanges = 0;
	maxchanges = 0;
	changes_prepared = false;
}

static void
cache_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			if (nchanges > 0 && !changes_prepared)
			{
				pg_atomic_fetch_add_u32(&feed_cache_shm->inflight, 1);
				apply_changes(PHASE_PRE_COMMIT);
				changes_prepared = true;
			}
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (changes_prepared)
			{
				apply_changes(PHASE_COMMIT);
				pg_atomic_fetch_sub_u32(&feed_cache_shm->inflight, 1);
			}
			forget_changes();
			feed_cache_abort_build();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (changes_prepared)
			{
				apply_changes(PHASE_ABORT);
				pg_atomic_fetch_sub_u32(&feed_cache_shm->inflight, 1);
			}
			forget_changes();
			feed_cache_abort_build();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (nchanges > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed feed data"),
						 errdetail("The feed cache applies a transaction's changes when it commits, which a prepared transaction does not do in this session."),
						 errhint("Commit feed changes in ordinary transactions.")));
			break;
		default:
			break;
	}
}

/*
 * A rolled-back subtransaction's deliveries and likes never happened; its
 * invalidations are kept (harmless, and a window it read may be gone).
 */
static void
cache_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		int			kept = 0;

		for (int i = 0; i < nchanges; i++)
		{
			Change	   *c = &changes[i];

			if (c->level >= level &&
				(c->kind == CH_APPEND || c->kind == CH_LIKE ||
				 c->kind == CH_QUEUED || c->kind == CH_DELIVERED))
				continue;
			changes[kept++] = *c;
		}
		nchanges = kept;
		feed_cache_abort_build();
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = 0; i < nchanges; i++)
			if (changes[i].level >= level)
				changes[i].level = level - 1;
	}
}

bool
feed_cache_quiet(void)
{
	return feed_cache_shm == NULL || pg_atomic_read_u32(&feed_cache_shm->inflight) == 0;
}