# Scheduled maintenance with pg_cron, and counters through kill -9
# (DESIGN.md invariants I5 and I6).
#
# 1. pg_cron preloaded next to feed: feed.schedule_maintenance(true) creates
#    the five jobs, they run (minute granularity: the first run comes within
#    a minute) and fix what was damaged beforehand: follower_count raised by
#    hand, an inbox entry of a post that does not exist, a tombstone past
#    its retention.  A test session holds SHARE locks on
#    feed.counter_deltas, feed.inbox and feed.tokens for the first minute, so that the
#    read-only feed_verify job runs (and logs the damage) while the jobs that
#    write wait; once the locks go they all run at the same moment.
#    feed_repair_inboxes does inbox work only (feed.repair_inboxes(), no
#    reconciliation).  Scheduling again changes nothing, unscheduling
#    removes the jobs.
# 2. kill -9 while feed.wait_idle() folds 150k counter deltas (workers off):
#    after the restart nothing committed is lost, nothing was folded (the
#    fold ran in wait_idle's one transaction), and the counts read are
#    exact before and after folding.
# 3. kill -9 while the fanout workers fold: the batches before the kill
#    committed, one was in flight (held back by a row lock on one counter).
#    The counts read are exact at once after the restart and after the
#    workers finish.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep time);

use FindBin;
use lib $FindBin::RealBin;
use FeedTestUtil;

my $timeout = 150;    # seconds, for every wait below

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
my $host = $node->host;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'feed,pg_cron'
feed.database = 'postgres'
cron.database_name = 'postgres'
# TAP nodes listen on a Unix socket only (research/pgxs-testing.md, trap 12)
cron.host = '$host'
fsync = off
restart_after_crash = on
});
$node->start;

sub q1 { return $node->safe_psql('postgres', shift) }

# Wait until $sql returns 't'; fail the test (not the script) on timeout.
sub wait_for
{
	my ($sql, $what) = @_;
	return 1 if poll_until(\&q1, $sql, $timeout, 200_000);
	fail("timed out after ${timeout}s waiting for: $what");
	return 0;
}

###########################################################################
# 1. pg_cron
###########################################################################

q1('CREATE EXTENSION pg_cron');
q1('CREATE EXTENSION feed');

my $ann = q1(q{SELECT feed.create_user('ann')});
my $bob = q1(q{SELECT feed.create_user('bob')});
my $cat = q1(q{SELECT feed.create_user('cat')});
q1( qq{SELECT feed.follow($ann, $bob), feed.follow($cat, $bob), feed.follow($bob, $ann)});
my $post = q1(qq{SELECT feed.publish($bob, 'bob 1')});
my $gone = q1(qq{SELECT feed.publish($bob, 'bob 2, to be purged')});
q1(qq{SELECT feed.like($ann, $post), feed.like($cat, $post)});
is(q1(q{SELECT feed.wait_idle()}), 't', 'cron: setup settled');

# The tombstone: deleted two minutes ago (backdated), retention one minute
# for every new session of this database, the jobs' included.  Wait for
# the inbox sweep to take its entries, so that verify sees only the damage
# below.
q1(qq{SELECT feed.delete_post($bob, $gone)});
q1( qq{UPDATE feed.posts SET deleted_at = now() - interval '2 minutes' WHERE post_id = $gone});
q1(q{ALTER DATABASE postgres SET feed.tombstone_retention = 60});
wait_for(qq{SELECT NOT EXISTS (SELECT 1 FROM feed.inbox WHERE entry_id = $gone)},
	'the inbox sweep to remove the deleted post\'s entries');
# From here on the cron jobs, not the launcher's sweep, must remove the
# injected dead entry: stop the sweep (the launcher reloads within a second).
q1(q{ALTER SYSTEM SET feed.inbox_sweep_users = 0});
q1(q{SELECT pg_reload_conf()});
usleep(2_500_000);

# The damage.
q1( qq{UPDATE feed.user_counters SET follower_count = follower_count + 5 WHERE user_id = $bob});
q1(qq{INSERT INTO feed.inbox (user_id, entry_id, post_id) VALUES ($ann, 1000, 1000)});
is(q1(qq{SELECT follower_count FROM feed.user_stats($bob)}),
	7, 'cron: bob\'s follower count is off by 5 before the jobs run');
is(q1(q{SELECT count(*) FROM feed.verify() WHERE problems > 0}),
	2, 'cron: verify sees two problems before the jobs run');

