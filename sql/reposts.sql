-- reposts: what a repost points at, one live repost per (reposter, original),
-- and how reposts are grouped with their original in the home feed.
-- Ids are kept in psql variables and never printed.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
RESET client_min_messages;

-- A home page as readable rows: the original's author and body, who reposted
-- it (NULL when the entry is the original itself), likes.
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

-- The repost rows in the table: reposter, original's body (NULL once the
-- original is deleted), whether the repost has a body of its own, whether
-- the repost is live (not deleted).
CREATE TEMP VIEW repost_rows AS
SELECT r.handle AS reposter, o.body AS original_body, p.body IS NULL AS no_own_body,
       p.deleted_at IS NULL AS live
FROM feed.posts p
JOIN feed.users r ON r.user_id = p.author_id
JOIN feed.posts o ON o.post_id = p.repost_of
WHERE p.repost_of IS NOT NULL
ORDER BY p.post_id;

SELECT feed.create_user('alice') AS alice \gset
SELECT feed.create_user('bob') AS bob \gset
SELECT feed.create_user('carol') AS carol \gset
SELECT feed.create_user('vic') AS vic \gset
SELECT feed.create_user('dave') AS dave \gset
SELECT feed.create_user('fay') AS fay \gset
SELECT feed.create_user('priv', true) AS priv \gset
SELECT feed.create_user('fol') AS fol \gset

-- vic follows bob and carol (not alice); dave follows alice and bob; fay
-- follows carol only; fol is an approved follower of private priv.
SELECT feed.follow(:vic, :bob), feed.follow(:vic, :carol);
SELECT feed.follow(:dave, :alice), feed.follow(:dave, :bob);
SELECT feed.follow(:fay, :carol);
SELECT feed.follow(:fol, :priv);
SELECT feed.approve_follow(:priv, :fol);

------------------------------------------------------------------------------
-- What a repost is
------------------------------------------------------------------------------

-- alice posts; bob posts and reposts alice; carol posts and reposts bob's
-- repost.  Both reposts point at alice's original and have no body.
SELECT feed.publish(:alice, 'original') AS orig \gset
SELECT feed.publish(:bob, 'bob before') AS bpost \gset
SELECT feed.repost(:bob, :orig) AS rb \gset
SELECT feed.publish(:carol, 'carol between') AS cpost \gset
SELECT feed.repost(:carol, :rb) AS rc \gset
SELECT * FROM repost_rows;
SELECT bool_and(repost_of = :orig) AS all_point_at_original
FROM feed.posts WHERE repost_of IS NOT NULL;

-- One live repost per (reposter, original): reposting again, directly or
-- through another repost, returns the existing id and adds no row.
SELECT feed.repost(:bob, :orig) = :rb AS same_id;
SELECT feed.repost(:bob, :rc) = :rb AS same_id;
SELECT feed.repost(:carol, :orig) = :rc AS same_id;
SELECT count(*) AS reposts FROM feed.posts WHERE repost_of IS NOT NULL;

------------------------------------------------------------------------------
-- Grouping in home: one row per original
------------------------------------------------------------------------------

