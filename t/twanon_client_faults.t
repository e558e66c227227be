#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for misbehaving clients of ngx_http_twanon_module: on /incoming
# and on POST /token, a body cut short by a client that then goes away, a
# body slower than client_body_timeout, bodies over the size limit (by
# Content-Length and chunked), wrong Content-Types, repeated signature
# headers, an empty signed form, too many fields, a dangling "%", a 60 KiB
# value, two webhooks pipelined on one keep-alive connection, and
# HTTP/1.0 without a Host header.  Each case asserts the exact reply, or
# that nginx closed the connection without one, and that the worker lives
# on (the next request is served by the same worker pid).  Runs under
# valgrind too: no timing is asserted tighter than several seconds.

###############################################################################

use warnings;
use strict;

use Test::More;

use Digest::SHA qw/ hmac_sha1 /;
use IO::Select;
use IO::Socket::INET;
use MIME::Base64 qw/ encode_base64 /;
use Socket qw/ SHUT_WR /;
use Time::HiRes qw/ time sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT parse_response form_body twilio_signature
	webhook_raw logged http_value dial_twiml /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $KEY = 'SK' . 'fedcba9876543210fedcba9876543210';
my $SECRET = 'api-secret-client-faults-77c1';
my $TOKEN = 'auth-token-client-faults-3e9a';

my $CALLER = '+15551234567';
my $CALLED = '+15557654321';
my $DIGITS = '5551234567';

my $DECL = qq{<?xml version="1.0" encoding="UTF-8"?>\n};

# generous: under valgrind every request is many times slower

my $WAIT = 30;

my $t = Test::Twanon->new()->has(qw/http proxy/);

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

        client_body_timeout  2s;

        twanon_auth_token   $TOKEN;
        twanon_resolver     /resolver;

        location = /pid {
            return  200 \$pid;
        }

        location = /token {
            twanon_token;
            twanon_account_sid  $ACCOUNT;
            twanon_api_key      $KEY;
            twanon_api_secret   $SECRET;
        }

        location = /incoming {
            twanon_incoming;
        }

        location = /fixed {
            twanon_incoming;
            twanon_webhook_url  http://voice.test/fixed;
        }

        location = /echo {
            twanon_incoming;
            twanon_resolver  /resolver_echo;
        }

        location = /echo_account {
            twanon_incoming;
            twanon_resolver     /resolver_echo;
            twanon_account_sid  $ACCOUNT;
        }

        location = /resolver {
            internal;
            proxy_pass  http://127.0.0.1:8081/route;
        }

        location = /resolver_echo {
            internal;
            proxy_pass  http://127.0.0.1:8081/echo;
        }
    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        location = /route {
            return 200 '{"appId":"user001","customerName":"Ann","customerId":"42"}';
        }

        # the resolver's own request body, handed back as customerName

        location = /echo {
            proxy_pass        http://127.0.0.1:8081/echo_reply;
            proxy_set_header  X-Body \$request_body;
        }

        location = /echo_reply {
            return 200 '{"appId":"user001","customerName":"\$http_x_body"}';
        }
    }
}

EOF

$t->run()->plan(87);

###############################################################################

my $n = 0;

sub fields {
	return (
		AccountSid => $ACCOUNT,
		ApiVersion => '2010-04-01',
		CallSid => sprintf('CA%032x', 0xc1f000 + ++$n),
		CallStatus => 'ringing',
		Direction => 'inbound',
		From => $CALLER,
		To => $CALLED,
	);
}

# a raw webhook request to uri (/incoming), of pairs (default fields());
# the other options are webhook_raw's

sub webhook {
	my (%o) = @_;

	my $uri = defined $o{uri} ? $o{uri} : '/incoming';

	return webhook_raw($uri, token => $TOKEN,
		pairs => $o{pairs} || [ fields() ], %o);
}

# one connection: sends each string of @send (a number pauses that many
# seconds), half-closes it with shutdown => 1 (or closes it at once with
# close => 1), then reads until the peer closes; returns { data, closed
# (peer closed, 0 on timeout), took }

