#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the cost of a large resolver reply to the twanon_incoming
# webhook of ngx_http_twanon_module: a 1 MiB reply made of escaped
# strings ("\n", "\u00e9"), in members the route keeps and in members it
# ignores, routes (or falls back, when it is cut before its last brace)
# with the worker's resident memory growing by less than 8 MiB over six
# such calls.  A number reaches the TwiML as the reply wrote it.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw/ time /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT webhook_request call_pairs worker_pids rss /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $TOKEN = 'auth-token-for-size-tests-7d2a';

my $CALLER = '+15551234567';
my $CALLED = '+15557654321';
my $DIGITS = '5551234567';

my $MIB = 1024 * 1024;

my $DECL = qq{<?xml version="1.0" encoding="UTF-8"?>\n};
my $FALLBACK = $DECL . '<Response><Say>We are sorry, no one is available'
	. ' to take your call right now. Please try again later.</Say>'
	. "</Response>\n";

my $t = Test::Twanon->new()->has(qw/http proxy/);

# escaped strings everywhere: ignored ones in arrays before and after, a
# kept member given first with a long escaped value and then again, the
# identity's name and value escaped; each array item has an escape

sub strings {
	my ($bytes) = @_;

	my @s;
	my $len = 0;

	while ($len < $bytes) {
		push @s, @s % 2 ? '"\u00e9"' : '"\n"';
		$len += length($s[-1]) + 1;
	}

	return join(',', @s);
}

my $big = '{"pad":[' . strings(600 * 1024) . '],'
	. '"customerName":"' . ('\n\u00e9' x 20000) . '",'
	. '"x\ny":{"\u0061ppId":"nobody","customerName":"\t"},'
	. '"\u0061ppId":["user\u0030\u00301"],'
	. '"customerName":"Caf\u00e9\/Bar","customerId":19.99,'
	. '"tail":[' . strings(300 * 1024) . ']}';

my %replies = (
	big_routed => $big,
	big_cut => substr($big, 0, -1),
	small => '{"appId":"user001","customerName":"Ann","customerId":19.99}',
);

my ($webhooks, $files) = ('', '');

for my $name (sort keys %replies) {
	$t->write_file("$name.json", $replies{$name});

	$webhooks .= <<"EOF";
        location = /in/$name {
            twanon_incoming;
            twanon_resolver  /res/$name;
        }

        location = /res/$name {
            internal;
            proxy_pass    http://127.0.0.1:8081/$name;
            proxy_method  GET;
            subrequest_output_buffer_size  2m;
        }

EOF

	$files .= <<"EOF";
        location = /$name {
            alias  %%TESTDIR%%/$name.json;
        }

EOF
}

$t->write_file_expand('nginx.conf', <<"EOF");

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

        twanon_auth_token  $TOKEN;

$webhooks    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        default_type  application/json;

$files    }
}

EOF

$t->run()->plan(12);

###############################################################################

# a signed webhook to /in/name

sub call {
	my ($name) = @_;

	my $r = webhook_request("/in/$name", token => $TOKEN,
		timeout => 30 * $t->slow, pairs => [ call_pairs(
			AccountSid => $ACCOUNT, CallStatus => undef,
			From => $CALLER, To => $CALLED) ]);

	return ($r->{status} // 'none') . "\n" . ($r->{body} // '');
}

# the routed TwiML for user001 with these parameters

sub dial {
	my (@params) = @_;

	my $p = '';

	while (@params) {
		my ($k, $v) = splice(@params, 0, 2);
		$p .= qq{<Parameter name="$k" value="$v"/>};
	}

	return "200\n" . $DECL . '<Response><Dial answerOnBridge="true"'
		. qq{ timeLimit="3600" timeout="30" callerId="$CALLED">}
		. '<Client><Identity>user001</Identity>'
		. qq{<Parameter name="twanonRinging" value="1"/>$p</Client>}
		. "</Dial></Response>\n";
}

sub worker {
	my $master = $t->read_file('nginx.pid') =~ s/\s+//gr;
	return $t->valgrind ? $master : (worker_pids($master))[0];
}

###############################################################################

cmp_ok(length $big, '>=', $MIB - 4096, 'reply of about 1 MiB');

# a number as the reply writes it

is(call('small'), dial(customerName => 'Ann', customerId => '19.99'),
	'number as written');

my $pid = worker();
my $before = rss($pid) // 0;
my @times;

for my $i (1 .. 3) {
	my $start = time();

	is(call('big_routed'), dial(customerName => "Caf\xc3\xa9/Bar",
		customerId => '19.99'), "1 MiB of escapes routed $i");

	push @times, time() - $start;
	$start = time();

	is(call('big_cut'), "200\n$FALLBACK", "1 MiB of escapes cut $i");

	push @times, time() - $start;
}

my $after = rss($pid) // 0;

diag(sprintf('worker VmRSS %d kB before, %d kB after, %+d kB;'
	. ' seconds per call %s', $before, $after, $after - $before,
	join(' ', map { sprintf('%.3f', $_) } @times)));

SKIP: {
	skip 'VmRSS is not the module\'s under valgrind', 1 if $t->valgrind;
	skip 'VmRSS holds ASan\'s quarantine of freed memory', 1
		if $ENV{TEST_NGINX_ASAN};

	cmp_ok($after - $before, '<', 8 * 1024, 'worker grew less than 8 MiB');
}

###############################################################################

$t->stop();

my $log = $t->read_file('error.log');

like($log, qr!resolver "/res/big_cut" invalid JSON \(status 200\)!,
	'cut reply logged invalid');
unlike($log, qr!resolver "/res/(?:big_routed|small)"!,
	'routed replies not logged');
unlike($log, qr/$DIGITS/, 'no caller number in log');

###############################################################################
