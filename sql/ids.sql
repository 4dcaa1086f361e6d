-- ids: 64-bit, time-ordered ids (41 bits of milliseconds since 2025-01-01
-- UTC | 10 bits region | 12 bits sequence) that strictly increase, also when
-- the clock steps back.  Raw ids are never printed; the output shows
-- comparisons and decoded parts.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
RESET client_min_messages;

-- Every id handed out in this test, in the order it was handed out.
CREATE TEMP TABLE ids (n serial PRIMARY KEY, id bigint NOT NULL, what text NOT NULL);

-- Whether the ids of the ids table strictly increase in call order, and
-- are unique.
CREATE FUNCTION pg_temp.ids_ok()
RETURNS TABLE (ids bigint, strictly_increasing boolean, unique_ids boolean)
LANGUAGE sql AS $$
  SELECT count(*),
         coalesce(bool_and(prev IS NULL OR id > prev), true),
         count(DISTINCT id) = count(*)
  FROM (SELECT id, lag(id) OVER (ORDER BY n) AS prev FROM ids) s
$$;

------------------------------------------------------------------------------
-- Successive calls
------------------------------------------------------------------------------

-- Users, posts and reposts draw from one generator: each id is greater than
-- every id before it.
INSERT INTO ids (id, what) SELECT feed.create_user('ann'), 'user';
SELECT id AS ann FROM ids WHERE what = 'user' \gset
INSERT INTO ids (id, what) SELECT feed.create_user('bob'), 'user';
INSERT INTO ids (id, what) SELECT feed.publish(:ann, 'one'), 'post';
INSERT INTO ids (id, what) SELECT feed.publish(:ann, 'two'), 'post';
SELECT id AS two FROM ids ORDER BY n DESC LIMIT 1 \gset
INSERT INTO ids (id, what) SELECT feed.create_user('cat'), 'user';
SELECT id AS cat FROM ids ORDER BY n DESC LIMIT 1 \gset
INSERT INTO ids (id, what) SELECT feed.repost(:cat, :two), 'repost';
INSERT INTO ids (id, what) SELECT feed.publish(:ann, 'three'), 'post';
SELECT * FROM pg_temp.ids_ok();

-- Ids are positive and fit in 63 bits.
SELECT bool_and(id > 0) AS positive FROM ids;

------------------------------------------------------------------------------
-- Decoding with feed.id_parts
------------------------------------------------------------------------------

-- feed.id_parts decodes the region (0 here, feed.region_id), the sequence
-- (0..4095) and the creation time, which is close to now.
SHOW feed.region_id;
SELECT ids.what, p.region_id, p.sequence BETWEEN 0 AND 4095 AS sequence_in_range,
       p.created_at BETWEEN now() - interval '1 minute' AND clock_timestamp() AS created_recently
FROM ids, LATERAL feed.id_parts(ids.id) p
ORDER BY ids.n;

-- The parts are the bit fields: milliseconds since 2025-01-01 UTC in the top
-- 41 bits, the region in the next 10, the sequence in the low 12.
SELECT bool_and(
         (id >> 22) = round(extract(epoch FROM p.created_at - timestamptz '2025-01-01 00:00:00+00') * 1000)
         AND ((id >> 12) & 1023) = p.region_id
         AND (id & 4095) = p.sequence) AS bit_layout
FROM ids, LATERAL feed.id_parts(ids.id) p;

-- Ids order like time: a later id decodes to the same or a later time.
SELECT bool_and(p.created_at >= prev_at) AS time_ordered
FROM (SELECT p.created_at, lag(p.created_at) OVER (ORDER BY ids.n) AS prev_at
      FROM ids, LATERAL feed.id_parts(ids.id) p) p
WHERE prev_at IS NOT NULL;

-- The users table records the same creation time, to the millisecond.
SELECT bool_and(abs(extract(epoch FROM u.created_at - p.created_at)) < 1) AS matches_row_time
FROM feed.users u, LATERAL feed.id_parts(u.user_id) p;

-- id_parts is STRICT: NULL in, NULL out.
SELECT * FROM feed.id_parts(NULL);

------------------------------------------------------------------------------
-- The clock steps back
------------------------------------------------------------------------------

-- feed.debug_clock_offset_ms shifts the clock the generator reads (a
-- superuser-only testing knob).  One hour back: new ids are still greater
-- than every earlier one, and decode to no earlier time than the last one.
SHOW feed.debug_clock_offset_ms;
SELECT max(id) AS before_step FROM ids \gset
SET feed.debug_clock_offset_ms = -3600000;
INSERT INTO ids (id, what) SELECT feed.create_user('dan'), 'user, clock back';
INSERT INTO ids (id, what) SELECT feed.publish(:ann, 'four'), 'post, clock back';
INSERT INTO ids (id, what) SELECT feed.publish(:ann, 'five'), 'post, clock back';
SELECT * FROM pg_temp.ids_ok();
SELECT bool_and(id > :before_step) AS above_earlier_ids,
       bool_and(p.created_at >= (SELECT created_at FROM feed.id_parts(:before_step))) AS no_earlier_time
FROM ids, LATERAL feed.id_parts(ids.id) p
WHERE ids.what LIKE '%clock back';

-- More ids than a millisecond's sequence holds (4096) while the clock is
-- behind: still strictly increasing and unique.
INSERT INTO ids (id, what)
SELECT feed.publish(:ann, 'burst ' || g), 'burst, clock back' FROM generate_series(1, 5000) g;
SELECT * FROM pg_temp.ids_ok();
-- The burst had to spill over into further milliseconds.
SELECT count(DISTINCT p.created_at) > 1 AS several_milliseconds
FROM ids, LATERAL feed.id_parts(ids.id) p WHERE ids.what = 'burst, clock back';

-- Back to the real clock: ids keep increasing.
RESET feed.debug_clock_offset_ms;
SHOW feed.debug_clock_offset_ms;
INSERT INTO ids (id, what) SELECT feed.create_user('eve'), 'user';
INSERT INTO ids (id, what) SELECT feed.publish(:ann, 'six'), 'post';
SELECT * FROM pg_temp.ids_ok();

-- An ordinary user may not move the clock.
CREATE ROLE regress_feed_ids;
SET ROLE regress_feed_ids;
SET feed.debug_clock_offset_ms = -3600000;
RESET ROLE;
DROP ROLE regress_feed_ids;

------------------------------------------------------------------------------
-- A burst in one statement
------------------------------------------------------------------------------

-- 10,000 users created in one statement get 10,000 distinct, strictly
-- increasing ids, all greater than the ids before.
SELECT max(id) AS before_burst FROM ids \gset
INSERT INTO ids (id, what)
SELECT feed.create_user('u' || g), 'burst user' FROM generate_series(1, 10000) g;
SELECT * FROM pg_temp.ids_ok();
SELECT count(*) AS burst, bool_and(id > :before_burst) AS above_earlier_ids
FROM ids WHERE what = 'burst user';

-- The same ids are in the users table.
SELECT count(*) AS users_with_burst_ids
FROM feed.users u JOIN ids ON ids.id = u.user_id AND ids.what = 'burst user';