# Hold the writing jobs back: SHARE locks on feed.counter_deltas (written
# by reconcile_counts and purge_tombstones), feed.inbox (written by
# repair_inboxes) and feed.tokens (expire_tokens) let readers through and
# stop every statement that writes those tables.
my ($lk_in, $lk_out, $lk_err) = ('', '', '');
my $locker = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
	'<', \$lk_in, '>', \$lk_out, '2>', \$lk_err,
	IPC::Run::timeout($timeout + 120));
$lk_in .= "BEGIN; LOCK TABLE feed.counter_deltas, feed.inbox, feed.tokens IN SHARE MODE; SELECT 'locked';\n";
$locker->pump until $lk_out =~ /locked/;
pass('cron: writers of feed.counter_deltas, feed.inbox and feed.tokens held back');

is(q1(q{SELECT count(*) FROM cron.job}), 0, 'cron: no job before scheduling');
is(q1(q{SELECT feed.schedule_maintenance(true)}), 5, 'cron: schedule_maintenance(true) returns 5');
is( q1(
		q{SELECT string_agg(jobname || ' ' || schedule || ' ' || database || ' ' || active, ', '
                            ORDER BY jobname) FROM cron.job}),
	'feed_expire_tokens * * * * * postgres true, '
	  . 'feed_purge_tombstones * * * * * postgres true, feed_reconcile_counts * * * * * postgres true, '
	  . 'feed_repair_inboxes * * * * * postgres true, feed_verify * * * * * postgres true',
	'cron: five jobs, every minute, in this database');
my $jobids = q1(q{SELECT string_agg(jobid::text, ',' ORDER BY jobname) FROM cron.job});

# Runs that finished, per job: "name:status" sorted.
sub finished_runs
{
	return q1(
		q{SELECT coalesce(string_agg(j.jobname || ':' || d.status, ', ' ORDER BY j.jobname, d.runid), '')
          FROM cron.job_run_details d JOIN cron.job j USING (jobid)
          WHERE d.status IN ('succeeded', 'failed')});
}

my $t0 = time;
wait_for(
	q{SELECT EXISTS (SELECT 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                     WHERE j.jobname = 'feed_verify' AND d.status IN ('succeeded', 'failed'))},
	'the first run of feed_verify');
note(sprintf('first feed_verify run after %.0f s', time - $t0));
is(finished_runs(), 'feed_verify:succeeded',
	'cron: feed_verify ran and succeeded while the writing jobs wait');
is( q1(
		q{SELECT string_agg(check_name || '=' || problems, ', ' ORDER BY check_name) FROM feed.verify_log}),
	'counter_drift=1, inbox_dead_entries=1',
	'cron: feed_verify logged each problem in feed.verify_log');
is(q1(q{SELECT count(*) FROM feed.reconcile_log}), 0, 'cron: nothing reconciled yet');

# Let the other four run, at the same moment.
$lk_in .= "COMMIT;\n";
ok($locker->finish, 'cron: the lock session ended cleanly');

wait_for(
	q{SELECT count(DISTINCT j.jobname) = 5 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
      WHERE d.status IN ('succeeded', 'failed')},
	'a finished run of every job');
my $runs = q1(
	q{SELECT string_agg(DISTINCT j.jobname || ':' || d.status, ', ')
      FROM cron.job_run_details d JOIN cron.job j USING (jobid)
      WHERE d.status IN ('succeeded', 'failed')});
is( $runs,
	'feed_expire_tokens:succeeded, feed_purge_tombstones:succeeded, '
	  . 'feed_reconcile_counts:succeeded, feed_repair_inboxes:succeeded, feed_verify:succeeded',
	'cron: every job succeeded');
diag(q1(q{SELECT string_agg(j.jobname || ': ' || d.return_message, E'\n')
          FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE d.status = 'failed'}))
  if $runs =~ /failed/;

is(q1(qq{SELECT follower_count FROM feed.user_stats($bob)}),
	2, 'cron: bob\'s follower count is the truth again');
is( q1(
		qq{SELECT count(*) FROM feed.follows WHERE followee_id = $bob AND state = 'active'}),
	2, 'cron: (bob has 2 active followers)');
is( q1(
		qq{SELECT string_agg(kind || ' ' || old_value || '->' || new_value, ', ' ORDER BY log_id)
           FROM feed.reconcile_log WHERE target_id = $bob}),
	'follower_count 7->2',
	'cron: the fix is in feed.reconcile_log, once');
