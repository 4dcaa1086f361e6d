-- graph: users, follows, follow requests and blocks.
-- Ids are time-based, so they are kept in psql variables (\gset) and never
-- printed; the output shows handles and states instead.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
RESET client_min_messages;

-- The follow graph as handles: who follows whom, and in which state.
CREATE TEMP VIEW follow_rows AS
SELECT a.handle AS follower, b.handle AS followee, f.state
FROM feed.follows f
JOIN feed.users a ON a.user_id = f.follower_id
JOIN feed.users b ON b.user_id = f.followee_id
ORDER BY lower(a.handle), lower(b.handle);

-- The blocks as handles.
CREATE TEMP VIEW block_rows AS
SELECT a.handle AS blocker, b.handle AS blocked
FROM feed.blocks k
JOIN feed.users a ON a.user_id = k.blocker_id
JOIN feed.users b ON b.user_id = k.blocked_id
ORDER BY lower(a.handle), lower(b.handle);

------------------------------------------------------------------------------
-- create_user
------------------------------------------------------------------------------

-- create_user returns the new user's id; accounts are public unless asked.
SELECT feed.create_user('alice') AS alice \gset
SELECT feed.create_user('Bob') AS bob \gset
SELECT feed.create_user('carol', true) AS carol \gset
SELECT feed.create_user('dave') AS dave \gset
SELECT feed.create_user('erin') AS erin \gset
SELECT handle, is_private FROM feed.users ORDER BY user_id;

-- Ids of successive calls increase.
SELECT :alice < :bob AND :bob < :carol AND :carol < :dave AND :dave < :erin AS increasing;

-- Handles are unique without regard to case: 'ALICE' and 'bob' are taken (23505)
-- and no row is added.
SELECT feed.create_user('ALICE');
SELECT feed.create_user('bob');
SELECT count(*) AS users FROM feed.users;

-- The handle is stored as given ('Bob' keeps its capital).
SELECT handle FROM feed.users WHERE user_id = :bob;

------------------------------------------------------------------------------
-- set_private
------------------------------------------------------------------------------

-- set_private returns true when it changes the flag and false when the account
-- already is in that state.
SELECT feed.set_private(:dave, true) AS changed;
SELECT feed.set_private(:dave, true) AS changed;
SELECT feed.set_private(:dave, false) AS changed;
SELECT feed.set_private(:dave, false) AS changed;
SELECT handle, is_private FROM feed.users WHERE user_id = :dave;

------------------------------------------------------------------------------
-- follow
------------------------------------------------------------------------------

-- Following a public account is immediately 'active'.
SELECT feed.follow(:alice, :bob);

-- Following a private account files a 'pending' request.
SELECT feed.follow(:alice, :carol);

-- Following again is not an error: it returns the current state and adds no row.
SELECT feed.follow(:alice, :bob);
SELECT feed.follow(:alice, :carol);
SELECT * FROM follow_rows;

-- A follow is one direction only.
SELECT count(*) AS bob_follows FROM feed.follows WHERE follower_id = :bob;

------------------------------------------------------------------------------
-- approve_follow(followee, follower)
------------------------------------------------------------------------------

-- Approving a pending request makes it active: true, then false (nothing pending).
SELECT feed.approve_follow(:carol, :alice) AS approved;
SELECT feed.approve_follow(:carol, :alice) AS approved;
SELECT * FROM follow_rows;

-- Approving someone who never asked is false and creates nothing.
SELECT feed.approve_follow(:carol, :bob) AS approved;
SELECT count(*) AS bob_follows FROM feed.follows WHERE follower_id = :bob;

-- An approved follower who follows again stays 'active'.
SELECT feed.follow(:alice, :carol);

------------------------------------------------------------------------------
-- unfollow(follower, followee)
------------------------------------------------------------------------------

-- Unfollow removes an active follow: true, then false (nothing to remove).
SELECT feed.unfollow(:alice, :bob) AS removed;
SELECT feed.unfollow(:alice, :bob) AS removed;

-- Unfollow also withdraws a pending request, which then cannot be approved.
SELECT feed.follow(:bob, :carol);
SELECT feed.unfollow(:bob, :carol) AS removed;
SELECT feed.approve_follow(:carol, :bob) AS approved;

-- Unfollowing someone never followed is false, not an error.
SELECT feed.unfollow(:erin, :dave) AS removed;
SELECT * FROM follow_rows;

------------------------------------------------------------------------------
-- remove_follower(followee, follower)
------------------------------------------------------------------------------

-- The followee can remove an active follower: true, then false.
SELECT feed.remove_follower(:carol, :alice) AS removed;
SELECT feed.remove_follower(:carol, :alice) AS removed;

