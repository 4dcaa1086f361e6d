#!/bin/bash
# bench/likes.sh: write-path benchmark of the counters (issue 6).  Standalone:
# `bash bench/likes.sh` as root from the repository root, after `make install`.
#
#   1. initdb a throw-away cluster as `postgres` in a mktemp directory
#      (shared_preload_libraries = 'feed', 2 fanout workers folding counter
#      deltas as in production), database `bench`;
#   2. loads LIKES_USERS users (feed.create_user), one post each for the
#      first LIKES_POSTS of them (feed.publish), a random follow graph of
#      LIKES_FOLLOWS_PER_USER follows per user and LIKES_LIKES random likes
#      (bulk SQL, with the counters they imply), and one hot post that
#      LIKES_PRELIKES users like through feed.like before the runs (so the
#      final count is not 0);
#   3. likes on the hot post, pgbench -M prepared, LIKES_CLIENTS clients,
#      LIKES_DURATION seconds each, once per synchronous_commit setting in
#      LIKES_SYNC_MODES (the server is reloaded in between).  Every script likes and then unlikes with
#      a user of its own (client c uses users c*K+1 .. c*K+K, K = 1000), so
#      no like is refused as "already liked" and the scripts are repeatable:
#        feed    SELECT feed.like(u, hot); SELECT feed.unlike(u, hot)
#        update  UPDATE posts_plain SET like_count = like_count +/- 1 WHERE id = 1
#                (a hot counter row: baseline (a))
#        insert  INSERT / DELETE of the like row alone in a plain table with the
#                shape, keys and foreign keys of feed.likes (baseline (b))
#        naive   both in one transaction each way: the usual application
#                schema (like row + counter column)
#      then checks that the hot post's like_count (feed.user_posts) equals
#      count(*) of its like rows, before and after feed.wait_idle();
#   3b. likes that stay (synchronous_commit = on, LIKES_DURATION seconds
#      each): feed.like of the hot post by random users never unliked, so
#      the workers fold every like during the run, against INSERT ... ON
#      CONFLICT DO NOTHING of the bare row; like rows written per second;
#   (steps 4 and 5 run with synchronous_commit = LIKES_SYNC_COMMIT)
#   4. feed.reconcile_counts() on all users and originals, after corrupting
#      100 follower counts and 100 like counts by hand: time, and fixes;
#   5. writers: pgbench of feed.follow + feed.unfollow of random pairs,
#      LIKES_DURATION seconds alone, then as long again while a loop runs
#      feed.reconcile_counts() back to back, then alone again; tps and the
#      ratio.  The fanout workers are set to LIKES_WRITER_WORKERS (default 0)
#      for this step, so that it measures what a reconciliation costs the
#      writers and nothing else (folding is part of step 3; see
#      docs/integrity.md, "Known issues", for why a fold can stall); the
#      deltas are folded by feed.wait_idle() afterwards;
#   6. at the end feed.verify() must be clean (no check with problems,
#      counter drift included) and a last reconcile_counts() must fix
#      nothing.
# Prints markdown tables.  Knobs (environment): LIKES_USERS (100000),
# LIKES_POSTS (20000), LIKES_FOLLOWS_PER_USER (10), LIKES_LIKES (300000),
# LIKES_PRELIKES (2000), LIKES_CLIENTS (8), LIKES_DURATION (20),
# LIKES_WARMUP (5), LIKES_ROUNDS (4), LIKES_SYNC_MODES ("off on"), LIKES_SYNC_COMMIT (off),
# LIKES_WRITER_WORKERS (0), LIKES_PORT (54331), LIKES_KEEP=1 keeps the cluster
# directory.
set -euo pipefail

USERS=${LIKES_USERS:-100000}
POSTS=${LIKES_POSTS:-20000}
FOLLOWS_PER_USER=${LIKES_FOLLOWS_PER_USER:-10}
LIKES=${LIKES_LIKES:-300000}
PRELIKES=${LIKES_PRELIKES:-2000}
CLIENTS=${LIKES_CLIENTS:-8}
DURATION=${LIKES_DURATION:-20}
WARMUP=${LIKES_WARMUP:-5}
SYNC_COMMIT=${LIKES_SYNC_COMMIT:-off}
SYNC_MODES=${LIKES_SYNC_MODES:-off on}
WRITER_WORKERS=${LIKES_WRITER_WORKERS:-0}
port=${LIKES_PORT:-54331}
PER_CLIENT=1000
ROUNDS=${LIKES_ROUNDS:-4}
SLICE=$((DURATION / ROUNDS))
[ "$SLICE" -ge 1 ] || SLICE=1

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/likes.sh: run as root (it starts the server as user postgres)" >&2
	exit 1
