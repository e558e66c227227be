#!/usr/bin/perl

# Copyright (C) twanon authors

# The counters (twanon_status) read by a real Prometheus, Debian 12's
# package (make test installs it): "promtool check metrics" finds no
# problem in the module's output and "promtool check rules" none in
# docs/examples/prometheus/rules.yml; a Prometheus of the test's own (its
# config and storage in the test's prefix, on a free loopback port,
# scraping every second, the example rules loaded) sees exactly the
# routed webhooks sent, a number for the resolver's p95, the rules
# healthy, the fallback ratio alert's expression true for incoming calls
# that got the fallback but not for the after-dial step's planned
# voicemail, and answers every query of docs/operations.md and of the
# Grafana dashboard (docs/examples/grafana-dashboard.json), whose panels
# name only metrics the module shows.

###############################################################################

use warnings;
use strict;

use Test::More;

use Cwd qw//;
use POSIX qw/ WNOHANG /;
use Time::HiRes qw/ time sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT webhook_request parse_response form_escape
	die_with_parent /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my ($PROMETHEUS, $PROMTOOL) = map {
	my $tool = $_;
	(grep { -x } map { "$_/$tool" } split /:/, $ENV{PATH} || '')[0];
} qw/ prometheus promtool /;

skip_file('no prometheus or promtool (make test installs Debian\'s '
	. 'prometheus)') unless defined $PROMETHEUS && defined $PROMTOOL;

eval { require JSON::PP; };
skip_file('no JSON::PP') if $@;

my $TOKEN = 'prometheus-token-5e1c';
my $FROM = '+15553337777';
my $DIGITS = qr/5553337777/;
my $SENT = 7;

my $RULES = Cwd::abs_path('../docs/examples/prometheus/rules.yml');
my $DASHBOARD = '../docs/examples/grafana-dashboard.json';
my $OPERATIONS = '../docs/operations.md';

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

        twanon_auth_token  $TOKEN;

        location = /incoming {
            twanon_incoming;
            twanon_resolver  /resolver;
        }

        location = /resolver {
            internal;
            proxy_pass  http://127.0.0.1:8081/route;
        }

        # nobody answered and no attempt is left: the voicemail

        location = /after {
            twanon_after_dial;
            twanon_resolver       /resolver;
            twanon_dial_attempts  1;
            twanon_fallback_say   "Please leave a message.";
        }

        location = /incoming_down {
            twanon_incoming;
            twanon_resolver  /resolver_down;
        }

        location = /resolver_down {
            internal;
            proxy_pass  http://127.0.0.1:8081/down;
        }

        location = /metrics {
            twanon_status;
            allow  127.0.0.1;
            deny   all;
        }
    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        location = /route {
            return 200 '{"appId":"op_1","customerName":"Ann","customerId":"42"}';
        }

        location = /down {
            return 500;
        }
    }
}

EOF

$t->run()->plan(27);

###############################################################################

my $DIR = $t->testdir();
my $PPORT = port(9090);
my $n = 0;

sub hook {
	my ($uri, @extra) = @_;

	my @pairs = (
		AccountSid => 'AC' . '0' x 32,
		CallSid => sprintf('CA%032x', 0x9e000000 + ++$n),
		From => $FROM,
		To => '+15557654321',
		@extra,
	);

	return webhook_request($uri || '/incoming', token => $TOKEN,
		pairs => \@pairs);
}

sub metrics {
	return parse_response($t->http_get('/metrics'))->{body};
}

# the metric names of an exposition: the series' names, a histogram's by
# its base name as well

sub names {
	my ($text) = @_;

	my %names;

	for ($text =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/mg) {
		$names{$_} = 1;
		$names{$1} = 1 if /^(\w+)_(?:bucket|sum|count)$/;
	}

	return \%names;
}

# the twanon_* names an expression uses that the module does not show

sub unknown_names {
	my ($names, @exprs) = @_;

	my %bad;
	$bad{$_} = 1 for grep { !$names->{$_} }
		map { /\b(twanon_\w+)/g } @exprs;

	return join(' ', sort keys %bad);
}

# runs a command, its standard input the given text; returns its exit
# status and its output (both streams)

sub run_tool {
	my ($input, @cmd) = @_;

	$t->write_file('tool.in', defined $input ? $input : '');

	my $pid = fork();
	die "fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		open STDIN, '<', "$DIR/tool.in";
		open STDOUT, '>', "$DIR/tool.out";
		open STDERR, '>&', \*STDOUT;
		exec(@cmd) or POSIX::_exit(127);
	}

	my $deadline = time() + 30;

	while (waitpid($pid, WNOHANG) == 0) {
		if (time() > $deadline) {
			kill 'KILL', $pid;
			waitpid($pid, 0);
			return (-1, "killed after 30 s\n"
				. $t->read_file('tool.out'));
		}

		sleep(0.05);
	}

	return ($? >> 8, $t->read_file('tool.out'));
}

