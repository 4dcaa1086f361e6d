-- bench/load.sql: builds the benchmark data set.  Everything but the follow
-- graph goes through the extension's own functions (create_user, publish,
-- repost, like, block, unfollow, delete_post, set_private), with
-- feed.wait_idle() after each publishing round, so the inbox, horizons and
-- counters are exactly what the extension itself maintains.  The graph is
-- bulk-loaded by default (graph=bulk, see below); graph=functions loads it
-- with follow() and approve_follow() instead.  Run by bench/run.sh:
--   psql -v users=20000 -v posts=200000 -v celeb_posts=100 -v rounds=10 \
--        -v viewers=5000 -v graph=bulk -f load.sql
-- random() is seeded, so the graph and the posts are the same on every run;
-- only the ids (time-based) differ.
\set ON_ERROR_STOP on
\set QUIET on
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
RESET client_min_messages;

-- Wall-clock time of every phase, printed by run.sh.
CREATE TABLE bench.phases (id serial, phase text, detail text,
                           done_at timestamptz DEFAULT clock_timestamp());
INSERT INTO bench.phases (phase) VALUES ('start');
SELECT setseed(0.42);

-- ---------------------------------------------------------------------------
-- Users: n = 1 is the celebrity; every 20th user is private.
-- ---------------------------------------------------------------------------
CREATE TABLE bench.u (n integer PRIMARY KEY, user_id bigint NOT NULL UNIQUE,
                      is_private boolean NOT NULL);
INSERT INTO bench.u
SELECT g, feed.create_user(CASE WHEN g = 1 THEN 'celebrity' ELSE 'user' || g END,
                           g > 1 AND g % 20 = 0),
       g > 1 AND g % 20 = 0
FROM generate_series(1, :users) AS g;
INSERT INTO bench.phases (phase, detail)
SELECT 'create_user', count(*) || ' users' FROM bench.u;

-- ---------------------------------------------------------------------------
-- Follow graph.  Out-degree 5..137 (skewed low); followee drawn with a
-- power law (n = 2 + (users-1) * r^3), so a few dozen accounts have more
-- than a thousand followers; and 90% of users follow the celebrity.
-- ---------------------------------------------------------------------------
CREATE TABLE bench.pairs AS
SELECT DISTINCT a, b FROM (
    SELECT a, 2 + floor((:users - 1) * power(random(), 3))::int AS b
    FROM generate_series(1, :users) AS a,
         LATERAL generate_series(1, 5 + floor(132 * power(random(), 2))::int + 0 * a) AS k
    UNION ALL
    SELECT a, 1 FROM generate_series(2, :users) AS a WHERE random() < 0.9
) s
WHERE a <> b AND b <= :users;
SELECT :'graph' = 'functions' AS graph_functions \gset
\if :graph_functions
-- Through the functions: 1000 calls to a transaction, as an application
-- would commit them, each batch followed by wait_idle so that the inbox
-- backfills every new active follow queues do not pile up.
CREATE TABLE bench.pairs_chunked AS
SELECT a, b, (row_number() OVER (ORDER BY a, b) - 1) / 1000 AS chunk FROM bench.pairs;
CREATE INDEX ON bench.pairs_chunked (chunk);
SELECT format($q$
    SELECT count(feed.follow(ua.user_id, ub.user_id))
    FROM bench.pairs_chunked p JOIN bench.u ua ON ua.n = p.a JOIN bench.u ub ON ub.n = p.b
    WHERE p.chunk = %s$q$, c),
       $q$
    DO $$BEGIN
        IF NOT feed.wait_idle('1 hour') THEN RAISE EXCEPTION 'feed.wait_idle timed out'; END IF;
    END$$$q$
FROM generate_series(0, (SELECT max(chunk) FROM bench.pairs_chunked)) AS c \gexec
INSERT INTO bench.phases (phase, detail)
SELECT 'follow + wait_idle', count(*) || ' follow() calls' FROM bench.pairs;