fi
bindir=$(pg_config --bindir)
if [ ! -f "$(pg_config --pkglibdir)/feed.so" ]; then
	echo "bench/likes.sh: feed.so is not installed: run 'make install'" >&2
	exit 1
fi
if [ $((CLIENTS * PER_CLIENT + PRELIKES)) -gt "$USERS" ]; then
	echo "bench/likes.sh: LIKES_USERS must be at least LIKES_CLIENTS * $PER_CLIENT + LIKES_PRELIKES" >&2
	exit 1
fi

dir=$(mktemp -d /tmp/feed-likes.XXXXXX)
chmod 755 "$dir"
chown postgres: "$dir"

as_pg() { (cd "$dir" && runuser -u postgres -- "$@"); }
psql_pg() { as_pg "$bindir/psql" -X -q -h "$dir" -p "$port" -d bench -v ON_ERROR_STOP=1 "$@"; }
val() { psql_pg -At -c "$1"; }

loop_pid=
cleanup() {
	rc=$?
	[ -n "$loop_pid" ] && kill "$loop_pid" 2>/dev/null || true
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
	fi
	if [ $rc -ne 0 ] && [ -f "$dir/server.log" ]; then
		echo "--- last lines of the server log ($dir/server.log)" >&2
		tail -n 30 "$dir/server.log" >&2 || true
	fi
	if [ "${LIKES_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
		echo "likes: cluster directory kept: $dir" >&2
	else
		rm -rf "$dir"
	fi
	exit $rc
}
trap cleanup EXIT

ts() { date -u +%H:%M:%S; }
echo "== feed likes/counters benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $("$bindir/postgres" --version)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pgbench -M prepared, $CLIENTS clients, ${DURATION}s per variant (likes: $ROUNDS interleaved rounds of ${SLICE}s) after ${WARMUP}s warm-up"
echo "synchronous_commit: likes runs with each of: $SYNC_MODES; reconcile and writer runs: $SYNC_COMMIT"

as_pg "$bindir/initdb" -D "$dir/data" -U postgres --no-locale -E UTF8 -A trust >/dev/null
cat >>"$dir/data/postgresql.conf" <<EOF
# feed likes benchmark (throw-away cluster)
shared_preload_libraries = 'feed'
feed.database = 'bench'
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
max_connections = 50
shared_buffers = 512MB
work_mem = 16MB
maintenance_work_mem = 256MB
max_wal_size = 8GB
checkpoint_timeout = 30min
synchronous_commit = $SYNC_COMMIT
jit = off
EOF
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
as_pg "$bindir/createdb" -h "$dir" -p "$port" bench

# ---------------------------------------------------------------------------
# Data set
# ---------------------------------------------------------------------------
echo
echo "== $(ts) loading: $USERS users, $POSTS posts, $FOLLOWS_PER_USER follows per user, $LIKES likes"
cat >"$dir/load.sql" <<'EOF'
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION feed;
CREATE SCHEMA bench;
RESET client_min_messages;
SELECT setseed(0.6);
CREATE TABLE bench.phases (id serial, phase text, done_at timestamptz DEFAULT clock_timestamp());
INSERT INTO bench.phases (phase) VALUES ('start');

-- Users n = 1 .. :users, and the author of the hot post (n = 0).
CREATE TABLE bench.u (n integer PRIMARY KEY, user_id bigint NOT NULL UNIQUE);
INSERT INTO bench.u SELECT g, feed.create_user(CASE WHEN g = 0 THEN 'hot_author' ELSE 'user' || g END)
FROM generate_series(0, :users) g;
INSERT INTO bench.phases (phase) VALUES ('create_user');

-- One post for each of the first :posts users (no follows yet: nothing to
-- fan out), then the hot post.
SELECT count(feed.publish(user_id, 'post of user ' || n)) FROM bench.u WHERE n BETWEEN 1 AND :posts;
SELECT feed.publish(user_id, 'the hot post') AS hot FROM bench.u WHERE n = 0 \gset
CREATE TABLE bench.hot (post_id bigint);
INSERT INTO bench.hot VALUES (:hot);
SELECT feed.wait_idle('1 hour');
INSERT INTO bench.phases (phase) VALUES ('publish + wait_idle');

-- Follow graph and likes written in bulk with the counters they imply (as
-- bench/load.sql does): nothing else derives from them at this point but
-- inbox backfills, which the readers of this benchmark never look at.
INSERT INTO feed.follows (follower_id, followee_id, state)
SELECT DISTINCT ua.user_id, ub.user_id, 'active'
FROM (SELECT a, 1 + floor(random() * :users)::int AS b
      FROM generate_series(1, :users) a, generate_series(1, :follows_per_user) k) p
JOIN bench.u ua ON ua.n = p.a JOIN bench.u ub ON ub.n = p.b
WHERE p.a <> p.b;
INSERT INTO feed.user_counters AS c (user_id, follower_count, following_count, post_count)
SELECT u.user_id,
       (SELECT count(*) FROM feed.follows f WHERE f.followee_id = u.user_id),
       (SELECT count(*) FROM feed.follows f WHERE f.follower_id = u.user_id), 0
FROM bench.u u
ON CONFLICT (user_id) DO UPDATE SET follower_count = c.follower_count + excluded.follower_count,
                                    following_count = c.following_count + excluded.following_count;
INSERT INTO bench.phases (phase) VALUES ('follows (bulk)');
INSERT INTO feed.likes (post_id, user_id, folded)
SELECT DISTINCT p.post_id, u.user_id, true
FROM (SELECT 1 + floor(random() * :users)::int AS un, 1 + floor(random() * :posts)::int AS pn
      FROM generate_series(1, :likes)) x
JOIN bench.u u ON u.n = x.un
JOIN bench.u a ON a.n = x.pn
JOIN feed.posts p ON p.author_id = a.user_id AND p.post_id <> :hot;
INSERT INTO feed.post_counters (post_id, like_count)
SELECT post_id, count(*) FROM feed.likes GROUP BY post_id
ON CONFLICT (post_id) DO UPDATE SET like_count = feed.post_counters.like_count + excluded.like_count;
INSERT INTO bench.phases (phase) VALUES ('likes (bulk)');

-- Likes of the hot post before the runs, through the function, by users
-- that the pgbench clients never use.
SELECT count(*) FILTER (WHERE feed.like(user_id, :hot)) AS prelikes
FROM bench.u WHERE n > :users - :prelikes;
SELECT feed.wait_idle('1 hour');
INSERT INTO bench.phases (phase) VALUES ('prelikes + wait_idle');

-- Baselines: a plain counter row, and a plain table shaped like feed.likes.
CREATE TABLE bench.posts_plain (id integer PRIMARY KEY, like_count bigint NOT NULL DEFAULT 0);
INSERT INTO bench.posts_plain VALUES (1, 0);
-- The like row of a plain schema: feed.likes without its `folded` flag and
-- the partial index on it (feed's own cost of a one-row like).
CREATE TABLE bench.likes_plain (
    post_id     bigint NOT NULL REFERENCES feed.posts,
    user_id     bigint NOT NULL REFERENCES feed.users,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    last_region smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX ON bench.likes_plain (user_id, post_id);
VACUUM ANALYZE;
INSERT INTO bench.phases (phase) VALUES ('vacuum analyze');
EOF
chown postgres: "$dir/load.sql"
psql_pg -v users="$USERS" -v posts="$POSTS" -v follows_per_user="$FOLLOWS_PER_USER" -v likes="$LIKES" \
	-v prelikes="$PRELIKES" -f load.sql >/dev/null
psql_pg -c "
	SELECT phase, round(extract(epoch FROM done_at - lag(done_at) OVER (ORDER BY id))::numeric, 1) AS seconds
	FROM bench.phases ORDER BY id OFFSET 1"
psql_pg -c "
	SELECT (SELECT count(*) FROM feed.users) AS users, (SELECT count(*) FROM feed.posts) AS posts,
	       (SELECT count(*) FROM feed.follows) AS follows, (SELECT count(*) FROM feed.likes) AS likes,
	       pg_size_pretty(pg_database_size('bench')) AS database_size"
hot=$(val "SELECT post_id FROM bench.hot")
hot_author=$(val "SELECT user_id FROM bench.u WHERE n = 0")

# ---------------------------------------------------------------------------
# pgbench scripts
# ---------------------------------------------------------------------------
pick='\set n :client_id * '$PER_CLIENT' + random(1, '$PER_CLIENT')'
cat >"$dir/feed.pgb" <<EOF
$pick
SELECT feed.like(user_id, :hot) FROM bench.u WHERE n = :n;
SELECT feed.unlike(user_id, :hot) FROM bench.u WHERE n = :n;
EOF
cat >"$dir/update.pgb" <<EOF
UPDATE bench.posts_plain SET like_count = like_count + 1 WHERE id = 1;
UPDATE bench.posts_plain SET like_count = like_count - 1 WHERE id = 1;
EOF
cat >"$dir/insert.pgb" <<EOF
$pick
INSERT INTO bench.likes_plain (post_id, user_id) SELECT :hot, user_id FROM bench.u WHERE n = :n;
DELETE FROM bench.likes_plain WHERE post_id = :hot AND user_id = (SELECT user_id FROM bench.u WHERE n = :n);
EOF
cat >"$dir/naive.pgb" <<EOF
$pick
BEGIN;
INSERT INTO bench.likes_plain (post_id, user_id) SELECT :hot, user_id FROM bench.u WHERE n = :n;
UPDATE bench.posts_plain SET like_count = like_count + 1 WHERE id = 1;
COMMIT;
BEGIN;
DELETE FROM bench.likes_plain WHERE post_id = :hot AND user_id = (SELECT user_id FROM bench.u WHERE n = :n);
UPDATE bench.posts_plain SET like_count = like_count - 1 WHERE id = 1;
COMMIT;
EOF
cat >"$dir/follow.pgb" <<EOF
\set a random(1, $USERS)
\set b random(1, $USERS)
SELECT feed.follow(ua.user_id, ub.user_id) FROM bench.u ua, bench.u ub WHERE ua.n = :a AND ub.n = :b AND ua.n <> ub.n;
SELECT feed.unfollow(ua.user_id, ub.user_id) FROM bench.u ua, bench.u ub WHERE ua.n = :a AND ub.n = :b AND ua.n <> ub.n;
EOF
chown postgres: "$dir"/*.pgb

results="$dir/results.txt"
: >"$results"
run_pgbench() { # script seconds
	local j=$((CLIENTS < 2 ? CLIENTS : 2))
	as_pg "$bindir/pgbench" -h "$dir" -p "$port" -n -M prepared -c "$CLIENTS" -j "$j" -T "$2" \
		-D hot="$hot" -f "$1.pgb" bench
}
set_sync() { # synchronous_commit value
	psql_pg -c "ALTER SYSTEM SET synchronous_commit = $1" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 1
}
# One measured pgbench run; appends "label transactions seconds latency_ms failed" to $results.
run_once() { # script label seconds
	local out xacts tps lat failed
	if ! out=$(run_pgbench "$1" "$3" 2>&1); then
		echo "$out" | tail -n 5
		echo "pgbench $1 failed" >&2
		exit 1
	fi
	xacts=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)
	lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
	failed=$(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')
	echo "$2 $xacts $3 $lat ${failed:-0}" >>"$results"
	printf '   %-8s %3ss  tps %8.1f  avg latency %7.3f ms  (load %s)\n' "$1" "$3" "$tps" "$lat" "$(cut -d' ' -f1 /proc/loadavg)"
	case $1 in feed | follow) check_workers ;; esac
}
# A worker whose unit does not finish within 2 s (a fold of 10k deltas takes
# well under a second) is stuck on one statement: say so.
check_workers() {
	local before after
	before=$(val "SELECT string_agg(replace(worker, ' ', '_') || '/' || batches, ' ' ORDER BY worker)
	              FROM feed.worker_status() WHERE worker <> 'launcher'")
	sleep 2
	after=$(val "SELECT string_agg(replace(worker, ' ', '_') || '/' || batches || '/' || state || '/'
	                               || extract(epoch FROM now() - state_since)::int, ' ' ORDER BY worker)
	             FROM feed.worker_status() WHERE worker <> 'launcher'")
	echo "$before|$after" | awk -F'|' '{
		n = split($1, b, " "); split($2, a, " ")
		for (i = 1; i <= n; i++) { split(b[i], x, "/"); split(a[i], y, "/")
			if (x[2] == y[2] && y[3] != "idle")
				printf "            WARNING: %s made no progress in 2 s (state %s for %s s)\n", x[1], y[3], y[4] } }'
}
warm_up() { # script
	run_pgbench "$1" "$WARMUP" >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------------------
# Likes on one hot post.  The machine may be shared: each variant runs in
# LIKES_ROUNDS slices of LIKES_DURATION / LIKES_ROUNDS seconds, the variants
# interleaved (in a rotated order each round), so that a change of load
# hits all of them alike.
# ---------------------------------------------------------------------------
variants=(feed update insert naive)
for m in $SYNC_MODES; do
	echo
	echo "== $(ts) synchronous_commit = $m: warm-up ${WARMUP}s each, then $ROUNDS rounds of ${SLICE}s each"
	set_sync "$m"
	for v in "${variants[@]}"; do warm_up "$v"; done
	for ((r = 0; r < ROUNDS; r++)); do
		for ((k = 0; k < ${#variants[@]}; k++)); do
			v=${variants[$(((k + r) % ${#variants[@]}))]}
			run_once "$v" "$v,sync_$m" "$SLICE"
			[ "$v" = feed ] && echo "            count changes not folded yet (deltas + unfolded likes): $(val "SELECT (SELECT count(*) FROM feed.counter_deltas) + (SELECT count(*) FROM feed.likes WHERE NOT folded)")"
		done
	done
done
set_sync "$SYNC_COMMIT"

echo "== $(ts) exactness of the hot post's count after the runs"
exact_sql="
	SELECT (SELECT h.like_count FROM feed.user_posts($hot_author, $hot_author, 1) h) AS like_count,
	       (SELECT count(*) FROM feed.likes WHERE post_id = $hot) AS like_rows,
	       (SELECT count(*) FROM feed.counter_deltas WHERE kind = 'l' AND target = $hot)
	         + (SELECT count(*) FROM feed.likes WHERE post_id = $hot AND NOT folded) AS pending_changes,
	       (SELECT h.like_count FROM feed.user_posts($hot_author, $hot_author, 1) h)
	         = (SELECT count(*) FROM feed.likes WHERE post_id = $hot) AS exact,
	       (SELECT like_count FROM bench.posts_plain) AS plain_counter_after,
	       (SELECT count(*) FROM bench.likes_plain) AS plain_rows_after"
psql_pg -c "$exact_sql"
idle=$(val "SELECT feed.wait_idle('10 min')")
echo "feed.wait_idle('10 min'): $idle"
[ "$idle" = t ] || echo "WARNING: the workers did not fold the pending deltas within 10 minutes" \
	"(feed.worker_status: $(val "SELECT string_agg(worker || ' ' || state || ' since ' || state_since::time(0), ', ') FROM feed.worker_status()"))"
psql_pg -c "$exact_sql"
[ "$(val "SELECT (SELECT h.like_count FROM feed.user_posts($hot_author, $hot_author, 1) h)
              = (SELECT count(*) FROM feed.likes WHERE post_id = $hot)")" = t ] ||
	{ echo "likes: like_count of the hot post is not exact" >&2; exit 1; }

# ---------------------------------------------------------------------------
# Likes that stay.  Above, every like is unliked at once, before any fold
# sees it.  Here the clients like the hot post with random users (of those
# the scripts above do not use) and never unlike, so the workers fold every
# like (one UPDATE of its row) while the run goes on; ON CONFLICT / "already
# liked" repeats write nothing, so the rate is like rows written per second.
# ---------------------------------------------------------------------------
keep_lo=$((CLIENTS * PER_CLIENT + 1))
keep_hi=$((USERS - PRELIKES))
cat >"$dir/feed_keep.pgb" <<EOF
\set n random($keep_lo, $keep_hi)
SELECT feed.like(user_id, :hot) FROM bench.u WHERE n = :n;
EOF
cat >"$dir/insert_keep.pgb" <<EOF
\set n random($keep_lo, $keep_hi)
INSERT INTO bench.likes_plain (post_id, user_id) SELECT :hot, user_id FROM bench.u WHERE n = :n
ON CONFLICT DO NOTHING;
EOF
chown postgres: "$dir"/*_keep.pgb
echo
echo "== $(ts) likes that stay (synchronous_commit = on, ${DURATION}s each, users $keep_lo..$keep_hi at random)"
set_sync on
keep_run() { # script table
	local before after
	before=$(val "SELECT count(*) FROM $2 WHERE post_id = $hot")
	run_pgbench "$1" "$DURATION" >/dev/null
	after=$(val "SELECT count(*) FROM $2 WHERE post_id = $hot")
	echo "$1 $((after - before))" >>"$dir/keep.txt"
	printf '   %-12s %6d like rows in %ss: %8.1f per second  (load %s)\n' "$1" "$((after - before))" \
		"$DURATION" "$(echo "$after $before $DURATION" | awk '{print ($1 - $2) / $3}')" "$(cut -d' ' -f1 /proc/loadavg)"
}
: >"$dir/keep.txt"
keep_run feed_keep feed.likes
echo "            likes not folded yet at the end of the run: $(val "SELECT count(*) FROM feed.likes WHERE NOT folded")"
keep_run insert_keep bench.likes_plain
t0=$(date +%s.%N)
idle=$(val "SELECT feed.wait_idle('10 min')")
echo "   feed.wait_idle() afterwards: $idle in $(echo "$(date +%s.%N) $t0" | awk '{printf "%.2f", $1 - $2}') s"
set_sync "$SYNC_COMMIT"
psql_pg -c "$exact_sql"
[ "$(val "SELECT (SELECT h.like_count FROM feed.user_posts($hot_author, $hot_author, 1) h)
              = (SELECT count(*) FROM feed.likes WHERE post_id = $hot)")" = t ] ||
	{ echo "likes: like_count of the hot post is not exact after the likes that stay" >&2; exit 1; }
awk '{ r[$1] = $2 } END { if (r["insert_keep"] > 0) printf "   likes that stay: feed / plain insert = %.2f\n", r["feed_keep"] / r["insert_keep"] }' "$dir/keep.txt"

# ---------------------------------------------------------------------------
# reconcile_counts on every user and original
# ---------------------------------------------------------------------------
echo
echo "== $(ts) reconcile_counts: 100 follower counts and 100 like counts corrupted by hand first"
psql_pg -c "
	UPDATE feed.user_counters SET follower_count = follower_count + 1
	WHERE user_id IN (SELECT user_id FROM bench.u WHERE n % ($USERS / 100) = 1 LIMIT 100)" \
	-c "
	UPDATE feed.post_counters SET like_count = like_count + 1
	WHERE post_id IN (SELECT post_id FROM feed.post_counters WHERE post_id <> $hot ORDER BY post_id LIMIT 100)" >/dev/null
rec_sql="SELECT kind, checked, fixed,
	        round(extract(epoch FROM clock_timestamp() - statement_timestamp())::numeric, 2) AS seconds
	 FROM feed.reconcile_counts()"
psql_pg -c "$rec_sql" | tee "$dir/reconcile1.txt"
echo "again, nothing to fix:"
psql_pg -c "$rec_sql" | tee "$dir/reconcile2.txt"
rec_alone=$(awk -F'|' '$1 ~ /like_count/ {gsub(/ /, "", $4); print $4}' "$dir/reconcile2.txt")

# ---------------------------------------------------------------------------
# Writers with and without a reconciliation running
# ---------------------------------------------------------------------------
echo
psql_pg -At -c "SELECT feed.wait_idle('10 min')" >/dev/null
echo "== $(ts) writers: follow+unfollow alone ${DURATION}s, then ${DURATION}s while feed.reconcile_counts() runs back to back, then alone again (feed.fanout_workers = $WRITER_WORKERS)"
psql_pg -c "ALTER SYSTEM SET feed.fanout_workers = $WRITER_WORKERS" -c "SELECT pg_reload_conf()" >/dev/null
sleep 2
warm_up follow
run_once follow "follow+unfollow,sync_$SYNC_COMMIT" "$DURATION"
cat >"$dir/recloop.sh" <<EOF
while [ ! -f "$dir/stop" ]; do
	"$bindir/psql" -X -q -At -h "$dir" -p "$port" -d bench -c "$rec_sql" | awk -F'|' '\$1 == "like_count" {print \$4}' >>"$dir/recloop.txt"
done
EOF
chown postgres: "$dir/recloop.sh"
rm -f "$dir/stop" "$dir/recloop.txt"
as_pg bash "$dir/recloop.sh" &
loop_pid=$!
sleep 1
run_once follow "follow+unfollow_during_reconcile,sync_$SYNC_COMMIT" "$DURATION"
touch "$dir/stop"
wait "$loop_pid" || true
loop_pid=
run_once follow "follow+unfollow,sync_$SYNC_COMMIT" "$DURATION"
psql_pg -c "ALTER SYSTEM RESET feed.fanout_workers" -c "SELECT pg_reload_conf()" >/dev/null
rec_runs=$(wc -l <"$dir/recloop.txt")
rec_during=$(awk '{s += $1} END {if (NR) printf "%.2f", s / NR}' "$dir/recloop.txt")
echo "   reconcile_counts() completed $rec_runs times during and around the run, ${rec_during}s each on average"

echo "== $(ts) final checks"
psql_pg -At -c "SELECT feed.wait_idle('10 min')" >/dev/null
# Unfollows leave the unfollowed author's entries in the follower's inbox
# for the lazy sweep: verify lists them under inbox_awaiting_sweep, with
# problems = 0 (not overdue), and the whole of verify must be clean.
psql_pg -c "SELECT check_name, problems, jsonb_array_length(sample) AS sampled FROM feed.verify()"
[ "$(val "SELECT count(*) FROM feed.verify() WHERE problems > 0")" = 0 ] ||
	{ echo "likes: feed.verify() finds problems" >&2; exit 1; }
psql_pg -c "SELECT kind, checked, fixed FROM feed.reconcile_counts()" | tee "$dir/reconcile3.txt"
[ "$(val "SELECT problems FROM feed.verify() WHERE check_name = 'counter_drift'")" = 0 ] ||
	{ echo "likes: feed.verify() finds counter drift" >&2; exit 1; }
[ "$(awk -F'|' 'NR > 2 && NF == 3 {gsub(/ /, "", $3); s += $3} END {print s + 0}' "$dir/reconcile3.txt")" = 0 ] ||
	{ echo "likes: the last reconciliation had something to fix" >&2; exit 1; }
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------
echo
echo "== results ($CLIENTS clients, ${DURATION}s per run, pgbench -M prepared; one script = one like + one unlike, or one follow + one unfollow)"
echo
# Per label: total transactions / total seconds, and the range of the slices.
awk '{ x[$1] += $2; t[$1] += $3; l[$1] += $2 * $4; f[$1] += $5; r = $2 / $3
	   if (!($1 in lo) || r < lo[$1]) lo[$1] = r; if (!($1 in hi) || r > hi[$1]) hi[$1] = r
	   if (!($1 in seen)) { seen[$1] = 1; name[++n] = $1 } }
	END { for (i = 1; i <= n; i++) { k = name[i]; printf "%s %.1f %.1f %.1f %.3f %d\n", k, x[k] / t[k], lo[k], hi[k], l[k] / x[k], f[k] } }' \
	"$results" >"$dir/summary.txt"
echo "| script | synchronous_commit | scripts/s = likes/s (follows/s) | slowest..fastest slice | avg latency ms | failed |"
echo "|---|---|---:|---:|---:|---:|"
awk '{ split($1, a, ","); printf "| %s | %s | %.0f | %.0f..%.0f | %.3f | %d |\n", a[1], substr(a[2], 6), $2, $3, $4, $5, $6 }' "$dir/summary.txt"
echo
echo "Ratios (same run):"
echo
awk -v modes="$SYNC_MODES" -v sc="$SYNC_COMMIT" '{ tps[$1] = $2 }
	END {
		printf "| ratio | synchronous_commit | value |\n|---|---|---:|\n"
		n = split(modes, m, " ")
		for (i = 1; i <= n; i++) {
			f = tps["feed,sync_" m[i]]
			printf "| feed.like+unlike / plain UPDATE of a hot counter row (a) | %s | %.2f |\n", m[i], f / tps["update,sync_" m[i]]
			printf "| feed.like+unlike / plain INSERT+DELETE of the like row alone (b) | %s | %.2f |\n", m[i], f / tps["insert,sync_" m[i]]
			printf "| feed.like+unlike / like row + counter UPDATE in one transaction | %s | %.2f |\n", m[i], f / tps["naive,sync_" m[i]]
		}
		printf "| follow+unfollow during reconcile_counts() / alone (before and after) | %s | %.2f |\n", sc,
			tps["follow+unfollow_during_reconcile,sync_" sc] / tps["follow+unfollow,sync_" sc]
	}' "$dir/summary.txt"
echo
echo "reconcile_counts() on $((USERS + 1)) users and $((POSTS + 1)) originals: ${rec_alone}s alone, ${rec_during}s on average while the writers ran"
