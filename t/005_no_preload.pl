# Without shared_preload_libraries, CREATE EXTENSION still works (so a DBA
# can install first and restart later), but every function refuses to run
# with SQLSTATE 55000 and a hint saying how to fix it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION feed');

my @calls = (
	"SELECT feed.create_user('alice')",
	"SELECT feed.follow(1, 2)",
	"SELECT feed.publish(1, 'hello')",
	"SELECT * FROM feed.home(1)",
	"SELECT * FROM feed.user_posts(1, 2)",
	"SELECT * FROM feed.user_stats(1)",
	"SELECT feed.wait_idle()");

foreach my $sql (@calls)
{
	my ($rc, $stdout, $stderr) = $node->psql('postgres',
		"\\set VERBOSITY verbose\n$sql");
	isnt($rc, 0, "fails without preload: $sql");
	like($stderr, qr/ERROR:  55000: feed must be loaded via shared_preload_libraries/,
		"SQLSTATE 55000 and message: $sql");
	like($stderr, qr/HINT:  Add 'feed' to shared_preload_libraries/,
		"hint says how to fix it: $sql");
}

# Nothing was written by the refused calls.
is($node->safe_psql('postgres', 'SELECT count(*) FROM feed.users'),
	'0', 'no rows written');

# After adding the library and restarting, the same database works.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'feed'");
$node->restart;
like($node->safe_psql('postgres', "SELECT feed.create_user('alice')"),
	qr/^\d+$/, 'works once preloaded');

$node->stop;
done_testing();
