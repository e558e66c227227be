#!/usr/bin/perl

# Copyright (C) twanon authors

# make bench: the module's handlers against nginx's own ceiling, in one
# run on one machine (docs/performance.md explains the method).
#
#   1. /token         against  return 200 of a body of the same size
#   2. /incoming      against  a plain proxy_pass of the same POST to the
#                              same resolver, which returns the same bytes
#   3. /incoming with the resolver down (the fallback)
#                     against  a proxy_pass of the same POST to the same
#                              down resolver, with error_page serving the
#                              same TwiML
#   4. what 252 keys sharing a 200-byte prefix, in reverse order, add
#      to /incoming over the same keys with their distinct part first
#                     against  the comparison-sort bound on those keys,
#                              log2(252!) comparisons, each priced by
#                              qsort() with memcmp() (t/bench/sortref.c)
#   5. /incoming with a twanon_status_zone  against  /incoming without:
#                         what counting costs (callgrind only)
#
# Throughput and latency come from wrk, A B A B, one nginx worker with the
# access log off; instructions per request from valgrind --tool=callgrind
# (the difference between two runs of W and W + N requests); the worker's
# resident memory before and after 100,000 requests.  The exit code is 1
# when a target or an instruction budget (%BUDGET, below) is missed or a
# run saw an error.
#
# Environment: NGINX_BIN, MODULE, WRK, BENCH_DURATION (s per side and round),
# BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_CALLGRIND (requests counted),
# BENCH_RSS_REQUESTS, BENCH_SORT_REQUESTS (requests counted per side in
# the sort section), BENCH_KEEP (keep the temporary prefix), BENCH_ONLY
# (a comma-separated list of the sections to run: wrk, callgrind, sort;
# all by default), BENCH_PROFILE (sides whose instructions per request
# are shown per function, e.g. incoming,proxy: the profile section, run
# alone unless BENCH_ONLY names others), BENCH_PROFILE_TOP (rows shown).

###############################################################################

use warnings;
use strict;

use Digest::SHA qw/ hmac_sha1 /;
use File::Path qw/ make_path remove_tree /;
use File::Temp qw/ tempdir /;
use FindBin;
use IO::Socket::INET;
use MIME::Base64 qw/ encode_base64 /;
use POSIX qw/ WNOHANG /;
use Time::HiRes qw/ sleep time /;

$| = 1;

my $NGINX = $ENV{NGINX_BIN} || '/usr/sbin/nginx';
my $MODULE = $ENV{MODULE} or die "MODULE is not set\n";
my $WRK = $ENV{WRK} || 'wrk';
my $DURATION = $ENV{BENCH_DURATION} || 5;
my $ROUNDS = $ENV{BENCH_ROUNDS} || 3;
my $CONNS = $ENV{BENCH_CONNECTIONS} || 32;
my $CG_REQUESTS = $ENV{BENCH_CALLGRIND} || 1000;
my $CG_WARMUP = 200;
my $RSS_REQUESTS = $ENV{BENCH_RSS_REQUESTS} || 100000;
my $SORT_REQUESTS = $ENV{BENCH_SORT_REQUESTS} || 20;
my $SORT_WARMUP = 5;

# the fallback's target is derived from /incoming's in each run (below)
my %TARGET = (token => 0.85, incoming => 0.80);

# the most instructions a handler may take per request (callgrind), on
# this benchmark's 25-field, 655-byte webhook; they do not move with the
# machine's load, so that a missed one is a regression of the code
my %BUDGET = (token => 30000, incoming => 60000, fallback => 40000);

# what counting (twanon_status_zone) may add to a signed /incoming: the
# log phase's few atomic additions, at most this many instructions
my $COUNTING_BUDGET = 1500;
my $RSS_LIMIT_KB = 1024;

# what the adversarial keys add may be at most this many times what the
# bound costs (the sort section; docs/performance.md says why 1.5)
my $SORT_LIMIT = 1.5;

my %ONLY = map { $_ => 1 } grep { $_ ne '' }
	split /[\s,]+/, $ENV{BENCH_ONLY} // '';

for (keys %ONLY) {
	die "BENCH_ONLY: unknown section \"$_\" (wrk, callgrind, sort,"
		. " profile)\n" unless /^(?:wrk|callgrind|sort|profile)$/;
}

my @PROFILE = grep { $_ ne '' } split /[\s,]+/, $ENV{BENCH_PROFILE} // '';
my $PROFILE_TOP = $ENV{BENCH_PROFILE_TOP} || 30;

$ONLY{profile} = 1 if @PROFILE;

my $started = time();

my $top = $ENV{BENCH_TMP} || '/tmp';
my $dir = tempdir('twanon-bench-XXXXXX', DIR => $top,
	CLEANUP => !$ENV{BENCH_KEEP});
chmod 0755, $dir;

my @failures;
my @started;

END {
	stop_nginx($_) for grep { kill 0, $_ } @started;
}

###############################################################################

# the webhook: what Twilio posts for an inbound call, with its signature

my $AUTH_TOKEN = 'bench-auth-token-0123456789abcdef';
my $WEBHOOK_URL = 'https://bench.twanon.invalid/incoming';