sub exchange {
	my (@send) = @_;

	my %o;
	%o = %{pop @send} if ref $send[-1] eq 'HASH';

	my $start = time();

	my $s = IO::Socket::INET->new(
		Proto => 'tcp',
		PeerAddr => '127.0.0.1:' . port(8080),
		Timeout => $WAIT,
	) or return { data => '', closed => 0, took => 0,
		error => "connect: $!" };

	binmode $s;

	local $SIG{PIPE} = 'IGNORE';

	my $error;

	SEND: for my $part (@send) {
		if ($part =~ /^\d+(?:\.\d+)?$/) {
			sleep($part);
			next;
		}

		Test::Twanon::log_out($part);

		my $off = 0;

		while ($off < length $part) {
			my $w = syswrite($s, $part, 65536, $off);

			if (!defined $w) {
				$error = "write: $!";
				last SEND;
			}

			$off += $w;
		}
	}

	if ($o{close}) {
		close $s;
		return { data => '', closed => 1, took => time() - $start,
			error => $error };
	}

	shutdown($s, SHUT_WR) if $o{shutdown};

	my $sel = IO::Select->new($s);
	my $deadline = time() + ($o{timeout} || $WAIT);

	my $data = '';
	my $closed = 0;

	while ((my $left = $deadline - time()) > 0) {
		last unless $sel->can_read($left);

		my $r = sysread($s, my $buf, 65536);

		if (!defined $r) {
			$error = "read: $!";
			$closed = 1;
			last;
		}

		if ($r == 0) {
			$closed = 1;
			last;
		}

		$data .= $buf;
	}

	close $s;

	Test::Twanon::log_in($data);

	return { data => $data, closed => $closed, took => time() - $start,
		error => $error };
}

# "status content-type\nbody" of a raw reply, or "closed" / "timeout"
# when there was none

sub answer {
	my ($x) = @_;

	return $x->{closed} ? 'closed' : 'timeout' if $x->{data} eq '';

	return Test::Twanon::reply($x->{data});
}

# the replies of a raw stream of pipelined responses

sub replies {
	my ($data) = @_;

	my @out;

	while (length $data) {
		my $end = index($data, "\x0d\x0a\x0d\x0a");
		last if $end < 0;

		my ($len) = substr($data, 0, $end) =~ /^Content-Length:\s*(\d+)/mi;
		last unless defined $len;

		push @out, answer({ data => substr($data, 0, $end + 4 + $len) });
		$data = substr($data, $end + 4 + $len);
	}

	push @out, "trailing: $data" if length $data;

	return @out;
}

# nginx's own answer to a body over the webhook limit: the status and
# the Connection header

sub too_large {
	my ($x) = @_;

	my $r = parse_response($x->{data});
	my $connection = $r->{headers}{connection};

	return (defined $r->{status} ? $r->{status} : 'none') . ' '
		. (defined $connection ? $connection : 'none');
}

sub text {
	my ($status, $text) = @_;
	return "$status text/plain; charset=utf-8\n$text";
}

sub routed {
	my (%o) = @_;

	my $params = defined $o{params} ? $o{params}
		: '<Parameter name="customerName" value="Ann"/>'
		. '<Parameter name="customerId" value="42"/>';

	return "200 text/xml; charset=utf-8\n" . dial_twiml(identity => 'user001',
		caller_id => exists $o{caller_id} ? $o{caller_id} : $CALLED,
		params => $params);
}

sub worker {
	return http_value('/pid', timeout => $WAIT);
}

my $B64 = '[A-Za-z0-9_-]+';
my $TOKEN_RE = qr!^200\ application/json\n
	\{"identity":"alice","token":"$B64\.$B64\.$B64"\}$!x;

###############################################################################

my $pid = worker();

like($pid, qr/^\d+$/, 'worker pid');

is(answer(exchange(webhook(connection => 'close'))), routed(),
	'control routed');

