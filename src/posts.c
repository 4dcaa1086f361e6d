/*-------------------------------------------------------------------------
 *
 * posts.c
 *	  Publish, repost, edit, delete, like, unlike.
 *
 * Publishing is O(1) for the author whatever the audience: one statement
 * writes the post, the author's own inbox entry, a durable fanout job
 * (transactional outbox, consumed by fanout.c and the workers, woken when
 * the transaction commits) and a post-count delta; or, for celebrities and
 * authors in pull mode, the post and a widened pulled range.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "utils/builtins.h"

#include "cache.h"
#include "auth.h"
#include "feed.h"
#include "graph.h"
#include "ids.h"
#include "probe.h"
#include "spi_plans.h"
#include "validate.h"
#include "workers.h"

PG_FUNCTION_INFO_V1(feed_publish);
PG_FUNCTION_INFO_V1(feed_repost);
PG_FUNCTION_INFO_V1(feed_edit_post);
PG_FUNCTION_INFO_V1(feed_delete_post);
PG_FUNCTION_INFO_V1(feed_like);
PG_FUNCTION_INFO_V1(feed_unlike);

/*
 * The two ways a post just inserted (CTE "p": post_id, author_id,
 * repost_of) is delivered, each with the post-count delta:
 *
 * push: the author's own inbox entry and a fanout job for the followers;
 * pull: the author's pulled range is widened to include it, and readers
 *		 pull it at read time (celebrities, authors in pull mode).  No inbox
 *		 row is written, the author's own included.
 */
#define SQL_COUNT_POST \
	"c AS (INSERT INTO feed.counter_deltas (kind, target, delta) " \
	"      SELECT 'p', author_id, 1 FROM p) "

#define SQL_DELIVER_PUSH \
	"i AS (INSERT INTO feed.inbox (user_id, entry_id, post_id) " \
	"      SELECT author_id, post_id, coalesce(repost_of, post_id) FROM p), " \
	"j AS (INSERT INTO feed.fanout_jobs (post_id, orig_id, author_id) " \
	"      SELECT post_id, coalesce(repost_of, post_id), author_id FROM p), " \
	SQL_COUNT_POST "SELECT post_id, coalesce(repost_of, post_id), false FROM p"

#define SQL_DELIVER_PULL \
	"pa AS (INSERT INTO feed.pull_authors AS pa (author_id, first_post_id, last_post_id) " \
	"       SELECT author_id, post_id, post_id FROM p " \
	"       ON CONFLICT (author_id) DO UPDATE SET " \
	"         first_post_id = least(pa.first_post_id, excluded.first_post_id), " \
	"         last_post_id = greatest(pa.last_post_id, excluded.last_post_id) " \
	"       RETURNING (xmax = 0) AS fresh), " \
	SQL_COUNT_POST "SELECT post_id, coalesce(repost_of, post_id), (SELECT fresh FROM pa) FROM p"

#define SQL_INSERT_PUBLISH \
	"WITH p AS (INSERT INTO feed.posts (post_id, author_id, body, idempotency_key, last_region) " \
	"           VALUES ($1, $2, $3, $4, $5) " \
	"           ON CONFLICT (author_id, idempotency_key) DO NOTHING " \
	"           RETURNING post_id, author_id, repost_of), "

#define SQL_INSERT_REPOST \
	"WITH p AS (INSERT INTO feed.posts (post_id, author_id, repost_of, idempotency_key, last_region) " \
	"           VALUES ($1, $2, $3, $4, $5) " \
	"           ON CONFLICT (author_id, repost_of) WHERE repost_of IS NOT NULL AND deleted_at IS NULL " \
	"           DO NOTHING " \
	"           RETURNING post_id, author_id, repost_of), "

