package Test::Twanon::HTTP;

# Copyright (C) twanon authors

# The HTTP/1.x client the tests talk to nginx with: raw requests, replies
# parsed, and what went each way printed under TEST_NGINX_VERBOSE.  Each
# function may also be called as a method of a Test::Twanon object;
# called as a function, it talks to the object made last.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT_OK = qw/ http http_get http_request http_content parse_response
	reply http_value metric log_core log_in log_out self_and_args /;

###############################################################################

use IO::Socket::INET;
use Scalar::Util qw/ blessed /;

###############################################################################

our $CRLF = "\x0d\x0a";

###############################################################################

sub log_core {
	return unless $ENV{TEST_NGINX_VERBOSE};

	my ($prefix, $msg) = @_;
	($prefix, $msg) = ('', $prefix) unless defined $msg;
	$prefix .= ' ' if length($prefix) > 0;

	$msg = '' unless defined $msg;

	if (length($msg) > 2048) {
		$msg = substr($msg, 0, 2048)
			. "(...logged only 2048 of " . length($msg) . " bytes)";
	}

	$msg =~ s/^/# $prefix/gm;
	$msg =~ s/([^\x20-\x7e\n])/sprintf('\\x%02x', ord($1))/ge;
	$msg .= "\n" unless $msg =~ /\n\z/;

	print $msg;
}

sub log_out {
	log_core('>>', @_);
}

sub log_in {
	log_core('<<', @_);
}

###############################################################################

# the HTTP client; each function may also be called as a method

sub self_and_args {
	my $self = (blessed($_[0]) && $_[0]->isa('Test::Twanon'))
		? shift : $Test::Twanon::CURRENT;

	die "no Test::Twanon object\n" unless defined $self;

	return ($self, @_);
}

sub http_get {
	my ($self, $uri, %opts) = self_and_args(@_);

	return $self->http("GET $uri HTTP/1.0" . $CRLF
		. "Host: localhost" . $CRLF . $CRLF, %opts);
}

# sends a raw request to 127.0.0.1:port(8080), or to port(opts{port}),
# or to opts{peer}; returns the raw response, or undef on error or timeout
#
# options: port, peer, body (sent after the request), sleep (before the
# body), timeout (seconds, default 8 times slow()), start (return the
# socket after sending)

sub http {
	my ($self, $request, %opts) = self_and_args(@_);

	my $timeout = $opts{timeout} || 8 * Test::Twanon::slow();
	my $peer = $opts{peer}
		|| '127.0.0.1:' . $self->port($opts{port} || 8080);

	my ($s, $reply);

	eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		local $SIG{PIPE} = sub { die "sigpipe\n" };
		alarm($timeout);

		$s = $opts{socket} || IO::Socket::INET->new(
			Proto => 'tcp',
			PeerAddr => $peer,
			Timeout => $timeout,
		) or die "Can't connect to $peer: $!\n";

		binmode $s;

		log_out($request);
		$s->print($request) or die "write: $!\n";

		if (defined $opts{body}) {
			select undef, undef, undef, $opts{sleep} if $opts{sleep};
			log_out($opts{body});
			$s->print($opts{body}) or die "write: $!\n";
		}

		alarm(0);
	};
	alarm(0);

	if ($@) {
		log_in("died: $@");
		return undef;
	}

	return $s if $opts{start};

	my $head = $request =~ /^HEAD /;

	eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		local $SIG{PIPE} = sub { die "sigpipe\n" };
		alarm($timeout);

		$reply = '';

		while (1) {
			my $n = sysread($s, my $buf, 65536);

			if (!defined $n) {
				# a reset after a complete response is fine
				last if length $reply && _complete($reply, $head);
				die "read: $!\n";
			}

			last if $n == 0;

			$reply .= $buf;

			# a keepalive connection stays open: stop at the end
			# of the response

			last if _complete($reply, $head);
		}

		$s->close();
		alarm(0);
	};
	alarm(0);

	if ($@) {
		log_in("died: $@");
		return undef;
	}

	log_in($reply);
	return $reply;
}

# is a raw response complete?

sub _complete {
	my ($raw, $head) = @_;

	my $end = index($raw, "\x0d\x0a\x0d\x0a");
	return 0 if $end < 0;

	my $headers = substr($raw, 0, $end);
	my $body = substr($raw, $end + 4);

	my ($status) = $headers =~ m!^HTTP/\d\.\d (\d{3})!;
	return 0 unless defined $status;

	return 1 if $head || $status =~ /^1|^204$|^304$/;

	if ($headers =~ /^Transfer-Encoding:\s*chunked\s*$/mi) {
		return _dechunk($body) ? 1 : 0;
	}

	if ($headers =~ /^Content-Length:\s*(\d+)\s*$/mi) {
		return length($body) >= $1 ? 1 : 0;
	}

	# read until the connection is closed

	return 0;
}

# returns the decoded body of a complete chunked body, or undef