my @params = (
	[ AccountSid => 'AC' . '0' x 32 ],
	[ ApiVersion => '2010-04-01' ],
	[ CallSid => 'CA' . '1' x 32 ],
	[ CallStatus => 'ringing' ],
	[ Called => '+15557654321' ],
	[ CalledCity => 'SAN FRANCISCO' ],
	[ CalledCountry => 'US' ],
	[ CalledState => 'CA' ],
	[ CalledZip => '94105' ],
	[ Caller => '+15551234567' ],
	[ CallerCity => 'OAKLAND' ],
	[ CallerCountry => 'US' ],
	[ CallerState => 'CA' ],
	[ CallerZip => '94612' ],
	[ Direction => 'inbound' ],
	[ From => '+15551234567' ],
	[ FromCity => 'OAKLAND' ],
	[ FromCountry => 'US' ],
	[ FromState => 'CA' ],
	[ FromZip => '94612' ],
	[ To => '+15557654321' ],
	[ ToCity => 'SAN FRANCISCO' ],
	[ ToCountry => 'US' ],
	[ ToState => 'CA' ],
	[ ToZip => '94105' ],
);

sub form_escape {
	my ($s) = @_;
	$s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord($1))/ge;
	return $s;
}

my $BODY = join('&', map { "$_->[0]=" . form_escape($_->[1]) } @params);

# keys and values here are ASCII, where Perl's order is Twilio's

sub signature {
	my (@pairs) = @_;
	return encode_base64(hmac_sha1($WEBHOOK_URL
		. join('', map { $_->[0] . $_->[1] }
			sort { $a->[0] cmp $b->[0] or $a->[1] cmp $b->[1] }
			@pairs), $AUTH_TOKEN), '');
}

my $SIGNATURE = signature(@params);

# The canonical sort's worst case: the fields a webhook needs, then 252
# keys (256 fields, the most the module accepts) that share a 200-byte
# prefix and differ only in their last 2 bytes, in reverse order; and the
# same bytes with each key's distinct part first, so that two keys differ
# in their first or second byte.  Both bodies have the same size.

my @alnum = ('0' .. '9', 'A' .. 'Z', 'a' .. 'z');
my @tags = map { $alnum[$_ % 62] . $alnum[int($_ / 62)] } 0 .. 251;
my @needed = @params[0, 2, 15, 20];

my %sort_pairs = (
	adversarial => [ @needed, map { [ 'k' x 200 . $_, '1' ] }
		reverse sort @tags ],
	plain => [ @needed, map { [ $_ . 'k' x 200, '1' ] }
		reverse sort @tags ],
);

my $RESOLVER_REPLY =
	'{"appId":"operator1","customerName":"Hanako Yamada",'
	. '"customerId":"C-1001"}';

# the six sides: what wrk requests and what a correct reply looks like

my %side = (
	token => { uri => '/token', check => qr/^\{"identity":"operator1","token":"eyJ/ },
	static_token => { uri => '/static/token' },
	incoming => { uri => '/incoming', post => 1,
		check => qr!<Client><Identity>operator1</Identity>! },
	proxy => { uri => '/proxy', post => 1,
		check => qr/^\Q$RESOLVER_REPLY\E$/ },
	fallback => { uri => '/incoming-down', post => 1,
		check => qr!<Say[ >]! },
	static_fallback => { uri => '/proxy-down', post => 1 },
);

for my $name (qw/ adversarial plain /) {
	my @p = @{$sort_pairs{$name}};
	$side{"sort_$name"} = { uri => '/incoming-sort', post => 1,
		body => join('&', map { "$_->[0]=" . form_escape($_->[1]) } @p),
		signature => signature(@p),
		check => qr!<Client><Identity>operator1</Identity>! };
}

for (@PROFILE) {
	die "BENCH_PROFILE: unknown side \"$_\" ("
		. join(', ', sort keys %side) . ")\n" unless $side{$_};
}

die "the sort bodies differ in size\n"
	if length($side{sort_adversarial}{body})
		!= length($side{sort_plain}{body});

my @pairs = (
	[ token => 'token', 'static_token', '/token vs return 200' ],
	[ incoming => 'incoming', 'proxy', '/incoming vs proxy_pass' ],
	[ fallback => 'fallback', 'static_fallback',
		'fallback vs proxy_pass down, error_page' ],
);

###############################################################################

# CPUs: nginx's worker on one, wrk and the resolver on another

my $ncpu = () = `cat /proc/cpuinfo` =~ /^processor\s*:/mg;
my $pin = $ncpu >= 2 && system('command -v taskset >/dev/null') == 0;
my ($cpu_model) = `cat /proc/cpuinfo` =~ /^model name\s*:\s*(.*)$/m;
$cpu_model ||= 'unknown CPU';

my $port = free_port();
my $rport = free_port($port);
my $dead = free_port($port, $rport);
my $dead2 = free_port($port, $rport, $dead);

my $ngx_version = `$NGINX -v 2>&1`;
$ngx_version =~ s/^nginx version: //; chomp $ngx_version;

my ($mod_version) = read_file("$ENV{TOP}/ngx_http_twanon_module/"
	. 'ngx_http_twanon_module.h') =~ /NGX_HTTP_TWANON_VERSION\s+"([^"]+)"/
	if $ENV{TOP};
$mod_version ||= 'unknown';
my $git = `git -C '$ENV{TOP}' describe --always --dirty 2>/dev/null` || '';
chomp $git;

printf "twanon benchmark: %s, twanon %s%s\n", $ngx_version, $mod_version,
	$git ? " ($git)" : '';