static FeedPlan publish_push_plan = {
	"publish_push", SQL_INSERT_PUBLISH SQL_DELIVER_PUSH,
	5, {INT8OID, INT8OID, TEXTOID, TEXTOID, INT2OID}
};
static FeedPlan publish_pull_plan = {
	"publish_pull", SQL_INSERT_PUBLISH SQL_DELIVER_PULL,
	5, {INT8OID, INT8OID, TEXTOID, TEXTOID, INT2OID}
};
static FeedPlan repost_push_plan = {
	"repost_push", SQL_INSERT_REPOST SQL_DELIVER_PUSH,
	5, {INT8OID, INT8OID, INT8OID, TEXTOID, INT2OID}
};
static FeedPlan repost_pull_plan = {
	"repost_pull", SQL_INSERT_REPOST SQL_DELIVER_PULL,
	5, {INT8OID, INT8OID, INT8OID, TEXTOID, INT2OID}
};

/*
 * Is this author's next post pulled rather than fanned out?  Above the
 * celebrity threshold (active followers, exact) or in backlog pull mode.
 * Either answer keeps feeds exact: reads merge pulled ranges with inboxes.
 */
static bool
author_is_pulled(int64 author)
{
	static FeedPlan pulled_plan = {
		"author_is_pulled",
		"SELECT (coalesce((SELECT follower_count FROM feed.user_counters WHERE user_id = $1), 0) "
		"      + coalesce((SELECT sum(delta) FROM feed.counter_deltas "
		"                  WHERE target = $1 AND kind = 'r'), 0)) > $2 "
		"    OR EXISTS (SELECT 1 FROM feed.fanout_pull_mode WHERE author_id = $1 AND until > now())",
		2, {INT8OID, INT8OID}
	};
	Datum		values[2] = {Int64GetDatum(author), Int64GetDatum(feed_celebrity_threshold)};
	bool		isnull;

	feed_spi_exec(&pulled_plan, values, NULL, false, 1);
	return feed_spi_bool(0, 1, &isnull);
}

/* Insert and deliver a post; returns its id, or 0 on a conflict. */
static int64
insert_post(FeedPlan *push, FeedPlan *pull, int64 author, Datum *values, const char *nulls)
{
	bool		pulled = author_is_pulled(author);
	bool		isnull;
	int64		post_id;

	if (feed_spi_exec(pulled ? pull : push, values, nulls, false, 0) != 1)
		return 0;
	post_id = feed_spi_int64(0, 1, &isnull);
	if (pulled)
	{
		/* a newly pulled author changes which authors any feed pulls */
		feed_cache_pull_published(author, feed_spi_bool(0, 3, &isnull));
	}
	else
	{
		int64		orig_id = feed_spi_int64(0, 2, &isnull);

		/* the author's own inbox entry; followers get theirs from fanout */
		feed_cache_feed_append(author, post_id, orig_id);
		feed_cache_fanout_queued(post_id, orig_id, author);
		feed_workers_wake_at_commit();
	}
	return post_id;
}

#define SQL_POST_LOOKUP \
	"SELECT e.author_id, e.repost_of IS NOT NULL, e.deleted_at IS NOT NULL, " \
	"       o.post_id, o.author_id, o.deleted_at IS NOT NULL, ou.is_private " \
	"FROM feed.posts e " \
	"JOIN feed.posts o ON o.post_id = coalesce(e.repost_of, e.post_id) " \
	"JOIN feed.users ou ON ou.user_id = o.author_id " \
	"WHERE e.post_id = $1"

typedef struct PostInfo
{
	int64		post_id;
	int64		author_id;
	bool		is_repost;
	bool		deleted;
	int64		orig_id;		/* the original (post_id itself if not a repost) */
	int64		orig_author;
	bool		orig_deleted;
	bool		orig_private;	/* the original's author is private */
} PostInfo;

static FeedPlan post_lookup_plan = {
	"post_lookup", SQL_POST_LOOKUP, 1, {INT8OID}
};

/* edit and delete lock the row so a concurrent edit/delete waits */
static FeedPlan post_lock_plan = {
	"post_lock", SQL_POST_LOOKUP " FOR UPDATE OF e", 1, {INT8OID}
};

static FeedPlan key_lookup_plan = {
	"idempotency_key_lookup",
	"SELECT post_id, repost_of FROM feed.posts WHERE author_id = $1 AND idempotency_key = $2",
	2, {INT8OID, TEXTOID}
};