-- vic follows both reposters: the original shows once, at the place of the
-- older repost (bob's), with reposted_by = bob.  carol's later repost does
-- not move it to the top.  Read before the fanout ran (pulled) ...
SELECT * FROM pg_temp.home_page(:vic);
SELECT entry_id = :rb AS entry_is_bobs_repost, post_id = :orig AS shows_original,
       author_id = :alice AS original_author, reposted_by = :bob AS by_bob
FROM feed.home(:vic) WHERE post_id = :orig;

-- ... and the same after feed.wait_idle() (from the inbox).
SELECT feed.wait_idle();
SELECT * FROM pg_temp.home_page(:vic);
SELECT entry_id = :rb AS entry_is_bobs_repost FROM feed.home(:vic) WHERE post_id = :orig;

-- fay follows carol only: the entry is carol's repost, at carol's repost's
-- place (the top).
SELECT * FROM pg_temp.home_page(:fay);
SELECT entry_id = :rc AS entry_is_carols_repost FROM feed.home(:fay) WHERE post_id = :orig;

-- dave follows alice herself: the original is the entry (reposted_by NULL),
-- at its own place, even though dave also follows bob who reposted it.
SELECT * FROM pg_temp.home_page(:dave);
SELECT entry_id = :orig AS entry_is_original, reposted_by IS NULL AS not_a_repost
FROM feed.home(:dave) WHERE post_id = :orig;

-- The reposters see the original once too: bob via his own repost (the
-- smallest visible id in the group for him is his repost, since he does not
-- follow alice).
SELECT * FROM pg_temp.home_page(:bob);

-- Reposting your own public post is allowed; for alice's followers the
-- original stays the single entry.
SELECT feed.repost(:alice, :orig) AS ra \gset
SELECT * FROM pg_temp.home_page(:dave);
SELECT count(*) AS rows_for_original FROM feed.home(:dave) WHERE post_id = :orig;

-- A repost carries the original's like_count: a like through any of them
-- counts on the original.
SELECT feed.like(:vic, :rb) AS liked;
SELECT feed.like(:fay, :rc) AS liked;
SELECT * FROM pg_temp.home_page(:vic);

-- The same key gives the same repost (idempotent retry).
SELECT feed.publish(:alice, 'keyed') AS keyed \gset
SELECT feed.repost(:carol, :keyed, 'rk1') AS rk \gset
SELECT feed.repost(:carol, :keyed, 'rk1') = :rk AS same_id;
SELECT count(*) AS reposts_of_keyed FROM feed.posts WHERE repost_of = :keyed;

------------------------------------------------------------------------------
-- Deleting reposts and originals
------------------------------------------------------------------------------

-- Deleting bob's repost lets carol's (the next visible one) take its place
-- for vic: now at carol's repost's position, reposted_by carol.
SELECT feed.delete_post(:bob, :rb) AS deleted;
SELECT * FROM pg_temp.home_page(:vic);
SELECT entry_id = :rc AS entry_is_carols_repost FROM feed.home(:vic) WHERE post_id = :orig;
SELECT * FROM repost_rows;

-- After deleting his repost bob may repost again: a new, newer id.  carol's
-- older repost stays vic's entry.
SELECT feed.repost(:bob, :orig) AS rb2 \gset
SELECT :rb2 <> :rb AS new_id, :rb2 > :rc AS newer;
SELECT entry_id = :rc AS entry_is_carols_repost, reposted_by = :carol AS by_carol
FROM feed.home(:vic) WHERE post_id = :orig;
SELECT feed.wait_idle();
SELECT entry_id = :rc AS entry_is_carols_repost FROM feed.home(:vic) WHERE post_id = :orig;

-- Deleting the original hides it and every repost of it, from every feed,
-- at once; the repost rows themselves stay.
SELECT feed.delete_post(:alice, :orig) AS deleted;
SELECT count(*) AS in_vic FROM feed.home(:vic) WHERE post_id = :orig;
SELECT count(*) AS in_fay FROM feed.home(:fay) WHERE post_id = :orig;
SELECT count(*) AS in_dave FROM feed.home(:dave) WHERE post_id = :orig;
SELECT count(*) AS in_bob FROM feed.home(:bob) WHERE post_id = :orig;
SELECT count(*) AS in_user_posts
FROM feed.user_posts(:vic, :carol) WHERE post_id = :orig;
SELECT * FROM pg_temp.home_page(:vic);
SELECT feed.wait_idle();
SELECT * FROM pg_temp.home_page(:vic);
SELECT * FROM repost_rows;

------------------------------------------------------------------------------
-- Reposts and blocks, private authors
------------------------------------------------------------------------------

-- vic sees alice's post through carol's repost ...
SELECT feed.publish(:alice, 'second') AS second \gset
SELECT feed.repost(:carol, :second) AS rc2 \gset
SELECT * FROM pg_temp.home_page(:vic);

-- ... until vic blocks alice (or alice blocks vic): a block with the
-- original's author hides the repost immediately.
SELECT feed.block(:vic, :alice) AS blocked;
SELECT * FROM pg_temp.home_page(:vic);
SELECT feed.unblock(:vic, :alice) AS unblocked;
SELECT feed.block(:alice, :vic) AS blocked;
SELECT * FROM pg_temp.home_page(:vic);
SELECT feed.unblock(:alice, :vic) AS unblocked;

-- With the block gone the repost shows again (vic still follows carol).
SELECT * FROM pg_temp.home_page(:vic);

-- Reposting a private author's post is refused (42501), for an approved
-- follower and for the author herself; nothing is written.
SELECT feed.publish(:priv, 'for followers only') AS ppost \gset
\set VERBOSITY sqlstate
SELECT feed.repost(:fol, :ppost);
SELECT feed.repost(:priv, :ppost);
\set VERBOSITY terse
SELECT count(*) AS reposts_of_private FROM feed.posts WHERE repost_of = :ppost;

-- When an author turns private after being reposted, the repost is hidden
-- from those who do not follow the original author.
SELECT feed.set_private(:alice, true) AS changed;
SELECT * FROM pg_temp.home_page(:vic);
SELECT * FROM pg_temp.home_page(:dave);
SELECT feed.set_private(:alice, false) AS changed;
SELECT * FROM pg_temp.home_page(:vic);
