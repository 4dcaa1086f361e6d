#!/bin/bash
# bench/cache.sh: `make bench`, second part.  Benchmarks the shared-memory
# feed cache (issue 4) on a throw-away cluster, in one run:
#
#   1. throughput and p95 latency (pgbench -M prepared, BENCH_CLIENTS, RUNS
#      interleaved rounds of DURATION seconds, medians) of the cached
#      feed.home(viewer, 50) with every viewer's feed cached before measuring,
#      against, in the same rounds: SELECT 1, 50 constant rows as wide as a
#      home page (the protocol and executor ceiling for a page), the
#      plain-SQL inbox read and the best plain-SQL pull query (run.sh's
#      baselines, bench/queries/), and feed.home with feed.cache = off; then
#      Redis LRANGE of 50 ids from an 800-long list (redis-benchmark, same
#      client counts), redis-server installed with apt if missing;
#   2. stampede: 64 clients read the same 100 hot feeds, feed.cache_reset()
#      is called during the run; rebuilds (feed.cache_stats deltas) and p99
#      latency, with feed.cache_single_flight on and off (ALTER SYSTEM);
#   3. memory and hit rate: the server restarted with feed.cache_size holding
#      10% of the users' feeds, readers drawn with random_zipfian(s = 1.1);
#      hit rate from feed.cache_stats and bytes per cached feed.
#
# Correctness is checked on the way: feed.home paged through the cache
# (5 pages of 50) equals the literal oracle (bench/oracle.sql) page for page
# on a sample of viewers, once with the big cache and once at the end with
# the small one; feed.home equals the pull and inbox baselines and feed.home
# with the cache off on a larger sample.
#
# Run as root from the repository root after `make install` (the Makefile's
# `bench` target does both).  Knobs (environment), defaults in parentheses:
#   data set (bench/load.sql, half run.sh's posts to keep the run short):
#     BENCH_USERS (20000), BENCH_POSTS
#     (100000), BENCH_CELEB_POSTS (100), BENCH_ROUNDS (10), BENCH_VIEWERS (5000),
#     BENCH_SHARED_BUFFERS (1GB)
#   part 1: BENCH_CACHE_SIZE (256MB: every viewer's window and post rows fit),
#     BENCH_CACHE_TTL (1h, for every part: windows stay fresh; the variant
#     home_ttl_default and the second Zipf run use the GUC's default),
#     BENCH_CLIENTS ("2 8"), BENCH_RUNS (5), BENCH_DURATION (8 s),
#     BENCH_VARIANTS ("select1 rows50 home rows50_lookup inbox pull home_ttl_default
#     home_nocache":
#     home right after the 50 constant rows, whose ratio to it is the
#     tightest target, so that the host's drifts between statements of a
#     round touch that ratio least),
#     BENCH_REDIS (1; 0 skips Redis)
#   part 2: BENCH_STAMPEDE_CLIENTS (64), BENCH_STAMPEDE_FEEDS (100),
#     BENCH_STAMPEDE_DURATION (20 s), BENCH_STAMPEDE_RESET_AT (6 s into the run),
#     BENCH_STAMPEDE_RUNS (2 per setting, interleaved)
#   part 3: BENCH_ZIPF_POPULATION (users: all users; viewers: the active ones),
#     BENCH_ZIPF_FRACTION (0.10), BENCH_ZIPF_S (1.1), BENCH_ZIPF_CLIENTS (8),
#     BENCH_ZIPF_WARMUP (60 s), BENCH_ZIPF_DURATION (45 s, twice: feed.cache_ttl
#     BENCH_CACHE_TTL, then its default)
#   checks: BENCH_CHECK (100 viewers), BENCH_ORACLE_CHECK (20 viewers, 5 pages)
#   BENCH_PHASES ("throughput redis stampede memory"; the load and the checks
#     always run), BENCH_PORT (54331), BENCH_KEEP=1 keeps the cluster,
#     BENCH_DIR=<a directory kept by BENCH_KEEP=1> reuses its loaded cluster.
#   BENCH_HUGE_PAGES (on): the server runs with huge_pages = on, the script
#     raising vm.nr_hugepages for the run if it must (restored at exit), as a
#     production server with a large feed.cache_size should; off: 4 kB pages.
#     Why it matters: a cached page reads ~50 random slots spread over
#     feed.cache_size, and with 4 kB pages most of those reads also miss the
#     TLB (a page walk, dearer still in a VM).  Measured: feed.home +10% at 8
#     clients, the 50 constant rows unchanged (docs/cache.md#benchmark).
set -euo pipefail

USERS=${BENCH_USERS:-20000}
POSTS=${BENCH_POSTS:-100000}
CELEB_POSTS=${BENCH_CELEB_POSTS:-100}
ROUNDS=${BENCH_ROUNDS:-10}
VIEWERS=${BENCH_VIEWERS:-5000}
SHARED_BUFFERS=${BENCH_SHARED_BUFFERS:-1GB}
CACHE_SIZE=${BENCH_CACHE_SIZE:-256MB}
CACHE_TTL=${BENCH_CACHE_TTL:-1h}
CLIENTS=${BENCH_CLIENTS-2 8}
RUNS=${BENCH_RUNS:-5}
DURATION=${BENCH_DURATION:-8}
VARIANTS=${BENCH_VARIANTS:-select1 rows50 home rows50_lookup inbox pull home_ttl_default home_nocache}
REDIS=${BENCH_REDIS:-1}
ST_CLIENTS=${BENCH_STAMPEDE_CLIENTS:-64}
ST_FEEDS=${BENCH_STAMPEDE_FEEDS:-100}
ST_DURATION=${BENCH_STAMPEDE_DURATION:-20}
ST_RESET_AT=${BENCH_STAMPEDE_RESET_AT:-6}
ST_RUNS=${BENCH_STAMPEDE_RUNS:-2}
Z_POP=${BENCH_ZIPF_POPULATION:-users}
Z_FRACTION=${BENCH_ZIPF_FRACTION:-0.10}
Z_S=${BENCH_ZIPF_S:-1.1}
Z_CLIENTS=${BENCH_ZIPF_CLIENTS:-8}
Z_WARMUP=${BENCH_ZIPF_WARMUP:-60}
Z_DURATION=${BENCH_ZIPF_DURATION:-45}
HUGE_PAGES=${BENCH_HUGE_PAGES:-on}
CHECK=${BENCH_CHECK:-100}
ORACLE_CHECK=${BENCH_ORACLE_CHECK:-20}
PHASES=${BENCH_PHASES:-throughput redis stampede memory}
port=${BENCH_PORT:-54331}