-- Private accounts approve 70% of their requests.
CREATE TABLE bench.approve AS
SELECT followee_id, follower_id, (row_number() OVER () - 1) / 1000 AS chunk
FROM feed.follows WHERE state = 'pending' AND random() < 0.7;
SELECT format($q$
    SELECT count(*) FILTER (WHERE feed.approve_follow(followee_id, follower_id))
    FROM bench.approve WHERE chunk = %s$q$, c),
       $q$
    DO $$BEGIN
        IF NOT feed.wait_idle('1 hour') THEN RAISE EXCEPTION 'feed.wait_idle timed out'; END IF;
    END$$$q$
FROM generate_series(0, (SELECT max(chunk) FROM bench.approve)) AS c \gexec
INSERT INTO bench.phases (phase, detail)
SELECT 'approve_follow + wait_idle', count(*) || ' approvals' FROM bench.approve;
\else
-- Bulk (the default): the graph is written straight into feed.follows before
-- any post exists, with the counters it implies.  Nothing else derives from
-- follows at this point: an inbox backfill copies the followee's posts, and
-- there are none yet.  Private accounts have approved 70% of their requests.
INSERT INTO feed.follows (follower_id, followee_id, state)
SELECT ua.user_id, ub.user_id,
       CASE WHEN ub.is_private AND random() >= 0.7 THEN 'pending' ELSE 'active' END
FROM bench.pairs p JOIN bench.u ua ON ua.n = p.a JOIN bench.u ub ON ub.n = p.b
ORDER BY 1, 2;
INSERT INTO feed.user_counters (user_id, follower_count, following_count, post_count)
SELECT u.user_id, coalesce(r.c, 0), coalesce(g.c, 0), 0
FROM bench.u u
LEFT JOIN (SELECT followee_id, count(*) AS c FROM feed.follows WHERE state = 'active'
           GROUP BY followee_id) r ON r.followee_id = u.user_id
LEFT JOIN (SELECT follower_id, count(*) AS c FROM feed.follows WHERE state = 'active'
           GROUP BY follower_id) g ON g.follower_id = u.user_id;
INSERT INTO bench.phases (phase, detail)
SELECT 'follows (bulk SQL)', count(*) || ' follows' FROM feed.follows;
\endif
ANALYZE;

-- ---------------------------------------------------------------------------
-- Activity.  The viewers are a random quarter of the users: the accounts
-- active in the measured window, numbered 1..:viewers so that pgbench can
-- pick one with random().  Everybody else last read their feed 60 days ago,
-- so fanout (feed.fanout_active_days, default 30) writes no inbox rows for
-- them, as it would in production; their feeds are pulled if they come back.
-- create_user and the launcher (from reads) keep feed.user_activity;
-- writing it here is the only way to make time pass.
-- ---------------------------------------------------------------------------
CREATE TABLE bench.viewers (n integer PRIMARY KEY, user_id bigint NOT NULL);
INSERT INTO bench.viewers
SELECT row_number() OVER (ORDER BY random()), user_id
FROM (SELECT user_id FROM bench.u ORDER BY random() LIMIT :viewers) s;
INSERT INTO feed.user_activity AS a (user_id, last_read)
SELECT u.user_id,
       CASE WHEN EXISTS (SELECT 1 FROM bench.viewers v WHERE v.user_id = u.user_id)
            THEN now() ELSE now() - interval '60 days' END
FROM bench.u u
ON CONFLICT (user_id) DO UPDATE SET last_read = excluded.last_read;
INSERT INTO bench.phases (phase, detail)
SELECT 'activity', count(*) || ' active viewers, the rest cold' FROM bench.viewers;

