#!/bin/bash
# bench/run.sh: `make bench`.  Measures feed.home(viewer, 50) against plain-SQL
# baselines over the same tables, in one run, on a throw-away cluster.
#
# What it does (see bench/README.md for the why):
#   1. initdb a cluster as `postgres` in a mktemp directory (shared_buffers 2GB,
#      shared_preload_libraries = 'feed'), database `bench`;
#   2. builds the data set with bench/load.sql, through the extension's own
#      functions (20k users, ~1M follows with a power-law graph and one
#      account followed by 90% of users, 200k posts, reposts, likes, blocks,
#      unfollows, deletes), feed.wait_idle() after every publishing round;
#   3. checks on a sample of viewers that feed.home and the pull baseline
#      return the same page, and that the pull baseline equals the literal
#      oracle of DESIGN.md (bench/oracle.sql);
#   4. runs pgbench (prepared protocol, BENCH_DURATION seconds per run, for
#      each client count in BENCH_CLIENTS) on one-statement scripts, each
#      starting with a random viewer among the active users (bench.viewers):
#        select1  SELECT 1                            round-trip ceiling
#        lookup   the viewer lookup alone              round trip + PK probe
#        inbox    newest 50 rows of a plain materialised inbox table by
#                 primary key, joined to posts        baseline (b)
#        pull     the fastest plain-SQL pull query we could write with the
#                 same semantics as feed.home          baseline (a)
#        home     feed.home(viewer, 50)                the extension
#        home_generic  the same with plan_cache_mode = force_generic_plan
#                 for the session (diagnostic: cost of re-planning inside)
#   5. prints TPS and latency (average, p50, p99 from pgbench --log) and the
#      ratios of home to each baseline; stops the cluster and deletes it.
#
# Run as root from the repository root, after `make install` (the Makefile's
# `bench` target does both).  Knobs (environment): BENCH_USERS (20000),
# BENCH_POSTS (200000), BENCH_CELEB_POSTS (100), BENCH_ROUNDS (10),
# BENCH_VIEWERS (5000), BENCH_CLIENTS ("2 8"; "" runs no pgbench), BENCH_DURATION (25 s),
# BENCH_WARMUP (5 s), BENCH_CHECK (200 viewers), BENCH_ORACLE_CHECK (10),
# BENCH_SHARED_BUFFERS (2GB), BENCH_GRAPH (bulk: follows written with SQL
# before any post, see load.sql; functions: through follow/approve_follow),
# BENCH_PGSS=1 (also load pg_stat_statements, print the statements, nested
# ones included, that took the load time; switched off before pgbench),
# BENCH_KEEP=1 keeps the cluster directory.
set -euo pipefail

USERS=${BENCH_USERS:-20000}
POSTS=${BENCH_POSTS:-200000}
CELEB_POSTS=${BENCH_CELEB_POSTS:-100}
ROUNDS=${BENCH_ROUNDS:-10}
VIEWERS=${BENCH_VIEWERS:-5000}
CLIENTS=${BENCH_CLIENTS-2 8}
DURATION=${BENCH_DURATION:-25}
WARMUP=${BENCH_WARMUP:-5}
CHECK=${BENCH_CHECK:-200}
ORACLE_CHECK=${BENCH_ORACLE_CHECK:-10}
SHARED_BUFFERS=${BENCH_SHARED_BUFFERS:-2GB}
GRAPH=${BENCH_GRAPH:-bulk}
PGSS=${BENCH_PGSS:-0}
VARIANTS="select1 lookup inbox pull home home_generic"

here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "bench/run.sh: run as root (it starts the server as user postgres)" >&2
	exit 1
fi
bindir=$(pg_config --bindir)
if [ ! -f "$(pg_config --pkglibdir)/feed.so" ]; then
	echo "bench/run.sh: feed.so is not installed: run 'make install' (or 'make bench')" >&2
	exit 1
fi

dir=$(mktemp -d /tmp/feed-bench.XXXXXX)
chmod 755 "$dir"
cp -r "$here/load.sql" "$here/oracle.sql" "$here/queries" "$dir/"
mkdir "$dir/log"
chown -R postgres: "$dir"
port=54329

as_pg() { (cd "$dir" && runuser -u postgres -- "$@"); }
psql_pg() { as_pg "$bindir/psql" -X -q -h "$dir" -p "$port" -d bench -v ON_ERROR_STOP=1 "$@"; }

