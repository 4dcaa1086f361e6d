
# The fanout workers under signals and settings (issue 3), with real
# workers on a real server:
#
# 1. feed.wait_idle() with workers on waits for them (the rows are written
#    by the workers, not by the caller) and returns true.
# 2. SIGTERM of the worker that is in the middle of a job: it stops between
#    batches, the launcher starts a new one in its slot, and the job
#    completes with exactly one entry per follower; feed.fanout_rate_limit
#    holds the job to its rate meanwhile.
# 3. SIGHUP of feed.fanout_workers (2 -> 3 -> 1 -> 0 -> 2 by ALTER SYSTEM +
#    pg_reload_conf()) changes the number of workers; each pool size still
#    fans out completely (0: wait_idle does the work in the caller).
# 4. No ERROR, FATAL or PANIC in the server log of these runs.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

use FindBin;
use lib $FindBin::RealBin;
use FeedTestUtil;

my $timeout    = 120;     # seconds, for every wait below
my $nfollowers = 5000;

my $node = PostgreSQL::Test::Cluster->new('fanout_sigterm');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'feed'
feed.database = 'postgres'
feed.fanout_workers = 2
# small batches: a job of 5000 followers is 50 transactions
feed.fanout_batch_size = 100
});
$node->start;

sub q1 { return $node->safe_psql('postgres', shift) }

# Polls $sql until it returns 't'; returns whether it did within $timeout.
sub eventually { return poll_until(\&q1, shift, $timeout, 50_000) }

# Fanout workers as pg_stat_activity shows them: "pid:application_name"
# sorted by application_name, comma separated.
sub workers_in_pg_stat_activity
{
	return q1(
		q{SELECT coalesce(string_agg(pid || ':' || application_name, ',' ORDER BY application_name), '')
          FROM pg_stat_activity WHERE backend_type = 'feed fanout worker'});
}

# Exactly one inbox entry of $post per active follower of $author, none for
# anyone else (the author's own entry aside).
sub check_exact_fanout
{
	my ($author, $post, $what) = @_;
	my ($expected, $got, $missing, $extra) = split /\|/, q1(
		qq{
WITH f AS (SELECT follower_id AS user_id FROM feed.follows
           WHERE followee_id = $author AND state = 'active'),
     got AS (SELECT user_id FROM feed.inbox WHERE entry_id = $post AND user_id <> $author)
SELECT (SELECT count(*) FROM f), (SELECT count(*) FROM got),
       (SELECT count(*) FROM (SELECT user_id FROM f EXCEPT SELECT user_id FROM got) m),
       (SELECT count(*) FROM (SELECT user_id FROM got EXCEPT SELECT user_id FROM f) x)});
	is($expected, $nfollowers, "$what: the author has $nfollowers followers");
	is($missing,  0,           "$what: every follower has the entry");
	is($extra,    0,           "$what: no entry for a non-follower");
	is($got, $expected, "$what: exactly one entry per follower");
	return;
}

q1('CREATE EXTENSION feed');

ok( eventually(
		q{SELECT count(*) FILTER (WHERE backend_type = 'feed launcher'
                                    AND application_name = 'feed launcher') = 1
            AND count(*) FILTER (WHERE backend_type = 'feed fanout worker') = 2
         FROM pg_stat_activity}),
	'the launcher and 2 fanout workers are running');
is( workers_in_pg_stat_activity() =~ s/\d+://gr,
	'feed fanout worker 0,feed fanout worker 1',
	'pg_stat_activity names the workers "feed fanout worker N"');
is( q1(
		q{SELECT string_agg(worker, ',' ORDER BY worker) FROM feed.worker_status()}),
	'fanout 0,fanout 1,launcher',
	'feed.worker_status() lists the launcher and both workers');
is( q1(
		q{SELECT count(*) FROM feed.worker_status() w
          JOIN pg_stat_activity a ON a.pid = w.pid
          WHERE a.backend_type IN ('feed launcher', 'feed fanout worker')}),
	3, 'feed.worker_status() pids are those of pg_stat_activity');

