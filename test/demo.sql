-- feed demo: a small social network, run by test/demo.sh (`make demo`).
-- Ids are time-based 64-bit numbers; the queries below show handles instead.
\pset null '-'
\pset footer off

\echo '== feed: social home timelines inside PostgreSQL'
\echo
\echo '-- CREATE EXTENSION feed (the library is in shared_preload_libraries)'
CREATE EXTENSION feed;

\echo
\echo '== 1. Accounts: 200 users. taylor is the celebrity, erin is private.'
SELECT feed.create_user('taylor') AS taylor \gset
SELECT feed.create_user('alice') AS alice \gset
SELECT feed.create_user('bob') AS bob \gset
SELECT feed.create_user('carol') AS carol \gset
SELECT feed.create_user('dave') AS dave \gset
SELECT feed.create_user('erin', is_private => true) AS erin \gset
SELECT feed.create_user('frank') AS frank \gset
SELECT feed.create_user('mallory') AS mallory \gset
SELECT count(feed.create_user(format('fan%s', lpad(i::text, 3, '0')))) AS "fans created (fan001..fan192)"
FROM generate_series(1, 192) AS i;
SELECT count(*) AS "users in feed.users" FROM feed.users;

\echo
\echo '== 2. Follows: 190 accounts follow taylor, a few dozen follow each other.'
\echo '-- feed.follow() returns the state of the follow: active, or pending for a private account'
SELECT feed.follow(u.user_id, :taylor) AS state, count(*) AS "follows of taylor"
FROM feed.users AS u
WHERE u.handle IN ('alice', 'bob', 'carol', 'dave', 'erin', 'mallory')
   OR u.handle BETWEEN 'fan001' AND 'fan184'
GROUP BY 1;
SELECT feed.follow(u.user_id, :alice) AS state, count(*) AS "fans following alice"
FROM feed.users AS u WHERE u.handle BETWEEN 'fan001' AND 'fan030'
GROUP BY 1;
SELECT f.who AS follower, f.whom AS followee, feed.follow(a.user_id, b.user_id) AS state
FROM (VALUES (1, 'alice', 'bob'), (2, 'alice', 'carol'), (3, 'alice', 'dave'),
             (4, 'bob', 'alice'), (5, 'bob', 'carol'), (6, 'carol', 'alice'),
             (7, 'carol', 'dave'), (8, 'dave', 'alice'), (9, 'mallory', 'alice'),
             (10, 'alice', 'erin'), (11, 'bob', 'erin')) AS f(n, who, whom)
JOIN feed.users AS a ON a.handle = f.who
JOIN feed.users AS b ON b.handle = f.whom
ORDER BY f.n;

\echo
\echo '-- erin is private: she approves alice and leaves bob''s request pending'
SELECT feed.approve_follow(:erin, :alice) AS "erin approves alice";
\echo '-- alice blocks mallory: the follow between them is dropped'
SELECT feed.block(:alice, :mallory) AS "alice blocks mallory";

\echo
\echo '== 3. Posts, reposts, likes, an edit and a delete'
SELECT feed.publish(:taylor, 'New album out Friday! Pre-save link in bio.') AS album \gset
SELECT feed.publish(:taylor, 'Tour dates for next spring are up.') AS tour \gset
SELECT feed.publish(:dave, 'Anyone up for climbing on Saturday?') AS climb \gset
SELECT feed.publish(:erin, 'Private thought: only approved followers see this.') AS secret \gset
SELECT feed.publish(:carol, 'Just finished a 10k run') AS run \gset
SELECT feed.publish(:mallory, 'Buy followers cheap!!!') AS spam \gset
SELECT feed.publish(:frank, 'Sunrise over the bay this morning, what a view.') AS sunrise \gset
SELECT feed.publish(:bob, 'oops, wrong window') AS oops \gset
SELECT feed.publish(:bob, 'Coffee first, then code.', idempotency_key => 'bob-coffee') AS coffee \gset
SELECT feed.publish(:bob, 'Coffee first, then code.', idempotency_key => 'bob-coffee') = :coffee
       AS "publish retried with its idempotency key: same post";
\echo '-- bob and carol both repost frank (whom alice does not follow): alice sees it once'
SELECT feed.repost(:bob, :sunrise) > 0 AS "bob reposts frank", feed.repost(:carol, :sunrise) > 0 AS "carol reposts frank";
SELECT count(*) FILTER (WHERE feed.like(u.user_id, :album)) AS "likes on the album post"
FROM feed.users AS u WHERE u.handle BETWEEN 'fan001' AND 'fan120';
SELECT feed.like(:alice, :sunrise) AS "alice likes the sunrise", feed.like(:bob, :climb) AS "bob likes the climb";
SELECT feed.edit_post(:carol, :run, 'Just finished a 10k run in 52 minutes!') AS "carol edits her post";
SELECT feed.delete_post(:bob, :oops) AS "bob deletes his post";