here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "bench/cache.sh: run as root (it starts the server as user postgres)" >&2
	exit 1
fi
bindir=$(pg_config --bindir)
if [ ! -f "$(pg_config --pkglibdir)/feed.so" ]; then
	echo "bench/cache.sh: feed.so is not installed: run 'make install' (or 'make bench')" >&2
	exit 1
fi
phase() { [[ " $PHASES " == *" $1 "* ]]; }

# Redis is what applications put in front of a database for this; the figure
# is only worth having if it is measured here, so install it like the build
# dependencies (test/deps.sh: apt-get, quiet when present).
redis_note=
if phase redis && [ "$REDIS" = 1 ]; then
	if ! bash "$here/../test/deps.sh" redis-server redis-tools >/tmp/feed-bench-redis-deps.log 2>&1; then
		redis_note="redis-server/redis-tools could not be installed with apt (see /tmp/feed-bench-redis-deps.log): no Redis figure"
	fi
fi

reuse=0
if [ -n "${BENCH_DIR:-}" ]; then
	dir=$BENCH_DIR
	reuse=1
	[ -d "$dir/data" ] || { echo "bench/cache.sh: $dir/data does not exist" >&2; exit 1; }
else
	dir=$(mktemp -d /tmp/feed-bench-cache.XXXXXX)
	chmod 755 "$dir"
fi
cp -r "$here/load.sql" "$here/oracle.sql" "$here/queries" "$dir/"
mkdir -p "$dir/log"
chown -R postgres: "$dir"

as_pg() { (cd "$dir" && runuser -u postgres -- "$@"); }
psql_pg() { as_pg "$bindir/psql" -X -q -h "$dir" -p "$port" -d bench -v ON_ERROR_STOP=1 "$@"; }
psql_at() { psql_pg -At -F ' ' "$@"; }

redis_pid=
hugepages_before=
cleanup() {
	rc=$?
	if [ -n "$redis_pid" ]; then
		kill "$redis_pid" 2>/dev/null || true
	fi
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
	fi
	if [ -n "$hugepages_before" ]; then
		echo "$hugepages_before" >/proc/sys/vm/nr_hugepages || true
	fi
	if [ $rc -ne 0 ] && [ -f "$dir/server.log" ]; then
		echo "--- last lines of the server log ($dir/server.log)" >&2
		tail -n 30 "$dir/server.log" >&2 || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ $rc -ne 0 ] || [ $reuse = 1 ]; then
		echo "bench: cluster directory kept: $dir" >&2
	else
		rm -rf "$dir"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 143' INT TERM

ts() { date -u +%H:%M:%S; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# The cache settings of the current phase live in their own file, included
# last by postgresql.conf, so that a phase can change them and restart.
# feed.cache_admission = first_read: warm-ups, checks and the stampede build
# on the first read; part 3 measures the default (second_read) and first_read.
set_cache_conf() { # cache_size
	printf "feed.cache_size = '%s'\nfeed.cache_ttl = '%s'\nfeed.cache_admission = 'first_read'\nhuge_pages = %s\n" \
		"$1" "$CACHE_TTL" "$HUGE_PAGES" >"$dir/data/cache_bench.conf"
	chown postgres: "$dir/data/cache_bench.conf"
}
# With huge_pages = on, reserve what the stopped server's configuration
# needs (postgres -C computes it with feed's shared memory request counted).
# The kernel may find fewer free 2 MB pages than asked: then run with 4 kB
# pages and say so, rather than fail the whole benchmark.
reserve_huge_pages() {
	local need free total
	[ "$HUGE_PAGES" = on ] || return 0
	need=$(as_pg "$bindir/postgres" -D "$dir/data" -C shared_memory_size_in_huge_pages)
	free=$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)
	if [ "$free" -lt "$need" ]; then
		total=$(cat /proc/sys/vm/nr_hugepages)
		[ -n "$hugepages_before" ] || hugepages_before=$total
		echo $((total + need - free)) >/proc/sys/vm/nr_hugepages
		free=$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)
	fi
	if [ "$free" -lt "$need" ]; then
		echo "   huge pages: the kernel gave $free of the $need needed: running with huge_pages = off"
		HUGE_PAGES=off
		sed -i 's/^huge_pages = .*/huge_pages = off/' "$dir/data/cache_bench.conf"
	fi
}
start_server() {
	reserve_huge_pages
	as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
}
# feed.cache_ttl: "default" (the GUC's own default) or "bench" (CACHE_TTL)
default_ttl=
set_ttl() {
	if [ "$1" = default ]; then
		psql_pg -c "ALTER SYSTEM SET feed.cache_ttl = '${default_ttl}s'" -c "SELECT pg_reload_conf()" >/dev/null
	else
		psql_pg -c "ALTER SYSTEM RESET feed.cache_ttl" -c "SELECT pg_reload_conf()" >/dev/null
	fi
	sleep 0.5
}
restart_server() {
	as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	start_server
}

echo "== feed cache benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $("$bindir/postgres" --version)"
echo "uptime at start: $(uptime)"

if [ $reuse = 0 ]; then
	as_pg "$bindir/initdb" -D "$dir/data" -U postgres --no-locale -E UTF8 -A trust >/dev/null
	cat >>"$dir/data/postgresql.conf" <<EOF
# feed cache benchmark (throw-away cluster)
shared_preload_libraries = 'feed'
feed.database = 'bench'
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
max_connections = $((ST_CLIENTS + 40))
shared_buffers = $SHARED_BUFFERS
work_mem = 16MB
maintenance_work_mem = 512MB
max_wal_size = 16GB
checkpoint_timeout = 30min
synchronous_commit = off
jit = off
include_if_exists = 'cache_bench.conf'
EOF
fi
set_cache_conf "$CACHE_SIZE"
start_server
echo "huge_pages = $HUGE_PAGES (BENCH_HUGE_PAGES; vm.nr_hugepages = $(cat /proc/sys/vm/nr_hugepages) while the server runs)"