printf "%s, %d CPUs%s;%s access_log off, error_log crit\n",
	$cpu_model, $ncpu,
	$pin ? '; nginx on CPU 1, wrk and resolver on CPU 0' : '',
	wanted('wrk') ? sprintf(' wrk 1 thread, %d connections, %d x %d s'
		. ' per side;', $CONNS, $ROUNDS, $DURATION) : '';

###############################################################################

# the resolver: another nginx, returning one customer for any POST

write_file("$dir/resolver.conf", <<"EOF");
worker_processes  1;
@{[ $pin ? 'worker_cpu_affinity  01;' : '' ]}
pid        $dir/resolver.pid;
error_log  $dir/resolver.log error;
events {
    worker_connections  1024;
}
http {
    access_log  off;
    keepalive_requests  1000000;
    client_body_temp_path  $dir/tmp/rbody;
    server {
        listen  127.0.0.1:$rport;
        location = /resolve {
            default_type  application/json;
            return  200 '$RESOLVER_REPLY';
        }
    }
}
EOF

make_path("$dir/tmp");
chmod 0755, "$dir/tmp";

my $resolver = start_nginx('resolver.conf');

# phase 1: the module's replies, to size the static sides to them

my (%reply, $master, $worker);

if (wanted('wrk') || wanted('callgrind') || wanted('profile')) {
	write_conf(undef);
	$master = start_nginx('nginx.conf');

	for my $name (qw/ token incoming proxy fallback /) {
		my $c = client();
		my $r = request($c, $side{$name});
		die "$side{$name}{uri}: status $r->{status}\n$r->{body}\n"
			unless $r->{status} == 200;
		die "$side{$name}{uri}: unexpected reply\n$r->{body}\n"
			unless $r->{body} =~ $side{$name}{check};
		$reply{$name} = $r;
	}

	stop_nginx($master);

	# phase 2: the same bytes and headers from return 200

	write_conf(\%reply);
	$master = start_nginx('nginx.conf');

	for my $pair ([ static_token => 'token' ],
		[ static_fallback => 'fallback' ])
	{
		my ($static, $module) = @$pair;
		my $r = request(client(), $side{$static});
		die "$side{$static}{uri}: status $r->{status}\n"
			unless $r->{status} == 200;
		die "$side{$static}{uri}: not the size of $side{$module}{uri}\n"
			unless length($r->{body}) == length($reply{$module}{body});
		$side{$static}{check} = qr/^\Q$r->{body}\E$/;
	}

	$worker = worker_of($master);
}

###############################################################################

# throughput and latency: a warm-up second each, then A B A B

if (wanted('wrk')) {
	for my $name (map { @$_[1, 2] } @pairs) {
		wrk($name, 1);
	}

	my %runs;

	for my $round (1 .. $ROUNDS) {
		for my $pair (@pairs) {
			for my $name (@$pair[1, 2]) {
				push @{$runs{$name}}, wrk($name, $DURATION);
			}
		}
	}

	# The ratio of requests per second holds only while nginx is the
	# bottleneck on both sides; a client that cannot saturate the worker on
	# the cheap side understates it.  The worker's CPU time per request does
	# not depend on the client, so each pair is held to the lower of the two
	# ratios.

	print "\n";
	printf "%-24s %9s %8s %8s %6s %8s %7s %7s %8s\n",
		'', 'req/s', 'p50 ms', 'p99 ms', 'CPU', 'CPU us', 'req/s', 'CPU',
		'target';
	printf "%-24s %9s %8s %8s %6s %8s %7s %7s\n",
		'', '', '', '', '', '/req', 'ratio', 'ratio';

	my (%ratio, %s);

	for my $name (map { @$_[1, 2] } @pairs) {
		my @r = @{$runs{$name}};
		$s{$name} = {
			rps => sum(map { $_->{requests} } @r)
				/ sum(map { $_->{seconds} } @r),
			p50 => median(map { $_->{p50} } @r),
			p99 => median(map { $_->{p99} } @r),
			cpu => sum(map { $_->{cpu} } @r) / @r,
			us => 1e6 * sum(map { $_->{cpu_seconds} } @r)
				/ sum(map { $_->{requests} } @r),
		};
	}

	# The fallback does the module's work of /incoming up to the lookup,
	# against a side that does no more than fail the hop: it may add what
	# /incoming's target lets the module add to the proxy hop, in CPU time
	# per request, measured in this run (docs/performance.md).

	$TARGET{fallback} = $s{static_fallback}{us} / ($s{static_fallback}{us}
		+ (1 / $TARGET{incoming} - 1) * $s{proxy}{us});

	for my $pair (@pairs) {
		my ($key, $x, $y, $title) = @$pair;

		my $rps_ratio = $s{$x}{rps} / $s{$y}{rps};
		my $cpu_ratio = $s{$y}{us} / $s{$x}{us};

		$ratio{$key} = $rps_ratio < $cpu_ratio ? $rps_ratio : $cpu_ratio;
		my $ok = $ratio{$key} >= $TARGET{$key};
		push @failures, sprintf('%s: %.2f, target %.2f', $title,
			$ratio{$key}, $TARGET{$key}) unless $ok;

		print "$title\n";
		for my $name ($x, $y) {
			my $first = $name eq $x;
			printf "  %-22s %9.0f %8.3f %8.3f %5.0f%% %8.1f %7s %7s %8s\n",
				$side{$name}{uri}, $s{$name}{rps}, $s{$name}{p50},
				$s{$name}{p99}, $s{$name}{cpu}, $s{$name}{us},
				$first ? sprintf('%.2f', $rps_ratio) : '',
				$first ? sprintf('%.2f', $cpu_ratio) : '',
				$first ? sprintf('>= %.2f', $TARGET{$key})
					. ($ok ? '' : ' MISS') : '';
		}
	}

	# resident memory of the worker before and after RSS_REQUESTS requests

	print "\nworker resident memory, kB\n";
	printf "  %-24s %10s %10s %10s %10s\n", '', 'before', 'after', 'growth',
		'requests';

	for my $name (qw/ token incoming fallback /) {
		my $rps = sum(map { $_->{requests} } @{$runs{$name}})
			/ sum(map { $_->{seconds} } @{$runs{$name}});
		my $seconds = int($RSS_REQUESTS / $rps * 1.5) + 2;

		my $before = rss($worker);
		my $run = wrk($name, $seconds);
		my $after = rss($worker);
		my $growth = ($after - $before) * 100000 / $run->{requests};

		printf "  %-24s %10d %10d %+10d %10d%s\n", $side{$name}{uri},
			$before, $after, $after - $before, $run->{requests},
			$growth < $RSS_LIMIT_KB ? '' : ' MISS';

		push @failures, sprintf('%s: %d requests, fewer than %d',
			$side{$name}{uri}, $run->{requests}, $RSS_REQUESTS)
			if $run->{requests} < $RSS_REQUESTS;

		push @failures, sprintf('%s: RSS +%d kB per 100,000 requests',
			$side{$name}{uri}, $growth) if $growth >= $RSS_LIMIT_KB;
	}

}