cleanup() {
	rc=$?
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
	fi
	if [ $rc -ne 0 ] && [ -f "$dir/server.log" ]; then
		echo "--- last lines of the server log ($dir/server.log)" >&2
		tail -n 30 "$dir/server.log" >&2 || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
		echo "bench: cluster directory kept: $dir" >&2
	else
		rm -rf "$dir"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 143' INT TERM

ts() { date -u +%H:%M:%S; }
echo "== feed benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $("$bindir/postgres" --version)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

as_pg "$bindir/initdb" -D "$dir/data" -U postgres --no-locale -E UTF8 -A trust >/dev/null
preload=feed
[ "$PGSS" = 1 ] && preload=feed,pg_stat_statements
cat >>"$dir/data/postgresql.conf" <<EOF
# feed benchmark (throw-away cluster)
shared_preload_libraries = '$preload'
feed.database = 'bench'
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
max_connections = 50
shared_buffers = $SHARED_BUFFERS
work_mem = 16MB
maintenance_work_mem = 512MB
max_wal_size = 16GB
checkpoint_timeout = 30min
synchronous_commit = off
jit = off
EOF
[ "$PGSS" = 1 ] && echo "pg_stat_statements.track = all" >>"$dir/data/postgresql.conf"
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
as_pg "$bindir/createdb" -h "$dir" -p "$port" bench
[ "$PGSS" = 1 ] && psql_pg -c "CREATE EXTENSION pg_stat_statements"

echo
echo "== $(ts) loading: $USERS users, $POSTS posts in $ROUNDS rounds, $VIEWERS active viewers, graph: $GRAPH"
psql_pg -v users="$USERS" -v posts="$POSTS" -v celeb_posts="$CELEB_POSTS" \
	-v rounds="$ROUNDS" -v viewers="$VIEWERS" -v graph="$GRAPH" -f load.sql >/dev/null
psql_pg -c "
	SELECT phase, coalesce(detail, '') AS detail,
	       round(extract(epoch FROM done_at - lag(done_at) OVER (ORDER BY id))::numeric, 1) AS seconds
	FROM bench.phases ORDER BY id OFFSET 1"
psql_pg -c "SELECT round(extract(epoch FROM max(done_at) - min(done_at))::numeric, 1) AS total_load_seconds FROM bench.phases"
if [ "$PGSS" = 1 ]; then
	echo "== $(ts) statements by total time during the load (pg_stat_statements, track = all)"
	psql_pg -c "
		SELECT round(total_exec_time::numeric / 1000, 1) AS total_s, calls,
		       round((total_exec_time / calls)::numeric, 3) AS mean_ms,
		       left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
		FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15"
	psql_pg -c "ALTER SYSTEM SET pg_stat_statements.track = 'none'" -c "SELECT pg_reload_conf()" >/dev/null
fi

echo "== $(ts) data set"
psql_pg -c "
	SELECT (SELECT count(*) FROM feed.users) AS users,
	       (SELECT count(*) FROM feed.users WHERE is_private) AS private,
	       (SELECT count(*) FROM feed.follows WHERE state = 'active') AS active_follows,
	       (SELECT count(*) FROM feed.follows WHERE state = 'pending') AS pending,
	       (SELECT count(*) FROM feed.blocks) AS blocks,
	       (SELECT count(*) FROM feed.posts WHERE repost_of IS NULL) AS originals,
	       (SELECT count(*) FROM feed.posts WHERE repost_of IS NOT NULL) AS reposts,
	       (SELECT count(*) FROM feed.posts WHERE deleted_at IS NOT NULL) AS deleted,
	       (SELECT count(*) FROM feed.likes) AS likes,
	       (SELECT count(*) FROM feed.inbox WHERE entry_id >= 0) AS inbox_rows" \
	-c "
	SELECT s.follower_count AS celebrity_followers,
	       (SELECT count(*) FROM feed.user_counters WHERE follower_count >= 1000) AS accounts_over_1000_followers,
	       (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY c) FROM
	           (SELECT count(f.*) AS c FROM bench.viewers v LEFT JOIN feed.follows f
	            ON f.follower_id = v.user_id AND f.state = 'active' GROUP BY v.n) x) AS viewer_median_followees,
	       (SELECT max(c) FROM (SELECT count(*) AS c FROM feed.follows WHERE state = 'active'
	                            GROUP BY follower_id) x) AS max_followees
	FROM bench.u u, feed.user_stats(u.user_id) s WHERE u.n = 1" \
	-c "
	SELECT relname AS relation, pg_size_pretty(pg_total_relation_size(c.oid)) AS total_size
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname IN ('feed', 'bench') AND c.relkind = 'r'
	  AND pg_total_relation_size(c.oid) > 1024 * 1024
	ORDER BY pg_total_relation_size(c.oid) DESC" \
	-c "SELECT pg_size_pretty(pg_database_size('bench')) AS database_size"

