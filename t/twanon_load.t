#!/usr/bin/perl

# Copyright (C) twanon authors

# Load, reload and crash tests of ngx_http_twanon_module, with wrk on
# loopback against /token and a signed /incoming, and nginx with a master
# and two workers:
#
#   reload  30 s of load while the master gets SIGHUP every second: every
#           reply is the exact token JSON or routed TwiML, no socket errors;
#   crash   a worker killed with SIGKILL is replaced, and the new worker
#           serves /token within 1 s;
#   memory  with one worker, its RSS after 1,000,000 more requests has
#           grown less than 1 MiB.
#
# The figures (requests, requests per second, RSS) are printed with diag.
# Nothing here depends on throughput: a slow machine only makes fewer
# requests, within the time bounds given.  Skipped under valgrind.

###############################################################################

use warnings;
use strict;

use Test::More;

use Time::HiRes qw/ time sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT parse_response lua_string wrk_path wrk_script
	wrk_start wrk_wait wrk_figures worker_pids rss dial_twiml signed_form /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

skip_file('load, reload and kill need a master process and speed')
	if $ENV{TEST_NGINX_VALGRIND};

skip_file('no wrk (make test installs it)') unless defined wrk_path();

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $KEY = 'SK' . 'fedcba9876543210fedcba9876543210';
my $SECRET = 'api-secret-load-tests-5d20';
my $TOKEN = 'auth-token-load-tests-91be';

my $CALLER = '+15551234567';
my $CALLED = '+15557654321';
my $DIGITS = '5551234567';

my $URL = 'http://load.test/incoming';

# durations, in seconds

my $RELOAD_TIME = 30;
my $MEMORY_BOUND = 120;
my $MEMORY_REQUESTS = 1_000_000;
my $WARMUP_REQUESTS = 20_000;

my $t = Test::Twanon->new()
	->has(qw/http proxy upstream_keepalive master_process/);

# two workers, or one for the memory check; the main-context log, where
# the master writes, is master.log: a worker killed on purpose is an
# alert there, checked below; requests log to error.log at info (debug
# would write gigabytes here)

sub conf {
	my ($workers) = @_;

	return <<"EOF";

%%TEST_GLOBALS%%

daemon off;
worker_processes  $workers;

events {
    worker_connections  1024;
}

http {
    %%TEST_GLOBALS_HTTP%%

    error_log   %%TESTDIR%%/error.log info;
    access_log  off;

    upstream resolver {
        server     127.0.0.1:8081;
        keepalive  16;
    }

    server {
        listen       127.0.0.1:8080 backlog=1024;
        server_name  localhost;

        location = /pid {
            return  200 \$pid;
        }

        location = /token {
            twanon_token;
            twanon_account_sid  $ACCOUNT;
            twanon_api_key      $KEY;
            twanon_api_secret   $SECRET;

            add_header  X-Worker \$pid always;
        }

        location = /incoming {
            twanon_incoming;
            twanon_auth_token   $TOKEN;
            twanon_webhook_url  $URL;
            twanon_resolver     /resolver;
        }

        # the resolver location of docs/webhook.md

        location = /resolver {
            internal;

            proxy_pass          http://resolver/route;
            proxy_http_version  1.1;
            proxy_set_header    Connection "";

            proxy_connect_timeout  1s;
            proxy_send_timeout     2s;
            proxy_read_timeout     2s;

            proxy_next_upstream          error timeout non_idempotent;
            proxy_next_upstream_tries    2;
            proxy_next_upstream_timeout  4s;
        }
    }

    server {
        listen       127.0.0.1:8081 backlog=1024;
        server_name  localhost;

        keepalive_requests  100000;

        location = /route {
            return 200 '{"appId":"user001","customerName":"Ann","customerId":"42"}';
        }
    }
}

EOF
}

