
# The fanout workers on a big audience (issue 3): an author with 200,000
# followers, fanned out by the background workers (no feed.wait_idle() in
# the caller doing the work).
#
# 1. kill -9 of the postmaster and all its children in the middle of the
#    fanout of two posts (feed.inbox has some but not all of their rows);
#    after the restart the workers resume from the persisted cursors by
#    themselves, and every follower ends with exactly one entry per post
#    (invariant I6).
# 2. Backlog degradation: with feed.fanout_backlog_limit below the pending
#    rows and a slow feed.fanout_rate_limit, the launcher switches the author
#    to pull mode: its queued jobs are dropped, fanout_status shows it, the
#    server log says so, and the dropped posts (and new ones) are still in
#    every follower's feed, exactly as the plain-SQL oracle says.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

use FindBin;
use lib $FindBin::RealBin;
use FeedTestUtil;

my $timeout    = 180;       # seconds, for every wait below
my $nfollowers = 200000;
my $chunk      = 20000;     # follows per transaction

my $node = PostgreSQL::Test::Cluster->new('fanout_workers');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'feed'
feed.database = 'postgres'
feed.fanout_workers = 2
feed.fanout_batch_size = 1000
# 200k followers must be fanned out here, not pulled as a celebrity.
feed.celebrity_threshold = 1000000
restart_after_crash = on
# every client statement would be logged, 200k-row ones included
log_statement = none
});
$node->start;

sub q1 { return $node->safe_psql('postgres', shift) }

# Polls $sql until it returns 't'; returns whether it did within $timeout.
sub eventually { return poll_until(\&q1, shift, $timeout, 100_000) }

# The oracle of DESIGN.md in plain SQL, the page walker and the page-by-page
# comparison of feed.home with the oracle, shared with sql/home.sql and
# sql/fanout.sql (sql/include/), in a schema of their own since every q1()
# is a new session.
q1('CREATE EXTENSION feed');
q1('CREATE SCHEMA t');
for my $name ('oracle', 'exact')
{
	my $file = "$FindBin::RealBin/../sql/include/$name.sql";
	open my $fh, '<', $file or die "cannot read $file: $!";
	local $/;
	(my $sql = <$fh>) =~ s/\bpg_temp\./t./g;
	close $fh;
	q1($sql);
}

# Workers are up: the launcher and two fanout workers, named in
# pg_stat_activity.
ok( eventually(
		q{SELECT count(*) FILTER (WHERE backend_type = 'feed launcher') = 1
            AND count(*) FILTER (WHERE backend_type = 'feed fanout worker') = 2
         FROM pg_stat_activity}),
	'launcher and 2 fanout workers are running');

###########################################################################
# Setup: 200k followers.
###########################################################################

my $t0   = time;
my $star = q1(q{SELECT feed.create_user('star')});
q1( qq{SELECT count(feed.create_user('u' || i)) FROM generate_series(1, $nfollowers) i});
# One transaction per chunk of follows; each follow queues an inbox
# backfill and two counter deltas, which the workers apply meanwhile.
q1( join(
		"\n",
		map {
			my $lo = $_ * $chunk + 1;
			my $hi = $lo + $chunk - 1;
			qq{SELECT count(feed.follow(u.user_id, $star)) FROM generate_series($lo, $hi) i
JOIN feed.users u ON u.handle = 'u' || i;}
		} 0 .. $nfollowers / $chunk - 1));
is(q1(q{SELECT feed.wait_idle('300 s')}), 't', 'setup: backfills and counters settled');
is(q1(qq{SELECT follower_count FROM feed.user_stats($star)}),
	$nfollowers, "setup: star has $nfollowers followers");
note(sprintf('setup took %.1f s', time - $t0));

my $workers_log_start = -s $node->logfile;

###########################################################################
# 1. kill -9 in the middle of the fanout.
###########################################################################

# 20k rows/s for both workers together: the 400k rows of two posts take
# about 20 s, so the crash lands in the middle.
set_and_reload($node, 'feed.fanout_rate_limit' => 20000);

my $total = 2 * $nfollowers;
my $posts = q1(
	qq{SELECT string_agg(feed.publish($star, 'star post ' || i)::text, ',') FROM generate_series(1, 2) i});
my ($p1, $p2) = split /,/, $posts;
my $rows_sql =
  qq{SELECT count(*) FROM feed.inbox WHERE entry_id IN ($p1, $p2) AND user_id <> $star};

# Both workers are at work (on either job: a throttled worker sleeps between
# transactions, so the other may take the next batch of the same job).
ok( eventually(
		q{SELECT count(*) = 2 FROM feed.worker_status()
          WHERE worker LIKE 'fanout %' AND state IN ('fanout', 'throttled')}),
	'scenario 1: both workers are fanning out');

my $before = 0;
my $deadline = time + $timeout;
while (time < $deadline)
{
	$before = q1($rows_sql);
	last if $before >= 30000;
	usleep(100_000);
}
cmp_ok($before, '>=', 30000, 'scenario 1: the workers wrote some inbox rows');
cmp_ok($before, '<', $total, 'scenario 1: ... but not all of them');