static void
lookup_post(int64 post_id, bool for_update, PostInfo *info)
{
	Datum		values[1] = {Int64GetDatum(post_id)};
	bool		isnull;

	if (feed_spi_exec(for_update ? &post_lock_plan : &post_lookup_plan,
					  values, NULL, false, 1) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("post %lld does not exist", (long long) post_id)));
	info->post_id = post_id;
	info->author_id = feed_spi_int64(0, 1, &isnull);
	info->is_repost = feed_spi_bool(0, 2, &isnull);
	info->deleted = feed_spi_bool(0, 3, &isnull);
	info->orig_id = feed_spi_int64(0, 4, &isnull);
	info->orig_author = feed_spi_int64(0, 5, &isnull);
	info->orig_deleted = feed_spi_bool(0, 6, &isnull);
	info->orig_private = feed_spi_bool(0, 7, &isnull);
}

static void
require_live(const PostInfo *info, const char *action)
{
	if (info->deleted || info->orig_deleted)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s post %lld: it is deleted", action, (long long) info->post_id),
				 info->deleted ? 0 :
				 errdetail("It is a repost of post %lld, which is deleted.",
						   (long long) info->orig_id)));
}

static void
raise_not_visible(int64 user_id, const PostInfo *info, const char *action)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("user %lld cannot %s post %lld: it is not visible to them",
					(long long) user_id, action, (long long) info->post_id),
			 errdetail("A block separates them, or the author is private and not followed.")));
}

/*
 * Can user_id see the original of `info` (and, for a repost, its reposter)?
 * Rules 3 and 4 of the visibility oracle: no block either way, and the
 * original's author public, the user, or actively followed.  Primary-key
 * probes under snap (probe.c), the one implementation for repost and like.
 */
static bool
visible_under(Snapshot snap, int64 user_id, const PostInfo *info)
{
	if (feed_probe_block(snap, user_id, info->orig_author) ||
		feed_probe_block(snap, info->orig_author, user_id))
		return false;
	if (info->author_id != info->orig_author &&
		(feed_probe_block(snap, user_id, info->author_id) ||
		 feed_probe_block(snap, info->author_id, user_id)))
		return false;
	return info->orig_author == user_id || !info->orig_private ||
		feed_probe_follows_active(snap, user_id, info->orig_author);
}

static void
require_visible(int64 user_id, const PostInfo *info, const char *action)
{
	bool		visible = visible_under(feed_probe_begin(), user_id, info);

	feed_probe_end();
	if (!visible)
		raise_not_visible(user_id, info, action);
}

/*
 * An idempotency key already used by this author: the same kind of call
 * returns the first post's id; a different kind is a conflict.  Returns
 * false when the key is unused.
 */
static bool
existing_for_key(int64 author, text *key, bool want_repost, int64 *post_id)
{
	Datum		values[2];
	bool		isnull;
	bool		repost_isnull;

	if (key == NULL)
		return false;
	values[0] = Int64GetDatum(author);
	values[1] = PointerGetDatum(key);
	if (feed_spi_exec(&key_lookup_plan, values, NULL, false, 1) == 0)
		return false;
	*post_id = feed_spi_int64(0, 1, &isnull);
	(void) feed_spi_int64(0, 2, &repost_isnull);
	if (want_repost == repost_isnull)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("idempotency key \"%s\" was already used by user %lld for %s",
						text_to_cstring(key), (long long) author,
						repost_isnull ? "a post" : "a repost"),
				 errdetail("Post %lld holds this key.", (long long) *post_id)));
	return true;
}

/*
 * feed.publish(author bigint, body text, idempotency_key text DEFAULT NULL) -> bigint
 */
