#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the resolver lookup of the twanon_incoming webhook of
# ngx_http_twanon_module, beyond the reply faults of twanon_resolver.t:
#
#   - twanon_resolver_timeout is one deadline for the whole lookup, which
#     sends the fallback whatever the resolver location is (proxy_pass
#     with a reply that trickles in, an upstream group that moves on to a
#     next server, fastcgi_pass, grpc_pass, return), with one error line
#     (limit_req and proxy_cache_lock: twanon_deadline.t);
#   - the resolver location sees a request of its own: no request
#     variable carries the webhook's values;
#   - a client that leaves during the lookup gets nothing, over HTTP/1.1
#     and HTTP/2 (RST_STREAM), and nothing is written to its stream;
#   - the webhook's own fields are strict: a repeated CallSid, From, To or
#     AccountSid, and a missing or malformed CallSid, are 400.

###############################################################################

use warnings;
use strict;

use Test::More;

use IO::Socket::INET;
use POSIX qw//;
use Time::HiRes qw/ time sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT webhook_request webhook_raw reply logged
	forking_server read_request silent_server json_response http_value
	dial_twiml call_pairs /;
use Test::Twanon::HTTP2 qw/ h2_frame h2_webhook h2_connect h2_read h2_ended
	h2_status h2_data /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $TOKEN = 'auth-token-for-lookup-tests-5c2e';

my $CALLER = '+15551234567';
my $CALLED = '+15557654321';
my $DIGITS = '5551234567';

my $DECL = qq{<?xml version="1.0" encoding="UTF-8"?>\n};
my $FALLBACK = $DECL . '<Response><Say>We are sorry, no one is available'
	. ' to take your call right now. Please try again later.</Say>'
	. "</Response>\n";

my $JSON = '{"appId":"user001","customerName":"Ann","customerId":42}';

my $VARS = '$http_user_agent|$http_cookie|$host|$proxy_add_x_forwarded_for'
	. '|$http_x_twilio_signature|$remote_user|$cookie_a|$http_host'
	. '|$content_type';

my $t = Test::Twanon->new()->has(qw/http http_v2 proxy fastcgi grpc/);

my $webhooks = '';

for my $name (qw/ ok slow trickle trickle_unbuffered next fastcgi grpc /) {
	$webhooks .= <<"EOF";
        location = /in/$name {
            twanon_incoming;
            twanon_resolver  /res/in/$name;
        }

EOF
}

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    upstream silent_pair {
        server  127.0.0.1:8083;
        server  127.0.0.1:8084;
    }

    server {
        listen       127.0.0.1:8080;
        listen       127.0.0.1:8085 http2;
        server_name  resolver.internal;

        twanon_auth_token        $TOKEN;
        twanon_account_sid       $ACCOUNT;
        twanon_resolver_timeout  1s;

        proxy_connect_timeout  5s;
        proxy_read_timeout     5s;

        location = /pid {
            return  200 \$pid;
        }

$webhooks
        location = /in/vars {
            # the webhook's own values are looked at, and cached, first

            set  \$ua  "\$http_user_agent \$host \$http_cookie";

            twanon_incoming;
            twanon_resolver  /res/in/vars;
        }

        location = /res/in/ok {
            internal;
            return  200 '$JSON';
        }

        location = /res/in/slow {
            internal;
            proxy_pass  http://127.0.0.1:8081/slow;
        }

        location = /res/in/trickle {
            internal;
            proxy_pass  http://127.0.0.1:8081/trickle;
        }

        location = /res/in/trickle_unbuffered {
            internal;
            proxy_buffering  off;
            proxy_pass  http://127.0.0.1:8081/trickle;
        }

        location = /res/in/next {
            internal;
            proxy_read_timeout    600ms;
            proxy_next_upstream   error timeout non_idempotent;
            proxy_pass  http://silent_pair;
        }

        location = /res/in/fastcgi {
            internal;
            fastcgi_read_timeout  5s;
            fastcgi_pass  127.0.0.1:8083;
        }

        location = /res/in/grpc {
            internal;
            grpc_read_timeout  5s;
            grpc_pass  grpc://127.0.0.1:8083;
        }

        location = /res/in/vars {
            internal;
            proxy_set_header  X-Vars  "$VARS";
            proxy_pass  http://127.0.0.1:8081/vars;
        }
    }
}

EOF

$t->run_backend(8081, \&forking_server, \&serve);
$t->run_backend(8083, \&silent_server, 8);
$t->run_backend(8084, \&silent_server, 8);

$t->run()->plan(42);

###############################################################################

my $pid = http_get('/pid') =~ /(\d+)$/ ? $1 : 'none';
like($pid, qr/^\d+$/, 'worker pid');

