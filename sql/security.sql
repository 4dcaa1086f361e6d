-- Security (issue 5, docs/security.md): roles and privileges, token
-- sessions, the per-call identity check, rate limits, the audit trail of
-- refused calls (also when their transaction rolls back), and an injection
-- corpus through every text argument with the catalog unchanged afterwards.
-- Errors show only their SQLSTATE: messages carry time-based ids.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feed CASCADE;
CREATE EXTENSION feed;
\set VERBOSITY sqlstate

-- Rate limits off until the section that tests them (they are server-wide).
ALTER SYSTEM SET feed.rate_limit_reads = 0;
ALTER SYSTEM SET feed.rate_limit_writes = 0;
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);

CREATE ROLE regress_client1 IN ROLE feed_client;
CREATE ROLE regress_client2 IN ROLE feed_client;
CREATE ROLE regress_service IN ROLE feed_service;
CREATE ROLE regress_admin IN ROLE feed_admin;
CREATE ROLE regress_nobody;

-- Runs a statement; returns 'ok' or its SQLSTATE (and the hint with digits
-- replaced by N, when asked).  Caught errors roll back a subtransaction.
CREATE FUNCTION pg_temp.try(sql text, with_hint boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text;
    h text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, h = PG_EXCEPTION_HINT;
    RETURN CASE WHEN with_hint THEN st || ' ' || regexp_replace(h, '[0-9]+', 'N', 'g') ELSE st END;
END
$$;

-- Waits (at most 10 s) until the launcher has flushed n audit rows of kind ev.
CREATE FUNCTION pg_temp.wait_audit(ev text, n integer) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 100 LOOP
        IF (SELECT count(*) FROM feed.audit_log WHERE event = ev) >= n THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN false;
END
$$;

-- ---------------------------------------------------------------------------
-- The extension script: roles, SECURITY DEFINER with a pinned search_path
-- (set by the function for SQL ones, by the C code around its statements for
-- C ones: see the search_path test below), nothing for PUBLIC.
-- ---------------------------------------------------------------------------
SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname LIKE 'feed\_%' ORDER BY 1;

SELECT p.proname
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'feed'::regnamespace AND p.proname <> 'id_parts'
  AND NOT (p.prosecdef AND CASE WHEN l.lanname = 'c' THEN p.proconfig IS NULL
                                ELSE p.proconfig = '{"search_path=pg_catalog, pg_temp"}' END)
ORDER BY 1;

SELECT p.proname FROM pg_proc p
WHERE p.pronamespace = 'feed'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT has_schema_privilege('public', 'feed', 'USAGE') AS public_usage;

-- Catalog snapshot, compared at the end.
CREATE TEMP TABLE catalog_before AS
SELECT 'relation' AS kind, c.relname::text || ':' || c.relkind::text || ':' || coalesce(c.relacl::text, '') AS what
FROM pg_class c WHERE c.relnamespace = 'feed'::regnamespace
UNION ALL
SELECT 'column', c.relname::text || '.' || a.attname::text || ':' || format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'feed'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'function', p.oid::regprocedure::text || ':' || p.prosecdef || ':' ||
       coalesce(array_to_string(p.proconfig, ','), '') || ':' || coalesce(p.proacl::text, '')
FROM pg_proc p WHERE p.pronamespace = 'feed'::regnamespace
UNION ALL
SELECT 'constraint', conname::text || ':' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'feed'::regnamespace
UNION ALL
SELECT 'schema', nspname::text FROM pg_namespace WHERE nspname !~ '^pg_(toast_)?temp'
UNION ALL
SELECT 'role', rolname::text || ':' || rolsuper::text FROM pg_roles;
SELECT count(*) > 100 AS snapshot_taken FROM catalog_before;

-- ---------------------------------------------------------------------------
-- Direct table and sequence access is refused to every role.
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE direct_access (role text, statement text, tried int, refused int);
GRANT INSERT ON direct_access TO PUBLIC;
DO $$
DECLARE
    r text;
    t regclass;
    stmt text;
    tried int;
    refused int;
BEGIN
    FOREACH r IN ARRAY ARRAY['regress_client1', 'regress_service', 'regress_admin', 'regress_nobody'] LOOP
        FOREACH stmt IN ARRAY ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'nextval'] LOOP
            tried := 0;
            refused := 0;
            FOR t IN SELECT c.oid FROM pg_class c
                     WHERE c.relnamespace = 'feed'::regnamespace
                       AND c.relkind = CASE WHEN stmt = 'nextval' THEN 'S' ELSE 'r' END LOOP
                tried := tried + 1;
                EXECUTE format('SET ROLE %I', r);
                BEGIN
                    EXECUTE CASE stmt
                        WHEN 'SELECT' THEN format('SELECT * FROM %s LIMIT 1', t)
                        WHEN 'INSERT' THEN format('INSERT INTO %s DEFAULT VALUES', t)
                        WHEN 'UPDATE' THEN format('UPDATE %s SET %I = %I', t,
                            (SELECT attname FROM pg_attribute WHERE attrelid = t AND attnum = 1),
                            (SELECT attname FROM pg_attribute WHERE attrelid = t AND attnum = 1))
                        WHEN 'DELETE' THEN format('DELETE FROM %s', t)
                        WHEN 'TRUNCATE' THEN format('TRUNCATE %s', t)
                        ELSE format('SELECT nextval(%L)', t::text) END;
                EXCEPTION WHEN insufficient_privilege THEN
                    refused := refused + 1;
                END;
                RESET ROLE;
            END LOOP;
            INSERT INTO direct_access VALUES (r, stmt, tried, refused);
        END LOOP;
    END LOOP;