Datum
feed_publish(PG_FUNCTION_ARGS)
{
	int64		author;
	text	   *body;
	text	   *key;
	int64		post_id;
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	feed_check_preloaded();
	author = feed_arg_int64(fcinfo, 0, "author");
	body = feed_arg_body(fcinfo, 1);
	key = feed_arg_idempotency_key(fcinfo, 2);
	feed_auth_check_actor(author, FEED_ACCESS_WRITE);

	feed_spi_connect();
	(void) feed_graph_require_user(author, "author");
	if (!existing_for_key(author, key, false, &post_id))
	{
		values[0] = Int64GetDatum(feed_ids_next());
		values[1] = Int64GetDatum(author);
		values[2] = PointerGetDatum(body);
		values[3] = PointerGetDatum(key);
		nulls[3] = key ? ' ' : 'n';
		values[4] = Int16GetDatum((int16) feed_region_id);
		post_id = insert_post(&publish_push_plan, &publish_pull_plan, author, values, nulls);
		if (post_id == 0 && !existing_for_key(author, key, false, &post_id))
			/* a concurrent retry with this key committed; it must be visible now */
			elog(ERROR, "feed: idempotency key conflict but no post holds the key");
	}
	feed_spi_finish();

	PG_RETURN_INT64(post_id);
}

/*
 * feed.repost(reposter bigint, post_id bigint, idempotency_key text DEFAULT NULL) -> bigint
 *
 * A repost always points at the original, and a user has at most one live
 * repost of an original: repeating returns it.
 */
Datum
feed_repost(PG_FUNCTION_ARGS)
{
	static FeedPlan live_repost_plan = {
		"live_repost",
		"SELECT post_id FROM feed.posts "
		"WHERE author_id = $1 AND repost_of = $2 AND deleted_at IS NULL",
		2, {INT8OID, INT8OID}
	};
	int64		reposter;
	int64		target;
	text	   *key;
	int64		post_id;
	PostInfo	info;
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;

	feed_check_preloaded();
	reposter = feed_arg_int64(fcinfo, 0, "reposter");
	target = feed_arg_int64(fcinfo, 1, "post_id");
	key = feed_arg_idempotency_key(fcinfo, 2);
	feed_auth_check_actor(reposter, FEED_ACCESS_WRITE);

	feed_spi_connect();
	(void) feed_graph_require_user(reposter, "reposter");
	lookup_post(target, false, &info);
	if (existing_for_key(reposter, key, true, &post_id))
	{
		feed_spi_finish();
		PG_RETURN_INT64(post_id);
	}
	require_live(&info, "repost");
	if (info.orig_private)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot repost post %lld: its author is private",
						(long long) info.orig_id),
				 errdetail("Posts of private accounts cannot be reposted, not even by their author.")));
	require_visible(reposter, &info, "repost");

	values[0] = Int64GetDatum(feed_ids_next());
	values[1] = Int64GetDatum(reposter);
	values[2] = Int64GetDatum(info.orig_id);
	values[3] = PointerGetDatum(key);
	nulls[3] = key ? ' ' : 'n';
	values[4] = Int16GetDatum((int16) feed_region_id);
	post_id = insert_post(&repost_push_plan, &repost_pull_plan, reposter, values, nulls);
	if (post_id == 0)
	{
		values[0] = Int64GetDatum(reposter);
		values[1] = Int64GetDatum(info.orig_id);
		if (feed_spi_exec(&live_repost_plan, values, NULL, false, 1) != 1)
			elog(ERROR, "feed: repost conflict but no live repost found");
		post_id = feed_spi_int64(0, 1, &isnull);
	}
	feed_spi_finish();

	PG_RETURN_INT64(post_id);
}

static void
require_author(int64 author, const PostInfo *info, const char *action)
{
	if (info->author_id != author)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("user %lld cannot %s post %lld: it belongs to user %lld",
						(long long) author, action, (long long) info->post_id,
						(long long) info->author_id)));
}

/*
 * feed.edit_post(author bigint, post_id bigint, body text) -> boolean
 */
