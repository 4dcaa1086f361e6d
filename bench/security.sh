#!/bin/bash
# bench/security.sh: what the trust boundary costs on the read path (issue 5).
# Standalone: `bash bench/security.sh` as root from the repository root, after
# `make install`.
#
#   1. initdb a throw-away cluster as `postgres` in a mktemp directory
#      (shared_preload_libraries = 'feed', fanout workers on), database
#      `bench`, rate limits on but far above the load (so the buckets are
#      taken on every call, as in production, and never refuse);
#   2. loads SEC_USERS users (feed.create_user), SEC_FOLLOWS follows each
#      (bulk SQL, before any post exists), SEC_POSTS_PER_USER posts each
#      (feed.publish, fanned out, feed.wait_idle), and one token per user
#      (feed.issue_token), kept with the user ids in public.viewers, which
#      the two login roles may read (they cannot read any feed table);
#   3. pgbench -M prepared, SEC_CLIENTS clients, SEC_ROUNDS interleaved rounds
#      of SEC_DURATION seconds per variant, each transaction one statement
#      reading 50 rows of a viewer's home feed:
#        service          as a feed_service role: feed.home(random viewer)
#        client_login     as a feed_client role: feed.home(feed.login(token
#                         of a random viewer)) -- a login on every request,
#                         in the same statement (the issue's comparison)
#        service_fixed    as feed_service, each client always reads the same
#                         viewer (client c reads viewer c+1)
#        client_session   as feed_client, each client logged in once (first
#                         transaction) as viewer c+1, then feed.home only:
#                         the per-call identity check, revocation epochs,
#                         expiry and rate limit of a logged-in session
#        superuser        as the superuser (no identity check, no limit)
#        fnpinned         as the superuser, through public.home_fnpinned: the
#                         same C function as feed.home, SECURITY DEFINER
#                         with a function-level SET search_path, which
#                         feed's C functions no longer carry (they pin the
#                         path around their SQL only): what that SET costs
#                         a cached read (a second entry point rather than an
#                         ALTER FUNCTION between runs, which would invalidate
#                         every cached plan and feed cache entry mid-benchmark)
#   4. prints, per variant and round, tps and the server's CPU time per
#      transaction (utime + stime of the run's backends, which the postmaster
#      has reaped when they exit: its cutime + cstime from /proc; background
#      workers excluded), and the overheads
#      from the median CPU time: client_login / service, client_session /
#      service_fixed, service / superuser, fnpinned / superuser.  CPU time
#      per transaction, unlike tps, does not depend on what else the
#      machine is running;
#   5. the same comparisons without the network round trip: one backend per
#      variant runs feed.home SEC_CALLS times in one statement (LATERAL over
#      public.viewers), 10 times, SEC_INNER_ROUNDS interleaved rounds; CPU
#      time of that backend (/proc/self/stat) per call, median and overheads.
#
# Knobs (environment): SEC_USERS (2000), SEC_FOLLOWS (50),
# SEC_POSTS_PER_USER (10), SEC_CLIENTS (2), SEC_DURATION (10), SEC_ROUNDS (3),
# SEC_WARMUP (5), SEC_CALLS (2000), SEC_INNER_ROUNDS (5), SEC_PORT (54333), SEC_KEEP=1 keeps the
# cluster directory.
set -euo pipefail

USERS=${SEC_USERS:-2000}
FOLLOWS=${SEC_FOLLOWS:-50}
POSTS_PER_USER=${SEC_POSTS_PER_USER:-10}
CLIENTS=${SEC_CLIENTS:-2}
DURATION=${SEC_DURATION:-10}
ROUNDS=${SEC_ROUNDS:-3}
WARMUP=${SEC_WARMUP:-5}
CALLS=${SEC_CALLS:-2000}
INNER_ROUNDS=${SEC_INNER_ROUNDS:-5}
TICK_US=$((1000000 / $(getconf CLK_TCK)))
port=${SEC_PORT:-54333}
VARIANTS="service client_login service_fixed client_session superuser fnpinned"

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/security.sh: run as root (it starts the server as user postgres)" >&2
	exit 1
