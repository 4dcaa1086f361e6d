#!/bin/bash
# Run the regress, isolation and TAP suites against the installed extension.
# Usage: bash test/run_suites.sh <n_regress> <n_isolation> <n_tap>
# (called by `make test` after `make install`, as root, from the tree root).
#
# PostgreSQL refuses to run as root and the suites write into the tree, so they
# run as `postgres` in a postgres-owned staging copy under /tmp (see
# research/pgxs-testing.md, trap 5).  The unit counted is one test file.
# The last line printed is always "N passed, N failed"; the exit status is
# non-zero when anything failed.
set -uo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 <n_regress> <n_isolation> <n_tap>" >&2
	exit 2
fi
declare -A declared=([regress]=$1 [isolation]=$2 [tap]=$3)
suites=(regress isolation tap)
tail_lines=200

if [ "$(id -u)" -ne 0 ]; then
	echo "run_suites: must run as root (the suites run as 'postgres' via runuser)" >&2
	echo "0 passed, $(($1 + $2 + $3)) failed"
	exit 1
fi

stage=$(mktemp -d /tmp/feed-test.XXXXXX)
chmod 755 "$stage"
for f in Makefile feed.control *.sql sql expected specs t test; do
	[ -e "$f" ] && cp -a "$f" "$stage/"
done
# Socket directories of the TAP nodes (File::Temp honours TMPDIR) and of
# pg_regress go inside the stage, so a failed run leaves nothing in /tmp.
mkdir "$stage/tmp"
chown -R postgres: "$stage"

# One matcher per suite, on lines such as
#   test graph                        ... ok           45 ms   (pg_regress 15)
#        graph                        ... ok           45 ms   (parallel group)
#   t/010_crash_recovery.pl .. ok                              (prove)
declare -A ok_re=(
	[regress]='^(test | +)?[^ ]+ +\.\.\. ok'
	[isolation]='^(test | +)?[^ ]+ +\.\.\. ok'
	[tap]='^t/[^ ]+\.pl \.+ ok'
)

show_tail() {	# file [label]
	[ -s "$1" ] || return 0
	local n
	n=$(wc -l <"$1")
	echo "======== ${2:-$1} ($n lines$([ "$n" -gt $tail_lines ] && echo ", last $tail_lines"))"
	tail -n $tail_lines "$1"
}

# No diffs (server did not start, expected file missing, crash): the server
# log tells why; the initdb log only when there is no server log.
show_server_log() {	# log directory of a --temp-instance
	if [ -s "$1/postmaster.log" ]; then
		show_tail "$1/postmaster.log" "${1#$stage/}/postmaster.log"
	else
		show_tail "$1/initdb.log" "${1#$stage/}/initdb.log"
	fi
}

show_failure() {	# suite
	case $1 in
	regress)
		show_tail "$stage/regression.diffs" "regression.diffs"
		[ -s "$stage/regression.diffs" ] || show_server_log "$stage/log"
		;;
	isolation)
		show_tail "$stage/output_iso/regression.diffs" "output_iso/regression.diffs"
		[ -s "$stage/output_iso/regression.diffs" ] ||
			show_server_log "$stage/output_iso/log"
		;;
	tap)
		# The log of every script that did not end in "ok".
		local t name
		for t in "$stage"/t/*.pl; do
			[ -e "$t" ] || continue
			name=$(basename "$t" .pl)
			grep -qE "^t/$name\.pl \.+ ok" "$stage/tap.log" && continue
			show_tail "$stage/tmp_check/log/regress_log_$name" "tmp_check/log/regress_log_$name"
		done
		;;
	esac
}

total_pass=0
total_fail=0
summary=()
for suite in "${suites[@]}"; do
	n=${declared[$suite]}
	if [ "$n" -eq 0 ]; then
		summary+=("$(printf '%-10s no tests' "$suite")")
		continue
	fi
	echo "==== $suite: $n test file(s)"
	start=${EPOCHREALTIME/[.,]/}
	# cd first: postgres may not be allowed into the tree (0700 parent).
	(cd "$stage" && runuser -u postgres -- env TMPDIR="$stage/tmp" \
		make --no-print-directory -C "$stage" "test-$suite" </dev/null 2>&1) |
		tee "$stage/$suite.log"
	rc=${PIPESTATUS[0]}
	ms=$(( (${EPOCHREALTIME/[.,]/} - start) / 1000 ))
	secs=$((ms / 1000)).$((ms % 1000 / 100))

	pass=$(grep -cE "${ok_re[$suite]}" "$stage/$suite.log")
	[ "$pass" -gt "$n" ] && pass=$n
	fail=$((n - pass))
	[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	summary+=("$(printf '%-10s %3d passed, %3d failed  %6s s' "$suite" "$pass" "$fail" "$secs")")
	if [ "$fail" -ne 0 ]; then
		echo "==== $suite FAILED (make exit status $rc); details:"
		show_failure "$suite"
	fi
done

echo "==== summary"
printf '%s\n' "${summary[@]}"
if [ "$total_fail" -eq 0 ]; then
	rm -rf "$stage"
else
	echo "failed run kept for inspection in $stage"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
