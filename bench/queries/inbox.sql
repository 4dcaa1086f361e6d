SELECT i.entry_id, o.post_id, o.author_id, i.reposted_by, o.body, o.created_at,
       coalesce(pc.like_count, 0)::bigint AS like_count
FROM bench.inbox_plain i
JOIN feed.posts o ON o.post_id = i.post_id
LEFT JOIN feed.post_counters pc ON pc.post_id = i.post_id
WHERE i.user_id = (SELECT user_id FROM bench.viewers WHERE n = :n)
ORDER BY i.entry_id DESC
LIMIT 50;
