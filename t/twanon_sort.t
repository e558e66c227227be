#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the order of the parameters in the canonical string that the
# twanon_incoming webhook of ngx_http_twanon_module signs: UTF-16 code
# units for valid UTF-8, as Twilio's helpers sort, and each byte that
# starts no valid character as a unit of its own above them.  Keys and
# values that once compared in a cycle are accepted in every order of the
# body, a signature over another order is refused, and 256 fields whose
# keys share a 200-byte prefix are sorted right in any order.

###############################################################################

use warnings;
use strict;

use Test::More;

use Digest::SHA qw/ hmac_sha1 /;
use MIME::Base64 qw/ encode_base64 /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT form_body /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $TOKEN = 'auth-token-for-sort-tests-71d2';
my $URL = 'https://voice.example.com/incoming';

my $CALLER = '+15551234567';
my $CALLED = '+15557654321';

my $DECL = qq{<?xml version="1.0" encoding="UTF-8"?>\n};
my $ROUTED = "200\n" . $DECL . '<Response><Dial answerOnBridge="true"'
	. qq{ timeLimit="3600" timeout="30" callerId="$CALLED">}
	. '<Client><Identity>user001</Identity>'
	. '<Parameter name="twanonRinging" value="1"/></Client>'
	. "</Dial></Response>\n";

my $t = Test::Twanon->new()->has(qw/http proxy/);

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        twanon_auth_token   $TOKEN;
        twanon_webhook_url  $URL;

        location = /in {
            twanon_incoming;
            twanon_resolver  /res;
            client_body_buffer_size  64k;
        }

        location = /res {
            internal;
            proxy_pass  http://127.0.0.1:8081/;
        }
    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        default_type  application/json;

        location / {
            return  200 '{"appId":"user001"}';
        }
    }
}

EOF

$t->run()->plan(11);

###############################################################################

# the units of a byte string: UTF-16 code units of its valid characters,
# 0x10000 + the byte for a byte that starts no valid one

sub units {
	my ($s) = @_;

	my @b = map { ord } split //, $s;
	my @u;

	for (my $i = 0; $i < @b; ) {
		my ($c, $n, $min) = ($b[$i], 0, 0);

		if ($c < 0x80) {
			push @u, $c;
			$i++;
			next;
		}

		($n, $c, $min) = $c >= 0xc2 && $c <= 0xdf ? (1, $c & 0x1f, 0x80)
			: $c >= 0xe0 && $c <= 0xef ? (2, $c & 0x0f, 0x800)
			: $c >= 0xf0 && $c <= 0xf4 ? (3, $c & 0x07, 0x10000)
			: (0, $c, 0);

		my $ok = $n && $i + $n < @b;

		for my $k (1 .. $n) {
			last unless $ok;
			$ok = ($b[$i + $k] & 0xc0) == 0x80;
			$c = ($c << 6) | ($b[$i + $k] & 0x3f);
		}

		$ok &&= $c >= $min && $c <= 0x10ffff
			&& !($c >= 0xd800 && $c <= 0xdfff);

		if (!$ok) {
			push @u, 0x10000 + $b[$i];
			$i++;

		} elsif ($c >= 0x10000) {
			push @u, 0xd800 + (($c - 0x10000) >> 10),
				0xdc00 + (($c - 0x10000) & 0x3ff);
			$i += $n + 1;

		} else {
			push @u, $c;
			$i += $n + 1;
		}
	}

	return @u;
}