###############################################################################

# promtool on the module's output and on the example rules

my $m = metrics();
my $NAMES = names($m);

my ($rc, $out) = run_tool($m, $PROMTOOL, 'check', 'metrics');
is($rc, 0, 'promtool check metrics status');
is($out, '', 'promtool check metrics: no problem');

($rc, $out) = run_tool(undef, $PROMTOOL, 'check', 'rules', $RULES);
is($rc, 0, 'promtool check rules') or diag($out);
like($out, qr/SUCCESS: 3 rules found/, 'three rules');

###############################################################################

# a Prometheus of our own

$t->write_file('prometheus.yml', <<"EOF");
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s

rule_files:
  - $RULES

scrape_configs:
  - job_name: twanon
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:${\ port(8080)}"]
EOF

my $prom = fork();
die "fork: $!\n" unless defined $prom;

if ($prom == 0) {
	die_with_parent();

	open STDOUT, '>', "$DIR/prometheus.log";
	open STDERR, '>&', \*STDOUT;

	exec($PROMETHEUS, "--config.file=$DIR/prometheus.yml",
		"--storage.tsdb.path=$DIR/prometheus-data",
		"--web.listen-address=127.0.0.1:$PPORT",
		'--log.level=warn')
		or POSIX::_exit(127);
}

END { stop_prometheus() if defined $prom && $prom; }

# GET of Prometheus's HTTP API; returns the decoded JSON, or undef

sub api {
	my ($path, %args) = @_;

	my $q = join('&',
		map { "$_=" . form_escape($args{$_}) } sort keys %args);
	$path .= "?$q" if $q ne '';

	my $r = parse_response($t->http("GET $path HTTP/1.0\x0d\x0a"
		. "Host: localhost\x0d\x0a\x0d\x0a",
		peer => "127.0.0.1:$PPORT", timeout => 5));

	return undef unless $r && defined $r->{status} && defined $r->{body};

	return eval { JSON::PP::decode_json($r->{body}) };
}

# the value of an instant query with one result, or undef; with every
# result when asked for a list

sub query {
	my ($expr) = @_;

	my $j = api('/api/v1/query', query => $expr);
	return undef unless $j && $j->{status} eq 'success';

	my $res = $j->{data}{result};
	return $res if wantarray;
	return undef unless ref $res eq 'ARRAY' && @$res == 1;

	return $res->[0]{value}[1];
}

# waits until code returns true, at most seconds; returns its last value

sub wait_for {
	my ($seconds, $code) = @_;

	my $deadline = time() + $seconds;
	my $v;

	while (time() < $deadline) {
		$v = $code->();
		return $v if $v;
		last if waitpid($prom, WNOHANG) == $prom;
		sleep(0.2);
	}

	return $v;
}

sub scrapes {
	return query('count_over_time(twanon_build_info[5m])') || 0;
}

# the first scrape, before any webhook: rate() then sees them all

my $ready = wait_for(30, sub { scrapes() >= 1 });

ok($ready, 'prometheus scraped')
	or diag($t->read_file('prometheus.log'));

is(hook()->{status}, 200, 'webhook');
hook() for 2 .. $SENT;

my $W = 'sum(twanon_webhooks_total{outcome="client"})';

my $seen = wait_for(30, sub {
	my $v = query($W);
	defined $v && $v == $SENT ? $v : 0;
});

is($seen, $SENT, 'client webhooks seen by prometheus');

# two scrapes more after that one

my $before = scrapes();
ok(wait_for(10, sub { scrapes() >= $before + 2 }), 'scraped twice more');

is(query($W), $SENT, 'client webhooks, summed');
is(query('sum(twanon_webhooks_total)'), $SENT, 'no other webhook');

my $p95 = query('histogram_quantile(0.95, '
	. 'sum(rate(twanon_resolver_duration_seconds_bucket[1m])) by (le))');

like($p95 // 'none', qr/^\d+(?:\.\d+)?(?:e[-+]?\d+)?$/,
	'resolver p95 is a number');