# The benchmarked statements, as SQL functions of the viewer number, for the
# checks below (same text: `:n` becomes `$1`).
for q in pull inbox; do
	{
		echo "CREATE FUNCTION bench.q_$q(integer) RETURNS TABLE (entry_id bigint, post_id bigint,"
		echo "    author_id bigint, reposted_by bigint, body text, created_at timestamptz, like_count bigint)"
		echo 'LANGUAGE sql STABLE AS $q$'
		sed 's/:n\b/$1/g; s/;[[:space:]]*$//' "$dir/queries/$q.sql"
		echo '$q$;'
	} >"$dir/q_$q.sql"
done
chown postgres: "$dir"/q_*.sql
psql_pg -f oracle.sql -f q_pull.sql -f q_inbox.sql

echo "== $(ts) checks: feed.home = pull baseline = inbox baseline on $CHECK viewers; pull = oracle on $ORACLE_CHECK"
psql_pg -c "
	SELECT count(*) AS viewers_checked,
	       count(*) FILTER (WHERE h IS DISTINCT FROM p) AS home_vs_pull_mismatches,
	       sum(cardinality(h)) AS home_rows, sum(cardinality(p)) AS pull_rows
	FROM (SELECT array(SELECT row(x.*)::text FROM feed.home(v.user_id, 50) x) AS h,
	             array(SELECT row(x.*)::text FROM bench.q_pull(v.n) x) AS p
	      FROM bench.viewers v WHERE v.n <= $CHECK) s" \
	-c "
	SELECT count(*) AS viewers_checked,
	       count(*) FILTER (WHERE p IS DISTINCT FROM o) AS pull_vs_oracle_mismatches
	FROM (SELECT array(SELECT row(x.*)::text FROM bench.q_pull(v.n) x) AS p,
	             array(SELECT row(x.*)::text FROM bench.oracle(v.user_id, 50) x) AS o
	      FROM bench.viewers v WHERE v.n <= $ORACLE_CHECK) s" \
	-c "
	SELECT count(*) AS viewers_checked,
	       count(*) FILTER (WHERE h IS DISTINCT FROM i) AS home_vs_inbox_mismatches
	FROM (SELECT array(SELECT row(x.*)::text FROM feed.home(v.user_id, 50) x) AS h,
	             array(SELECT row(x.*)::text FROM bench.q_inbox(v.n) x) AS i
	      FROM bench.viewers v WHERE v.n <= $CHECK) s"

echo "== $(ts) plans of the statements feed.home runs for viewer 1 (auto_explain, second call)"
mark=$(($(wc -c <"$dir/server.log") + 1))
psql_pg -c "SELECT count(*) FROM feed.home((SELECT user_id FROM bench.viewers WHERE n = 1), 50)" \
	-c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" \
	-c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_analyze = on" \
	-c "SET auto_explain.log_buffers = on" \
	-c "SELECT count(*) FROM feed.home((SELECT user_id FROM bench.viewers WHERE n = 1), 50)" >/dev/null
sleep 1
tail -c +"$mark" "$dir/server.log" | grep -v '^\s*$' | cut -c1-220

echo "== $(ts) plan of the pull baseline for viewer 1 (EXPLAIN ANALYZE, second execution)"
sed 's/:n\b/1/g' "$dir/queries/pull.sql" >"$dir/explain_pull.sql"
{ printf 'EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) '; cat "$dir/explain_pull.sql"; } >"$dir/explain_pull2.sql"
chown postgres: "$dir"/explain_pull*.sql
psql_pg -f explain_pull.sql >/dev/null
psql_pg -f explain_pull2.sql
psql_pg -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM feed.home((SELECT user_id FROM bench.viewers WHERE n = 1), 50)"

# ---------------------------------------------------------------------------
# pgbench
# ---------------------------------------------------------------------------
for v in $VARIANTS; do
	[ -f "$dir/queries/$v.sql" ] || continue
	{ echo '\set n random(1, :nviewers)'; cat "$dir/queries/$v.sql"; } >"$dir/$v.pgb"