sub units_cmp {
	my ($x, $y) = @_;

	my @x = units($x);
	my @y = units($y);

	for my $i (0 .. ($#x < $#y ? $#x : $#y)) {
		return $x[$i] <=> $y[$i] if $x[$i] != $y[$i];
	}

	return @x <=> @y;
}

# the signature over the pairs sorted by "cmp", duplicates once

sub signature {
	my ($cmp, @pairs) = @_;

	my @sorted = sort { $cmp->($a->[0], $b->[0])
		|| $cmp->($a->[1], $b->[1]) } @pairs;

	my ($data, $last) = ($URL, undef);

	for my $p (@sorted) {
		next if defined $last && $last->[0] eq $p->[0]
			&& $last->[1] eq $p->[1];
		$data .= $p->[0] . $p->[1];
		$last = $p;
	}

	return encode_base64(hmac_sha1($data, $TOKEN), '');
}

# a webhook of these pairs after the usual four, signed in "cmp" order

sub call {
	my ($cmp, @extra) = @_;

	my @pairs = ([ AccountSid => $ACCOUNT ], [ CallSid => 'CA' . '1' x 32 ],
		[ From => $CALLER ], [ To => $CALLED ], @extra);

	my $r = http_request('POST', '/in',
		headers => {
			'Content-Type' => 'application/x-www-form-urlencoded',
			'X-Twilio-Signature' => signature($cmp, @pairs),
		},
		body => form_body(map { @$_ } @pairs));

	return ($r->{status} // 'none') . "\n" . ($r->{body} // '');
}

sub permutations {
	my (@list) = @_;

	return [ @list ] if @list <= 1;

	return map {
		my $i = $_;
		map { [ $list[$i], @$_ ] }
			permutations(@list[0 .. $i - 1], @list[$i + 1 .. $#list]);
	} 0 .. $#list;
}

###############################################################################

my $units = \&units_cmp;
my $bytes = sub { $_[0] cmp $_[1] };

# U+FFFF, U+10000 and a truncated sequence: once compared in a cycle

my @cycle = ("\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf0\x80");

my @perms = permutations(@cycle);
my @keys = grep { call($units, map { [ $_ => 'v' ] } @$_) eq $ROUTED }
	@perms;

is(scalar @keys, 6, 'invalid keys, every order');

my @values = grep { call($units, map { [ 'X' => $_ ] } @$_) eq $ROUTED }
	@perms;

is(scalar @values, 6, 'invalid values, every order');

like(call($bytes, map { [ $_ => 'v' ] } @cycle), qr/^403\n/,
	'byte order refused');

# valid UTF-8: UTF-16 order, not code point order

my @utf16 = ([ "\xf0\x9f\x98\x80" => 'a' ], [ "\xef\xbd\x81" => 'b' ]);

is(call($units, @utf16), $ROUTED, 'utf-16 order');
like(call($bytes, @utf16), qr/^403\n/, 'code point order refused');

# invalid bytes after every character, a stray continuation byte included

is(call($units, [ "\x80" => 'a' ], [ "\xf4\x8f\xbf\xbf" => 'b' ],
	[ "\xed\xa0\x80" => 'c' ], [ "a\xc3" => 'd' ], [ "a\xc3\xa9" => 'e' ]),
	$ROUTED, 'invalid bytes last');

is(call($units, [ 'K' => "\xe2\x82" ], [ 'K' => "\xe2\x82\xac" ],
	[ 'K' => "\xe2\x82" ]), $ROUTED, 'repeated invalid value once');

# 252 keys sharing a 200-byte prefix: reversed, sorted, interleaved

my @alnum = ('0' .. '9', 'A' .. 'Z', 'a' .. 'z');
my @long = map { [ 'k' x 200 . $alnum[$_ % 62] . $alnum[int($_ / 62)], 1 ] }
	0 .. 251;
my @sorted = sort { $a->[0] cmp $b->[0] } @long;

is(call($units, reverse @sorted), $ROUTED, 'shared prefix, reversed');
is(call($units, @sorted), $ROUTED, 'shared prefix, sorted');
is(call($units, @sorted[grep { $_ % 2 } 0 .. 251],
	@sorted[grep { !($_ % 2) } 0 .. 251]), $ROUTED,
	'shared prefix, interleaved');

###############################################################################

$t->stop();

my @refused = $t->read_file('error.log') =~ /twanon: invalid signature/g;

is(scalar @refused, 2, 'two invalid signatures logged');

###############################################################################
