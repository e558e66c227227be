#!/usr/bin/perl

# Copyright (C) twanon authors

# The counters (twanon_status_zone, twanon_status): after a known mix of
# webhooks and tokens, each counter holds what happened; the output is
# Prometheus's text format with HELP and TYPE for every metric and no
# identity, number or CallSid; GET and HEAD only; ?check=ready, and 400
# for any other check; the reply sized to what it holds; the
# nginx -t refuses twanon_status without a zone and a zone too small.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT webhook_raw twilio_signature reply
	parse_response conf_fails silent_server metric /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $TOKEN = 'status-token-61d0';
my $FROM = '+15552226666';
my $DIGITS = qr/5552226666/;

my $t = Test::Twanon->new()->has(qw/http proxy/);

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    twanon_status_zone  64k;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        twanon_auth_token        $TOKEN;
        twanon_resolver_timeout  1s;

        twanon_account_sid   AC00000000000000000000000000000000;
        twanon_api_key       SK00000000000000000000000000000000;
        twanon_api_secret    status-api-secret;

        location = /token {
            twanon_token;
            twanon_token_identity  op_1;
        }

        location = /incoming {
            twanon_incoming;
            twanon_resolver  /resolver;
        }

        location = /unknown {
            twanon_incoming;
            twanon_resolver  /resolver_404;
        }

        location = /broken {
            twanon_incoming;
            twanon_resolver        /resolver_500;
            twanon_fallback_client  op_2;
        }

        location = /slow {
            twanon_incoming;
            twanon_resolver  /resolver_slow;
        }

        location = /resolver {
            internal;
            proxy_pass  http://127.0.0.1:8081/route;
        }

        location = /resolver_404 {
            internal;
            proxy_pass  http://127.0.0.1:8081/unknown;
        }

        location = /resolver_500 {
            internal;
            proxy_pass  http://127.0.0.1:8081/broken;
        }

        location = /resolver_slow {
            internal;
            proxy_read_timeout  2s;   # the lookup ends after the deadline
            proxy_pass  http://127.0.0.1:8082/;
        }

        location = /metrics {
            twanon_status;
        }
    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        location = /route {
            return 200 '{"appId":"op_1","customerName":"Ann","customerId":"42"}';
        }

        location = /unknown {
            return 404;
        }

        location = /broken {
            return 500;
        }
    }
}

EOF

$t->run_backend(8082, \&silent_server);

$t->run()->plan(41);

###############################################################################

my $n = 0;

sub hook {
	my ($uri, %o) = @_;

	my @pairs = (
		AccountSid => 'AC' . '0' x 32,
		CallSid => sprintf('CA%032x', 0x5a7a0000 + ++$n),
		From => $FROM,
		To => '+15557654321',
	);

	return $t->http(webhook_raw($uri, pairs => \@pairs, token => $TOKEN,
		%o));
}

sub metrics {
	my ($method) = @_;
	$method ||= 'GET';
	return parse_response($t->http("$method /metrics HTTP/1.0\x0d\x0a"
		. "Host: localhost\x0d\x0a\x0d\x0a"));
}

hook('/incoming') for 1 .. 3;
hook('/unknown');
hook('/broken');
hook('/slow');
hook('/incoming', sigs => [ 'x' x 28 ]);
hook('/incoming', sigs => []);
hook('/incoming', length => 70000, body => '');
$t->http("GET /incoming HTTP/1.0\x0d\x0aHost: localhost\x0d\x0a\x0d\x0a");

$t->http_get('/token') for 1 .. 2;
$t->http("DELETE /token HTTP/1.0\x0d\x0aHost: localhost\x0d\x0a\x0d\x0a");

my $r = metrics();
my $m = $r->{body};

is($r->{status}, 200, 'metrics');
is($r->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
	'exposition type');

my $W = 'twanon_webhooks_total{handler="incoming",outcome=';

is(metric($m, $W . '"client"}'), 3, 'routed');
is(metric($m, $W . '"unknown"}'), 1, 'unknown');
is(metric($m, $W . '"error"}'), 2, 'resolver 500 and timeout');
is(metric($m, $W . '"forbidden"}'), 2, 'bad and missing signature');
is(metric($m, $W . '"too_large"}'), 1, 'body too large');
is(metric($m, $W . '"method"}'), 1, 'method not allowed');
is(metric($m, 'twanon_webhooks_total{handler="after_dial",outcome="client"}'),
	0, 'other handlers listed');

is(metric($m, 'twanon_signature_failures_total{reason="mismatch"}'), 1,
	'signature mismatch');
