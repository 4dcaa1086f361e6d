-- preload: the library is in shared_preload_libraries, and its GUCs exist
-- with their documented defaults, ranges and contexts (docs/configuration.md).
-- (What happens without preload is covered by a TAP test: a regress instance
-- cannot unload the library.)
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
RESET client_min_messages;

-- feed is preloaded.
SELECT 'feed' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))
       AS feed_preloaded;

-- The current values (feed.database is set by the test configuration,
-- test/feed.conf; the others are at their defaults).
SHOW feed.region_id;
SHOW feed.database;
SHOW feed.max_body_bytes;
SHOW feed.max_page;
SHOW feed.inbox_max;
SHOW feed.fanout_batch_size;
SHOW feed.debug_clock_offset_ms;

-- Defaults, ranges and contexts, as documented.
SELECT name, boot_val AS default, min_val, max_val, unit, context, vartype
FROM pg_settings
WHERE name IN ('feed.region_id', 'feed.database', 'feed.max_body_bytes', 'feed.max_page',
               'feed.inbox_max', 'feed.fanout_batch_size', 'feed.debug_clock_offset_ms')
ORDER BY name;

-- Every GUC has a description.
SELECT name, short_desc <> '' AS described
FROM pg_settings
WHERE name IN ('feed.region_id', 'feed.database', 'feed.max_body_bytes', 'feed.max_page',
               'feed.inbox_max', 'feed.fanout_batch_size', 'feed.debug_clock_offset_ms')
ORDER BY name;

-- User-settable GUCs take a SET within their range ...
SET feed.max_body_bytes = 1;
SET feed.max_body_bytes = 1048576;
SET feed.max_page = 1;
SET feed.max_page = 10000;
RESET feed.max_body_bytes;
RESET feed.max_page;

-- ... and refuse values outside it.
SET feed.max_body_bytes = 0;
SET feed.max_body_bytes = 1048577;
SET feed.max_page = 0;
SET feed.max_page = 10001;

-- feed.region_id and feed.database need a restart.
SET feed.region_id = 1;
SET feed.database = 'other';

-- feed.inbox_max, feed.fanout_batch_size and feed.debug_clock_offset_ms may
-- be SET by a superuser (here, the test runs as one) ...
SET feed.inbox_max = 10;
SET feed.fanout_batch_size = 1;
SET feed.debug_clock_offset_ms = -1000;
RESET feed.inbox_max;
RESET feed.fanout_batch_size;
RESET feed.debug_clock_offset_ms;

-- ... but not by an ordinary user, who may still SET the user GUCs.
CREATE ROLE regress_feed_preload;
SET ROLE regress_feed_preload;
SET feed.inbox_max = 10;
SET feed.fanout_batch_size = 1;
SET feed.debug_clock_offset_ms = -1000;
SET feed.max_page = 10;
SET feed.max_body_bytes = 10;
RESET ROLE;
RESET feed.max_page;
RESET feed.max_body_bytes;
DROP ROLE regress_feed_preload;

-- The "feed." prefix is reserved: a misspelt GUC is an error, not a new
-- placeholder.
SET feed.max_pages = 10;
