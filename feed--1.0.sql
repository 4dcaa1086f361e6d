-- feed 1.0: storage and SQL contract.  See docs/api.md for the reference.
\echo Use "CREATE EXTENSION feed" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Replicated tables.  Every row that crosses regions carries updated_at and
-- last_region from day one; ids are region-aware (see src/ids.c).
-- ---------------------------------------------------------------------------

CREATE TABLE feed.users (
    user_id     bigint PRIMARY KEY,
    handle      text NOT NULL,
    is_private  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    last_region smallint NOT NULL DEFAULT 0,
    CONSTRAINT users_handle_format CHECK (handle ~ '^[A-Za-z0-9_]{1,32}$')
);
-- Handles are unique without regard to case: "Alice" and "alice" are one account.
CREATE UNIQUE INDEX users_handle_key ON feed.users (lower(handle));

CREATE TABLE feed.follows (
    follower_id bigint NOT NULL REFERENCES feed.users,
    followee_id bigint NOT NULL REFERENCES feed.users,
    state       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    last_region smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (follower_id, followee_id),
    CONSTRAINT follows_state_check CHECK (state IN ('active', 'pending')),
    CONSTRAINT follows_not_self CHECK (follower_id <> followee_id)
);
-- Fanout walks an author's followers in follower order; INCLUDE (state) lets
-- it do so with an index-only scan.
CREATE INDEX follows_followee_idx ON feed.follows (followee_id, follower_id) INCLUDE (state);

CREATE TABLE feed.blocks (
    blocker_id  bigint NOT NULL REFERENCES feed.users,
    blocked_id  bigint NOT NULL REFERENCES feed.users,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    last_region smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (blocker_id, blocked_id),
    CONSTRAINT blocks_not_self CHECK (blocker_id <> blocked_id)
);
CREATE INDEX blocks_blocked_idx ON feed.blocks (blocked_id, blocker_id);