is(q1(q{SELECT count(*) FROM feed.reconcile_log}), 1, 'cron: no other count was touched');
is(q1(qq{SELECT count(*) FROM feed.inbox WHERE user_id = $ann AND entry_id = 1000}),
	0, 'cron: feed_repair_inboxes removed the dead inbox entry');
is( q1(
		q{SELECT j.command || ' -> ' || d.return_message
          FROM cron.job_run_details d JOIN cron.job j USING (jobid)
          WHERE j.jobname = 'feed_repair_inboxes' AND d.status = 'succeeded' ORDER BY d.runid LIMIT 1}),
	'SELECT * FROM feed.repair_inboxes() -> 5 rows',
	'cron: feed_repair_inboxes runs the five inbox repairs only (no reconciliation)');
is(q1(qq{SELECT count(*) FROM feed.posts WHERE post_id = $gone}),
	0, 'cron: feed_purge_tombstones removed the old tombstone');
is(q1(qq{SELECT count(*) FROM feed.posts WHERE post_id = $post}), 1, 'cron: the live post stays');
is( q1(
		q{SELECT coalesce(string_agg(check_name || '=' || problems, ', '), 'clean')
          FROM feed.verify() WHERE problems > 0}),
	'clean',
	'cron: verify is clean after the jobs ran');

# Scheduling again updates the jobs by name.
is(q1(q{SELECT feed.schedule_maintenance(true)}), 5, 'cron: scheduling again returns 5');
is(q1(q{SELECT count(*) FROM cron.job}), 5, 'cron: still five jobs');
is(q1(q{SELECT string_agg(jobid::text, ',' ORDER BY jobname) FROM cron.job}),
	$jobids, 'cron: the same jobs (same ids)');
is(q1(q{SELECT feed.schedule_maintenance()}), 5, 'cron: schedule_maintenance() returns 5');
is( q1(
		q{SELECT string_agg(jobname || ' ' || schedule, ', ' ORDER BY jobname) FROM cron.job}),
	'feed_expire_tokens 43 3 * * *, feed_purge_tombstones 41 3 * * *, feed_reconcile_counts 17 * * * *, '
	  . 'feed_repair_inboxes */10 * * * *, feed_verify */15 * * * *',
	'cron: the default schedules replace the every-minute ones');
is(q1(q{SELECT string_agg(jobid::text, ',' ORDER BY jobname) FROM cron.job}),
	$jobids, 'cron: still the same jobs');

is(q1(q{SELECT feed.unschedule_maintenance()}), 5, 'cron: unschedule_maintenance returns 5');
is(q1(q{SELECT count(*) FROM cron.job}), 0, 'cron: no job left');
is(q1(q{SELECT feed.unschedule_maintenance()}), 0, 'cron: unscheduling again removes nothing');
q1(q{ALTER DATABASE postgres RESET feed.tombstone_retention});

###########################################################################
# 2. kill -9 while feed.wait_idle() folds counter deltas
###########################################################################

# Counts read through the API against count(*) of the source rows:
# "users checked|users off|posts checked|posts off".
my $poster;

# Count changes not folded yet: deltas, and likes (a like row is its own
# delta until the fold marks it folded).
sub pending
{
	return q1(
		q{SELECT (SELECT count(*) FROM feed.counter_deltas)
                 + (SELECT count(*) FROM feed.likes WHERE NOT folded)});
}

sub counts_exact
{
	return q1(
		qq{
SELECT (SELECT count(*) FROM feed.users),
       (SELECT count(*) FROM feed.users u, LATERAL feed.user_stats(u.user_id) s
        WHERE s.follower_count <> (SELECT count(*) FROM feed.follows f
                                   WHERE f.followee_id = u.user_id AND f.state = 'active')
           OR s.following_count <> (SELECT count(*) FROM feed.follows f
                                    WHERE f.follower_id = u.user_id AND f.state = 'active')
           OR s.post_count <> (SELECT count(*) FROM feed.posts p
                               WHERE p.author_id = u.user_id AND p.deleted_at IS NULL)),
       (SELECT count(*) FROM feed.user_posts($poster, $poster, 200)),
       (SELECT count(*) FROM feed.user_posts($poster, $poster, 200) h
        WHERE h.like_count <> (SELECT count(*) FROM feed.likes l WHERE l.post_id = h.post_id))});
}