fi
bindir=$(pg_config --bindir)
if [ ! -f "$(pg_config --pkglibdir)/feed.so" ]; then
	echo "bench/security.sh: feed.so is not installed: run 'make install'" >&2
	exit 1
fi
if [ "$CLIENTS" -gt "$USERS" ]; then
	echo "bench/security.sh: SEC_USERS must be at least SEC_CLIENTS" >&2
	exit 1
fi

dir=$(mktemp -d /tmp/feed-security.XXXXXX)
chmod 755 "$dir"
chown postgres: "$dir"

as_pg() { (cd "$dir" && runuser -u postgres -- "$@"); }
psql_pg() { as_pg "$bindir/psql" -X -q -h "$dir" -p "$port" -d bench -v ON_ERROR_STOP=1 "$@"; }
val() { psql_pg -At -c "$1"; }

cleanup() {
	rc=$?
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
	fi
	if [ $rc -ne 0 ] && [ -f "$dir/server.log" ]; then
		echo "--- last lines of the server log ($dir/server.log)" >&2
		tail -n 30 "$dir/server.log" >&2 || true
	fi
	if [ "${SEC_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
		echo "security: cluster directory kept: $dir" >&2
	else
		rm -rf "$dir"
	fi
	exit $rc
}
trap cleanup EXIT

ts() { date -u +%H:%M:%S; }
echo "== feed security benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $("$bindir/postgres" --version)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pgbench -M prepared, $CLIENTS clients, $ROUNDS interleaved rounds of ${DURATION}s per variant after ${WARMUP}s warm-up"

as_pg "$bindir/initdb" -D "$dir/data" -U postgres --no-locale -E UTF8 -A trust >/dev/null
cat >>"$dir/data/postgresql.conf" <<EOF
# feed security benchmark (throw-away cluster)
shared_preload_libraries = 'feed'
feed.database = 'bench'
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
max_connections = 50
shared_buffers = 256MB
synchronous_commit = off
jit = off
# limits on (every call takes from its user's bucket) but never reached
feed.rate_limit_reads = 1000000
feed.rate_limit_read_burst = 1000000
EOF
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
as_pg "$bindir/createdb" -h "$dir" -p "$port" bench

echo
echo "== $(ts) loading: $USERS users, $FOLLOWS follows each, $POSTS_PER_USER posts each"
psql_pg >/dev/null <<EOF
CREATE EXTENSION feed;
CREATE TABLE public.viewers (i int PRIMARY KEY, id bigint NOT NULL, token text);
INSERT INTO public.viewers (i, id)
SELECT g, feed.create_user('u' || g) FROM generate_series(1, $USERS) g;
-- the graph before any post: nothing else derives from these follows yet
INSERT INTO feed.follows (follower_id, followee_id, state)
SELECT a.id, b.id, 'active'
FROM public.viewers a CROSS JOIN generate_series(1, $FOLLOWS) k
JOIN public.viewers b ON b.i = 1 + (a.i + k) % $USERS;
SELECT count(feed.publish(v.id, 'post ' || g || ' of u' || v.i))
FROM generate_series(1, $POSTS_PER_USER) g, public.viewers v;
SELECT feed.wait_idle('600 s');
UPDATE public.viewers SET token = feed.issue_token(id);
ANALYZE;
CREATE ROLE bench_service LOGIN IN ROLE feed_service;
CREATE ROLE bench_client LOGIN IN ROLE feed_client;
GRANT SELECT ON public.viewers TO bench_service, bench_client;
-- feed.home with a function-level SET search_path, for the "fnpinned" variant
CREATE FUNCTION public.home_fnpinned(viewer bigint, lim integer DEFAULT 50, before bigint DEFAULT NULL)
RETURNS TABLE (entry_id bigint, post_id bigint, author_id bigint, reposted_by bigint,
               body text, created_at timestamptz, like_count bigint)
AS '\$libdir/feed', 'feed_home' LANGUAGE C VOLATILE SECURITY DEFINER ROWS 50
SET search_path = pg_catalog, pg_temp;
-- CPU time of this backend so far, in clock ticks (utime + stime)
CREATE FUNCTION public.cpu_ticks() RETURNS bigint
LANGUAGE sql SECURITY DEFINER AS \$\$
    SELECT f[12]::bigint + f[13]::bigint
    FROM regexp_split_to_array(regexp_replace(pg_read_file('/proc/self/stat'), '^.*\) ', ''), ' ') f
\$\$;
GRANT EXECUTE ON FUNCTION public.cpu_ticks() TO PUBLIC;
-- CPU microseconds per row of a statement run 10 times, in this backend
CREATE FUNCTION public.usecs_per_call(q text, n integer) RETURNS numeric
LANGUAGE plpgsql AS \$\$
DECLARE
    t0 bigint := public.cpu_ticks();
BEGIN
    FOR r IN 1 .. 10 LOOP
        EXECUTE q;
    END LOOP;
    RETURN round((public.cpu_ticks() - t0) * $TICK_US.0 / (10 * n), 1);
END
\$\$;
EOF
echo "   $(val "SELECT count(*) FROM feed.posts") posts, $(val "SELECT count(*) FROM feed.follows") follows, $(val "SELECT count(*) FROM feed.tokens") tokens"

mkdir -p "$dir/scripts"
cat >"$dir/scripts/service.sql" <<EOF
\set i random(1, $USERS)
SELECT count(*) FROM feed.home((SELECT id FROM public.viewers WHERE i = :i), 50);
EOF
cat >"$dir/scripts/client_login.sql" <<EOF
\set i random(1, $USERS)
SELECT count(*) FROM feed.home((SELECT feed.login(token) FROM public.viewers WHERE i = :i), 50);
EOF
cat >"$dir/scripts/service_fixed.sql" <<'EOF'
\set i :client_id + 1
SELECT count(*) FROM feed.home((SELECT id FROM public.viewers WHERE i = :i), 50);
EOF
# pgbench keeps a client's variables from one transaction to the next: the
# login runs in the client's first transaction only.
cat >"$dir/scripts/client_session.sql" <<'EOF'
\set i :client_id + 1
\if :logged_in = 0
SELECT feed.login(token) FROM public.viewers WHERE i = :i;
\set logged_in 1
\endif
SELECT count(*) FROM feed.home((SELECT id FROM public.viewers WHERE i = :i), 50);
EOF
cp "$dir/scripts/service.sql" "$dir/scripts/superuser.sql"
sed 's/feed\.home(/public.home_fnpinned(/' "$dir/scripts/service.sql" >"$dir/scripts/fnpinned.sql"
chown -R postgres: "$dir/scripts"

role_of() {
	case $1 in
	service | service_fixed) echo bench_service ;;
	client_login | client_session) echo bench_client ;;
	*) echo postgres ;;
	esac
}