my $x = exchange("POST /token HTTP/1.1\x0d\x0aHost: localhost\x0d\x0a"
	. "Content-Type: application/x-www-form-urlencoded\x0d\x0a"
	. "Content-Length: 14\x0d\x0aConnection: close\x0d\x0a\x0d\x0a"
	. 'identity=alice');

like(answer($x), $TOKEN_RE, 'control token');

# a body cut short, then the client goes away (half-close, so that any
# reply could still be read): nginx closes without a reply

my $full = webhook(connection => 'close');
my ($head, $body) = split /\x0d\x0a\x0d\x0a/, $full, 2;

$x = exchange(webhook(connection => 'close', length => length($body) + 100),
	{ shutdown => 1 });

is(answer($x), 'closed', 'incoming truncated body closed');
is(worker(), $pid, 'incoming truncated body worker');

exchange(webhook(length => length($body) + 100), { close => 1 });

is(worker(), $pid, 'incoming truncated body and close worker');

$x = exchange("POST /token HTTP/1.1\x0d\x0aHost: localhost\x0d\x0a"
	. "Content-Type: application/x-www-form-urlencoded\x0d\x0a"
	. "Content-Length: 100\x0d\x0aConnection: close\x0d\x0a\x0d\x0a"
	. 'identity=alice', { shutdown => 1 });

is(answer($x), 'closed', 'token truncated body closed');
is(worker(), $pid, 'token truncated body worker');

# half the body, then silence past client_body_timeout (2s): nginx gives
# up on the request (408) and closes the connection without a reply

$x = exchange($head . "\x0d\x0a\x0d\x0a" . substr($body, 0, length($body) / 2),
	{ timeout => $WAIT });

is(answer($x), 'closed', 'incoming slow body closed');
ok($x->{took} > 1.5 && $x->{took} < $WAIT - 1, 'incoming slow body timed out')
	or diag("took $x->{took} s");
is(worker(), $pid, 'incoming slow body worker');

$x = exchange("POST /token HTTP/1.1\x0d\x0aHost: localhost\x0d\x0a"
	. "Content-Type: application/x-www-form-urlencoded\x0d\x0a"
	. "Content-Length: 14\x0d\x0aConnection: close\x0d\x0a\x0d\x0a"
	. 'identity=', { timeout => $WAIT });

is(answer($x), 'closed', 'token slow body closed');
ok($x->{took} > 1.5 && $x->{took} < $WAIT - 1, 'token slow body timed out')
	or diag("took $x->{took} s");
is(worker(), $pid, 'token slow body worker');

# a body that trickles in, each piece within client_body_timeout, is read

my $wh = webhook(connection => 'close');
my $cut = index($wh, "\x0d\x0a\x0d\x0a") + 4;
my $third = int((length($wh) - $cut) / 3);

$x = exchange(substr($wh, 0, $cut + $third), 1,
	substr($wh, $cut + $third, $third), 1,
	substr($wh, $cut + 2 * $third));

is(answer($x), routed(), 'incoming trickled body routed');
is(worker(), $pid, 'incoming trickled body worker');

# oversized bodies: 413, whether announced or chunked

$x = exchange(webhook(connection => 'close', body => 'x' x 70000));

is(too_large($x), '413 close', 'incoming content length 70000');
is(worker(), $pid, 'incoming content length 70000 worker');

# refused from the header alone, before the body is sent, and before
# "100 Continue" when the client waits for one

$x = exchange(webhook(connection => 'close', length => 70000, body => ''));

is(too_large($x), '413 close', 'incoming content length 70000 without body');

$x = exchange(webhook(length => 1 << 30, body => '',
	headers => [ 'Expect: 100-continue' ]));

like($x->{data}, qr{^HTTP/1\.1 413 }, 'expect 100-continue: 413 first');
unlike($x->{data}, qr{ 100 }, 'expect 100-continue: no 100 Continue');
is(too_large($x), '413 close', 'expect 100-continue: closed');

my $chunks = '';
my $big = 'Pad=' . 'x' x (70000 - 4);

