-- errors: every documented error of the 1.0 contract (docs/api.md),
-- with its SQLSTATE, and proof that a failed call writes nothing.
-- Most blocks print only the SQLSTATE (\set VERBOSITY sqlstate); some print
-- the whole message (\set VERBOSITY default) or its first line (terse), for
-- messages that do not name an id (ids differ between runs).
-- Ids are kept in psql variables and never printed.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
RESET client_min_messages;

-- A fingerprint of every table of the extension: equal fingerprints mean
-- that nothing was written in between.
CREATE FUNCTION pg_temp.state() RETURNS text
LANGUAGE sql AS $$
  -- background workers apply queued work at any time: settle it first;
  -- feed.inbox is left out: the launcher sweeps and rebuilds it on its own
  SELECT feed.wait_idle();
  SELECT md5(concat_ws('|',
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM feed.users t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM feed.follows t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM feed.blocks t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM feed.posts t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM feed.likes t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM feed.inbox_backfill t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM feed.fanout_jobs t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM feed.user_counters t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM feed.post_counters t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM feed.counter_deltas t)))
$$;

-- Row counts of the main tables, for the reader.
CREATE TEMP VIEW row_counts AS
SELECT (SELECT count(*) FROM feed.users) AS users,
       (SELECT count(*) FROM feed.follows) AS follows,
       (SELECT count(*) FROM feed.blocks) AS blocks,
       (SELECT count(*) FROM feed.posts) AS posts,
       (SELECT count(*) FROM feed.likes) AS likes;

-- Set-up: ann and bob are public, pia is private with fol as approved
-- follower, ann has blocked blk.  bob reposted ann's post; ann deleted a
-- post that bob had reposted.
SELECT feed.create_user('ann') AS ann \gset
SELECT feed.create_user('bob') AS bob \gset
SELECT feed.create_user('pia', true) AS pia \gset
SELECT feed.create_user('fol') AS fol \gset
SELECT feed.create_user('blk') AS blk \gset
SELECT feed.follow(:fol, :pia);
SELECT feed.approve_follow(:pia, :fol);
SELECT feed.follow(:bob, :ann);
SELECT feed.block(:ann, :blk);
SELECT feed.publish(:ann, 'ann 1') AS a1 \gset
SELECT feed.publish(:ann, 'ann 2') AS a2 \gset
SELECT feed.repost(:bob, :a1) AS rb \gset
SELECT feed.publish(:pia, 'pia 1') AS pp \gset
SELECT feed.publish(:blk, 'blk 1') AS kp \gset
SELECT feed.publish(:ann, 'gone') AS gone \gset
SELECT feed.repost(:bob, :gone) AS rgone \gset
SELECT feed.delete_post(:ann, :gone);
SELECT feed.wait_idle();
SELECT * FROM row_counts;
-- An id no user or post has.
\set unknown 42

------------------------------------------------------------------------------
-- 22004 null_value_not_allowed: an explicit NULL for an argument without a
-- default (and for lim and timeout)
------------------------------------------------------------------------------

SELECT pg_temp.state() AS s0 \gset
\set VERBOSITY default
-- The full message once:
SELECT feed.follow(NULL, :bob);
\set VERBOSITY sqlstate
-- Every argument of every function:
SELECT feed.create_user(NULL);
-- is_private has a default, but an explicit NULL is refused like lim and timeout.
SELECT feed.create_user('nobody', NULL);
SELECT feed.set_private(NULL, true);
SELECT feed.set_private(:ann, NULL);
SELECT feed.follow(:ann, NULL);
SELECT feed.approve_follow(NULL, :fol);
SELECT feed.approve_follow(:pia, NULL);
SELECT feed.unfollow(NULL, :ann);
SELECT feed.unfollow(:bob, NULL);
SELECT feed.remove_follower(NULL, :bob);
SELECT feed.remove_follower(:ann, NULL);
SELECT feed.block(NULL, :bob);
SELECT feed.block(:ann, NULL);
SELECT feed.unblock(NULL, :blk);
SELECT feed.unblock(:ann, NULL);
SELECT feed.publish(NULL, 'text');
SELECT feed.publish(:ann, NULL);
SELECT feed.publish(:ann, NULL, 'key');
SELECT feed.repost(NULL, :a1);
SELECT feed.repost(:bob, NULL);
SELECT feed.edit_post(NULL, :a1, 'text');
SELECT feed.edit_post(:ann, NULL, 'text');
SELECT feed.edit_post(:ann, :a1, NULL);
SELECT feed.delete_post(NULL, :a1);
SELECT feed.delete_post(:ann, NULL);
SELECT feed.like(NULL, :a1);
SELECT feed.like(:bob, NULL);
SELECT feed.unlike(NULL, :a1);
SELECT feed.unlike(:bob, NULL);
SELECT * FROM feed.home(NULL);
SELECT * FROM feed.home(:ann, NULL);
SELECT * FROM feed.user_posts(NULL, :ann);
SELECT * FROM feed.user_posts(:bob, NULL);
SELECT * FROM feed.user_posts(:bob, :ann, NULL);
SELECT * FROM feed.user_stats(NULL);
SELECT feed.wait_idle(NULL);
\set VERBOSITY terse
SELECT pg_temp.state() = :'s0' AS nothing_written;

