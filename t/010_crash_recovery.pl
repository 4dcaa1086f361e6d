
# Crash safety of the fanout queue (DESIGN.md invariant I6): a kill -9 of the
# server at any moment loses no committed write, pending fanout resumes after
# the restart, no inbox entry appears twice, and ids keep increasing.
#
# 1. Posts committed, fanout still queued (workers are off here, so only
#    feed.wait_idle() fans out), kill -9, restart: posts and jobs are there, wait_idle
#    delivers exactly one entry per (follower, post).
# 2. kill -9 in the middle of a big fanout (20k followers, batches of 500)
#    run by feed.wait_idle(), restart, wait_idle again: still exactly one
#    entry per (follower, post).
# 3. kill -9 of the backend running that fanout only: the postmaster resets
#    all backends by itself; the same guarantees hold afterwards.

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

my $timeout = 120;    # seconds, for every wait below

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'feed'
feed.database = 'postgres'
feed.fanout_batch_size = 500
# This file tests fanout run by feed.wait_idle() in a backend; the workers
# have their own crash tests (t/020), and a 20k-follower author must be
# fanned out here, not pulled as a celebrity.
feed.fanout_workers = 0
feed.celebrity_threshold = 1000000
fsync = off
restart_after_crash = on
});
$node->start;

sub q1 { return $node->safe_psql('postgres', shift) }

# Exactly one inbox entry per (active follower of $author, post of $author),
# and nothing else of $author's in anybody's inbox except the author's own.
sub check_inbox_exact
{
	my ($author, $what) = @_;
	my $res = q1(
		qq{
WITH p AS (SELECT post_id FROM feed.posts WHERE author_id = $author AND deleted_at IS NULL),
     f AS (SELECT follower_id AS user_id FROM feed.follows
           WHERE followee_id = $author AND state = 'active'),
     expected AS (SELECT f.user_id, p.post_id AS entry_id FROM f, p),
     got AS (SELECT i.user_id, i.entry_id FROM feed.inbox i JOIN p ON p.post_id = i.entry_id
             WHERE i.user_id <> $author)
SELECT (SELECT count(*) FROM expected),
       (SELECT count(*) FROM got),
       (SELECT count(*) FROM (SELECT DISTINCT user_id, entry_id FROM got) d),
       (SELECT count(*) FROM (SELECT * FROM expected EXCEPT SELECT * FROM got) m),
       (SELECT count(*) FROM (SELECT * FROM got EXCEPT SELECT * FROM expected) x)});
	my ($expected, $got, $distinct, $missing, $extra) = split /\|/, $res;
	cmp_ok($expected, '>', 0, "$what: author has followers and posts");
	is($missing, 0, "$what: every follower has every post in the inbox");
	is($extra, 0, "$what: no inbox entry for a non-follower");
	is($got, $distinct, "$what: no inbox entry appears twice");
	is($got, $expected, "$what: one inbox entry per (follower, post)");
	return;
}

sub inbox_has_no_duplicates
{
	my ($what) = @_;
	is( q1(
			q{SELECT count(*) = count(DISTINCT (user_id, entry_id)) FROM feed.inbox}),
		't',
		"$what: feed.inbox has no duplicate (user, entry)");
	return;
}

q1('CREATE EXTENSION feed');

###########################################################################
# Scenario 1: committed posts with their fanout still queued.
###########################################################################

my $a1 = q1(q{SELECT feed.create_user('author1')});
my $a2 = q1(q{SELECT feed.create_user('author2')});
q1(q{SELECT count(feed.create_user('fan' || i)) FROM generate_series(1, 60) i});
q1( qq{SELECT count(feed.follow(u.user_id, a.author))
FROM feed.users u, (VALUES ($a1), ($a2)) a(author)
WHERE u.handle LIKE 'fan%'});
# The follows were made before any post: settle their bookkeeping so the
# only pending work at the crash is the fanout of the posts below.
is(q1(q{SELECT feed.wait_idle('60 s')}), 't', 'setup: wait_idle');