-- ---------------------------------------------------------------------------
-- Posts: the celebrity writes :celeb_posts of them, the rest are spread
-- uniformly over the other users; published in :rounds rounds in a random
-- (time) order, each round followed by reposts and likes of that round's
-- posts and by feed.wait_idle(), which runs the fanout.
-- ---------------------------------------------------------------------------
CREATE TABLE bench.post_plan AS
SELECT row_number() OVER (ORDER BY random()) AS seq, author_n
FROM (SELECT 1 AS author_n FROM generate_series(1, :celeb_posts)
      UNION ALL
      SELECT 2 + floor((:users - 1) * random())::int FROM generate_series(1, :posts - :celeb_posts)) s;
CREATE TABLE bench.posted (seq bigint, round integer, post_id bigint);
SELECT (:posts + :rounds - 1) / :rounds AS round_size \gset

-- One row per round; \gexec runs its columns left to right, each as its own
-- transaction, so wait_idle sees the round's posts committed.
SELECT format($q$
    INSERT INTO bench.posted
    SELECT pp.seq, %1$s,
           feed.publish(u.user_id,
                        'post ' || pp.seq || ': ' || repeat(md5(pp.seq::text), 1 + (pp.seq %% 5)::int),
                        'bench-' || pp.seq)
    FROM bench.post_plan pp JOIN bench.u u ON u.n = pp.author_n
    WHERE pp.seq > %1$s * %2$s AND pp.seq <= (%1$s + 1) * %2$s
    ORDER BY pp.seq$q$, r, :round_size) AS publish,
       format($q$
    INSERT INTO bench.phases (phase, detail) SELECT 'publish round %1$s', count(*) || ' posts'
    FROM bench.posted WHERE round = %1$s$q$, r) AS log_publish,
       $q$
    DO $$BEGIN
        IF NOT feed.wait_idle('1 hour') THEN RAISE EXCEPTION 'feed.wait_idle timed out'; END IF;
    END$$$q$ AS wait_idle,
       format($q$
    INSERT INTO bench.phases (phase) VALUES ('wait_idle round %1$s')$q$, r) AS log_wait,
       format($q$
    -- 5%% of this round's public originals are reposted by a random active follower
    WITH c AS (
        SELECT bp.post_id, u.user_id AS author_id,
               (SELECT s.follower_count FROM feed.user_stats(u.user_id) s) AS fc
        FROM bench.posted bp
        JOIN bench.post_plan pp ON pp.seq = bp.seq
        JOIN bench.u u ON u.n = pp.author_n
        WHERE bp.round = %1$s AND NOT u.is_private AND random() < 0.05
    ), r AS (
        SELECT c.post_id, f.follower_id
        FROM c CROSS JOIN LATERAL (
            SELECT f.follower_id FROM feed.follows f
            WHERE f.followee_id = c.author_id AND f.state = 'active'
            ORDER BY f.follower_id OFFSET floor(random() * c.fc)::int LIMIT 1) f
    )
    INSERT INTO bench.phases (phase, detail)
    SELECT 'repost round %1$s', count(feed.repost(r.follower_id, r.post_id)) || ' reposts' FROM r$q$,
       r) AS reposts,
       format($q$
    -- 25%% of this round's posts get 1..sqrt(followers) likes from active followers
    WITH c AS (
        SELECT bp.post_id, u.user_id AS author_id, s.fc,
               1 + floor(random() * sqrt(s.fc))::int AS k, random() AS r
        FROM bench.posted bp
        JOIN bench.post_plan pp ON pp.seq = bp.seq
        JOIN bench.u u ON u.n = pp.author_n
        CROSS JOIN LATERAL (SELECT follower_count AS fc FROM feed.user_stats(u.user_id)) s
        WHERE bp.round = %1$s AND s.fc > 0 AND random() < 0.25
    ), l AS (
        SELECT c.post_id, f.follower_id
        FROM c CROSS JOIN LATERAL (
            SELECT f.follower_id FROM feed.follows f
            WHERE f.followee_id = c.author_id AND f.state = 'active'
            ORDER BY f.follower_id OFFSET floor(c.r * greatest(c.fc - c.k, 0))::int LIMIT c.k) f
    )
    INSERT INTO bench.phases (phase, detail)
    SELECT 'like round %1$s', count(*) FILTER (WHERE feed.like(l.follower_id, l.post_id)) || ' likes'
    FROM l$q$, r) AS likes