ok(defined $p95 && $p95 > 0 && $p95 <= 10, 'resolver p95 in range')
	or diag('p95: ' . ($p95 // 'none'));

is(query('twanon_resolver_duration_seconds_count'), $SENT,
	'resolver lookups counted');

# the rules are loaded and evaluate without error

my $groups = wait_for(10, sub {
	my $j = api('/api/v1/rules');
	my @g = $j && $j->{status} eq 'success'
		? @{$j->{data}{groups}} : ();
	my @r = map { @{$_->{rules}} } @g;
	(@r == 3 && !grep { ($_->{health} // '') ne 'ok' } @r) ? \@r : undef;
});

is(join(' ', map { "$_->{name}:$_->{health}" } @{$groups || []}),
	'TwanonFallbackRatioHigh:ok TwanonResolverSlow:ok '
	. 'TwanonSignatureFailures:ok', 'rules healthy');

my $alerts = api('/api/v1/alerts');
is(scalar @{$alerts && $alerts->{data}{alerts} || [ 'none' ]}, 0,
	'no alert firing');

# the fallback ratio alert's expression, evaluated at once (its "for"
# is 5 minutes): the after-dial step's voicemail, planned when nobody
# answered, is not a failure; the incoming step's fallback is

my ($FALLBACK_ALERT) = $t->read_file($RULES)
	=~ /alert: TwanonFallbackRatioHigh\n\s+expr: \|\n(.*?)\n\s+for:/s;

sub seen {
	my ($expr, $want) = @_;

	my $v = wait_for(30, sub {
		my $v = query($expr);
		defined $v && $v == $want ? $v : 0;
	});

	# two scrapes more, so that rate() has them in every sample

	my $before = scrapes();
	wait_for(10, sub { scrapes() >= $before + 2 });

	return $v;
}

hook('/after', CallStatus => 'in-progress', Direction => 'inbound',
	DialCallStatus => 'no-answer', DialCallSid => 'CA' . 'f' x 32,
	DialCallDuration => '0') for 1 .. 3;

is(seen('sum(twanon_fallbacks_total)', 3), 3, 'voicemail fallbacks seen');

my ($res) = query($FALLBACK_ALERT);
is(scalar @{$res || [ 'error' ]}, 0, 'no fallback alert for voicemail');

hook('/incoming_down') for 1 .. 3;

seen('sum(twanon_webhooks_total{outcome="error"})', 3);

($res) = query($FALLBACK_ALERT);
ok(ref $res eq 'ARRAY' && @$res == 1 && $res->[0]{value}[1] > 0.10,
	'fallback alert for incoming fallbacks')
	or diag(JSON::PP::encode_json($res || []));

###############################################################################

# the queries of docs/operations.md and of the dashboard

my $doc = $t->read_file(Cwd::abs_path($OPERATIONS));
my @promql = $doc =~ /^```promql\n(.*?)^```$/msg;

ok(@promql >= 4, 'operations.md queries') or diag(scalar @promql);

my @failed = grep {
	my $j = api('/api/v1/query', query => $_);
	!$j || $j->{status} ne 'success';
} @promql;

is(join("\n", @failed), '', 'operations.md queries run');
is(unknown_names($NAMES, @promql), '', 'operations.md names');

# the same with the dashboard's: each panel has at least one, each runs
# with Grafana's variables filled in

my $dash = eval {
	JSON::PP::decode_json($t->read_file(Cwd::abs_path($DASHBOARD)));
};

my @panels = @{$dash && $dash->{panels} || []};
my @exprs = map { $_->{expr} } map { @{$_->{targets} || []} } @panels;

is(join(', ', sort map { $_->{title} } @panels),
	'Calls by outcome, Fallback ratio, Resolver latency p50 / p95, '
	. 'Signature failures, Tokens issued', 'dashboard panels');
is(scalar(grep { !grep { defined $_->{expr} && $_->{expr} =~ /twanon_/ }
	@{$_->{targets} || []} } @panels), 0, 'dashboard exprs');
is(unknown_names($NAMES, @exprs), '', 'dashboard names');

@failed = grep {
	(my $e = $_) =~ s/\$__rate_interval/1m/g;
	$e =~ s/\$instance/.*/g;
	my $j = api('/api/v1/query', query => $e);
	!$j || $j->{status} ne 'success';
} @exprs;

is(join("\n", @failed), '', 'dashboard queries run');

# the rules name shown metrics too

is(unknown_names($NAMES, $t->read_file($RULES) =~ /expr:(.*?)(?=\n\s+for:)/sg),
	'', 'rules names');

###############################################################################

stop_prometheus();

$t->stop();

is(join("\n", grep { /$DIGITS/ } split /\n/, $t->read_file('error.log')),
	'', 'no number in the log');

###############################################################################

# stops the Prometheus this test started: TERM, then KILL after 10 s

sub stop_prometheus {
	return unless $prom && $$ != $prom;

	kill 'TERM', $prom;

	for (1 .. 100) {
		if (waitpid($prom, WNOHANG) != 0) {
			$prom = 0;
			return;
		}

		sleep(0.1);
	}

	kill 'KILL', $prom;
	waitpid($prom, 0);
	$prom = 0;
}

###############################################################################