stop_nginx($master) if defined $master;

###############################################################################

# instructions per request: nginx in one process under callgrind, twice

if (wanted('callgrind')) {
	print "\ninstructions per request (callgrind, nginx process only)\n";

	write_conf(\%reply, 1);

	my %ir;

	for my $pair (@pairs) {
		my ($key, $x, $y, $title) = @$pair;
		for my $name ($x, $y) {
			my $short = callgrind($name, $CG_WARMUP);
			my $long = callgrind($name, $CG_WARMUP + $CG_REQUESTS);
			$ir{$name} = ($long - $short) / $CG_REQUESTS;
		}
		my $ok = $ir{$x} <= $BUDGET{$key};

		printf "  %-24s %10.0f   budget <= %d%s\n"
			. "  %-24s %10.0f   %.2fx\n",
			$side{$x}{uri}, $ir{$x}, $BUDGET{$key}, $ok ? '' : ' MISS',
			$side{$y}{uri}, $ir{$y}, $ir{$x} / $ir{$y};

		push @failures, sprintf('%s: %.0f instructions per request,'
			. ' budget %d', $side{$x}{uri}, $ir{$x}, $BUDGET{$key})
			unless $ok;
	}

	# the same /incoming with the counters on: what counting costs

	write_conf(\%reply, 1, 1);

	my $short = callgrind('incoming', $CG_WARMUP);
	my $long = callgrind('incoming', $CG_WARMUP + $CG_REQUESTS);
	my $counted = ($long - $short) / $CG_REQUESTS;
	my $cost = $counted - $ir{incoming};
	my $ok = $cost <= $COUNTING_BUDGET;

	printf "  %-24s %10.0f   %+.0f counting, budget <= %d%s\n",
		'/incoming, counted', $counted, $cost, $COUNTING_BUDGET,
		$ok ? '' : ' MISS';

	push @failures, sprintf('counting (twanon_status_zone): %.0f'
		. ' instructions per request, budget %d', $cost,
		$COUNTING_BUDGET) unless $ok;
}

###############################################################################

# The canonical sort's worst case against the best a comparison sort
# can do on the same keys.  Sorting n keys takes at least log2(n!)
# comparisons in the worst case, and a comparison of two keys that share
# a 200-byte prefix reads that prefix of both.  What reading it costs is
# measured with the C library's qsort() and memcmp() (t/bench/sortref.c)
# sorting the same pairs under callgrind: its extra instructions on the
# adversarial keys over the plain ones, per comparison.  The module's
# extra instructions per request on the adversarial body over the plain
# one (same size) may be at most $SORT_LIMIT times the bound's cost.