is(reply(call('ok')), routed(), 'control routed');

# one deadline, whatever the resolver location is: 200 and the fallback
# after twanon_resolver_timeout (1s), not after the 5s read timeouts

my $timed_out = 0;

for my $name (qw/ trickle trickle_unbuffered next fastcgi grpc /) {
	my $start = time();
	my $r = call($name);
	my $took = time() - $start;

	is(reply($r), "200 text/xml; charset=utf-8\n$FALLBACK",
		"deadline $name: fallback");
	ok($took >= 0.9 && $took < 1 + 2 * $t->slow, "deadline $name: in time")
		or diag(sprintf("took %.2fs\n", $took) . trace($name));

	$timed_out++;
}

is(worker(), $pid, 'deadline worker');
is(reply(call('ok')), routed(), 'routed after deadlines');

# the resolver's request is its own: no header variable of the webhook,
# no cached value, no Twilio header; $host is the server's name

my $r = call('vars', host => 'webhook.example', headers => [
	'User-Agent' => 'TwilioProxy/1.1',
	'Cookie' => 'a=b; c=d',
	'X-Forwarded-For' => '192.0.2.7',
	'Authorization' => 'Basic ' . 'dTpw',
]);

is(reply($r), routed(name => '||resolver.internal|127.0.0.1||||'
	. '|application/x-www-form-urlencoded'), 'resolver variables');

# a client that leaves during the lookup: over HTTP/1.1 the connection
# closes; over HTTP/2 the stream is reset (RST_STREAM CANCEL) and the
# server writes nothing to it, then serves the next stream

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . port(8080))
	or die "Can't connect: $!\n";
print $s request('slow');
sleep(0.3);
close $s;

my ($frames, $h2) = h2_cancel('slow');

ok(!grep({ $_->{sid} == 1 && $_->{type} <= 1 } @$frames),
	'http2 cancelled stream: nothing written')
	or diag(join ', ', map { "$_->{sid}:$_->{type}" } @$frames);
is(h2_status($frames, 3), 200, 'http2 next stream answered');
like($h2, qr!<Identity>user001</Identity>!, 'http2 next stream routed');

sleep(1.5 * $t->slow);

is(worker(), $pid, 'cancel worker');
is(reply(call('ok')), routed(), 'routed after cancels');

# strict fields: each of the four read once at most, a CallSid always

my @base = (
	AccountSid => $ACCOUNT,
	CallSid => 'CA' . 'ab' x 16,
	From => $CALLER,
	To => $CALLED,
);

my %bad = (
	'repeated CallSid' => [ @base, CallSid => 'CA' . 'cd' x 16 ],
	'repeated From' => [ @base, From => '+15550000000' ],
	'appended exact From' => [ @base, From => $CALLER ],
	'repeated To' => [ @base, To => $CALLED ],
	'repeated AccountSid' => [ @base, AccountSid => $ACCOUNT ],
	'no CallSid' => [ AccountSid => $ACCOUNT, From => $CALLER,
		To => $CALLED ],
	'empty CallSid' => [ @base[0, 1], CallSid => '', @base[4 .. 7] ],
	'malformed CallSid' => [ @base[0, 1], CallSid => 'CA-1',
		@base[4 .. 7] ],
	'long CallSid' => [ @base[0, 1], CallSid => 'CA' . 'f' x 63,
		@base[4 .. 7] ],
);

for my $name (sort keys %bad) {
	is(reply(call('ok', pairs => $bad{$name})),
		"400 text/plain; charset=utf-8\ninvalid webhook fields\n", $name);
}

is(reply(call('ok', pairs => [ @base, Digits => '1', Digits => '2' ])),
	routed(), 'other fields may repeat');
is(reply(call('ok', pairs => [ @base[0, 1], CallSid => 'CA' . 'f' x 62,
	@base[4 .. 7] ])), routed(), 'callsid of 64');

is(worker(), $pid, 'strict worker');

# twanon_resolver_timeout 0 would be no deadline at all: nginx -t fails

my ($rc, $out) = $t->nginx_t(<<'EOF');
%%TEST_GLOBALS%%

events {
}

http {
    server {
        location = /in {
            twanon_incoming;
            twanon_verify_signature  off;
            twanon_resolver          /res;
            twanon_resolver_timeout  0;
        }
    }
}
EOF

is($rc, 1, 'resolver timeout 0 fails');
my $emerg = '"twanon_resolver_timeout" directive must be between 1ms and 600s';
like($out, qr/\[emerg\] .*\Q$emerg\E in \S+nginx\.conf:12$/m,
	'resolver timeout 0 message');

###############################################################################

$t->stop();

my $log = $t->read_file('error.log');
my @lines = split /\n/, $log;

