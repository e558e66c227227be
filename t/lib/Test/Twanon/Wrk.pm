package Test::Twanon::Wrk;

# Copyright (C) twanon authors

# wrk load against the object's nginx: a script that counts the replies
# its check does not accept, wrk run in the background for some seconds,
# and its counts parsed.  wrk is found in $PATH.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT_OK = qw/ wrk_path lua_string wrk_script wrk_start wrk_running
	wrk_wait wrk_figures /;

###############################################################################

use IO::Select;
use POSIX qw/ WNOHANG /;
use Time::HiRes qw/ time /;

use Test::Twanon::Command qw/ die_with_parent /;
use Test::Twanon::HTTP qw/ self_and_args /;

###############################################################################

# the wrk found in $PATH, or undef

sub wrk_path {
	my ($wrk) = grep { -x } map { "$_/wrk" } split /:/, $ENV{PATH} || '';
	return $wrk;
}

# a Lua string literal

sub lua_string {
	my ($s) = @_;
	$s =~ s/([^A-Za-z0-9 _.,:;=+\/{}<>^\$\[\]-])/sprintf('\\%03d', ord $1)/ge;
	return qq{"$s"};
}

# a wrk script: method, path, body, headers (a hash), close (sends
# "Connection: close"), and check, a Lua expression true of the body of a
# good reply (a 200 it accepts); the others are counted bad, the first
# kept as a sample, and done() prints the counts for wrk_wait()

sub wrk_script {
	my (%o) = @_;

	my $s = 'wrk.method = ' . lua_string($o{method} || 'GET') . "\n"
		. 'wrk.path = ' . lua_string($o{path} || '/') . "\n";

	$s .= 'wrk.body = ' . lua_string($o{body}) . "\n" if defined $o{body};

	my %headers = %{$o{headers} || {}};
	$headers{Connection} = 'close' if $o{close};

	$s .= 'wrk.headers[' . lua_string($_) . '] = '
		. lua_string($headers{$_}) . "\n" for sort keys %headers;

	return $s . <<"LUA";

function check(body)
    return $o{check}
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    good = 0
    bad = 0
    sample = nil
end

function response(status, headers, body)
    if status == 200 and check(body) then
        good = good + 1
    else
        bad = bad + 1
        if sample == nil then
            sample = tostring(status) .. " " .. tostring(body)
        end
    end
end

function done(summary, latency, requests)
    local g, b = 0, 0

    for _, thread in ipairs(threads) do
        g = g + thread:get("good")
        b = b + thread:get("bad")

        local s = thread:get("sample")
        if s ~= nil then
            io.write("twanon sample: ", s, "\\n")
        end
    end

    local e = summary.errors

    io.write(string.format("twanon good=%d bad=%d requests=%d "
        .. "connect=%d read=%d write=%d timeout=%d status=%d "
        .. "duration=%d\\n", g, b, summary.requests, e.connect, e.read,
        e.write, e.timeout, e.status, summary.duration))
end
LUA
}

# starts wrk with a script of the prefix against port(8080), for duration
# seconds; returns a handle for wrk_wait()

sub wrk_start {
	my ($self, $script, $duration, $threads, $connections)
		= self_and_args(@_);

	my $wrk = wrk_path();
	die "no wrk in PATH\n" unless defined $wrk;

	my $dir = $self->testdir();
	my $url = 'http://127.0.0.1:' . $self->port(8080) . '/';

	my $pid = open(my $fh, '-|');
	die "Can't fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		die_with_parent();
		open STDERR, '>&', \*STDOUT;

		{
			no warnings 'exec';
			exec($wrk, '-t', $threads, '-c', $connections,
				'-d', "${duration}s", '--timeout', '5s',
				'-s', "$dir/$script", $url);
		}

		print "Unable to exec($wrk): $!\n";
		POSIX::_exit(127);
	}

	return { pid => $pid, fh => $fh, script => $script,
		deadline => time() + $duration + 20 };
}

# whether a wrk still runs

sub wrk_running {
	my ($w) = @_;

	return 0 if $w->{exited};
	return 1 if waitpid($w->{pid}, WNOHANG) == 0;

	$w->{exited} = 1;
	return 0;
}

# waits for a wrk (killing it past its deadline), and parses its counts:
# { good, bad, requests, connect, read, write, timeout, status, duration,
# errors (the four socket errors), rps, sample, out, script }

sub wrk_wait {
	my ($w) = @_;

	my $out = '';
	my $sel = IO::Select->new($w->{fh});

	while ((my $left = $w->{deadline} - time()) > 0) {
		last unless $sel->can_read($left);
		my $n = sysread($w->{fh}, my $buf, 65536);
		last unless $n;
		$out .= $buf;
	}

	if (wrk_running($w)) {
		kill 'KILL', $w->{pid};
		$out .= "\nwrk killed past its deadline\n";
	}

	close $w->{fh};

	my %r = (out => $out, script => $w->{script});

	if ($out =~ /^twanon\ good=(\d+)\ bad=(\d+)\ requests=(\d+)
		\ connect=(\d+)\ read=(\d+)\ write=(\d+)\ timeout=(\d+)
		\ status=(\d+)\ duration=(\d+)$/mx)
	{
		@r{qw/ good bad requests connect read write timeout status
			duration /} = ($1, $2, $3, $4, $5, $6, $7, $8, $9);

		$r{errors} = $r{connect} + $r{read} + $r{write} + $r{timeout};
		$r{rps} = $r{duration} ? $r{requests} / ($r{duration} / 1e6) : 0;
	}

	($r{sample}) = $out =~ /^twanon sample: (.*)$/m;

	return \%r;
}

# wrk_wait()'s counts in a line, for diag

sub wrk_figures {
	my ($r) = @_;

	return "$r->{script}: no summary\n$r->{out}" unless defined $r->{good};

	return sprintf('%s: %d requests, %.0f/s, good %d, bad %d, errors '
		. 'connect %d read %d write %d timeout %d, status %d%s',
		$r->{script}, $r->{requests}, $r->{rps}, $r->{good}, $r->{bad},
		$r->{connect}, $r->{read}, $r->{write}, $r->{timeout},
		$r->{status},
		defined $r->{sample} ? ", first bad: $r->{sample}" : '');
}

1;

###############################################################################
