package Test::Twanon::Backend;

# Copyright (C) twanon authors

# Backends nginx talks to: daemons the object starts and stops, a forking
# TCP server and one that never answers, and the pieces of a resolver
# backend (the request read and noted, a JSON reply written whole).

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT_OK = qw/ run_daemon run_backend waitforsocket forking_server
	read_request silent_server write_all json_response backlog_request /;

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

# a backend on 127.0.0.1:port(num): run_daemon(code, port, args), then
# a wait until it accepts connections

sub run_backend {
	my ($self, $num, $code, @args) = @_;

	my $port = $self->port($num);

	$self->run_daemon($code, $port, @args);

	$self->waitforsocket("127.0.0.1:$port")
		or die "Can't start the backend on port $num\n";

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

# accepts connections and never answers; each is held for $seconds after
# its accept (undef: until the server ends)

sub silent_server {
	my ($port, $seconds) = @_;

	my $server = IO::Socket::INET->new(
		Proto => 'tcp',
		LocalAddr => "127.0.0.1:$port",
		Listen => 64,
		ReuseAddr => 1,
	) or die "Can't create listening socket: $!\n";

	my @held;

	while (1) {
		my $client = $server->accept() or next;

		push @held, [ $client, time() ];
		@held = grep { time() - $_->[1] < $seconds } @held
			if defined $seconds;
	}
}

# writes each string whole; false when the peer is gone

sub write_all {
	my ($client, @strings) = @_;

	for my $s (@strings) {
		my $off = 0;

		while ($off < length $s) {
			my $n = syswrite($client, $s, 65536, $off);
			return 0 unless $n;
			$off += $n;
		}
	}

	return 1;
}

# an HTTP/1.0 reply of that status with a JSON body

sub json_response {
	my ($status, $json) = @_;

	return "HTTP/1.0 $status X\x0d\x0a"
		. "Content-Type: application/json\x0d\x0a"
		. 'Content-Length: ' . length($json) . "\x0d\x0a\x0d\x0a" . $json;
}

# a line "URI call=<X-Call header> body" for each request a backend gets,
# appended to file, which the test reads back; returns (URI, body)

sub backlog_request {
	my ($file, $req) = @_;

	my $head = index($req, "\x0d\x0a\x0d\x0a") + 4;

	my ($uri) = $req =~ m!^\w+ (\S+) HTTP!;
	my ($call) = $req =~ /^X-Call:\s*(\w+)/mi;
	my $body = substr($req, $head);

	open my $fh, '>>', $file or die "Can't open $file: $!\n";
	print $fh "$uri call=" . (defined $call ? $call : '') . " $body\n";
	close $fh;

	return ($uri, $body);
}

1;

###############################################################################
