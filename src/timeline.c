/*-------------------------------------------------------------------------
 *
 * timeline.c
 *	  The read path: feed.home and feed.user_posts.
 *
 * feed.home(V) is defined by the visibility oracle of DESIGN.md: visible
 * posts grouped by original, each group shown once at the smallest id among
 * its visible posts.  The read walks candidate entries newest first, in
 * batches, from one of two sources, and keeps a candidate only if it is
 * visible now and no smaller visible post of its group exists:
 *
 *	- above V's horizon (kept in a sentinel row of V's inbox, see
 *	  feed--1.0.sql): the materialised inbox, plus posts of pending fanout
 *	  jobs and of authors with a pending backfill (work not yet applied), so
 *	  the page is exact even before fanout catches up;
 *	- at or below the horizon (deep pages, trimmed inboxes), or everywhere
 *	  when V's inbox has no sentinel (evicted, never built): a pull from the
 *	  posts of V and V's followees, with the same cursor.
 *
 * Because every check runs against the tables under one snapshot, an
 * unfollow, block, delete or privacy change hides entries the moment it
 * commits, whatever the inbox still holds (invariant I2).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "cache.h"
#include "counters.h"
#include "auth.h"
#include "feed.h"
#include "graph.h"
#include "maintenance.h"
#include "spi_plans.h"
#include "timeline.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(feed_home);
PG_FUNCTION_INFO_V1(feed_user_posts);

#define TIMELINE_COLS 7

/*
 * Does $1 actively follow the user in column X?  Written as an uncorrelated
 * IN so the planner builds one hashed subplan of $1's followees per query
 * instead of probing the index once per candidate row.
 */
#define SQL_FOLLOWS(X) \
	X " IN (SELECT f.followee_id FROM feed.follows f " \
	"       WHERE f.follower_id = $1 AND f.state = 'active')"

/* No block in either direction between $1 and the user in column X. */
#define SQL_NOT_BLOCKED(X) \
	"NOT " X " IN (SELECT b.blocked_id FROM feed.blocks b WHERE b.blocker_id = $1 " \
	"              UNION ALL " \
	"              SELECT b.blocker_id FROM feed.blocks b WHERE b.blocked_id = $1)"

/*
 * Rules 1, 3 and 4 for an entry e showing original o (author row ou):
 * neither deleted, no block with o's author, o's author public, $1, or
 * followed.  Rule 2 (e's author is $1 or followed) is added by home.
 */
#define SQL_GROUP_VISIBLE \
	"e.deleted_at IS NULL AND o.deleted_at IS NULL " \
	"AND (o.author_id = $1 OR (" SQL_NOT_BLOCKED("o.author_id") \
	"     AND (NOT ou.is_private OR " SQL_FOLLOWS("o.author_id") ")))"

/*
 * e is the smallest visible post of its group.  An original always is (its
 * reposts have larger ids), so only a repost is checked: the original must
 * not be a visible member (else it would be smaller), nor any visible repost
 * of o with a smaller id.  Blocks need no check for members: their authors
 * are $1 or followed, and a block removes follows.
 */
#define SQL_GROUP_MINIMUM \
	"(e.repost_of IS NULL OR (" \
	" NOT (o.author_id = $1 OR " SQL_FOLLOWS("o.author_id") ") " \
	" AND NOT EXISTS (SELECT 1 FROM feed.posts q " \
	"                 WHERE q.repost_of = o.post_id AND q.post_id < e.post_id " \
	"                 AND q.deleted_at IS NULL " \
	"                 AND (q.author_id = $1 OR " SQL_FOLLOWS("q.author_id") "))))"

/*
 * Check of a batch of candidate entry ids (CTE "cand(entry_id)", newest
 * first).  Every candidate comes back, with "emit" saying whether it is a
 * row of the page, so the caller can move its cursor past rejected ones.
 * MATERIALIZED: emit is used twice below, and an inlined CTE would evaluate
 * the whole check twice.
 */
