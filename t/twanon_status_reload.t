#!/usr/bin/perl

# Copyright (C) twanon authors

# The counters (twanon_status_zone) with a master and two workers: the
# webhooks both workers served add up in the zone; a reload keeps the
# counters and adds 1 to twanon_config_reloads_total; a reload that
# changes the zone's size starts them from zero while nginx keeps serving;
# a reload to a zone too small fails as nginx -t does, and the running
# configuration keeps serving and counting.  Skipped under valgrind (one
# process).

###############################################################################

use warnings;
use strict;

use Test::More;

use Time::HiRes qw/ time sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT webhook_request conf_fails
	http_value metric worker_pids new_workers /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $TOKEN = 'status-reload-token-7f3a';
my $FROM = '+15554448888';
my $DIGITS = qr/5554448888/;

my $t = Test::Twanon->new()->has(qw/http proxy reuseport master_process/);

# each generation of the configuration answers /generation with its
# number; "reuseport" gives each worker a listening socket of its own,
# which the kernel picks by connection, so that both workers serve.  The
# main-context log, where the master writes (the failed reload's emerg
# among it), is master.log; requests log to error.log

sub conf {
	my ($generation, $zone) = @_;

	return <<"EOF";

%%TEST_GLOBALS%%

daemon off;
worker_processes  2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    error_log  %%TESTDIR%%/error.log info;

    twanon_status_zone  $zone;

    server {
        listen       127.0.0.1:8080 reuseport;
        server_name  localhost;

        twanon_auth_token  $TOKEN;

        location = /generation {
            return 200 "$generation\\n";
        }

        location = /incoming {
            twanon_incoming;
            twanon_resolver  /resolver;

            add_header  X-Worker \$pid always;
        }

        location = /resolver {
            internal;
            proxy_pass  http://127.0.0.1:8081/route;
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
    }
}

EOF
}

sub write_conf {
	my ($generation, $zone) = @_;

	$t->write_file_expand('nginx.conf', conf($generation, $zone));

	my $conf = $t->read_file('nginx.conf');
	$conf =~ s!error_log\s+(\S+)/error\.log\s+debug;
		!error_log $1/master.log info;!x
		or die "no error_log in the test globals\n";

	$t->write_file('nginx.conf', $conf);
}

write_conf(1, '64k');

$t->run()->plan(33);

###############################################################################

my $MASTER = $t->read_file('nginx.pid');
chomp $MASTER;

my $n = 0;

sub hook {
	my @pairs = (
		AccountSid => 'AC' . '0' x 32,
		CallSid => sprintf('CA%032x', 0x7e100000 + ++$n),
		From => $FROM,
		To => '+15557654321',
	);

	return webhook_request('/incoming', token => $TOKEN, pairs => \@pairs);
}

# sends n webhooks, each on its own connection; returns the number routed
# and the workers that answered