is(logged($log, 'error', 'did not answer within 1000 ms'), $timed_out,
	'one deadline line per lookup');
is(logged($log, 'info', 'twanon: webhook repeats "From"'), 2,
	'log repeated from');
is(logged($log, 'info', 'twanon: webhook repeats "CallSid"'), 1,
	'log repeated callsid');
is(logged($log, 'info', 'twanon: webhook without "CallSid"'), 1,
	'log no callsid');
is(logged($log, 'info', 'twanon: webhook with a malformed "CallSid"'), 3,
	'log malformed callsid');
is(logged($log, 'info',
	'twanon: client closed the connection during the lookup'), 2,
	'log clients gone');
is(scalar grep({ /output on closed stream/ } @lines), 0,
	'no output on closed stream');
unlike($log, qr/\Q$DIGITS\E/, 'error log without number');

###############################################################################

sub worker {
	return http_value('/pid');
}

sub routed {
	my (%o) = @_;

	my $name = defined $o{name} ? $o{name} : 'Ann';

	return "200 text/xml; charset=utf-8\n" . dial_twiml(identity => 'user001',
		caller_id => $CALLED, params => [ customerName => $name,
		customerId => 42 ]);
}

sub pairs {
	return call_pairs(AccountSid => $ACCOUNT, From => $CALLER, To => $CALLED);
}

# a signed webhook to /in/name

sub call {
	my ($name, %o) = @_;

	return webhook_request("/in/$name", token => $TOKEN,
		pairs => $o{pairs} || [ pairs() ],
		host => $o{host} || 'localhost', headers => $o{headers});
}

# on a miss, what the worker logged of that call's connection: its
# twanon, upstream and timer lines, the last 80

sub trace {
	my ($name) = @_;

	my $log = $t->read_file('error.log');
	my ($conn) = $log =~ m!\*(\d+) [^\n]*subrequest "/res/in/\Q$name\E!;

	return "no subrequest of /res/in/$name logged" unless defined $conn;

	my @lines = grep { /\*$conn / && /twanon|upstream|timer|finalize/ }
		split /\n/, $log;

	return join("\n", @lines > 80 ? @lines[-80 .. -1] : @lines);
}

# the raw HTTP/1.1 request of call()

sub request {
	my ($name) = @_;
	return webhook_raw("/in/$name", token => $TOKEN, pairs => [ pairs() ]);
}

###############################################################################

# HTTP/2 with prior knowledge: a signed webhook to /in/name on stream sid

sub h2_request {
	my ($sid, $name) = @_;
	return h2_webhook($sid, "/in/$name", $TOKEN, pairs());
}

# stream 1 asks for a slow lookup and is cancelled while it runs; stream
# 3 is a whole webhook; returns the frames read and the data of stream 3

sub h2_cancel {
	my ($name) = @_;

	my ($s, $state) = h2_connect(port(8085), h2_request(1, $name));

	sleep(0.3);

	print $s h2_frame(3, 0, 1, pack('N', 0x8)) . h2_request(3, 'ok');

	h2_read($s, $state, 3 * $t->slow,
		sub { h2_ended($state->{frames}, 3) });

	# the slow lookup of stream 1 ends after the last frame of stream 3:
	# wait for it, and for anything the server might still write

	h2_read($s, $state, 1.5 * $t->slow);

	close $s;

	return ($state->{frames}, h2_data($state->{frames}, 3));
}

###############################################################################

# the resolver backend: /slow answers after a second; /trickle sends its
# header and then a byte every 200ms; /vars answers with the X-Vars
# header it got as the customer's name

sub serve {
	my ($client) = @_;

	my $req = read_request($client);
	return unless defined $req;

	my ($name) = $req =~ m!^POST /(\w+) HTTP!;
	$name = '' unless defined $name;

	if ($name eq 'slow') {
		sleep(1);
		syswrite($client, json_response(200, $JSON));

	} elsif ($name eq 'trickle') {
		syswrite($client, "HTTP/1.0 200 OK\x0d\x0a"
			. "Content-Type: application/json\x0d\x0a\x0d\x0a");

		for (1 .. 40) {
			syswrite($client, ' ') or last;
			sleep(0.2);
		}

	} elsif ($name eq 'vars') {
		my ($vars) = $req =~ /^X-Vars: ([^\x0d\x0a]*)/mi;
		$vars = 'none' unless defined $vars;

		my $json = '{"appId":"user001","customerName":"' . $vars
			. '","customerId":42}';

		syswrite($client, json_response(200, $json));

	} else {
		syswrite($client, "HTTP/1.0 404 Not Found\x0d\x0a\x0d\x0a");
	}
}

###############################################################################