if (wanted('sort')) {
	my $bytes = length $side{sort_plain}{body};
	my $keys = @{$sort_pairs{adversarial}} - @needed;

	printf "\ncanonical sort, %d fields in %d bytes: instructions per"
		. " request (callgrind)\n", scalar @{$sort_pairs{plain}}, $bytes;

	write_conf(\%reply, 1);

	my (%ir, %ref, %cmp);

	for my $name (qw/ sort_plain sort_adversarial /) {
		my $short = callgrind($name, $SORT_WARMUP);
		my $long = callgrind($name, $SORT_WARMUP + $SORT_REQUESTS);
		$ir{$name} = ($long - $short) / $SORT_REQUESTS;
	}

	my $sortref = "$dir/sortref";
	system('cc', '-O2', '-o', $sortref, "$FindBin::Bin/sortref.c") == 0
		or die "cc t/bench/sortref.c failed\n";

	for my $name (qw/ plain adversarial /) {
		my $file = "$dir/sort_$name.pairs";
		write_file($file, join('', map { "$_->[0]\t$_->[1]\n" }
			@{$sort_pairs{$name}}));

		my ($short) = callgrind_cmd($sortref, $file, $SORT_WARMUP);
		my ($long, $out) = callgrind_cmd($sortref, $file,
			$SORT_WARMUP + $SORT_REQUESTS);
		$ref{$name} = ($long - $short) / $SORT_REQUESTS;
		($cmp{$name}) = $out =~ /^(\d+)$/m
			or die "sortref: no count of comparisons\n";
	}

	my $bound = 0;
	$bound += log($_) / log(2) for 2 .. $keys;

	die "sortref: the plain and adversarial keys took $cmp{plain} and"
		. " $cmp{adversarial} comparisons\n"
		unless $cmp{plain} == $cmp{adversarial};

	my $extra = $ir{sort_adversarial} - $ir{sort_plain};
	my $ref_extra = $ref{adversarial} - $ref{plain};
	my $per_cmp = $ref_extra / $cmp{adversarial};
	my $ratio = $extra / ($bound * $per_cmp);
	my $ok = $ratio <= $SORT_LIMIT;

	printf "  %-44s %10.0f\n  %-44s %10.0f   %.2fx\n"
		. "  %-44s %10.0f\n",
		'/incoming, keys differing in byte 1 or 2', $ir{sort_plain},
		'/incoming, keys sharing 200 bytes, reversed',
		$ir{sort_adversarial}, $ir{sort_adversarial} / $ir{sort_plain},
		'  what those keys add', $extra;

	printf "the same %d pairs by qsort() with memcmp(): instructions per"
		. " sort (callgrind)\n", scalar @{$sort_pairs{plain}};
	printf "  %-44s %10.0f   %5d comparisons\n", $_->[0], $ref{$_->[1]},
		$cmp{$_->[1]} for [ 'keys differing in byte 1 or 2', 'plain' ],
		[ 'keys sharing 200 bytes, reversed', 'adversarial' ];
	printf "  %-44s %10.0f   %5.1f per comparison\n",
		'  what those keys add', $ref_extra, $per_cmp;
	printf "the bound: log2(%d!) = %.0f comparisons x %.1f\n  %-44s"
		. " %10.0f\n", $keys, $bound, $per_cmp,
		'what it costs at least', $bound * $per_cmp;
	printf "  %-44s %10.2fx  target <= %.1f%s\n"
		. "  %-44s %10.2fx\n",
		'what the keys add to /incoming, over the bound', $ratio,
		$SORT_LIMIT, $ok ? '' : ' MISS',
		'  (over what they add to qsort())', $extra / $ref_extra;

	push @failures, sprintf('adversarial keys: %.2fx the cost of the'
		. ' bound, target %.1f', $ratio, $SORT_LIMIT) unless $ok;
}

###############################################################################

# where the instructions go: each side's instructions per request, per
# function, from the same two runs as above (W and W + N requests), with
# both callgrind.out files kept in the prefix

