#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the resolver faults of the twanon_incoming webhook of
# ngx_http_twanon_module: a refused connection, a resolver that never
# answers or stalls, replies cut short of their Content-Length or of their
# last chunk, replies that never end, replies larger than (or exactly)
# subrequest_output_buffer_size, and bytes that are not UTF-8.  Each call
# gets 200 and the exact fallback (or routed) TwiML in bounded time, and
# the worker survives every fault.

###############################################################################

use warnings;
use strict;

use Test::More;

use IO::Socket::INET;
use POSIX qw//;
use Time::HiRes qw/ time sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT webhook_request reply logged forking_server
	read_request write_all http_value dial_twiml call_pairs /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $TOKEN = 'auth-token-for-resolver-tests-8a1f';

my $CALLER = '+15551234567';
my $CALLED = '+15557654321';
my $DIGITS = '5551234567';

my $DECL = qq{<?xml version="1.0" encoding="UTF-8"?>\n};
my $FALLBACK = $DECL . '<Response><Say>We are sorry, no one is available'
	. ' to take your call right now. Please try again later.</Say>'
	. "</Response>\n";

my $t = Test::Twanon->new()->has(qw/http proxy/);

# resolver locations: name => extra directives; all proxy to the backend
# on 8081 (the one named "refused" to a port nothing listens on)

my %resolvers = (
	ok => '',
	close => '',
	garbage => '',
	silent => '',
	stall => '',
	partial => '',
	partial_json => '',
	no_length => '',
	chunked_ok => "            proxy_http_version  1.1;\n",
	chunked_cut => "            proxy_http_version  1.1;\n",
	chunked_bad => "            proxy_http_version  1.1;\n",
	drip => "            subrequest_output_buffer_size  256;\n",
	drip_unbuffered => "            subrequest_output_buffer_size  256;\n"
		. "            proxy_buffering  off;\n",
	big => '',
	big_chunked => "            proxy_http_version  1.1;\n",
	exact => "            subrequest_output_buffer_size  256;\n",
	over => "            subrequest_output_buffer_size  256;\n",
	bytes => '',
	bytes_lead => '',
	refused => '',
);

my $locations = '';

for my $name (sort keys %resolvers) {
	my $port = $name eq 'refused' ? 8089 : 8081;

	$locations .= <<"EOF";
        location = /in/$name {
            twanon_incoming;
            twanon_resolver  /res/$name;
        }

        location = /res/$name {
            internal;
            proxy_pass  http://127.0.0.1:$port/$name;
$resolvers{$name}        }

EOF
}

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        twanon_auth_token  $TOKEN;

        proxy_connect_timeout  1s;
        proxy_send_timeout     1s;
        proxy_read_timeout     1s;

        twanon_resolver_timeout  2s;

        location = /pid {
            return  200 \$pid;
        }

$locations    }
}

EOF

# the port of "refused" is found free and left closed

port(8089);

$t->run_backend(8081, \&forking_server, \&serve);

$t->run()->plan(71);

###############################################################################

my %sid;
my @bodies;

# a signed webhook to /in/name; returns "status type\nbody" and the
# seconds it took

sub call {
	my ($name) = @_;

	my %pairs = my @pairs = call_pairs(AccountSid => $ACCOUNT,
		From => $CALLER, To => $CALLED);
	my $sid = $pairs{CallSid};
	my $start = time();

	my $r = webhook_request("/in/$name", token => $TOKEN, pairs => \@pairs,
		timeout => 10 * $t->slow);

	my $took = time() - $start;

	$sid{$name} = $sid;
	push @bodies, $r->{body} if defined $r->{body};

	return wantarray ? (reply($r), $took) : reply($r);
}

sub xml {
	return "200 text/xml; charset=utf-8\n" . $_[0];
}

sub routed {
	my ($params) = @_;

	$params = '<Parameter name="customerName" value="Ann"/>'
		. '<Parameter name="customerId" value="42"/>'
		unless defined $params;

	return xml(dial_twiml(identity => 'user001', caller_id => $CALLED,
		params => $params));
}

sub worker {
	return http_value('/pid');
}

