#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for twanon_resolver_timeout of ngx_http_twanon_module: the
# deadline bounds the lookup whatever the resolver location does, not only
# when it proxies to an upstream:
#
#   - limit_req with a burst delays lookups past the deadline: every
#     webhook gets the fallback at the deadline, over HTTP/1.1 and HTTP/2;
#   - proxy_cache_lock: a lookup waits on the lock another request holds;
#   - the lookup is left to end on its own: its late reply adds nothing to
#     what the client got, the HTTP/1.1 connection says "close" and is
#     closed once the lookup ends, the HTTP/2 connection serves on;
#   - clients that leave after the fallback, over HTTP/1.1 and HTTP/2,
#     while their lookups go on;
#   - each webhook is counted once in the status metrics, one error line
#     per deadline.

###############################################################################

use warnings;
use strict;

use Test::More;

use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw/ time sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT webhook_request webhook_raw reply logged
	forking_server read_request parse_response json_response metric http_value
	dial_twiml call_pairs /;
use Test::Twanon::HTTP2 qw/ h2_webhook h2_connect h2_read h2_ended h2_status
	h2_data /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $TOKEN = 'auth-token-for-deadline-tests-7a41';

my $CALLER = '+15551234567';
my $CALLED = '+15557654321';
my $DIGITS = '5551234567';

my $DECL = qq{<?xml version="1.0" encoding="UTF-8"?>\n};
my $FALLBACK = "200 text/xml; charset=utf-8\n" . $DECL
	. '<Response><Say>We are sorry, no one is available'
	. ' to take your call right now. Please try again later.</Say>'
	. "</Response>\n";

my $JSON = '{"appId":"user001","customerName":"Ann","customerId":42}';

# the deadline, and the slack a reply may take beyond it

my $DEADLINE = 0.4;

my $t = Test::Twanon->new()->has(qw/http http_v2 proxy limit_req/);

my $SLACK = 0.5 * $t->slow;

my $webhooks = '';