for (my $i = 0; $i < length $big; $i += 8192) {
	my $c = substr($big, $i, 8192);
	$chunks .= sprintf("%x\x0d\x0a%s\x0d\x0a", length $c, $c);
}

$chunks .= "0\x0d\x0a\x0d\x0a";

$x = exchange(webhook(connection => 'close', chunked => 1,
	headers => [ 'Transfer-Encoding: chunked' ], body => $chunks));

is(too_large($x), '413 close', 'incoming chunked 70000');
is(worker(), $pid, 'incoming chunked 70000 worker');

$x = exchange("POST /token HTTP/1.1\x0d\x0aHost: localhost\x0d\x0a"
	. "Content-Type: application/x-www-form-urlencoded\x0d\x0a"
	. "Content-Length: 70000\x0d\x0aConnection: close\x0d\x0a\x0d\x0a"
	. 'identity=alice&pad=' . 'x' x (70000 - 19));

is(too_large($x), '413 close', 'token content length 70000');
$x = exchange("POST /token HTTP/1.1\x0d\x0aHost: localhost\x0d\x0a"
	. "Content-Type: application/x-www-form-urlencoded\x0d\x0a"
	. "Transfer-Encoding: chunked\x0d\x0aConnection: close\x0d\x0a\x0d\x0a"
	. sprintf("%x\x0d\x0a", 5000) . 'identity=alice&pad=' . 'x' x (5000 - 19)
	. "\x0d\x0a0\x0d\x0a\x0d\x0a");

is(too_large($x), '413 close', 'token chunked 5000');
is(worker(), $pid, 'token content length 70000 worker');

# Content-Type

for my $type ('text/plain', 'application/json',
	'multipart/form-data; boundary=xyz', 'application/x-www-form-urlencodedx')
{
	$x = exchange(webhook(connection => 'close', type => $type));

	is(answer($x), text(415, "expected application/x-www-form-urlencoded\n"),
		"type $type");
}

$x = exchange(webhook(connection => 'close',
	type => 'application/x-www-form-urlencoded; charset=utf-8'));

is(answer($x), routed(), 'type with charset routed');

$x = exchange(webhook(connection => 'close', type => ''));

is(answer($x), text(415, "expected application/x-www-form-urlencoded\n"),
	'no type');
is(worker(), $pid, 'content types worker');

# signature headers: two valid copies, two different ones, none

my @pairs = fields();
my $sig = twilio_signature($TOKEN, 'http://localhost/incoming', @pairs);

is(answer(exchange(webhook(connection => 'close', pairs => \@pairs,
	sigs => [ $sig, $sig ]))), text(403, "forbidden\n"),
	'repeated valid signature');

@pairs = fields();
$sig = twilio_signature($TOKEN, 'http://localhost/incoming', @pairs);

is(answer(exchange(webhook(connection => 'close', pairs => \@pairs,
	sigs => [ $sig, 'AAAA' ]))), text(403, "forbidden\n"),
	'valid and invalid signature');

is(answer(exchange(webhook(connection => 'close', sigs => []))),
	text(403, "forbidden\n"), 'no signature');

is(answer(exchange(webhook(connection => 'close', sigs => [ '' ]))),
	text(403, "forbidden\n"), 'empty signature');

is(worker(), $pid, 'signatures worker');

# an empty body is refused before anything else, signed or not

$x = exchange(webhook(uri => '/echo', connection => 'close', pairs => [],
	body => ''));

is(answer($x), text(400, "empty webhook body\n"), 'empty form');

$x = exchange(webhook(uri => '/echo', connection => 'close', pairs => [],
	body => '',
	sigs => [ twilio_signature($TOKEN, 'http://localhost/other') ]));

is(answer($x), text(400, "empty webhook body\n"), 'empty form bad signature');

# a form with a CallSid alone, signed: valid, and the resolver is asked;
# but with no To there is no callerId to dial with, and a dial without
# one would show the operator the caller's number: the caller hears the
# spoken fallback instead