# CPU ticks of the server processes that have exited and been reaped so far
# (the postmaster's cutime + cstime): a pgbench run's backends, once they
# exit, and nothing else -- the background workers (fanout, launcher, cache
# builds) keep running and stay out of the count.
cluster_ticks() {
	local pm
	pm=$(head -n 1 "$dir/data/postmaster.pid")
	sed 's/.*) //' "/proc/$pm/stat" | awk '{print $14 + $15}'
}

run() { # variant seconds -> "tps cpu_us_per_transaction"
	local v=$1 secs=$2 t0 t1 out tps n
	t0=$(cluster_ticks)
	out=$(as_pg "$bindir/pgbench" -h "$dir" -p "$port" -U "$(role_of "$v")" -n -M prepared \
		-c "$CLIENTS" -j "$CLIENTS" -T "$secs" -D logged_in=0 -f "$dir/scripts/$v.sql" bench 2>&1)
	sleep 0.5 # let the postmaster reap the backends
	t1=$(cluster_ticks)
	tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
	n=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	awk -v tps="$tps" -v n="$n" -v d=$((t1 - t0)) -v tick="$TICK_US" \
		'BEGIN { printf "%.0f %.1f\n", tps, (n > 0 ? d * tick / n : 0) }'
}

echo
echo "== $(ts) warm-up (${WARMUP}s per variant)"
for v in $VARIANTS; do run "$v" "$WARMUP" >/dev/null; done

