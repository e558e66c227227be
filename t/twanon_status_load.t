#!/usr/bin/perl

# Copyright (C) twanon authors

# The counters (twanon_status) under load: wrk sends a signed /incoming on
# keep-alive connections for 10 s to two workers while the test scrapes
# /metrics every 100 ms.  No request fails, every reply is the routed
# TwiML, every scrape is whole and no counter goes down; at the end,
# twanon_webhooks_total holds exactly the number of /incoming lines of
# the access log.  Skipped under valgrind (one process, and too slow).

###############################################################################

use warnings;
use strict;

use Test::More;

use IO::Select;
use POSIX qw/ WNOHANG /;
use Time::HiRes qw/ time sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT parse_response form_escape
	twilio_signature /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my ($WRK) = grep { -x } map { "$_/wrk" } split /:/, $ENV{PATH} || '';

skip_file('no wrk (make test installs it)') unless defined $WRK;

my $TOKEN = 'status-load-token-2c94';
my $URL = 'http://load.test/incoming';
my $CALLER = '+15556669999';
my $DIGITS = qr/5556669999/;

my $DURATION = 10;
my $SCRAPE = 0.1;

my $t = Test::Twanon->new()->has(qw/http proxy master_process/);

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;
worker_processes  2;

events {
    worker_connections  1024;
}

http {
    %%TEST_GLOBALS_HTTP%%

    twanon_status_zone  64k;

    upstream resolver {
        server     127.0.0.1:8081;
        keepalive  16;
    }

    server {
        listen       127.0.0.1:8080 backlog=1024;
        server_name  localhost;

        location = /incoming {
            twanon_incoming;
            twanon_auth_token   $TOKEN;
            twanon_webhook_url  $URL;
            twanon_resolver     /resolver;
        }

        location = /resolver {
            internal;

            proxy_pass          http://resolver/route;
            proxy_http_version  1.1;
            proxy_set_header    Connection "";
        }

        location = /metrics {
            twanon_status;
        }
    }

    server {
        listen       127.0.0.1:8081 backlog=1024;
        server_name  localhost;

        access_log          off;
        keepalive_requests  100000;

        location = /route {
            return 200 '{"appId":"op_1","customerName":"Ann","customerId":"42"}';
        }
    }
}

EOF

# the log at info: debug would write gigabytes under load

my $conf = $t->read_file('nginx.conf');
$conf =~ s!(error_log\s+\S+/error\.log)\s+debug;!$1 info;!
	or die "no error_log in the test globals\n";
$t->write_file('nginx.conf', $conf);

$t->run()->plan(12);

###############################################################################

my $DIR = $t->testdir();

my %WEBHOOK = (
	AccountSid => 'AC' . '0' x 32,
	ApiVersion => '2010-04-01',
	CallSid => 'CA' . 'abad1dea' x 4,
	CallStatus => 'ringing',
	Direction => 'inbound',
	From => $CALLER,
	To => '+15557654321',
);

my $BODY = join('&',
	map { "$_=" . form_escape($WEBHOOK{$_}) } sort keys %WEBHOOK);
my $SIGNATURE = twilio_signature($TOKEN, $URL, %WEBHOOK);

# a Lua string literal

sub lua {
	my ($s) = @_;
	$s =~ s/([^A-Za-z0-9 _.,:;=+\/{}<>^\$\[\]-])/sprintf('\\%03d', ord $1)/ge;
	return qq{"$s"};
}

# the script counts the replies that are not the routed TwiML, and prints
# its counts in done()

$t->write_file('incoming.lua', <<"EOF");
wrk.method = "POST"
wrk.path = "/incoming"
wrk.body = ${\ lua($BODY)}
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-Twilio-Signature"] = ${\ lua($SIGNATURE)}

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    good = 0
    bad = 0
end

function response(status, headers, body)
    if status == 200 and string.find(body, "<Identity>op_1</Identity>", 1,
                                     true) then
        good = good + 1
    else
        bad = bad + 1
    end
end

