package Test::Twanon::Command;

# Copyright (C) twanon authors

# Child processes: a command run to its end with a timeout (node, nginx -t,
# the call tool), and the rule that no child outlives its test.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT_OK = qw/ run_command node_path node die_with_parent /;

###############################################################################

use POSIX qw//;

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

1;

###############################################################################
