-- fanout: the fanout engine seen from SQL, with the workers running
-- (test/feed.conf points feed.database at contrib_regression, so the
-- launcher and its fanout workers serve this database asynchronously).
-- Covers hybrid push/pull (celebrities are pulled, never written to
-- inboxes, and visible the moment they commit), crossings of
-- feed.celebrity_threshold in both directions, and cold followers (no inbox
-- rows while cold, exact feeds before and after the launcher rebuilds their
-- inbox).  Every feed is compared page by page with the plain-SQL oracle of
-- DESIGN.md.  Output depends only on states that hold whatever the workers'
-- timing: queues and inboxes are looked at after feed.wait_idle(), and
-- asynchronous launcher work is awaited with a bounded poll.
-- Ids are kept in psql variables and never printed.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
RESET client_min_messages;

\i sql/include/oracle.sql

\i sql/include/exact.sql

-- Every user's feed against the oracle, at two page sizes: how many users
-- were checked, and how many feeds differ (0 expected).
CREATE FUNCTION pg_temp.all_exact()
RETURNS TABLE (users bigint, inexact bigint)
LANGUAGE sql AS $$
  SELECT count(*), count(*) FILTER (WHERE NOT (pg_temp.exact(u.user_id, 200)
                                               AND pg_temp.exact(u.user_id, 3)))
  FROM feed.users u
$$;

-- The handles of the users whose home feed (first page) shows post p, as
-- the original or as the entry.
CREATE FUNCTION pg_temp.seen_by(p bigint)
RETURNS text
LANGUAGE sql AS $$
  SELECT coalesce(string_agg(u.handle, ',' ORDER BY u.handle), '')
  FROM feed.users u
  WHERE EXISTS (SELECT 1 FROM feed.home(u.user_id, 200) h
                WHERE h.entry_id = p OR h.post_id = p)
$$;

-- Inbox rows (sentinels excluded) delivering entry e.
CREATE FUNCTION pg_temp.inbox_rows(e bigint)
RETURNS bigint
LANGUAGE sql AS $$
  SELECT count(*) FROM feed.inbox WHERE entry_id = e
$$;

-- Polls (at most `secs` seconds) until the query q returns true; returns
-- whether it did.  For work the launcher does asynchronously.
CREATE FUNCTION pg_temp.eventually(q text, secs integer DEFAULT 60)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  ok boolean;
  deadline timestamptz := clock_timestamp() + make_interval(secs => secs);
BEGIN
  LOOP
    EXECUTE q INTO ok;
    IF ok THEN
      RETURN true;
    END IF;
    IF clock_timestamp() > deadline THEN
      RETURN false;
    END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
END
$$;

-- Posts published in pull mode (by a celebrity): none may ever be written
-- to an inbox, by fanout, backfill or rebuild (DESIGN.md invariant I3).
CREATE TEMP TABLE pulled (post bigint PRIMARY KEY);

------------------------------------------------------------------------------
-- The workers serve this database
------------------------------------------------------------------------------

-- The launcher connects to feed.database and keeps feed.fanout_workers (2)
-- workers running; they show in pg_stat_activity and feed.worker_status().
SHOW feed.database;
SHOW feed.fanout_workers;
SELECT pg_temp.eventually($q$
  SELECT count(*) = 2 FROM feed.worker_status() WHERE worker LIKE 'fanout %'
$q$) AS two_workers_up;
SELECT pg_temp.eventually($q$
  SELECT count(*) FILTER (WHERE backend_type = 'feed launcher') = 1
     AND count(*) FILTER (WHERE backend_type = 'feed fanout worker'
                          AND application_name LIKE 'feed fanout worker _') = 2
  FROM pg_stat_activity WHERE datname = current_database()
$q$) AS workers_in_pg_stat_activity;
SELECT worker, pid > 0 AS has_pid,
       state IN ('idle', 'starting', 'fanout', 'backfill', 'counters', 'running') AS known_state
FROM feed.worker_status() ORDER BY worker;

------------------------------------------------------------------------------
-- Celebrities are pulled
------------------------------------------------------------------------------

SELECT feed.create_user('cel') AS cel \gset
SELECT feed.create_user('nor') AS nor \gset
SELECT feed.create_user('f1') AS f1 \gset
SELECT feed.create_user('f2') AS f2 \gset
SELECT feed.create_user('f3') AS f3 \gset
SELECT feed.create_user('f4') AS f4 \gset
SELECT feed.create_user('f5') AS f5 \gset
SELECT feed.create_user('loner') AS loner \gset
-- f1..f5 follow cel; f1, f2 and cel follow nor.
SELECT count(feed.follow(u.user_id, :cel)) AS follows
FROM feed.users u WHERE u.handle IN ('f1', 'f2', 'f3', 'f4', 'f5');
SELECT feed.follow(:f1, :nor), feed.follow(:f2, :nor), feed.follow(:cel, :nor);
SELECT feed.wait_idle();