$x = exchange(webhook(uri => '/echo', connection => 'close',
	pairs => [ CallSid => 'CA' . 'c0' x 16 ]));

is(answer($x), "200 text/xml; charset=utf-8\n" . $DECL
	. '<Response><Say>We are sorry, no one is available to take your call'
	. " right now. Please try again later.</Say></Response>\n",
	'call sid alone, no caller id: fallback');

# with twanon_account_sid, the missing AccountSid is another account

$x = exchange(webhook(uri => '/echo_account', connection => 'close',
	pairs => [ CallSid => 'CA' . 'c1' x 16 ]));

is(answer($x), text(403, "forbidden\n"), 'call sid alone for another account');
is(worker(), $pid, 'empty form worker');

# field counts: 256 is the limit

@pairs = fields();
my $i = 0;
push @pairs, sprintf('F%03d', ++$i), 'v' while @pairs < 2 * 256;

is(answer(exchange(webhook(connection => 'close', pairs => \@pairs))),
	routed(), '256 fields routed');

@pairs = fields();
$i = 0;
push @pairs, sprintf('F%03d', ++$i), 'v' while @pairs < 2 * 300;

is(answer(exchange(webhook(connection => 'close', pairs => \@pairs))),
	text(400, "malformed form body\n"), '300 fields');

@pairs = fields();
$i = 0;
push @pairs, sprintf('F%03d', ++$i), 'v' while @pairs < 2 * 257;

is(answer(exchange(webhook(connection => 'close', pairs => \@pairs))),
	text(400, "malformed form body\n"), '257 fields');

is(worker(), $pid, 'field counts worker');

# a "%" at the end, or with one digit: malformed

@pairs = fields();

for my $tail ('%', '%4', '%zz') {
	is(answer(exchange(webhook(connection => 'close', pairs => \@pairs,
		body => form_body(@pairs) . "&Pad=$tail"))),
		text(400, "malformed form body\n"), "body ending in $tail");
}

is(answer(exchange(webhook(connection => 'close', pairs => \@pairs,
	body => form_body(@pairs) . '%'))),
	text(400, "malformed form body\n"), 'value ending in %');

is(worker(), $pid, 'bad escapes worker');

# a single 60 KiB value, signed: routed; one that takes the body over
# 65536 bytes: 413

@pairs = (fields(), Pad => 'p' x (60 * 1024));

is(answer(exchange(webhook(connection => 'close', pairs => \@pairs))),
	routed(), '60 KiB value routed');

@pairs = (fields(), Pad => "\xe2\x82\xac" x (20 * 1024));

is(too_large(exchange(webhook(connection => 'close', pairs => \@pairs))),
	'413 close', '60 KiB escaped value too large');

@pairs = (fields(), Pad => 'p' x 65536);

is(too_large(exchange(webhook(connection => 'close', pairs => \@pairs,
	chunked => 1, headers => [ 'Transfer-Encoding: chunked' ],
	body => sprintf("%x\x0d\x0a%s\x0d\x0a0\x0d\x0a\x0d\x0a",
		length form_body(@pairs), form_body(@pairs))))),
	'413 close', '64 KiB value chunked');

is(worker(), $pid, 'long values worker');

# pipelining: two webhooks in one write on a keep-alive connection, both
# answered in order; then a refused one between two good ones

$x = exchange(webhook() . webhook(connection => 'close'));

is(join('', replies($x->{data})), routed() x 2, 'pipelined webhooks');

$x = exchange(webhook() . webhook(type => 'text/plain')
	. webhook(body => '%') . webhook(connection => 'close'));

is(join('', replies($x->{data})), routed()
	. text(415, "expected application/x-www-form-urlencoded\n")
	. text(400, "malformed form body\n") . routed(),
	'pipelined refused webhooks');

$x = exchange(webhook() . "GET /token?identity=alice HTTP/1.1\x0d\x0a"
	. "Host: localhost\x0d\x0a\x0d\x0a"
	. webhook(connection => 'close'));

my @r = replies($x->{data});