if [ $reuse = 0 ]; then
	as_pg "$bindir/createdb" -h "$dir" -p "$port" bench
	echo
	echo "== $(ts) loading: $USERS users, $POSTS posts in $ROUNDS rounds, $VIEWERS active viewers (bench/load.sql)"
	psql_pg -v users="$USERS" -v posts="$POSTS" -v celeb_posts="$CELEB_POSTS" \
		-v rounds="$ROUNDS" -v viewers="$VIEWERS" -v graph=bulk -f load.sql >/dev/null
fi
psql_pg -c "SELECT round(extract(epoch FROM max(done_at) - min(done_at))::numeric, 1) AS load_seconds FROM bench.phases"
default_ttl=$(psql_at -c "SELECT boot_val FROM pg_settings WHERE name = 'feed.cache_ttl'")
echo "feed.cache_ttl for the measurements: $CACHE_TTL (its default, ${default_ttl}s, for the home_ttl_default runs and the second Zipf run)"
psql_pg -c "
	SELECT (SELECT count(*) FROM feed.users) AS users,
	       (SELECT count(*) FROM feed.follows WHERE state = 'active') AS active_follows,
	       (SELECT count(*) FROM feed.posts) AS posts,
	       (SELECT count(*) FROM feed.inbox WHERE entry_id >= 0) AS inbox_rows,
	       (SELECT round(avg(octet_length(body))) FROM feed.posts
	         WHERE repost_of IS NULL AND deleted_at IS NULL) AS avg_body_bytes"

# ---------------------------------------------------------------------------
# Statements and helpers
# ---------------------------------------------------------------------------
# The baselines as SQL functions of the viewer number, for the checks (same
# text as the pgbench scripts: `:n` becomes `$1`).
for q in pull inbox; do
	{
		echo "CREATE OR REPLACE FUNCTION bench.q_$q(integer) RETURNS TABLE (entry_id bigint, post_id bigint,"
		echo "    author_id bigint, reposted_by bigint, body text, created_at timestamptz, like_count bigint)"
		echo 'LANGUAGE sql STABLE AS $q$'
		sed 's/:n\b/$1/g; s/;[[:space:]]*$//' "$dir/queries/$q.sql"
		echo '$q$;'
	} >"$dir/q_$q.sql"
done
cat >"$dir/helpers.sql" <<'EOF'
SET client_min_messages = warning;
-- feed.home paged with its cursor: pages of lim rows, numbered from 1.
CREATE OR REPLACE FUNCTION bench.home_pages(v bigint, pages integer, lim integer)
RETURNS TABLE (page integer, entry_id bigint, post_id bigint, author_id bigint,
               reposted_by bigint, body text, created_at timestamptz, like_count bigint)
LANGUAGE plpgsql VOLATILE AS $f$
DECLARE
    cur bigint := NULL;
    last bigint;
    r record;
BEGIN
    FOR k IN 1 .. pages LOOP
        last := NULL;
        FOR r IN SELECT * FROM feed.home(v, lim, cur) LOOP
            page := k; entry_id := r.entry_id; post_id := r.post_id;
            author_id := r.author_id; reposted_by := r.reposted_by; body := r.body;
            created_at := r.created_at; like_count := r.like_count;
            RETURN NEXT;
            last := r.entry_id;
        END LOOP;
        EXIT WHEN last IS NULL;
        cur := last;
    END LOOP;
END
$f$;
-- Readers for the Zipf phase: rank 1 is the most frequent reader; ranks are
-- a seeded random permutation, so popularity is unrelated to the graph.
CREATE TABLE IF NOT EXISTS bench.zipf_users (rank integer PRIMARY KEY, user_id bigint NOT NULL);
CREATE TABLE IF NOT EXISTS bench.zipf_viewers (rank integer PRIMARY KEY, user_id bigint NOT NULL);
DO $d$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM bench.zipf_users) THEN
        PERFORM setseed(0.17);
        INSERT INTO bench.zipf_users
        SELECT row_number() OVER (ORDER BY random()), user_id
        FROM (SELECT user_id FROM feed.users ORDER BY user_id) s;
        INSERT INTO bench.zipf_viewers
        SELECT row_number() OVER (ORDER BY random()), user_id
        FROM (SELECT user_id FROM bench.viewers ORDER BY user_id) s;
    END IF;
END
$d$;
-- A user with an empty feed: its cached window alone gives the window size.
CREATE TABLE IF NOT EXISTS bench.empty_user (user_id bigint);
INSERT INTO bench.empty_user
SELECT feed.create_user('cache_bench_empty', false)
WHERE NOT EXISTS (SELECT 1 FROM bench.empty_user);
CREATE TABLE IF NOT EXISTS bench.cache_snap (label text PRIMARY KEY, at timestamptz,
    s feed.cache_stats);