# The stable state, for "nothing committed is lost".
sub fingerprint
{
	return q1(
		q{SELECT md5(concat_ws('|',
            (SELECT string_agg(f.follower_id || '>' || f.followee_id || f.state, ','
                               ORDER BY f.follower_id, f.followee_id) FROM feed.follows f),
            (SELECT string_agg(l.post_id || '<' || l.user_id, ',' ORDER BY l.post_id, l.user_id)
             FROM feed.likes l),
            (SELECT count(*) FROM feed.posts)))});
}

# Workers off: only feed.wait_idle() folds.
$node->append_conf('postgresql.conf', "feed.fanout_workers = 0\n");
$node->restart;
q1(q{DROP EXTENSION feed CASCADE});
q1(q{CREATE EXTENSION feed});

# 600 fans follow 100 accounts (120k deltas) and like 50 posts (30k).
$poster = q1(q{SELECT feed.create_user('poster')});
q1(q{SELECT count(feed.create_user('fan' || i)) FROM generate_series(1, 600) i});
q1(q{SELECT count(feed.create_user('acct' || i)) FROM generate_series(1, 100) i});
q1(qq{SELECT count(feed.publish($poster, 'post ' || i)) FROM generate_series(1, 50) i});
is(q1(q{SELECT feed.wait_idle('300 s')}), 't', 'crash 1: setup settled');
my $t1 = time;
q1( q{SELECT count(feed.follow(f.user_id, a.user_id))
      FROM feed.users f, feed.users a WHERE f.handle LIKE 'fan%' AND a.handle LIKE 'acct%'});
q1( q{SELECT count(feed.like(f.user_id, p.post_id))
      FROM feed.users f, feed.posts p WHERE f.handle LIKE 'fan%'});
note(sprintf('crash 1: 60k follows and 30k likes in %.0f s', time - $t1));
# The accounts have no posts, so the 60k inbox backfills queued by the
# follows have nothing to deliver: drop them, so that wait_idle goes
# straight to the fold (it applies backfills first).
is(q1(q{DELETE FROM feed.inbox_backfill}), '', 'crash 1: backfills of post-less accounts dropped');

my $deltas = pending();
is($deltas, 150000, 'crash 1: 150k count changes queued (120k deltas, 30k unfolded likes)');
is(q1(q{SELECT count(*) FROM feed.likes}), 30000, 'crash 1: 30k likes');
is(counts_exact(), '701|0|50|0', 'crash 1: counts exact with every delta pending');
my $fp = fingerprint();

# Fold in the background; kill once the folding has started, i.e. once the
# folding backend holds a write lock on a counter table (only folds write
# them), which it keeps until it commits.
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', "SELECT feed.wait_idle('$timeout s')" ],
	'<', \undef, '>', \$out, '2>', \$err,
	IPC::Run::timeout($timeout + 60));
my $folding = 0;
my $deadline = time + $timeout;
while (time < $deadline)
{
	if (q1(
			q{SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
              WHERE a.query LIKE 'SELECT feed.wait_idle%' AND l.granted AND l.mode = 'RowExclusiveLock'
                AND l.relation IN ('feed.user_counters'::regclass, 'feed.post_counters'::regclass))})
		eq 't')
	{
		$folding = 1;
		last;
	}
	last unless $h->pumpable;
	usleep(20_000);
}
ok($folding, 'crash 1: the fold is under way');
crash_and_restart($node, 'crash 1', $timeout);
eval { $h->finish; };
diag('crash 1: wait_idle had finished before the kill') if $out =~ /^t$/m;

is(fingerprint(), $fp, 'crash 1: every committed follow, like and post survived');
is(pending(),
	$deltas, 'crash 1: the interrupted fold (one transaction) left every delta and unfolded like in place');
is(counts_exact(), '701|0|50|0', 'crash 1: counts exact after the restart, deltas pending');
is(q1(q{SELECT problems FROM feed.verify() WHERE check_name = 'counter_drift'}),
	0, 'crash 1: verify finds no drift');
$t1 = time;
is(q1(q{SELECT feed.wait_idle('300 s')}), 't', 'crash 1: wait_idle folds after the restart');
note(sprintf('crash 1: wait_idle after the restart took %.0f s', time - $t1));
diag(q1(q{SELECT string_agg(backend_type || ' ' || state || ' ' || coalesce(wait_event_type, '-') || ' '
                            || coalesce(wait_event, '-') || ' ' || left(query, 60), E'\n')
          FROM pg_stat_activity}) . "\nbackfills: " . q1(q{SELECT count(*) FROM feed.inbox_backfill}))
  if time - $t1 > 250;