for my $name (qw/ ok limit limit2 lock /) {
	$webhooks .= <<"EOF";
        location = /in/$name {
            twanon_incoming;
            twanon_resolver  /res/$name;
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

    twanon_status_zone  64k;

    limit_req_zone  \$binary_remote_addr  zone=lookups:1m   rate=1r/s;
    limit_req_zone  \$binary_remote_addr  zone=lookups2:1m  rate=1r/s;

    proxy_cache_path  %%TESTDIR%%/cache  keys_zone=lock:1m;

    server {
        listen       127.0.0.1:8080;
        listen       127.0.0.1:8085 http2;
        server_name  localhost;

        twanon_auth_token        $TOKEN;
        twanon_account_sid       $ACCOUNT;
        twanon_resolver_timeout  400ms;

        location = /pid {
            return  200 \$pid;
        }

        location = /metrics {
            twanon_status;
        }

$webhooks
        location = /res/ok {
            internal;
            return  200 '$JSON';
        }

        location = /res/limit {
            internal;
            limit_req  zone=lookups burst=5;
            proxy_pass  http://127.0.0.1:8081/ok;
        }

        location = /res/limit2 {
            internal;
            limit_req  zone=lookups2 burst=5;
            proxy_pass  http://127.0.0.1:8081/ok;
        }

        location = /res/lock {
            internal;
            proxy_cache               lock;
            proxy_cache_key           lookup;
            proxy_cache_methods       POST;
            proxy_cache_lock          on;
            proxy_cache_lock_timeout  5s;
            proxy_cache_valid         200 1m;
            proxy_read_timeout        5s;
            proxy_pass  http://127.0.0.1:8081/lock;
        }

        location = /fill {
            proxy_cache               lock;
            proxy_cache_key           lookup;
            proxy_cache_lock          on;
            proxy_cache_valid         200 1m;
            proxy_read_timeout        5s;
            proxy_pass  http://127.0.0.1:8081/lock;
        }
    }
}

EOF

$t->run_backend(8081, \&forking_server, \&serve);

$t->run()->plan(39);

###############################################################################

my $pid = worker();
like($pid, qr/^\d+$/, 'worker pid');

is(reply(call('ok')), routed(), 'control routed');

my $deadlines = 0;

# limit_req, rate 1r/s, in front of a quick upstream: of four lookups at
# once, the first passes and the others are delayed by 1, 2 and 3
# seconds; each of those webhooks gets the fallback at the deadline

my @c = concurrent(map { request('limit') } 1 .. 4);

my @routed = grep { reply($_->{reply}) eq routed() } @c;
my @late = grep { reply($_->{reply}) eq $FALLBACK } @c;

is(scalar @routed, 1, 'limit_req: one routed');
is(scalar @late, 3, 'limit_req: three fallbacks');

is(join(' ', map { in_time($_->{took}) } @late), 'ok ok ok',
	'limit_req: fallbacks at the deadline')
	or diag(join ', ', map { sprintf('%.2fs', $_->{took}) } @late);

# the late lookups end on their own: nothing more is written, and the
# connection, told "close", is closed after them

is(join(' ', map { header($_->{reply}, 'connection') } @late),
	'close close close', 'limit_req: connection close');
is(join(' ', map { length $_->{rest} } @late), '0 0 0',
	'limit_req: nothing after the fallback');
is(scalar grep({ defined $_->{closed} } @late), 3,
	'limit_req: connections closed');

my @closed = sort { $a <=> $b } map { $_->{closed} || 0 } @late;
ok($closed[2] >= 2.5, 'limit_req: closed when the lookups end')
	or diag(join ', ', map { sprintf('%.2fs', $_) } @closed);

$deadlines += @late;

is(worker(), $pid, 'limit_req worker');
is(reply(call('ok')), routed(), 'routed after limit_req');

# proxy_cache_lock: /fill holds the lock on a slow upstream (1.5s), the
# lookup waits on the lock past the deadline, then reads the cached reply

my $fill = http("GET /fill HTTP/1.0\x0d\x0aHost: localhost\x0d\x0a\x0d\x0a",
	start => 1);
sleep(0.3);

@c = concurrent(request('lock'));

is(reply($c[0]{reply}), $FALLBACK, 'cache lock: fallback');
is(in_time($c[0]{took}), 'ok', 'cache lock: at the deadline')
	or diag(sprintf('took %.2fs', $c[0]{took}));
is(header($c[0]{reply}, 'connection'), 'close', 'cache lock: close');
is(length $c[0]{rest}, 0, 'cache lock: nothing after the fallback');
ok(defined $c[0]{closed}, 'cache lock: connection closed');

$deadlines++;

like(http('', socket => $fill), qr/\Q$JSON\E$/, 'cache lock: fill answered');
is(reply(call('lock')), routed(), 'cache lock: routed from the cache');

# HTTP/2: the first lookup takes limit_req's slot; stream 1 waits on
# limit_req, gets the fallback at the deadline, and nothing follows on
# it; stream 3 on the same connection, after the lookup ended, is served

is(reply(call('limit2')), routed(), 'http2: slot taken');

my $h2 = h2_deadline();

is($h2->{status1}, 200, 'http2: status');
is($h2->{data1}, substr($FALLBACK, length "200 text/xml; charset=utf-8\n"),
	'http2: fallback');
is(in_time($h2->{took}), 'ok', 'http2: at the deadline')
	or diag(sprintf('took %.2fs', $h2->{took} || -1));
is($h2->{after1}, '', 'http2: nothing after the end of the stream');
is($h2->{status3}, 200, 'http2: next stream answered');
like($h2->{data3}, qr!<Identity>user001</Identity>!, 'http2: next routed');

$deadlines++;

is(worker(), $pid, 'http2 worker');

# clients that leave once they have the fallback, over HTTP/1.1 and
# HTTP/2, while their lookups wait on limit_req: the lookups still end
# on their own, and the worker serves on

my @gone = map { http(request('limit'), start => 1) } 1 .. 2;
my @got = map { reply(read_reply($_)) } @gone;
close $_ for @gone;

is(join(' ', sort map { $_ eq $FALLBACK ? 'fallback' : $_ eq routed()
	? 'routed' : 'other' } @got), 'fallback routed', 'leaving: replies');

is(h2_leave('limit'), $DEADLINE, 'leaving http2: fallback');

$deadlines += 2;

sleep(2.5 * $t->slow);

is(worker(), $pid, 'leaving worker');
is(reply(call('ok')), routed(), 'routed after clients left');

# every lookup has ended: each webhook counted once

my $m = parse_response(http_get('/metrics'))->{body};
my $W = 'twanon_webhooks_total{handler="incoming",outcome=';

is(metric($m, 'twanon_resolver_requests_total{result="timeout"}'),
	$deadlines, 'metrics: timeouts');
is(metric($m, $W . '"error"}'), $deadlines, 'metrics: webhooks timed out');
is(metric($m, $W . '"client"}'), 8, 'metrics: webhooks routed');
is(metric($m, 'twanon_fallbacks_total{kind="say"}'), $deadlines,
	'metrics: fallbacks');
is(metric($m, 'twanon_resolver_duration_seconds_count'), $deadlines + 8,
	'metrics: lookups timed');

###############################################################################

$t->stop();

my $log = $t->read_file('error.log');
my @lines = split /\n/, $log;

is(logged($log, 'error', 'did not answer within 400 ms'), $deadlines,
	'one deadline line per lookup');
is(scalar grep({ /output on closed stream|logged again/ } @lines), 0,
	'no output on closed stream');
is(scalar grep({ /\[(?:crit|alert|emerg)\]/ } @lines), 0, 'no crit');
unlike($log, qr/\Q$DIGITS\E/, 'error log without number');

###############################################################################

sub worker {
	return http_value('/pid');
}

sub in_time {
	my ($took) = @_;

	return 'none' unless defined $took;
	return $took >= $DEADLINE - 0.05 && $took < $DEADLINE + $SLACK
		? 'ok' : sprintf('%.2f', $took);
}

sub header {
	my ($raw, $name) = @_;

	my $r = parse_response($raw) or return 'none';
	my $v = $r->{headers}{$name};

	return defined $v ? (ref $v ? join(', ', @$v) : $v) : 'none';
}

sub routed {
	return "200 text/xml; charset=utf-8\n" . dial_twiml(identity => 'user001',
		caller_id => $CALLED, params => [ customerName => 'Ann',
		customerId => 42 ]);
}

sub pairs {
	return call_pairs(AccountSid => $ACCOUNT, From => $CALLER, To => $CALLED);
}

sub call {
	my ($name) = @_;

	return webhook_request("/in/$name", token => $TOKEN,
		pairs => [ pairs() ], host => 'localhost');
}

# a signed HTTP/1.1 webhook, keepalive

sub request {
	my ($name) = @_;
	return webhook_raw("/in/$name", token => $TOKEN, pairs => [ pairs() ]);
}

# the length of a complete response with Content-Length, or 0

sub complete {
	my ($raw) = @_;

	my $end = index($raw, "\x0d\x0a\x0d\x0a");
	return 0 if $end < 0;

	my ($len) = substr($raw, 0, $end) =~ /^Content-Length:\s*(\d+)/mi;
	return 0 unless defined $len;

	return length $raw >= $end + 4 + $len ? $end + 4 + $len : 0;
}

# sends each request on a connection of its own, all at once; reads each
# reply, then on until the server closes the connection (when the reply
# said "close") or the time is up; returns, for each, the reply, the
# seconds it took, what came after it, and when the connection closed

sub concurrent {
	my (@requests) = @_;

	my @c;

	for my $req (@requests) {
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . port(8080))
			or die "Can't connect: $!\n";
		$s->autoflush(1);

		push @c, { s => $s, buf => '', start => time() };
		print $s $req;
	}

	my $sel = IO::Select->new(map { $_->{s} } @c);
	my $end = time() + 6 * $t->slow;

	while (time() < $end) {
		last unless grep { !$_->{done} } @c;

		for my $s ($sel->can_read($end - time())) {
			my ($x) = grep { $_->{s} == $s } @c;
			my $n = sysread($s, $x->{buf}, 65536, length $x->{buf});

			if (!$n) {
				$x->{closed} = time() - $x->{start};
				$x->{done} = 1;
				$sel->remove($s);
				next;
			}

			my $len = complete($x->{buf});
			next unless $len;

			$x->{took} //= time() - $x->{start};
			$x->{done} = 1
				if substr($x->{buf}, 0, $len) !~ /^Connection: close/mi;
		}
	}

	for my $x (@c) {
		my $len = complete($x->{buf}) || length $x->{buf};

		$x->{reply} = substr($x->{buf}, 0, $len);
		$x->{rest} = substr($x->{buf}, $len);
		close $x->{s};
	}

	return @c;
}