Datum
feed_edit_post(PG_FUNCTION_ARGS)
{
	static FeedPlan edit_plan = {
		"edit_post",
		"UPDATE feed.posts SET body = $2, updated_at = now(), last_region = $3 "
		"WHERE post_id = $1 AND body IS DISTINCT FROM $2",
		3, {INT8OID, TEXTOID, INT2OID}
	};
	int64		author;
	int64		post_id;
	text	   *body;
	PostInfo	info;
	Datum		values[3];
	bool		changed;

	feed_check_preloaded();
	author = feed_arg_int64(fcinfo, 0, "author");
	post_id = feed_arg_int64(fcinfo, 1, "post_id");
	body = feed_arg_body(fcinfo, 2);
	feed_auth_check_actor(author, FEED_ACCESS_WRITE);

	feed_spi_connect();
	(void) feed_graph_require_user(author, "author");
	lookup_post(post_id, true, &info);
	require_author(author, &info, "edit");
	if (info.deleted)
		require_live(&info, "edit");
	if (info.is_repost)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot edit post %lld: it is a repost", (long long) post_id),
				 errhint("Edit the original post %lld instead, as its author.",
						 (long long) info.orig_id)));
	values[0] = Int64GetDatum(post_id);
	values[1] = PointerGetDatum(body);
	values[2] = Int16GetDatum((int16) feed_region_id);
	changed = feed_spi_exec(&edit_plan, values, NULL, false, 0) > 0;
	if (changed)
		feed_cache_post_changed(post_id);
	feed_spi_finish();

	PG_RETURN_BOOL(changed);
}

/*
 * feed.delete_post(author bigint, post_id bigint) -> boolean
 *
 * A tombstone: the row stays (replication and idempotency keys need it), the
 * body goes.  Every read filters deleted posts, so the post disappears from
 * all feeds when this commits; inbox entries are cleaned lazily.
 */
Datum
feed_delete_post(PG_FUNCTION_ARGS)
{
	static FeedPlan delete_plan = {
		"delete_post",
		"WITH p AS (UPDATE feed.posts SET deleted_at = now(), body = NULL, updated_at = now(), "
		"           last_region = $2 "
		"           WHERE post_id = $1 AND deleted_at IS NULL RETURNING author_id), "
		"c AS (INSERT INTO feed.counter_deltas (kind, target, delta) SELECT 'p', author_id, -1 FROM p) "
		"SELECT count(*) FROM p",
		2, {INT8OID, INT2OID}
	};
	int64		author;
	int64		post_id;
	PostInfo	info;
	Datum		values[2];
	bool		isnull;
	bool		deleted;

	feed_check_preloaded();
	author = feed_arg_int64(fcinfo, 0, "author");
	post_id = feed_arg_int64(fcinfo, 1, "post_id");
	feed_auth_check_actor(author, FEED_ACCESS_WRITE);

	feed_spi_connect();
	(void) feed_graph_require_user(author, "author");
	lookup_post(post_id, true, &info);
	require_author(author, &info, "delete");
	values[0] = Int64GetDatum(post_id);
	values[1] = Int16GetDatum((int16) feed_region_id);
	feed_spi_exec(&delete_plan, values, NULL, false, 0);
	deleted = feed_spi_int64(0, 1, &isnull) > 0;
	if (deleted)
		feed_cache_post_changed(post_id);	/* windows find out when served */
	feed_spi_finish();

	PG_RETURN_BOOL(deleted);
}

/*
 * Like and unlike are the hottest writes there are.  Their checks (user,
 * post, liveness, visibility: the rules of lookup_post, require_live and
 * visible_under, with the same errors in the same order) are primary-key
 * probes without the executor (probe.c), under one fresh snapshot; only the
 * write itself is a statement.  A concurrent delete or block that commits
 * between the probes and the write is the race every check-then-write has
 * here (the row locks of the foreign keys do not cover deleted_at): the
 * like is then like one made just before the delete.
 */
