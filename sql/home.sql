-- home: the home feed of a viewer: order, own posts, keyset pagination at
-- any depth, and changes of the graph that take effect immediately.
-- Ids are kept in psql variables and never printed.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
RESET client_min_messages;

-- A home page as readable rows: author, body, reposter, likes.
CREATE FUNCTION pg_temp.home_page(v bigint, n integer DEFAULT 50, cur bigint DEFAULT NULL)
RETURNS TABLE (author text, body text, reposted_by text, like_count bigint)
LANGUAGE sql AS $$
  SELECT a.handle, h.body, r.handle, h.like_count
  FROM feed.home(v, n, cur) WITH ORDINALITY AS h(entry_id, post_id, author_id, reposted_by,
                                                 body, created_at, like_count, pos)
  JOIN feed.users a ON a.user_id = h.author_id
  LEFT JOIN feed.users r ON r.user_id = h.reposted_by
  ORDER BY h.pos
$$;

\i sql/include/oracle.sql

-- Walks v's feed in pages of n and compares it with the oracle: how many rows
-- and pages, whether no original came twice, whether every page was in
-- entry_id order, and whether the concatenation equals the oracle exactly.
CREATE FUNCTION pg_temp.check_home(v bigint, n integer)
RETURNS TABLE (entries bigint, pages integer, no_duplicates boolean,
               ordered boolean, equals_oracle boolean)
LANGUAGE sql AS $$
  WITH w AS (SELECT * FROM pg_temp.walk_home(v, n))
  SELECT count(*),
         coalesce(max(page), 0),
         count(DISTINCT post) = count(*),
         coalesce(bool_and(prev IS NULL OR entry < prev), true),
         coalesce(array_agg(entry ORDER BY pos), '{}') =
           (SELECT coalesce(array_agg(o.entry ORDER BY o.entry DESC), '{}')
            FROM pg_temp.oracle(v) o)
         AND coalesce(array_agg(post ORDER BY pos), '{}') =
           (SELECT coalesce(array_agg(o.post ORDER BY o.entry DESC), '{}')
            FROM pg_temp.oracle(v) o)
  FROM (SELECT *, lag(entry) OVER (ORDER BY pos) AS prev FROM w) s
$$;

SELECT feed.create_user('vic') AS vic \gset
SELECT feed.create_user('ann') AS ann \gset
SELECT feed.create_user('ben') AS ben \gset
SELECT feed.create_user('cat') AS cat \gset
SELECT feed.create_user('pia', true) AS pia \gset
SELECT feed.create_user('dan') AS dan \gset
SELECT feed.create_user('wes') AS wes \gset

------------------------------------------------------------------------------
-- Order and content
------------------------------------------------------------------------------

-- A new user's feed is empty.
SELECT * FROM pg_temp.home_page(:vic);

-- vic follows ann and ben, not cat.
SELECT feed.follow(:vic, :ann), feed.follow(:vic, :ben);

-- Newest first; the viewer's own posts are included; cat's are not.  The
-- posts show before feed.wait_idle(): pending fanout is pulled by the read.
SELECT feed.publish(:ann, 'ann 1') AS a1 \gset
SELECT feed.publish(:ben, 'ben 1') AS b1 \gset
SELECT feed.publish(:vic, 'vic 1') AS v1 \gset
SELECT feed.publish(:ann, 'ann 2') AS a2 \gset
SELECT feed.publish(:cat, 'cat 1') AS c1 \gset
SELECT feed.publish(:ben, 'ben 2') AS b2 \gset
SELECT * FROM pg_temp.home_page(:vic);

-- The same after the fanout has run.
SELECT feed.wait_idle();
SELECT * FROM pg_temp.home_page(:vic);

-- entry_id descends strictly; for originals entry_id = post_id and
-- reposted_by is NULL; created_at is the post's.
SELECT bool_and(entry_id < prev) AS strictly_descending
FROM (SELECT h.entry_id, lag(h.entry_id) OVER (ORDER BY h.pos) AS prev
      FROM feed.home(:vic) WITH ORDINALITY AS h(entry_id, post_id, author_id, reposted_by,
                                                body, created_at, like_count, pos)) s
WHERE prev IS NOT NULL;
SELECT bool_and(h.entry_id = h.post_id AND h.reposted_by IS NULL
                AND h.created_at = p.created_at AND h.author_id = p.author_id) AS consistent
FROM feed.home(:vic) h JOIN feed.posts p ON p.post_id = h.post_id;

-- A post published after the fanout ran shows at the top at once.
SELECT feed.publish(:ben, 'ben 3') AS b3 \gset
SELECT * FROM pg_temp.home_page(:vic, 2);

------------------------------------------------------------------------------
-- Pagination with before
------------------------------------------------------------------------------

-- lim caps the page.
SELECT * FROM pg_temp.home_page(:vic, 3);

