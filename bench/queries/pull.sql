WITH v AS MATERIALIZED (
    SELECT user_id AS id FROM bench.viewers WHERE n = :n
), src AS MATERIALIZED (
    -- the viewer and the accounts the viewer actively follows, minus blocks
    SELECT (SELECT id FROM v) AS author_id
    UNION ALL
    SELECT f.followee_id
    FROM feed.follows f
    WHERE f.follower_id = (SELECT id FROM v) AND f.state = 'active'
      AND NOT EXISTS (SELECT 1 FROM feed.blocks b
                      WHERE b.blocker_id = f.follower_id AND b.blocked_id = f.followee_id)
      AND NOT EXISTS (SELECT 1 FROM feed.blocks b
                      WHERE b.blocker_id = f.followee_id AND b.blocked_id = f.follower_id)
), top AS (
    -- per source, its newest 50 posts that are visible *and* the oldest
    -- visible post of their group; the union of those is a superset of the
    -- page, so the global newest 50 of it is exact
    SELECT e.*
    FROM src
    CROSS JOIN LATERAL (
        SELECT p.post_id, p.author_id, p.repost_of
        FROM feed.posts p
        WHERE p.author_id = src.author_id AND p.deleted_at IS NULL
          AND (p.repost_of IS NULL OR EXISTS (
                -- a repost is an entry only when its original is live, not by
                -- the viewer or a followee (then the original is the entry),
                -- public, not blocked, and no earlier visible repost exists
                SELECT 1
                FROM feed.posts o JOIN feed.users ou ON ou.user_id = o.author_id
                WHERE o.post_id = p.repost_of AND o.deleted_at IS NULL
                  AND NOT ou.is_private
                  AND o.author_id <> (SELECT id FROM v)
                  AND NOT EXISTS (SELECT 1 FROM feed.follows f2
                                  WHERE f2.follower_id = (SELECT id FROM v)
                                    AND f2.followee_id = o.author_id AND f2.state = 'active')
                  AND NOT EXISTS (SELECT 1 FROM feed.blocks b
                                  WHERE b.blocker_id = (SELECT id FROM v) AND b.blocked_id = o.author_id)
                  AND NOT EXISTS (SELECT 1 FROM feed.blocks b
                                  WHERE b.blocker_id = o.author_id AND b.blocked_id = (SELECT id FROM v))
                  AND NOT EXISTS (
                        SELECT 1 FROM feed.posts r
                        WHERE r.repost_of = p.repost_of AND r.post_id < p.post_id
                          AND r.deleted_at IS NULL
                          AND r.author_id IN (SELECT author_id FROM src))))
        ORDER BY p.post_id DESC
        LIMIT 50
    ) e
    ORDER BY e.post_id DESC
    LIMIT 50
)
SELECT t.post_id AS entry_id, o.post_id, o.author_id,
       CASE WHEN t.repost_of IS NOT NULL THEN t.author_id END AS reposted_by,
       o.body, o.created_at, coalesce(pc.like_count, 0)::bigint AS like_count
FROM top t
JOIN feed.posts o ON o.post_id = coalesce(t.repost_of, t.post_id)
LEFT JOIN feed.post_counters pc ON pc.post_id = o.post_id
ORDER BY t.post_id DESC;