is(metric($m, 'twanon_signature_failures_total{reason="missing"}'), 1,
	'signature missing');

is(metric($m, 'twanon_resolver_requests_total{result="ok"}'), 3,
	'resolver ok');
is(metric($m, 'twanon_resolver_requests_total{result="not_found"}'), 1,
	'resolver not found');
is(metric($m, 'twanon_resolver_requests_total{result="status"}'), 1,
	'resolver status');
is(metric($m, 'twanon_resolver_requests_total{result="timeout"}'), 1,
	'resolver timeout');
is(metric($m, 'twanon_resolver_duration_seconds_count'), 6,
	'histogram count');
is(metric($m, 'twanon_resolver_duration_seconds_bucket{le="+Inf"}'), 6,
	'histogram +Inf');
ok(metric($m, 'twanon_resolver_duration_seconds_bucket{le="10"}') >= 6
	&& metric($m, 'twanon_resolver_duration_seconds_bucket{le="0.5"}') <= 5,
	'histogram buckets: the timeout above 0.5 s');
ok(metric($m, 'twanon_resolver_duration_seconds_sum') >= 1,
	'histogram sum, seconds');

is(metric($m, 'twanon_fallbacks_total{kind="say"}'), 2,
	'fallback say (unknown, timeout)');
is(metric($m, 'twanon_fallbacks_total{kind="client"}'), 1, 'fallback client');

is(metric($m, 'twanon_tokens_total{result="issued"}'), 2, 'tokens issued');
is(metric($m, 'twanon_tokens_total{result="refused"}'), 1, 'token refused');

like($m, qr/^twanon_build_info\{version="[\d.]+",nginx="[\d.]+"\} 1$/m,
	'build info');

# every metric has HELP and TYPE, and nothing private is shown

my %help = map { $_ => 1 } $m =~ /^# HELP (\w+) /mg;
my %type = map { $_ => 1 } $m =~ /^# TYPE (\w+) /mg;
my %names = map { (my $x = $_) =~ s/_(?:bucket|sum|count)$//
	if /^twanon_resolver_duration/; $x //= $_; $x => 1 }
	$m =~ /^(\w+)[{ ]/mg;

is(join(' ', grep { !$help{$_} || !$type{$_} } sort keys %names), '',
	'help and type for every metric');
unlike($m, qr/$DIGITS|CA[0-9a-f]{32}|op_1|Ann/, 'nothing private');

$r = metrics('HEAD');
is($r->{status}, 200, 'head');
is(metrics('POST')->{status}, 405, 'post refused');

like($t->http_get('/metrics?check=ready'), qr/^HTTP\/1\.1 200 .*ready\n\z/s,
	'ready');

# only "ready" is a check: anything else is a mistake, not a pass

for my $q ('check=anything', 'check=', 'check=readyx', 'x=1&check=Ready') {
	like($t->http_get("/metrics?$q"),
		qr/^HTTP\/1\.1 400 .*only "check=ready" is known\n\z/s,
		"$q is 400");
}

# the reply is sized before it is written: Content-Length and the body
# agree, and the body ends with the last metric's last line

$m = $t->http_get('/metrics');
my ($head, $text) = split /\r\n\r\n/, $m, 2;
my ($cl) = $head =~ /^Content-Length: (\d+)/mi;

is($cl, length $text, 'content length of the counters');
like($text, qr/twanon_fallbacks_total\{kind="client"\} \d+\n\z/,
	'counters end with the fallbacks');

###############################################################################

###############################################################################

$t->stop();

my $log = $t->read_file('error.log');

is(join("\n", grep { /$DIGITS/ } split /\n/, $log), '',
	'no number in the log');
like($log, qr/\[notice\] .*twanon\/[\d.]+$/m, 'version at start');

# nginx -t

sub conf {
	my ($http, $location) = @_;

	return <<"EOF";

%%TEST_GLOBALS%%

events {
}

http {
    %%TEST_GLOBALS_HTTP%%
$http
    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        location /metrics {
$location
        }
    }
}

EOF
}

conf_fails('no zone', conf('', "twanon_status;\n"), 'twanon_status;',
	'"twanon_status" in FILE:LINE requires "twanon_status_zone" in the '
	. 'http block');
conf_fails('zone too small', conf("twanon_status_zone  4k;\n",
	"twanon_status;\n"), 'twanon_status_zone',
	'invalid zone size "4k" in "twanon_status_zone" directive, it must be '
	. 'at least 32k in FILE:LINE');

###############################################################################