-- A NULL idempotency key or cursor is the default (no key, no cursor), not an error.
SELECT count(*) AS rows FROM feed.home(:bob, 50, NULL);
SELECT count(*) AS rows FROM feed.user_posts(:bob, :ann, 50, NULL);

------------------------------------------------------------------------------
-- P0002 no_data_found: unknown user or post ids
------------------------------------------------------------------------------

SELECT pg_temp.state() AS s0 \gset
\set VERBOSITY default
SELECT feed.follow(:ann, :unknown);
SELECT feed.like(:bob, :unknown);
\set VERBOSITY sqlstate
SELECT feed.set_private(:unknown, true);
SELECT feed.follow(:unknown, :ann);
SELECT feed.approve_follow(:unknown, :fol);
SELECT feed.approve_follow(:pia, :unknown);
SELECT feed.unfollow(:unknown, :ann);
SELECT feed.unfollow(:bob, :unknown);
SELECT feed.remove_follower(:unknown, :bob);
SELECT feed.remove_follower(:ann, :unknown);
SELECT feed.block(:unknown, :bob);
SELECT feed.block(:ann, :unknown);
SELECT feed.unblock(:unknown, :blk);
SELECT feed.unblock(:ann, :unknown);
SELECT feed.publish(:unknown, 'text');
SELECT feed.repost(:unknown, :a1);
SELECT feed.repost(:bob, :unknown);
SELECT feed.edit_post(:unknown, :a1, 'text');
SELECT feed.edit_post(:ann, :unknown, 'text');
SELECT feed.delete_post(:unknown, :a1);
SELECT feed.delete_post(:ann, :unknown);
SELECT feed.like(:unknown, :a1);
SELECT feed.unlike(:unknown, :a1);
SELECT feed.unlike(:bob, :unknown);
SELECT * FROM feed.home(:unknown);
SELECT * FROM feed.user_posts(:unknown, :ann);
SELECT * FROM feed.user_posts(:bob, :unknown);
SELECT * FROM feed.user_stats(:unknown);
-- A user id is not a post id, and a post id is not a user id.
SELECT feed.like(:bob, :ann);
SELECT feed.follow(:bob, :a1);
\set VERBOSITY terse
SELECT pg_temp.state() = :'s0' AS nothing_written;

------------------------------------------------------------------------------
-- 22023 invalid_parameter_value: self-follow, self-block
------------------------------------------------------------------------------

SELECT pg_temp.state() AS s0 \gset
\set VERBOSITY sqlstate
SELECT feed.follow(:ann, :ann);
SELECT feed.block(:ann, :ann);
\set VERBOSITY terse
SELECT feed.follow(:ann, :ann);
SELECT feed.block(:ann, :ann);
\set VERBOSITY terse
SELECT pg_temp.state() = :'s0' AS nothing_written;

------------------------------------------------------------------------------
-- Handles: 22023 when not matching ^[A-Za-z0-9_]{1,32}$, 23505 when taken
------------------------------------------------------------------------------

SELECT pg_temp.state() AS s0 \gset
\set VERBOSITY default
SELECT feed.create_user('a-b');
SELECT feed.create_user('ANN');
\set VERBOSITY sqlstate
SELECT feed.create_user('');
SELECT feed.create_user(repeat('x', 33));
SELECT feed.create_user('é');
SELECT feed.create_user('with space');
SELECT feed.create_user(' ann');
SELECT feed.create_user(E'ann\n');
SELECT feed.create_user('Ann');
SELECT feed.create_user('ann');
\set VERBOSITY terse
SELECT pg_temp.state() = :'s0' AS nothing_written;
SELECT * FROM row_counts;