done
chown postgres: "$dir"/*.pgb

results="$dir/results.txt"
: >"$results"
# CPU seconds used so far by feed's background processes (launcher, fanout
# workers), from /proc: what the extension costs while nobody writes.
feed_cpu() {
	local pids
	pids=$(psql_pg -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type LIKE 'feed%'")
	local hz
	hz=$(getconf CLK_TCK)
	for p in $pids; do
		# fields 14 and 15: utime, stime (after the command name in parentheses)
		sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }'
	done | awk -v hz="$hz" '{ s += $1 } END { printf "%.2f", s / hz }'
}

run_pgbench() { # variant clients seconds [log]
	local v=$1 c=$2 secs=$3 log=${4:-}
	local j=$((c < 2 ? c : 2))
	local script=$v options=
	# home_generic: feed.home again, with the plans of the statements it runs
	# inside forced generic (plan_cache_mode is read by its saved SPI plans):
	# measures what re-planning them on every call costs.
	if [ "$v" = home_generic ]; then
		script=home
		options="-c plan_cache_mode=force_generic_plan"
	fi
	local args=(-h "$dir" -p "$port" -n -M prepared -c "$c" -j "$j" -T "$secs"
		-D nviewers="$VIEWERS" -f "$script.pgb")
	[ -n "$log" ] && args+=(--log --log-prefix="$dir/log/$v.c$c")
	as_pg env PGOPTIONS="$options" "$bindir/pgbench" "${args[@]}" bench
}

for c in $CLIENTS; do
	for v in $VARIANTS; do
		echo "== $(ts) pgbench $v, $c clients: ${WARMUP}s warm-up, ${DURATION}s measured (load $(cut -d' ' -f1 /proc/loadavg))"
		run_pgbench "$v" "$c" "$WARMUP" >/dev/null 2>&1 || true
		rm -f "$dir/log/$v.c$c".*
		cpu0=$(feed_cpu)
		if ! out=$(run_pgbench "$v" "$c" "$DURATION" log 2>&1); then
			echo "$out" | tail -n 5
			echo "pgbench $v failed" >&2
			echo "$v $c FAILED" >>"$results"
			continue
		fi
		tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)
		failed=$(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')
		# per-transaction log: client_id transaction_no latency_us script_no epoch us
		cat "$dir/log/$v.c$c".* | awk '{print $3}' | sort -n >"$dir/lat.$v.c$c"
		stats=$(awk '{ a[NR] = $1; s += $1 }
			END { p50 = a[int((NR * 50 + 99) / 100)]; p99 = a[int((NR * 99 + 99) / 100)];
			      printf "%d %.3f %.3f %.3f", NR, s / NR / 1000, p50 / 1000, p99 / 1000 }' \
			"$dir/lat.$v.c$c")
		bg=$(awk -v a="$cpu0" -v b="$(feed_cpu)" -v t="$DURATION" 'BEGIN { printf "%.0f", (b - a) / t * 100 }')
		echo "$v $c $tps $stats ${failed:-0} $bg" >>"$results"
		echo "   tps $tps, transactions/avg_ms/p50_ms/p99_ms: $stats, feed workers: $bg% of a core"
	done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== results ($DURATION s per run, pgbench -M prepared, $VIEWERS random active viewers)"
echo
echo "| query | clients | TPS | avg ms | p50 ms | p99 ms | transactions | failed | feed workers CPU |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
awk '$3 == "FAILED" { printf "| %s | %s | failed | | | | | | |\n", $1, $2; next }
	{ printf "| %s | %s | %.0f | %.3f | %.3f | %.3f | %d | %d | %d%% |\n", $1, $2, $3, $5, $6, $7, $4, $8, $9 }' "$results"
echo
echo "Ratios of feed.home to each baseline (TPS: home / baseline, >1 means home is faster;"
echo "latency: home / baseline, <1 means home is faster)."
echo
echo "| clients | feed.home run | baseline | TPS ratio | p50 latency ratio | p99 latency ratio |"
echo "|---:|---|---|---:|---:|---:|"
awk '$3 != "FAILED" { tps[$1 "," $2] = $3; p50[$1 "," $2] = $6; p99[$1 "," $2] = $7; cl[$2] = 1 }
	END {
		n = split("pull inbox lookup select1", base, " ")
		for (c in cl) {
			for (k = 1; k <= 2; k++) {
				hv = k == 1 ? "home" : "home_generic"
				h = hv "," c
				if (!(h in tps)) continue
				for (i = 1; i <= n; i++) {
					b = base[i] "," c
					if (!(b in tps)) continue
					printf "| %s | %s | %s | %.2f | %.2f | %.2f |\n", c, hv, base[i], tps[h] / tps[b], p50[h] / p50[b], p99[h] / p99[b]
				}
			}
		}
	}' "$results" | sort -t'|' -k2,2n -s
