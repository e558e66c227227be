#!/usr/bin/perl

# Copyright (C) twanon authors

# Shared webhook keys across reloads: a level with more keys than the
# array first holds (five, then seven, then three), each key verifying
# before and after each reload, a key removed refused.  Every key's HMAC
# contexts are freed with the configuration they belong to, once: under
# ASan (make test-asan), LeakSanitizer in the old workers and the master
# finds a key left behind, and a double free is reported, which the
# harness's "no sanitizer errors" check fails on.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT webhook_request http_value worker_pids
	new_workers /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $FROM = '+15553337777';
my $DIGITS = qr/5553337777/;

my %SECRET = map { ("f$_" => "reload-key-$_-5e0b") } 1 .. 7;

my $t = Test::Twanon->new()->has(qw/http proxy master_process/);

# each generation answers /generation with its number, and has the keys
# named

sub conf {
	my ($generation, @keys) = @_;

	my $keys = join('', map {
		"            twanon_webhook_key  $_ $SECRET{$_};\n" } @keys);

	return <<"EOF";

%%TEST_GLOBALS%%

daemon off;
worker_processes  1;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        location = /generation {
            return 200 "$generation\\n";
        }

        location = /five {
            twanon_incoming;
            twanon_resolver  /resolver;
$keys        }

        location = /resolver {
            internal;
            proxy_pass  http://127.0.0.1:8081/route;
        }
    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        location = /route {
            return 200 '{"appId":"op_1","customerName":"Ann","customerId":"42"}';
        }
    }
}

EOF
}

$t->write_file_expand('nginx.conf', conf(1, map { "f$_" } 1 .. 5));

$t->run()->plan(19);

###############################################################################

my $MASTER = $t->read_file('nginx.pid');
chomp $MASTER;

my $n = 0;

# a webhook signed under the key named, with HMAC-SHA1; its status, and
# whether it was routed

sub hook {
	my ($key) = @_;

	my @pairs = (
		AccountSid => 'AC' . '0' x 32,
		CallSid => sprintf('CA%032x', 0x5e100000 + ++$n),
		From => $FROM,
		To => '+15557654321',
	);

	my $r = webhook_request('/five', token => $SECRET{$key},
		pairs => \@pairs, headers => [
			'X-Twilio-Webhooks-Signature-Settings' =>
				"key=$key,algorithm=HMAC_SHA1" ]);

	my $status = $r->{status} // 'none';

	return $status == 200 && ($r->{body} // '') =~ /<Identity>op_1</
		? 'routed' : $status;
}

# a reload to that generation; waits, within 20 s, until the old worker
# is gone (until then it may still accept) and the new one answers

sub reload {
	my ($generation, @keys) = @_;

	my @old = worker_pids($MASTER);

	$t->write_file_expand('nginx.conf', conf($generation, @keys));
	kill('HUP', $MASTER) or die "Can't send HUP to $MASTER: $!\n";

	new_workers($MASTER, 1, @old);

	return http_value('/generation');
}

###############################################################################

is(join(' ', map { hook("f$_") } 1 .. 5), join(' ', ('routed') x 5),
	'five keys');
is(hook('f5'), 'routed', 'five keys: the last again');
is(hook('f1'), 'routed', 'five keys: the first again');

is(reload(2, map { "f$_" } 1 .. 7), 2, 'reload to seven keys');
is(join(' ', map { hook("f$_") } 1 .. 7), join(' ', ('routed') x 7),
	'seven keys');
is(hook('f1'), 'routed', 'seven keys: the first again');

is(reload(3, map { "f$_" } 1 .. 3), 3, 'reload to three keys');
is(join(' ', map { hook("f$_") } 1 .. 3), join(' ', ('routed') x 3),
	'three keys');
is(hook('f4'), 403, 'three keys: a removed key refused');

is(reload(4, map { "f$_" } 7, 1 .. 5), 4, 'reload to six keys');
is(join(' ', map { hook("f$_") } 7, 1 .. 5), join(' ', ('routed') x 6),
	'six keys');

# a reload to the same configuration

is(reload(5, map { "f$_" } 7, 1 .. 5), 5, 'reload to the same keys');
is(join(' ', map { hook("f$_") } 7, 1 .. 5), join(' ', ('routed') x 6),
	'the same keys');

###############################################################################

$t->stop();

my $log = $t->read_file('error.log');

is(scalar(() = $log =~ /signal 1 \(SIGHUP\) received/g), 4, 'four reloads');
is(join("\n", grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $log), '',
	'no alert, crit or emerg');
is(join("\n", grep { index($log, $_) >= 0 } values %SECRET), '',
	'no secret in the log');
is(join("\n", grep { /$DIGITS/ } split /\n/, $log), '',
	'no number in the log');
is(scalar(() = $log =~ /\[warn\] .*twanon: .*refused \(unknown key id\)/g),
	1, 'one refusal logged');
is($n, 31, 'every webhook sent');

###############################################################################