function done(summary, latency, requests)
    local g, b = 0, 0

    for _, thread in ipairs(threads) do
        g = g + thread:get("good")
        b = b + thread:get("bad")
    end

    local e = summary.errors

    io.write(string.format("twanon good=%d bad=%d requests=%d "
        .. "errors=%d status=%d\\n", g, b, summary.requests,
        e.connect + e.read + e.write + e.timeout, e.status))
end
EOF

my $pid = open(my $fh, '-|');
die "Can't fork: $!\n" unless defined $pid;

if ($pid == 0) {
	Test::Twanon::_die_with_parent();
	open STDERR, '>&', \*STDOUT;

	{
		no warnings 'exec';
		exec($WRK, '-t', 1, '-c', 4, '-d', "${DURATION}s",
			'--timeout', '5s', '-s', "$DIR/incoming.lua",
			'http://127.0.0.1:' . port(8080) . '/');
	}

	print "Unable to exec($WRK): $!\n";
	POSIX::_exit(127);
}

# scrapes every 100 ms while wrk runs, and at most its time and 20 s more

my $total = 'twanon_webhooks_total{handler="incoming",outcome="client"}';
my $deadline = time() + $DURATION + 20;
my ($scrapes, $broken, $down, $last) = (0, 0, 0, 0);

while (time() < $deadline && waitpid($pid, WNOHANG) == 0) {
	my $r = parse_response($t->http_get('/metrics'));
	$scrapes++;

	my ($v) = ($r->{body} // '') =~ /^\Q$total\E\ (\d+)\n(?:.*\n)*
		twanon_fallbacks_total\{kind="client"\}\ \d+\n\z/mx;

	if (($r->{status} // 0) != 200 || !defined $v) {
		$broken++;

	} else {
		$down++ if $v < $last;
		$last = $v;
	}

	sleep($SCRAPE);
}

if (waitpid($pid, WNOHANG) == 0) {
	kill 'KILL', $pid;
	waitpid($pid, 0);
	diag('wrk killed past its deadline');
}

my $out = do { local $/; <$fh> } // '';
close $fh;

my ($good, $bad, $requests, $errors, $status) = $out =~
	/^twanon\ good=(\d+)\ bad=(\d+)\ requests=(\d+)\ errors=(\d+)
	\ status=(\d+)$/mx;

diag(sprintf('wrk: %s requests in %d s, %d scrapes',
	$requests // 'no', $DURATION, $scrapes));

ok(($requests // 0) > 0, 'load requests') or diag($out);
is($bad, 0, 'load bad replies');
is($errors, 0, 'load socket errors');
is($status, 0, 'load non-2xx');
is($good, $requests, 'load all good');

ok($scrapes >= $DURATION * 2, 'scraped during the load');
is($broken, 0, 'every scrape whole');
is($down, 0, 'no counter went down');

# the requests wrk left under way end once nginx sees it gone: the sum of
# every outcome, once it holds still for 0.5 s

sub incoming {
	my $m = parse_response($t->http_get('/metrics'))->{body} // '';
	my $sum = 0;
	$sum += $1 while $m =~ /^twanon_webhooks_total
		\{handler="incoming",[^}]*\}\ (\d+)$/mgx;
	return $sum;
}

my $counted = incoming();
$deadline = time() + 10;

while (time() < $deadline) {
	sleep(0.5);
	my $now = incoming();
	last if $now == $counted;
	$counted = $now;
}

$t->stop();

my $lines = () = $t->read_file('access.log') =~ /"POST \/incoming HTTP\/1\.1"/g;

diag("counted $counted, access log $lines /incoming lines");

is($counted, $lines, 'counted as logged');
ok($counted >= ($requests // 0), 'every reply counted');

is(join("\n", grep { /$DIGITS/ } split /\n/, $t->read_file('error.log')),
	'', 'no number in the log');
is(join("\n", grep { /\[(?:alert|crit|emerg|error)\]/ }
	split /\n/, $t->read_file('error.log')), '', 'no error under load');

###############################################################################