sub write_conf {
	my ($workers) = @_;

	$t->write_file_expand('nginx.conf', conf($workers));

	my $conf = $t->read_file('nginx.conf');
	$conf =~ s!error_log\s+(\S+)/error\.log\s+debug;!error_log $1/master.log info;!
		or die "no error_log in the test globals\n";

	$t->write_file('nginx.conf', $conf);
}

write_conf(2);

$t->run()->plan(32);

###############################################################################

my $MASTER = $t->read_file('nginx.pid');
chomp $MASTER;

my %WEBHOOK = (
	AccountSid => $ACCOUNT,
	ApiVersion => '2010-04-01',
	CallSid => 'CA' . 'feedfacefeedfacefeedfacefeedface',
	CallStatus => 'ringing',
	Direction => 'inbound',
	From => $CALLER,
	To => $CALLED,
);

my ($BODY, $SIGNATURE) = signed_form($TOKEN, $URL,
	map { $_ => $WEBHOOK{$_} } sort keys %WEBHOOK);

my $ROUTED = dial_twiml(identity => 'user001', caller_id => $CALLED,
	params => [ customerName => 'Ann', customerId => 42 ]);

my $TOKEN_LUA = '^{"identity":"alice","token":"[^"]+"}$';
my $TOKEN_RE = qr/^\{"identity":"alice","token":"[^"]+"\}$/;

# the wrk scripts: each counts the replies that are not exactly what it
# expects

sub write_scripts {
	my ($close) = @_;

	$t->write_file('token.lua', wrk_script(path => '/token?identity=alice',
		close => $close,
		check => 'string.match(body, ' . lua_string($TOKEN_LUA)
			. ') ~= nil'));

	$t->write_file('incoming.lua', wrk_script(method => 'POST',
		path => '/incoming', body => $BODY, close => $close,
		headers => {
			'Content-Type' => 'application/x-www-form-urlencoded',
			'X-Twilio-Signature' => $SIGNATURE,
		},
		check => 'body == ' . lua_string($ROUTED)));
}

# waits until the master has exactly n workers, all of the current
# generation (no old worker shutting down); returns their pids

sub settle {
	my ($n, $timeout) = @_;

	my $deadline = time() + ($timeout || 20);
	my @w;

	while (time() < $deadline) {
		@w = worker_pids($MASTER);

		my $old = grep {
			my $cmd = eval { $t->read_file("/proc/$_/cmdline") } || '';
			$cmd =~ /shutting down/;
		} @w;

		return @w if @w == $n && !$old;

		sleep(0.05);
	}

	return @w;
}

# log lines joined, at most 20 of them and a count of the others: under
# load, a failure would print hundreds of thousands of lines

sub some_lines {
	my (@l) = @_;

	return join("\n", @l) if @l <= 20;

	return join("\n", @l[0 .. 19], '(and ' . (@l - 20) . ' more lines)');
}

sub token_request {
	my (%o) = @_;

	return http_request('GET', '/token?identity=alice',
		timeout => $o{timeout} || 5);
}

###############################################################################

# the requests are right before any load

my $r = token_request();

like($r->{body} || '', $TOKEN_RE, 'token');

$r = http_request('POST', '/incoming', body => $BODY, headers => {
	'Content-Type' => 'application/x-www-form-urlencoded',
	'X-Twilio-Signature' => $SIGNATURE,
});

is($r->{body}, $ROUTED, 'incoming routed');

my @w = settle(2);

is(scalar @w, 2, 'two workers');

###############################################################################

# a. 30 s of load against both endpoints, a reload every second; wrk
# closes each connection after its reply.  With keep-alive (set
# TEST_TWANON_LOAD_KEEPALIVE=1 to see it), a worker that shuts down closes
# its idle keep-alive connections, and wrk counts a read error each time
# its next request was already on the way (some 170 in 30 reloads here):
# HTTP clients retry those, wrk does not

my $keepalive = $ENV{TEST_TWANON_LOAD_KEEPALIVE} ? 1 : 0;

