-- counts: feed.user_stats (followers, following, live posts) and like_count,
-- exact after every change, before and after feed.wait_idle() folds the
-- pending counter deltas.
-- Ids are kept in psql variables and never printed.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
RESET client_min_messages;

-- Every user's stats, and whether they equal the truth counted from the
-- tables (active follows only; posts and reposts not deleted).
CREATE FUNCTION pg_temp.stats()
RETURNS TABLE (handle text, followers bigint, following bigint, posts bigint, exact boolean)
LANGUAGE sql AS $$
  SELECT u.handle, s.follower_count, s.following_count, s.post_count,
         s.follower_count = (SELECT count(*) FROM feed.follows f
                             WHERE f.followee_id = u.user_id AND f.state = 'active')
     AND s.following_count = (SELECT count(*) FROM feed.follows f
                              WHERE f.follower_id = u.user_id AND f.state = 'active')
     AND s.post_count = (SELECT count(*) FROM feed.posts p
                         WHERE p.author_id = u.user_id AND p.deleted_at IS NULL)
  FROM feed.users u, LATERAL feed.user_stats(u.user_id) s
  ORDER BY u.user_id
$$;

-- like_count of every live original as its author sees it in user_posts,
-- and whether it equals the number of like rows.
CREATE FUNCTION pg_temp.likes()
RETURNS TABLE (body text, like_count bigint, exact boolean)
LANGUAGE sql AS $$
  SELECT p.body, h.like_count,
         h.like_count = (SELECT count(*) FROM feed.likes l WHERE l.post_id = p.post_id)
  FROM feed.posts p,
       LATERAL feed.user_posts(p.author_id, p.author_id, 200) h
  WHERE p.repost_of IS NULL AND p.deleted_at IS NULL AND h.entry_id = p.post_id
  ORDER BY p.post_id
$$;

SELECT feed.create_user('ann') AS ann \gset
SELECT feed.create_user('bob') AS bob \gset
SELECT feed.create_user('cat', true) AS cat \gset
SELECT feed.create_user('dan') AS dan \gset

-- New users: all zero.
SELECT * FROM pg_temp.stats();

------------------------------------------------------------------------------
-- Follower / following counts
------------------------------------------------------------------------------

-- An active follow counts for both sides.
SELECT feed.follow(:bob, :ann);
SELECT * FROM pg_temp.stats();

-- Following again changes nothing.
SELECT feed.follow(:bob, :ann);
SELECT * FROM pg_temp.stats();

-- A pending request counts for nobody ...
SELECT feed.follow(:dan, :cat);
SELECT * FROM pg_temp.stats();

-- ... until it is approved.
SELECT feed.approve_follow(:cat, :dan);
SELECT * FROM pg_temp.stats();

-- Turning public approves pending requests: they count from then on.
SELECT feed.follow(:bob, :cat);
SELECT * FROM pg_temp.stats() WHERE handle IN ('bob', 'cat');
SELECT feed.set_private(:cat, false);
SELECT * FROM pg_temp.stats() WHERE handle IN ('bob', 'cat');
SELECT feed.set_private(:cat, true);

-- Unfollow and remove_follower take the follow off both sides; a no-op
-- changes nothing.
SELECT feed.unfollow(:bob, :ann);
SELECT feed.unfollow(:bob, :ann);
SELECT feed.remove_follower(:cat, :bob);
SELECT * FROM pg_temp.stats();

-- Withdrawing a pending request changes no count.
SELECT feed.follow(:ann, :cat);
SELECT feed.unfollow(:ann, :cat);
SELECT * FROM pg_temp.stats();

------------------------------------------------------------------------------
-- Post counts
------------------------------------------------------------------------------

-- Posts count for their author; a retried publish with the same key is one post.
SELECT feed.publish(:ann, 'ann 1') AS a1 \gset
SELECT feed.publish(:ann, 'ann 2', 'key') AS a2 \gset
SELECT feed.publish(:ann, 'ann 2', 'key') = :a2 AS same_id;
SELECT feed.publish(:bob, 'bob 1') AS b1 \gset
SELECT * FROM pg_temp.stats();

-- A repost counts for the reposter, not for the original's author; a
-- repeated repost is the same one.
SELECT feed.repost(:bob, :a1) AS r1 \gset
SELECT feed.repost(:bob, :a1) = :r1 AS same_id;
SELECT * FROM pg_temp.stats() WHERE handle IN ('ann', 'bob');

