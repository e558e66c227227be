#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the harness itself: a test file whose nginx cannot start fails,
# it is never skipped.  Small test files written here use t/lib/Test/
# Twanon.pm the way the suite does, and each runs under prove (App::Prove,
# what the prove command runs), against the nginx and module the suite
# runs against:
#
#   a config with a misspelled module directive ("twanon_tokn") and a
#   module nginx cannot load both fail the file, through run() and
#   through check_module() (nginx -t), with nginx's own message printed;
#   the same files with a good config pass, and the token they ask for
#   comes from the module, so that each case can fail both ways;
#
#   skip_file() is prove's "skipped: <reason>", and t/check-skips.pl on
#   that output of prove fails (strict, as under CI=true) for a reason
#   t/allowed-skips does not allow, and passes one it allows.

###############################################################################

use warnings;
use strict;

use Test::More;

use Cwd qw/ abs_path /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT run_command /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $LIB = abs_path('lib');
my $CHECK = abs_path('check-skips.pl');
my $ALLOW = abs_path('allowed-skips');

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $KEY = 'SK' . 'fedcba9876543210fedcba9876543210';
my $SECRET = 'harness-secret-0b7e31';

my $t = Test::Twanon->new()->plan(24);

my $dir = $t->testdir();

###############################################################################

# a test file: nginx with a /token location whose first directive is given,
# started with run(); one test, the token of the module

sub run_file {
	my ($directive) = @_;

	return <<"EOF";
use warnings;
use strict;

use Test::More;

use lib '$LIB';
use Test::Twanon;

my \$t = Test::Twanon->new()->has(qw/http/);

\$t->write_file_expand('nginx.conf', <<'CONF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        location = /token {
            $directive;
            twanon_account_sid  $ACCOUNT;
            twanon_api_key      $KEY;
            twanon_api_secret   $SECRET;
        }
    }
}

CONF

\$t->run()->plan(1);

my \$jwt = qr/[\\w-]+\\.[\\w-]+\\.[\\w-]+/;

like(http_get('/token?identity=alice'),
	qr/^HTTP\\/1\\.1 200 .*\\{"identity":"alice","token":"\$jwt"\\}\\z/s,
	'token');
EOF
}

# a test file that only runs nginx -t, after check_module()

my $check_file = <<"EOF";
use warnings;
use strict;

use Test::More;

use lib '$LIB';
use Test::Twanon;

my \$t = Test::Twanon->new()->has(qw/http/);

\$t->check_module()->plan(1);

my (\$rc, \$out) = \$t->nginx_t(<<'CONF');

%%TEST_GLOBALS%%

events {
}

http {
    twanon_account_sid  $ACCOUNT;
}

CONF

is(\$rc, 0, 'nginx -t') or diag(\$out);
EOF

# prove -v on a test file written with that text; returns its exit status
# and its output (stdout and stderr)

sub prove {
	my ($name, $text, %env) = @_;

	my $file = "$dir/$name";
	$t->write_file($file, $text);

	return run_command({ timeout => 60 * $t->slow, dir => $dir,
		env => \%env }, $^X, '-MApp::Prove', '-e',
		'my $p = App::Prove->new;'
		. ' $p->process_args(@ARGV);'
		. ' exit($p->run ? 0 : 1)', '--', '-v', $name);
}

# t/check-skips.pl --strict on prove's output; its exit status and output

sub check_skips {
	my ($log) = @_;

	my $path = "$dir/prove.log";
	$t->write_file($path, $log);

	my $out = `$^X $CHECK --strict --target=test --allow=$ALLOW $path 2>&1`;

	return ($? >> 8, $out);
}

###############################################################################

# run(): a good config passes, with the module's token

my ($rc, $out) = prove('good.t', run_file('twanon_token'));

is($rc, 0, 'good config passes') or diag($out);
like($out, qr/^ok 1 - token$/m, 'good config token');
unlike($out, qr/skipped/i, 'good config not skipped');

# a misspelled directive: the file fails, with nginx's message

($rc, $out) = prove('misspelled.t', run_file('twanon_tokn'));

isnt($rc, 0, 'misspelled directive fails');
like($out, qr/\[emerg\] .*unknown directive "twanon_tokn"/,
	'misspelled directive error log shown');
like($out, qr/nginx failed to start: nginx exited with status 1/,
	'misspelled directive reason');
unlike($out, qr/skipped|# SKIP/i, 'misspelled directive not skipped');

# a module nginx cannot load: the file fails, with nginx's message

my $missing = "$dir/no-such-dir/ngx_http_twanon_module.so";

($rc, $out) = prove('unloadable.t', run_file('twanon_token'),
	TEST_NGINX_MODULE => $missing);

isnt($rc, 0, 'unloadable module fails');
like($out, qr/\[emerg\] (?:\d+#\d+: )?dlopen\(\) "\Q$missing\E" failed/,
	'unloadable module error shown');
unlike($out, qr/skipped|# SKIP/i, 'unloadable module not skipped');

# check_module(): nginx -t with the module, then without it

($rc, $out) = prove('check.t', $check_file);

is($rc, 0, 'check_module passes') or diag($out);
like($out, qr/^ok 1 - nginx -t$/m, 'check_module then nginx -t');

($rc, $out) = prove('check-unloadable.t', $check_file,
	TEST_NGINX_MODULE => $missing);

isnt($rc, 0, 'check_module unloadable fails');
like($out, qr/\[emerg\] (?:\d+#\d+: )?dlopen\(\) "\Q$missing\E" failed/,
	'check_module nginx -t output shown');
like($out, qr/nginx -t failed: the module does not load/,
	'check_module reason');
unlike($out, qr/skipped|# SKIP/i, 'check_module unloadable not skipped');

# skip_file(): prove's "skipped:" line, which CI refuses unless
# t/allowed-skips allows the reason

my $skip = "use lib '$LIB';\nuse Test::Twanon;\nskip_file('%s');\n";

($rc, $out) = prove('skip.t', sprintf($skip, 'no frobnicator here'));

is($rc, 0, 'skip passes prove');
like($out, qr/^skip\.t \.+ skipped: no frobnicator here$/m, 'skip reason');

my ($crc, $cout) = check_skips($out);

is($crc, 1, 'skip not allowed fails ci');
like($cout, qr/^  skip\.t: no frobnicator here\n +NOT ALLOWED/m,
	'skip not allowed listed');

($rc, $out) = prove('allowed.t',
	sprintf($skip, 'playwright-core needs node 20 or newer'));

like($out, qr/^allowed\.t \.+ skipped: playwright-core needs node 20/m,
	'allowed skip reason');

($crc, $cout) = check_skips($out);

is($crc, 0, 'allowed skip passes ci') or diag($cout);
like($cout, qr/^  allowed\.t: playwright-core .*\n +allowed \(/m,
	'allowed skip listed');

# no skip at all

($crc, $cout) = check_skips("good.t .. ok\n");

like($cout, qr/^test: no test file skipped$/m, 'no skip listed');

###############################################################################
