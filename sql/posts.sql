-- posts: publish (with and without idempotency keys), edit, delete, like.
-- Ids are kept in psql variables and never printed.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
RESET client_min_messages;

-- A home page as readable rows (author handle, body, reposter handle, likes).
CREATE FUNCTION pg_temp.home_page(v bigint)
RETURNS TABLE (author text, body text, reposted_by text, like_count bigint)
LANGUAGE sql AS $$
  SELECT a.handle, h.body, r.handle, h.like_count
  FROM feed.home(v) WITH ORDINALITY AS h(entry_id, post_id, author_id, reposted_by,
                                         body, created_at, like_count, pos)
  JOIN feed.users a ON a.user_id = h.author_id
  LEFT JOIN feed.users r ON r.user_id = h.reposted_by
  ORDER BY h.pos
$$;

-- user_posts(v, w) as readable rows.
CREATE FUNCTION pg_temp.user_page(v bigint, w bigint)
RETURNS TABLE (author text, body text, reposted_by text, like_count bigint)
LANGUAGE sql AS $$
  SELECT a.handle, h.body, r.handle, h.like_count
  FROM feed.user_posts(v, w) WITH ORDINALITY AS h(entry_id, post_id, author_id, reposted_by,
                                                  body, created_at, like_count, pos)
  JOIN feed.users a ON a.user_id = h.author_id
  LEFT JOIN feed.users r ON r.user_id = h.reposted_by
  ORDER BY h.pos
$$;

SELECT feed.create_user('alice') AS alice \gset
SELECT feed.create_user('bob') AS bob \gset
SELECT feed.create_user('carol') AS carol \gset
SELECT feed.follow(:bob, :alice);
SELECT feed.follow(:carol, :alice);

------------------------------------------------------------------------------
-- publish
------------------------------------------------------------------------------

-- publish returns the new post's id; the row is a live original with the body.
SELECT feed.publish(:alice, 'hello world') AS p1 \gset
SELECT u.handle, p.body, p.repost_of IS NULL AS original, p.deleted_at IS NULL AS live,
       p.idempotency_key
FROM feed.posts p JOIN feed.users u ON u.user_id = p.author_id
WHERE p.post_id = :p1;

-- The body is stored exactly as given (no trimming; tab, newline and
-- multibyte characters are fine).
SELECT feed.publish(:carol, E'  two\tlines\nand ünïcödé  ') AS p2 \gset
SELECT body = E'  two\tlines\nand ünïcödé  ' AS exact FROM feed.posts WHERE post_id = :p2;

-- Without a key, every call is a new post, even with the same body.
SELECT feed.publish(:alice, 'same') AS s1 \gset
SELECT feed.publish(:alice, 'same') AS s2 \gset
SELECT :s1 <> :s2 AS distinct_ids, :s1 < :s2 AS increasing;
SELECT count(*) AS same_posts FROM feed.posts WHERE body = 'same';

------------------------------------------------------------------------------
-- Idempotent publish: (author, idempotency_key) names one post
------------------------------------------------------------------------------

-- The same key returns the first id, whatever the body of the retry; one row.
SELECT feed.publish(:alice, 'first try', 'k1') AS k1 \gset
SELECT feed.publish(:alice, 'second try', 'k1') = :k1 AS same_id;
SELECT feed.publish(:alice, 'first try', 'k1') = :k1 AS same_id;
SELECT count(*) AS rows_with_k1, min(body) AS body
FROM feed.posts WHERE author_id = :alice AND idempotency_key = 'k1';

-- A different key makes a new post.
SELECT feed.publish(:alice, 'first try', 'k2') <> :k1 AS new_id;

-- Keys belong to one author: bob's 'k1' is a different post from alice's.
SELECT feed.publish(:bob, 'bob with k1', 'k1') AS bk1 \gset
SELECT :bk1 <> :k1 AS new_id;
SELECT u.handle, p.body FROM feed.posts p JOIN feed.users u ON u.user_id = p.author_id
WHERE p.idempotency_key = 'k1' ORDER BY p.post_id;

