-- integrity: feed.verify() finds every kind of damage done on purpose with
-- plain SQL, feed.repair() fixes it and verify is clean again;
-- feed.reconcile_counts() fixes counters changed by hand and logs each fix;
-- feed.purge_tombstones() removes old tombstones with everything that hangs
-- off them; feed.schedule_maintenance() without pg_cron.
--
-- The fanout workers run in this database (test/feed.conf): they fold
-- counter deltas, run fanout jobs, apply backfills and sweep inboxes at any
-- moment.  So every damage-verify-repair sequence runs in one transaction
-- (the workers cannot see the damage before it is repaired), and everything
-- printed is either independent of folding (counts read through
-- feed.user_stats / like_count, drift made with relative UPDATEs) or read
-- after feed.wait_idle().
-- Ids are kept in psql variables and never printed.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
RESET client_min_messages;

-- Every user's stats and whether they equal the truth counted from the
-- tables (active follows; posts and reposts not deleted).
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

-- like_count of every live original with likes, as its author sees it in
-- user_posts, and whether it equals the number of like rows.
CREATE FUNCTION pg_temp.likes()
RETURNS TABLE (body text, like_count bigint, exact boolean)
LANGUAGE sql AS $$
  SELECT p.body, h.like_count,
         h.like_count = (SELECT count(*) FROM feed.likes l WHERE l.post_id = p.post_id)
  FROM feed.posts p,
       LATERAL feed.user_posts(p.author_id, p.author_id, 200) h
  WHERE p.repost_of IS NULL AND p.deleted_at IS NULL AND h.entry_id = p.post_id
    AND (h.like_count > 0 OR EXISTS (SELECT 1 FROM feed.likes l WHERE l.post_id = p.post_id))
  ORDER BY p.post_id
$$;

-- The checks with problems (verify prints ids in its samples: only the
-- number of sample items and their keys are shown).
CREATE FUNCTION pg_temp.problems()
RETURNS TABLE (check_name text, problems bigint, sample_items integer, sample_keys text)
LANGUAGE sql AS $$
  SELECT v.check_name, v.problems, jsonb_array_length(v.sample),
         (SELECT string_agg(DISTINCT k, ',' ORDER BY k)
          FROM jsonb_array_elements(v.sample) e, jsonb_object_keys(e) k)
  FROM feed.verify() v WHERE v.problems > 0
$$;

SELECT feed.create_user('ann') AS ann \gset
SELECT feed.create_user('bob') AS bob \gset
SELECT feed.create_user('cat') AS cat \gset
SELECT feed.create_user('dan') AS dan \gset
SELECT feed.create_user('eve') AS eve \gset
SELECT feed.follow(:ann, :bob), feed.follow(:ann, :cat), feed.follow(:ann, :eve),
       feed.follow(:bob, :ann), feed.follow(:dan, :bob);
SELECT feed.publish(:bob, 'bob 1') AS bob1 \gset
SELECT feed.publish(:bob, 'bob 2') AS bob2 \gset
SELECT feed.publish(:cat, 'cat 1') AS cat1 \gset
SELECT feed.publish(:dan, 'dan 1') AS dan1 \gset
SELECT count(feed.publish(:eve, 'eve ' || i)) FROM generate_series(1, 25) i;
SELECT feed.like(:ann, :bob1), feed.like(:dan, :bob1), feed.like(:bob, :cat1);
SELECT feed.wait_idle();

-- A healthy database: every check runs and finds nothing.
SELECT check_name, problems, sample FROM feed.verify();
SELECT * FROM pg_temp.stats();
SELECT * FROM pg_temp.likes();

-- The shape of the inboxes (each author has their own posts; one sentinel
-- per user).
SELECT u.handle, count(*) FILTER (WHERE i.entry_id >= 0) AS entries,
       count(*) FILTER (WHERE i.entry_id < 0) AS sentinels
FROM feed.users u LEFT JOIN feed.inbox i USING (user_id)
GROUP BY u.user_id, u.handle ORDER BY u.user_id;