sub _dechunk {
	my ($body) = @_;

	my $content = '';
	my $pos = 0;

	while (1) {
		my $eol = index($body, "\x0d\x0a", $pos);
		return undef if $eol < 0;

		my $line = substr($body, $pos, $eol - $pos);
		my ($len) = $line =~ /^([0-9a-fA-F]+)/ or return undef;
		$len = hex($len);
		$pos = $eol + 2;

		if ($len == 0) {
			# trailers, then an empty line
			while (1) {
				$eol = index($body, "\x0d\x0a", $pos);
				return undef if $eol < 0;
				last if $eol == $pos;
				$pos = $eol + 2;
			}

			return $content;
		}

		return undef if length($body) < $pos + $len + 2;

		$content .= substr($body, $pos, $len);
		$pos += $len + 2;
	}
}

sub http_content {
	my ($raw) = @_;

	my $r = parse_response($raw);
	return defined $r ? $r->{body} : undef;
}

# parses a raw response into
# { status, headers (lowercased names; arrayref when repeated), body, raw }

sub parse_response {
	my ($raw) = @_;

	return undef unless defined $raw;

	my $end = index($raw, "\x0d\x0a\x0d\x0a");
	return { status => undef, headers => {}, body => undef, raw => $raw }
		if $end < 0;

	my $head = substr($raw, 0, $end);
	my $body = substr($raw, $end + 4);

	my ($line, @lines) = split /\x0d\x0a/, $head;
	my ($status) = $line =~ m!^HTTP/\d\.\d (\d{3})!;

	my %headers;

	for (@lines) {
		my ($name, $value) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
		$name = lc $name;

		if (!exists $headers{$name}) {
			$headers{$name} = $value;

		} elsif (ref $headers{$name}) {
			push @{$headers{$name}}, $value;

		} else {
			$headers{$name} = [ $headers{$name}, $value ];
		}
	}

	my $te = $headers{'transfer-encoding'};

	if (defined $te && !ref $te && $te =~ /^chunked$/i) {
		my $d = _dechunk($body);
		$body = defined $d ? $d : $body . '[incomplete chunked body]';
	}

	return {
		status => defined $status ? $status + 0 : undef,
		status_line => $line,
		headers => \%headers,
		body => $body,
		raw => $raw,
	};
}

# http_request($method, $uri, headers => {...} or [...], body => '...',
#     port => NNNN, version => '1.1', timeout => N)
#
# sends an HTTP/1.1 request with Host: localhost and Connection: close,
# plus Content-Length when a body is given and neither Content-Length nor
# Transfer-Encoding is; returns parse_response() of the reply, or a hash
# with an undef status on error

sub http_request {
	my ($self, $method, $uri, %opts) = self_and_args(@_);

	my $version = $opts{version} || '1.1';
	my @headers;

	if (ref $opts{headers} eq 'HASH') {
		@headers = map { [ $_, $opts{headers}{$_} ] }
			sort keys %{$opts{headers}};

	} elsif (ref $opts{headers} eq 'ARRAY') {
		my @h = @{$opts{headers}};
		push @headers, [ splice(@h, 0, 2) ] while @h;
	}

	my %have = map { lc($_->[0]) => 1 } @headers;

	unshift @headers, [ 'Host', 'localhost' ] unless $have{host};
	push @headers, [ 'Connection', 'close' ] unless $have{connection};

	if (defined $opts{body} && !$have{'content-length'}
		&& !$have{'transfer-encoding'})
	{
		push @headers, [ 'Content-Length', length($opts{body}) ];
	}

	my $request = "$method $uri HTTP/$version" . $CRLF;
	$request .= "$_->[0]: $_->[1]" . $CRLF for @headers;
	$request .= $CRLF;
	$request .= $opts{body} if defined $opts{body};

	my $raw = $self->http($request,
		map { defined $opts{$_} ? ($_ => $opts{$_}) : () }
			qw/ port peer timeout /);

	my $r = parse_response($raw);

	return $r || { status => undef, headers => {}, body => undef,
		raw => undef };
}

# a reply as "status content-type\nbody", for is() against what a test
# expects; a parse_response() hash (or raw bytes)

sub reply {
	my ($r) = @_;

	$r = parse_response($r) unless ref $r;
	$r ||= { headers => {} };

	my $type = $r->{headers}{'content-type'};
	$type = join(', ', @$type) if ref $type;

	return (defined $r->{status} ? $r->{status} : 'none') . ' '
		. (defined $type ? $type : 'none') . "\n"
		. (defined $r->{body} ? $r->{body} : '');
}

# how many lines of an error log (its text, or a list of its lines) are
# of that level and hold that text

# the body of a 200 reply to GET uri, trimmed of white space, as a test's
# /pid or /generation location returns it; 'none' for any other reply

sub http_value {
	my ($self, $uri, %opts) = self_and_args(@_);

	my $r = parse_response($self->http_get($uri, %opts));

	return 'none' unless defined $r && ($r->{status} // 0) == 200;
	return $r->{body} =~ s/^\s+|\s+\z//gr;
}

# the value of one series in a Prometheus text exposition, or undef

sub metric {
	my ($text, $series) = @_;

	my ($v) = $text =~ /^\Q$series\E (\S+)$/m;

	return $v;
}

1;

###############################################################################