-- With a threshold of 3, cel (5 active followers) is a celebrity.
SHOW feed.celebrity_threshold;
SET feed.celebrity_threshold = 3;
SELECT feed.publish(:cel, 'cel 1') AS c1 \gset
INSERT INTO pulled VALUES (:c1);

-- Visible to every follower and to cel the moment the publish committed
-- (no wait_idle yet), to nobody else; no fanout job, no inbox row (not
-- even cel's own), and cel's pulled range covers the post.
SELECT pg_temp.seen_by(:c1) AS seen_by;
SELECT count(*) AS jobs FROM feed.fanout_jobs WHERE post_id = :c1;
SELECT pg_temp.inbox_rows(:c1) AS inbox_rows;
SELECT :c1 BETWEEN first_post_id AND last_post_id AS in_pulled_range
FROM feed.pull_authors WHERE author_id = :cel;
SELECT * FROM pg_temp.all_exact();

-- And so it stays once everything queued has been applied.
SELECT feed.wait_idle();
SELECT pg_temp.inbox_rows(:c1) AS inbox_rows;
SELECT pg_temp.seen_by(:c1) AS seen_by;
SELECT * FROM pg_temp.all_exact();

-- A repost by the celebrity is pulled too: f1..f5 see nor's post through
-- cel's repost (f1, f2 see it as nor's own, it came first); no inbox row
-- delivers the repost.
SELECT feed.publish(:nor, 'nor 1') AS n1 \gset
SELECT feed.repost(:cel, :n1) AS cr1 \gset
INSERT INTO pulled VALUES (:cr1);
SELECT pg_temp.seen_by(:n1) AS seen_by;
SELECT u.handle, h.reposted_by IS NOT DISTINCT FROM :cel AS via_cel_repost
FROM feed.users u, feed.home(u.user_id, 200) h
WHERE h.post_id = :n1 ORDER BY u.handle;
SELECT pg_temp.inbox_rows(:cr1) AS repost_inbox_rows;
SELECT * FROM pg_temp.all_exact();
SELECT feed.wait_idle();
SELECT pg_temp.inbox_rows(:cr1) AS repost_inbox_rows;
-- nor (not a celebrity) is pushed: f1, f2, cel and nor have the entry.
SELECT pg_temp.inbox_rows(:n1) AS nor_inbox_rows;
SELECT * FROM pg_temp.all_exact();

-- A celebrity's deleted post disappears from every feed at once.
SELECT feed.publish(:cel, 'cel 2, to be deleted') AS c2 \gset
SELECT pg_temp.seen_by(:c2) AS seen_by;
SELECT feed.delete_post(:cel, :c2);
SELECT pg_temp.seen_by(:c2) AS seen_by;
SELECT * FROM pg_temp.all_exact();

-- Feeds are exact at every depth with pulled posts in between pushed ones.
SELECT count(feed.publish(CASE WHEN g % 2 = 0 THEN :cel ELSE :nor END, 'mix ' || g)) AS published
FROM generate_series(1, 60) g;
SELECT * FROM pg_temp.all_exact();
SELECT feed.wait_idle();
SELECT * FROM pg_temp.all_exact();
SELECT count(*) AS cel_posts_in_inboxes
FROM feed.inbox i JOIN feed.posts p ON p.post_id = i.entry_id WHERE p.author_id = :cel;
INSERT INTO pulled SELECT post_id FROM feed.posts WHERE author_id = :cel AND body LIKE 'mix %';

------------------------------------------------------------------------------
-- Crossing the celebrity threshold
------------------------------------------------------------------------------

-- Raising the threshold above cel's follower count: cel's next post is
-- pushed again (job, inbox rows for cel and the 5 followers).  Its feeds
-- stay exact before and after the fanout, with the pulled posts around it.
SET feed.celebrity_threshold = 5;
SELECT feed.publish(:cel, 'cel 3, pushed') AS c3 \gset
SELECT pg_temp.seen_by(:c3) AS seen_by;
SELECT * FROM pg_temp.all_exact();
SELECT feed.wait_idle();
SELECT pg_temp.inbox_rows(:c3) AS inbox_rows;
SELECT * FROM pg_temp.all_exact();

-- Lowering it again: pulled again; the pushed post in the middle of the
-- pulled range shows once, not twice.
SET feed.celebrity_threshold = 4;
SELECT feed.publish(:cel, 'cel 4, pulled') AS c4 \gset
INSERT INTO pulled VALUES (:c4);
SELECT pg_temp.seen_by(:c4) AS seen_by;
SELECT feed.wait_idle();
SELECT pg_temp.inbox_rows(:c4) AS inbox_rows;
SELECT u.handle, count(*) FILTER (WHERE h.post_id = :c3) AS c3_rows,
       count(*) FILTER (WHERE h.post_id = :c4) AS c4_rows
