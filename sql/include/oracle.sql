-- Walks the whole feed page by page (n rows a page, each page starting
-- before the last entry_id of the previous one) until a page comes back empty.
CREATE FUNCTION pg_temp.walk_home(v bigint, n integer)
RETURNS TABLE (page integer, pos integer, entry bigint, post bigint)
LANGUAGE plpgsql AS $$
DECLARE
  cur bigint;
  got integer;
  r record;
BEGIN
  page := 0;
  pos := 0;
  LOOP
    page := page + 1;
    got := 0;
    FOR r IN SELECT h.entry_id, h.post_id FROM feed.home(v, n, cur) h LOOP
      got := got + 1;
      pos := pos + 1;
      entry := r.entry_id;
      post := r.post_id;
      cur := r.entry_id;
      RETURN NEXT;
    END LOOP;
    EXIT WHEN got = 0;
  END LOOP;
END
$$;

-- The oracle of DESIGN.md in plain SQL: the visible posts of v grouped by
-- original, entry = smallest visible id of the group, newest entry first.
CREATE FUNCTION pg_temp.oracle(v bigint)
RETURNS TABLE (entry bigint, post bigint)
LANGUAGE sql AS $$
  WITH visible AS (
    SELECT p.post_id AS id, coalesce(p.repost_of, p.post_id) AS orig
    FROM feed.posts p
    LEFT JOIN feed.posts o ON o.post_id = p.repost_of
    JOIN feed.users oa ON oa.user_id = coalesce(o.author_id, p.author_id)
    WHERE p.deleted_at IS NULL
      AND (o.post_id IS NULL OR o.deleted_at IS NULL)
      AND (p.author_id = v OR EXISTS (
            SELECT 1 FROM feed.follows f
            WHERE f.follower_id = v AND f.followee_id = p.author_id AND f.state = 'active'))
      AND NOT EXISTS (
            SELECT 1 FROM feed.blocks b
            WHERE (b.blocker_id = v AND b.blocked_id IN (p.author_id, oa.user_id))
               OR (b.blocked_id = v AND b.blocker_id IN (p.author_id, oa.user_id)))
      AND (NOT oa.is_private OR oa.user_id = v OR EXISTS (
            SELECT 1 FROM feed.follows f
            WHERE f.follower_id = v AND f.followee_id = oa.user_id AND f.state = 'active'))
  )
  SELECT min(id), orig FROM visible GROUP BY orig ORDER BY 1 DESC
$$;