-- A deleted post still owns its key: the retry returns the deleted post's id
-- and does not bring it back.
SELECT feed.publish(:alice, 'to be deleted', 'kd') AS kd \gset
SELECT feed.delete_post(:alice, :kd) AS deleted;
SELECT feed.publish(:alice, 'to be deleted', 'kd') = :kd AS same_id;
SELECT count(*) AS rows_with_kd, bool_and(deleted_at IS NOT NULL) AS still_deleted
FROM feed.posts WHERE author_id = :alice AND idempotency_key = 'kd';

-- Each post appears once in the follower's home (two posts say 'same',
-- two 'first try'; the deleted one is not there).
SELECT * FROM pg_temp.home_page(:bob);

------------------------------------------------------------------------------
-- edit_post
------------------------------------------------------------------------------

-- Editing changes the body and updated_at: true; the same body again: false,
-- and the row is not touched.
SELECT updated_at AS before_edit FROM feed.posts WHERE post_id = :p1 \gset
SELECT feed.edit_post(:alice, :p1, 'hello, world') AS changed;
SELECT body, updated_at > :'before_edit' AS updated_at_moved FROM feed.posts WHERE post_id = :p1;
SELECT updated_at AS before_edit FROM feed.posts WHERE post_id = :p1 \gset
SELECT feed.edit_post(:alice, :p1, 'hello, world') AS changed;
SELECT body, updated_at = :'before_edit' AS updated_at_same FROM feed.posts WHERE post_id = :p1;

-- The edit is visible at once in a follower's home, in user_posts, and in the
-- author's own home, before and after feed.wait_idle().
SELECT body FROM feed.home(:bob) WHERE post_id = :p1;
SELECT body FROM feed.home(:alice) WHERE post_id = :p1;
SELECT body FROM feed.user_posts(:carol, :alice) WHERE post_id = :p1;
SELECT feed.wait_idle();
SELECT feed.edit_post(:alice, :p1, 'hello, edited world') AS changed;
SELECT body FROM feed.home(:bob) WHERE post_id = :p1;
SELECT body FROM feed.home(:carol) WHERE post_id = :p1;
SELECT body FROM feed.user_posts(:bob, :alice) WHERE post_id = :p1;

-- An edit does not move the post: it keeps its place in the feed.
SELECT * FROM pg_temp.home_page(:bob);

------------------------------------------------------------------------------
-- delete_post: a tombstone
------------------------------------------------------------------------------

-- Deleting is true; the row stays, with deleted_at set and the body cleared.
SELECT feed.delete_post(:alice, :p1) AS deleted;
SELECT body IS NULL AS body_cleared, deleted_at IS NOT NULL AS has_deleted_at
FROM feed.posts WHERE post_id = :p1;

-- Deleting again is false and changes nothing.
SELECT deleted_at AS first_deleted_at FROM feed.posts WHERE post_id = :p1 \gset
SELECT feed.delete_post(:alice, :p1) AS deleted;
SELECT deleted_at = :'first_deleted_at' AS deleted_at_unchanged FROM feed.posts WHERE post_id = :p1;

-- The deleted post is gone from every feed at once (it was in the inboxes) ...
SELECT count(*) AS in_bob_home FROM feed.home(:bob) WHERE post_id = :p1;
SELECT count(*) AS in_carol_home FROM feed.home(:carol) WHERE post_id = :p1;
SELECT count(*) AS in_alice_home FROM feed.home(:alice) WHERE post_id = :p1;
SELECT count(*) AS in_user_posts FROM feed.user_posts(:bob, :alice) WHERE post_id = :p1;
SELECT count(*) AS in_own_user_posts FROM feed.user_posts(:alice, :alice) WHERE post_id = :p1;

