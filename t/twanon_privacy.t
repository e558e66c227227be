#!/usr/bin/perl

# Copyright (C) twanon authors

# Privacy of the caller's number in twanon_incoming: a call from a
# distinctive number goes through every path (routed, routed with
# "twanon_resolver_send hash", resolver down, caller unknown,
# twanon_fallback_client, invalid and missing signature, malformed body),
# next to a few twanon_token requests, on two nginx instances: one logging
# at info, with an access log of every module variable, where no file of
# the prefix may hold the number; one logging at debug, where no line of
# the module may hold the number, the auth token, the API secret or an
# issued token.  The TwiML sent never holds the number, and the resolver
# sees it in the subrequest body only.

###############################################################################

use warnings;
use strict;

use Test::More;

use Digest::SHA qw/ hmac_sha256_hex /;
use File::Find qw//;
use File::Temp qw/ tempdir /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT form_escape twilio_signature /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

eval { require JSON::PP; };
skip_file('no JSON::PP (make test installs perl)') if $@;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $KEY = 'SK' . 'fedcba9876543210fedcba9876543210';
my $SECRET = 'privacy-api-secret-2b8e51';
my $TOKEN = 'privacy-auth-token-93d0c7';
my $HASH_KEY = 'privacy-hash-key-5a1f66';

# the caller; the number is found by its last ten digits, whatever the
# prefix or escaping around them

my $FROM = '+15559876543';
my $TO = '+15557654321';
my $DIGITS = qr/5559876543|555.?987.?6543/;

my $SAY = '<?xml version="1.0" encoding="UTF-8"?>' . "\n"
	. '<Response><Say>We are sorry, no one is available to take your call'
	. ' right now. Please try again later.</Say></Response>' . "\n";

my $ROUTED = '<?xml version="1.0" encoding="UTF-8"?>' . "\n"
	. '<Response><Dial answerOnBridge="true" timeLimit="3600" timeout="30"'
	. ' callerId="' . $TO . '"><Client><Identity>user001</Identity>'
	. '<Parameter name="twanonRinging" value="1"/>'
	. '<Parameter name="customerName" value="Ann"/>'
	. '<Parameter name="customerId" value="42"/></Client></Dial>'
	. '</Response>' . "\n";

my $FALLBACK_CLIENT = '<?xml version="1.0" encoding="UTF-8"?>' . "\n"
	. '<Response><Dial answerOnBridge="true" timeLimit="3600" timeout="30"'
	. ' callerId="' . $TO . '"><Client><Identity>alice</Identity>'
	. '<Parameter name="twanonRinging" value="1"/>'
	. '<Parameter name="customerName" value="Unknown caller"/></Client>'
	. '</Dial></Response>' . "\n";

# the resolver backend logs the bodies it receives; that log holds the
# number by design, so it is kept outside the prefixes

my $bodies = tempdir('twanon-privacy-XXXXXXXXXX', TMPDIR => 1,
	CLEANUP => ($ENV{TEST_NGINX_LEAVE} ? 0 : 1));
chmod 0755, $bodies;