# Several transactions, each committed before the crash.
for my $round (1 .. 5)
{
	q1( qq{SELECT feed.publish($a1, 'author1 post $round.' || i) FROM generate_series(1, 2) i});
	q1(qq{SELECT feed.publish($a2, 'author2 post $round')});
}
my $orig = q1(qq{SELECT min(post_id) FROM feed.posts WHERE author_id = $a1});
q1(qq{SELECT feed.repost($a2, $orig)});
q1(qq{SELECT feed.like($a2, $orig)});

my $posts_before = q1(q{SELECT string_agg(post_id::text, ',' ORDER BY post_id) FROM feed.posts});
my $nposts       = q1(q{SELECT count(*) FROM feed.posts});
my $jobs_before  = q1(q{SELECT count(*) FROM feed.fanout_jobs});
my $max_post     = q1(q{SELECT max(post_id) FROM feed.posts});
my $max_user     = q1(q{SELECT max(user_id) FROM feed.users});
is($nposts, 16, 'scenario 1: 16 posts committed');
cmp_ok($jobs_before, '>', 0, 'scenario 1: fanout jobs are pending before the crash');

crash_and_restart($node, 'scenario 1', $timeout);
ok( $node->log_contains('database system was interrupted|was not properly shut down'),
	'scenario 1: the server went through crash recovery');

is(q1(q{SELECT string_agg(post_id::text, ',' ORDER BY post_id) FROM feed.posts}),
	$posts_before, 'scenario 1: every committed post survived');
is(q1(q{SELECT count(*) FROM feed.fanout_jobs}),
	$jobs_before, 'scenario 1: the pending fanout jobs survived');
is(q1(q{SELECT count(*) FROM feed.likes}), 1, 'scenario 1: the like survived');

# New ids are above everything issued before the crash.
my $new_post = q1(qq{SELECT feed.publish($a1, 'after the crash')});
my $new_user = q1(q{SELECT feed.create_user('late_fan')});
ok( q1(qq{SELECT ${new_post}::bigint > ${max_post}::bigint}) eq 't',
	'scenario 1: a post id issued after the restart is greater than every id before');
ok( q1(qq{SELECT ${new_user}::bigint > ${max_user}::bigint}) eq 't',
	'scenario 1: a user id issued after the restart is greater than every id before');

is(q1(q{SELECT feed.wait_idle('60 s')}), 't', 'scenario 1: wait_idle completes the fanout');
is(q1(q{SELECT count(*) FROM feed.fanout_jobs}), 0, 'scenario 1: no fanout job left');
check_inbox_exact($a1, 'scenario 1, author1');
check_inbox_exact($a2, 'scenario 1, author2');
inbox_has_no_duplicates('scenario 1');

# The home feed of a follower: every original once (author1's 11 posts incl.
# the one after the crash, author2's 5; the repost folds into its original).
my $fan = q1(q{SELECT user_id FROM feed.users WHERE handle = 'fan7'});
is( q1(
		qq{SELECT count(*), count(DISTINCT post_id) FROM feed.home($fan, 200)}),
	'16|16',
	'scenario 1: a follower\'s home feed shows every post once');
is( q1(
		qq{SELECT count(*) FROM feed.posts p
WHERE p.author_id IN ($a1, $a2) AND p.repost_of IS NULL
  AND NOT EXISTS (SELECT 1 FROM feed.home($fan, 200) h WHERE h.post_id = p.post_id)}),
	0,
	'scenario 1: no post is missing from the follower\'s home feed');
is( q1(
		qq{SELECT count(*) FROM feed.home($fan, 200) h WHERE h.post_id <> h.entry_id}),
	0,
	'scenario 1: the reposted original shows as itself (it came first)');

###########################################################################
# Scenario 2: kill -9 of the whole server in the middle of a big fanout.
###########################################################################

my $nfollowers = 20000;
my $nbig       = 4;
my $big        = q1(q{SELECT feed.create_user('big')});
q1( qq{SELECT count(feed.create_user('f' || i)) FROM generate_series(1, $nfollowers) i});
# In chunks of 2000, one transaction each: feed.follow takes a transaction-
# level lock per pair, and 20000 of them would overflow the lock table.
q1( join(
		"\n",
		map {
			my $lo = $_ * 2000 + 1;
			my $hi = $lo + 1999;
			qq{SELECT count(feed.follow(u.user_id, $big)) FROM generate_series($lo, $hi) i
JOIN feed.users u ON u.handle = 'f' || i;}
		} 0 .. $nfollowers / 2000 - 1));
