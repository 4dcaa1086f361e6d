
# The shared-memory feed cache (issue 4) on a real server, with real
# concurrent backends:
#
# 1. Stampede: 50 sessions read the same cold feed at once.  Exactly one
#    rebuilds it, the 49 others wait for it on the condition variable and
#    are served the result (feed.cache_stats counts one rebuild, 49 waits).
#    The build is held up by a lock on feed.pull_authors, so that all 50
#    really are concurrent.
# 2. The rebuilder is killed (pg_terminate_backend) in the middle of its
#    build: its claim is released, a waiter takes over, every surviving
#    reader gets the right page, and the next read is a cache hit.
# 3. Stale while revalidate: once feed.cache_ttl has passed, one reader
#    refreshes the feed while the others are served the old copy at once.
# 4. The differential test (sql/differential.sql, 8,000 random operations
#    checked against a plain-SQL oracle) passes with the default cache size;
#    the regress suites run it with a 1MB cache, which forces evictions.
# 5. No PANIC or unexpected FATAL in the server log.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

use FindBin;
use lib $FindBin::RealBin;
use FeedTestUtil;

my $timeout = $ENV{FEED_T060_TIMEOUT} // 180;
my $readers = 50;

my $node = PostgreSQL::Test::Cluster->new('cache');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'feed'
feed.database = 'regress060'
feed.fanout_workers = 2
max_connections = 80
max_prepared_transactions = 0
# parts 1 to 3 count builds from the first read; part 4 uses the default
feed.cache_admission = 'first_read'
});
$node->start;
$node->safe_psql('postgres',
	"CREATE DATABASE regress060 TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'");

sub q1 { return $node->safe_psql('regress060', shift) }

# Polls $sql until it returns 't'; on failure, also shows what the readers
# were waiting for.
sub eventually
{
	my ($sql) = @_;
	return 1 if poll_until(\&q1, $sql, $timeout, 50_000);
	diag("readers by wait event: "
		  . q1(q{SELECT string_agg(coalesce(wait_event_type, '-') || ':' || coalesce(wait_event, '-') || '=' || n, ', ')
		         FROM (SELECT wait_event_type, wait_event, count(*) AS n FROM pg_stat_activity
		               WHERE application_name = 'reader' GROUP BY 1, 2) s}));
	return 0;
}

sub stats { return q1("SELECT rebuilds, waits, misses, hits, stale_serves FROM feed.cache_stats") }

q1(q{CREATE EXTENSION feed});

# One viewer following 20 authors with 10 posts each.
my $viewer = q1(q{SELECT feed.create_user('viewer')});
q1(qq{
	SELECT feed.follow($viewer, feed.create_user('author' || a)) FROM generate_series(1, 20) a;
	SELECT feed.publish(u.user_id, u.handle || ' post ' || n)
	FROM feed.users u, generate_series(1, 10) n WHERE u.handle LIKE 'author%';
	SELECT feed.wait_idle();
});
my $expected = q1(qq{SET feed.cache = off; SELECT count(*) FROM feed.home($viewer, 50)});
is($expected, '50', 'the viewer has a full first page');

# Starts $n sessions that each read the viewer's first page, waiting for
# another backend's build up to a minute; returns the sessions.
sub start_readers
{
	my ($n) = @_;
	my @s;
	for my $i (1 .. $n)
	{
		my $s = $node->background_psql('regress060', timeout => $timeout);
		$s->query_safe("SET feed.cache_wait = '60s'; SET application_name = 'reader'");
		$s->query_until(qr/started/,
			"\\echo started\nSELECT 'rows=' || count(*) FROM feed.home($viewer, 50);\n");
		push @s, $s;
	}
	return @s;
}

# Every session printed the full page.
sub finish_readers
{
	my ($what, @s) = @_;
	my $ok = 0;
	for my $s (@s)
	{
		$s->quit;
		$ok++ if $s->{stdout} =~ /rows=$expected/;
	}
	is($ok, scalar @s, "$what: every reader got the whole page");
}

###########################################################################
# 1. Stampede
###########################################################################
q1(q{SELECT feed.cache_reset()});
my ($r0, $w0, $m0) = split /\|/, stats();

my $locker = $node->background_psql('regress060', timeout => $timeout);
$locker->query_safe(q{BEGIN; LOCK TABLE feed.pull_authors IN ACCESS EXCLUSIVE MODE});
my @s = start_readers($readers);

# one backend builds (blocked on the lock), the others sleep on the cache
ok( eventually(
		q{SELECT count(*) FILTER (WHERE wait_event_type = 'Lock') = 1
		     AND count(*) FILTER (WHERE wait_event_type = 'Extension') = } . ($readers - 1) . q{
		  FROM pg_stat_activity WHERE application_name = 'reader'}),
	'stampede: one reader builds, the others wait for it');
$locker->query_safe('COMMIT');
finish_readers('stampede', @s);