END
$$;
SELECT role, statement, tried = refused AS all_refused, tried > 0 AS tried
FROM direct_access ORDER BY role, statement;

-- Views: only feed_admin may read the monitoring views.
SET ROLE regress_admin;
SELECT count(*) FROM feed.fanout_status;
SET ROLE regress_client1;
SELECT pg_temp.try('SELECT * FROM feed.fanout_status');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Who may call what.
-- ---------------------------------------------------------------------------
SELECT feed.create_user('alice') AS alice \gset
SELECT feed.create_user('bob') AS bob \gset
SELECT feed.create_user('carol', true) AS carol \gset
SELECT feed.publish(:bob, 'bob''s first post') AS bob_post \gset
SELECT feed.follow(:bob, :alice);
SELECT feed.follow(:alice, :bob);

-- feed_service acts for any user; it cannot create tokens for nobody.
SET ROLE regress_service;
SELECT feed.create_user('dave') AS dave \gset
SELECT count(*) FROM feed.home(:bob);
SELECT feed.like(:alice, :bob_post);
SELECT feed.issue_token(:alice) AS alice_token \gset
SELECT feed.issue_token(:alice) AS alice_token2 \gset
SELECT feed.issue_token(:bob) AS bob_token \gset
SELECT pg_temp.try('SELECT feed.issue_token(1)');
SELECT pg_temp.try('SELECT feed.revoke_all_tokens()');
SELECT pg_temp.try('SELECT feed.verify()');
SELECT :'alice_token' ~ '^feed_[0-9a-f]{64}$' AS token_shape, :'alice_token' <> :'alice_token2' AS distinct_tokens;
RESET ROLE;
-- only the hash is stored
SELECT count(*) AS tokens, bool_and(length(token_hash) = 32) AS hashed,
       bool_and(position(convert_to(:'alice_token', 'UTF8') IN token_hash) = 0) AS not_plain
FROM feed.tokens;

-- feed_admin: maintenance and metrics, not the contract.
SET ROLE regress_admin;
SELECT pg_temp.try('SELECT feed.home(' || :alice || ')');
SELECT pg_temp.try('SELECT feed.publish(' || :alice || ', ''x'')');
SELECT pg_temp.try('SELECT feed.verify()');
SELECT pg_temp.try('SELECT feed.security_status()');
SELECT pg_temp.try('SELECT feed.audit_events()');
RESET ROLE;

-- A role that is none of the three gets nothing.
SET ROLE regress_nobody;
SELECT pg_temp.try('SELECT feed.home(' || :alice || ')');
SELECT pg_temp.try('SELECT feed.login(''x'')');
SELECT pg_temp.try('SELECT feed.id_parts(1)');
RESET ROLE;