FROM feed.users u, feed.home(u.user_id, 200) h
GROUP BY u.handle ORDER BY u.handle;
SELECT * FROM pg_temp.all_exact();

-- Crossing by the follower count: riser has 2 followers (threshold 2 means
-- "more than 2 is a celebrity").
SET feed.celebrity_threshold = 2;
SELECT feed.create_user('riser') AS riser \gset
SELECT feed.follow(:f1, :riser), feed.follow(:f2, :riser);
SELECT feed.publish(:riser, 'riser 1, pushed') AS r1 \gset
-- A third follower: riser is now above the threshold.  The new follower
-- sees riser 1 at once (backfill or pull), and riser 2 is pulled.
SELECT feed.follow(:f3, :riser);
SELECT feed.publish(:riser, 'riser 2, pulled') AS r2 \gset
INSERT INTO pulled VALUES (:r2);
SELECT pg_temp.seen_by(:r1) AS r1_seen_by, pg_temp.seen_by(:r2) AS r2_seen_by;
SELECT * FROM pg_temp.all_exact();
SELECT feed.wait_idle();
SELECT pg_temp.inbox_rows(:r1) AS r1_inbox_rows, pg_temp.inbox_rows(:r2) AS r2_inbox_rows;
-- The follower count counts pending deltas too (no fold needed): a fourth
-- follower in the same transaction as the post makes it pulled as well.
BEGIN;
SELECT feed.follow(:f4, :riser);
SELECT feed.publish(:riser, 'riser 3, pulled') AS r3 \gset
COMMIT;
INSERT INTO pulled VALUES (:r3);
SELECT pg_temp.seen_by(:r3) AS r3_seen_by;
-- Two unfollows bring riser back under the threshold: pushed again.
SELECT feed.unfollow(:f3, :riser), feed.unfollow(:f4, :riser);
SELECT feed.publish(:riser, 'riser 4, pushed') AS r4 \gset
SELECT pg_temp.seen_by(:r1) AS r1_seen_by, pg_temp.seen_by(:r2) AS r2_seen_by,
       pg_temp.seen_by(:r3) AS r3_seen_by, pg_temp.seen_by(:r4) AS r4_seen_by;
SELECT * FROM pg_temp.all_exact();
SELECT feed.wait_idle();
SELECT pg_temp.inbox_rows(:r2) AS r2_inbox_rows, pg_temp.inbox_rows(:r3) AS r3_inbox_rows,
       pg_temp.inbox_rows(:r4) AS r4_inbox_rows;
SELECT * FROM pg_temp.all_exact();
RESET feed.celebrity_threshold;

------------------------------------------------------------------------------
-- Cold followers
------------------------------------------------------------------------------

-- w1..w4 follow wa; w1 and w2 have not read their feed for 60 days
-- (feed.fanout_active_days is 30).  None of them has read it yet, so no
-- read activity in shared memory can undo this.
SHOW feed.fanout_active_days;
SELECT feed.create_user('wa') AS wa \gset
SELECT feed.create_user('w1') AS w1 \gset
SELECT feed.create_user('w2') AS w2 \gset
SELECT feed.create_user('w3') AS w3 \gset
SELECT feed.create_user('w4') AS w4 \gset
SELECT count(feed.follow(u.user_id, :wa)) AS follows
FROM feed.users u WHERE u.handle IN ('w1', 'w2', 'w3', 'w4');
SELECT feed.follow(:w1, :nor);
SELECT feed.publish(:wa, 'wa 0, before going cold') AS wa0 \gset
SELECT feed.wait_idle();
UPDATE feed.user_activity SET last_read = now() - interval '60 days'
WHERE user_id IN (:w1, :w2);

-- Fanout skips w1 and w2: no inbox row, and their inbox loses its sentinel
-- (it is no longer complete, so reads must not trust it).  w3, w4 and wa
-- are pushed as usual.
SELECT feed.publish(:wa, 'wa 1, while w1 and w2 are cold') AS wa1 \gset
SELECT feed.publish(:nor, 'nor 2, while w1 is cold') AS n2 \gset
SELECT feed.wait_idle();
SELECT u.handle,
       EXISTS (SELECT 1 FROM feed.inbox i WHERE i.user_id = u.user_id AND i.entry_id = :wa1) AS has_wa1,
       EXISTS (SELECT 1 FROM feed.inbox i WHERE i.user_id = u.user_id AND i.entry_id < 0) AS has_sentinel