write_scripts(!$keepalive);

my $start = time();

my @wrk = (
	wrk_start('token.lua', $RELOAD_TIME + 1, 1, 4),
	wrk_start('incoming.lua', $RELOAD_TIME + 1, 1, 4),
);

my $reloads = 0;

for my $i (1 .. $RELOAD_TIME) {
	my $at = $start + $i;
	sleep($at - time()) if $at > time();

	kill('HUP', $MASTER) and $reloads++;
}

my @res = map { wrk_wait($_) } @wrk;

diag(sprintf('reload: %d reloads in %.1f s, %s', $reloads, time() - $start,
	$keepalive ? 'keep-alive' : 'Connection: close'));
diag(wrk_figures($_)) for @res;

for my $res (@res) {
	my $what = "reload $res->{script}";

	ok(($res->{requests} || 0) > 0, "$what requests");
	is($res->{bad}, 0, "$what bad replies");
	is($res->{errors}, 0, "$what socket errors");
	is($res->{good}, $res->{requests}, "$what all good");
}

my $master_log = $t->read_file('master.log');

my $reconfigured = () =
	$master_log =~ /signal 1 \(SIGHUP\) received.*reconfiguring/g;
ok($reconfigured >= $RELOAD_TIME, 'reloads done')
	or diag("$reconfigured reloads logged, $reloads sent");

###############################################################################

# b. a worker killed with SIGKILL; the other one is stopped meanwhile, so
# that only a new worker can answer, under a concurrent load of /token

@w = settle(2);

is(scalar @w, 2, 'two workers before kill');

write_scripts(0);

my $load = wrk_start('token.lua', 4, 1, 4);

sleep(1);

my ($victim, $other) = @w;
my ($took, $new, $reply);

kill('STOP', $other);

my $kill = time();
kill('KILL', $victim);

eval {
	while (time() - $kill < 5) {
		my $r = token_request(timeout => 5);
		my $pid = $r->{headers}{'x-worker'};

		if (defined $pid && $pid ne $victim && $pid ne $other) {
			$took = time() - $kill;
			$new = $pid;
			$reply = $r->{body};
			last;
		}

		sleep(0.01);
	}
};

kill('CONT', $other);

ok(defined $took && $took < 1, 'new worker serving within 1 s');
diag(sprintf('crash: worker %s killed, worker %s served /token after '
	. '%.3f s', $victim, $new || 'none', $took || -1));

like($reply || '', $TOKEN_RE, 'new worker token');
ok(defined $new && (grep { $_ eq $new } worker_pids($MASTER)),
	'new worker of master');

my $res = wrk_wait($load);

diag('crash: ' . wrk_figures($res));

ok(($res->{good} || 0) > 0, 'crash load served');
is($res->{bad}, 0, 'crash load bad replies');

@w = settle(2);

is(scalar @w, 2, 'two workers after kill');

###############################################################################

# c. memory: one worker, warmed up with 20,000 requests; its RSS after
# 1,000,000 more, /token and signed /incoming from two wrk at once, on
# keep-alive connections