-- Even with EXECUTE granted by mistake, the check in C refuses it.
GRANT USAGE ON SCHEMA feed TO regress_nobody;
GRANT EXECUTE ON FUNCTION feed.home(bigint, integer, bigint) TO regress_nobody;
SET ROLE regress_nobody;
SELECT pg_temp.try('SELECT feed.home(' || :alice || ')');
RESET ROLE;
REVOKE ALL ON FUNCTION feed.home(bigint, integer, bigint) FROM regress_nobody;
REVOKE ALL ON SCHEMA feed FROM regress_nobody;
CREATE TEMP TABLE as_bob (fn text, result text);
GRANT INSERT, SELECT ON as_bob TO PUBLIC;

-- ---------------------------------------------------------------------------
-- feed_client: log in first, then act only as oneself.
-- ---------------------------------------------------------------------------
SET ROLE regress_client1;
SELECT pg_temp.try('SELECT feed.home(' || :alice || ')');
SELECT feed.logged_in_user() IS NULL AS logged_out;
SELECT feed.login(:'alice_token') = :alice AS logged_in_as_alice;
SELECT feed.logged_in_user() = :alice AS logged_in_user;
SELECT count(*) FROM feed.home(:alice);
SELECT feed.publish(:alice, 'alice writes') AS alice_post \gset
SELECT feed.like(:alice, :bob_post);
SELECT count(*) FROM feed.user_posts(:alice, :bob);
SELECT * FROM feed.user_stats(:alice);
SELECT pg_temp.try('SELECT feed.create_user(''eve'')');
SELECT pg_temp.try('SELECT feed.wait_idle()');

-- Every contract function with another user's id as the acting user.
INSERT INTO as_bob
SELECT fn, pg_temp.try(format(call, :bob, :alice, :carol, :bob_post))
FROM (VALUES
    ('set_private', 'SELECT feed.set_private(%1$s, true)'),
    ('follow', 'SELECT feed.follow(%1$s, %3$s)'),
    ('approve_follow', 'SELECT feed.approve_follow(%1$s, %2$s)'),
    ('unfollow', 'SELECT feed.unfollow(%1$s, %2$s)'),
    ('remove_follower', 'SELECT feed.remove_follower(%1$s, %2$s)'),
    ('block', 'SELECT feed.block(%1$s, %3$s)'),
    ('unblock', 'SELECT feed.unblock(%1$s, %3$s)'),
    ('publish', 'SELECT feed.publish(%1$s, ''posing as bob'')'),
    ('repost', 'SELECT feed.repost(%1$s, %4$s)'),
    ('edit_post', 'SELECT feed.edit_post(%1$s, %4$s, ''edited by alice'')'),
    ('delete_post', 'SELECT feed.delete_post(%1$s, %4$s)'),
    ('like', 'SELECT feed.like(%1$s, %4$s)'),
    ('unlike', 'SELECT feed.unlike(%1$s, %4$s)'),
    ('home', 'SELECT * FROM feed.home(%1$s)'),
    ('user_posts', 'SELECT * FROM feed.user_posts(%1$s, %2$s)'),
    ('user_stats', 'SELECT * FROM feed.user_stats(%1$s)'),
    ('revoke_tokens', 'SELECT feed.revoke_tokens(%1$s)')) AS c(fn, call);
SELECT fn, result FROM as_bob ORDER BY fn;
RESET ROLE;
-- nothing of bob's changed
SELECT body, deleted_at IS NULL AS live FROM feed.posts WHERE post_id = :bob_post;
SELECT count(*) AS bob_posts FROM feed.posts WHERE author_id = :bob;
SELECT count(*) AS bob_revoked FROM feed.tokens WHERE user_id = :bob AND revoked_at IS NOT NULL;

-- A refused call whose whole transaction rolls back is audited too.
SELECT clock_timestamp() AS before_rollback \gset
BEGIN;
SET LOCAL ROLE regress_client1;
SELECT feed.publish(:bob, 'in a transaction that rolls back');
ROLLBACK;
SELECT clock_timestamp() AS after_rollback \gset