-- before is an exclusive entry_id cursor: pass the last entry_id of a page
-- to get the next one.
SELECT entry_id AS cur FROM feed.home(:vic, 3) OFFSET 2 \gset
SELECT * FROM pg_temp.home_page(:vic, 3, :cur);
SELECT bool_and(entry_id < :cur) AS all_before_cursor FROM feed.home(:vic, 3, :cur);

-- Walking in pages of 2 visits every entry once, in order; the page after
-- the last is empty.
SELECT w.page, u.handle, p.body
FROM pg_temp.walk_home(:vic, 2) w
JOIN feed.posts p ON p.post_id = w.post JOIN feed.users u ON u.user_id = p.author_id
ORDER BY w.pos;
SELECT * FROM pg_temp.check_home(:vic, 2);
SELECT * FROM pg_temp.check_home(:vic, 1);

-- A cursor older than every entry gives an empty page; a cursor in the
-- future gives the first page.
SELECT count(*) AS rows_before_oldest FROM feed.home(:vic, 50, :a1);
SELECT count(*) AS rows_before_1 FROM feed.home(:vic, 50, 1);
SELECT count(*) AS rows_before_max FROM feed.home(:vic, 50, 9223372036854775807);

-- The cursor need not be an entry of this feed (cat's post is not in it).
SELECT * FROM pg_temp.home_page(:vic, 50, :c1);

------------------------------------------------------------------------------
-- like_count
------------------------------------------------------------------------------

-- like_count counts the likes of the post, at once and after wait_idle.
SELECT feed.like(:vic, :a2), feed.like(:ben, :a2), feed.like(:cat, :a2), feed.like(:ann, :b1);
SELECT * FROM pg_temp.home_page(:vic);
SELECT feed.unlike(:cat, :a2);
SELECT feed.wait_idle();
SELECT * FROM pg_temp.home_page(:vic);

------------------------------------------------------------------------------
-- Private authors and pending follows
------------------------------------------------------------------------------

-- pia is private and has posted before anyone followed her.
SELECT feed.publish(:pia, 'pia old') AS p_old \gset

-- A pending follow gives nothing, not even posts made while pending.
SELECT feed.follow(:vic, :pia);
SELECT feed.publish(:pia, 'pia while pending') AS p_pending \gset
SELECT count(*) AS pia_rows FROM feed.home(:vic) WHERE author_id = :pia;
SELECT feed.wait_idle();
SELECT count(*) AS pia_rows FROM feed.home(:vic) WHERE author_id = :pia;

-- Once approved, all of pia's posts show (older ones included), before and
-- after wait_idle.
SELECT feed.approve_follow(:pia, :vic);
SELECT * FROM pg_temp.home_page(:vic, 3);
SELECT feed.wait_idle();
SELECT * FROM pg_temp.home_page(:vic, 3);
SELECT * FROM pg_temp.check_home(:vic, 3);

-- pia removing vic hides her posts at once.
SELECT feed.remove_follower(:pia, :vic);
SELECT count(*) AS pia_rows FROM feed.home(:vic) WHERE author_id = :pia;
SELECT * FROM pg_temp.check_home(:vic, 50);

------------------------------------------------------------------------------
-- Unfollow and block act immediately
------------------------------------------------------------------------------

-- Unfollowing ann hides all her posts at once, even though they sit in vic's
-- inbox (the feed was just read, so it is warm too).
SELECT count(*) AS ann_rows FROM feed.home(:vic) WHERE author_id = :ann;
SELECT feed.unfollow(:vic, :ann);
SELECT count(*) AS ann_rows FROM feed.home(:vic) WHERE author_id = :ann;
SELECT feed.wait_idle();
SELECT count(*) AS ann_rows FROM feed.home(:vic) WHERE author_id = :ann;

-- Following again brings all of them back, older ones included.
SELECT feed.follow(:vic, :ann);
SELECT count(*) AS ann_rows FROM feed.home(:vic) WHERE author_id = :ann;
SELECT feed.wait_idle();
SELECT count(*) AS ann_rows FROM feed.home(:vic) WHERE author_id = :ann;
SELECT * FROM pg_temp.check_home(:vic, 2);

-- A block by the author hides the author's posts at once, also those still
-- waiting for fanout (no wait_idle in between).
SELECT feed.publish(:ben, 'ben 4, not yet fanned out') AS b4 \gset
SELECT count(*) AS ben_rows FROM feed.home(:vic) WHERE author_id = :ben;
SELECT feed.block(:ben, :vic);
SELECT count(*) AS ben_rows FROM feed.home(:vic) WHERE author_id = :ben;
SELECT feed.wait_idle();
SELECT count(*) AS ben_rows FROM feed.home(:vic) WHERE author_id = :ben;

-- Unblocking does not bring them back (the follow is gone) ...
SELECT feed.unblock(:ben, :vic);
SELECT count(*) AS ben_rows FROM feed.home(:vic) WHERE author_id = :ben;

-- ... following again does.
SELECT feed.follow(:vic, :ben);
SELECT count(*) AS ben_rows FROM feed.home(:vic) WHERE author_id = :ben;

-- A block by the viewer hides the author's posts at once too.
SELECT feed.wait_idle();
SELECT feed.block(:vic, :ann);
SELECT count(*) AS ann_rows FROM feed.home(:vic) WHERE author_id = :ann;
SELECT * FROM pg_temp.home_page(:vic);
SELECT feed.unblock(:vic, :ann);
SELECT feed.follow(:vic, :ann);
SELECT * FROM pg_temp.check_home(:vic, 4);

------------------------------------------------------------------------------
-- Deep feeds: exact beyond feed.inbox_max
------------------------------------------------------------------------------

-- dan publishes more posts than the inbox keeps (feed.inbox_max, 800 by
-- default); vic follows dan before, wes after the posts were made.
SHOW feed.inbox_max;
SELECT feed.follow(:vic, :dan);
SELECT count(feed.publish(:dan, 'dan ' || g)) AS published FROM generate_series(1, 1000) g;
SELECT feed.follow(:wes, :dan);

-- Before the fanout ran: every page exact, at any depth, for both.
SELECT * FROM pg_temp.check_home(:vic, 200);
SELECT * FROM pg_temp.check_home(:wes, 200);
SELECT (SELECT count(*) FROM pg_temp.oracle(:vic))
       > current_setting('feed.inbox_max')::integer AS deeper_than_inbox;

-- After the fanout: the same, with the largest page and with an odd page
-- size whose page boundaries fall anywhere.
SELECT feed.wait_idle();
SELECT * FROM pg_temp.check_home(:vic, 200);
SELECT * FROM pg_temp.check_home(:vic, 7);
SELECT * FROM pg_temp.check_home(:wes, 200);

-- Deep cursors work like shallow ones: before 'dan 3' come 'dan 2' and 'dan 1'.
SELECT * FROM pg_temp.home_page(:wes, 5, (SELECT post_id FROM feed.posts WHERE body = 'dan 3'));
SELECT * FROM pg_temp.home_page(:vic, 3, (SELECT post_id FROM feed.posts WHERE body = 'dan 2'));

-- A feed whose inbox was evicted is still exact: the read pulls from the
-- tables what the inbox lacks.  Evicting is a plain DELETE of the user's
-- inbox rows (it removes the sentinel row too, so the inbox is no longer
-- trusted and reads pull).
DELETE FROM feed.inbox WHERE user_id = :vic;
SELECT * FROM pg_temp.check_home(:vic, 200);
SELECT * FROM pg_temp.check_home(:vic, 50);

-- New posts after the eviction come on top of the pulled older ones,
-- before and after the fanout.
SELECT feed.publish(:dan, 'dan after eviction') AS d_new \gset
SELECT * FROM pg_temp.home_page(:vic, 2);
SELECT * FROM pg_temp.check_home(:vic, 200);
SELECT feed.wait_idle();
SELECT * FROM pg_temp.check_home(:vic, 200);
SELECT * FROM pg_temp.check_home(:vic, 13);

-- Deleting an old post deep in the feed removes it from its page.
SELECT feed.delete_post(:dan, (SELECT post_id FROM feed.posts WHERE body = 'dan 10'));
SELECT count(*) AS dan_10 FROM pg_temp.walk_home(:vic, 200) w
JOIN feed.posts p ON p.post_id = w.post WHERE p.body = 'dan 10';
SELECT * FROM pg_temp.check_home(:vic, 200);

-- With a small inbox (feed.inbox_max may be SET by a superuser) deliveries
-- trim the inboxes and raise their horizons; feeds stay exact, before and
-- after the fanout, at every page size.
SET feed.inbox_max = 10;
SELECT feed.create_user('kim') AS kim \gset
SELECT feed.follow(:kim, :dan), feed.follow(:kim, :ben);
SELECT count(feed.publish(CASE WHEN g % 3 = 0 THEN :ben ELSE :dan END, 'mix ' || g)) AS published
FROM generate_series(1, 300) g;
SELECT * FROM pg_temp.check_home(:kim, 200);
SELECT feed.wait_idle();
SELECT * FROM pg_temp.check_home(:kim, 200);
SELECT * FROM pg_temp.check_home(:kim, 9);
SELECT * FROM pg_temp.check_home(:vic, 200);
SELECT * FROM pg_temp.home_page(:kim, 4);
RESET feed.inbox_max;

-- Inbox rows that vanish without any other bookkeeping (a bare DELETE) do
-- not make the feed gappy either.
DELETE FROM feed.inbox WHERE user_id = :wes;
SELECT * FROM pg_temp.check_home(:wes, 200);
SELECT * FROM pg_temp.home_page(:wes, 2);