crash_and_restart($node, 'scenario 1', $timeout);
ok($node->log_contains('database system was interrupted|was not properly shut down'),
	'scenario 1: the server went through crash recovery');

# Right after the restart, in one snapshot: the posts survived; the jobs are
# still queued with cursors that moved (the fanout resumes there, it does
# not start over); the inbox holds part of the rows, exactly those the
# cursors account for (rows and cursor commit together).
my ($after_crash, $nposts, $jobs, $moved, $done) = split /\|/, q1(
	qq{SELECT ($rows_sql),
              (SELECT count(*) FROM feed.posts WHERE post_id IN ($p1, $p2)),
              count(*), count(*) FILTER (WHERE next_follower > 0), coalesce(sum(rows_done), 0)
       FROM feed.fanout_jobs});
cmp_ok($after_crash, '>', 0,      'scenario 1: committed batches survived the crash');
cmp_ok($after_crash, '<', $total, 'scenario 1: the crash interrupted the fanout');
is($nposts, 2, 'scenario 1: both posts survived');
cmp_ok($jobs,  '>=', 1, 'scenario 1: the interrupted jobs are still queued');
cmp_ok($moved, '>=', 1, 'scenario 1: their persisted cursors moved past the first batches');
is($after_crash, $done + (2 - $jobs) * $nfollowers,
	'scenario 1: the inbox holds exactly the rows the cursors account for');

# The workers come back by themselves and finish; wait_idle only waits.
ok( eventually(
		q{SELECT count(*) FILTER (WHERE backend_type = 'feed launcher') = 1
            AND count(*) FILTER (WHERE backend_type = 'feed fanout worker') = 2
         FROM pg_stat_activity}),
	'scenario 1: launcher and workers are back after the restart');
set_and_reload($node, 'feed.fanout_rate_limit' => undef);
ok(eventually(q{SELECT NOT EXISTS (SELECT 1 FROM feed.fanout_jobs)}),
	'scenario 1: the workers finished the fanout');
is(q1(q{SELECT feed.wait_idle('60 s')}), 't', 'scenario 1: wait_idle returns true');

# Exactly one entry per (follower, post), and nothing for anyone else.
my ($expected, $got, $distinct, $missing, $extra) = split /\|/, q1(
	qq{
WITH f AS (SELECT follower_id AS user_id FROM feed.follows
           WHERE followee_id = $star AND state = 'active'),
     expected AS (SELECT f.user_id, p.entry_id FROM f, (VALUES ($p1), ($p2)) p(entry_id)),
     got AS (SELECT user_id, entry_id FROM feed.inbox
             WHERE entry_id IN ($p1, $p2) AND user_id <> $star)
SELECT (SELECT count(*) FROM expected),
       (SELECT count(*) FROM got),
       (SELECT count(*) FROM (SELECT DISTINCT user_id, entry_id FROM got) d),
       (SELECT count(*) FROM (SELECT * FROM expected EXCEPT SELECT * FROM got) m),
       (SELECT count(*) FROM (SELECT * FROM got EXCEPT SELECT * FROM expected) x)});
is($expected, $total, 'scenario 1: 2 posts x 200k followers expected');
is($missing,  0,      'scenario 1: every follower has both entries');
is($extra,    0,      'scenario 1: no entry for a non-follower');
is($got, $distinct, 'scenario 1: no entry twice');
is($got, $expected, 'scenario 1: exactly one entry per follower and post');
is( q1(
		qq{SELECT count(*) FROM feed.inbox WHERE user_id = $star AND entry_id IN ($p1, $p2)}),
	2, 'scenario 1: the author has both posts in their own inbox');

# A sample of followers (first, last, spread between) reads an exact feed.
my $sample = qq{SELECT user_id FROM feed.users WHERE handle IN
  ('u1', 'u2', 'u999', 'u1000', 'u1001', 'u50000', 'u100000', 'u150001', 'u199999', 'u200000')};
is( q1(
		qq{SELECT count(*) FILTER (WHERE t.exact(user_id, 1) AND t.exact(user_id, 50))
           FROM ($sample) s}),
	10, 'scenario 1: sampled followers\' feeds equal the oracle');

ok( !$node->log_contains(qr/\b(ERROR|PANIC):/, $workers_log_start),
	'scenario 1: no ERROR in the server log');

###########################################################################
# 2. Backlog: the author goes to pull mode.
###########################################################################

# A small author followed by 2000 of the same users: its one post is a
# small backlog, kept pushed.
my $small = q1(q{SELECT feed.create_user('small')});
q1( qq{SELECT count(feed.follow(u.user_id, $small)) FROM generate_series(1, 2000) i
JOIN feed.users u ON u.handle = 'u' || (i * 100)});
is(q1(q{SELECT feed.wait_idle('60 s')}), 't', 'scenario 2: setup settled');