-- ... and stays gone after feed.wait_idle().
SELECT feed.wait_idle();
SELECT count(*) AS in_bob_home FROM feed.home(:bob) WHERE post_id = :p1;
SELECT count(*) AS in_alice_home FROM feed.home(:alice) WHERE post_id = :p1;
SELECT * FROM pg_temp.home_page(:bob);

-- A post deleted before the fanout ran never shows up either.
SELECT feed.publish(:alice, 'blink') AS blink \gset
SELECT feed.delete_post(:alice, :blink) AS deleted;
SELECT count(*) AS in_bob_home FROM feed.home(:bob) WHERE post_id = :blink;
SELECT feed.wait_idle();
SELECT count(*) AS in_bob_home FROM feed.home(:bob) WHERE post_id = :blink;

------------------------------------------------------------------------------
-- like / unlike
------------------------------------------------------------------------------

SELECT feed.publish(:alice, 'likeable') AS lp \gset

-- like: true the first time, false on a repeat; one row.
SELECT feed.like(:bob, :lp) AS liked;
SELECT feed.like(:bob, :lp) AS liked;
SELECT count(*) AS like_rows FROM feed.likes WHERE post_id = :lp;

-- The author may like their own post.
SELECT feed.like(:alice, :lp) AS liked;

-- like_count is shown with the post.
SELECT body, like_count FROM feed.home(:carol) WHERE post_id = :lp;

-- unlike: true, then false (not liked any more).
SELECT feed.unlike(:bob, :lp) AS unliked;
SELECT feed.unlike(:bob, :lp) AS unliked;
SELECT feed.unlike(:carol, :lp) AS unliked;
SELECT body, like_count FROM feed.home(:carol) WHERE post_id = :lp;

-- A like of a repost goes to its original: the like row names the original,
-- the original's like_count counts it, and liking the original afterwards is
-- a repeat.
SELECT feed.repost(:carol, :lp) AS rp \gset
SELECT feed.like(:bob, :rp) AS liked;
SELECT count(*) AS likes_on_original FROM feed.likes WHERE post_id = :lp AND user_id = :bob;
SELECT count(*) AS likes_on_repost FROM feed.likes WHERE post_id = :rp;
SELECT feed.like(:bob, :lp) AS liked;
SELECT body, like_count FROM feed.home(:carol) WHERE post_id = :lp;
SELECT body, reposted_by = :carol AS via_carol, like_count FROM feed.user_posts(:bob, :carol)
WHERE entry_id = :rp;

-- unlike through the repost takes the like off the original, symmetrically.
SELECT feed.unlike(:bob, :rp) AS unliked;
SELECT count(*) AS likes_on_original FROM feed.likes WHERE post_id = :lp AND user_id = :bob;
SELECT feed.like(:bob, :rp) AS liked;

-- Likes outlive the post's deletion, and unlike still works on a deleted post.
SELECT feed.delete_post(:alice, :lp) AS deleted;
SELECT count(*) AS like_rows FROM feed.likes WHERE post_id = :lp;
SELECT feed.unlike(:bob, :lp) AS unliked;
SELECT feed.unlike(:bob, :lp) AS unliked;
SELECT count(*) AS like_rows FROM feed.likes WHERE post_id = :lp;

-- A like that fails inside its checks (an error in a subtransaction, caught)
-- leaves nothing behind for the next like, in the same or a sibling
-- subtransaction.
DO $$
DECLARE
    ok integer := 0;
BEGIN
    FOR i IN 1..3 LOOP
        BEGIN
            PERFORM feed.like(-1, 1);
        EXCEPTION WHEN no_data_found THEN
            ok := ok + 1;
        END;
    END LOOP;
    RAISE NOTICE 'caught % errors', ok;
END
$$;
SELECT feed.publish(:alice, 'liked after caught errors') AS p3 \gset
SELECT feed.like(:carol, :p3) AS liked_after_caught_errors;
SELECT feed.unlike(:carol, :p3) AS unliked;