sub conf {
	my ($level, $body_log) = @_;

	return <<"EOF";

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    error_log  %%TESTDIR%%/error.log $level;

    log_format  privacy  '\$remote_addr "\$request_uri" \$status '
                         'hash=\$twanon_caller_hash sid=\$twanon_call_sid '
                         'route=\$twanon_route id=\$twanon_client_identity';

    log_format  resolver  '"\$uri" "\$request_uri" \$status '
                          'hash=\$twanon_caller_hash '
                          'sid=\$twanon_call_sid route=\$twanon_route '
                          'upstream=\$upstream_status';

    log_format  body  '"\$request" \$status body=\$request_body';

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        access_log  %%TESTDIR%%/privacy.log privacy;

        twanon_auth_token  $TOKEN;
        twanon_hash_key    $HASH_KEY;
        twanon_resolver    /resolver;

        location = /resolver {
            internal;
            log_subrequest  on;
            access_log      %%TESTDIR%%/resolver.log resolver;
            proxy_pass      http://127.0.0.1:8081/route;
        }

        location = /resolver_unknown {
            internal;
            log_subrequest  on;
            access_log      %%TESTDIR%%/resolver.log resolver;
            proxy_pass      http://127.0.0.1:8081/unknown;
        }

        location = /resolver_down {
            internal;
            log_subrequest  on;
            access_log      %%TESTDIR%%/resolver.log resolver;
            proxy_pass      http://127.0.0.1:8083/route;
        }

        location = /incoming {
            twanon_incoming;
        }

        location = /hashed {
            twanon_incoming;
            twanon_resolver_send  hash;
        }

        location = /down {
            twanon_incoming;
            twanon_resolver  /resolver_down;
        }

        location = /unknown {
            twanon_incoming;
            twanon_resolver  /resolver_unknown;
        }

        location = /fbclient {
            twanon_incoming;
            twanon_resolver         /resolver_unknown;
            twanon_fallback_client  alice;
        }

        location = /token {
            twanon_token;
            twanon_account_sid  $ACCOUNT;
            twanon_api_key      $KEY;
            twanon_api_secret   $SECRET;
        }
    }

    # the resolver backend: logs the body it got, passes it on

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        access_log  $body_log body;

        location / {
            client_body_in_single_buffer  on;
            proxy_pass  http://127.0.0.1:8082;
        }
    }

    server {
        listen       127.0.0.1:8082;
        server_name  localhost;

        location = /route {
            return 200 '{"appId":"user001","customerName":"Ann","customerId":"42"}';
        }

        location = /unknown {
            return 404;
        }
    }
}

EOF
}

my $t = Test::Twanon->new()->has(qw/http proxy/);
$t->write_file_expand('nginx.conf', conf('info', "$bodies/info.log"));

my $d = Test::Twanon->new()->has(qw/http proxy/);
$d->write_file_expand('nginx.conf', conf('debug', "$bodies/debug.log"));

# the flows: name, request, status and body expected, and what the access
# log line of the call must show

my @flows = (
	[ 'routed', '/incoming', 'sign', 200, $ROUTED,
		'route=client id=user001' ],
	[ 'routed hash', '/hashed', 'sign', 200, $ROUTED,
		'route=client id=user001' ],
	[ 'resolver down', '/down', 'sign', 200, $SAY, 'route=error id=-' ],
	[ 'caller unknown', '/unknown', 'sign', 200, $SAY,
		'route=unknown id=-' ],
	[ 'fallback client', '/fbclient', 'sign', 200, $FALLBACK_CLIENT,
		'route=unknown id=alice' ],
	[ 'invalid signature', '/incoming', 'wrong', 403, "forbidden\n",
		'route=rejected id=-' ],
	[ 'missing signature', '/incoming', 'none', 403, "forbidden\n",
		'route=rejected id=-' ],
	[ 'malformed body', '/incoming', 'malformed', 400,
		"malformed form body\n", 'route=rejected id=-' ],
);

$t->run();
$d->run();

$t->plan(2 * (3 * @flows + 1) + @flows + 26);

###############################################################################

my $json = JSON::PP->new;

# every flow once on an instance; returns { name => response } and the
# CallSid of each flow, plus the tokens issued

my $n = 0;