------------------------------------------------------------------------------
-- Damage of every kind, found by verify and fixed by repair
------------------------------------------------------------------------------
BEGIN;
-- follows_across_blocks: cat blocks ann behind the extension's back, so
-- ann's follow of cat survives the block.
INSERT INTO feed.blocks (blocker_id, blocked_id) VALUES (:cat, :ann);
-- inbox_dead_entries: an entry of a post that does not exist.
INSERT INTO feed.inbox (user_id, entry_id, post_id) VALUES (:ann, 1000, 1000);
-- inbox_original_mismatch: bob 1's entry in ann's inbox shows cat 1.
UPDATE feed.inbox SET post_id = :cat1 WHERE user_id = :ann AND entry_id = :bob1;
-- inbox_awaiting_sweep: dan's post in ann's inbox (ann does not follow
-- dan) is what an unfollow leaves for the sweep: not a problem.  A post of
-- bob deleted 11 minutes ago (a tombstone made by hand) still in dan's
-- inbox is overdue: the sweep passes every inbox within 10 minutes plus a
-- round (5 users here).
INSERT INTO feed.inbox (user_id, entry_id, post_id) VALUES (:ann, :dan1, :dan1);
INSERT INTO feed.posts (post_id, author_id, deleted_at) VALUES (2000, :bob, now() - interval '11 minutes');
INSERT INTO feed.inbox (user_id, entry_id, post_id) VALUES (:dan, 2000, 2000);
-- inbox_over_cap: more than 2 x feed.inbox_max entries (ann: 28 + 2
-- injected, eve: 25 of her own).
SET LOCAL feed.inbox_max = 10;
-- fanout_jobs_orphaned: a job for a post that does not exist.
INSERT INTO feed.fanout_jobs (post_id, orig_id, author_id) VALUES (1000, 1000, :dan);
-- fanout_jobs_stuck: bob's new post, its job queued 11 minutes ago.
SELECT feed.publish(:bob, 'bob 3') AS bob3 \gset
UPDATE feed.fanout_jobs SET created_at = now() - interval '11 minutes' WHERE post_id = :bob3;
-- backfills_orphaned: a backfill of eve's posts for dan, who does not follow her.
INSERT INTO feed.inbox_backfill (user_id, author_id) VALUES (:dan, :eve);
-- inbox_bad_sentinels: dan's sentinel points at a post.
UPDATE feed.inbox SET post_id = 7 WHERE user_id = :dan AND entry_id < 0;
-- counter_drift: bob's follower count and bob 1's like count changed by
-- hand, and eve's like of cat 1 marked folded without being counted (a like
-- row is its own delta until folded: this is a lost delta).
UPDATE feed.user_counters SET follower_count = follower_count + 5 WHERE user_id = :bob;
UPDATE feed.post_counters SET like_count = like_count - 1 WHERE post_id = :bob1;
SELECT feed.like(:eve, :cat1);
UPDATE feed.likes SET folded = true WHERE post_id = :cat1 AND user_id = :eve;

-- The damage is visible to readers: counts are off.
SELECT * FROM pg_temp.stats();
SELECT * FROM pg_temp.likes();

-- verify reports each problem.
SELECT * FROM pg_temp.problems();
-- The sample of inbox_awaiting_sweep lists the overdue row first, then the
-- one that is only waiting.
SELECT problems, (SELECT string_agg((e->>'reason') || CASE WHEN (e->>'overdue')::boolean
                                                            THEN ' (overdue)' ELSE '' END, ', ')
                  FROM jsonb_array_elements(sample) e) AS awaiting
FROM feed.verify() WHERE check_name = 'inbox_awaiting_sweep';

-- repair fixes them, in dependency order: removing ann's follow of cat
-- makes cat's entry in ann's inbox an unfollowed author's (3 rows removed
-- as awaiting the sweep: that one, dan's and the deleted one); over_cap
-- trims ann's (27 entries left by then) and
-- eve's (25) inboxes to their newest 10 (17 + 15 rows); the stuck job is
-- fanned out to bob's 2 followers here.
SELECT * FROM feed.repair();

-- Clean again, and the counts are exact.
SELECT * FROM pg_temp.problems();
SELECT count(*) AS checks_clean FROM feed.verify() WHERE problems = 0;
SELECT * FROM pg_temp.stats();
SELECT * FROM pg_temp.likes();

-- Each counter fix is in the reconcile log.
SELECT coalesce(u.handle, p.body) AS target, l.kind, l.old_value, l.new_value
FROM feed.reconcile_log l
LEFT JOIN feed.users u ON u.user_id = l.target_id
LEFT JOIN feed.posts p ON p.post_id = l.target_id
ORDER BY l.log_id;
DELETE FROM feed.posts WHERE post_id = 2000;
COMMIT;

-- After the commit, with the workers folding and sweeping: still clean.
SELECT feed.wait_idle();
SELECT * FROM pg_temp.problems();
SELECT * FROM pg_temp.stats();

