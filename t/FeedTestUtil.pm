
# Helpers shared by the TAP tests of t/: crashing and restarting a node the
# way a power loss would, changing settings at run time, and polling.  Loaded with
#   use FindBin;
#   use lib $FindBin::RealBin;
#   use FeedTestUtil;
# so it is found from any working directory (make test-tap runs prove from
# a staged copy of the tree).

package FeedTestUtil;

use strict;
use warnings;

use Exporter 'import';
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(children_of crash_and_restart set_and_reload poll_until);

# Pids of the children of $ppid, read from /proc (ppid is field 4 of
# /proc/PID/stat, after the parenthesised command name).
sub children_of
{
	my ($ppid) = @_;
	my @kids;
	for my $stat (glob '/proc/[0-9]*/stat')
	{
		open my $fh, '<', $stat or next;
		my $line = <$fh>;
		close $fh;
		next unless defined $line && $line =~ /^(\d+) \(.*\) \S (\d+) /s;
		push @kids, $1 if $2 == $ppid;
	}
	return @kids;
}

# kill -9 the postmaster of $node and every process it started (workers
# included), as a power loss or the OOM killer taking the whole server
# would.  (Killing only the postmaster leaves a busy backend running to
# completion, which is not a crash of that backend's work.)  Then restart,
# retrying while the old processes still hold the shared memory; one test
# result "$what: server restarts after kill -9", and a bail-out if it does
# not within $timeout seconds.
sub crash_and_restart
{
	my ($node, $what, $timeout) = @_;
	$timeout //= 120;
	my $pidfile = $node->data_dir . '/postmaster.pid';
	open my $fh, '<', $pidfile or die "cannot read $pidfile: $!";
	chomp(my $pm = <$fh>);
	close $fh;
	my @kids = children_of($pm);

	$node->kill9;
	kill 9, @kids if @kids;

	my $deadline = time + $timeout;
	while (grep { kill 0, $_ } $pm, @kids)
	{
		die "server processes still alive ${timeout}s after kill -9"
		  if time > $deadline;
		usleep(100_000);
	}

	my $started = 0;
	for (1 .. 100)
	{
		if ($node->start(fail_ok => 1)) { $started = 1; last; }
		usleep(100_000);
	}
	ok($started, "$what: server restarts after kill -9");
	BAIL_OUT("server did not restart") unless $started;
	return;
}

# Runs $sql through $query (a sub that returns the first column, such as a
# test's q1) every $poll_us microseconds until it returns 't'; returns 1,
# or 0 (with a diagnostic) if that did not happen within $timeout seconds.
sub poll_until
{
	my ($query, $sql, $timeout, $poll_us) = @_;
	$poll_us //= 100_000;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		return 1 if $query->($sql) eq 't';
		usleep($poll_us);
	}
	diag("still not true after ${timeout}s: $sql");
	return 0;
}

# ALTER SYSTEM SET each name => value (undef: RESET) on $node, then reload.
sub set_and_reload
{
	my ($node, %settings) = @_;
	for my $name (sort keys %settings)
	{
		my $v = $settings{$name};
		$node->safe_psql('postgres',
			defined $v ? "ALTER SYSTEM SET $name = '$v'" : "ALTER SYSTEM RESET $name");
	}
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	# Workers and the launcher reload at the top of their loops (a SIGHUP
	# sets their latch); give them a moment.
	usleep(300_000);
	return;
}

1;