#define SQL_HOME_CHECK(SOURCE) \
	"WITH cand (entry_id) AS (" SOURCE "), " \
	"chk AS MATERIALIZED (SELECT c.entry_id, o.post_id, o.author_id, " \
	"               CASE WHEN e.repost_of IS NOT NULL THEN e.author_id END AS reposted_by, " \
	"               o.body, o.created_at, " \
	"               coalesce(" SQL_GROUP_VISIBLE \
	"                        AND (e.author_id = $1 OR " SQL_FOLLOWS("e.author_id") ") " \
	"                        AND " SQL_GROUP_MINIMUM ", false) AS emit " \
	"        FROM cand c " \
	"        LEFT JOIN feed.posts e ON e.post_id = c.entry_id " \
	"        LEFT JOIN feed.posts o ON o.post_id = coalesce(e.repost_of, e.post_id) " \
	"        LEFT JOIN feed.users ou ON ou.user_id = o.author_id) " \
	"SELECT entry_id, post_id, author_id, reposted_by, body, created_at, " \
	"       CASE WHEN emit THEN " FEED_SQL_LIKE_COUNT("chk.post_id") " END, emit " \
	"FROM chk ORDER BY entry_id DESC"

/*
 * Above the horizon: $1 viewer, $2 cursor (exclusive), $3 batch, $4 horizon.
 * Four sources: the inbox; posts of queued fanout jobs; posts of authors
 * with a queued backfill; posts in the pulled ranges of followed authors
 * (celebrities, pull mode: never in inboxes).  Each is limited, then they
 * are merged: the newest $3 overall are among each source's newest $3.
 */
#define SQL_SOURCE_INBOX \
	"SELECT entry_id FROM (" \
	" (SELECT i.entry_id FROM feed.inbox i " \
	"  WHERE i.user_id = $1 AND i.entry_id < $2 AND i.entry_id > $4 " \
	"  ORDER BY i.entry_id DESC LIMIT $3) " \
	" UNION " \
	" (SELECT j.post_id FROM feed.fanout_jobs j " \
	"  WHERE j.post_id < $2 AND j.post_id > $4 " \
	"  AND (j.author_id = $1 OR " SQL_FOLLOWS("j.author_id") ") " \
	"  ORDER BY j.post_id DESC LIMIT $3) " \
	" UNION " \
	" (SELECT bp.post_id FROM feed.inbox_backfill b CROSS JOIN LATERAL " \
	"   (SELECT p.post_id FROM feed.posts p WHERE p.author_id = b.author_id " \
	"    AND p.post_id < $2 AND p.post_id > $4 AND p.deleted_at IS NULL " \
	"    ORDER BY p.post_id DESC LIMIT $3) bp " \
	"  WHERE b.user_id = $1) " \
	" UNION " \
	" (SELECT pp.post_id FROM feed.pull_authors pa CROSS JOIN LATERAL " \
	"   (SELECT p.post_id FROM feed.posts p WHERE p.author_id = pa.author_id " \
	"    AND p.post_id < $2 AND p.post_id > $4 " \
	"    AND p.post_id BETWEEN pa.first_post_id AND pa.last_post_id AND p.deleted_at IS NULL " \
	"    ORDER BY p.post_id DESC LIMIT $3) pp " \
	"  WHERE pa.author_id = $1 OR " SQL_FOLLOWS("pa.author_id") ") " \
	") s (entry_id) ORDER BY entry_id DESC LIMIT $3"

/* At or below the horizon: newest posts of $1 and $1's followees. */
#define SQL_SOURCE_PULL \
	"SELECT p.post_id FROM " \
	" (SELECT $1::bigint AS author_id UNION ALL " \
	"  SELECT f.followee_id FROM feed.follows f WHERE f.follower_id = $1 AND f.state = 'active') a " \
	"CROSS JOIN LATERAL " \
	" (SELECT p.post_id FROM feed.posts p WHERE p.author_id = a.author_id " \
	"  AND p.post_id < $2 AND p.deleted_at IS NULL " \
	"  ORDER BY p.post_id DESC LIMIT $3) p " \
	"ORDER BY p.post_id DESC LIMIT $3"

static FeedPlan home_inbox_plan = {
	"home_inbox", SQL_HOME_CHECK(SQL_SOURCE_INBOX),
	4, {INT8OID, INT8OID, INT4OID, INT8OID}
};