-- The limits themselves are fine: 32 characters, digits and underscores.
SELECT feed.create_user(repeat('x', 32)) IS NOT NULL AS created;
SELECT feed.create_user('_0_9_Az') IS NOT NULL AS created;

------------------------------------------------------------------------------
-- Bodies: 22023 empty or whitespace-only, 22001 longer than
-- feed.max_body_bytes bytes, 22021 control characters
------------------------------------------------------------------------------

SELECT pg_temp.state() AS s0 \gset
SHOW feed.max_body_bytes;
\set VERBOSITY default
SELECT feed.publish(:ann, '');
SELECT feed.publish(:ann, repeat('x', 4097));
SELECT feed.publish(:ann, E'bell\x07');
\set VERBOSITY sqlstate
SELECT feed.publish(:ann, '   ');
SELECT feed.publish(:ann, E' \t\r\n ');
-- 4097 bytes in 2049 characters: the limit is in bytes.
SELECT feed.publish(:ann, repeat('é', 2048) || 'x');
SELECT feed.publish(:ann, E'a\x01b');
SELECT feed.publish(:ann, E'escape \x1b[31m');
-- The same rules for edit_post, and a failed edit keeps the old body.
SELECT feed.edit_post(:ann, :a1, '');
SELECT feed.edit_post(:ann, :a1, E'\n\n');
SELECT feed.edit_post(:ann, :a1, repeat('x', 4097));
SELECT feed.edit_post(:ann, :a1, E'a\x01b');
\set VERBOSITY terse
SELECT pg_temp.state() = :'s0' AS nothing_written;
SELECT body FROM feed.posts WHERE post_id = :a1;

-- Exactly feed.max_body_bytes bytes is fine, in ASCII and in two-byte
-- characters; so are tab, newline and carriage return.
SELECT feed.publish(:ann, repeat('x', 4096)) AS big1 \gset
SELECT octet_length(body) AS bytes FROM feed.posts WHERE post_id = :big1;
SELECT feed.publish(:ann, repeat('é', 2048)) AS big2 \gset
SELECT octet_length(body) AS bytes, body = repeat('é', 2048) AS stored_as_given
FROM feed.posts WHERE post_id = :big2;
SELECT feed.publish(:ann, E'tab\there\nnew line\r\n') IS NOT NULL AS published;

-- The limit follows the session's feed.max_body_bytes.
SET feed.max_body_bytes = 10;
SELECT pg_temp.state() AS s0 \gset
\set VERBOSITY sqlstate
SELECT feed.publish(:ann, '12345678901');
SELECT feed.edit_post(:ann, :a2, '12345678901');
\set VERBOSITY terse
SELECT pg_temp.state() = :'s0' AS nothing_written;
SELECT feed.publish(:ann, '1234567890') IS NOT NULL AS published;
RESET feed.max_body_bytes;

------------------------------------------------------------------------------
-- Idempotency keys: 22023 empty, 22001 longer than 128 bytes, 23505 used by
-- the same author for the other kind of post
------------------------------------------------------------------------------

SELECT feed.publish(:bob, 'bob keyed', 'bk') AS bk \gset
SELECT feed.repost(:bob, :a2, 'rk') AS rk \gset
SELECT pg_temp.state() AS s0 \gset
\set VERBOSITY sqlstate
-- A key used by bob's publish cannot name a repost, and the other way round.
SELECT feed.repost(:bob, :kp, 'bk');
SELECT feed.publish(:bob, 'text', 'rk');
\set VERBOSITY default
SELECT feed.repost(:fol, :a2, '');
SELECT feed.publish(:bob, 'again', repeat('k', 129));
\set VERBOSITY sqlstate
SELECT feed.publish(:bob, 'text', '');
SELECT feed.repost(:fol, :a2, repeat('k', 129));
\set VERBOSITY terse
SELECT pg_temp.state() = :'s0' AS nothing_written;

-- 128 bytes is fine.
SELECT feed.publish(:bob, 'long key', repeat('k', 128)) IS NOT NULL AS published;

------------------------------------------------------------------------------
-- 2201W invalid_row_count_in_limit_clause: lim outside 1..feed.max_page;
-- 22023: before <= 0
------------------------------------------------------------------------------

