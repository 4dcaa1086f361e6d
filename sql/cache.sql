-- The shared-memory feed cache (docs/cache.md): a cached feed is exact the
-- moment a change commits (I2), aborted work never reaches it, and the
-- statistics show what was served from where.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
RESET client_min_messages;

-- Counters of feed.cache_stats since the previous call (one session reads
-- feeds in this test, so the deltas are this test's).
CREATE TEMP TABLE last_stats AS
SELECT hits + stale_serves AS hits, misses, rebuilds, uncached_reads FROM feed.cache_stats;
CREATE FUNCTION pg_temp.served()
RETURNS TABLE(hits bigint, misses bigint, rebuilds bigint, uncached bigint)
LANGUAGE sql AS $$
    WITH s AS (SELECT hits + stale_serves AS hits, misses, rebuilds, uncached_reads
               FROM feed.cache_stats),
    u AS (UPDATE last_stats l SET hits = s.hits, misses = s.misses, rebuilds = s.rebuilds,
                                  uncached_reads = s.uncached_reads FROM s)
    SELECT s.hits - l.hits, s.misses - l.misses, s.rebuilds - l.rebuilds,
           s.uncached_reads - l.uncached_reads
    FROM s, last_stats l
$$;

-- The page as a reader sees it.
CREATE FUNCTION pg_temp.page(v bigint, lim integer DEFAULT 50)
RETURNS TABLE(author text, body text, reposted_by text, like_count bigint)
LANGUAGE sql AS $$
    SELECT a.handle, h.body, r.handle, h.like_count
    FROM feed.home(v, lim) WITH ORDINALITY h
    JOIN feed.users a ON a.user_id = h.author_id
    LEFT JOIN feed.users r ON r.user_id = h.reposted_by
    ORDER BY h.ordinality
$$;

-- The cached read equals a read from the tables (feed.cache = off), row for
-- row, whole window.
CREATE FUNCTION pg_temp.same_as_tables(v bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    cached text;
    direct text;
BEGIN
    cached := (SELECT string_agg(h::text, ';') FROM feed.home(v, 200) h);
    PERFORM set_config('feed.cache', 'off', true);
    direct := (SELECT string_agg(h::text, ';') FROM feed.home(v, 200) h);
    PERFORM set_config('feed.cache', 'on', true);
    RETURN cached IS NOT DISTINCT FROM direct;
END $$;

SELECT feed.create_user('ann') AS ann \gset
SELECT feed.create_user('bob') AS bob \gset
SELECT feed.create_user('cat', true) AS cat \gset
SELECT feed.create_user('dan') AS dan \gset
SELECT feed.create_user('eve') AS eve \gset
SELECT feed.create_user('fay') AS fay \gset
SELECT feed.follow(:ann, :bob), feed.follow(:ann, :cat), feed.approve_follow(:cat, :ann),
       feed.follow(:ann, :dan), feed.follow(:ann, :eve);
SELECT feed.publish(:bob, 'bob 1') AS b1 \gset
SELECT feed.publish(:cat, 'cat 1') AS c1 \gset
SELECT feed.publish(:fay, 'fay 1') AS f1 \gset
SELECT feed.repost(:eve, :f1) AS e_rp \gset
SELECT feed.publish(:bob, 'bob 2') AS b2 \gset
SELECT feed.wait_idle();
SELECT * FROM pg_temp.served();

------------------------------------------------------------------------------
-- Build once, then hit
------------------------------------------------------------------------------
SELECT * FROM pg_temp.page(:ann);
SELECT * FROM pg_temp.served();
SELECT * FROM pg_temp.page(:ann);
SELECT * FROM pg_temp.served();
SELECT pg_temp.same_as_tables(:ann);

------------------------------------------------------------------------------
-- Negative changes: the very next read, from the cached feed, omits them
------------------------------------------------------------------------------
-- a deleted post
SELECT feed.delete_post(:bob, :b2);
SELECT * FROM pg_temp.page(:ann);
SELECT pg_temp.same_as_tables(:ann);

-- an unfollowed private author
SELECT * FROM pg_temp.page(:ann);
SELECT * FROM pg_temp.served();
SELECT feed.unfollow(:ann, :cat);
SELECT * FROM pg_temp.page(:ann);
SELECT pg_temp.same_as_tables(:ann);

-- the original of a repost turning private: eve's repost of fay's post is
-- visible to ann only while fay is public
SELECT feed.set_private(:fay, true);
SELECT * FROM pg_temp.page(:ann);
SELECT feed.set_private(:fay, false);
SELECT * FROM pg_temp.page(:ann);

-- a block by a followed author
SELECT feed.block(:bob, :ann);
SELECT * FROM pg_temp.page(:ann);
SELECT pg_temp.same_as_tables(:ann);
SELECT feed.unblock(:bob, :ann), feed.follow(:ann, :bob);
SELECT * FROM pg_temp.page(:ann);

------------------------------------------------------------------------------
-- Edits and likes change the cached rows
------------------------------------------------------------------------------
SELECT * FROM pg_temp.page(:ann);
SELECT * FROM pg_temp.served();
SELECT feed.edit_post(:bob, :b1, 'bob 1, edited');
SELECT feed.like(:dan, :b1), feed.like(:eve, :b1);
SELECT * FROM pg_temp.page(:ann);
SELECT feed.unlike(:dan, :b1);
SELECT * FROM pg_temp.page(:ann);
SELECT * FROM pg_temp.served();
SELECT pg_temp.same_as_tables(:ann);

------------------------------------------------------------------------------
-- Aborted work never reaches the cache
------------------------------------------------------------------------------
BEGIN;
SELECT feed.publish(:bob, 'bob, rolled back') IS NOT NULL AS published;
SELECT feed.like(:ann, :b1);
-- a transaction that wrote reads the tables and sees its own writes
SELECT body FROM feed.home(:ann) LIMIT 1;
ROLLBACK;
SELECT * FROM pg_temp.page(:ann);

-- a like in a rolled-back subtransaction leaves the cached count alone
BEGIN;
SAVEPOINT s;
SELECT feed.like(:ann, :b1);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT * FROM pg_temp.page(:ann);
SELECT pg_temp.same_as_tables(:ann);

------------------------------------------------------------------------------
-- New posts reach a cached feed at commit
------------------------------------------------------------------------------
-- a followed author's post, before fanout has delivered it
SELECT * FROM pg_temp.served();
SELECT feed.publish(:dan, 'dan 1') AS d1 \gset
SELECT * FROM pg_temp.page(:ann, 2);
SELECT feed.wait_idle();
SELECT * FROM pg_temp.page(:ann, 2);
-- ann's own post
SELECT feed.publish(:ann, 'ann 1') AS a1 \gset
SELECT * FROM pg_temp.page(:ann, 2);
-- a celebrity's post (pulled, never fanned out)
SET feed.celebrity_threshold = 0;
SELECT feed.publish(:dan, 'dan 2, pulled') AS d2 \gset
SELECT * FROM pg_temp.page(:ann, 2);
RESET feed.celebrity_threshold;
-- a repost by a followed user
SELECT feed.repost(:eve, :b1) AS e_rp2 \gset
SELECT * FROM pg_temp.page(:ann, 3);
SELECT feed.wait_idle();
SELECT pg_temp.same_as_tables(:ann);
SELECT hits > 0 AS served_from_cache FROM pg_temp.served();

------------------------------------------------------------------------------
-- What bypasses the cache
------------------------------------------------------------------------------
-- REPEATABLE READ keeps its own snapshot: the cache is not used at all
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) > 0 AS rows FROM feed.home(:ann);
COMMIT;
SELECT * FROM pg_temp.served();
-- feed.cache = off
SET feed.cache = off;
SELECT count(*) > 0 AS rows FROM feed.home(:ann);
RESET feed.cache;
SELECT * FROM pg_temp.served();

------------------------------------------------------------------------------
-- Reset, statistics
------------------------------------------------------------------------------
SELECT feed.cache_reset();
-- a later page of a feed that is not cached is read from the tables, the
-- first page builds the window
SELECT count(*) AS rows_below_dan_1 FROM feed.home(:ann, 50, :d1);
SELECT * FROM pg_temp.served();
SELECT count(*) AS rows FROM feed.home(:ann);
SELECT * FROM pg_temp.served();
SELECT count(*) AS rows_below_dan_1 FROM feed.home(:ann, 50, :d1);
SELECT * FROM pg_temp.served();
SELECT feeds >= 1 AS has_feeds, posts >= 1 AS has_posts, bytes_used <= bytes_total AS within_size,
       hit_rate BETWEEN 0 AND 1 AS rate_ok
FROM feed.cache_stats;

------------------------------------------------------------------------------
-- Admission (feed.cache_admission; the suites run with first_read, see
-- test/feed.conf): with second_read, the default, a feed gets its window on
-- its second read, so feeds read once in a while do not evict hot ones.
------------------------------------------------------------------------------
SET feed.cache_admission = second_read;
-- first read: a miss, served from the tables, nothing built
SELECT count(*) AS rows FROM feed.home(:fay);
SELECT * FROM pg_temp.served();
-- second read: builds the window
SELECT count(*) AS rows FROM feed.home(:fay);
SELECT * FROM pg_temp.served();
-- third read: a hit
SELECT count(*) AS rows FROM feed.home(:fay);
SELECT * FROM pg_temp.served();
SELECT pg_temp.same_as_tables(:fay);
RESET feed.cache_admission;

------------------------------------------------------------------------------
-- Changes behind the functions' back: verify finds them, repair clears them
------------------------------------------------------------------------------
SELECT count(*) > 0 AS rows FROM feed.home(:ann);
SELECT problems FROM feed.verify() WHERE check_name = 'cache_disagrees';
UPDATE feed.posts SET body = 'changed by hand' WHERE post_id = :b1;
DELETE FROM feed.follows WHERE follower_id = :ann AND followee_id = :dan;
SELECT problems, jsonb_array_length(sample) AS sampled
FROM feed.verify() WHERE check_name = 'cache_disagrees';
SELECT fixed > 0 AS cleared FROM feed.repair() WHERE check_name = 'cache_disagrees';
SELECT problems FROM feed.verify() WHERE check_name = 'cache_disagrees';
SELECT pg_temp.same_as_tables(:ann);