-- remove_follower also rejects a pending request.
SELECT feed.follow(:dave, :carol);
SELECT feed.remove_follower(:carol, :dave) AS removed;

-- Removing someone who does not follow is false.
SELECT feed.remove_follower(:erin, :alice) AS removed;
SELECT * FROM follow_rows;

------------------------------------------------------------------------------
-- block / unblock
------------------------------------------------------------------------------

-- Set-up: bob and carol follow each other, carol also has a pending request
-- from erin, bob and erin follow each other; carol likes one of bob's posts
-- and bob likes one of carol's.
SELECT feed.follow(:carol, :bob);
SELECT feed.follow(:bob, :carol);
SELECT feed.approve_follow(:carol, :bob) AS approved;
SELECT feed.follow(:erin, :carol);
SELECT feed.follow(:erin, :bob);
SELECT feed.follow(:bob, :erin);
SELECT feed.publish(:bob, 'bob speaks') AS bob_post \gset
SELECT feed.publish(:carol, 'carol speaks') AS carol_post \gset
SELECT feed.like(:carol, :bob_post) AS liked;
SELECT feed.like(:bob, :carol_post) AS liked;
SELECT * FROM follow_rows;

-- A block drops the follows in both directions: true the first time.
SELECT feed.block(:carol, :bob) AS blocked;
SELECT * FROM follow_rows;
SELECT * FROM block_rows;

-- Blocking again is false; the block is one row per direction.
SELECT feed.block(:carol, :bob) AS blocked;
SELECT count(*) AS blocks FROM feed.blocks;

-- Likes made before the block stay.
SELECT u.handle AS liker, p.body
FROM feed.likes l JOIN feed.users u ON u.user_id = l.user_id
JOIN feed.posts p ON p.post_id = l.post_id
ORDER BY lower(u.handle);

-- A block also drops pending requests, in both directions: erin's request to
-- carol goes when carol blocks erin (request from the blocked user), and
-- dave's request to erin, made private, goes when dave blocks erin (request
-- from the blocker).
SELECT feed.set_private(:erin, true) AS changed;
SELECT feed.follow(:dave, :erin);
SELECT * FROM follow_rows WHERE 'erin' IN (follower, followee);
SELECT feed.block(:carol, :erin) AS blocked;
SELECT feed.block(:dave, :erin) AS blocked;
SELECT * FROM follow_rows WHERE 'erin' IN (follower, followee);
SELECT feed.set_private(:erin, false) AS changed;

-- While blocked, neither side can follow the other (42501); nothing is written.
\set VERBOSITY sqlstate
SELECT feed.follow(:bob, :carol);
SELECT feed.follow(:carol, :bob);
\set VERBOSITY terse
SELECT count(*) AS follows FROM feed.follows;

-- A block can exist in both directions at once.
SELECT feed.block(:bob, :carol) AS blocked;
SELECT * FROM block_rows;

-- Unblock: true, then false; unblocking someone never blocked is false.
SELECT feed.unblock(:carol, :bob) AS unblocked;
SELECT feed.unblock(:carol, :bob) AS unblocked;
SELECT feed.unblock(:alice, :bob) AS unblocked;

-- bob still blocks carol, so following stays refused in both directions.
\set VERBOSITY sqlstate
SELECT feed.follow(:carol, :bob);
SELECT feed.follow(:bob, :carol);
\set VERBOSITY terse
SELECT feed.unblock(:bob, :carol) AS unblocked;
SELECT feed.unblock(:carol, :erin) AS unblocked;
SELECT feed.unblock(:dave, :erin) AS unblocked;
SELECT * FROM block_rows;

-- Unblocking does not restore the follows or requests the block removed.
SELECT * FROM follow_rows;

-- After the unblock they can follow again (carol is private: a request).
SELECT feed.follow(:bob, :carol);
SELECT feed.follow(:carol, :bob);

------------------------------------------------------------------------------
-- Turning public / private
------------------------------------------------------------------------------

-- carol is private with a pending request from bob; dave and erin ask too.
SELECT feed.follow(:dave, :carol);
SELECT feed.follow(:erin, :carol);
SELECT * FROM follow_rows WHERE followee = 'carol';

-- Turning public approves every pending request.
SELECT feed.set_private(:carol, false) AS changed;
SELECT * FROM follow_rows WHERE followee = 'carol';

-- Turning private again keeps the existing followers ...
SELECT feed.set_private(:carol, true) AS changed;
SELECT * FROM follow_rows WHERE followee = 'carol';

-- ... and new followers have to ask.
SELECT feed.follow(:alice, :carol);
SELECT * FROM follow_rows WHERE followee = 'carol';