-- The repaired state, row by row: the block and ann's follow of cat are
-- consistent (follow gone, block kept), the stuck job was delivered to
-- bob's followers and to bob, no job or backfill is left.
SELECT (SELECT count(*) FROM feed.blocks) AS blocks,
       (SELECT count(*) FROM feed.follows WHERE follower_id = :ann AND followee_id = :cat) AS ann_follows_cat,
       (SELECT count(*) FROM feed.inbox WHERE entry_id = :bob3) AS bob3_entries,
       (SELECT count(*) FROM feed.fanout_jobs) AS jobs,
       (SELECT count(*) FROM feed.inbox_backfill) AS backfills,
       (SELECT count(*) FROM feed.inbox WHERE user_id = :dan AND entry_id < 0) AS dan_sentinels;

-- ann's home feed is still complete: the entries trimmed from her inbox
-- are read by pull.  Oracle: live posts of ann and of the accounts she
-- follows (no reposts, blocks or private accounts involved here).
SELECT count(*) AS home_rows,
       array_agg(h.post_id ORDER BY h.entry_id DESC) =
       array(SELECT p.post_id FROM feed.posts p
             WHERE p.deleted_at IS NULL
               AND (p.author_id = :ann OR p.author_id IN
                    (SELECT followee_id FROM feed.follows WHERE follower_id = :ann AND state = 'active'))
             ORDER BY p.post_id DESC) AS home_equals_oracle
FROM feed.home(:ann, 200) h;

------------------------------------------------------------------------------
-- repair_inboxes: the inbox checks alone (the feed_repair_inboxes job)
------------------------------------------------------------------------------
-- A dead entry, an entry awaiting the sweep, an overdue one and counter
-- drift: repair_inboxes removes the dead and the overdue entries, leaves
-- the waiting one to the sweep and the drift to reconcile_counts.
BEGIN;
INSERT INTO feed.inbox (user_id, entry_id, post_id) VALUES (:ann, 1000, 1000);
INSERT INTO feed.inbox (user_id, entry_id, post_id) VALUES (:ann, :dan1, :dan1);
INSERT INTO feed.posts (post_id, author_id, deleted_at) VALUES (2000, :bob, now() - interval '11 minutes');
INSERT INTO feed.inbox (user_id, entry_id, post_id) VALUES (:dan, 2000, 2000);
UPDATE feed.user_counters SET follower_count = follower_count + 1 WHERE user_id = :ann;
SELECT * FROM pg_temp.problems();
SELECT * FROM feed.repair_inboxes();
SELECT * FROM pg_temp.problems();
SELECT count(*) AS still_awaiting FROM feed.inbox WHERE user_id = :ann AND entry_id = :dan1;
ROLLBACK;

------------------------------------------------------------------------------
-- reconcile_counts: counters updated by hand
------------------------------------------------------------------------------
SELECT feed.wait_idle();
SELECT max(log_id) AS log_mark FROM feed.reconcile_log \gset
-- ann has one follower (bob); bob 1 has two likes.
UPDATE feed.user_counters SET follower_count = follower_count + 5 WHERE user_id = :ann;
UPDATE feed.post_counters SET like_count = like_count + 3 WHERE post_id = :bob1;
SELECT * FROM feed.user_stats(:ann);
SELECT * FROM pg_temp.likes();

-- checked: 5 users, 30 originals (bob 1-3, cat 1, dan 1, eve 1-25).
SELECT * FROM feed.reconcile_counts();
SELECT coalesce(u.handle, p.body) AS target, l.kind, l.old_value, l.new_value,
       l.fixed_at IS NOT NULL AS stamped
FROM feed.reconcile_log l
LEFT JOIN feed.users u ON u.user_id = l.target_id
LEFT JOIN feed.posts p ON p.post_id = l.target_id
WHERE l.log_id > :log_mark ORDER BY l.log_id;
SELECT * FROM feed.user_stats(:ann);
SELECT * FROM pg_temp.likes();

-- Nothing left to fix: a second run (in batches of 2) fixes nothing.
SELECT * FROM feed.reconcile_counts(2);

-- Drift on several users, found across batch boundaries (batches of 1),
-- and on a counter row that was deleted.
SELECT max(log_id) AS log_mark FROM feed.reconcile_log \gset
UPDATE feed.user_counters SET following_count = following_count - 2 WHERE user_id = :ann;
UPDATE feed.user_counters SET post_count = post_count + 1 WHERE user_id = :eve;
DELETE FROM feed.user_counters WHERE user_id = :dan;
SELECT * FROM pg_temp.stats();
SELECT * FROM feed.reconcile_counts(1);
SELECT u.handle, l.kind, l.old_value, l.new_value
FROM feed.reconcile_log l JOIN feed.users u ON u.user_id = l.target_id
WHERE l.log_id > :log_mark ORDER BY u.handle, l.kind;
SELECT * FROM pg_temp.stats();
SELECT feed.wait_idle();
SELECT * FROM pg_temp.problems();