FROM generate_series(0, :rounds - 1) AS r \gexec

-- ---------------------------------------------------------------------------
-- Churn after the fact, which the read path must honour: blocks (drop follows
-- both ways), unfollows, deletes (originals and reposts), accounts going
-- private (keep their followers, but their posts vanish from reposts seen by
-- non-followers).
-- ---------------------------------------------------------------------------
CREATE TABLE bench.blocks AS
SELECT DISTINCT a, b FROM (
    SELECT 2 + floor((:users - 1) * random())::int AS a,
           2 + floor((:users - 1) * power(random(), 3))::int AS b
    FROM generate_series(1, 300)) s
WHERE a <> b AND b <= :users;
INSERT INTO bench.phases (phase, detail)
SELECT 'block', count(*) FILTER (WHERE feed.block(ua.user_id, ub.user_id)) || ' blocks'
FROM bench.blocks k JOIN bench.u ua ON ua.n = k.a JOIN bench.u ub ON ub.n = k.b;

CREATE TABLE bench.unfollows AS
SELECT follower_id, followee_id, (row_number() OVER () - 1) / 1000 AS chunk, false AS done
FROM feed.follows WHERE state = 'active' AND random() < 0.005;
SELECT format($q$
    UPDATE bench.unfollows SET done = feed.unfollow(follower_id, followee_id)
    WHERE chunk = %s$q$, c)
FROM generate_series(0, (SELECT max(chunk) FROM bench.unfollows)) AS c \gexec
INSERT INTO bench.phases (phase, detail)
SELECT 'unfollow', count(*) FILTER (WHERE done) || ' unfollows' FROM bench.unfollows;

CREATE TABLE bench.deletes AS
SELECT author_id, post_id FROM feed.posts WHERE random() < 0.01;
INSERT INTO bench.phases (phase, detail)
SELECT 'delete_post', count(*) FILTER (WHERE feed.delete_post(author_id, post_id)) || ' deletes'
FROM bench.deletes;

INSERT INTO bench.phases (phase, detail)
SELECT 'set_private', count(*) FILTER (WHERE feed.set_private(user_id, true)) || ' accounts'
FROM bench.u WHERE NOT is_private AND n > 1 AND n % 1000 = 7;

DO $$BEGIN
    IF NOT feed.wait_idle('1 hour') THEN RAISE EXCEPTION 'feed.wait_idle timed out'; END IF;
END$$;
INSERT INTO bench.phases (phase) VALUES ('wait_idle (churn)');

-- Baseline (b): a plain materialised inbox, (user_id, entry_id) primary key,
-- with the repost author denormalised, so a page is one range scan plus a
-- join to posts.  It holds, for every viewer, the first 200 entries of their
-- feed as feed.home computes it: the baseline reads exactly the rows
-- feed.home returns, without any visibility check.
CREATE TABLE bench.inbox_plain (
    user_id     bigint NOT NULL,
    entry_id    bigint NOT NULL,
    post_id     bigint NOT NULL,
    reposted_by bigint,
    PRIMARY KEY (user_id, entry_id)
);
INSERT INTO bench.inbox_plain
SELECT v.user_id, h.entry_id, h.post_id, h.reposted_by
FROM bench.viewers v CROSS JOIN LATERAL feed.home(v.user_id, 200) h;
INSERT INTO bench.phases (phase, detail)
SELECT 'inbox_plain', count(*) || ' rows (first 200 feed entries of each viewer)'
FROM bench.inbox_plain;

VACUUM ANALYZE;
CHECKPOINT;
INSERT INTO bench.phases (phase) VALUES ('vacuum analyze + checkpoint');