static void
like_target(int64 user_id, int64 post_id, bool check_visible, PostInfo *info)
{
	Snapshot	snap = feed_probe_begin();
	FeedProbePost entry;
	FeedProbePost orig;

	if (!feed_probe_user(snap, user_id, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("user %lld does not exist", (long long) user_id),
				 errdetail("Argument \"%s\" names no row of feed.users.", "user_id")));
	if (!feed_probe_post(snap, post_id, &entry))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("post %lld does not exist", (long long) post_id)));

	info->post_id = post_id;
	info->author_id = entry.author_id;
	info->is_repost = entry.repost_of != 0;
	info->deleted = entry.deleted;
	info->orig_id = info->is_repost ? entry.repost_of : post_id;
	if (!check_visible)
	{
		feed_probe_end();
		return;
	}

	/* the foreign keys guarantee the original and its author */
	if (info->is_repost && !feed_probe_post(snap, info->orig_id, &orig))
		elog(ERROR, "feed: original %lld of repost %lld is missing",
			 (long long) info->orig_id, (long long) post_id);
	if (!info->is_repost)
		orig = entry;
	info->orig_author = orig.author_id;
	info->orig_deleted = orig.deleted;
	if (!feed_probe_user(snap, info->orig_author, &info->orig_private))
		elog(ERROR, "feed: author %lld of post %lld is missing",
			 (long long) info->orig_author, (long long) info->orig_id);

	require_live(info, "like");
	if (!visible_under(snap, user_id, info))
		raise_not_visible(user_id, info, "like");
	feed_probe_end();
}

/*
 * feed.like(user_id bigint, post_id bigint) -> boolean
 *
 * Likes belong to the original: liking a repost likes what it shows.
 */
Datum
feed_like(PG_FUNCTION_ARGS)
{
	static FeedPlan like_plan = {
		"like",
		"INSERT INTO feed.likes (post_id, user_id, last_region) VALUES ($1, $2, $3) "
		"ON CONFLICT DO NOTHING",
		3, {INT8OID, INT8OID, INT2OID}
	};
	int64		user_id;
	int64		post_id;
	PostInfo	info;
	Datum		values[3];
	bool		changed;

	feed_check_preloaded();
	user_id = feed_arg_int64(fcinfo, 0, "user_id");
	post_id = feed_arg_int64(fcinfo, 1, "post_id");
	feed_auth_check_actor(user_id, FEED_ACCESS_WRITE);

	like_target(user_id, post_id, true, &info);
	values[0] = Int64GetDatum(info.orig_id);
	values[1] = Int64GetDatum(user_id);
	values[2] = Int16GetDatum((int16) feed_region_id);
	feed_spi_connect();
	changed = feed_spi_exec(&like_plan, values, NULL, false, 0) > 0;
	feed_spi_finish();
	if (changed)
		feed_cache_like(info.orig_id, 1);

	PG_RETURN_BOOL(changed);
}

/*
 * feed.unlike(user_id bigint, post_id bigint) -> boolean
 */
Datum
feed_unlike(PG_FUNCTION_ARGS)
{
	static FeedPlan unlike_plan = {
		"unlike",
		"DELETE FROM feed.likes WHERE post_id = $1 AND user_id = $2 RETURNING folded",
		2, {INT8OID, INT8OID}
	};
	/* a folded like is in feed.post_counters: take it out with a delta */
	static FeedPlan unlike_delta_plan = {
		"unlike_delta",
		"INSERT INTO feed.counter_deltas (kind, target, delta) VALUES ('l', $1, -1)",
		1, {INT8OID}
	};
	int64		user_id;
	int64		post_id;
	PostInfo	info;
	Datum		values[2];
	bool		changed;
	bool		isnull;

	feed_check_preloaded();
	user_id = feed_arg_int64(fcinfo, 0, "user_id");
	post_id = feed_arg_int64(fcinfo, 1, "post_id");
	feed_auth_check_actor(user_id, FEED_ACCESS_WRITE);

	like_target(user_id, post_id, false, &info);
	values[0] = Int64GetDatum(info.orig_id);
	values[1] = Int64GetDatum(user_id);
	feed_spi_connect();
	changed = feed_spi_exec(&unlike_plan, values, NULL, false, 0) > 0;
	if (changed && feed_spi_bool(0, 1, &isnull))
		feed_spi_exec(&unlike_delta_plan, values, NULL, false, 0);
	feed_spi_finish();
	if (changed)
		feed_cache_like(info.orig_id, -1);

	PG_RETURN_BOOL(changed);
}
