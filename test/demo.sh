#!/bin/bash
# `make demo`: start a throw-away PostgreSQL 15 server with feed preloaded,
# load a small social graph (test/demo.sql) and show what the API returns.
# Runs as root (the server itself runs as `postgres`); removes everything it
# created on exit.  Uses PGPORT if set, else 54329; the server listens on a
# Unix socket inside its own directory only, so no TCP port is taken.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bindir=$(pg_config --bindir)
port=${PGPORT:-54329}

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (the server is started as user 'postgres')" >&2
	exit 1
fi
if ! id postgres >/dev/null 2>&1; then
	echo "demo: user 'postgres' is missing: run 'make deps' first" >&2
	exit 1
fi

dir=$(mktemp -d /tmp/feed-demo.XXXXXX)
chmod 755 "$dir"
chown postgres: "$dir"
data=$dir/data

# The postgres user may not be able to enter the current directory (a clone
# under a 0700 parent), and initdb/pg_ctl need to: run them from $dir.
as_pg() { (cd "$dir" && runuser -u postgres -- "$@"); }

cleanup() {
	local rc=$?
	if [ -f "$data/postmaster.pid" ]; then
		as_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	if [ $rc -ne 0 ] && [ -s "$dir/server.log" ]; then
		echo "---- server log (last 40 lines)" >&2
		tail -n 40 "$dir/server.log" >&2
	fi
	rm -rf "$dir"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "demo: creating a throw-away cluster in $data"
as_pg "$bindir/initdb" -D "$data" -A trust -E UTF8 --locale=C.UTF-8 -N >"$dir/initdb.log" 2>&1 || {
	cat "$dir/initdb.log" >&2
	exit 1
}
cat >>"$data/postgresql.conf" <<EOF
# feed demo
listen_addresses = ''
unix_socket_directories = '$data'
port = $port
shared_preload_libraries = 'feed'
feed.database = 'postgres'
fsync = off
EOF

echo "demo: starting PostgreSQL (socket in $data, port $port)"
as_pg "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null

echo
# root reads the script (the tree may not be readable by postgres) and feeds
# it to psql on stdin.
as_pg "$bindir/psql" -X -q -h "$data" -p "$port" -d postgres \
	-v ON_ERROR_STOP=1 -f - <"$here/demo.sql"
echo
echo "demo: done; stopping the server and removing $dir"