-- A deleted post no longer counts; deleting again changes nothing; an edit
-- changes nothing.
SELECT feed.edit_post(:ann, :a2, 'ann 2 edited');
SELECT feed.delete_post(:ann, :a2);
SELECT feed.delete_post(:ann, :a2);
SELECT * FROM pg_temp.stats() WHERE handle IN ('ann', 'bob');

-- A deleted repost no longer counts; reposting again counts once more.
SELECT feed.delete_post(:bob, :r1);
SELECT * FROM pg_temp.stats() WHERE handle = 'bob';
SELECT feed.repost(:bob, :a1) AS r1 \gset
SELECT * FROM pg_temp.stats() WHERE handle = 'bob';

------------------------------------------------------------------------------
-- like_count
------------------------------------------------------------------------------

-- Each like counts once; a repeat does not count; a like through a repost
-- counts on the original.
SELECT feed.like(:bob, :a1);
SELECT feed.like(:dan, :a1);
SELECT feed.like(:dan, :a1);
SELECT feed.like(:cat, :r1);
SELECT feed.like(:ann, :b1);
SELECT * FROM pg_temp.likes();

-- The like_count in home and in user_posts is the same number.
SELECT h.like_count AS in_home, u.like_count AS in_user_posts
FROM feed.home(:bob) h JOIN feed.user_posts(:dan, :ann) u USING (post_id)
WHERE h.post_id = :a1;

-- unlike takes one off; a no-op unlike changes nothing.
SELECT feed.unlike(:dan, :a1);
SELECT feed.unlike(:dan, :a1);
SELECT * FROM pg_temp.likes();

------------------------------------------------------------------------------
-- Blocks
------------------------------------------------------------------------------

-- ann and bob follow each other and dan follows ann; cat (private) has a
-- pending request from ann.
SELECT feed.follow(:bob, :ann), feed.follow(:ann, :bob), feed.follow(:dan, :ann);
SELECT feed.follow(:ann, :cat);
SELECT * FROM pg_temp.stats();

-- ann blocks bob: both follows go, so both sides lose a follower and a
-- followee; dan's follow stays.  Likes stay, and count.
SELECT feed.block(:ann, :bob);
SELECT * FROM pg_temp.stats();
SELECT * FROM pg_temp.likes();

-- cat blocks ann: only a pending request went, no count changes.
SELECT feed.block(:cat, :ann);
SELECT * FROM pg_temp.stats();

------------------------------------------------------------------------------
-- Pending deltas and feed.wait_idle()
------------------------------------------------------------------------------

-- No wait_idle has run so far: the numbers above were the stored counters
-- plus the pending deltas.  wait_idle folds the deltas into the counters, and
-- the numbers do not move.
SELECT * FROM pg_temp.stats();
SELECT feed.wait_idle();
SELECT * FROM pg_temp.stats();
SELECT * FROM pg_temp.likes();
SELECT count(*) AS pending_deltas FROM feed.counter_deltas;

-- After the fold, new changes are added on top of the folded counters.
SELECT feed.follow(:bob, :dan);
SELECT feed.publish(:dan, 'dan 1') AS d1 \gset
SELECT feed.like(:bob, :d1);
SELECT feed.delete_post(:bob, :b1);
SELECT * FROM pg_temp.stats();
SELECT * FROM pg_temp.likes();
SELECT feed.wait_idle();
SELECT * FROM pg_temp.stats();
SELECT * FROM pg_temp.likes();

-- The stored counters equal the truth once folded.
SELECT count(*) AS pending_deltas FROM feed.counter_deltas;
SELECT bool_and(coalesce(c.follower_count, 0) = s.follower_count
            AND coalesce(c.following_count, 0) = s.following_count
            AND coalesce(c.post_count, 0) = s.post_count) AS stored_counters_exact
FROM feed.users u
CROSS JOIN LATERAL feed.user_stats(u.user_id) s
LEFT JOIN feed.user_counters c ON c.user_id = u.user_id;

-- Counts are transactional: a change is counted inside its transaction and
-- forgotten when it rolls back.
BEGIN;
SELECT feed.follow(:cat, :dan);
SELECT feed.publish(:cat, 'cat 1') AS c1 \gset
SELECT feed.like(:cat, :c1);
SELECT * FROM pg_temp.stats() WHERE handle IN ('cat', 'dan');
SELECT * FROM pg_temp.likes() WHERE body = 'cat 1';
ROLLBACK;
SELECT * FROM pg_temp.stats() WHERE handle IN ('cat', 'dan');
SELECT feed.wait_idle();
SELECT * FROM pg_temp.stats() WHERE handle IN ('cat', 'dan');
