package Test::Twanon::HTTP2;

# Copyright (C) twanon authors

# Just enough HTTP/2 for the tests that speak it themselves: frames and a
# header block of literal fields (no Huffman, no indexing), as
# nginx-tests' Test::Nginx::HTTP2 writes them; a connection, a signed
# webhook on a stream, and the frames read back.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT_OK = qw/ h2_frame hpack_int h2_header_block h2_post h2_webhook
	h2_connect h2_read h2_ended h2_status h2_data /;

###############################################################################

use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw//;

use Test::Twanon::Twilio qw/ form_body twilio_signature /;

###############################################################################

# one frame: length, type, flags, stream id, payload

sub h2_frame {
	my ($type, $flags, $sid, $payload) = @_;

	my $len = length $payload;

	return pack('CnCCN', $len >> 16, $len & 0xffff, $type, $flags, $sid)
		. $payload;
}

# an HPACK integer with a 7-bit prefix (RFC 7541, 5.1)

sub hpack_int {
	my ($n) = @_;

	return chr($n) if $n < 127;

	my $s = chr(127);
	$n -= 127;

	while ($n >= 128) {
		$s .= chr(($n & 0x7f) | 0x80);
		$n >>= 7;
	}

	return $s . chr($n);
}

# name => value pairs as literal header fields without indexing

sub h2_header_block {
	my (@headers) = @_;

	my $block = '';

	while (@headers) {
		my ($k, $v) = splice(@headers, 0, 2);
		$block .= "\x00" . hpack_int(length $k) . $k
			. hpack_int(length $v) . $v;
	}

	return $block;
}

# a form POST on stream sid to localhost: HEADERS, then DATA that ends it

sub h2_post {
	my ($sid, $path, $body, @headers) = @_;

	@headers = (
		':method' => 'POST',
		':scheme' => 'http',
		':path' => $path,
		':authority' => 'localhost',
		'content-type' => 'application/x-www-form-urlencoded',
		'content-length' => length $body,
		@headers,
	);

	return h2_frame(1, 0x4, $sid, h2_header_block(@headers))
		. h2_frame(0, 0x1, $sid, $body);
}

# a webhook POST on stream sid, signed with the Auth Token over
# http://localhost<path>

sub h2_webhook {
	my ($sid, $path, $token, @pairs) = @_;

	return h2_post($sid, $path, form_body(@pairs),
		'x-twilio-signature' => twilio_signature($token,
			"http://localhost$path", @pairs));
}

# a connection to 127.0.0.1:port, the client preface, an empty SETTINGS
# and first (frames) sent in one write; returns the socket and the state
# h2_read() fills: { buf, frames => [ { type, flags, sid, payload, at } ] }

sub h2_connect {
	my ($port, $first) = @_;

	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
		or die "Can't connect: $!\n";
	$s->autoflush(1);

	print $s "PRI * HTTP/2.0\x0d\x0a\x0d\x0aSM\x0d\x0a\x0d\x0a"
		. h2_frame(4, 0, 0, '') . (defined $first ? $first : '');

	return ($s, { buf => '', frames => [] });
}

# reads frames for seconds, or until $until returns true; acknowledges
# the server's SETTINGS

sub h2_read {
	my ($s, $state, $seconds, $until) = @_;

	my $sel = IO::Select->new($s);
	my $end = Time::HiRes::time() + $seconds;

	while (Time::HiRes::time() < $end) {
		last if $until && $until->();
		last unless $sel->can_read($end - Time::HiRes::time());

		my $n = sysread($s, $state->{buf}, 65536, length $state->{buf});
		last unless $n;

		while (length $state->{buf} >= 9) {
			my ($l1, $l2, $type, $flags, $sid)
				= unpack('CnCCN', $state->{buf});
			my $len = ($l1 << 16) + $l2;
			last if length $state->{buf} < 9 + $len;

			my $payload = substr($state->{buf}, 9, $len);
			substr($state->{buf}, 0, 9 + $len, '');

			push @{$state->{frames}}, { type => $type, flags => $flags,
				sid => $sid & 0x7fffffff, payload => $payload,
				at => Time::HiRes::time() };

			if ($type == 4 && !($flags & 0x1)) {
				print $s h2_frame(4, 0x1, 0, '');
			}
		}
	}
}

# the frames (an array of h2_read()'s) that ended stream sid

sub h2_ended {
	my ($frames, $sid) = @_;

	return grep { $_->{sid} == $sid && $_->{type} <= 1
		&& $_->{flags} & 0x1 } @$frames;
}

# the :status of a stream's HEADERS, as nginx sends it: an indexed field
# (0x88 is 200) or a literal with the indexed name :status (0x48)

sub h2_status {
	my ($frames, $sid) = @_;

	for my $f (@$frames) {
		next unless $f->{sid} == $sid && $f->{type} == 1;

		my $first = ord($f->{payload});

		return 200 if $first == 0x88;
		return substr($f->{payload}, 2, 3) if $first == 0x48;
		return "indexed $first";
	}

	return 'none';
}

# the body of stream sid

sub h2_data {
	my ($frames, $sid) = @_;

	return join '', map { $_->{payload} }
		grep { $_->{sid} == $sid && $_->{type} == 0 } @$frames;
}

###############################################################################

1;

###############################################################################