EOF
chown postgres: "$dir"/*.sql
psql_pg -c "SET client_min_messages = warning" -c "DROP FUNCTION IF EXISTS bench.oracle(bigint, integer)" \
	-f oracle.sql -f q_pull.sql -f q_inbox.sql -f helpers.sql >/dev/null

snap() { # label: stores feed.cache_stats now
	psql_pg -c "INSERT INTO bench.cache_snap SELECT '$1', clock_timestamp(), s FROM feed.cache_stats s
		ON CONFLICT (label) DO UPDATE SET at = excluded.at, s = excluded.s" >/dev/null
}
# delta of the stats between two snapshots, one line: the named columns
delta() { # from to columns...
	local a=$1 b=$2
	shift 2
	local cols=()
	for c in "$@"; do cols+=("(b.s).$c - (a.s).$c"); done
	psql_at -c "SELECT $(IFS=,; echo "${cols[*]}") FROM bench.cache_snap a, bench.cache_snap b
		WHERE a.label = '$a' AND b.label = '$b'"
}

oracle_check() { # label
	echo "== $(ts) check ($1): feed.home paged through the cache (5 pages of 50) = oracle, $ORACLE_CHECK viewers"
	snap "check-$1-0"
	psql_pg -c "
		WITH v AS (SELECT user_id FROM bench.viewers WHERE n <= $ORACLE_CHECK
		           UNION ALL SELECT user_id FROM bench.empty_user),
		c AS (
		    SELECT v.user_id,
		           array(SELECT row(h.page, h.entry_id, h.post_id, h.author_id, h.reposted_by, h.body,
		                            h.created_at, h.like_count)::text
		                 FROM bench.home_pages(v.user_id, 5, 50) h) AS h,
		           array(SELECT row((o.rn - 1) / 50 + 1, o.entry_id, o.post_id, o.author_id,
		                            o.reposted_by, o.body, o.created_at, o.like_count)::text
		                 FROM (SELECT row_number() OVER (ORDER BY x.entry_id DESC) AS rn, x.*
		                       FROM bench.oracle(v.user_id, 250) x) o ORDER BY o.rn) AS o
		    FROM v)
		SELECT count(*) AS viewers, sum(cardinality(h)) AS rows_compared,
		       count(*) FILTER (WHERE h IS DISTINCT FROM o) AS viewers_mismatched
		FROM c"
	snap "check-$1-1"
	read -r hits stale misses uncached phits pmiss < <(delta "check-$1-0" "check-$1-1" \
		hits stale_serves misses uncached_reads post_hits post_misses)
	echo "   cache during the check: $hits hits, $stale stale serves, $misses misses (builds), $uncached uncached reads; post rows $phits hits, $pmiss misses"
}

# (no temporary table: a transaction with an xid reads around the cache)
echo "== $(ts) checks: feed.home = pull baseline = inbox baseline = feed.home with feed.cache = off, $CHECK viewers, cache emptied first"
psql_pg -c "SELECT feed.cache_reset()" >/dev/null
page_md5() { # expression of v (a bench.viewers row)
	echo "SELECT v.n, md5(array(SELECT row(x.*)::text FROM $1 x)::text) FROM bench.viewers v
		WHERE v.n <= $CHECK ORDER BY v.n"
}
for pass in cold warm; do
	snap "chk0"
	psql_at -c "$(page_md5 'feed.home(v.user_id, 50)')" >"$dir/chk.home"
	snap "chk1"
	psql_at -c "$(page_md5 'bench.q_pull(v.n)')" >"$dir/chk.pull"
	psql_at -c "$(page_md5 'bench.q_inbox(v.n)')" >"$dir/chk.inbox"
	psql_at -c "SET feed.cache = off" -c "$(page_md5 'feed.home(v.user_id, 50)')" >"$dir/chk.off"
	read -r hits misses < <(delta chk0 chk1 hits misses)
	printf '   %s: %s viewers, mismatches: home vs pull %s, vs inbox %s, vs feed.home with the cache off %s (cache hits %s, misses %s)\n' \
		"$pass" "$(wc -l <"$dir/chk.home")" \
		"$(diff "$dir/chk.home" "$dir/chk.pull" | grep -c '^<' || true)" \
		"$(diff "$dir/chk.home" "$dir/chk.inbox" | grep -c '^<' || true)" \
		"$(diff "$dir/chk.home" "$dir/chk.off" | grep -c '^<' || true)" "$hits" "$misses"
done
oracle_check "feed.cache_size = $CACHE_SIZE"

# ---------------------------------------------------------------------------
# pgbench helpers
# ---------------------------------------------------------------------------
# 50 constant rows with home's columns, the body as long as the average live
# original (the literal is built here, so the server does no work per row
# beyond returning it).
body_len=$(psql_at -c "SELECT round(avg(octet_length(body)))::int FROM feed.posts
	WHERE repost_of IS NULL AND deleted_at IS NULL")
body=$(head -c "$body_len" < <(yes 'post 123456: 0123456789abcdef' | tr -d '\n'))
cat >"$dir/queries/rows50.sql" <<EOSQL
SELECT 260000000000000000 + g AS entry_id, 260000000000000000 + g AS post_id,
       250000000000000000::bigint AS author_id, NULL::bigint AS reposted_by,
       '$body'::text AS body, '2026-11-29 12:00:00+00'::timestamptz AS created_at,
       3::bigint AS like_count
FROM generate_series(1::bigint, 50::bigint) AS g;
EOSQL
# The same rows with the viewer looked up by number as the home, pull and
# inbox statements do (pgbench can only draw integers, and user ids are not
# contiguous): what that part of the harness costs, for the reader.  The
# target stays the ratio to rows50, which has no lookup.
sed 's/^SELECT 260000000000000000 + g AS entry_id/SELECT (SELECT user_id FROM bench.viewers WHERE n = :n) + g AS entry_id/' \
	"$dir/queries/rows50.sql" >"$dir/queries/rows50_lookup.sql"
grep -q 'bench.viewers' "$dir/queries/rows50_lookup.sql" || { echo "bench/cache.sh: rows50_lookup not built" >&2; exit 1; }
for v in select1 rows50 rows50_lookup inbox pull home; do
	{ echo '\set n random(1, :nviewers)'; cat "$dir/queries/$v.sql"; } >"$dir/$v.pgb"
done
chown -R postgres: "$dir"

# pgbench run; prints "tps n p50 p95 p99 max" (ms) from the per-transaction log
# args: name script clients seconds [PGOPTIONS] [extra pgbench args...]
bench_run() {
	local name=$1 script=$2 c=$3 secs=$4 opts=${5:-}
	shift 5 || shift $#
	local j=$((c < 2 ? c : 2))
	rm -f "$dir/log/$name".*
	local out
	if ! out=$(as_pg env PGOPTIONS="$opts" "$bindir/pgbench" -h "$dir" -p "$port" -n -M prepared \
		-c "$c" -j "$j" -T "$secs" -D nviewers="$VIEWERS" -f "$script" \
		--log --log-prefix="$dir/log/$name" "$@" bench 2>&1); then
		echo "$out" | tail -n 5 >&2
		echo "FAILED"
		return 0
	fi
	local tps
	tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)
	# log lines: client_id transaction_no latency_us script_no epoch_s epoch_us
	cat "$dir/log/$name".* | awk '{print $3}' | sort -n >"$dir/log/lat.$name"
	awk -v tps="$tps" '{ a[NR] = $1 }
		function q(p) { return a[int((NR * p + 99) / 100)] / 1000 }
		END { printf "%s %d %.3f %.3f %.3f %.3f\n", tps, NR, q(50), q(95), q(99), a[NR] / 1000 }' \
		"$dir/log/lat.$name"
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

results="$dir/results.txt"
: >"$results"

# part 1's variants: their pgbench script and PGOPTIONS.  The cached reads
# run with the default admission (second_read: each first-page read also
# counts in the frequency sketch), not the server's first_read of the
# warm-ups.
variant_script() { case $1 in home_*) echo home ;; *) echo "$1" ;; esac; }
variant_opts() {
	case $1 in
		home | home_ttl_default) echo "-c feed.cache_admission=second_read" ;;
		home_nocache) echo "-c feed.cache=off" ;;
	esac
}

# ---------------------------------------------------------------------------
# Part 1: throughput and p95, cached feed.home against the baselines
# ---------------------------------------------------------------------------
if phase throughput && [ -n "$CLIENTS" ]; then
	echo
	echo "== $(ts) part 1: warming the cache with every viewer's feed ($VIEWERS viewers, feed.cache_size = $CACHE_SIZE)"
	psql_pg -c "SELECT feed.cache_reset()" >/dev/null
	# twice: the second pass builds what the first could not install (a
	# window refused because a concurrent change raced its build)
	for k in 1 2; do
		psql_pg -c "SELECT count(*) FROM bench.viewers v CROSS JOIN LATERAL feed.home(v.user_id, 50) h" >/dev/null
	done
	snap warm
	psql_pg -c "SELECT feeds, posts, pg_size_pretty(bytes_used) AS used, pg_size_pretty(bytes_total) AS total,
	                   evictions, rebuilds, rebuilds_refused FROM feed.cache_stats"
	for c in $CLIENTS; do
		for v in $VARIANTS; do
			[ $v = home_ttl_default ] && continue	# would refresh every window
			script=$(variant_script $v) opts=$(variant_opts $v)
			echo "== $(ts) warm-up $v, $c clients (3 s)"
			bench_run "warm.$v.c$c" "$script.pgb" "$c" 3 "$opts" >/dev/null
		done
		for r in $(seq 1 "$RUNS"); do
			for v in $VARIANTS; do
				script=$(variant_script $v) opts=$(variant_opts $v)
				[ $v = home_ttl_default ] && set_ttl default
				l0=$(load1)
				snap run0
				res=$(bench_run "$v.c$c.r$r" "$script.pgb" "$c" "$DURATION" "$opts")
				snap run1
				[ $v = home_ttl_default ] && set_ttl bench
				read -r hits stale misses rebuilds pmiss < <(delta run0 run1 \
					hits stale_serves misses rebuilds post_misses)
				echo "$v $c $r $res $hits $stale $misses $rebuilds $pmiss $l0" >>"$results"
				printf '   %s clients %s round %s: tps/n/p50/p95/p99/max %s | cache hits %s stale %s misses %s rebuilds %s post misses %s | load %s\n' \
					"$v" "$c" "$r" "$res" "$hits" "$stale" "$misses" "$rebuilds" "$pmiss" "$l0"
			done
		done
	done
fi

# ---------------------------------------------------------------------------
# Redis: LRANGE of 50 ids from an 800-long list (what applications cache a
# timeline in), redis-benchmark with the same client counts
# ---------------------------------------------------------------------------
redis_results="$dir/redis.txt"
: >"$redis_results"
if phase redis && [ "$REDIS" = 1 ] && [ -n "$CLIENTS" ] && [ -z "$redis_note" ]; then
	echo
	echo "== $(ts) Redis: $(redis-server --version | cut -d' ' -f1-3)"
	rport=56379
	while ss -Hltn "sport = :$rport" 2>/dev/null | grep -q .; do rport=$((rport + 1)); done
	as_pg redis-server --port "$rport" --bind 127.0.0.1 --unixsocket "$dir/redis.sock" \
		--save '' --appendonly no --daemonize yes --dir "$dir" \
		--pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
	for _ in $(seq 1 50); do [ -s "$dir/redis.pid" ] && break; sleep 0.1; done
	redis_pid=$(cat "$dir/redis.pid")
	# 800 ids of the width of post ids (18 digits)
	awk 'BEGIN { for (i = 800; i >= 1; i--) printf "25281458%010.0f\n", i * 4194304 }' |
		sed 's/^/RPUSH feed:42 /' | redis-cli -s "$dir/redis.sock" >/dev/null
	echo "   list length: $(redis-cli -s "$dir/redis.sock" LLEN feed:42), first id: $(redis-cli -s "$dir/redis.sock" LINDEX feed:42 0)"
	for c in $CLIENTS; do
		for r in $(seq 1 "$RUNS"); do
			for how in unix tcp; do
				if [ $how = unix ]; then conn=(-s "$dir/redis.sock"); else conn=(-h 127.0.0.1 -p "$rport"); fi
				l0=$(load1)
				# csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
				line=$(redis-benchmark "${conn[@]}" -c "$c" --threads "$((c < 2 ? c : 2))" -n 150000 --csv \
					LRANGE feed:42 0 49 | tail -n 1 | tr -d '"')
				rps=$(echo "$line" | cut -d, -f2)
				p95=$(echo "$line" | cut -d, -f6)
				echo "redis_$how $c $r $rps $p95 $l0" >>"$redis_results"
				echo "   LRANGE 0 49 over $how, $c clients, round $r: $rps rps, p95 $p95 ms (load $l0)"
			done
		done
	done
	kill "$redis_pid" 2>/dev/null || true
	redis_pid=
fi

# ---------------------------------------------------------------------------
# Part 2: stampede.  ST_CLIENTS clients read the same ST_FEEDS hot feeds;
# feed.cache_reset() empties the cache ST_RESET_AT seconds into the run.
# Rebuilds and the other counters are the deltas of feed.cache_stats from
# just before the reset to the end of the run.  From pgbench's per-transaction
# log: throughput and p99 over the 3 s before the reset (its start); p99 and
# maximum of the transactions that ended after it; recovery, the time from the
# reset's start to the end of the last half second below 80% of the
# throughput before; and how long feed.cache_reset() itself took.
# ---------------------------------------------------------------------------
stampede_results="$dir/stampede.txt"
: >"$stampede_results"
if phase stampede; then
	echo
	echo "== $(ts) part 2: stampede, $ST_CLIENTS clients on $ST_FEEDS hot feeds, reset at ${ST_RESET_AT}s of ${ST_DURATION}s"
	{ echo "\\set n random(1, $ST_FEEDS)"; cat "$dir/queries/home.sql"; } >"$dir/stampede.pgb"
	chown postgres: "$dir/stampede.pgb"
	for r in $(seq 1 "$ST_RUNS"); do
		for sf in on off; do
			psql_pg -c "ALTER SYSTEM SET feed.cache_single_flight = $sf" -c "SELECT pg_reload_conf()" >/dev/null
			sleep 1
			got=$(psql_at -c "SHOW feed.cache_single_flight")
			[ "$got" = "$sf" ] || { echo "feed.cache_single_flight is $got, not $sf" >&2; exit 1; }
			psql_pg -c "SELECT count(*) FROM bench.viewers v CROSS JOIN LATERAL feed.home(v.user_id, 50) h
				WHERE v.n <= $ST_FEEDS" >/dev/null
			l0=$(load1)
			(
				sleep "$ST_RESET_AT"
				# one session: the time is taken on the server right after the reset
				psql_at -c "INSERT INTO bench.cache_snap SELECT 'st0', clock_timestamp(), s FROM feed.cache_stats s
					ON CONFLICT (label) DO UPDATE SET at = excluded.at, s = excluded.s" \
					-c "SELECT extract(epoch FROM clock_timestamp())" \
					-c "SELECT extract(epoch FROM clock_timestamp()) FROM (SELECT feed.cache_reset()) r" \
					>"$dir/reset_at"
			) &
			resetter=$!
			res=$(bench_run "st.$sf.r$r" stampede.pgb "$ST_CLIENTS" "$ST_DURATION" "")
			wait "$resetter"
			snap "st1"
			read -r rebuilds refused misses waits timeouts uncached stale < <(delta st0 st1 \
				rebuilds rebuilds_refused misses waits wait_timeouts uncached_reads stale_serves)
			reset_at=$(head -n 1 "$dir/reset_at")
			reset_s=$(awk 'NR == 1 { a = $1 } NR == 2 { printf "%.2f", $1 - a }' "$dir/reset_at")
			# before: tps p99 | after: n p99 max | recovery seconds (-1: not within the run)
			lg="$dir/log/st.$sf.r$r"
			cat "$lg".[0-9]* | awk -v t0="$reset_at" '{ end = $5 + $6 / 1e6; if (end >= t0 - 3 && end < t0) print $3 }' |
				sort -n >"$dir/log/before.$sf.r$r"
			cat "$lg".[0-9]* | awk -v t0="$reset_at" '{ end = $5 + $6 / 1e6; if (end >= t0) print $3 }' |
				sort -n >"$dir/log/after.$sf.r$r"
			# recovery: the end of the last half second (the run's last, partial
			# one excluded) below 80% of the throughput before the reset
			rec=$(cat "$lg".[0-9]* | awk -v t0="$reset_at" -v nb="$(wc -l <"$dir/log/before.$sf.r$r")" '
				{ end = $5 + $6 / 1e6; if (end >= t0) { k = int((end - t0) * 2); bucket[k]++; if (k > last) last = k } }
				END { low = -1; for (k = 0; k < last; k++) if (bucket[k] * 2 < 0.8 * nb / 3) low = k
				      print (low == last - 1 ? -1 : (low + 1) / 2) }')
			p99() { awk '{ a[NR] = $1 } END { if (NR) printf "%d %.3f %.3f\n", NR, a[int((NR * 99 + 99) / 100)] / 1000, a[NR] / 1000; else print "0 0 0" }' "$1"; }
			read -r nb p99b _ < <(p99 "$dir/log/before.$sf.r$r")
			after="$(awk -v n="$nb" 'BEGIN { printf "%.0f", n / 3 }') $p99b $(p99 "$dir/log/after.$sf.r$r") $rec"
			echo "$sf $r $res $rebuilds $refused $misses $waits $timeouts $uncached $stale $after $l0 $reset_s" >>"$stampede_results"
			printf '   single_flight %s round %s: tps/n/p50/p95/p99/max %s | after reset: rebuilds %s refused %s misses %s waits %s wait timeouts %s uncached %s | before: tps/p99, after: n/p99/max, recovery s: %s | reset took %s s | load %s\n' \
				"$sf" "$r" "$res" "$rebuilds" "$refused" "$misses" "$waits" "$timeouts" "$uncached" "$after" "$reset_s" "$l0"
		done
	done
	psql_pg -c "ALTER SYSTEM RESET feed.cache_single_flight" -c "SELECT pg_reload_conf()" >/dev/null
fi

# ---------------------------------------------------------------------------
# Part 3: memory and hit rate.  The slot sizes come from feed.cache_stats
# (bytes_used with one empty window cached, then with one full window and its
# post rows); the server restarts with feed.cache_size holding Z_FRACTION of
# the population's feeds (half of the cache is windows, half post rows); then
# Z_CLIENTS clients read feeds chosen with random_zipfian(1, N, Z_S) over a
# random permutation of the population.
# ---------------------------------------------------------------------------
memory_results="$dir/memory.txt"
: >"$memory_results"
if phase memory; then
	echo
	echo "== $(ts) part 3: memory and hit rate, Zipf s = $Z_S over the $Z_POP, cache for $Z_FRACTION of their feeds"
	psql_pg -c "SELECT feed.cache_reset()" >/dev/null
	psql_pg -c "SELECT count(*) FROM feed.home((SELECT user_id FROM bench.empty_user), 50)" >/dev/null
	read -r f0 p0 b0 < <(psql_at -c "SELECT feeds, posts, bytes_used FROM feed.cache_stats")
	psql_pg -c "SELECT count(*) FROM feed.home((SELECT user_id FROM bench.viewers WHERE n = 1), 50)" >/dev/null
	read -r f1 p1 b1 < <(psql_at -c "SELECT feeds, posts, bytes_used FROM feed.cache_stats")
	if [ "$f0" != 1 ] || [ "$p0" != 0 ] || [ "$f1" != 2 ] || [ "$p1" -le 0 ]; then
		echo "unexpected cache contents while measuring slot sizes: feeds $f0/$f1 posts $p0/$p1" >&2
		exit 1
	fi
	feed_slot=$b0
	post_slot=$(((b1 - 2 * b0) / p1))
	# arena layout (cache.c): each half split in 64 partitions; a slot also
	# takes a hash bucket and a free-list link (2 x int32)
	npop=$(psql_at -c "SELECT count(*) FROM bench.zipf_$Z_POP")
	target=$(awk -v n="$npop" -v f="$Z_FRACTION" 'BEGIN { printf "%d", n * f + 0.5 }')
	per_part=$(((target + 63) / 64))
	size_kb=$(((per_part * (feed_slot + 8) + 7) / 8))
	echo "   window slot $feed_slot bytes, post row slot $post_slot bytes (one window of $p1 post rows: $((b1 - 2 * b0 + feed_slot)) bytes)"
	echo "   population $npop feeds, target $target cached feeds ($per_part per partition): feed.cache_size = ${size_kb}kB"
	set_cache_conf "${size_kb}kB"
	restart_server
	psql_pg -c "SELECT bytes_total FROM feed.cache_stats" >/dev/null
	cat >"$dir/zipf.pgb" <<EOSQL
\\set r random_zipfian(1, $npop, $Z_S)
SELECT * FROM feed.home((SELECT user_id FROM bench.zipf_$Z_POP WHERE rank = :r), 50);
EOSQL
	chown postgres: "$dir/zipf.pgb"
	echo "== $(ts) Zipf warm-up, $Z_CLIENTS clients, ${Z_WARMUP}s"
	# with the admission of the first measured variant: the server's own
	# (first_read, for the suites' build counts) fills the cache with what
	# TinyLFU would not have admitted, and the first window measured it
	bench_run zipf.warm zipf.pgb "$Z_CLIENTS" "$Z_WARMUP" "-c feed.cache_admission=second_read" >/dev/null
	# variants: feed.cache_ttl CACHE_TTL or its default, with the default
	# admission (second_read); then CACHE_TTL with first_read.  Each starts
	# from the cache the previous one left.
	for variant in bench default first_read; do
		ttl=$([ $variant = default ] && echo default || echo bench)
		admission=$([ $variant = first_read ] && echo first_read || echo second_read)
		set_ttl $ttl
		snap z0
		l0=$(load1)
		echo "== $(ts) Zipf measured, $Z_CLIENTS clients, ${Z_DURATION}s, feed.cache_ttl $([ $ttl = bench ] && echo "$CACHE_TTL" || echo "${default_ttl}s"), feed.cache_admission $admission"
		res=$(bench_run "zipf.$variant" zipf.pgb "$Z_CLIENTS" "$Z_DURATION" "-c feed.cache_admission=$admission")
		snap z1
		read -r hits stale misses rebuilds refused evictions uncached waits phits pmiss < <(delta z0 z1 \
			hits stale_serves misses rebuilds rebuilds_refused evictions uncached_reads waits post_hits post_misses)
		read -r feeds posts used total < <(psql_at -c "SELECT feeds, posts, bytes_used, bytes_total FROM feed.cache_stats")
		ideal=$(psql_at -c "SELECT round((sum(power(k, -$Z_S)) FILTER (WHERE k <= $feeds)
			/ sum(power(k, -$Z_S)))::numeric, 4) FROM generate_series(1, $npop) AS k")
		echo "$res $hits $stale $misses $rebuilds $refused $evictions $uncached $waits $phits $pmiss $feeds $posts $used $total $feed_slot $post_slot $npop $target $size_kb $ideal $l0 $variant" >>"$memory_results"
		echo "   tps/n/p50/p95/p99/max $res"
		echo "   feeds: hits $hits stale $stale misses $misses rebuilds $rebuilds refused $refused evictions $evictions uncached $uncached waits $waits"
		echo "   post rows: hits $phits misses $pmiss; cached now: $feeds feeds, $posts post rows, $used of $total bytes"
		awk -v h="$hits" -v s="$stale" -v m="$misses" -v ph="$phits" -v pm="$pmiss" -v i="$ideal" 'BEGIN {
			printf "   hit rate %.4f (best possible with this many feeds cached, the top ranks: %s); post row hit rate %.4f\n",
			(h + s) / (h + s + m), i, ph / (ph + pm) }'
	done
	set_ttl bench
	oracle_check "feed.cache_size = ${size_kb}kB"
fi

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
echo
echo "uptime at end: $(uptime)"
if [ -s "$results" ]; then
	echo
	echo "== part 1: medians of $RUNS rounds of ${DURATION}s (pgbench -M prepared; latencies from the per-transaction log)"
	echo
	echo "| statement | clients | TPS (median) | TPS min..max | p50 ms | p95 ms | p99 ms | cache misses | post row misses |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for c in $CLIENTS; do
		for v in $VARIANTS; do
			sel() { awk -v v="$v" -v c="$c" -v k="$1" '$1 == v && $2 == c && $4 != "FAILED" { print $k }' "$results"; }
			[ -n "$(sel 4)" ] || { echo "| $v | $c | failed | | | | | | |"; continue; }
			printf '| %s | %s | %.0f | %.0f..%.0f | %.3f | %.3f | %.3f | %s | %s |\n' "$v" "$c" \
				"$(sel 4 | median)" "$(sel 4 | sort -g | head -n 1)" "$(sel 4 | sort -g | tail -n 1)" \
				"$(sel 6 | median)" "$(sel 7 | median)" "$(sel 8 | median)" \
				"$(sel 12 | awk '{ s += $1 } END { print s + 0 }')" "$(sel 14 | awk '{ s += $1 } END { print s + 0 }')"
		done
	done
	echo
	echo "Cached feed.home against each statement: TPS ratio of the medians (> 1: home is faster), range of the"
	echo "per-round ratios and their median in brackets (home and the other statement measured in the same"
	echo "round), p95 ratio of the medians (< 1: home is faster), and the target of issue 4 where there is one."
	echo
	echo "| against | clients | TPS ratio | per-round range (median) | p95 ratio | target | met |"
	echo "|---|---:|---:|---:|---:|---:|---|"
	for c in $CLIENTS; do
		for b in pull inbox rows50 rows50_lookup select1 home_nocache redis_unix redis_tcp; do
			case $b in pull) t=5 ;; inbox) t=1.7 ;; rows50) t=0.7 ;; *) t= ;; esac
			if [[ $b == redis_* ]]; then
				bt=$(awk -v v="$b" -v c="$c" '$1 == v && $2 == c { print $4 }' "$redis_results" | median)
				bp=$(awk -v v="$b" -v c="$c" '$1 == v && $2 == c { print $5 }' "$redis_results" | median)
				range="-"
			else
				bt=$(awk -v v="$b" -v c="$c" '$1 == v && $2 == c && $4 != "FAILED" { print $4 }' "$results" | median)
				bp=$(awk -v v="$b" -v c="$c" '$1 == v && $2 == c && $4 != "FAILED" { print $7 }' "$results" | median)
				range=$(awk -v b="$b" -v c="$c" '$2 == c && $4 != "FAILED" && ($1 == "home" || $1 == b) { t[$1 "," $3] = $4 }
					END { for (k in t) { split(k, x, ","); if (x[1] == "home" && (b "," x[2]) in t) print t[k] / t[b "," x[2]] } }' "$results" |
					sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%.2f..%.2f (%.2f)", a[1], a[NR], (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2); else print "-" }')
			fi
			ht=$(awk -v c="$c" '$1 == "home" && $2 == c && $4 != "FAILED" { print $4 }' "$results" | median)
			hp=$(awk -v c="$c" '$1 == "home" && $2 == c && $4 != "FAILED" { print $7 }' "$results" | median)
			[ "$bt" = nan ] || [ "$ht" = nan ] && continue
			awk -v b="$b" -v c="$c" -v ht="$ht" -v bt="$bt" -v hp="$hp" -v bp="$bp" -v t="$t" -v range="$range" 'BEGIN {
				r = ht / bt
				met = t == "" ? "" : (r >= t ? "yes" : sprintf("no (%.0f%% of the target)", 100 * r / t))
				printf "| %s | %s | %.2f | %s | %.2f | %s | %s |\n", b, c, r, range, (bp > 0 ? hp / bp : 0), (t == "" ? "-" : t "x"), met }'
		done
	done
fi
if [ -n "$redis_note" ]; then
	echo
	echo "Redis: $redis_note"
elif [ -s "$redis_results" ]; then
	echo
	echo "== Redis LRANGE feed 0 49 (50 ids from an 800-long list), redis-benchmark, $RUNS rounds, medians"
	echo
	echo "| transport | clients | requests/s (median) | p95 ms |"
	echo "|---|---:|---:|---:|"
	for c in $CLIENTS; do
		for how in unix tcp; do
			printf '| %s | %s | %.0f | %.3f |\n' "$how" "$c" \
				"$(awk -v v="redis_$how" -v c="$c" '$1 == v && $2 == c { print $4 }' "$redis_results" | median)" \
				"$(awk -v v="redis_$how" -v c="$c" '$1 == v && $2 == c { print $5 }' "$redis_results" | median)"
		done
	done
fi
if [ -s "$stampede_results" ]; then
	echo
	echo "== part 2: stampede, $ST_CLIENTS clients on $ST_FEEDS feeds, feed.cache_reset() at ${ST_RESET_AT}s of ${ST_DURATION}s"
	echo "(counters: feed.cache_stats from just before the reset to the end of the run; latencies in ms)"
	echo
	echo "| single flight | round | TPS before | p99 before | reset took s | transactions after | p99 after | max after | recovery s | rebuilds | refused | misses | waits | wait timeouts |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk '{ printf "| %s | %s | %.0f | %.1f | %s | %d | %.1f | %.1f | %s | %s | %s | %s | %s | %s |\n",
		$1, $2, $16, $17, $23, $18, $19, $20, ($21 < 0 ? "not within the run" : $21), $9, $10, $11, $12, $13 }' "$stampede_results"
fi
if [ -s "$memory_results" ]; then
	echo
	echo "== part 3: memory and hit rate (Zipf s = $Z_S over the $Z_POP, ${Z_DURATION}s after ${Z_WARMUP}s of warm-up, $Z_CLIENTS clients)"
	echo
	awk -v bt="$CACHE_TTL" -v dt="${default_ttl}s" '{ for (i = 1; i <= NF; i++) v[NR, i] = $i } END {
		printf "| | feed.cache_ttl = %s | feed.cache_ttl = %s (default) | feed.cache_ttl = %s, feed.cache_admission = first_read |\n|---|---:|---:|---:|\n", bt, dt, bt
		printf "| feed.cache_admission | second_read (default) | second_read (default) | first_read |\n"
		row("window slot (bytes per cached feed)", 21, "%d")
		row("post row slot (bytes)", 22, "%d")
		row("population (feeds)", 23, "%d")
		row("target cached feeds", 24, "%d")
		row("feed.cache_size (kB)", 25, "%d")
		row("cache shared memory (bytes)", 20, "%d")
		row("cached feeds at the end", 17, "%d")
		row("cached post rows at the end", 18, "%d")
		printf "| whole cache / cached feeds (bytes) | %d | %d | %d |\n", v[1, 20] / v[1, 17], v[2, 20] / v[2, 17], v[3, 20] / v[3, 17]
		printf "| **feed hit rate** (hits + stale) / (hits + stale + misses), target > 85%% | **%.1f%%** | **%.1f%%** | **%.1f%%** |\n", \
			hr(1), hr(2), hr(3)
		printf "| best possible with that many feeds cached (the top ranks) | %.1f%% | %.1f%% | %.1f%% |\n", 100 * v[1, 26], 100 * v[2, 26], 100 * v[3, 26]
		printf "| post row hit rate | %.1f%% | %.1f%% | %.1f%% |\n", phr(1), phr(2), phr(3)
		row("uncached reads (first reads with second_read)", 13, "%d")
		row("rebuilds", 10, "%d")
		row("rebuilds refused", 11, "%d")
		row("evictions (windows and post rows)", 12, "%d")
		row("stale serves", 8, "%d")
		row("TPS", 1, "%.0f")
		row("p95 ms", 4, "%.3f")
	}
	function hr(k) { return 100 * (v[k, 7] + v[k, 8]) / (v[k, 7] + v[k, 8] + v[k, 9]) }
	function phr(k) { return 100 * v[k, 15] / (v[k, 15] + v[k, 16]) }
	function row(label, i, fmt) { printf "| %s | " fmt " | " fmt " | " fmt " |\n", label, v[1, i], v[2, i], v[3, i] }' "$memory_results"
fi