-- Arguments.
\set VERBOSITY sqlstate
SELECT * FROM feed.reconcile_counts(0);
SELECT * FROM feed.reconcile_counts(1000001);
SELECT * FROM feed.reconcile_counts(NULL);
\set VERBOSITY terse
SELECT * FROM feed.reconcile_counts(0);

------------------------------------------------------------------------------
-- purge_tombstones
------------------------------------------------------------------------------
-- The retention is at least 60 s and set by a superuser.
\set VERBOSITY sqlstate
SET feed.tombstone_retention = 59;
\set VERBOSITY terse
SET feed.tombstone_retention = 59;
SHOW feed.tombstone_retention;
CREATE ROLE regress_feed_integrity;
SET ROLE regress_feed_integrity;
\set VERBOSITY sqlstate
SET feed.tombstone_retention = 60;
\set VERBOSITY terse
RESET ROLE;
DROP ROLE regress_feed_integrity;
SET feed.tombstone_retention = 60;
SHOW feed.tombstone_retention;

-- dan reposts cat 1; ann likes dan 1 (a like that stays).
SELECT feed.repost(:dan, :cat1) AS dan_repost \gset
SELECT feed.like(:ann, :dan1);
SELECT feed.wait_idle();

-- Everything in one transaction, so that the workers' inbox sweep cannot
-- remove the deleted posts' entries before the purge: dan's repost, cat 1
-- and bob 1 (two likes) are deleted and backdated by two minutes; bob 2 is
-- deleted now and stays.  The original cat 1 goes in the same call, once
-- its repost is gone.
BEGIN;
SELECT feed.delete_post(:dan, :dan_repost), feed.delete_post(:cat, :cat1),
       feed.delete_post(:bob, :bob1), feed.delete_post(:bob, :bob2);
-- Nothing is older than a minute yet.
SELECT feed.purge_tombstones();
UPDATE feed.posts SET deleted_at = now() - interval '2 minutes'
WHERE post_id IN (:dan_repost, :cat1, :bob1);
SELECT count(*) AS entries_of_backdated_posts FROM feed.inbox
WHERE entry_id IN (:dan_repost, :cat1, :bob1) OR post_id IN (:cat1, :bob1);
SELECT count(*) AS entries_of_bob2 FROM feed.inbox WHERE entry_id = :bob2;
SELECT feed.purge_tombstones();
SELECT (SELECT count(*) FROM feed.posts WHERE post_id IN (:dan_repost, :cat1, :bob1)) AS purged_posts_left,
       (SELECT count(*) FROM feed.posts WHERE post_id = :bob2) AS recent_tombstone_kept,
       (SELECT count(*) FROM feed.likes WHERE post_id IN (:cat1, :bob1)) AS likes_left,
       (SELECT count(*) FROM feed.post_counters WHERE post_id IN (:cat1, :bob1)) AS counters_left,
       (SELECT count(*) FROM feed.counter_deltas WHERE target IN (:cat1, :bob1) AND kind = 'l') AS deltas_left,
       (SELECT count(*) FROM feed.inbox
        WHERE entry_id IN (:dan_repost, :cat1, :bob1) OR post_id IN (:cat1, :bob1)) AS inbox_entries_left;
-- No problem: no entry points at a purged post, and bob 2's entries (2)
-- are only awaiting the sweep, which removes them lazily.
SELECT * FROM pg_temp.problems();
SELECT problems, jsonb_array_length(sample) AS awaiting,
       (SELECT string_agg(DISTINCT e->>'reason', ',') FROM jsonb_array_elements(sample) e) AS reasons
FROM feed.verify() WHERE check_name = 'inbox_awaiting_sweep';
COMMIT;

-- Counts are still exact, no inbox entry points at a post that no longer
-- exists, and a second purge finds nothing.
SELECT feed.wait_idle();
SELECT * FROM pg_temp.stats();
SELECT * FROM pg_temp.likes();
SELECT count(*) AS entries_of_missing_posts FROM feed.inbox i
WHERE i.entry_id >= 0 AND NOT EXISTS (SELECT 1 FROM feed.posts p WHERE p.post_id = i.entry_id);
SELECT feed.purge_tombstones();
RESET feed.tombstone_retention;

------------------------------------------------------------------------------
-- The pg_cron schedule needs pg_cron in this database
------------------------------------------------------------------------------
\set VERBOSITY sqlstate
SELECT feed.schedule_maintenance();
SELECT feed.unschedule_maintenance();
\set VERBOSITY default
SELECT feed.schedule_maintenance(true);
\set VERBOSITY terse