sub flows {
	my ($obj) = @_;

	my $port = $obj->port(8080);
	my (%r, %sid, @tokens);

	for my $f (@flows) {
		my ($name, $uri, $how) = @$f;

		my $sid = sprintf('CA%032x', 0x9876000 + ++$n);

		my %params = (
			AccountSid => $ACCOUNT,
			CallSid => $sid,
			CallStatus => 'ringing',
			Called => $TO,
			Caller => $FROM,
			Direction => 'inbound',
			From => $FROM,
			To => $TO,
		);

		my $body = join('&',
			map { form_escape($_) . '=' . form_escape($params{$_}) }
			sort keys %params);

		my $url = "http://localhost:$port$uri";
		my $sig = twilio_signature($TOKEN, $url, %params);

		$sig = twilio_signature("${TOKEN}x", $url, %params)
			if $how eq 'wrong';

		$body .= '&Bad=%zz' if $how eq 'malformed';

		$r{$name} = $obj->http_request('POST', $uri, headers => [
			'Host' => "localhost:$port",
			'Content-Type' => 'application/x-www-form-urlencoded',
			($how eq 'none' ? () : ('X-Twilio-Signature' => $sig)),
		], body => $body);

		$sid{$name} = $sid;
	}

	my @token = (
		$obj->http_request('GET', '/token?identity=alice'),
		$obj->http_request('POST', '/token', body => 'identity=bob',
			headers => [ 'Content-Type' =>
				'application/x-www-form-urlencoded' ]),
	);

	for my $r (@token) {
		my $j = eval { $json->decode($r->{body}) };
		push @tokens, $j->{token} if ref $j eq 'HASH' && defined $j->{token};
	}

	return (\%r, \%sid, \@tokens);
}

sub check_replies {
	my ($level, $r, $tokens) = @_;

	for my $f (@flows) {
		my ($name, $uri, $how, $status, $body) = @$f;
		my $got = $r->{$name};

		is($got->{status}, $status, "$level $name status");
		is($got->{body}, $body, "$level $name body");
		unlike(defined $got->{raw} ? $got->{raw} : '', $DIGITS,
			"$level $name reply has no number");
	}

	is(scalar @$tokens, 2, "$level tokens issued");
}

# every regular file under a directory, as [ relative name, content ]

sub files {
	my ($obj) = @_;

	my $dir = $obj->testdir();
	my @files;

	File::Find::find({ no_chdir => 1, wanted => sub {
		return unless -f $_;
		(my $rel = $_) =~ s!^\Q$dir\E/!!;
		push @files, [ $rel, $obj->read_file($_) ];
	} }, $dir);

	return sort { $a->[0] cmp $b->[0] } @files;
}

###############################################################################

# info: every file of the prefix

my ($ri, $sidi, $tokensi) = flows($t);
my ($rd, $sidd, $tokensd) = flows($d);

check_replies('info', $ri, $tokensi);
check_replies('debug', $rd, $tokensd);

$t->stop();
$d->stop();

my @files = files($t);
my %file = map { $_->[0] => $_->[1] } @files;

is(join(', ', map { $_->[0] } grep { $_->[1] =~ $DIGITS } @files), '',
	'info: no file of the prefix holds the number');
is(join(', ', map { $_->[0] } grep { $_->[1] =~ /\Q$FROM\E/ } @files), '',
	'info: no file holds +1 and the number');
is(join(', ', map { $_->[0] } grep { $_->[1] =~ /%2B1?5559876543/i }
	@files), '', 'info: no file holds the escaped number');

ok(scalar(grep { $_->[0] eq 'error.log' } @files)
	&& scalar(grep { $_->[0] eq 'privacy.log' } @files)
	&& scalar(grep { $_->[0] eq 'resolver.log' } @files)
	&& scalar(grep { $_->[0] eq 'access.log' } @files),
	'info: the logs were written');

# the access log of the module's variables

my $hash = hmac_sha256_hex($FROM, $HASH_KEY);
my @access = split /\n/, $file{'privacy.log'} || '';

for my $f (@flows) {
	my ($name, $uri, $how, $status, $body, $vars) = @$f;
	my $sid = $sidi->{$name};

	# a malformed body is refused before its fields are read

	my @got = $how eq 'malformed'
		? grep { /"\Q$uri\E" $status / } @access
		: grep { /sid=\Q$sid\E / } @access;
	my $want = $how eq 'sign' ? "hash=$hash sid=$sid $vars"
		: $how eq 'malformed' ? "hash=- sid=- $vars"
		: "sid=$sid $vars";

	ok(@got == 1 && $got[0] =~ /"\Q$uri\E" $status .*\Q$want\E$/,
		"info access log $name") or diag(join("\n", @got) || 'no line');
}

is(scalar(grep { m!"/token\?identity=alice" 200 hash=- sid=- route=- id=-$!
	} @access), 1, 'info access log token');

# the resolver's own access log: the subrequests, with no number