# Slow fanout and a limit below two posts' worth of followers: the backlog
# of the next two posts (400k rows) passes it at once.
my $log_offset = -s $node->logfile;
set_and_reload(
	$node,
	'feed.fanout_rate_limit'   => 2000,
	'feed.fanout_backlog_limit' => 300000);
my $posts2 = q1(
	qq{SELECT string_agg(feed.publish($star, 'star storm ' || i)::text, ',') FROM generate_series(1, 2) i});
my ($s1, $s2) = split /,/, $posts2;
my $sp = q1(qq{SELECT feed.publish($small, 'small post')});

ok(eventually(q{SELECT authors_in_pull_mode > 0 FROM feed.fanout_status}),
	'scenario 2: fanout_status shows an author in pull mode');
is( q1(
		qq{SELECT u.handle || ':' || m.reason || ':' || (m.until > now()) || ':' || (m.rows_avoided > 0)
           FROM feed.fanout_pull_mode m JOIN feed.users u ON u.user_id = m.author_id}),
	'star:backlog:true:true',
	'scenario 2: star (the largest backlog) is in pull mode because of the backlog');
ok( $node->wait_for_log(
		qr/LOG:  feed: fanout backlog over feed.fanout_backlog_limit \(300000 rows\); author $star switched to pull mode for 10 minutes/,
		$log_offset),
	'scenario 2: the server log says which author switched and why');
is(q1(qq{SELECT count(*) FROM feed.fanout_jobs WHERE author_id = $star}),
	0, 'scenario 2: star\'s queued jobs were dropped');
is( q1(
		qq{SELECT $s1 BETWEEN first_post_id AND last_post_id AND $s2 BETWEEN first_post_id AND last_post_id
           FROM feed.pull_authors WHERE author_id = $star}),
	't', 'scenario 2: the dropped posts are in star\'s pulled range');
my $storm_rows = q1(qq{SELECT count(*) FROM feed.inbox WHERE entry_id IN ($s1, $s2)});
note("scenario 2: $storm_rows inbox rows were written before the switch");

# A new post of star's is pulled while the mode lasts: no job, no inbox row.
my $s3 = q1(qq{SELECT feed.publish($star, 'star while pulled')});
is( q1(
		qq{SELECT (SELECT count(*) FROM feed.fanout_jobs WHERE post_id = $s3) = 0
              AND (SELECT count(*) FROM feed.inbox WHERE entry_id = $s3) = 0
              AND (SELECT last_post_id = $s3 FROM feed.pull_authors WHERE author_id = $star)}),
	't', 'scenario 2: star\'s next post is pulled, not queued');

# The small author was not switched: its job is still served.
is(q1(qq{SELECT count(*) FROM feed.fanout_pull_mode WHERE author_id = $small}),
	0, 'scenario 2: the small author stays in push mode');

# Every follower still sees the dropped posts and the new one: checked with
# feed.home for every 100th follower (2000 of them, the small author's
# followers among them), and page by page against the oracle for a sample.
is( q1(
		qq{SELECT count(*) FROM feed.users u
           WHERE u.handle ~ '^u[0-9]+\$' AND substr(u.handle, 2)::int % 100 = 0
             AND (SELECT count(*) FROM feed.home(u.user_id, 10) h
                  WHERE h.post_id IN ($s1, $s2, $s3)) = 3}),
	2000, 'scenario 2: 2000 of 2000 checked followers see all three pulled posts');
is( q1(
		qq{SELECT count(*) FILTER (WHERE t.exact(user_id, 2) AND t.exact(user_id, 50))
           FROM ($sample) s}),
	10, 'scenario 2: sampled followers\' feeds equal the oracle');
is(q1(qq{SELECT t.exact($star, 3)}), 't', 'scenario 2: the author\'s own feed equals the oracle');

# Back to normal limits: the small author's job completes; nothing of star's
# was queued again.
set_and_reload(
	$node,
	'feed.fanout_rate_limit'   => undef,
	'feed.fanout_backlog_limit' => undef);
is(q1(q{SELECT feed.wait_idle('120 s')}), 't', 'scenario 2: wait_idle returns true');
is( q1(
		q{SELECT queued_jobs || ':' || pending_rows || ':' || authors_in_pull_mode FROM feed.fanout_status}),
	'0:0:1', 'scenario 2: fanout_status: no job or pending row left; star still in pull mode');
is(q1(qq{SELECT count(*) FROM feed.inbox WHERE entry_id = $sp}),
	2001, 'scenario 2: the small author\'s post reached its 2000 followers and itself');
is( q1(
		qq{SELECT count(*) FILTER (WHERE t.exact(user_id, 50)) FROM ($sample) s}),
	10, 'scenario 2: sampled followers\' feeds still equal the oracle');

ok( !$node->log_contains(qr/\b(ERROR|PANIC):/, $workers_log_start),
	'no ERROR in the server log');

$node->stop;
done_testing();