-- The login belongs to the role that made it: another role is logged out.
SET ROLE regress_client2;
SELECT pg_temp.try('SELECT feed.home(' || :alice || ')');
RESET ROLE;

-- A failed login leaves the session logged out.
SET ROLE regress_client1;
SELECT pg_temp.try('SELECT feed.login(''feed_' || repeat('0', 64) || ''')');
SELECT feed.logged_in_user() IS NULL AS logged_out_after_failure;
SELECT pg_temp.try('SELECT feed.home(' || :alice || ')');
SELECT feed.login(:'alice_token') = :alice AS logged_in_again;
SELECT feed.logout() AS was_logged_in, feed.logout() AS again;
SELECT pg_temp.try('SELECT feed.home(' || :alice || ')');

-- is_local: the login ends with the transaction, committed or not.
BEGIN;
SELECT feed.login(:'alice_token', is_local => true) = :alice AS local_login;
SELECT count(*) >= 0 AS reads FROM feed.home(:alice);
COMMIT;
SELECT feed.logged_in_user() IS NULL AS logged_out_after_commit;
BEGIN;
SELECT feed.login(:'alice_token', true) = :alice AS local_login;
ROLLBACK;
SELECT feed.logged_in_user() IS NULL AS logged_out_after_rollback;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Revocation and expiry (a second connection is in t/050_security.pl).
-- ---------------------------------------------------------------------------
SET ROLE regress_client1;
SELECT feed.login(:'alice_token') = :alice AS logged_in;
RESET ROLE;
SET ROLE regress_admin;
SELECT feed.revoke_tokens(:alice) AS revoked;
RESET ROLE;
SET ROLE regress_client1;
SELECT pg_temp.try('SELECT feed.home(' || :alice || ')');
SELECT feed.logged_in_user() IS NULL AS logged_out;
SELECT pg_temp.try('SELECT feed.login(''' || :'alice_token2' || ''')');
RESET ROLE;
-- a revocation that rolls back revokes nothing
BEGIN;
SELECT feed.revoke_tokens(:bob);
ROLLBACK;
SET ROLE regress_client2;
SELECT feed.login(:'bob_token') = :bob AS bob_logged_in;
-- a client may revoke its own tokens ("log out everywhere")
SELECT feed.revoke_tokens(:bob) AS own_revoked;
SELECT pg_temp.try('SELECT feed.home(' || :bob || ')');
RESET ROLE;

-- Expiry: at login, and on every call of a session logged in before it.
SELECT feed.issue_token(:alice, '1 second') AS short_token \gset
SELECT pg_temp.try($$SELECT feed.issue_token(1, '0 seconds')$$);
SELECT pg_temp.try($$SELECT feed.issue_token(1, '10 years')$$);
SELECT pg_temp.try($$SELECT feed.issue_token(1, NULL)$$);
SELECT pg_temp.try($$SELECT feed.issue_token(1)$$);
SET ROLE regress_client1;
SELECT feed.login(:'short_token') = :alice AS logged_in;
SELECT pg_sleep(1.2);
SELECT pg_temp.try('SELECT feed.home(' || :alice || ')');
SELECT pg_temp.try('SELECT feed.login(''' || :'short_token' || ''')');
RESET ROLE;

-- revoke_all_tokens: the breach runbook's first step.
SELECT feed.issue_token(:alice) AS alice_token3 \gset
SET ROLE regress_client1;
SELECT feed.login(:'alice_token3') = :alice AS logged_in;
RESET ROLE;
SET ROLE regress_admin;
SELECT feed.revoke_all_tokens() AS revoked_all;
RESET ROLE;
SET ROLE regress_client1;
SELECT pg_temp.try('SELECT feed.home(' || :alice || ')');
RESET ROLE;
SELECT count(*) AS live_tokens FROM feed.tokens WHERE revoked_at IS NULL AND expires_at > now();

-- expire_tokens keeps rows for the retention, then deletes them.
SET ROLE regress_admin;
SELECT feed.expire_tokens() AS expired_kept;
SELECT feed.expire_tokens('0 seconds') > 0 AS expired_deleted;
SELECT pg_temp.try($$SELECT feed.expire_tokens('-1 day')$$);
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Rate limits: per user, reads and writes apart, 53400 with a retry hint.
-- ---------------------------------------------------------------------------
ALTER SYSTEM SET feed.rate_limit_writes = 1;
ALTER SYSTEM SET feed.rate_limit_write_burst = 3;
ALTER SYSTEM SET feed.rate_limit_reads = 1;
ALTER SYSTEM SET feed.rate_limit_read_burst = 5;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
SELECT feed.issue_token(:alice) AS alice_token4 \gset
SET ROLE regress_client1;
SELECT feed.login(:'alice_token4') = :alice AS logged_in;
SELECT pg_temp.try('SELECT feed.like(' || :alice || ', ' || :bob_post || ')', true) AS w1,
       pg_temp.try('SELECT feed.unlike(' || :alice || ', ' || :bob_post || ')', true) AS w2,
       pg_temp.try('SELECT feed.like(' || :alice || ', ' || :bob_post || ')', true) AS w3,
       pg_temp.try('SELECT feed.unlike(' || :alice || ', ' || :bob_post || ')', true) AS w4;
-- reads have their own bucket
SELECT pg_temp.try('SELECT feed.home(' || :alice || ')') AS r1;
RESET ROLE;
-- the service path charges the same user's budget, unless exempted
SET ROLE regress_service;
SELECT pg_temp.try('SELECT feed.unlike(' || :alice || ', ' || :bob_post || ')', true) AS service_for_alice;
SELECT pg_temp.try('SELECT feed.like(' || :bob || ', ' || :alice_post || ')', true) AS service_for_bob;
RESET ROLE;
ALTER SYSTEM SET feed.rate_limit_exempt_service = on;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
SET ROLE regress_service;
SELECT pg_temp.try('SELECT feed.unlike(' || :alice || ', ' || :bob_post || ')', true) AS service_exempt;
RESET ROLE;
-- superusers are never limited
SELECT feed.like(:alice, :bob_post) AS superuser_write;
ALTER SYSTEM RESET feed.rate_limit_exempt_service;
ALTER SYSTEM SET feed.rate_limit_writes = 0;
ALTER SYSTEM SET feed.rate_limit_reads = 0;
ALTER SYSTEM RESET feed.rate_limit_write_burst;
ALTER SYSTEM RESET feed.rate_limit_read_burst;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
SELECT reads_refused >= 0 AS r, writes_refused >= 2 AS w FROM feed.security_status();

-- ---------------------------------------------------------------------------
-- Injection corpus through every text argument: stored verbatim or refused
-- with a documented SQLSTATE; nothing else happens.
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE corpus (name text PRIMARY KEY, v text);
GRANT SELECT ON corpus TO PUBLIC;
INSERT INTO corpus VALUES
    ('quotes', $q$O'Reilly said "hi" and 'bye'$q$),
    ('drop table', $q$'); DROP TABLE feed.posts; --$q$),
    ('drop in dollar quotes', $q$$$ ; DROP SCHEMA feed CASCADE; $$$q$),
    ('comment markers', $q$/* open comment -- line comment */ */ /*$q$),
    ('backslashes', $q$C:\path\to\file \\ \' \" \0 \x00$q$),
    ('semicolons', $q$;;; SELECT pg_sleep(10); COMMIT; ROLLBACK;$q$),
    ('format directives', $q$%s %I %L %1$s {0} ${x} $1 $2$q$),
    ('nul-adjacent: SOH', 'a' || chr(1) || 'b'),
    ('nul-adjacent: DEL', 'a' || chr(127) || 'b'),
    ('escaped nul text', $q$before\u0000after$q$),
    ('tab and newlines', E'line 1\n\tline 2\r\n'),
    ('long 4096 bytes', repeat('a', 4096)),
    ('long 4097 bytes', repeat('a', 4097)),
    ('long 1 MB', repeat('x', 1048576)),
    ('lookalike cyrillic', 'аdmin'),
    ('lookalike fullwidth', '；ＤＲＯＰ　ＴＡＢＬＥ'),
    ('right-to-left override', 'abc' || chr(8238) || 'txt.exe'),
    ('zero width', 'ad' || chr(8203) || 'min'),
    ('emoji', 'New album out now! 🎵');

-- publish(body): one post per accepted entry, read back unchanged
CREATE TEMP TABLE corpus_result (arg text, name text, result text);
GRANT INSERT, SELECT ON corpus_result TO PUBLIC;
SET ROLE regress_service;
INSERT INTO corpus_result
SELECT 'publish.body', name,
       pg_temp.try(format('SELECT feed.publish(%s, %L)', :dave, v))
FROM corpus;
INSERT INTO corpus_result
SELECT 'publish.idempotency_key', name,
       pg_temp.try(format('SELECT feed.publish(%s, %L, %L)', :dave, 'keyed ' || name, v))
FROM corpus;
INSERT INTO corpus_result
SELECT 'repost.idempotency_key', name,
       pg_temp.try(format('SELECT feed.repost(%s, %s, %L)', :dave, :bob_post, v))
FROM corpus WHERE name = 'quotes';
INSERT INTO corpus_result
SELECT 'edit_post.body', name,
       pg_temp.try(format('SELECT feed.edit_post(%s, %s, %L)', :bob, :bob_post, v))
FROM corpus WHERE name IN ('drop table', 'long 1 MB', 'nul-adjacent: SOH');
INSERT INTO corpus_result
SELECT 'login.token', name, pg_temp.try(format('SELECT feed.login(%L)', v))
FROM corpus;
RESET ROLE;
INSERT INTO corpus_result
SELECT 'create_user.handle', name, pg_temp.try(format('SELECT feed.create_user(%L)', v))
FROM corpus;
-- invalid UTF-8 is refused by PostgreSQL before it reaches a function
SELECT pg_temp.try($$SELECT feed.publish(1, convert_from('\xc328'::bytea, 'UTF8'))$$) AS invalid_utf8;

SELECT arg, result, string_agg(name, ', ' ORDER BY name) AS inputs
FROM corpus_result GROUP BY arg, result ORDER BY arg, result;

-- Accepted bodies are stored byte for byte; refused ones are not stored.
SELECT r.name, r.result,
       EXISTS (SELECT 1 FROM feed.posts p
               WHERE p.author_id = :dave AND p.idempotency_key IS NULL AND p.body = c.v) AS stored_verbatim
FROM corpus_result r JOIN corpus c USING (name)
WHERE r.arg = 'publish.body' ORDER BY r.name;
SELECT count(*) AS dave_posts FROM feed.posts
WHERE author_id = :dave AND repost_of IS NULL AND idempotency_key IS NULL;
-- Idempotency keys too: the same key gives the same post.
SELECT count(*) AS keyed_posts, count(DISTINCT idempotency_key) AS distinct_keys,
       bool_and(idempotency_key IN (SELECT v FROM corpus)) AS keys_verbatim
FROM feed.posts WHERE author_id = :dave AND idempotency_key IS NOT NULL AND repost_of IS NULL;
SELECT post_id AS keyed_post FROM feed.posts
WHERE author_id = :dave AND idempotency_key = (SELECT v FROM corpus WHERE name = 'drop table') \gset
SET ROLE regress_service;
SELECT feed.publish(:dave, 'again', (SELECT v FROM corpus WHERE name = 'drop table')) = :keyed_post AS same_post;
RESET ROLE;
SELECT body = (SELECT v FROM corpus WHERE name = 'drop table') AS edited_verbatim
FROM feed.posts WHERE post_id = :bob_post;

-- The catalog is unchanged.
CREATE TEMP TABLE catalog_after AS
SELECT 'relation' AS kind, c.relname::text || ':' || c.relkind::text || ':' || coalesce(c.relacl::text, '') AS what
FROM pg_class c WHERE c.relnamespace = 'feed'::regnamespace
UNION ALL
SELECT 'column', c.relname::text || '.' || a.attname::text || ':' || format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'feed'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'function', p.oid::regprocedure::text || ':' || p.prosecdef || ':' ||
       coalesce(array_to_string(p.proconfig, ','), '') || ':' || coalesce(p.proacl::text, '')
FROM pg_proc p WHERE p.pronamespace = 'feed'::regnamespace
UNION ALL
SELECT 'constraint', conname::text || ':' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'feed'::regnamespace
UNION ALL
SELECT 'schema', nspname::text FROM pg_namespace WHERE nspname !~ '^pg_(toast_)?temp'
UNION ALL
SELECT 'role', rolname::text || ':' || rolsuper::text FROM pg_roles;
SELECT 'missing' AS diff, * FROM (TABLE catalog_before EXCEPT TABLE catalog_after) m
UNION ALL
SELECT 'added', * FROM (TABLE catalog_after EXCEPT TABLE catalog_before) a;

-- ---------------------------------------------------------------------------
-- The audit trail, flushed by the launcher, including rolled-back calls.
-- ---------------------------------------------------------------------------
SELECT pg_temp.wait_audit('revoke_all', 1) AS flushed;
SELECT pg_temp.wait_audit('login_failed', 22) AS flushed;
-- every refused call as bob: 17 in subtransactions, 1 in a rolled-back transaction
SELECT count(*) AS denied_as_bob
FROM feed.audit_log
WHERE event = 'denied' AND user_id = :bob AND session_user_id = :alice AND role = 'regress_client1';
SELECT count(*) AS rolled_back_call_audited
FROM feed.audit_log
WHERE event = 'denied' AND user_id = :bob AND at BETWEEN :'before_rollback' AND :'after_rollback';
SELECT event, CASE WHEN role LIKE 'regress\_%' THEN role ELSE 'superuser' END AS role, count(*) > 0 AS recorded
FROM feed.audit_log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT DISTINCT event, regexp_replace(detail, '[0-9]{6,}', 'ID', 'g') AS detail FROM feed.audit_log
WHERE event IN ('login_failed', 'expired_token_use', 'revoked_token_use', 'rate_limited', 'revoke', 'revoke_all')
  AND detail NOT LIKE 'malformed%'
ORDER BY 1, 2;
SELECT regexp_replace(detail, '[0-9]+', 'N', 'g') AS detail, count(*)
FROM feed.audit_log WHERE event = 'login_failed' AND detail LIKE 'malformed%'
GROUP BY 1 ORDER BY 1;

-- feed_admin reads the trail through feed.audit_events.
SET ROLE regress_admin;
SELECT count(*) > 0 AS admin_reads_audit FROM feed.audit_events(for_user => :bob);
SELECT audit_overflowed, audit_dropped FROM feed.security_status();
RESET ROLE;

-- A caller's search_path cannot stand in for what feed's statements use:
-- here an operator = (bigint, bigint) found before pg_catalog's raises.
CREATE SCHEMA regress_evil;
CREATE FUNCTION regress_evil.int8eq_hijack(bigint, bigint) RETURNS boolean
LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked'; END$$;
CREATE OPERATOR regress_evil.= (LEFTARG = bigint, RIGHTARG = bigint,
                                FUNCTION = regress_evil.int8eq_hijack);
SET feed.cache = off;
SET search_path = regress_evil, pg_catalog, public;
SELECT 1::bigint = 1::bigint AS trap_is_set;
SELECT count(*) >= 0 AS home_ok FROM feed.home(:alice, 5);
SELECT count(*) >= 0 AS user_posts_ok FROM feed.user_posts(:alice, :dave, 5);
SELECT feed.publish(:dave, 'search_path test') > 0 AS publish_ok;
SELECT feed.follow(:alice, :dave) IS NOT NULL AS follow_ok;
SELECT feed.like(:alice, (SELECT max(post_id) FROM feed.posts WHERE author_id OPERATOR(pg_catalog.=) :dave)) AS like_ok;
SELECT feed.unlike(:alice, (SELECT max(post_id) FROM feed.posts WHERE author_id OPERATOR(pg_catalog.=) :dave)) AS unlike_ok;
SELECT count(*) >= 0 AS stats_ok FROM feed.user_stats(:dave);
RESET search_path;
RESET feed.cache;
DROP SCHEMA regress_evil CASCADE;

ALTER SYSTEM RESET feed.rate_limit_writes;
ALTER SYSTEM RESET feed.rate_limit_reads;
SELECT pg_reload_conf();
DROP ROLE regress_client1, regress_client2, regress_service, regress_admin, regress_nobody;