declare -A results cpus
for r in $(seq 1 "$ROUNDS"); do
	echo "== $(ts) round $r"
	for v in $VARIANTS; do
		read -r t c < <(run "$v" "$DURATION")
		results[$v]="${results[$v]:-} $t"
		cpus[$v]="${cpus[$v]:-} $c"
		printf '   %-15s %8s tps %8s us server CPU per transaction\n' "$v" "$t" "$c"
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A med
echo
echo "| variant | tps per round | server CPU us per transaction, per round | median tps | median CPU us |"
echo "|---|---|---|---|---|"
for v in $VARIANTS; do
	med[$v]=$(echo "${cpus[$v]}" | median)
	echo "| $v |${results[$v]} |${cpus[$v]} | $(echo "${results[$v]}" | median) | ${med[$v]} |"
done
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f%% (%+.1f us)", (a / b - 1) * 100, a - b }'; }
echo
echo "| comparison (pgbench, median server CPU per transaction) | overhead |"
echo "|---|---|"
echo "| client_login vs service (login + home vs home) | $(pct "${med[client_login]}" "${med[service]}") |"
echo "| client_session vs service_fixed (per-call check of a logged-in session) | $(pct "${med[client_session]}" "${med[service_fixed]}") |"
echo "| service vs superuser (role check + rate limit) | $(pct "${med[service]}" "${med[superuser]}") |"
echo "| fnpinned vs superuser (a function-level SET search_path) | $(pct "${med[fnpinned]}" "${med[superuser]}") |"
# ---------------------------------------------------------------------------
# In-backend time per call
# ---------------------------------------------------------------------------
n=$((CALLS < USERS ? CALLS : USERS))
inner() { # variant -> microseconds per call
	local v=$1 q
	case $v in
	service | superuser)
		q="SELECT count(*) FROM public.viewers v, LATERAL feed.home(v.id, 50) h WHERE v.i <= $n" ;;
	fnpinned)
		q="SELECT count(*) FROM public.viewers v, LATERAL public.home_fnpinned(v.id, 50) h WHERE v.i <= $n" ;;
	client_login)
		q="SELECT count(*) FROM public.viewers v, LATERAL feed.home(feed.login(v.token), 50) h WHERE v.i <= $n" ;;
	service_fixed | client_session)
		q="SELECT count(*) FROM generate_series(1, $n) g, LATERAL feed.home((SELECT id FROM public.viewers WHERE i = 1), 50) h" ;;
	esac
	{
		echo "SET ROLE $(role_of "$v");"
		[ "$v" = client_session ] && echo "SELECT feed.login(token) FROM public.viewers WHERE i = 1;"
		echo "SELECT public.usecs_per_call(\$q\$$q\$q\$, $n);"
		echo "RESET ROLE;"
		true
	} | psql_pg -At | tail -n 1
}
echo
echo "== $(ts) in-backend: $n calls per statement, 10 statements, $INNER_ROUNDS rounds"
for v in $VARIANTS; do inner "$v" >/dev/null; done
declare -A inres
for r in $(seq 1 "$INNER_ROUNDS"); do
	for v in $VARIANTS; do
		inres[$v]="${inres[$v]:-} $(inner "$v")"
	done
done
declare -A inmed
echo
echo "| variant | CPU us per call, per round | median |"
echo "|---|---|---|"
for v in $VARIANTS; do
	inmed[$v]=$(echo "${inres[$v]}" | median)
	echo "| $v |${inres[$v]} | ${inmed[$v]} |"
done
echo
echo "| comparison (in-backend, median CPU per call) | overhead |"
echo "|---|---|"
echo "| client_login vs service (login + home vs home) | $(pct "${inmed[client_login]}" "${inmed[service]}") |"
echo "| client_session vs service_fixed (per-call check of a logged-in session) | $(pct "${inmed[client_session]}" "${inmed[service_fixed]}") |"
echo "| service vs superuser (role check + rate limit) | $(pct "${inmed[service]}" "${inmed[superuser]}") |"
echo "| fnpinned vs superuser (a function-level SET search_path) | $(pct "${inmed[fnpinned]}" "${inmed[superuser]}") |"
echo
echo "refused by rate limits during the run (must be 0): $(val "SELECT reads_refused FROM feed.security_status()")"