# An author with 5000 followers (below the celebrity threshold: pushed).
my $author = q1(q{SELECT feed.create_user('author')});
q1(qq{SELECT count(feed.create_user('u' || i)) FROM generate_series(1, $nfollowers) i});
q1( qq{SELECT count(feed.follow(user_id, $author)) FROM feed.users WHERE handle ~ '^u[0-9]+\$'});
is(q1(q{SELECT feed.wait_idle('120 s')}), 't', 'setup: follows settled');

###########################################################################
# 1. wait_idle waits for the workers, who do the work.
###########################################################################

my $pids_before = workers_in_pg_stat_activity();
my $rows_before = q1(
	q{SELECT sum(rows_written) FROM feed.worker_status() WHERE worker LIKE 'fanout %'});
my $post1 = q1(qq{SELECT feed.publish($author, 'post 1')});
is(q1(q{SELECT feed.wait_idle('60 s')}), 't', 'workers on: wait_idle returns true');
is(q1(q{SELECT count(*) FROM feed.fanout_jobs}), 0, 'workers on: no job left');
check_exact_fanout($author, $post1, 'workers on');
is(workers_in_pg_stat_activity(), $pids_before, 'workers on: the same workers ran throughout');
is( q1(
		q{SELECT sum(rows_written) FROM feed.worker_status() WHERE worker LIKE 'fanout %'})
	  - $rows_before,
	$nfollowers,
	'workers on: the workers wrote the 5000 rows (not the wait_idle caller)');
cmp_ok(q1(q{SELECT feed.fanout_recent_rows(60)}), '>=', $nfollowers,
	'workers on: fanout_recent_rows counts them');
is(q1(q{SELECT rows_per_second > 0 FROM feed.fanout_status}), 't',
	'workers on: fanout_status shows a write rate');

###########################################################################
# 2. SIGTERM of the worker in the middle of a job.
###########################################################################

# 1000 rows/s: the job of 5000 rows takes about 4 s beyond its burst.
set_and_reload($node, 'feed.fanout_rate_limit' => 1000);
my $t_publish = time;
my $post2     = q1(qq{SELECT feed.publish($author, 'post 2')});

# Wait until the job has moved some batches, then find its worker.
ok( eventually(
		qq{SELECT rows_done >= 1000 FROM feed.fanout_jobs WHERE post_id = $post2
           UNION ALL SELECT false LIMIT 1}),
	'SIGTERM: the job is under way');
my ($slot, $victim) = split /\|/, q1(
	q{SELECT worker, pid FROM feed.worker_status()
      WHERE worker LIKE 'fanout %' AND state IN ('fanout', 'throttled')
      ORDER BY state_since DESC LIMIT 1});
ok($victim, "SIGTERM: $slot (pid $victim) is working on the job");
is( q1(
		qq{SELECT backend_type FROM pg_stat_activity WHERE pid = $victim}),
	'feed fanout worker', 'SIGTERM: it is a feed fanout worker in pg_stat_activity');
ok( eventually(
		qq{SELECT EXISTS (SELECT 1 FROM feed.worker_status()
                          WHERE pid = $victim AND state = 'throttled')}),
	'SIGTERM: the rate limit throttles it');

my ($done_at_kill) = q1(qq{SELECT rows_done FROM feed.fanout_jobs WHERE post_id = $post2});
ok(kill('TERM', $victim), "SIGTERM: sent to pid $victim");

ok(eventually(qq{SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $victim)}),
	'SIGTERM: the worker exited');
ok( eventually(
		qq{SELECT EXISTS (SELECT 1 FROM feed.worker_status() WHERE worker = '$slot' AND pid <> $victim)
              AND (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'feed fanout worker') = 2}),
	"SIGTERM: the launcher started a new worker in $slot");
my $new_pid = q1(qq{SELECT pid FROM feed.worker_status() WHERE worker = '$slot'});
isnt($new_pid, $victim, "SIGTERM: $slot has a new pid ($new_pid)");