###############################################################################

my $pid = worker();

like($pid, qr/^\d+$/, 'worker pid');

is(call('ok'), routed(), 'control routed');
is(call('no_length'), routed(), 'reply without length routed');
is(call('chunked_ok'), routed(), 'chunked reply routed');

# faults: the fallback, and the worker lives on

for my $case (
	[ 'refused', 'connection refused' ],
	[ 'close', 'closed without reply' ],
	[ 'garbage', 'not http' ],
	[ 'partial', 'shorter than content length' ],
	[ 'partial_json', 'whole json short of content length' ],
	[ 'chunked_cut', 'chunked without last chunk' ],
	[ 'chunked_bad', 'bad chunk size' ],
	[ 'big', '1 MiB reply' ],
	[ 'big_chunked', '1 MiB chunked reply' ],
	[ 'over', 'reply over buffer size' ],
)
{
	my ($name, $what) = @$case;

	my ($reply, $took) = call($name);

	is($reply, xml($FALLBACK), $what);
	ok($took < 3 * $t->slow, "$what in time") or diag("took $took s");
	is(worker(), $pid, "$what worker");
}

# read timeouts: about proxy_read_timeout (1s); a reply that trickles in
# never trips it, and ends at twanon_resolver_timeout (2s)

for my $case (
	[ 'silent', 'no reply' ],
	[ 'stall', 'stalled body' ],
	[ 'drip', 'endless reply' ],
	[ 'drip_unbuffered', 'endless unbuffered reply' ],
)
{
	my ($name, $what) = @$case;

	my ($reply, $took) = call($name);

	is($reply, xml($FALLBACK), $what);
	ok($took > 0.8 && $took < 3.5 * $t->slow, "$what in time")
		or diag("took $took s");
	is(worker(), $pid, "$what worker");
}

# a reply of exactly subrequest_output_buffer_size routes

is(call('exact'), routed('<Parameter name="customerName" value="Ann"/>'),
	'reply of buffer size');
is(worker(), $pid, 'reply of buffer size worker');

# bytes that are not UTF-8: each one becomes U+FFFD

my $R = "\xef\xbf\xbd";

is(call('bytes'), routed('<Parameter name="customerName"'
	. qq{ value="a${R}b${R}${R}c${R}${R}${R}d${R}${R}${R}${R}e"/>}
	. qq{<Parameter name="customerId" value="${R}${R}"/>}),
	'invalid utf-8');
is(call('bytes_lead'), routed('<Parameter name="customerName"'
	. qq{ value="a${R}${R}b"/>}), 'invalid utf-8 lead bytes');
is(worker(), $pid, 'invalid utf-8 worker');

is(call('ok'), routed(), 'routed after faults');

###############################################################################

$t->stop();

my $log = $t->read_file('error.log');
my @lines = split /\n/, $log;

