package Test::Twanon::Twilio;

# Copyright (C) twanon authors

# Twilio's side of a webhook, for the tests that play Twilio: form bodies,
# X-Twilio-Signature, signed webhook requests, sent or as raw bytes, and
# the <Dial> TwiML a routed call gets back.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT_OK = qw/ form_escape form_body twilio_signature signed_form
	chunked_body call_pairs webhook_request webhook_raw dial_twiml /;

###############################################################################

use Digest::SHA qw//;
use MIME::Base64 qw//;

use Test::Twanon::HTTP qw/ self_and_args /;

###############################################################################

our $CRLF = "\x0d\x0a";

###############################################################################

# a form value, application/x-www-form-urlencoded as Twilio sends it

sub form_escape {
	my ($s) = @_;

	$s =~ s/([^A-Za-z0-9\-_.~ ])/sprintf('%%%02X', ord($1))/ge;
	$s =~ tr/ /+/;

	return $s;
}

# a form body of a flat list of names and values, in the order given

sub form_body {
	my (@pairs) = @_;

	my @out;

	while (@pairs) {
		my ($k, $v) = splice(@pairs, 0, 2);
		push @out, form_escape($k) . '=' . form_escape($v);
	}

	return join('&', @out);
}

# X-Twilio-Signature over a URL and a flat list of form names and values:
# base64 of the HMAC-SHA1, keyed with the Auth Token, of the URL followed
# by each name in sorted order with each of its distinct values, sorted

sub twilio_signature {
	my ($token, $url, @pairs) = @_;

	my %values;

	while (@pairs) {
		my ($k, $v) = splice(@pairs, 0, 2);
		$values{$k}{$v} = 1;
	}

	my $data = $url;

	for my $k (sort keys %values) {
		$data .= $k . $_ for sort keys %{$values{$k}};
	}

	my $mac = Digest::SHA::hmac_sha1($data, $token);

	return MIME::Base64::encode_base64($mac, '');
}

# a form body and its X-Twilio-Signature, for a request a test sends itself

sub signed_form {
	my ($token, $url, @pairs) = @_;

	return (form_body(@pairs), twilio_signature($token, $url, @pairs));
}

# the fields of a ringing call, in this order: AccountSid, CallSid (CA and
# the number of the process's next call), CallStatus ringing, From, To;
# a field named replaces its default, undef leaves it out, others follow

my $CALLS = 0;

sub call_pairs {
	my (@fields) = @_;

	my @pairs = (
		AccountSid => 'AC' . '0' x 32,
		CallSid => sprintf('CA%032d', ++$CALLS),
		CallStatus => 'ringing',
		From => '+15551234567',
		To => '+15557654321',
	);

	my @more;

	while (my ($name, $value) = splice(@fields, 0, 2)) {
		my ($i) = grep { $pairs[$_] eq $name } map { $_ * 2 } 0 .. 4;

		if (defined $i) {
			$pairs[$i + 1] = $value;

		} else {
			push @more, $name, $value;
		}
	}

	my @out;

	while (my ($name, $value) = splice(@pairs, 0, 2)) {
		push @out, $name, $value if defined $value;
	}

	return (@out, @more);
}

# a body in chunks of size bytes, Transfer-Encoding: chunked

sub chunked_body {
	my ($data, $size) = @_;

	my $s = '';

	while (length $data) {
		my $chunk = substr($data, 0, $size, '');
		$s .= sprintf("%x\x0d\x0a%s\x0d\x0a", length $chunk, $chunk);
	}

	return $s . "0\x0d\x0a\x0d\x0a";
}

# webhook_request($uri, token => ..., pairs => [ name, value, ... ], ...):
# Twilio's POST of those fields to uri, signed with the Auth Token over
# url (default http://<host><uri>); returns http_request()'s reply.
#
# options: host (a Host header, and the signed URL's host), url, headers
# (more, or other, headers: a hash or a flat list), no_headers (names of
# headers not to send), chunked (the body in chunks of that size),
# method, timeout

