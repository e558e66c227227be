package Test::Twanon::Command;

# Copyright (C) twanon authors

# Processes: a command run to its end with a timeout (node, nginx -t, the
# call tool), the rule that no child outlives its test, and what /proc and
# ps tell of nginx's workers.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT_OK = qw/ run_command node_path node die_with_parent worker_pids
	new_workers rss /;

###############################################################################

use POSIX qw//;
use Time::HiRes qw//;

###############################################################################

# should this process die, the kernel sends SIGTERM to the child calling
# this (Linux prctl(PR_SET_PDEATHSIG)), so that no nginx outlives its test

sub die_with_parent {
	return unless $^O eq 'linux';

	eval {
		require 'sys/syscall.ph';
		syscall(SYS_prctl(), 1, 15);
	};
}

# the node found in $PATH, or undef

sub node_path {
	my ($dir) = grep { -x "$_/node" } split(/:/, $ENV{PATH} || '');
	return defined $dir ? "$dir/node" : undef;
}

# runs node on a script with one argument, for 60 s at most; returns
# (exit code, output, stderr included)

sub node {
	my ($script, $arg) = @_;

	my $node = node_path();
	die "no node in PATH\n" unless defined $node;

	return run_command({ timeout => 60 * Test::Twanon::slow() },
		$node, $script, $arg);
}

# runs a command, its stdout and stderr together, for $opts->{timeout}
# seconds at most; returns (exit code, output).  Options: env (variables
# added to its environment), dir (where it runs), group (a process group
# of its own, all of which a timeout ends, as a browser's children).  A
# command ended by a signal, a timeout included, exits with 255, and a
# timeout adds a line saying so to the output.

sub run_command {
	my ($opts, @cmd) = @_;

	my $pid = open(my $fh, '-|');
	die "Can't fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		POSIX::setpgid(0, 0) if $opts->{group};
		open STDERR, '>&', \*STDOUT;

		if (defined $opts->{dir} && !chdir $opts->{dir}) {
			print "Can't chdir to $opts->{dir}: $!\n";
			POSIX::_exit(127);
		}

		my $env = $opts->{env} || {};
		$ENV{$_} = $env->{$_} for keys %$env;

		{
			no warnings 'exec';
			exec(@cmd);
		}
		print "Unable to exec($cmd[0]): $!\n";
		POSIX::_exit(127);
	}

	# read by sysread, so that a timeout keeps what came before it

	my $out = '';

	eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		alarm($opts->{timeout});
		1 while sysread($fh, $out, 65536, length $out);
		alarm(0);
	};
	alarm(0);

	if ($@) {
		if ($opts->{group}) {
			kill 'TERM', -$pid;
			select undef, undef, undef, 1;
			kill 'KILL', -$pid;

		} else {
			kill 'KILL', $pid;
		}

		$out .= "\n$cmd[0]: timed out after $opts->{timeout} s\n";
	}

	close $fh;

	my $rc = $? >> 8;
	$rc = 255 if $? & 127;

	return ($rc, $out);
}

# the pids of a master's workers (its children), in order

sub worker_pids {
	my ($master) = @_;

	return sort { $a <=> $b } grep { /^\d+$/ } map { s/\s+//gr }
		split /\n/, `ps --ppid $master -o pid= 2>/dev/null`;
}

# waits, 20 s at most, until a master has n workers and none of them is
# one of old (after a reload); returns its workers

sub new_workers {
	my ($master, $n, @old) = @_;

	my %old = map { $_ => 1 } @old;
	my $deadline = Time::HiRes::time() + 20 * Test::Twanon::slow();
	my @w;

	while (Time::HiRes::time() < $deadline) {
		@w = worker_pids($master);
		return @w if @w == $n && !grep { $old{$_} } @w;
		Time::HiRes::sleep(0.05);
	}

	return @w;
}

# a process's resident set size in kB, or undef

sub rss {
	my ($pid) = @_;

	open my $fh, '<', "/proc/$pid/status" or return undef;
	local $/;
	my $status = <$fh> // '';
	close $fh;

	return $status =~ /^VmRSS:\s+(\d+)\s+kB/m ? $1 : undef;
}

1;

###############################################################################