is(scalar @r, 3, 'pipelined mixed count');
is($r[0], routed(), 'pipelined mixed webhook');
like($r[1] || '', $TOKEN_RE, 'pipelined mixed token');
is($r[2], routed(), 'pipelined mixed last webhook');

# keep-alive with the body sent in a second write

$wh = webhook();
$cut = index($wh, "\x0d\x0a\x0d\x0a") + 4;

$x = exchange(substr($wh, 0, $cut), 0.3, substr($wh, $cut), 0.3,
	webhook(connection => 'close'));

is(join('', replies($x->{data})), routed() x 2, 'keep-alive split bodies');
is(worker(), $pid, 'pipelining worker');

# HTTP/1.0 without Host: unsigned, signed wrong (the URL then has no
# host), or signed for a fixed twanon_webhook_url

is(answer(exchange(webhook(version => '1.0', host => undef, sigs => []))),
	text(403, "forbidden\n"), 'http 1.0 no host unsigned');

is(answer(exchange(webhook(version => '1.0', host => undef))),
	text(403, "forbidden\n"), 'http 1.0 no host signed for localhost');

@pairs = fields();

is(answer(exchange(webhook(version => '1.0', host => undef, pairs => \@pairs,
	sigs => [ encode_base64(hmac_sha1('x', $TOKEN), '') ]))),
	text(403, "forbidden\n"), 'http 1.0 no host bad signature');

is(answer(exchange(webhook(version => '1.0', host => undef, uri => '/fixed',
	url => 'http://voice.test/fixed'))), routed(),
	'http 1.0 no host fixed url routed');

like(answer(exchange("GET /token?identity=alice HTTP/1.0\x0d\x0a\x0d\x0a")),
	$TOKEN_RE, 'http 1.0 no host token');

is(answer(exchange(webhook(version => '1.0', host => undef, sigs => [],
	uri => '/fixed'))), text(403, "forbidden\n"),
	'http 1.0 no host fixed url unsigned');

is(worker(), $pid, 'http 1.0 worker');

# and after all of it

is(answer(exchange(webhook(connection => 'close'))), routed(),
	'routed after faults');
is(worker(), $pid, 'same worker at the end');

###############################################################################

$t->stop();

my $log = $t->read_file('error.log');
my @lines = split /\n/, $log;

ok(logged($log, 'info', 'client prematurely closed connection') >= 2,
	'log truncated bodies');
is(logged($log, 'warn', 'twanon: webhook for another account, call "CA'
	. 'c1' x 16 . '"'), 1, 'log call sid alone for another account');
is(logged($log, 'info', 'twanon: empty webhook body'), 2, 'log empty forms');
is(logged($log, 'error', 'twanon: no caller ID to dial with (the webhook has no'
	. ' "To"), serving the fallback'), 1, 'log no caller id');

# nginx 1.22 logs no error line for client_body_timeout: the access log
# has the 408, as it has the 400 of each truncated body, with no reply

my $access = $t->read_file('access.log');

like($access, qr!"POST /incoming HTTP/1\.1" 400 0 !,
	'access truncated incoming');
like($access, qr!"POST /token HTTP/1\.1" 400 0 !, 'access truncated token');
like($access, qr!"POST /incoming HTTP/1\.1" 408 0 !, 'access slow incoming');
like($access, qr!"POST /token HTTP/1\.1" 408 0 !, 'access slow token');
ok(logged($log, 'warn', 'twanon: missing or repeated signature header') >= 4,
	'log repeated signatures');
ok(logged($log, 'info', 'twanon: malformed webhook body') >= 6,
	'log malformed bodies');

is(join("\n", grep { /\[(?:alert|crit|emerg)\]/ } @lines), '',
	'no alert or crit');
is(join("\n", grep { /$DIGITS/ } @lines), '', 'error log without number');
is(join("\n", grep { index($_, $TOKEN) >= 0 || index($_, $SECRET) >= 0 }
	@lines), '', 'error log without secrets');

###############################################################################