# The job was not restarted from the beginning: its cursor only moves on.
# Rows and cursor commit together, so in one snapshot the inbox holds
# exactly the rows the cursor accounts for.
my ($done_now, $rows_now) = split /\|/, q1(
	qq{SELECT coalesce((SELECT rows_done FROM feed.fanout_jobs WHERE post_id = $post2), $nfollowers),
              (SELECT count(*) FROM feed.inbox WHERE entry_id = $post2 AND user_id <> $author)});
cmp_ok($done_now, '>=', $done_at_kill, 'SIGTERM: the job\'s cursor did not go back');
is($rows_now, $done_now, 'SIGTERM: the inbox holds exactly the rows the cursor accounts for');

ok(eventually(qq{SELECT NOT EXISTS (SELECT 1 FROM feed.fanout_jobs WHERE post_id = $post2)}),
	'SIGTERM: the job completed');
my $elapsed = time - $t_publish;
cmp_ok($elapsed, '>=', 3,
	sprintf('SIGTERM: 5000 rows at 1000 rows/s took %.1f s (rate limit honoured)', $elapsed));
check_exact_fanout($author, $post2, 'SIGTERM');
is(q1(q{SELECT feed.wait_idle('60 s')}), 't', 'SIGTERM: wait_idle returns true');
set_and_reload($node, 'feed.fanout_rate_limit' => undef);

###########################################################################
# 3. SIGHUP changes the number of workers.
###########################################################################

sub pool_is
{
	my ($n, $what) = @_;
	my $names = join ',', map { "feed fanout worker $_" } 0 .. $n - 1;
	ok( eventually(
			qq{SELECT coalesce(string_agg(application_name, ',' ORDER BY application_name), '') = '$names'
               FROM pg_stat_activity WHERE backend_type = 'feed fanout worker'}),
		"$what: $n workers in pg_stat_activity");
	is( q1(
			q{SELECT count(*) FROM feed.worker_status() WHERE worker LIKE 'fanout %'}),
		$n, "$what: $n workers in feed.worker_status()");
	return;
}

# Each pool size fans out a post completely.
my $round = 0;
sub fanout_round
{
	my ($what) = @_;
	$round++;
	my $post = q1(qq{SELECT feed.publish($author, 'round $round')});
	is(q1(q{SELECT feed.wait_idle('60 s')}), 't', "$what: wait_idle returns true");
	check_exact_fanout($author, $post, $what);
	return;
}

set_and_reload($node, 'feed.fanout_workers' => 3);
pool_is(3, 'SIGHUP 2 -> 3');
fanout_round('SIGHUP 2 -> 3');

set_and_reload($node, 'feed.fanout_workers' => 1);
pool_is(1, 'SIGHUP 3 -> 1');
fanout_round('SIGHUP 3 -> 1');

# With none, wait_idle applies the work in the caller.
set_and_reload($node, 'feed.fanout_workers' => 0);
pool_is(0, 'SIGHUP 1 -> 0');
is(q1(q{SELECT string_agg(worker, ',') FROM feed.worker_status()}),
	'launcher', 'SIGHUP 1 -> 0: only the launcher is left');
my $queued = q1(qq{SELECT feed.publish($author, 'no workers')});
usleep(500_000);
is(q1(qq{SELECT count(*) FROM feed.fanout_jobs WHERE post_id = $queued}),
	1, 'SIGHUP 1 -> 0: nobody fans out in the background');
is(q1(q{SELECT feed.wait_idle('60 s')}), 't', 'SIGHUP 1 -> 0: wait_idle does the work');
check_exact_fanout($author, $queued, 'SIGHUP 1 -> 0');

set_and_reload($node, 'feed.fanout_workers' => undef);
pool_is(2, 'SIGHUP 0 -> 2');
fanout_round('SIGHUP 0 -> 2');

###########################################################################
# 4. The log of all this.
###########################################################################

ok(!$node->log_contains(qr/\b(ERROR|FATAL|PANIC):/), 'no ERROR, FATAL or PANIC in the server log');

$node->stop;
done_testing();