for my $name (qw/ refused close partial partial_json chunked_cut
	chunked_bad big big_chunked over silent stall drip drip_unbuffered /)
{
	is(logged($log, 'error', qq{twanon: resolver "/res/$name" failed or }
		. qq{was cut short (status }), 1, "log $name")
		or diag(join "\n", grep { /call "$sid{$name}"/ } @lines);
}

is(logged($log, 'error', 'twanon: resolver "/res/drip" did not answer within '
	. '2000 ms'), 1, 'log drip deadline');

# nginx reads a reply with no status line as HTTP/0.9: any reason will do

is(logged($log, 'error', qq{twanon: resolver "/res/garbage" }), 1,
	'log garbage');

unlike($log, qr/call "$sid{ok}"/, 'log routed quiet');
unlike($log, qr/call "$sid{exact}"/, 'log exact quiet');

is(join("\n", grep { /$DIGITS/ } split /\n/, $log), '',
	'error log without number');
is(join("\n", grep { /$DIGITS/ } @bodies), '', 'number not served');

###############################################################################

# the resolver backend: one child per connection, each bounded in time

sub serve {
	my ($client) = @_;

	my $req = read_request($client);
	return unless defined $req;

	my ($name) = $req =~ m!^POST /(\w+) HTTP!;
	$name = '' unless defined $name;

	my $json = '{"appId":"user001","customerName":"Ann","customerId":42}';

	my $ok = "HTTP/1.0 200 OK\x0d\x0a"
		. "Content-Type: application/json\x0d\x0a";

	my $chunked = "HTTP/1.1 200 OK\x0d\x0a"
		. "Content-Type: application/json\x0d\x0a"
		. "Transfer-Encoding: chunked\x0d\x0a"
		. "Connection: close\x0d\x0a\x0d\x0a";

	my $length = sub { "Content-Length: $_[0]\x0d\x0a\x0d\x0a" };

	my $send = sub { write_all($client, @_) };

	if ($name eq 'ok') {
		$send->($ok . $length->(length $json) . $json);

	} elsif ($name eq 'no_length') {
		$send->($ok . "\x0d\x0a" . $json);

	} elsif ($name eq 'chunked_ok') {
		$send->($chunked . sprintf("%x\x0d\x0a", length $json)
			. "$json\x0d\x0a0\x0d\x0a\x0d\x0a");

	} elsif ($name eq 'close') {
		return;

	} elsif ($name eq 'garbage') {
		$send->("SPDY/9 what\x0d\x0a\x0d\x0a$json");

	} elsif ($name eq 'partial') {
		$send->($ok . $length->(length($json) + 40) . substr($json, 0, 20));
		sleep(0.2);

	} elsif ($name eq 'partial_json') {
		$send->($ok . $length->(length($json) + 40) . $json);
		sleep(0.2);

	} elsif ($name eq 'chunked_cut') {
		$send->($chunked . sprintf("%x\x0d\x0a", length $json)
			. "$json\x0d\x0a");
		sleep(0.2);

	} elsif ($name eq 'chunked_bad') {
		$send->($chunked . "zz\x0d\x0a$json\x0d\x0a0\x0d\x0a\x0d\x0a");
		sleep(0.2);

	} elsif ($name eq 'silent') {
		sleep(6);

	} elsif ($name eq 'stall') {
		$send->($ok . $length->(length $json) . substr($json, 0, 20));
		sleep(6);

	} elsif ($name eq 'drip' || $name eq 'drip_unbuffered') {

		# no length, 8 bytes every 0.3s: never silent for
		# proxy_read_timeout (1s), never done; 256 bytes after 2.1s

		my $head = '{"appId":"user001","customerName":"';
		my $body = $head . 'x' x (200 - length $head);

		$send->($ok . "\x0d\x0a" . $body);

		for (1 .. 30) {
			sleep(0.3);
			$send->('x' x 8);
		}

	} elsif ($name eq 'big' || $name eq 'big_chunked') {
		my $big = '{"appId":"user001","pad":"' . 'x' x (1024 * 1024) . '"}';

		if ($name eq 'big') {
			$send->($ok . $length->(length $big), $big);

		} else {
			$send->($chunked, sprintf("%x\x0d\x0a", length $big), $big,
				"\x0d\x0a0\x0d\x0a\x0d\x0a");
		}

		sleep(0.2);

	} elsif ($name eq 'exact' || $name eq 'over') {
		my $head = '{"appId":"user001","customerName":"Ann","pad":"';
		my $size = $name eq 'exact' ? 256 : 257;
		my $body = $head . 'x' x ($size - length($head) - 2) . '"}';

		$send->($ok . $length->(length $body) . $body);

	} elsif ($name eq 'bytes') {

		# a lone continuation byte, an overlong "/", a surrogate, a code
		# point past U+10FFFF, a cut sequence

		my $body = '{"appId":"user001","customerName":"'
			. "a\x80b\xc0\xafc\xed\xa0\x80d\xf4\x90\x80\x80e"
			. '","customerId":"' . "\xe2\x82" . '"}';

		$send->($ok . $length->(length $body) . $body);

	} elsif ($name eq 'bytes_lead') {

		# a lead byte followed by another lead byte

		my $body = '{"appId":"user001","customerName":"'
			. "a\xc3\xc3b" . '"}';

		$send->($ok . $length->(length $body) . $body);
	}
}

###############################################################################