my @resolver = split /\n/, $file{'resolver.log'} || '';

is(scalar @resolver, 5, 'info resolver log lines');
is(scalar(grep { /^"\/resolver" "\/incoming" 200 hash=$hash sid=CA/ }
	@resolver), 1, 'info resolver log routed');
is(scalar(grep { /^"\/resolver_unknown" "\/unknown" 404 / } @resolver), 1,
	'info resolver log unknown');

# the resolver backend got the number, in the body only

my $got = do { local $/; open my $fh, '<', "$bodies/info.log"; <$fh> };
$got = '' unless defined $got;

my $escaped = form_escape($FROM);
my $to = form_escape($TO);

my $line = qr!^"POST /route HTTP/1\.0" 200 body=!m;

like($got, qr!${line}from_number=\Q$escaped\E&to_number=\Q$to\E$!m,
	'info resolver got the number in the body');
like($got, qr!${line}from_hash=$hash&to_number=\Q$to\E$!m,
	'info resolver got the hash in the body');
is(scalar(() = $got =~ /^"[^"]*$DIGITS/mg), 0,
	'info resolver request lines have no number');

# the lines expected at info

my @info = split /\n/, $file{'error.log'} || '';

sub info_logged {
	my ($re) = @_;
	return scalar grep { /$re/ } @info;
}

my $fallback = 'serving the fallback, call';

ok(info_logged(qr/\[warn\] .*twanon: invalid signature for "[^"?]+" under the Auth Token \(HMAC-SHA1\), call "$sidi->{'invalid signature'}"/),
	'info log invalid signature');
ok(info_logged(qr/\[warn\] .*twanon: caller unknown to the resolver, $fallback "$sidi->{'caller unknown'}"/),
	'info log caller unknown');
ok(info_logged(qr!\[error\] .*twanon: resolver "/resolver_down" failed or was cut short \(status \d+\), $fallback "$sidi->{'resolver down'}"!),
	'info log resolver down');
ok(info_logged(qr/\[info\] .*twanon: malformed webhook body/),
	'info log malformed body');
ok(info_logged(qr/\[error\] .*connect\(\) failed/), 'info log connect failed');
# the harness's main-level error_log stays at debug: the event loop's
# lines, no request's

is(scalar(grep { /\[debug\] \d+#\d+: \*\d+ / } @info), 0,
	'info log has no request debug lines');

###############################################################################

# debug: the module's own lines, then every line

my @lines = $d->error_log_lines();
my @module = grep { /twanon/ } @lines;
my @secrets = ($TOKEN, $SECRET, $HASH_KEY, @$tokensd,
	map { (split /\./)[2] } @$tokensd);

ok(scalar(grep { /\[debug\] .*twanon incoming handler/ } @module)
	&& scalar(grep { /\[debug\] .*twanon resolver subrequest/ } @module),
	'debug log written');
is(join("\n", grep { /$DIGITS/ } @module), '',
	'debug: no module line holds the number');
is(join("\n", grep { my $l = $_; grep { index($l, $_) >= 0 } @secrets }
	@module), '', 'debug: no module line holds a secret or token');

is(join("\n", grep { /$DIGITS/ } @lines), '',
	'debug: no line at all holds the number');
is(join("\n", grep { my $l = $_; grep { index($l, $_) >= 0 } @secrets }
	@lines), '', 'debug: no line at all holds a secret or token');

my @dfiles = grep { $_->[1] =~ $DIGITS } files($d);

is(join(', ', map { $_->[0] } @dfiles), '',
	'debug: no file of the prefix holds the number');

$got = do { local $/; open my $fh, '<', "$bodies/debug.log"; <$fh> };

like(defined $got ? $got : '', qr!body=from_number=\Q$escaped\E&!,
	'debug resolver got the number in the body');

is(scalar(grep { /\[(alert|crit|emerg)\]/ } @lines), 0, 'debug no alerts');
is(scalar(grep { /ERROR: AddressSanitizer|runtime error:|Sanitizer/ }
	@lines), 0, 'debug no sanitizer errors');

###############################################################################