my ($r1, $w1, $m1) = split /\|/, stats();
is($r1 - $r0, 1, 'stampede: exactly one rebuild for 50 concurrent readers of a cold feed');
is($w1 - $w0, $readers - 1, 'stampede: the other 49 waited for it');
is($m1 - $m0, $readers, 'stampede: 50 misses counted');

###########################################################################
# 2. The rebuilder is killed mid-build
###########################################################################
q1(q{SELECT feed.cache_reset()});
($r0, $w0) = split /\|/, stats();
$locker->query_safe(q{BEGIN; LOCK TABLE feed.pull_authors IN ACCESS EXCLUSIVE MODE});
@s = start_readers(10);
ok( eventually(
		q{SELECT count(*) FILTER (WHERE wait_event_type = 'Lock') = 1
		     AND count(*) FILTER (WHERE wait_event_type = 'Extension') = 9
		  FROM pg_stat_activity WHERE application_name = 'reader'}),
	'kill: one reader builds, nine wait');
my $builder = q1(q{SELECT pid FROM pg_stat_activity
                   WHERE application_name = 'reader' AND wait_event_type = 'Lock'});
q1("SELECT pg_terminate_backend($builder)");

# a waiter takes the build over (and blocks on the same lock)
ok( eventually(
		qq{SELECT count(*) FILTER (WHERE wait_event_type = 'Lock') = 1
		     AND bool_and(pid <> $builder)
		  FROM pg_stat_activity WHERE application_name = 'reader'}),
	'kill: a waiter took the build over');
$locker->query_safe('COMMIT');

my $survivors = 0;
my $killed    = 0;
for my $s (@s)
{
	# the killed reader's psql has exited: writing \q to it fails
	eval { $s->quit };
	if ($s->{stdout} =~ /rows=$expected/) { $survivors++ }
	else                                  { $killed++ }
}
is($survivors, 9, 'kill: the nine other readers got the whole page');
is($killed,    1, 'kill: only the killed reader got nothing');
($r1) = split /\|/, stats();
is($r1 - $r0, 1, 'kill: one completed rebuild');
my (undef, undef, undef, $h0) = split /\|/, stats();
is(q1("SELECT count(*) FROM feed.home($viewer, 50)"), $expected, 'kill: the next read is right');
my (undef, undef, undef, $h1) = split /\|/, stats();
is($h1 - $h0, 1, 'kill: ... and served from the cache');

###########################################################################
# 3. Stale while revalidate
###########################################################################
set_and_reload($node, 'feed.cache_ttl' => '1s');
usleep(1_500_000);
my (undef, undef, undef, undef, $st0) = split /\|/, stats();
$locker->query_safe(q{BEGIN; LOCK TABLE feed.pull_authors IN ACCESS EXCLUSIVE MODE});
@s = start_readers(1);
ok( eventually(
		q{SELECT count(*) = 1 FROM pg_stat_activity
		  WHERE application_name = 'reader' AND wait_event_type = 'Lock'}),
	'stale: the first reader after the TTL refreshes (held up by the lock)');
is(q1("SELECT count(*) FROM feed.home($viewer, 50)"), $expected,
	'stale: another reader is served the old copy meanwhile');
my (undef, undef, undef, undef, $st1) = split /\|/, stats();
is($st1 - $st0, 1, 'stale: counted as a stale serve');
$locker->query_safe('COMMIT');
finish_readers('stale', @s);
$locker->quit;
set_and_reload($node, 'feed.cache_ttl' => undef);

###########################################################################
# 4. The differential test with the default cache size
###########################################################################
set_and_reload($node, 'feed.cache_admission' => 'second_read');
is(q1(q{SHOW feed.cache_admission}), 'second_read', 'differential: with the default admission');
my $outdir = "$PostgreSQL::Test::Utils::tmp_check/regress_060";
mkdir $outdir;
my $rc = system(
	$ENV{PG_REGRESS}, '--use-existing', '--bindir=',
	'--host=' . $node->host, '--port=' . $node->port,
	'--dbname=regress060', '--inputdir=.', "--outputdir=$outdir",
	'differential');
is($rc, 0, 'differential test passes with the default cache size and admission');
if ($rc != 0 && open my $fh, '<', "$outdir/regression.diffs")
{
	diag(join '', grep { defined } (<$fh>)[0 .. 80]);
}

###########################################################################
# 5. The log
###########################################################################
my $log = slurp_file($node->logfile);
unlike($log, qr/PANIC|TRAP/, 'no PANIC in the log');
# (the launcher may start before regress060 exists, and then retries)
my @fatal =
  grep { !/terminating connection due to administrator command|"regress060" does not exist/ }
  ($log =~ /^.*FATAL:.*$/mg);
is(scalar @fatal, 0, 'no FATAL but the terminated reader') or diag(join "\n", @fatal);

$node->stop;
done_testing();
