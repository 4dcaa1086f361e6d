-- user_posts: one author's posts and reposts as seen by a viewer.
-- Ids are kept in psql variables and never printed.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
RESET client_min_messages;

-- user_posts(v, w) as readable rows: the original's author and body, the
-- reposter (NULL on the author's own originals), likes.
CREATE FUNCTION pg_temp.user_page(v bigint, w bigint, n integer DEFAULT 50, cur bigint DEFAULT NULL)
RETURNS TABLE (author text, body text, reposted_by text, like_count bigint)
LANGUAGE sql AS $$
  SELECT a.handle, h.body, r.handle, h.like_count
  FROM feed.user_posts(v, w, n, cur) WITH ORDINALITY AS h(entry_id, post_id, author_id, reposted_by,
                                                         body, created_at, like_count, pos)
  JOIN feed.users a ON a.user_id = h.author_id
  LEFT JOIN feed.users r ON r.user_id = h.reposted_by
  ORDER BY h.pos
$$;

SELECT feed.create_user('ann') AS ann \gset
SELECT feed.create_user('pia', true) AS pia \gset
SELECT feed.create_user('vic') AS vic \gset
SELECT feed.create_user('fol') AS fol \gset
SELECT feed.create_user('pen') AS pen \gset
SELECT feed.create_user('bob') AS bob \gset
SELECT feed.create_user('blk') AS blk \gset
SELECT feed.create_user('pat') AS pat \gset
SELECT feed.create_user('paf') AS paf \gset

-- fol is an approved follower of private pia, pen only asked; paf follows pat.
SELECT feed.follow(:fol, :pia);
SELECT feed.approve_follow(:pia, :fol);
SELECT feed.follow(:pen, :pia);
SELECT feed.follow(:paf, :pat);

SELECT feed.publish(:ann, 'ann 1') AS a1 \gset
SELECT feed.publish(:bob, 'bob 1') AS b1 \gset
SELECT feed.publish(:ann, 'ann 2') AS a2 \gset
SELECT feed.publish(:pia, 'pia 1') AS p1 \gset
SELECT feed.publish(:ann, 'ann 3') AS a3 \gset
SELECT feed.publish(:pia, 'pia 2') AS p2 \gset
SELECT feed.publish(:pat, 'pat 1') AS t1 \gset

------------------------------------------------------------------------------
-- Own view and public authors
------------------------------------------------------------------------------

-- The author sees all own posts, newest first.
SELECT * FROM pg_temp.user_page(:ann, :ann);

-- Anyone sees a public author's posts, without following.
SELECT * FROM pg_temp.user_page(:vic, :ann);

-- One row per post: entry_id = post_id, author = the author, no reposter,
-- entry_id descending.
SELECT bool_and(h.entry_id = h.post_id AND h.author_id = :ann AND h.reposted_by IS NULL
                AND (h.prev IS NULL OR h.entry_id < h.prev)) AS consistent, count(*) AS n
FROM (SELECT u.*, lag(u.entry_id) OVER (ORDER BY u.pos) AS prev
      FROM feed.user_posts(:vic, :ann) WITH ORDINALITY AS u(entry_id, post_id, author_id,
           reposted_by, body, created_at, like_count, pos)) h;

-- An author's home and user_posts differ: user_posts shows only that author.
SELECT * FROM pg_temp.user_page(:ann, :bob);

------------------------------------------------------------------------------
-- Private authors
------------------------------------------------------------------------------

-- A private author's posts: no rows (not an error) for a stranger or a
-- pending follower; all rows for an approved follower and for herself.
SELECT count(*) AS for_stranger FROM feed.user_posts(:vic, :pia);
SELECT count(*) AS for_pending FROM feed.user_posts(:pen, :pia);
SELECT * FROM pg_temp.user_page(:fol, :pia);
SELECT * FROM pg_temp.user_page(:pia, :pia);

-- Approving pen opens them; removing fol closes them at once.
SELECT feed.approve_follow(:pia, :pen);
SELECT count(*) AS for_pen FROM feed.user_posts(:pen, :pia);
SELECT feed.remove_follower(:pia, :fol);
SELECT count(*) AS for_fol FROM feed.user_posts(:fol, :pia);

-- A public author turning private hides the posts from non-followers and
-- keeps them for followers.
SELECT feed.set_private(:ann, true);
SELECT count(*) AS ann_for_vic FROM feed.user_posts(:vic, :ann);
SELECT feed.set_private(:ann, false);
SELECT count(*) AS ann_for_vic FROM feed.user_posts(:vic, :ann);

------------------------------------------------------------------------------
-- Blocks
------------------------------------------------------------------------------

-- When ann blocks blk, neither sees the other's posts.
SELECT feed.publish(:blk, 'blk 1') AS k1 \gset
SELECT count(*) AS ann_for_blk FROM feed.user_posts(:blk, :ann);
SELECT count(*) AS blk_for_ann FROM feed.user_posts(:ann, :blk);
SELECT feed.block(:ann, :blk);
SELECT count(*) AS ann_for_blk FROM feed.user_posts(:blk, :ann);
SELECT count(*) AS blk_for_ann FROM feed.user_posts(:ann, :blk);

-- Others are not affected.
SELECT count(*) AS ann_for_vic FROM feed.user_posts(:vic, :ann);
SELECT count(*) AS blk_for_vic FROM feed.user_posts(:vic, :blk);

-- After unblocking both see each other's posts again (public accounts).
SELECT feed.unblock(:ann, :blk);
SELECT count(*) AS ann_for_blk FROM feed.user_posts(:blk, :ann);
SELECT count(*) AS blk_for_ann FROM feed.user_posts(:ann, :blk);

------------------------------------------------------------------------------
-- Reposts
------------------------------------------------------------------------------

-- bob reposts ann 1 and pat 1, and his own post.  Each repost is one row:
-- entry_id = the repost's id; post_id, author, body, created_at and likes of
-- the original; reposted_by = bob.
SELECT feed.repost(:bob, :a1) AS r1 \gset
SELECT feed.repost(:bob, :t1) AS r2 \gset
SELECT feed.repost(:bob, :b1) AS r3 \gset
SELECT feed.like(:vic, :a1);
SELECT * FROM pg_temp.user_page(:vic, :bob);
SELECT h.entry_id = :r1 AS entry_is_repost, h.post_id = :a1 AS post_is_original,
       h.author_id = :ann AS original_author, h.reposted_by = :bob AS by_bob,
       h.created_at = p.created_at AS original_created_at
FROM feed.user_posts(:vic, :bob) h JOIN feed.posts p ON p.post_id = h.post_id
WHERE h.entry_id = :r1;

-- Reposts are not grouped here: bob's own post and his repost of it are two rows.
SELECT count(*) AS rows_for_b1 FROM feed.user_posts(:vic, :bob) WHERE post_id = :b1;

-- The reposted author's own user_posts does not show bob's reposts.
SELECT * FROM pg_temp.user_page(:vic, :ann);

-- pat turns private: the repost of her post is hidden from those who do not
-- follow pat (vic), kept for her follower paf and for pat herself; bob's
-- other rows stay.
SELECT feed.set_private(:pat, true);
SELECT * FROM pg_temp.user_page(:vic, :bob);
SELECT * FROM pg_temp.user_page(:paf, :bob);
SELECT * FROM pg_temp.user_page(:pat, :bob);

-- bob himself does not follow pat: he no longer sees his own repost of her post.
SELECT * FROM pg_temp.user_page(:bob, :bob);

-- A block with the original's author hides the repost too: vic blocks ann.
SELECT feed.block(:vic, :ann);
SELECT * FROM pg_temp.user_page(:vic, :bob);
SELECT feed.unblock(:vic, :ann);

------------------------------------------------------------------------------
-- Deleted posts
------------------------------------------------------------------------------

-- A deleted post disappears; so does every repost of a deleted original.
SELECT feed.delete_post(:ann, :a1);
SELECT * FROM pg_temp.user_page(:vic, :ann);
SELECT * FROM pg_temp.user_page(:vic, :bob);

-- A deleted repost disappears, the original stays.
SELECT feed.delete_post(:bob, :r3);
SELECT * FROM pg_temp.user_page(:vic, :bob);

------------------------------------------------------------------------------
-- Paging
------------------------------------------------------------------------------

SELECT count(feed.publish(:ann, 'ann more ' || g)) AS published FROM generate_series(1, 5) g;
SELECT * FROM pg_temp.user_page(:vic, :ann);

-- lim caps the page; before (exclusive) continues after the last entry_id.
SELECT * FROM pg_temp.user_page(:vic, :ann, 3);
SELECT entry_id AS cur FROM feed.user_posts(:vic, :ann, 3) OFFSET 2 \gset
SELECT * FROM pg_temp.user_page(:vic, :ann, 3, :cur);
SELECT entry_id AS cur FROM feed.user_posts(:vic, :ann, 3, :cur) OFFSET 2 \gset
SELECT * FROM pg_temp.user_page(:vic, :ann, 3, :cur);
-- The page after the last one is empty.
SELECT entry_id AS cur FROM feed.user_posts(:vic, :ann, 3, :cur) OFFSET 0 \gset
SELECT * FROM pg_temp.user_page(:vic, :ann, 3, :cur);

-- Pages concatenate to the whole list: walking in pages of 2 gives the same
-- rows in the same order as one big page.
WITH RECURSIVE pages(n, entry_ids, cur) AS (
  SELECT 0, ARRAY[]::bigint[], NULL::bigint
  UNION ALL
  SELECT n + 1, entry_ids || page.ids, page.ids[array_length(page.ids, 1)]
  FROM pages,
       LATERAL (SELECT array_agg(h.entry_id ORDER BY h.pos) AS ids
                FROM feed.user_posts(:vic, :ann, 2, pages.cur)
                     WITH ORDINALITY AS h(entry_id, post_id, author_id, reposted_by,
                                          body, created_at, like_count, pos)) page
  WHERE page.ids IS NOT NULL
)
SELECT max(n) AS pages,
       (SELECT entry_ids FROM pages ORDER BY n DESC LIMIT 1) =
       (SELECT array_agg(entry_id ORDER BY entry_id DESC)
        FROM feed.user_posts(:vic, :ann, 200)) AS same_as_one_page
FROM pages;