if (wanted('profile') && @PROFILE) {
	my ($warm, $n) = ($CG_WARMUP, $CG_REQUESTS);
	($warm, $n) = ($SORT_WARMUP, $SORT_REQUESTS)
		if grep { /^sort_/ } @PROFILE;

	write_conf(\%reply, 1);

	my (%self, %incl, %obj, %total);

	for my $name (@PROFILE) {
		my (%run, %ir);
		for my $k ($warm, $warm + $n) {
			$run{$k} = "$dir/callgrind.$name.$k.out";
			$ir{$k} = callgrind($name, $k, $run{$k});
		}
		$total{$name} = ($ir{$warm + $n} - $ir{$warm}) / $n;

		for my $inclusive (0, 1) {
			my $short = annotate($run{$warm}, $inclusive);
			my $long = annotate($run{$warm + $n}, $inclusive);
			my $to = $inclusive ? \%incl : \%self;
			for my $f (keys %$long) {
				my $ir = ($long->{$f} - ($short->{$f} // 0)) / $n;
				$to->{$f}{$name} = $ir;
				next if $inclusive;
				my ($o) = $f =~ /\[(.*)\]$/;
				$obj{$o}{$name} += $ir;
			}
		}
	}

	my @cols = @PROFILE;
	my $head = join('', map { sprintf ' %12s', $side{$_}{uri} } @cols);
	my $row = sub {
		my ($label, $v) = @_;
		return unless grep { abs($v->{$_} // 0) >= 0.5 } @cols;
		printf "  %-56s%s\n", $label,
			join('', map { sprintf ' %12.0f', $v->{$_} // 0 } @cols);
	};

	printf "\ninstructions per request by function (callgrind, %d"
		. " requests; kept in %s)\n\n  %-56s%s\n", $n, $dir, 'total',
		$head;
	$row->('', \%total);

	print "\n  by object\n";
	$row->($_, $obj{$_}) for sort { diff(\%obj, $b) <=> diff(\%obj, $a) }
		keys %obj;

	print "\n  self, the largest differences first\n";
	my @f = sort { diff(\%self, $b) <=> diff(\%self, $a) } keys %self;
	$row->(short_fn($_), $self{$_}) for grep { defined }
		@f[0 .. $PROFILE_TOP - 1];

	print "\n  inclusive, the module's functions\n";
	@f = sort { ($incl{$b}{$cols[0]} // 0) <=> ($incl{$a}{$cols[0]} // 0) }
		grep { /ngx_http_twanon_/ } keys %incl;
	$row->(short_fn($_), $incl{$_}) for grep { defined }
		@f[0 .. $PROFILE_TOP - 1];
}

stop_nginx($resolver);

###############################################################################

printf "\n%d s\n", time() - $started;

if (@failures) {
	print "MISSED: $_\n" for @failures;
	exit 1;
}

print "all targets met\n";
exit 0;

###############################################################################

sub wanted {
	my ($section) = @_;
	return !%ONLY || $ONLY{$section};
}

sub write_conf {
	my ($reply, $callgrind, $counted) = @_;

	my %static;
	for my $pair ([ static_token => 'token' ],
		[ static_fallback => 'fallback' ])
	{
		my ($static, $module) = @$pair;
		my $r = $reply && $reply->{$module};
		my $body = $r ? $r->{body} : 'x';
		die "a \$ or a quote in the reply to $module\n"
			if $body =~ /[\$'\\]/;
		my $type = $r ? $r->{headers}{'content-type'} : 'text/plain';
		my $cc = $r && $r->{headers}{'cache-control'};
		$static{$static} = "default_type  \"$type\";\n"
			. ($cc ? "            add_header  Cache-Control  \"$cc\";\n"
				: '')
			. "            return  200 '$body';";
	}

	my $global = $callgrind
		? "master_process  off;\ndaemon  off;"
		: "worker_processes  1;\n" . ($pin ? 'worker_cpu_affinity  10;' : '');

	write_file("$dir/nginx.conf", <<"EOF");
load_module  $MODULE;

$global
pid        $dir/nginx.pid;

# like the access log, the error log is left out of the timings: with the
# resolver down, nginx and the module each log a line per call at "error",
# which on this path costs more than the module's work (docs/performance.md)

error_log  $dir/error.log crit;

events {
    worker_connections  1024;
}

http {
    access_log  off;
    keepalive_requests  1000000;

    # as docs/deployment.md advises for a webhook server: a call's pool
    # then holds the subrequest in one block (docs/performance.md)

    request_pool_size  8k;
@{[ $counted ? "\n    twanon_status_zone  64k;\n" : '' ]}
    client_body_temp_path  $dir/tmp/body;
    proxy_temp_path        $dir/tmp/proxy;
    fastcgi_temp_path      $dir/tmp/fastcgi;
    uwsgi_temp_path        $dir/tmp/uwsgi;
    scgi_temp_path         $dir/tmp/scgi;

    upstream resolver {
        server  127.0.0.1:$rport;
        keepalive  32;
    }

    # nothing listens there: a refused server is not tried again for
    # fail_timeout (nginx's defaults), and with both down nginx answers
    # "no live upstreams" at once, as a resolver group in production does

    upstream resolver_down {
        server  127.0.0.1:$dead;
        server  127.0.0.1:$dead2;
    }

    server {
        listen  127.0.0.1:$port;

        twanon_account_sid  AC00000000000000000000000000000000;
        twanon_api_key      SK00000000000000000000000000000000;
        twanon_api_secret   bench-api-secret-0123456789abcdef;

        twanon_auth_token   $AUTH_TOKEN;
        twanon_webhook_url  $WEBHOOK_URL;

        location = /token {
            twanon_token;
            twanon_token_identity  operator1;
        }

        location = /static/token {
            $static{static_token}
        }

        location = /incoming {
            twanon_incoming;
            twanon_resolver  /resolver;
        }

        location = /resolver {
            internal;
            proxy_pass  http://resolver/resolve;
            proxy_http_version  1.1;
            proxy_set_header  Connection  "";
        }

        location = /proxy {
            proxy_pass  http://resolver/resolve;
            proxy_http_version  1.1;
            proxy_set_header  Connection  "";
        }

        # the body of the sort section (52 kB) stays in memory, as
        # docs/webhook.md advises for a webhook location

        location = /incoming-sort {
            twanon_incoming;
            twanon_resolver  /resolver;
            client_body_buffer_size  64k;
        }

        location = /incoming-down {
            twanon_incoming;
            twanon_resolver  /resolver-down;
        }

        location = /resolver-down {
            internal;
            proxy_pass  http://resolver_down/resolve;
        }

        # what the fallback must do at least: a proxy_pass to the same
        # down resolver, and the same TwiML through error_page

        location = /proxy-down {
            proxy_pass  http://resolver_down/resolve;
            error_page  502 = \@fallback;
        }

        location \@fallback {
            $static{static_fallback}
        }
    }
}
EOF
}

sub start_nginx {
	my ($conf) = @_;

	my $pidfile = $conf eq 'resolver.conf' ? 'resolver.pid' : 'nginx.pid';
	unlink "$dir/$pidfile";

	system($NGINX, '-q', '-p', "$dir/", '-c', "$dir/$conf") == 0
		or die "nginx -c $conf failed:\n" . read_file("$dir/error.log");

	for (1 .. 50) {
		last if -s "$dir/$pidfile";
		sleep 0.1;
	}

	my $pid = read_file("$dir/$pidfile");
	chomp $pid;

	push @started, $pid;
	worker_of($pid);
	return $pid;
}

sub stop_nginx {
	my ($pid) = @_;

	kill 'QUIT', $pid;

	for (1 .. 100) {
		return unless kill 0, $pid;
		waitpid($pid, WNOHANG);
		sleep 0.05;
	}

	kill 'KILL', $pid;
}

# the one worker of a master, once it is up

sub worker_of {
	my ($master) = @_;

	for (1 .. 100) {
		for my $stat (glob '/proc/[0-9]*/stat') {
			my $s = read_file($stat) // next;
			my ($pid, $ppid) = $s =~ /^(\d+) \(.*\) \S+ (\d+)/;
			return $pid if defined $ppid && $ppid == $master;
		}
		sleep 0.05;
	}

	die "no worker for nginx $master\n";
}

sub rss {
	my ($pid) = @_;
	my ($kb) = read_file("/proc/$pid/status") =~ /^VmRSS:\s+(\d+)/m;
	return $kb;
}

sub cpu_ticks {
	my ($pid) = @_;
	my $s = read_file("/proc/$pid/stat");
	$s =~ s/^.*\) //s;
	my @f = split ' ', $s;
	return $f[11] + $f[12];
}

# one wrk run

sub wrk {
	my ($name, $seconds) = @_;

	my $s = $side{$name};
	my $lua = "$dir/$name.lua";

	write_file($lua, !$s->{post} ? '' : "wrk.method = \"POST\"\n"
		. "wrk.body = \"" . ($s->{body} // $BODY) . "\"\n"
		. "wrk.headers[\"Content-Type\"] = "
		. "\"application/x-www-form-urlencoded\"\n"
		. "wrk.headers[\"X-Twilio-Signature\"] = \""
		. ($s->{signature} // $SIGNATURE) . "\"\n");

	my @cmd = ($WRK, '-t1', "-c$CONNS", "-d${seconds}s", '--latency',
		'-s', $lua, "http://127.0.0.1:$port$s->{uri}");
	unshift @cmd, 'taskset', '-c', '0' if $pin;

	my $ticks = cpu_ticks($worker);
	my $t0 = time();

	open my $fh, '-|', @cmd or die "can't run wrk: $!\n";
	my $out = do { local $/; <$fh> };
	close $fh;

	my $elapsed = time() - $t0;
	$ticks = cpu_ticks($worker) - $ticks;

	die "wrk failed:\n$out" if $?;

	my %r;
	my $unit;
	($r{requests}, $r{seconds}, $unit) =
		$out =~ /(\d+) requests in ([\d.]+)(ms|s|m)\b/
		or die "no requests in wrk's output:\n$out";
	$r{seconds} *= { ms => 0.001, s => 1, m => 60 }->{$unit};
	$r{p50} = latency($out, 50);
	$r{p99} = latency($out, 99);
	$r{cpu_seconds} = $ticks / POSIX::sysconf(POSIX::_SC_CLK_TCK());
	$r{cpu} = 100 * $r{cpu_seconds} / $elapsed;

	my @errors;
	push @errors, "$1 non-2xx replies" if $out =~ /Non-2xx or 3xx responses: (\d+)/;
	push @errors, "socket errors: $1" if $out =~ /Socket errors: (.*)/;

	if (@errors) {
		push @failures, "$s->{uri}: @errors";
		print "$s->{uri}: @errors\n";
	}

	return \%r;
}

sub latency {
	my ($out, $pct) = @_;
	my ($v, $unit) = $out =~ /^\s+$pct%\s+([\d.]+)(us|ms|s)$/m
		or die "no $pct% latency in wrk's output:\n$out";
	return $unit eq 'us' ? $v / 1000 : $unit eq 's' ? $v * 1000 : $v;
}

# total instructions and output of a command under callgrind

sub callgrind_cmd {
	my (@cmd) = @_;

	my $out = "$dir/callgrind.cmd.out";
	unlink $out;

	open my $fh, '-|', 'valgrind', '--tool=callgrind', '--log-file='
		. "$dir/callgrind.cmd.log", "--callgrind-out-file=$out", @cmd
		or die "valgrind: $!\n";
	my $stdout = do { local $/; <$fh> };
	close $fh or die "valgrind @cmd failed: " . read_file(
		"$dir/callgrind.cmd.log");

	my ($total) = read_file($out) =~ /^(?:totals|summary):\s+(\d+)/m
		or die "no totals in callgrind's output\n";
	return ($total, $stdout);
}

# total instructions of an nginx process that served $n requests; the
# callgrind.out file is $keep if given

sub callgrind {
	my ($name, $n, $keep) = @_;

	my $out = $keep // "$dir/callgrind.out";
	unlink $out;

	my $pid = fork() // die "fork: $!\n";

	if ($pid == 0) {
		open STDOUT, '>', '/dev/null';
		open STDERR, '>', "$dir/callgrind.log";
		exec('valgrind', '--tool=callgrind', "--callgrind-out-file=$out",
			$NGINX, '-p', "$dir/", '-c', "$dir/nginx.conf")
			or die "valgrind: $!\n";
	}

	push @started, $pid;

	my $c;
	for (1 .. 600) {
		$c = IO::Socket::INET->new("127.0.0.1:$port") and last;
		die "nginx under callgrind exited:\n"
			. read_file("$dir/callgrind.log")
			if waitpid($pid, WNOHANG) == $pid;
		sleep 0.05;
	}
	die "nginx under callgrind did not start\n" unless $c;

	for (1 .. $n) {
		my $r = request($c, $side{$name});
		die "$side{$name}{uri} under callgrind: status $r->{status}\n"
			unless $r->{status} == 200
				&& $r->{body} =~ $side{$name}{check};
	}

	close $c;

	# with master_process off, a signal that comes just before epoll_wait()
	# is only seen on the next event: ask until nginx has gone

	for (1 .. 600) {
		kill 'QUIT', $pid;
		last if waitpid($pid, WNOHANG) == $pid;
		sleep 0.1;
	}

	my ($total) = read_file($out) =~ /^(?:totals|summary):\s+(\d+)/m
		or die "no totals in callgrind's output\n";
	return $total;
}

# instructions per function of a callgrind.out file, self or inclusive,
# keyed by "function [object]".  callgrind_annotate may list a function
# more than once, under files of different names (the debug information
# of an inlined part, or none): the self costs of these add up, the
# inclusive ones overlap and the largest is kept.

sub annotate {
	my ($file, $inclusive) = @_;

	open my $fh, '-|', 'callgrind_annotate', '--auto=no', '--threshold=100',
		'--inclusive=' . ($inclusive ? 'yes' : 'no'), $file
		or die "can't run callgrind_annotate: $!\n";

	my (%ir, %obj);
	while (<$fh>) {
		next unless /^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?
			[^\s:]*:(\S+)(?:\s+\[(?:.*\/)?([^\/\]]+)\])?\s*$/x;
		my ($n, $fn, $o) = ($1, $2, $3);
		$n =~ tr/,//d;
		$obj{$fn} = $o if defined $o;
		$ir{$fn} = $inclusive ? max($ir{$fn} // 0, $n)
			: ($ir{$fn} // 0) + $n;
	}
	close $fh;

	die "callgrind_annotate $file: no functions\n" unless %ir;

	return { map { ($_ . ' [' . ($obj{$_} // '?') . ']') => $ir{$_} }
		keys %ir };
}

# the largest side minus the smallest

sub diff {
	my ($h, $f) = @_;
	my @v = map { $h->{$f}{$_} // 0 } @PROFILE;
	my ($min, $max) = (sort { $a <=> $b } @v)[0, -1];
	return @v > 1 ? $max - $min : $max;
}

sub short_fn {
	my ($f) = @_;
	return length $f > 56 ? substr($f, 0, 53) . '...' : $f;
}

sub max {
	my ($x, $y) = @_;
	return $x > $y ? $x : $y;
}

# a minimal HTTP/1.1 keep-alive client

sub client {
	my $c = IO::Socket::INET->new("127.0.0.1:$port")
		or die "can't connect to 127.0.0.1:$port: $!\n";
	return $c;
}

sub request {
	my ($c, $s) = @_;

	my $req = ($s->{post} ? 'POST' : 'GET') . " $s->{uri} HTTP/1.1\r\n"
		. "Host: bench\r\n";

	if ($s->{post}) {
		my $body = $s->{body} // $BODY;
		$req .= "Content-Type: application/x-www-form-urlencoded\r\n"
			. 'X-Twilio-Signature: ' . ($s->{signature} // $SIGNATURE)
			. "\r\n" . 'Content-Length: ' . length($body)
			. "\r\n\r\n$body";
	} else {
		$req .= "\r\n";
	}

	$c->print($req) or die "write: $!\n";

	my $head = '';
	while ($head !~ /\r\n\r\n/) {
		$c->sysread($head, 4096, length $head) or die "read: $!\n";
	}

	my ($h, $body) = split /\r\n\r\n/, $head, 2;
	my ($status) = $h =~ m!^HTTP/1\.1 (\d+)!;
	my %headers = map { /^([^:]+):\s*(.*)$/ ? (lc $1, $2) : () }
		split /\r\n/, $h;

	if ($headers{'transfer-encoding'}) {
		until ($body =~ /(?:^|\r\n)0\r\n\r\n$/) {
			$c->sysread($body, 4096, length $body) or die "read: $!\n";
		}
		my $plain = '';
		while ($body =~ s/^([0-9a-fA-F]+)\r\n//) {
			my $len = hex $1;
			$plain .= substr($body, 0, $len, '');
			$body =~ s/^\r\n//;
		}
		$body = $plain;

	} else {
		my $len = $headers{'content-length'} // 0;
		while (length $body < $len) {
			$c->sysread($body, $len - length $body, length $body)
				or die "read: $!\n";
		}
	}

	return { status => $status, headers => \%headers, body => $body };
}

sub free_port {
	my %used = map { $_ => 1 } @_;

	for (1 .. 20) {
		my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1:0',
			Listen => 1, ReuseAddr => 1) or next;
		my $port = $s->sockport();
		close $s;
		return $port unless $used{$port};
	}

	die "no free port\n";
}

sub read_file {
	my ($name) = @_;
	open my $fh, '<', $name or return undef;
	local $/;
	return <$fh>;
}

sub write_file {
	my ($name, $text) = @_;
	open my $fh, '>', $name or die "can't write $name: $!\n";
	print $fh $text;
	close $fh;
}

sub sum {
	my $s = 0;
	$s += $_ for @_;
	return $s;
}

sub median {
	my @v = sort { $a <=> $b } @_;
	return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

###############################################################################