sub hooks {
	my ($count) = @_;

	my ($routed, %workers) = (0);

	for (1 .. $count) {
		my $r = hook();

		$routed++ if ($r->{status} // 0) == 200
			&& ($r->{body} // '') =~ m!<Identity>op_1</Identity>!;

		my $w = $r->{headers}{'x-worker'};
		$workers{$w} = 1 if defined $w;
	}

	return ($routed, sort keys %workers);
}

# a series of /metrics

sub value {
	my ($series) = @_;
	return metric(http_value('/metrics'), $series);
}

# the "client" outcomes, once they reach "want" or within 2 s: a webhook
# is counted in its log phase, which a lingering close may run after the
# client has read the whole reply

sub client {
	my ($want) = @_;

	my $series = 'twanon_webhooks_total{handler="incoming",'
		. 'outcome="client"}';
	my $deadline = time() + 2 * $t->slow();
	my $v = value($series);

	while (($v // -1) != $want && time() < $deadline) {
		sleep(0.05);
		$v = value($series);
	}

	return $v;
}

sub reloads {
	return value('twanon_config_reloads_total');
}

# a reload to the configuration of that generation and zone size; returns
# the new workers

sub reload {
	my ($generation, $zone) = @_;

	my @old = worker_pids($MASTER);

	write_conf($generation, $zone);
	kill('HUP', $MASTER) or die "Can't send HUP to $MASTER: $!\n";

	return new_workers($MASTER, 2, @old);
}

###############################################################################

# two workers, each serving some of the webhooks: the zone sums them

my @w = new_workers($MASTER, 2);

is(scalar @w, 2, 'two workers');

my ($routed, @served) = hooks(20);

is($routed, 20, 'routed');
is(scalar @served, 2, 'both workers served');
is(client(20), 20, 'counters sum the workers');
is(value('twanon_resolver_duration_seconds_count'), 20, 'lookups summed');
is(reloads(), 0, 'no reload yet');

# a reload keeping the zone's size keeps the counters

my @old = @w;
@w = reload(2, '64k');

is(scalar(grep { my $o = $_; !grep { $_ == $o } @w } @old), 2,
	'reload: new workers');
is(http_value('/generation'), 2, 'reload: new configuration');
is(reloads(), 1, 'reload counted');
is(client(20), 20, 'reload: counters kept');

($routed, @served) = hooks(6);

is($routed, 6, 'reload: routed');
ok(!grep({ my $s = $_; grep { $_ == $s } @old } @served),
	'reload: new workers served');
is(client(26), 26, 'reload: counting on');

@w = reload(3, '64k');

is(http_value('/generation'), 3, 'second reload');
is(reloads(), 2, 'second reload counted');
is(client(26), 26, 'second reload: counters kept');

# a reload to another size: a new zone, counted from zero, and nginx
# serving all along

@w = reload(4, '128k');

is(http_value('/generation'), 4, 'resize: new configuration');
is(reloads(), 0, 'resize: reloads from zero');
is(client(0), 0, 'resize: counters from zero');
is(value('twanon_resolver_duration_seconds_count'), 0,
	'resize: histogram from zero');

($routed) = hooks(4);

is($routed, 4, 'resize: routed');
is(client(4), 4, 'resize: counting on');

# a zone too small: nginx -t says why, a reload to it fails and the
# running configuration (generation 4, 128k) keeps serving and counting

conf_fails('zone too small at reload', conf(5, '4k'), 'twanon_status_zone',
	'invalid zone size "4k" in "twanon_status_zone" directive, it must be '
	. 'at least 32k in FILE:LINE');

my $emerg = qr/\[emerg\] \d+#\d+: invalid zone size "4k" in /;
my $before = () = $t->read_file('master.log') =~ /$emerg/g;

@old = @w;
write_conf(5, '4k');
kill('HUP', $MASTER) or die "Can't send HUP to $MASTER: $!\n";

my $deadline = time() + 10 * $t->slow();
my $failed;

while (time() < $deadline) {
	$failed = () = $t->read_file('master.log') =~ /$emerg/g;
	last if $failed > $before;
	sleep(0.05);
}

is($failed - $before, 1, 'too small: reload refused');
is(http_value('/generation'), 4, 'too small: running configuration kept');
is(join(' ', worker_pids($MASTER)), join(' ', @old), 'too small: same workers');

($routed) = hooks(3);

is($routed, 3, 'too small: routed');
is(client(7), 7, 'too small: counting on');
is(reloads(), 0, 'too small: no reload counted');

###############################################################################

$t->stop();

my @master = split /\n/, $t->read_file('master.log');

is(join("\n", grep { /\[(?:alert|crit|emerg)\]/ && !/$emerg/ } @master), '',
	'master log: only the refused reload');
is(scalar(grep { /signal 1 \(SIGHUP\) received.*reconfiguring/ } @master),
	4, 'master log: four reloads');

is(join("\n", grep { /$DIGITS/ } @master,
	split /\n/, $t->read_file('error.log')), '', 'no number in the logs');

###############################################################################