# reads one complete reply from a socket

sub read_reply {
	my ($s) = @_;

	my $sel = IO::Select->new($s);
	my $end = time() + 4 * $t->slow;
	my $buf = '';

	while (!complete($buf) && time() < $end && $sel->can_read($end - time()))
	{
		sysread($s, $buf, 65536, length $buf) or last;
	}

	return $buf;
}

###############################################################################

# HTTP/2 with prior knowledge: a signed webhook to /in/name on stream sid

sub h2_request {
	my ($sid, $name) = @_;
	return h2_webhook($sid, "/in/$name", $TOKEN, pairs());
}

# stream 1 waits on limit_req past the deadline; after its lookup ended
# (1s), stream 3 on the same connection

sub h2_deadline {
	my $start = time();
	my ($s, $state) = h2_connect(port(8085), h2_request(1, 'limit2'));

	h2_read($s, $state, 4 * $t->slow, sub { h2_ended($state->{frames}, 1) });

	my ($end) = h2_ended($state->{frames}, 1);
	my %r = (took => $end ? $end->{at} - $start : undef);

	$r{status1} = h2_status($state->{frames}, 1);
	$r{data1} = h2_data($state->{frames}, 1);

	# anything on stream 1 until its lookup has ended

	my $seen = @{$state->{frames}};

	h2_read($s, $state, 1.5 * $t->slow);

	$r{after1} = join ', ', map { "$_->{sid}:$_->{type}" }
		grep { $_->{sid} == 1 }
		@{$state->{frames}}[$seen .. $#{$state->{frames}}];

	print $s h2_request(3, 'ok');

	h2_read($s, $state, 4 * $t->slow, sub { h2_ended($state->{frames}, 3) });

	$r{status3} = h2_status($state->{frames}, 3);
	$r{data3} = h2_data($state->{frames}, 3);

	close $s;

	return \%r;
}

# stream 1 waits on limit_req past the deadline; the client closes the
# connection once the stream has ended; returns $DEADLINE when the stream
# was the fallback

sub h2_leave {
	my ($name) = @_;

	my ($s, $state) = h2_connect(port(8085), h2_request(1, $name));

	h2_read($s, $state, 4 * $t->slow, sub { h2_ended($state->{frames}, 1) });

	close $s;

	return h2_data($state->{frames}, 1) eq substr($FALLBACK,
		length "200 text/xml; charset=utf-8\n") ? $DEADLINE : 'other';
}

###############################################################################

# the resolver backend: /ok answers at once, /lock after 1.5s

sub serve {
	my ($client) = @_;

	my $req = read_request($client);
	return unless defined $req;

	my ($name) = $req =~ m!^\w+ /(\w+) HTTP!;
	$name = '' unless defined $name;

	if ($name eq 'ok' || $name eq 'lock') {
		sleep(1.5) if $name eq 'lock';
		syswrite($client, json_response(200, $JSON));

	} else {
		syswrite($client, "HTTP/1.0 404 Not Found\x0d\x0a\x0d\x0a");
	}
}

###############################################################################