is(pending(), 0, 'crash 1: nothing left to fold');
is(counts_exact(), '701|0|50|0', 'crash 1: counts exact after folding');
is( q1(
		qq{SELECT follower_count || '/' || following_count FROM feed.user_stats(
             (SELECT user_id FROM feed.users WHERE handle = 'acct1'))}),
	'600/0', 'crash 1: an account followed by the 600 fans has 600 followers');
is( q1(
		qq{SELECT min(like_count) || '/' || max(like_count) FROM feed.user_posts($poster, $poster, 200)}),
	'600/600', 'crash 1: every post has 600 likes');

###########################################################################
# 3. kill -9 while the workers fold
###########################################################################

# Each fan unlikes the first 10 posts (6000 deltas) and unfollows acct6 ..
# acct30 (30000), then acct1 (1200): four batches of the workers' folds
# (10k deltas each, one transaction each).
q1( q{SELECT count(feed.unlike(f.user_id, p.post_id))
      FROM feed.users f, (SELECT post_id FROM feed.posts ORDER BY post_id LIMIT 10) p
      WHERE f.handle LIKE 'fan%'});
q1( q{SELECT count(feed.unfollow(f.user_id, a.user_id))
      FROM feed.users f, feed.users a
      WHERE f.handle LIKE 'fan%' AND a.handle ~ '^acct([6-9]|[12][0-9]|30)$'});
q1( q{SELECT count(feed.unfollow(f.user_id, a.user_id))
      FROM feed.users f, feed.users a WHERE f.handle LIKE 'fan%' AND a.handle = 'acct1'});
$deltas = pending();
is($deltas, 37200, 'crash 2: 37200 deltas queued');
$fp = fingerprint();

# A session locks acct1's counter row: the fold batch that holds acct1's
# deltas waits for it (uncommitted), the batches before it commit.
my ($lk_in2, $lk_out2, $lk_err2) = ('', '', '');
my $locker2 = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
	'<', \$lk_in2, '>', \$lk_out2, '2>', \$lk_err2,
	IPC::Run::timeout($timeout + 60));
$lk_in2 .= "BEGIN; SELECT 'locked' FROM feed.user_counters WHERE user_id = "
  . "(SELECT user_id FROM feed.users WHERE handle = 'acct1') FOR UPDATE;\n";
$locker2->pump until $lk_out2 =~ /locked/;

q1(q{ALTER SYSTEM SET feed.fanout_workers = 2});
q1(q{SELECT pg_reload_conf()});
wait_for(
	qq{SELECT (SELECT count(*) FROM feed.counter_deltas)
            + (SELECT count(*) FROM feed.likes WHERE NOT folded) < $deltas
          AND EXISTS (SELECT 1 FROM pg_stat_activity
                      WHERE backend_type LIKE 'feed%' AND wait_event_type = 'Lock')},
	'some fold batches committed and one waiting');
my $left = pending();
note("crash 2: deltas left at the kill: $left");
ok($left > 0 && $left < $deltas, 'crash 2: the workers are half-way through the fold');
crash_and_restart($node, 'crash 2', $timeout);
# Its server is gone; psql would only notice at its next command.
eval { $locker2->kill_kill(grace => 1); };

is(fingerprint(), $fp, 'crash 2: every committed unlike and unfollow survived');
my $after = pending();
cmp_ok($after, '<=', $left, 'crash 2: the batches committed before the kill stay folded');
is(counts_exact(), '701|0|50|0', 'crash 2: counts exact right after the restart');
is(q1(q{SELECT feed.wait_idle('300 s')}), 't', 'crash 2: the workers finish folding');
is(pending(), 0, 'crash 2: nothing left to fold');
is(counts_exact(), '701|0|50|0', 'crash 2: counts exact after folding');
is( q1(
		q{SELECT string_agg(DISTINCT s.follower_count::text, ',') FROM feed.users u,
          LATERAL feed.user_stats(u.user_id) s WHERE u.handle ~ '^acct([1]|[6-9]|[12][0-9]|30)$'}),
	'0', 'crash 2: the accounts every fan unfollowed have no followers');
is( q1(
		qq{SELECT string_agg(DISTINCT like_count::text, ',') FROM feed.user_posts($poster, $poster, 200)}),
	'0,600', 'crash 2: 10 posts with no like left, 40 with 600');
is(q1(q{SELECT problems FROM feed.verify() WHERE check_name = 'counter_drift'}),
	0, 'crash 2: verify finds no drift');

$node->stop;
done_testing();