FROM feed.users u WHERE u.handle IN ('wa', 'w1', 'w2', 'w3', 'w4') ORDER BY u.handle;
SELECT pg_temp.inbox_rows(:n2) AS nor_2_inbox_rows;

-- Their feeds are exact all the same: read by pull from the tables.  This
-- read also tells the launcher that w1 and w2 are back.
SELECT pg_temp.exact(:w1, 200) AS w1_exact, pg_temp.exact(:w1, 1) AS w1_exact_by_1,
       pg_temp.exact(:w2, 2) AS w2_exact;
SELECT pg_temp.seen_by(:wa1) AS seen_by;

-- Within a few seconds the launcher flushes their activity and rebuilds
-- their inboxes: the sentinel is back and the inbox holds the posts they
-- missed.  Feeds stay exact.
SELECT pg_temp.eventually(format($q$
  SELECT count(*) = 2 FROM feed.inbox WHERE user_id IN (%s, %s) AND entry_id < 0
$q$, :w1, :w2)) AS inboxes_rebuilt;
SELECT pg_temp.eventually(format($q$
  SELECT count(*) = 2 FROM feed.user_activity
  WHERE user_id IN (%s, %s) AND last_read > now() - interval '1 hour'
$q$, :w1, :w2)) AS activity_flushed;
SELECT u.handle,
       EXISTS (SELECT 1 FROM feed.inbox i WHERE i.user_id = u.user_id AND i.entry_id = :wa1) AS has_wa1,
       EXISTS (SELECT 1 FROM feed.inbox i WHERE i.user_id = u.user_id AND i.entry_id = :n2) AS has_nor_2
FROM feed.users u WHERE u.handle IN ('w1', 'w2') ORDER BY u.handle;
SELECT pg_temp.exact(:w1, 200) AS w1_exact, pg_temp.exact(:w1, 1) AS w1_exact_by_1,
       pg_temp.exact(:w2, 2) AS w2_exact;

-- Warm again: the next post is pushed to them.
SELECT feed.publish(:wa, 'wa 2, all warm') AS wa2 \gset
SELECT feed.wait_idle();
SELECT pg_temp.inbox_rows(:wa2) AS inbox_rows;
SELECT * FROM pg_temp.all_exact();

------------------------------------------------------------------------------
-- Pulled posts stay out of inboxes, also through backfills and rebuilds
------------------------------------------------------------------------------

-- f6 starts following cel (still a celebrity at threshold 3): the follow's
-- inbox backfill must not copy cel's pulled posts into f6's inbox.
SET feed.celebrity_threshold = 3;
SELECT feed.create_user('f6') AS f6 \gset
SELECT feed.follow(:f6, :cel);
SELECT feed.wait_idle();
SELECT pg_temp.exact(:f6, 200) AS f6_exact;
SELECT count(*) AS pulled_in_f6_inbox
FROM feed.inbox i JOIN pulled ON pulled.post = i.entry_id WHERE i.user_id = :f6;

-- f1's inbox is evicted (a plain DELETE, see feed--1.0.sql); f1's read
-- pulls exactly and asks for a rebuild, which must not copy pulled posts
-- either.
DELETE FROM feed.inbox WHERE user_id = :f1;
-- Changes made behind the functions' back do not reach the cache.
SELECT feed.cache_reset();
SELECT pg_temp.exact(:f1, 200) AS f1_exact;
SELECT pg_temp.eventually(format($q$
  SELECT EXISTS (SELECT 1 FROM feed.inbox WHERE user_id = %s AND entry_id < 0)
$q$, :f1)) AS f1_rebuilt;
SELECT pg_temp.exact(:f1, 200) AS f1_exact, pg_temp.exact(:f1, 4) AS f1_exact_by_4;
SELECT count(*) AS pulled_in_f1_inbox
FROM feed.inbox i JOIN pulled ON pulled.post = i.entry_id WHERE i.user_id = :f1;

-- Nowhere, for nobody.
SELECT count(*) AS pulled_posts, (SELECT count(*) FROM feed.inbox i JOIN pulled ON pulled.post = i.entry_id)
       AS pulled_in_inboxes
FROM pulled;
SELECT * FROM pg_temp.all_exact();
RESET feed.celebrity_threshold;

------------------------------------------------------------------------------
-- Status at quiescence
------------------------------------------------------------------------------

SELECT feed.wait_idle();
SELECT queued_jobs, pending_rows, queued_backfills, queued_counter_deltas,
       authors_in_pull_mode, pulled_authors, jsonb_array_length(workers) AS worker_rows
FROM feed.fanout_status;
SELECT u.handle FROM feed.pull_authors pa JOIN feed.users u ON u.user_id = pa.author_id
ORDER BY u.handle;