# Generous: this applies 20000 inbox backfills and 40000 counter deltas.
is(q1(q{SELECT feed.wait_idle('300 s')}), 't', 'scenario 2: setup settled');
is( q1(
		qq{SELECT count(*) FROM feed.follows WHERE followee_id = $big AND state = 'active'}),
	$nfollowers,
	"scenario 2: big has $nfollowers followers");

# Start wait_idle in a background psql session and kill the server once the
# inbox has grown, i.e. the fanout is under way.
sub start_big_fanout
{
	my ($tag) = @_;
	q1( qq{SELECT feed.publish($big, 'big post $tag.' || i) FROM generate_series(1, $nbig) i});
	my $size0 = q1(q{SELECT pg_relation_size('feed.inbox')});
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-XAtq', '-d', $node->connstr('postgres'),
			'-c',   "SELECT feed.wait_idle('$timeout s')"
		],
		'<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout($timeout + 60));

	# Wait for the backend and for the inbox to grow by some batches.
	my ($pid, $grown) = ('', 0);
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		my $r = q1(
			qq{SELECT coalesce((SELECT pid FROM pg_stat_activity
                       WHERE query LIKE 'SELECT feed.wait_idle%' AND pid <> pg_backend_pid()), 0),
                      pg_relation_size('feed.inbox') > $size0 + 16 * 8192});
		my ($p, $g) = split /\|/, $r;
		$pid = $p if $p;
		if ($g eq 't' && $pid) { $grown = 1; last; }
		last unless $h->pumpable;    # psql already finished
		usleep(20_000);
	}
	return ($h, \$out, \$err, $pid, $grown);
}

my ($h, $out, $err, $bpid, $grown) = start_big_fanout('2');
ok($bpid, 'scenario 2: wait_idle is running in the background');
ok($grown, 'scenario 2: the fanout wrote some inbox rows before the crash');

crash_and_restart($node, 'scenario 2', $timeout);
eval { $h->finish; };    # psql lost its server; its exit status does not matter
diag('scenario 2: wait_idle had finished before the kill; the crash interrupted nothing')
  if $$out =~ /^t$/m;

cmp_ok(q1(q{SELECT count(*) FROM feed.posts WHERE author_id = } . $big),
	'==', $nbig, 'scenario 2: the big posts survived');
is(q1(q{SELECT feed.wait_idle('120 s')}), 't', 'scenario 2: wait_idle after the restart');
is(q1(q{SELECT count(*) FROM feed.fanout_jobs}), 0, 'scenario 2: no fanout job left');
check_inbox_exact($big, 'scenario 2');
inbox_has_no_duplicates('scenario 2');

###########################################################################
# Scenario 3: kill -9 of only the backend running the fanout.  The
# postmaster terminates every backend, reinitialises and recovers on its own.
###########################################################################

($h, $out, $err, $bpid, $grown) = start_big_fanout('3');
ok($bpid,  'scenario 3: wait_idle is running in the background');
ok($grown, 'scenario 3: the fanout wrote some inbox rows before the crash');
kill 9, $bpid if $bpid;
eval { $h->finish; };
ok( $node->poll_query_until('postgres', 'SELECT true'),
	'scenario 3: the server is back after the backend crash');
ok($node->log_contains("was terminated by signal 9"),
	'scenario 3: the postmaster saw the backend crash');
is(q1(q{SELECT feed.wait_idle('120 s')}), 't', 'scenario 3: wait_idle after the recovery');
is(q1(q{SELECT count(*) FROM feed.fanout_jobs}), 0, 'scenario 3: no fanout job left');
check_inbox_exact($big, 'scenario 3');
inbox_has_no_duplicates('scenario 3');

my $after = q1(qq{SELECT feed.publish($big, 'after the backend crash')});
ok( q1(
		qq{SELECT ${after}::bigint > (SELECT max(post_id) FROM feed.posts WHERE post_id <> $after)}
	) eq 't',
	'scenario 3: ids keep increasing');

$node->stop;
done_testing();
