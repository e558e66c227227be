package Test::Twanon::Backend;

# Copyright (C) twanon authors

# Backends nginx talks to: daemons the object starts and stops, a forking
# TCP server, and the resolver backends the resolver tests share.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT_OK = qw/ run_daemon waitforsocket forking_server read_request /;

###############################################################################

use IO::Socket::INET;
use POSIX qw//;
use Scalar::Util qw/ blessed /;

use Test::Twanon::Command qw/ die_with_parent /;

###############################################################################

# runs code (with args) or a command in a child the object ends at stop()

sub run_daemon {
	my ($self, $code, @args) = @_;

	my $pid = fork();
	die "Can't fork daemon: $!\n" unless defined $pid;

	if ($pid == 0) {
		die_with_parent();

		if (ref($code) eq 'CODE') {
			eval { $code->(@args); };
			print STDERR $@ if $@;
			POSIX::_exit(0);
		}

		{
			no warnings 'exec';
			exec($code, @args);
		}
		POSIX::_exit(127);
	}

	push @{$self->{_daemons}}, $pid;

	return $self;
}

sub waitforsocket {
	my ($self, $peer) = @_;
	$peer = $self unless blessed($self);

	for (1 .. 100) {
		my $s = IO::Socket::INET->new(
			Proto => 'tcp',
			PeerAddr => $peer,
			Timeout => 1,
		);

		if (defined $s) {
			$s->close();
			return 1;
		}

		select undef, undef, undef, 0.05;
	}

	return undef;
}

# a TCP server on 127.0.0.1:$port for run_daemon(): each connection is
# served by $serve->($socket) in a child of its own, which ends with the
# test and after $seconds (8 by default) in any case

sub forking_server {
	my ($port, $serve, $seconds) = @_;

	my $server = IO::Socket::INET->new(
		Proto => 'tcp',
		LocalAddr => "127.0.0.1:$port",
		Listen => 64,
		ReuseAddr => 1,
	) or die "Can't create listening socket: $!\n";

	local $SIG{PIPE} = 'IGNORE';
	local $SIG{CHLD} = 'IGNORE';

	while (1) {
		my $client = $server->accept() or next;

		my $pid = fork();

		if (!defined $pid) {
			close $client;
			next;
		}

		if ($pid == 0) {
			die_with_parent();
			close $server;

			local $SIG{ALRM} = sub { POSIX::_exit(0) };
			alarm($seconds || 8);

			eval { $serve->($client); };

			close $client;
			POSIX::_exit(0);
		}

		close $client;
	}
}

# what a test backend reads of a request: the headers, then as many bytes
# as Content-Length says (fewer if the peer closes first); undef when the
# peer closes before the end of the headers

sub read_request {
	my ($client) = @_;

	my $req = '';

	while ($req !~ /\x0d\x0a\x0d\x0a/) {
		my $n = sysread($client, $req, 4096, length $req);
		return undef unless $n;
	}

	my ($len) = $req =~ /^Content-Length:\s*(\d+)/mi;
	my $want = index($req, "\x0d\x0a\x0d\x0a") + 4 + ($len || 0);

	while (length $req < $want) {
		my $n = sysread($client, $req, 4096, length $req);
		last unless $n;
	}

	return $req;
}

1;

###############################################################################