sub webhook_request {
	my ($self, $uri, %o) = self_and_args(@_);

	my @pairs = @{$o{pairs} || []};
	my $body = form_body(@pairs);
	my $url = defined $o{url} ? $o{url}
		: 'http://' . ($o{host} || 'localhost') . $uri;

	my @headers = (
		defined $o{host} ? (Host => $o{host}) : (),
		'Content-Type' => 'application/x-www-form-urlencoded',
		'X-Twilio-Signature' =>
			twilio_signature($o{token}, $url, @pairs),
	);

	my @more = ref $o{headers} eq 'HASH'
		? map { $_ => $o{headers}{$_} } sort keys %{$o{headers}}
		: @{$o{headers} || []};

	# a header given again replaces the default one

	while (my ($name, $value) = splice(@more, 0, 2)) {
		my $i = _header_index(\@headers, $name);
		if (defined $i) {
			$headers[$i + 1] = $value;
		} else {
			push @headers, $name, $value;
		}
	}

	for my $name (@{$o{no_headers} || []}) {
		my $i = _header_index(\@headers, $name);
		splice(@headers, $i, 2) if defined $i;
	}

	if ($o{chunked}) {
		push @headers, 'Transfer-Encoding' => 'chunked';
		$body = chunked_body($body, $o{chunked});
	}

	return $self->http_request($o{method} || 'POST', $uri,
		headers => \@headers, body => $body,
		defined $o{timeout} ? (timeout => $o{timeout}) : ());
}

sub _header_index {
	my ($headers, $name) = @_;

	for (my $i = 0; $i < @$headers; $i += 2) {
		return $i if lc $headers->[$i] eq lc $name;
	}

	return undef;
}

# webhook_raw($uri, token => ..., pairs => [ ... ], ...): the same POST
# as the raw bytes of an HTTP request, for tests that send it in parts
# or get it wrong on purpose.
#
# options: url (signed; default http://localhost<uri>), version (1.1),
# host (undef: no Host header), sigs (the X-Twilio-Signature values
# sent, default the right one), type (Content-Type; '' sends none),
# headers (more header lines), body (instead of the fields' form),
# length (Content-Length sent), chunked (no Content-Length), connection

sub webhook_raw {
	my ($uri, %o) = @_;

	my $version = $o{version} || '1.1';
	my $host = exists $o{host} ? $o{host} : 'localhost';
	my @pairs = @{$o{pairs} || []};

	my $body = defined $o{body} ? $o{body} : form_body(@pairs);
	my $url = defined $o{url} ? $o{url} : "http://localhost$uri";

	my $sigs = exists $o{sigs} ? $o{sigs}
		: [ twilio_signature($o{token}, $url, @pairs) ];

	my $type = defined $o{type} ? $o{type}
		: 'application/x-www-form-urlencoded';

	my $req = "POST $uri HTTP/$version" . $CRLF;
	$req .= "Host: $host" . $CRLF if defined $host;
	$req .= "Content-Type: $type" . $CRLF if $type ne '';
	$req .= "X-Twilio-Signature: $_" . $CRLF for @$sigs;
	$req .= $_ . $CRLF for @{$o{headers} || []};

	$req .= 'Content-Length: '
		. (defined $o{length} ? $o{length} : length $body) . $CRLF
		unless $o{chunked};

	$req .= "Connection: $o{connection}" . $CRLF
		if defined $o{connection};

	return $req . $CRLF . $body;
}

# the TwiML of a call routed to one browser operator, declaration
# included: options identity, caller_id (undef: no callerId), ringing (1),
# and params, the <Parameter> elements after twanonRinging: a list of
# names and values, or the elements as text

sub dial_twiml {
	my (%o) = @_;

	my $params = $o{params} || [];

	if (ref $params) {
		my @p = @$params;
		$params = '';

		while (my ($name, $value) = splice(@p, 0, 2)) {
			$params .= qq{<Parameter name="$name" value="$value"/>};
		}
	}

	my $caller_id = defined $o{caller_id}
		? qq{ callerId="$o{caller_id}"} : '';
	my $ringing = defined $o{ringing} ? $o{ringing} : 1;

	return qq{<?xml version="1.0" encoding="UTF-8"?>\n}
		. '<Response><Dial answerOnBridge="true" timeLimit="3600"'
		. qq{ timeout="30"$caller_id><Client>}
		. "<Identity>$o{identity}</Identity>"
		. qq{<Parameter name="twanonRinging" value="$ringing"/>$params}
		. "</Client></Dial></Response>\n";
}

1;

###############################################################################