SELECT pg_temp.state() AS s0 \gset
SHOW feed.max_page;
\set VERBOSITY default
SELECT * FROM feed.home(:bob, 0);
SELECT * FROM feed.home(:bob, 50, 0);
\set VERBOSITY sqlstate
SELECT * FROM feed.home(:bob, -1);
SELECT * FROM feed.home(:bob, 201);
SELECT * FROM feed.user_posts(:bob, :ann, 0);
SELECT * FROM feed.user_posts(:bob, :ann, -1);
SELECT * FROM feed.user_posts(:bob, :ann, 201);
SELECT * FROM feed.home(:bob, 50, -1);
SELECT * FROM feed.user_posts(:bob, :ann, 50, 0);
SELECT * FROM feed.user_posts(:bob, :ann, 50, -9223372036854775808);
-- The limit follows the session's feed.max_page.
SET feed.max_page = 10;
SELECT * FROM feed.home(:bob, 11);
SELECT * FROM feed.user_posts(:bob, :ann, 11);
\set VERBOSITY terse
SELECT pg_temp.state() = :'s0' AS nothing_written;
SELECT count(*) AS rows FROM feed.home(:bob, 10);
RESET feed.max_page;
-- 1 and feed.max_page are fine; so is before = 1.
SELECT count(*) AS rows FROM feed.home(:bob, 1);
SELECT count(*) AS rows FROM feed.home(:bob, 200);
SELECT count(*) AS rows FROM feed.user_posts(:bob, :ann, 200);
SELECT count(*) AS rows FROM feed.home(:bob, 50, 1);

------------------------------------------------------------------------------
-- 42501 insufficient_privilege
------------------------------------------------------------------------------

SELECT pg_temp.state() AS s0 \gset
\set VERBOSITY sqlstate
-- Editing or deleting someone else's post (or repost).
SELECT feed.edit_post(:bob, :a1, 'not mine');
SELECT feed.delete_post(:bob, :a1);
SELECT feed.delete_post(:ann, :rb);
-- Reposting a private author's post: for a follower and for the author.
SELECT feed.repost(:fol, :pp);
SELECT feed.repost(:pia, :pp);
-- Reposting or liking a post one cannot see: private author not followed,
-- block in either direction (also with the original's author of a repost).
SELECT feed.like(:bob, :pp);
SELECT feed.repost(:blk, :a1);
SELECT feed.like(:blk, :a1);
SELECT feed.repost(:blk, :rb);
SELECT feed.like(:blk, :rb);
SELECT feed.repost(:ann, :kp);
SELECT feed.like(:ann, :kp);
-- Following across a block, both directions.
SELECT feed.follow(:blk, :ann);
SELECT feed.follow(:ann, :blk);
\set VERBOSITY terse
SELECT pg_temp.state() = :'s0' AS nothing_written;
SELECT * FROM row_counts;

------------------------------------------------------------------------------
-- 22023: editing a repost
------------------------------------------------------------------------------

SELECT pg_temp.state() AS s0 \gset
\set VERBOSITY sqlstate
SELECT feed.edit_post(:bob, :rb, 'a repost has no body');
\set VERBOSITY terse
SELECT pg_temp.state() = :'s0' AS nothing_written;

------------------------------------------------------------------------------
-- 55000 object_not_in_prerequisite_state: editing, reposting or liking a
-- deleted post, or a repost whose original is deleted
------------------------------------------------------------------------------

SELECT pg_temp.state() AS s0 \gset
\set VERBOSITY sqlstate
SELECT feed.edit_post(:ann, :gone, 'back');
SELECT feed.repost(:fol, :gone);
SELECT feed.like(:fol, :gone);
SELECT feed.repost(:fol, :rgone);
SELECT feed.like(:fol, :rgone);
\set VERBOSITY terse
SELECT pg_temp.state() = :'s0' AS nothing_written;

-- Deleting a deleted post is not an error (false), nor is unliking it.
SELECT feed.delete_post(:ann, :gone);
SELECT feed.unlike(:fol, :gone);

------------------------------------------------------------------------------
-- 22023: wait_idle with a negative timeout
------------------------------------------------------------------------------

SELECT pg_temp.state() AS s0 \gset
\set VERBOSITY default
SELECT feed.wait_idle('-1 second');
\set VERBOSITY terse
SELECT pg_temp.state() = :'s0' AS nothing_written;
SELECT feed.wait_idle('5 seconds');

------------------------------------------------------------------------------
-- An error inside a transaction leaves the transaction's earlier work to the
-- caller: a rollback removes it all.
------------------------------------------------------------------------------

SELECT pg_temp.state() AS s0 \gset
BEGIN;
SELECT feed.publish(:ann, 'in a transaction') IS NOT NULL AS published;
SELECT feed.publish(:ann, '');
ROLLBACK;
SELECT pg_temp.state() = :'s0' AS nothing_written;
SELECT * FROM row_counts;