\echo
\echo '-- Publishing queued the fanout (feed.fanout_jobs, written in the same transaction);'
\echo '-- feed.wait_idle() applies everything committed so far.'
SELECT count(*) AS "pending fanout jobs" FROM feed.fanout_jobs;
SELECT feed.wait_idle() AS "wait_idle";
SELECT count(*) AS "pending fanout jobs" FROM feed.fanout_jobs;

\echo
\echo '== 4. Home feeds, newest first: SELECT * FROM feed.home(viewer_id, lim => 50)'
\echo '-- alice: follows taylor, bob, carol, dave and (approved) erin; blocked mallory.'
\echo '-- frank''s sunrise appears once although bob and carol both reposted it.'
SELECT row_number() OVER (ORDER BY h.entry_id DESC) AS "#",
       a.handle AS author, r.handle AS reposted_by, h.body, h.like_count AS likes
FROM feed.home(:alice) AS h
JOIN feed.users AS a ON a.user_id = h.author_id
LEFT JOIN feed.users AS r ON r.user_id = h.reposted_by
ORDER BY h.entry_id DESC;

\echo '-- bob: his request to erin is still pending, so her post is not there;'
\echo '-- his deleted post is gone, his retried publish appears once.'
SELECT row_number() OVER (ORDER BY h.entry_id DESC) AS "#",
       a.handle AS author, r.handle AS reposted_by, h.body, h.like_count AS likes
FROM feed.home(:bob) AS h
JOIN feed.users AS a ON a.user_id = h.author_id
LEFT JOIN feed.users AS r ON r.user_id = h.reposted_by
ORDER BY h.entry_id DESC;

\echo '-- paging through fan007''s feed one post at a time: page 2 asks for the'
\echo '-- entries before page 1''s last entry_id, feed.home(viewer, 1, before => entry_id)'
SELECT user_id AS fan007 FROM feed.users WHERE handle = 'fan007' \gset
SELECT a.handle AS author, h.body, h.like_count AS likes
FROM feed.home(:fan007, 1) AS h JOIN feed.users AS a ON a.user_id = h.author_id;
SELECT entry_id AS cursor FROM feed.home(:fan007, 1) \gset
SELECT a.handle AS author, h.body, h.like_count AS likes
FROM feed.home(:fan007, 1, before => :cursor) AS h JOIN feed.users AS a ON a.user_id = h.author_id;

\echo '-- how many of the 200 users see the album post in their home feed'
\echo '-- (taylor herself and her 190 followers)'
SELECT count(*) AS "users who see the album post"
FROM feed.users AS u
WHERE EXISTS (SELECT 1 FROM feed.home(u.user_id) AS h WHERE h.post_id = :album);

\echo
\echo '== 5. A profile: SELECT * FROM feed.user_posts(viewer_id, author_id)'
\echo '-- carol''s posts as alice sees them (an edited post and a repost)'
SELECT row_number() OVER (ORDER BY p.entry_id DESC) AS "#",
       a.handle AS author, r.handle AS reposted_by, p.body, p.like_count AS likes
FROM feed.user_posts(:alice, :carol) AS p
JOIN feed.users AS a ON a.user_id = p.author_id
LEFT JOIN feed.users AS r ON r.user_id = p.reposted_by
ORDER BY p.entry_id DESC;
\echo '-- erin is private: alice (approved) sees her post, bob (pending) sees nothing'
SELECT v.handle AS viewer, count(p.entry_id) AS "erin posts visible"
FROM feed.users AS v
LEFT JOIN LATERAL feed.user_posts(v.user_id, :erin) AS p ON true
WHERE v.handle IN ('alice', 'bob')
GROUP BY v.handle ORDER BY v.handle;

\echo
\echo '== 6. Counters: SELECT * FROM feed.user_stats(user_id)'
SELECT u.handle, s.follower_count AS followers, s.following_count AS following, s.post_count AS posts
FROM feed.users AS u, feed.user_stats(u.user_id) AS s
WHERE u.handle IN ('taylor', 'alice', 'bob', 'carol', 'erin', 'mallory')
ORDER BY s.follower_count DESC, u.handle;

\echo
\echo '== 7. Errors carry a documented SQLSTATE (here 22023: following yourself)'
\set ON_ERROR_STOP 0
\set VERBOSITY verbose
SELECT feed.follow(:alice, :alice);
\set VERBOSITY default
\set ON_ERROR_STOP 1

\echo
\echo '== 8. The feed cache: the second read of a feed comes from shared memory'
SELECT feed.cache_reset();
SELECT count(*) AS "alice rows (builds her cached window)" FROM feed.home(:alice);
SELECT count(*) AS "alice rows (served from the cache)" FROM feed.home(:alice);
SELECT hits, misses, rebuilds, feeds, posts, pg_size_pretty(bytes_used) AS used
FROM feed.cache_stats;