SKIP: {

# AddressSanitizer keeps freed memory in quarantine: RSS tells nothing
# there, and LeakSanitizer checks for leaks instead

skip 'RSS means nothing under AddressSanitizer', 7 if $ENV{TEST_NGINX_ASAN};

write_conf(1);
kill('HUP', $MASTER);

@w = settle(1);

is(scalar @w, 1, 'one worker');

my $worker = $w[0];

my $warm = 0;
my $bad = 0;
my $errors = 0;

for (1 .. 5) {
	my @r = map { wrk_wait($_) } (
		wrk_start('token.lua', 2, 1, 4),
		wrk_start('incoming.lua', 2, 1, 4),
	);

	$warm += $_->{requests} || 0 for @r;
	last if $warm >= $WARMUP_REQUESTS;
}

my $rss_before = rss($worker);

my ($total, $time) = (0, 0);
my @runs;

$start = time();

while ($total < $MEMORY_REQUESTS && time() - $start < $MEMORY_BOUND - 10) {
	my @r = map { wrk_wait($_) } (
		wrk_start('token.lua', 10, 1, 4),
		wrk_start('incoming.lua', 10, 1, 4),
	);

	for (@r) {
		$total += $_->{requests} || 0;
		$bad += defined $_->{bad} ? $_->{bad} : 1;
		$errors += defined $_->{errors} ? $_->{errors} : 1;
		push @runs, wrk_figures($_);
	}
}

$time = time() - $start;

my $rss_after = rss($worker);

diag("memory: worker $worker, warm-up $warm requests");
diag(sprintf('memory: %d requests in %.1f s, %.0f/s', $total, $time,
	$time ? $total / $time : 0));
diag("memory: $_") for @runs;
diag(sprintf('memory: VmRSS %s kB before, %s kB after, %+d kB',
	map { defined $_ ? $_ : 'none' } $rss_before, $rss_after,
	($rss_after || 0) - ($rss_before || 0)));

ok($warm >= $WARMUP_REQUESTS, 'warm-up requests');
ok($total >= $MEMORY_REQUESTS, 'memory requests');
is($bad, 0, 'memory bad replies');
is($errors, 0, 'memory socket errors');
is(join(' ', worker_pids($MASTER)), $worker, 'memory same worker');
ok(defined $rss_before && defined $rss_after
	&& $rss_after - $rss_before < 1024, 'rss growth under 1 MiB');

}

###############################################################################

$t->stop();

my @lines = split /\n/, $t->read_file('error.log');

is(some_lines(grep { /\[(?:alert|crit|emerg)\]/ } @lines), '',
	'no alert or crit in requests');

# when wrk stops, it closes connections with a lookup under way: nginx
# ends the subrequest with 499 and the request with it, and the module
# logs it at info, as the client's doing (no reply goes out: the client
# is gone); any other line of the module's would be a fallback served

my $gone = '\[info\] \d+#\d+: \*\d+ '
	. quotemeta('twanon: client closed the connection during the lookup,'
	. qq{ call "$WEBHOOK{CallSid}"}) . '[ ,]';
$gone = qr/$gone/;

is(some_lines(grep { /twanon:/ && !/$gone/ } @lines), '',
	'no fallback served');
diag('lookups ended by a client gone (status 499): '
	. scalar(grep { /$gone/ } @lines));

# a reload may close a kept-alive resolver connection just as a worker
# reuses it; proxy_next_upstream non_idempotent retries the lookup (see
# docs/webhook.md), and that is the only error allowed

my $race = '\[error\] \d+#\d+: \*\d+ (?:'
	. quotemeta('upstream prematurely closed connection') . '|'
	. quotemeta('recv() failed (104: Connection reset by peer)') . ')'
	. quotemeta(' while reading response header from upstream,'
	. ' client: 127.0.0.1, server: localhost,'
	. ' request: "POST /incoming HTTP/1.1", subrequest: "/resolver", ');
$race = qr/$race/;

is(some_lines(grep { /\[error\]/ && !/$race/ && !/$gone/ } @lines), '',
	'no errors but resolver keep-alive races');
diag('resolver keep-alive races retried: '
	. scalar(grep { /$race/ } @lines));

# the master's log: the one alert is the worker killed on purpose

@lines = split /\n/, $t->read_file('master.log');

is(some_lines(grep { /\[(?:alert|crit|emerg)\]/
	&& !/\[alert\] \d+#\d+: worker process $victim exited on signal 9$/ }
	@lines), '', 'no other alerts in master log');
is(scalar(grep { /worker process $victim exited on signal 9$/ } @lines), 1,
	'killed worker logged');

is(some_lines(grep { /$DIGITS/ } @lines, split /\n/,
	$t->read_file('error.log')), '', 'logs without number');

###############################################################################
