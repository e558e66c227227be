#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for "make demo": it starts nginx in the foreground with
# docs/examples/demo.conf, the console and the API answer, a simulated
# call and "make call" route through the real /incoming, and an interrupt
# (Ctrl-C) stops it with nothing left running.  "make demo" runs Debian's
# nginx with build/ngx_http_twanon_module.so whatever nginx the rest of
# the suite runs (make test-1.26, test-static build that module too).
# Its prefix, the console included, is a directory of its own under /tmp
# that workers running as "nobody" can read wherever the checkout is
# (under /root, mode 700, too), with nginx.conf readable by its owner
# only; it is gone once the demo stops.

###############################################################################

use warnings;
use strict;

use Test::More;

use File::Temp qw/ tempdir /;
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX qw/ setsid WNOHANG /;
use Time::HiRes qw/ sleep time /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ skip_file /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $top = "$FindBin::Bin/..";

skip_file('no module built (make build)')
	unless -f "$top/build/ngx_http_twanon_module.so";
skip_file('no console') unless -f "$top/html/index.html";
skip_file('no make') unless grep { -x "$_/make" } split /:/, $ENV{PATH};

plan(tests => 27);

# a free port, so that a demo the user runs is left alone; the demo
# makes a prefix of its own

my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1:0', Listen => 1)
	or die "no free port: $!";
my $port = $sock->sockport();
close $sock;

my $dir = tempdir('twanon-demo-t-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my $log = "$dir/make.log";

my $pid = fork();
die "fork: $!" unless defined $pid;

if ($pid == 0) {
	setsid();
	open STDIN, '<', '/dev/null';
	open STDOUT, '>', $log;
	open STDERR, '>&', \*STDOUT;
	exec('make', '-C', $top, 'demo', "DEMO_PORT=$port") or exit 127;
}

# up when the console answers: a connection alone is not enough, since
# the "nginx -t" that "make demo" runs first listens on the port too,
# for the moment it takes to check the configuration

my $http = HTTP::Tiny->new(timeout => 10);
my $base = "http://127.0.0.1:$port";

my $up = 0;

for (1 .. 1200) {
	if ($http->get("$base/")->{status} == 200) {
		$up = 1;
		last;
	}

	last if waitpid($pid, WNOHANG) == $pid;
	sleep(0.1);
}

ok($up, 'demo listens') or diag(slurp($log));

# the prefix "make demo" printed: under /tmp, readable by all but for
# nginx.conf

my ($prefix) = slurp($log) =~ /^twanon demo: prefix (\S+)$/m;
$prefix = '/nonexistent' unless defined $prefix;

like($prefix, qr!^/tmp/twanon-demo\.\w+$!, 'prefix under /tmp');
is(mode("$prefix/html/index.html"), '0644', 'console readable by all');
is(mode("$prefix/nginx.conf"), '0600', 'nginx.conf readable by owner');

my $r = $http->get("$base/");
is($r->{status}, 200, 'console');
like($r->{content}, qr/<script[^>]+app\.js/, 'console page');

$r = $http->get("$base/vendor/twilio.min.js");
is($r->{status}, 200, 'voice sdk served');

$r = $http->get("$base/config.json");
like($r->{content}, qr/"demo":\{"simulateUrl":"\/demo\/simulate"/,
	'demo config');

$r = $http->get("$base/token?identity=operator1");
is($r->{status}, 200, 'token');
like($r->{content}, qr/^\{"identity":"operator1","token":"[\w-]+\.[\w-]+\.[\w-]+"\}$/,
	'token body');

$r = $http->get("$base/demo/simulate?caller=1");
is($r->{status}, 200, 'simulated call');
like($r->{content}, qr!<Client><Identity>operator1</Identity><Parameter name="twanonRinging" value="1"/><Parameter name="customerName" value="Hanako Yamada"/><Parameter name="customerId" value="C-1001"/></Client>!,
	'simulated call routed');
unlike($r->{content}, qr/5550100/, 'simulated call without number');

$r = $http->get("$base/demo/simulate?caller=4");
like($r->{content}, qr!<Parameter name="customerName" value="Unknown caller"/>!,
	'unknown caller rings the front desk');

# the call rings out: a wider group on attempt 2, then the voicemail

$r = $http->get("$base/demo/simulate?caller=1&attempt=1");
like($r->{content}, qr!action="/after-dial\?attempt=2"><Client><Identity>operator1</Identity>.*<Client><Identity>operator2</Identity>!,
	'simulated ring-out: attempt 2 rings two operators');
$r = $http->get("$base/demo/simulate?caller=1&attempt=2");
like($r->{content}, qr!<Record maxLength="120" playBeep="true"/>!,
	'simulated ring-out: voicemail after attempt 2');

my $after = `make -s -C $top call DEMO_PORT=$port FROM=+15550101 DIAL_STATUS=no-answer 2>&1`;
like($after, qr!action="/after-dial\?attempt=2"!, 'make call DIAL_STATUS');
$after = `make -s -C $top call DEMO_PORT=$port FROM=+15550101 DIAL_STATUS=completed 2>&1`;
like($after, qr!<Response><Hangup/></Response>!, 'make call completed');

# the masked callback: by customer ID, refused for an unknown one

my $out = `make -s -C $top call-out DEMO_PORT=$port CUSTOMER=C-1002 2>&1`;
like($out, qr!<Dial [^>]*callerId="\+15557654321"><Number>\+15550101</Number></Dial>!,
	'make call-out dials the customer');
$r = $http->get("$base/demo/callback?customer=C-9999");
like($r->{content}, qr!<Say>This call cannot be placed.</Say>!,
	'callback to an unknown customer refused');

my $call = `make -s -C $top call DEMO_PORT=$port FROM=+15550101 2>&1`;
is($? >> 8, 0, 'make call');
like($call, qr!<Parameter name="customerName" value="John Smith"/>!,
	'make call routed');

# Ctrl-C: the terminal interrupts the whole foreground process group

kill 'INT', -$pid;

my $gone = 0;
my $start = time();

while (time() - $start < 10) {
	if (waitpid($pid, WNOHANG) == $pid) {
		$gone = 1;
		last;
	}

	sleep(0.1);
}

ok($gone, 'interrupt stops make demo') or kill 'KILL', -$pid;
ok(!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port"), 'port closed');

my @left = grep { /\Q$prefix\E/ } `ps -eo args`;
is(scalar @left, 0, 'no nginx left') or diag(@left);
ok(!-e $prefix, 'prefix removed');

my $out = slurp($log);
unlike($out, qr/5550100|5550101/, 'no number in the demo output');

sub mode {
	my ($name) = @_;
	my @st = stat($name) or return 'none';
	return sprintf('%04o', $st[2] & 07777);
}

sub slurp {
	my ($name) = @_;
	open my $fh, '<', $name or return '';
	local $/;
	return <$fh>;
}

###############################################################################
