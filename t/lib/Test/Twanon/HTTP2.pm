package Test::Twanon::HTTP2;

# Copyright (C) twanon authors

# Just enough HTTP/2 for the tests that speak it themselves: frames and a
# header block of literal fields (no Huffman, no indexing), as
# nginx-tests' Test::Nginx::HTTP2 writes them.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT_OK = qw/ h2_frame hpack_int h2_header_block h2_post /;

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

###############################################################################

1;

###############################################################################