static FeedPlan home_pull_plan = {
	"home_pull", SQL_HOME_CHECK(SQL_SOURCE_PULL),
	3, {INT8OID, INT8OID, INT4OID}
};

/* The sentinel row; none means the inbox is not trusted at all. */
static FeedPlan horizon_plan = {
	"inbox_horizon",
	"SELECT -1 - entry_id FROM feed.inbox WHERE user_id = $1 AND entry_id < 0",
	1, {INT8OID}
};

/* Copies row `row` of the SPI result (first 7 columns) into the tuplestore. */
static void
put_row(ReturnSetInfo *rsinfo, uint64 row)
{
	Datum		values[TIMELINE_COLS];
	bool		nulls[TIMELINE_COLS];

	for (int col = 0; col < TIMELINE_COLS; col++)
		values[col] = feed_spi_datum(row, col + 1, &nulls[col]);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Where the table read sends its rows: straight into the result, or into
 * an array that becomes a cached window (then copied out of SPI's memory).
 */
typedef struct HomeSink
{
	ReturnSetInfo *rsinfo;		/* non-NULL: emit rows */
	MemoryContext keep;			/* else: copy them here */
	Datum	   *rows;			/* TIMELINE_COLS datums per row */
	bool	   *nulls;
	int			n;
} HomeSink;

static void
sink_row(HomeSink *sink, uint64 row)
{
	MemoryContext old;

	if (sink->rsinfo)
	{
		put_row(sink->rsinfo, row);
		return;
	}
	old = MemoryContextSwitchTo(sink->keep);
	for (int col = 0; col < TIMELINE_COLS; col++)
	{
		Datum	   *v = &sink->rows[sink->n * TIMELINE_COLS + col];
		bool	   *isnull = &sink->nulls[sink->n * TIMELINE_COLS + col];

		*v = feed_spi_datum(row, col + 1, isnull);
		if (col == 4 && !*isnull)
			*v = PointerGetDatum(DatumGetTextPCopy(*v));
	}
	sink->n++;
	MemoryContextSwitchTo(old);
}

/*
 * The home feed from the tables: up to lim rows below cursor.  SPI must be
 * connected; the viewer must exist.
 */
static void
home_from_tables(int64 viewer, int32 lim, int64 cursor, HomeSink *sink)
{
	int64		horizon = 0;
	int32		emitted = 0;
	bool		from_inbox;
	Datum		values[4];
	bool		isnull;

	values[0] = Int64GetDatum(viewer);
	if (feed_spi_exec(&horizon_plan, values, NULL, true, 1) == 1)
	{
		horizon = feed_spi_int64(0, 1, &isnull);
		from_inbox = cursor - 1 > horizon;
		feed_activity_note(viewer, false);
	}
	else
	{
		/* evicted, cold or never built: pull it all, and ask for a rebuild */
		from_inbox = false;
		feed_activity_note(viewer, true);
	}

	while (emitted < lim)
	{
		/* rejected candidates are rare; a little slack saves a round trip */
		int32		batch = Min((lim - emitted) + (lim - emitted) / 4 + 8, 10000);
		uint64		n;

		values[0] = Int64GetDatum(viewer);
		values[1] = Int64GetDatum(cursor);
		values[2] = Int32GetDatum(batch);
		values[3] = Int64GetDatum(horizon);
		n = feed_spi_exec(from_inbox ? &home_inbox_plan : &home_pull_plan,
						  values, NULL, true, 0);

		for (uint64 row = 0; row < n && emitted < lim; row++)
		{
			cursor = feed_spi_int64(row, 1, &isnull);
			if (feed_spi_bool(row, 8, &isnull))
			{
				sink_row(sink, row);
				emitted++;
			}
		}
		if (n < (uint64) batch)
		{
			/* this source is exhausted below the cursor */
			if (!from_inbox)
				break;
			from_inbox = false;
			cursor = Min(cursor, horizon + 1);
		}
	}
}

/*
 * Missing post rows for a cached page, read under a fresh snapshot taken
 * after the fill sequence was noted (cache.c explains why), and cached.
 */
#define SQL_POST_ROWS \
	"SELECT p.post_id, p.author_id, coalesce(p.repost_of, 0), p.body, p.created_at, " \
	"       p.deleted_at IS NOT NULL, " \
	"       CASE WHEN p.repost_of IS NULL THEN " FEED_SQL_LIKE_COUNT("p.post_id") " ELSE 0 END " \
	"FROM feed.posts p WHERE p.post_id = ANY ($1)"

typedef struct PageRow
{
	FeedCacheEntry e;
	FeedCachePost entry;		/* the entry's own post (reposts only) */
	FeedCachePost orig;
	bool		have_entry;
	bool		have_orig;
} PageRow;

static void
fetch_posts(PageRow *rows, int n, int64 *missing, int nmissing)
{
	static FeedPlan post_rows_plan = {
		"cache_post_rows", SQL_POST_ROWS, 1, {INT8ARRAYOID}
	};
	MemoryContext keep = CurrentMemoryContext;
	Datum	   *elems = palloc(nmissing * sizeof(Datum));
	Datum		values[1];
	uint64		seq;
	uint64		got;

	for (int i = 0; i < nmissing; i++)
		elems[i] = Int64GetDatum(missing[i]);
	values[0] = PointerGetDatum(construct_array(elems, nmissing, INT8OID, 8, true, TYPALIGN_DOUBLE));

	seq = feed_cache_fill_begin();
	PushActiveSnapshot(GetTransactionSnapshot());
	feed_spi_connect();
	got = feed_spi_exec(&post_rows_plan, values, NULL, true, 0);
	for (uint64 r = 0; r < got; r++)
	{
		FeedCachePost post;
		bool		isnull;
		Datum		body;
		MemoryContext old;

		post.post_id = feed_spi_int64(r, 1, &isnull);
		post.author_id = feed_spi_int64(r, 2, &isnull);
		post.repost_of = feed_spi_int64(r, 3, &isnull);
		body = feed_spi_datum(r, 4, &post.body_null);
		post.created_at = DatumGetTimestampTz(feed_spi_datum(r, 5, &isnull));
		post.deleted = feed_spi_bool(r, 6, &isnull);
		post.like_count = feed_spi_int64(r, 7, &isnull);
		post.body_len = 0;
		post.body = NULL;
		post.body_text = NULL;
		old = MemoryContextSwitchTo(keep);
		if (!post.body_null)
		{
			text	   *t = DatumGetTextPP(body);

			post.body_len = VARSIZE_ANY_EXHDR(t);
			post.body = pnstrdup(VARDATA_ANY(t), post.body_len);
		}
		MemoryContextSwitchTo(old);
		feed_cache_post_put(&post, seq);
		for (int i = 0; i < n; i++)
		{
			if (!rows[i].have_orig && rows[i].e.orig_id == post.post_id)
			{
				rows[i].orig = post;
				rows[i].have_orig = true;
			}
			if (!rows[i].have_entry && rows[i].e.entry_id == post.post_id)
			{
				rows[i].entry = post;
				rows[i].have_entry = true;
			}
		}
	}
	feed_spi_finish();
	PopActiveSnapshot();
}
static void
emit(ReturnSetInfo *rsinfo, int64 entry_id, const FeedCachePost *orig, const FeedCachePost *entry)
{
	Datum		values[TIMELINE_COLS];
	bool		nulls[TIMELINE_COLS];

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int64GetDatum(entry_id);
	values[1] = Int64GetDatum(orig->post_id);
	values[2] = Int64GetDatum(orig->author_id);
	if (entry != NULL)
		values[3] = Int64GetDatum(entry->author_id);
	else
		nulls[3] = true;
	if (orig->body_null)
		nulls[4] = true;
	else if (orig->body_text != NULL)
		values[4] = PointerGetDatum(orig->body_text);
	else
		values[4] = PointerGetDatum(cstring_to_text_with_len(orig->body, orig->body_len));
	values[5] = TimestampTzGetDatum(orig->created_at);
	values[6] = Int64GetDatum(orig->like_count);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Work space of serve_cached, allocated once per backend.  A cached read
 * must not allocate much per call: the per-query memory is freed at the end
 * of every statement, and when it crosses glibc's trim threshold each call
 * grows the heap (brk, page faults, zeroing) and shrinks it again.  perf
 * caught exactly that twice (a third of a cached read, then, with 15 kB more
 * per call, half of it).
 */
typedef struct ServeSpace
{
	PageRow		rows[FEED_CACHE_WINDOW];
	int64		missing[2 * FEED_CACHE_WINDOW];
	int64		ids[2 * FEED_CACHE_WINDOW];
	FeedCachePost posts[2 * FEED_CACHE_WINDOW];
	bool		found[2 * FEED_CACHE_WINDOW];
	char		texts[2 * FEED_CACHE_WINDOW * FEED_CACHE_TEXT_SLOT];	/* body datums */
} ServeSpace;

static ServeSpace *serve_space = NULL;

/*
 * Serves a page whose entries came from a cached window.  False (nothing
 * emitted) when a post on it is deleted or gone: the window is then out of
 * date, as a delete reaches windows only through their post rows.
 */
static bool
serve_cached(ReturnSetInfo *rsinfo, const FeedCacheEntry *page, int npage)
{
	PageRow    *rows;
	int64	   *missing;
	int			nmissing = 0;
	int64	   *ids;
	FeedCachePost *posts;
	bool	   *found;
	int			nids = 0;

	Assert(npage <= FEED_CACHE_WINDOW);
	if (serve_space == NULL)
		serve_space = MemoryContextAlloc(TopMemoryContext, sizeof(ServeSpace));
	rows = serve_space->rows;
	missing = serve_space->missing;
	ids = serve_space->ids;
	posts = serve_space->posts;
	found = serve_space->found;
	memset(rows, 0, npage * sizeof(PageRow));

	/* every row of the page (and the repost rows) in one batch */
	for (int i = 0; i < npage; i++)
	{
		rows[i].e = page[i];
		ids[nids++] = page[i].orig_id;
		if (page[i].entry_id != page[i].orig_id)
			ids[nids++] = page[i].entry_id;
	}
	feed_cache_posts_get(nids, ids, posts, found, serve_space->texts);
	nids = 0;
	for (int i = 0; i < npage; i++)
	{
		PageRow    *r = &rows[i];

		r->have_orig = found[nids];
		r->orig = posts[nids++];
		if (!r->have_orig)
			missing[nmissing++] = r->e.orig_id;
		if (r->e.entry_id != r->e.orig_id)
		{
			r->have_entry = found[nids];
			r->entry = posts[nids++];
			if (!r->have_entry)
				missing[nmissing++] = r->e.entry_id;
		}
	}
	if (nmissing > 0)
		fetch_posts(rows, npage, missing, nmissing);

	for (int i = 0; i < npage; i++)
	{
		PageRow    *r = &rows[i];
		bool		repost = r->e.entry_id != r->e.orig_id;

		if (!r->have_orig || r->orig.deleted ||
			(repost && (!r->have_entry || r->entry.deleted)))
			return false;
	}
	for (int i = 0; i < npage; i++)
		emit(rsinfo, rows[i].e.entry_id, &rows[i].orig,
			 rows[i].e.entry_id != rows[i].e.orig_id ? &rows[i].entry : NULL);
	return true;
}

/*
 * Builds viewer's window from the tables under a fresh snapshot, installs
 * it with its post rows, and serves the first page from it.
 */
static void
build_and_serve(ReturnSetInfo *rsinfo, int64 viewer, int32 lim)
{
	/* whose posts the window shows, and which of them are pulled */
	static FeedPlan authors_plan = {
		"cache_window_authors",
		"SELECT a.author_id, EXISTS (SELECT 1 FROM feed.pull_authors pa WHERE pa.author_id = a.author_id) "
		"FROM (SELECT $1::bigint AS author_id UNION ALL "
		"      SELECT f.followee_id FROM feed.follows f WHERE f.follower_id = $1 AND f.state = 'active') a",
		1, {INT8OID}
	};
	HomeSink	sink;
	FeedCacheEntry *entries;
	int64	   *authors;
	bool	   *pulled;
	uint64		nauthors;
	uint64		seq;
	Datum		values[1];
	bool		isnull;

	memset(&sink, 0, sizeof(sink));
	sink.keep = CurrentMemoryContext;
	sink.rows = palloc(FEED_CACHE_WINDOW * TIMELINE_COLS * sizeof(Datum));
	sink.nulls = palloc(FEED_CACHE_WINDOW * TIMELINE_COLS * sizeof(bool));
	entries = palloc(FEED_CACHE_WINDOW * sizeof(FeedCacheEntry));

	seq = feed_cache_fill_begin();
	PushActiveSnapshot(GetTransactionSnapshot());
	feed_spi_connect();
	(void) feed_graph_require_user(viewer, "viewer");
	home_from_tables(viewer, FEED_CACHE_WINDOW, PG_INT64_MAX, &sink);
	values[0] = Int64GetDatum(viewer);
	nauthors = feed_spi_exec(&authors_plan, values, NULL, true, 0);
	authors = palloc(nauthors * sizeof(int64));
	pulled = palloc(nauthors * sizeof(bool));
	for (uint64 i = 0; i < nauthors; i++)
	{
		authors[i] = feed_spi_int64(i, 1, &isnull);
		pulled[i] = feed_spi_bool(i, 2, &isnull);
	}
	feed_spi_finish();
	PopActiveSnapshot();

	for (int i = 0; i < sink.n; i++)
	{
		Datum	   *v = &sink.rows[i * TIMELINE_COLS];
		bool	   *nl = &sink.nulls[i * TIMELINE_COLS];
		FeedCachePost orig;

		entries[i].entry_id = DatumGetInt64(v[0]);
		entries[i].orig_id = DatumGetInt64(v[1]);
		orig.post_id = entries[i].orig_id;
		orig.author_id = DatumGetInt64(v[2]);
		orig.repost_of = 0;
		orig.created_at = DatumGetTimestampTz(v[5]);
		orig.like_count = DatumGetInt64(v[6]);
		orig.deleted = false;
		orig.body_null = nl[4];
		orig.body_len = nl[4] ? 0 : VARSIZE_ANY_EXHDR(DatumGetPointer(v[4]));
		orig.body = nl[4] ? NULL : VARDATA_ANY(DatumGetPointer(v[4]));
		orig.body_text = NULL;

		/*
		 * Post rows only for the page served: the rest of the window may
		 * never be read, and caching it would evict hotter rows.
		 */
		if (i >= lim)
			continue;
		feed_cache_post_put(&orig, seq);
		if (!nl[3])
		{
			FeedCachePost entry;

			memset(&entry, 0, sizeof(entry));
			entry.post_id = entries[i].entry_id;
			entry.author_id = DatumGetInt64(v[3]);
			entry.repost_of = entries[i].orig_id;
			entry.body_null = true;
			feed_cache_post_put(&entry, seq);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);
	}
	feed_cache_feed_install(viewer, entries, sink.n, sink.n < FEED_CACHE_WINDOW,
							authors, pulled, (int) nauthors);
}

#define VERIFY_SAMPLE 1000

static void
note_bad(StringInfo sample, int64 bad, const char *key, int64 id)
{
	if (bad > 10)
		return;
	appendStringInfo(sample, "%s{\"%s\": %lld}", bad > 1 ? ", " : "", key, (long long) id);
}

/* Does the cached window of user equal the window read from the tables? */
static bool
window_matches(int64 user, const FeedCacheEntry *cached, int n, bool complete,
			   bool *changing)
{
	HomeSink	sink;
	FeedCacheEntry *again = palloc(FEED_CACHE_WINDOW * sizeof(FeedCacheEntry));
	int			n2;
	bool		complete2;
	bool		same;

	memset(&sink, 0, sizeof(sink));
	sink.keep = CurrentMemoryContext;
	sink.rows = palloc(FEED_CACHE_WINDOW * TIMELINE_COLS * sizeof(Datum));
	sink.nulls = palloc(FEED_CACHE_WINDOW * TIMELINE_COLS * sizeof(bool));
	PushActiveSnapshot(GetTransactionSnapshot());
	feed_spi_connect();
	home_from_tables(user, FEED_CACHE_WINDOW, PG_INT64_MAX, &sink);
	feed_spi_finish();
	PopActiveSnapshot();

	/* a window that changed meanwhile is being written to: not judged */
	*changing = !feed_cache_feed_peek(user, again, &n2, &complete2) || n2 != n ||
		memcmp(again, cached, n * sizeof(FeedCacheEntry)) != 0;
	if (*changing)
		return true;
	same = complete ? sink.n == n : sink.n >= n;
	for (int i = 0; same && i < n; i++)
		same = DatumGetInt64(sink.rows[i * TIMELINE_COLS]) == cached[i].entry_id &&
			DatumGetInt64(sink.rows[i * TIMELINE_COLS + 1]) == cached[i].orig_id;
	return same;
}

int64
feed_timeline_verify_cache(char **sample)
{
	int64	   *ids = palloc(VERIFY_SAMPLE * sizeof(int64));
	FeedCacheEntry *entries = palloc(FEED_CACHE_WINDOW * sizeof(FeedCacheEntry));
	int			nids;
	int64		bad = 0;
	PageRow    *rows;
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	*sample = buf.data;
	if (!feed_cache_usable())
	{
		appendStringInfoChar(&buf, ']');
		*sample = buf.data;
		return 0;
	}

	nids = feed_cache_sample(true, ids, VERIFY_SAMPLE);
	for (int i = 0; i < nids; i++)
	{
		int			n;
		bool		complete;
		bool		changing;

		CHECK_FOR_INTERRUPTS();
		if (feed_cache_feed_peek(ids[i], entries, &n, &complete) &&
			!window_matches(ids[i], entries, n, complete, &changing) && !changing)
		{
			bad++;
			note_bad(&buf, bad, "user_id", ids[i]);
		}
	}

	/* post rows: read the sampled ones from the tables and compare */
	nids = feed_cache_sample(false, ids, VERIFY_SAMPLE);
	rows = palloc0(Max(nids, 1) * sizeof(PageRow));
	for (int i = 0; i < nids; i++)
	{
		rows[i].e.entry_id = ids[i];
		rows[i].e.orig_id = -1;
		/* the cached row before the table read, in "orig" */
		rows[i].have_orig = feed_cache_post_get(ids[i], &rows[i].orig,
												palloc(FEED_CACHE_BODY_MAX));
	}
	if (nids > 0)
		fetch_posts(rows, nids, ids, nids);
	for (int i = 0; i < nids; i++)
	{
		FeedCachePost cached;
		char	   *body = palloc(FEED_CACHE_BODY_MAX);
		FeedCachePost *t = &rows[i].entry;

		if (!rows[i].have_orig || !feed_cache_post_get(ids[i], &cached, body) ||
			cached.like_count != rows[i].orig.like_count ||
			cached.deleted != rows[i].orig.deleted ||
			cached.body_len != rows[i].orig.body_len)
			continue;			/* changed or evicted meanwhile */
		if (!rows[i].have_entry ? !cached.deleted :
			(cached.deleted != t->deleted || cached.body_null != t->body_null ||
			 cached.body_len != t->body_len ||
			 (cached.body_len > 0 && memcmp(cached.body, t->body, cached.body_len) != 0) ||
			 (cached.repost_of == 0 && cached.like_count != t->like_count)))
		{
			bad++;
			note_bad(&buf, bad, "post_id", ids[i]);
		}
	}
	appendStringInfoChar(&buf, ']');
	*sample = buf.data;
	return bad;
}

/*
 * feed.home(viewer bigint, lim integer DEFAULT 50, before bigint DEFAULT NULL)
 *
 * From the cache when the viewer's window covers the page and its posts are
 * cached; a miss on the first page builds the window (one backend per feed),
 * anything else reads the tables.
 */
Datum
feed_home(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		viewer;
	int32		lim;
	int64		cursor;
	HomeSink	sink;

	feed_check_preloaded();
	viewer = feed_arg_int64(fcinfo, 0, "viewer");
	lim = feed_arg_limit(fcinfo, 1);
	cursor = feed_arg_cursor(fcinfo, 2);
	feed_auth_check_actor(viewer, FEED_ACCESS_READ);
	/* the executor's row type: looking it up in pg_proc costs a cached read 1% */
	SetSingleFuncCall(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	if (lim <= FEED_CACHE_WINDOW && feed_cache_usable())
	{
		FeedCacheEntry *page = palloc(lim * sizeof(FeedCacheEntry));
		int			npage;
		bool		stale;

		switch (feed_cache_feed_lookup(viewer, cursor, lim, page, &npage, &stale))
		{
			case FEED_CACHE_HIT:
				if (serve_cached(rsinfo, page, npage))
				{
					feed_activity_note(viewer, false);
					return (Datum) 0;
				}
				feed_cache_feed_discard(viewer);
				break;
			case FEED_CACHE_BUILD:
				build_and_serve(rsinfo, viewer, lim);
				return (Datum) 0;
			case FEED_CACHE_UNCACHED:
				break;
		}
	}

	memset(&sink, 0, sizeof(sink));
	sink.rsinfo = rsinfo;
	feed_spi_connect();
	(void) feed_graph_require_user(viewer, "viewer");
	home_from_tables(viewer, lim, cursor, &sink);
	feed_spi_finish();

	return (Datum) 0;
}

/*
 * feed.user_posts(viewer bigint, author bigint, lim integer DEFAULT 50,
 *				   before bigint DEFAULT NULL)
 *
 * The author's own posts and reposts visible to the viewer, one row each.
 * A private author the viewer does not follow, or a block either way, gives
 * no rows rather than an error, so a profile page needs no special case.
 */
Datum
feed_user_posts(PG_FUNCTION_ARGS)
{
	static FeedPlan author_visible_plan = {
		"author_visible",
		"SELECT $1 = $2 OR (" SQL_NOT_BLOCKED("$2") " AND (NOT $3 OR " SQL_FOLLOWS("$2") "))",
		3, {INT8OID, INT8OID, BOOLOID}
	};
	static FeedPlan posts_plan = {
		"user_posts",
		"SELECT e.post_id, o.post_id, o.author_id, "
		"       CASE WHEN e.repost_of IS NOT NULL THEN e.author_id END, o.body, o.created_at, "
		FEED_SQL_LIKE_COUNT("o.post_id") " "
		"FROM feed.posts e "
		"JOIN feed.posts o ON o.post_id = coalesce(e.repost_of, e.post_id) "
		"JOIN feed.users ou ON ou.user_id = o.author_id "
		"WHERE e.author_id = $2 AND e.post_id < $3 AND " SQL_GROUP_VISIBLE " "
		"ORDER BY e.post_id DESC LIMIT $4",
		4, {INT8OID, INT8OID, INT8OID, INT4OID}
	};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		viewer;
	int64		author;
	int32		lim;
	int64		before;
	bool		author_private;
	Datum		values[4];
	bool		isnull;

	feed_check_preloaded();
	viewer = feed_arg_int64(fcinfo, 0, "viewer");
	author = feed_arg_int64(fcinfo, 1, "author");
	lim = feed_arg_limit(fcinfo, 2);
	before = feed_arg_cursor(fcinfo, 3);
	feed_auth_check_actor(viewer, FEED_ACCESS_READ);
	SetSingleFuncCall(fcinfo, 0);

	feed_spi_connect();
	(void) feed_graph_require_user(viewer, "viewer");
	author_private = feed_graph_require_user(author, "author");

	values[0] = Int64GetDatum(viewer);
	values[1] = Int64GetDatum(author);
	values[2] = BoolGetDatum(author_private);
	feed_spi_exec(&author_visible_plan, values, NULL, true, 1);
	if (feed_spi_bool(0, 1, &isnull))
	{
		uint64		n;

		values[2] = Int64GetDatum(before);
		values[3] = Int32GetDatum(lim);
		n = feed_spi_exec(&posts_plan, values, NULL, true, 0);
		for (uint64 row = 0; row < n; row++)
			put_row(rsinfo, row);
	}
	feed_spi_finish();

	return (Datum) 0;
}