CREATE TABLE feed.posts (
    post_id         bigint PRIMARY KEY,
    author_id       bigint NOT NULL REFERENCES feed.users,
    repost_of       bigint REFERENCES feed.posts,
    body            text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    idempotency_key text,
    last_region     smallint NOT NULL DEFAULT 0,
    -- A repost has no body of its own; a live original always has one.
    CONSTRAINT posts_body_shape CHECK (
        (repost_of IS NULL OR body IS NULL) AND
        (repost_of IS NOT NULL OR body IS NOT NULL OR deleted_at IS NOT NULL)),
    CONSTRAINT posts_idempotency_key UNIQUE (author_id, idempotency_key)
);
-- An author's live posts, newest first (user_posts, backfill and the pull
-- path).  Partial, so that "newest N live posts of X" is an ordered scan
-- that stops after N rows, even for authors with a long history.
CREATE INDEX posts_author_live_idx ON feed.posts (author_id, post_id) WHERE deleted_at IS NULL;
-- All reposts of an original, in id order (group minimum on the read path).
CREATE INDEX posts_repost_of_idx ON feed.posts (repost_of, post_id) WHERE repost_of IS NOT NULL;
-- One live repost per (reposter, original): makes repost idempotent under
-- concurrency and gives the read path a cheap "did a followee repost it" probe.
CREATE UNIQUE INDEX posts_live_repost_key ON feed.posts (author_id, repost_of)
    WHERE repost_of IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE feed.likes (
    post_id     bigint NOT NULL REFERENCES feed.posts,
    user_id     bigint NOT NULL REFERENCES feed.users,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    last_region smallint NOT NULL DEFAULT 0,
    -- Local, like the counters: false until the workers add the like to
    -- feed.post_counters.  A like row is its own counter delta, so a like
    -- writes one row (see docs/integrity.md).  Regions must not replicate
    -- this column (publish feed.likes with a column list without it).
    folded      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX likes_user_idx ON feed.likes (user_id, post_id);
-- The likes not yet folded: readers count them on top of the folded count,
-- the fold walks them in key order.
CREATE INDEX likes_unfolded_idx ON feed.likes (post_id, user_id) WHERE NOT folded;

-- ---------------------------------------------------------------------------
-- Local (per-region) derived state: never replicated, rebuilt from the tables.
-- ---------------------------------------------------------------------------

-- The materialised home feed.  entry_id is the delivered post (an original or
-- a repost), post_id the original it shows, so a page can be grouped without
-- a join.
--
-- Each user's inbox also holds one sentinel row with a negative entry_id,
-- -1 - horizon: every post visible to the user with an id above the horizon
-- is in the inbox, in a pending fanout job, or by an author in
-- inbox_backfill.  The sentinel is written only by the extension (at
-- create_user, moved up by trimming); deleting a user's inbox rows, or any
-- range below some id, deletes the sentinel with them, and an inbox without
-- a sentinel is never trusted: reads pull that user's feed from the tables.
-- So evicting inboxes with a plain DELETE is always safe.
CREATE TABLE feed.inbox (
    user_id  bigint NOT NULL,
    entry_id bigint NOT NULL,
    post_id  bigint NOT NULL,
    PRIMARY KEY (user_id, entry_id)
) WITH (fillfactor = 90);
CREATE UNIQUE INDEX inbox_sentinel_key ON feed.inbox (user_id) WHERE entry_id < 0;

-- Transactional outbox: written by publish/repost in the author's
-- transaction, consumed in batches of followers; next_follower is the resume
-- point, so a crash never repeats or skips a batch.
CREATE TABLE feed.fanout_jobs (
    job_id        bigserial PRIMARY KEY,
    post_id       bigint NOT NULL,
    orig_id       bigint NOT NULL,
    author_id     bigint NOT NULL,
    next_follower bigint NOT NULL DEFAULT 0,
    rows_done     bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fanout_jobs_author_idx ON feed.fanout_jobs (author_id, post_id);

-- A follow that became active: the follower's inbox still lacks the author's
-- older posts.  Reads pull them until the backfill is applied.
CREATE TABLE feed.inbox_backfill (
    user_id    bigint NOT NULL,
    author_id  bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, author_id)
);

-- Hybrid fanout: authors whose posts (in [first_post_id, last_post_id]) were
-- not, or not completely, fanned out: celebrities above
-- feed.celebrity_threshold and authors switched to pull mode by a backlog.
-- Readers pull these authors' posts in that range at read time.
CREATE TABLE feed.pull_authors (
    author_id     bigint PRIMARY KEY,
    first_post_id bigint NOT NULL,
    last_post_id  bigint NOT NULL
);

-- Authors switched to pull mode because the fanout backlog passed
-- feed.fanout_backlog_limit; new posts are pulled until "until".
CREATE TABLE feed.fanout_pull_mode (
    author_id    bigint PRIMARY KEY,
    since        timestamptz NOT NULL,
    until        timestamptz NOT NULL,
    reason       text NOT NULL,
    rows_avoided bigint NOT NULL DEFAULT 0
);

-- When each user last read their home feed (flushed from shared memory by
-- the launcher); fanout skips followers cold for feed.fanout_active_days.
CREATE TABLE feed.user_activity (
    user_id   bigint PRIMARY KEY,
    last_read timestamptz NOT NULL
);

-- Counters: writers append deltas (no hot row), readers add the pending
-- deltas to the folded value, wait_idle / workers fold them.
CREATE TABLE feed.user_counters (
    user_id         bigint PRIMARY KEY,
    follower_count  bigint NOT NULL DEFAULT 0,
    following_count bigint NOT NULL DEFAULT 0,
    post_count      bigint NOT NULL DEFAULT 0
);
CREATE TABLE feed.post_counters (
    post_id    bigint PRIMARY KEY,
    like_count bigint NOT NULL DEFAULT 0
);
-- kind: 'r' follower_count, 'g' following_count, 'p' post_count, 'l' like_count
CREATE TABLE feed.counter_deltas (
    delta_id bigserial PRIMARY KEY,
    kind     "char" NOT NULL,
    target   bigint NOT NULL,
    delta    integer NOT NULL
);
CREATE INDEX counter_deltas_target_idx ON feed.counter_deltas (target, kind);

-- ---------------------------------------------------------------------------
-- SQL contract.  All functions are C, not STRICT: an explicit NULL for an
-- argument without a default raises 22004 rather than returning NULL.
-- ---------------------------------------------------------------------------

CREATE FUNCTION feed.create_user(handle text, is_private boolean DEFAULT false)
RETURNS bigint AS 'MODULE_PATHNAME', 'feed_create_user' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.set_private(user_id bigint, is_private boolean)
RETURNS boolean AS 'MODULE_PATHNAME', 'feed_set_private' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.follow(follower bigint, followee bigint)
RETURNS text AS 'MODULE_PATHNAME', 'feed_follow' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.approve_follow(followee bigint, follower bigint)
RETURNS boolean AS 'MODULE_PATHNAME', 'feed_approve_follow' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.unfollow(follower bigint, followee bigint)
RETURNS boolean AS 'MODULE_PATHNAME', 'feed_unfollow' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.remove_follower(followee bigint, follower bigint)
RETURNS boolean AS 'MODULE_PATHNAME', 'feed_remove_follower' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.block(blocker bigint, blocked bigint)
RETURNS boolean AS 'MODULE_PATHNAME', 'feed_block' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.unblock(blocker bigint, blocked bigint)
RETURNS boolean AS 'MODULE_PATHNAME', 'feed_unblock' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.publish(author bigint, body text, idempotency_key text DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'feed_publish' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.repost(reposter bigint, post_id bigint, idempotency_key text DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'feed_repost' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.edit_post(author bigint, post_id bigint, body text)
RETURNS boolean AS 'MODULE_PATHNAME', 'feed_edit_post' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.delete_post(author bigint, post_id bigint)
RETURNS boolean AS 'MODULE_PATHNAME', 'feed_delete_post' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.like(user_id bigint, post_id bigint)
RETURNS boolean AS 'MODULE_PATHNAME', 'feed_like' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.unlike(user_id bigint, post_id bigint)
RETURNS boolean AS 'MODULE_PATHNAME', 'feed_unlike' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.home(viewer bigint, lim integer DEFAULT 50, before bigint DEFAULT NULL)
RETURNS TABLE (entry_id bigint, post_id bigint, author_id bigint, reposted_by bigint,
               body text, created_at timestamptz, like_count bigint)
AS 'MODULE_PATHNAME', 'feed_home' LANGUAGE C VOLATILE ROWS 50;

CREATE FUNCTION feed.user_posts(viewer bigint, author bigint, lim integer DEFAULT 50,
                                before bigint DEFAULT NULL)
RETURNS TABLE (entry_id bigint, post_id bigint, author_id bigint, reposted_by bigint,
               body text, created_at timestamptz, like_count bigint)
AS 'MODULE_PATHNAME', 'feed_user_posts' LANGUAGE C VOLATILE ROWS 50;

CREATE FUNCTION feed.user_stats(user_id bigint)
RETURNS TABLE (follower_count bigint, following_count bigint, post_count bigint)
AS 'MODULE_PATHNAME', 'feed_user_stats' LANGUAGE C VOLATILE ROWS 1;

CREATE FUNCTION feed.wait_idle(timeout interval DEFAULT '30 s')
RETURNS boolean AS 'MODULE_PATHNAME', 'feed_wait_idle' LANGUAGE C VOLATILE;

-- Fanout workers: one row for the launcher and one per fanout worker.
CREATE FUNCTION feed.worker_status(
    OUT worker text, OUT pid integer, OUT state text, OUT state_since timestamptz,
    OUT rows_written bigint, OUT batches bigint)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'feed_worker_status' LANGUAGE C VOLATILE;

-- Inbox rows written by fanout in the last `seconds` seconds (1..60).
CREATE FUNCTION feed.fanout_recent_rows(seconds integer DEFAULT 60)
RETURNS bigint AS 'MODULE_PATHNAME', 'feed_fanout_recent_rows' LANGUAGE C VOLATILE STRICT;

CREATE VIEW feed.fanout_status AS
SELECT (SELECT count(*) FROM feed.fanout_jobs) AS queued_jobs,
       (SELECT coalesce(sum(greatest(coalesce(uc.follower_count, 0) - j.rows_done, 0)), 0)
          FROM feed.fanout_jobs j LEFT JOIN feed.user_counters uc ON uc.user_id = j.author_id
       )::bigint AS pending_rows,
       (SELECT now() - min(created_at) FROM feed.fanout_jobs) AS oldest_pending_age,
       round(feed.fanout_recent_rows(60) / 60.0, 1) AS rows_per_second,
       (SELECT count(*) FROM feed.inbox_backfill) AS queued_backfills,
       (SELECT count(*) FROM feed.counter_deltas)
         + (SELECT count(*) FROM feed.likes WHERE NOT folded) AS queued_counter_deltas,
       (SELECT count(*) FROM feed.fanout_pull_mode WHERE until > now()) AS authors_in_pull_mode,
       (SELECT count(*) FROM feed.pull_authors) AS pulled_authors,
       (SELECT coalesce(jsonb_agg(to_jsonb(w) ORDER BY w.worker), '[]')
          FROM feed.worker_status() w) AS workers;

-- ---------------------------------------------------------------------------
-- Feed cache (shared memory): statistics and reset.  See docs/cache.md.
-- ---------------------------------------------------------------------------

CREATE FUNCTION feed.cache_stats(
    OUT hits bigint, OUT misses bigint, OUT stale_serves bigint, OUT waits bigint,
    OUT wait_timeouts bigint, OUT rebuilds bigint, OUT rebuilds_refused bigint,
    OUT evictions bigint, OUT uncached_reads bigint, OUT post_hits bigint,
    OUT post_misses bigint, OUT feeds bigint, OUT posts bigint, OUT bytes_used bigint,
    OUT bytes_total bigint, OUT hit_rate double precision)
RETURNS record AS 'MODULE_PATHNAME', 'feed_cache_stats' LANGUAGE C VOLATILE;

CREATE VIEW feed.cache_stats AS SELECT * FROM feed.cache_stats();

-- Empties the cache at once (not transactional); statistics are kept.
CREATE FUNCTION feed.cache_reset()
RETURNS void AS 'MODULE_PATHNAME', 'feed_cache_reset' LANGUAGE C VOLATILE;

-- A new installation starts with an empty cache: what a dropped one left
-- there belongs to rows that are gone.  (Without preload there is no cache.)
DO $$
BEGIN
    PERFORM feed.cache_reset();
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    NULL;
END $$;

-- ---------------------------------------------------------------------------
-- Integrity: reconciliation, verify / repair, tombstones, pg_cron schedule.
-- ---------------------------------------------------------------------------

-- Every correction made by feed.reconcile_counts (and feed.repair).
CREATE TABLE feed.reconcile_log (
    log_id    bigserial PRIMARY KEY,
    target_id bigint NOT NULL,          -- user_id, or post_id for like_count
    kind      text NOT NULL,            -- follower_count, following_count, post_count, like_count
    old_value bigint NOT NULL,
    new_value bigint NOT NULL,
    fixed_at  timestamptz NOT NULL DEFAULT now()
);

-- Findings of the scheduled feed.verify() runs (only checks with problems).
CREATE TABLE feed.verify_log (
    log_id     bigserial PRIMARY KEY,
    run_at     timestamptz NOT NULL DEFAULT now(),
    check_name text NOT NULL,
    problems   bigint NOT NULL,
    sample     jsonb
);

CREATE FUNCTION feed.reconcile_counts(batch integer DEFAULT 10000)
RETURNS TABLE (kind text, checked bigint, fixed bigint)
AS 'MODULE_PATHNAME', 'feed_reconcile_counts' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.verify()
RETURNS TABLE (check_name text, problems bigint, sample jsonb)
AS 'MODULE_PATHNAME', 'feed_verify' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.repair()
RETURNS TABLE (check_name text, fixed bigint)
AS 'MODULE_PATHNAME', 'feed_repair' LANGUAGE C VOLATILE;

-- The inbox part of repair() alone (the periodic feed_repair_inboxes job).
CREATE FUNCTION feed.repair_inboxes()
RETURNS TABLE (check_name text, fixed bigint)
AS 'MODULE_PATHNAME', 'feed_repair_inboxes' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.purge_tombstones()
RETURNS bigint AS 'MODULE_PATHNAME', 'feed_purge_tombstones' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.schedule_maintenance(every_minute boolean DEFAULT false)
RETURNS integer AS 'MODULE_PATHNAME', 'feed_schedule_maintenance' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.unschedule_maintenance()
RETURNS integer AS 'MODULE_PATHNAME', 'feed_unschedule_maintenance' LANGUAGE C VOLATILE;

-- Decodes an id into its parts; handy for operators and for tests.
CREATE FUNCTION feed.id_parts(id bigint,
                              OUT created_at timestamptz, OUT region_id integer, OUT sequence integer)
RETURNS record AS 'MODULE_PATHNAME', 'feed_id_parts' LANGUAGE C IMMUTABLE STRICT;

-- The tables are written only through the functions above.
REVOKE ALL ON ALL TABLES IN SCHEMA feed FROM PUBLIC;

-- pg_dump must carry the data of extension tables (backup/restore).
SELECT pg_catalog.pg_extension_config_dump('feed.users', '');
SELECT pg_catalog.pg_extension_config_dump('feed.follows', '');
SELECT pg_catalog.pg_extension_config_dump('feed.blocks', '');
SELECT pg_catalog.pg_extension_config_dump('feed.posts', '');
SELECT pg_catalog.pg_extension_config_dump('feed.likes', '');
SELECT pg_catalog.pg_extension_config_dump('feed.inbox', '');
SELECT pg_catalog.pg_extension_config_dump('feed.inbox_backfill', '');
SELECT pg_catalog.pg_extension_config_dump('feed.fanout_jobs', '');
SELECT pg_catalog.pg_extension_config_dump('feed.fanout_jobs_job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('feed.pull_authors', '');
SELECT pg_catalog.pg_extension_config_dump('feed.fanout_pull_mode', '');
SELECT pg_catalog.pg_extension_config_dump('feed.user_activity', '');
SELECT pg_catalog.pg_extension_config_dump('feed.user_counters', '');
SELECT pg_catalog.pg_extension_config_dump('feed.post_counters', '');
SELECT pg_catalog.pg_extension_config_dump('feed.counter_deltas', '');
SELECT pg_catalog.pg_extension_config_dump('feed.counter_deltas_delta_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('feed.reconcile_log', '');
SELECT pg_catalog.pg_extension_config_dump('feed.reconcile_log_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('feed.verify_log', '');
SELECT pg_catalog.pg_extension_config_dump('feed.verify_log_log_id_seq', '');

-- ---------------------------------------------------------------------------
-- Security: token sessions, audit trail, roles and privileges
-- (docs/security.md).  Keep this section last: it secures every function
-- defined above it.
-- ---------------------------------------------------------------------------

-- Login tokens.  Only the SHA-256 of a token is stored.  Local to this server
-- (not replicated): a region issues and checks its own tokens.
CREATE TABLE feed.tokens (
    token_id   bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES feed.users,
    token_hash bytea NOT NULL,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    issued_by  text NOT NULL,
    CONSTRAINT tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX tokens_user_idx ON feed.tokens (user_id) WHERE revoked_at IS NULL;

-- Security events, written from a shared-memory ring by the launcher (or
-- feed.audit_flush()), so events of rolled-back calls are kept.
CREATE TABLE feed.audit_log (
    audit_id        bigserial PRIMARY KEY,
    at              timestamptz NOT NULL,        -- when the event happened
    event           text NOT NULL,
    user_id         bigint,                      -- the user concerned, if known
    session_user_id bigint,                      -- the user the session was logged in as
    role            text NOT NULL,               -- the database role that made the call
    pid             integer NOT NULL,
    detail          text,
    logged_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_at_idx ON feed.audit_log (at);
CREATE INDEX audit_log_user_idx ON feed.audit_log (user_id, at) WHERE user_id IS NOT NULL;

CREATE FUNCTION feed.issue_token(user_id bigint, ttl interval DEFAULT '30 days')
RETURNS text AS 'MODULE_PATHNAME', 'feed_issue_token' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.login(token text, is_local boolean DEFAULT false)
RETURNS bigint AS 'MODULE_PATHNAME', 'feed_login' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.logout()
RETURNS boolean AS 'MODULE_PATHNAME', 'feed_logout' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.logged_in_user()
RETURNS bigint AS 'MODULE_PATHNAME', 'feed_logged_in_user' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.revoke_tokens(user_id bigint)
RETURNS integer AS 'MODULE_PATHNAME', 'feed_revoke_tokens' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.revoke_all_tokens()
RETURNS bigint AS 'MODULE_PATHNAME', 'feed_revoke_all_tokens' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.expire_tokens(retention interval DEFAULT '7 days')
RETURNS bigint AS 'MODULE_PATHNAME', 'feed_expire_tokens' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.audit_flush()
RETURNS bigint AS 'MODULE_PATHNAME', 'feed_audit_flush' LANGUAGE C VOLATILE;

CREATE FUNCTION feed.security_status(
    OUT audit_pending bigint, OUT audit_flushed bigint, OUT audit_overflowed bigint,
    OUT audit_dropped bigint, OUT reads_refused bigint, OUT writes_refused bigint)
RETURNS record AS 'MODULE_PATHNAME', 'feed_security_status' LANGUAGE C VOLATILE;

-- The audit trail for feed_admin, who has no access to the table itself.
CREATE FUNCTION feed.audit_events(since timestamptz DEFAULT now() - interval '1 day',
                                  for_user bigint DEFAULT NULL)
RETURNS SETOF feed.audit_log LANGUAGE sql STABLE AS $$
    SELECT * FROM feed.audit_log
    WHERE at >= since AND (for_user IS NULL OR user_id = for_user)
    ORDER BY audit_id
$$;

SELECT pg_catalog.pg_extension_config_dump('feed.tokens', '');
SELECT pg_catalog.pg_extension_config_dump('feed.tokens_token_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('feed.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('feed.audit_log_audit_id_seq', '');

-- Roles are cluster-wide: created once, shared by every database with the
-- extension, and left in place by DROP EXTENSION (drop them by hand).
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['feed_admin', 'feed_service', 'feed_client'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;

-- Every function runs as the extension's owner with a fixed search_path:
-- callers get no right on the tables, and no object of theirs can stand in
-- for an operator or function the statements use.  The C functions pin the
-- path themselves around every SQL statement they run (src/spi_plans.c), so
-- a call that runs none, a cached feed.home, does not pay for a
-- function-level SET; the others get the SET.  (id_parts touches no table
-- and stays with its caller's rights.)
DO $$
DECLARE
    f regprocedure;
    lang name;
BEGIN
    FOR f, lang IN SELECT p.oid, l.lanname
                   FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang
                   WHERE p.pronamespace = 'feed'::regnamespace AND p.proname <> 'id_parts' LOOP
        IF lang = 'c' THEN
            EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER', f);
        ELSE
            EXECUTE pg_catalog.format(
                'ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
        END IF;
    END LOOP;
END
$$;

-- Nothing for PUBLIC; each role gets EXECUTE on what it needs, no table.
REVOKE ALL ON ALL TABLES IN SCHEMA feed FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA feed FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA feed FROM PUBLIC;
REVOKE ALL ON SCHEMA feed FROM PUBLIC;
GRANT USAGE ON SCHEMA feed TO feed_admin, feed_service, feed_client;

-- The contract: feed_service acts for any user, feed_client for its login.
GRANT EXECUTE ON FUNCTION
    feed.set_private(bigint, boolean),
    feed.follow(bigint, bigint), feed.approve_follow(bigint, bigint),
    feed.unfollow(bigint, bigint), feed.remove_follower(bigint, bigint),
    feed.block(bigint, bigint), feed.unblock(bigint, bigint),
    feed.publish(bigint, text, text), feed.repost(bigint, bigint, text),
    feed.edit_post(bigint, bigint, text), feed.delete_post(bigint, bigint),
    feed.like(bigint, bigint), feed.unlike(bigint, bigint),
    feed.home(bigint, integer, bigint), feed.user_posts(bigint, bigint, integer, bigint),
    feed.user_stats(bigint),
    feed.login(text, boolean), feed.logout(), feed.logged_in_user(),
    feed.revoke_tokens(bigint), feed.id_parts(bigint)
TO feed_service, feed_client;

GRANT EXECUTE ON FUNCTION
    feed.create_user(text, boolean), feed.issue_token(bigint, interval),
    feed.wait_idle(interval)
TO feed_service;

-- Maintenance, metrics, revocation.
GRANT EXECUTE ON FUNCTION
    feed.issue_token(bigint, interval), feed.revoke_tokens(bigint), feed.revoke_all_tokens(),
    feed.expire_tokens(interval), feed.audit_flush(), feed.audit_events(timestamptz, bigint),
    feed.security_status(), feed.wait_idle(interval), feed.worker_status(),
    feed.fanout_recent_rows(integer), feed.cache_stats(), feed.cache_reset(),
    feed.reconcile_counts(integer), feed.verify(), feed.repair(), feed.repair_inboxes(),
    feed.purge_tombstones(),
    feed.schedule_maintenance(boolean), feed.unschedule_maintenance(), feed.id_parts(bigint)
TO feed_admin;
GRANT SELECT ON feed.fanout_status, feed.cache_stats TO feed_admin;
