-- bench/oracle.sql: DESIGN.md's visibility rules transcribed literally, no
-- attention to speed.  run.sh uses it to check, on a sample of viewers, that
-- feed.home and the plain-SQL pull baseline return exactly the same page
-- (so the benchmark compares equal work).  Like counts are the count of rows
-- in feed.likes, i.e. the truth, not a counter.
CREATE FUNCTION bench.oracle(v bigint, lim integer)
RETURNS TABLE (entry_id bigint, post_id bigint, author_id bigint, reposted_by bigint,
               body text, created_at timestamptz, like_count bigint)
LANGUAGE sql STABLE AS $$
    WITH visible AS (
        SELECT p.post_id, p.author_id, p.repost_of, o.post_id AS orig
        FROM feed.posts p
        JOIN feed.posts o ON o.post_id = coalesce(p.repost_of, p.post_id)
        JOIN feed.users ou ON ou.user_id = o.author_id
        WHERE p.deleted_at IS NULL AND o.deleted_at IS NULL                     -- rule 1
          AND (p.author_id = v OR EXISTS (                                      -- rule 2
                SELECT 1 FROM feed.follows f
                WHERE f.follower_id = v AND f.followee_id = p.author_id AND f.state = 'active'))
          AND NOT EXISTS (                                                      -- rule 3
                SELECT 1 FROM feed.blocks b
                WHERE (b.blocker_id = v AND b.blocked_id IN (p.author_id, o.author_id))
                   OR (b.blocked_id = v AND b.blocker_id IN (p.author_id, o.author_id)))
          AND (NOT ou.is_private OR o.author_id = v OR EXISTS (                 -- rule 4
                SELECT 1 FROM feed.follows f
                WHERE f.follower_id = v AND f.followee_id = o.author_id AND f.state = 'active'))
    ), grouped AS (
        SELECT DISTINCT ON (orig) orig, post_id AS entry_id,
               CASE WHEN repost_of IS NOT NULL THEN author_id END AS reposted_by
        FROM visible
        ORDER BY orig, post_id
    )
    SELECT g.entry_id, o.post_id, o.author_id, g.reposted_by, o.body, o.created_at,
           (SELECT count(*) FROM feed.likes l WHERE l.post_id = o.post_id)
    FROM grouped g JOIN feed.posts o ON o.post_id = g.orig
    ORDER BY g.entry_id DESC
    LIMIT lim
$$;
