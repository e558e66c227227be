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

use Time::HiRes qw/ time sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT parse_response wrk_path wrk_script wrk_start
	wrk_running wrk_wait signed_form /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

skip_file('no wrk (make test installs it)') unless defined wrk_path();

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

my %WEBHOOK = (
	AccountSid => 'AC' . '0' x 32,
	ApiVersion => '2010-04-01',
	CallSid => 'CA' . 'abad1dea' x 4,
	CallStatus => 'ringing',
	Direction => 'inbound',
	From => $CALLER,
	To => '+15557654321',
);

my ($BODY, $SIGNATURE) = signed_form($TOKEN, $URL,
	map { $_ => $WEBHOOK{$_} } sort keys %WEBHOOK);

# the script counts the replies that are not the routed TwiML

$t->write_file('incoming.lua', wrk_script(method => 'POST',
	path => '/incoming', body => $BODY,
	headers => {
		'Content-Type' => 'application/x-www-form-urlencoded',
		'X-Twilio-Signature' => $SIGNATURE,
	},
	check => 'string.find(body, "<Identity>op_1</Identity>", 1, true)'));

my $wrk = wrk_start('incoming.lua', $DURATION, 1, 4);

# scrapes every 100 ms while wrk runs, and at most its time and 20 s more

my $total = 'twanon_webhooks_total{handler="incoming",outcome="client"}';
my $deadline = time() + $DURATION + 20;
my ($scrapes, $broken, $down, $last) = (0, 0, 0, 0);

while (time() < $deadline && wrk_running($wrk)) {
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

my $res = wrk_wait($wrk);
my ($good, $bad, $requests, $errors, $status)
	= @$res{qw/ good bad requests errors status /};

diag(sprintf('wrk: %s requests in %d s, %d scrapes',
	$requests // 'no', $DURATION, $scrapes));

ok(($requests // 0) > 0, 'load requests') or diag($res->{out});
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
