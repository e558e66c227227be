#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the twanon_token endpoint of ngx_http_twanon_module: the
# response, the JWT (structure, claims, signature), identity checks, GET
# and POST, body limits (nginx's own 413 past 4096 bytes, a chunked body
# refused before its end), methods, CORS, variables and logging.

###############################################################################

use warnings;
use strict;

use Test::More;

use Digest::SHA qw/ hmac_sha256 /;
use MIME::Base64 qw/ encode_base64url decode_base64url /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT chunked_body /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

eval { require JSON::PP; };
skip_file('no JSON::PP (make test installs perl)') if $@;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $KEY = 'SK' . 'fedcba9876543210fedcba9876543210';
my $SECRET = 's3cr3t-for-tests-only-7f1c';
my $APP = 'AP' . '11112222333344445555666677778888';
my $PUSH = 'CR' . 'aaaabbbbccccddddeeeeffff00001111';
my $OTHER_ACCOUNT = 'AC' . '99999999999999999999999999999999';

# a secret given through a request header in /token_empty; nginx's own
# debug log prints request headers, so this one may show up in the log

my $VAR_SECRET = 'header-secret-4e2a';

# the secret of /token_file, read from a file with trailing whitespace

my $FILE_SECRET = 'file-secret-3b9d';

my $t = Test::Twanon->new()->has(qw/http/);

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

        twanon_account_sid  $ACCOUNT;
        twanon_api_key      $KEY;
        twanon_api_secret   $SECRET;

        location = /token {
            twanon_token;
        }

        location = /token_region {
            twanon_token;
            twanon_token_region                    ie1;
            twanon_token_outgoing_application_sid  $APP;
            twanon_token_push_credential_sid       $PUSH;
            twanon_token_incoming                  off;
            twanon_token_ttl                       10m;
        }

        location = /token_expires {
            twanon_token;
            expires  1h;
        }

        location = /token_user {
            twanon_token;
            twanon_token_identity  \$http_x_user;
        }

        location = /token_cors {
            twanon_token;
            twanon_cors_origin  https://console.example.com
                                https://b.example:8443;
        }

        location = /token_any {
            twanon_token;
            twanon_cors_origin  *;
        }

        location = /token_empty {
            twanon_token;
            twanon_api_secret  \$http_x_secret;
        }

        location = /token_file {
            twanon_token;
            twanon_api_secret_file  file.secret;
        }

        location = /token_sid {
            twanon_token;
            twanon_account_sid  \$http_x_sid;
        }

        location = /token_pattern {
            twanon_token;
            twanon_token_identity_pattern  "^[a-z.\@-]{1,64}\$";
        }

        location = /token_dot {
            twanon_token;
            twanon_token_identity_pattern  "^.{1,64}\$";
        }
    }
}

EOF

$t->write_file('file.secret', "$FILE_SECRET \t\r\n");
chmod 0600, $t->testdir() . '/file.secret';

$t->run()->plan(144);

###############################################################################

my $json = JSON::PP->new->utf8->canonical;
my @tokens;

# a response: status, headers, body, and the body decoded from JSON

sub req {
	my ($method, $uri, %opts) = @_;

	my $r = http_request($method, $uri, %opts);

	$r->{json} = eval { $json->decode($r->{body}) }
		if defined $r->{body} && length $r->{body};

	if (ref $r->{json} eq 'HASH' && defined $r->{json}{token}) {
		push @tokens, $r->{json}{token};
	}

	return $r;
}

sub form {
	my ($uri, $body, %opts) = @_;

	return req('POST', $uri, body => $body,
		headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
			%{$opts{headers} || {}} });
}

# "<status> <error code>" of an error response, or what was received

sub error_of {
	my ($r) = @_;

	my $status = defined $r->{status} ? $r->{status} : 'none';
	my $code = ref $r->{json} eq 'HASH' && defined $r->{json}{error}
		? $r->{json}{error} : 'no error code';

	return "$status $code";
}

sub identity_of {
	my ($r) = @_;

	return 'status ' . (defined $r->{status} ? $r->{status} : 'none')
		unless defined $r->{status} && $r->{status} == 200
		&& ref $r->{json} eq 'HASH';

	return $r->{json}{identity};
}

# the JWT of a response: ( header b64, payload b64, signature b64,
# header JSON text, payload JSON text, header, payload )

sub jwt {
	my ($r) = @_;

	my $token = ref $r->{json} eq 'HASH' ? $r->{json}{token} : undef;
	return () unless defined $token;

	my ($h, $p, $s) = split /\./, $token, -1;
	return () unless defined $s;

	my $hj = decode_base64url($h);
	my $pj = decode_base64url($p);

	return ($h, $p, $s, $hj, $pj,
		eval { $json->decode($hj) }, eval { $json->decode($pj) });
}

sub signature {
	my ($h, $p, $secret) = @_;
	return encode_base64url(hmac_sha256("$h.$p", $secret));
}

sub sig_ok {
	my ($r, $secret) = @_;

	my ($h, $p, $s) = jwt($r);
	return 'no token' unless defined $s;

	return $s eq signature($h, $p, $secret) ? 'valid' : 'mismatch';
}

# JSON::PP booleans become 'true' and 'false', so that is_deeply tells
# true from 1

sub plain {
	my ($v) = @_;

	return { map { $_ => plain($v->{$_}) } keys %$v } if ref $v eq 'HASH';
	return [ map { plain($_) } @$v ] if ref $v eq 'ARRAY';
	return $v ? 'true' : 'false' if JSON::PP::is_bool($v);
	return $v;
}

sub header_of {
	my ($r, $name) = @_;

	my $v = $r->{headers}{lc $name};
	return ref $v ? join(', ', @$v) : $v;
}

sub cors_headers {
	my ($r) = @_;
	return join ',', sort grep { /^access-control-/ } keys %{$r->{headers}};
}

###############################################################################

# a token

my $r = req('GET', '/token?identity=alice');
my $now = time();

is($r->{status}, 200, 'status');
like(header_of($r, 'Content-Type'), qr!^application/json(;|$)!,
	'content type');
is(header_of($r, 'Cache-Control'), 'no-store', 'cache control');

like(header_of(req('GET', '/token_expires?identity=alice'), 'Cache-Control'),
	qr/(^|, )no-store(,|$)/, 'expires keeps no-store');
is(identity_of($r), 'alice', 'identity');
is(join(',', sort keys %{$r->{json} || {}}), 'identity,token', 'body members');

my ($h, $p, $s, $hj, $pj, $header, $payload) = jwt($r);
$payload ||= {};

like($r->{json}{token}, qr/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/,
	'three base64url parts');
is(length(decode_base64url($s)), 32, 'signature length');
is($hj, '{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}', 'header json');
is(join(',', sort keys %$payload), 'exp,grants,iat,iss,jti,sub',
	'payload members');
like($pj, qr/"iat":\d+[,}]/, 'iat number');
like($pj, qr/"exp":\d+[,}]/, 'exp number');

my $iat = $payload->{iat};

ok(defined $iat && abs($iat - $now) <= 5 * $t->slow, 'iat now');
is($payload->{jti}, "$KEY-" . (defined $iat ? $iat : ''), 'jti');
is($payload->{iss}, $KEY, 'iss');
is($payload->{sub}, $ACCOUNT, 'sub');
is(($payload->{exp} || 0) - ($iat || 0), 3600, 'default ttl');
is_deeply(plain($payload->{grants}),
	{ identity => 'alice', voice => { incoming => { allow => 'true' } } },
	'grants');
is($s, signature($h, $p, $SECRET), 'signature');
isnt(sig_ok($r, $SECRET . 'x'), 'valid', 'signature depends on secret');

# region, outgoing and push grants, incoming off, ttl

$r = req('GET', '/token_region?identity=bob');

is($r->{status}, 200, 'region status');

($h, $p, $s, $hj, $pj, $header, $payload) = jwt($r);
$payload ||= {};

is_deeply($header,
	{ alg => 'HS256', typ => 'JWT', cty => 'twilio-fpa;v=1', twr => 'ie1' },
	'region header');
is_deeply(plain($payload->{grants}), {
	identity => 'bob',
	voice => {
		outgoing => { application_sid => $APP },
		push_credential_sid => $PUSH,
	},
}, 'outgoing push no incoming');
is(($payload->{exp} || 0) - ($payload->{iat} || 0), 600, 'ttl 10m');
is(sig_ok($r, $SECRET), 'valid', 'region signature');

###############################################################################

# identity from the query string, default pattern

is(identity_of(req('GET', '/token?identity=' . 'a' x 121)), 'a' x 121,
	'identity 121 chars');
is(identity_of(req('GET', '/token?identity=Bob_2')), 'Bob_2',
	'identity letters digits underscore');
is(identity_of(req('GET', '/token?foo=1&identity=carol&bar=2')), 'carol',
	'identity among other args');

for my $q (
	'identity=' . 'a' x 122,
	'identity=',
	'',
	'foo=bar',
	'xidentity=bob',
	'identity=%C3%A9',
	'identity=caf%C3%A9',
	'identity=%00',
	'identity=a%00b',
	'identity=a+b',
	'identity=a%2Bb',
	'identity=a.b',
	'identity=a%0A',
	'identity=a%20b',
	'identity=a%',
)
{
	my $name = $q eq '' ? 'no query' : $q;
	$name = 'identity 122 chars' if length $q > 100;

	is(error_of(req('GET', '/token' . ($q eq '' ? '' : "?$q"))),
		'400 invalid_identity', "refused $name");
}

$r = req('GET', '/token?identity=a.b');

like(header_of($r, 'Content-Type'), qr!^application/json(;|$)!,
	'error content type');
is(join(',', sort keys %{$r->{json} || {}}), 'error,message',
	'error members');
ok(defined $r->{json}{message} && !ref $r->{json}{message}
	&& length $r->{json}{message}, 'error message');

# a custom pattern

is(identity_of(req('GET', '/token_pattern?identity=alice@example.com')),
	'alice@example.com', 'pattern accepted');
is(error_of(req('GET', '/token_pattern?identity=Alice')),
	'400 invalid_identity', 'pattern refused');
is(error_of(req('GET', '/token_pattern?identity=a_b')),
	'400 invalid_identity', 'pattern replaces default');

# decoding, json escaping, and control bytes under a pattern that
# matches anything

is(identity_of(req('GET', '/token_dot?identity=a.b+c')), 'a.b c',
	'plus decoded');
is(identity_of(req('GET', '/token_dot?identity=a%2Bb')), 'a+b',
	'percent decoded');
is(identity_of(req('GET', '/token_dot?identity=caf%C3%A9')), "caf\x{e9}",
	'utf-8 identity');

$r = req('GET', '/token_dot?identity=a%22b%5Cc%2Fd');

is(identity_of($r), 'a"b\\c/d', 'quote backslash identity');
is(((jwt($r))[6] || {})->{grants}{identity}, 'a"b\\c/d',
	'quote backslash claim');
is(sig_ok($r, $SECRET), 'valid', 'quote backslash signature');

for my $q (qw/ %01 a%00 a%09b a%0Db a%1Fb a%7Fb /) {
	is(error_of(req('GET', "/token_dot?identity=$q")),
		'400 invalid_identity', "control byte $q");
}

# invalid UTF-8 would make the token's JSON invalid, whatever the pattern

for my $q (qw/ %C3%28 a%80 %ED%A0%80 /) {
	is(error_of(req('GET', "/token_dot?identity=$q")),
		'400 invalid_identity', "invalid utf-8 $q");
}

###############################################################################

# POST

$r = form('/token', 'identity=dave');

is(identity_of($r), 'dave', 'post identity');
is(sig_ok($r, $SECRET), 'valid', 'post signature');
is(identity_of(form('/token?identity=mallory', 'identity=erin')), 'erin',
	'post ignores query');
is(error_of(form('/token?identity=erin', '')), '400 invalid_identity',
	'post empty body ignores query');
is(identity_of(form('/token', 'x=1&identity=frank&y=%20')), 'frank',
	'post among other fields');
is(error_of(form('/token', 'identity=a+b')), '400 invalid_identity',
	'post plus decoded');
is(error_of(form('/token', 'identity=a%0A')), '400 invalid_identity',
	'post control byte');

# GET takes the query string only

is(error_of(req('GET', '/token', body => 'identity=dave',
	headers => { 'Content-Type' => 'application/x-www-form-urlencoded' })),
	'400 invalid_identity', 'get ignores body');

# body size limit: client_max_body_size is capped at 4096, so nginx
# refuses a larger body itself, with 413 and "Connection: close", before
# reading a declared one and as soon as a chunked one passes the limit

sub too_large {
	my ($r) = @_;

	my $connection = header_of($r, 'Connection');

	return (defined $r->{status} ? $r->{status} : 'none') . ' '
		. (defined $connection ? $connection : 'none');
}

my $fill = 'identity=grace&pad=';
my $body = $fill . 'x' x (4096 - length $fill);

is(identity_of(form('/token', $body)), 'grace', 'post body 4096');
is(too_large(form('/token', $body . 'x')), '413 close', 'post body 4097');
is(too_large(form('/token', 'identity=grace&pad=' . 'x' x 100000)),
	'413 close', 'post body 100k');

$r = req('POST', '/token', body => chunked_body('identity=heidi', 5),
	headers => {
		'Content-Type' => 'application/x-www-form-urlencoded',
		'Transfer-Encoding' => 'chunked',
	});

is(identity_of($r), 'heidi', 'chunked post');

$r = req('POST', '/token', body => chunked_body($body . 'x' x 1000, 1000),
	headers => {
		'Content-Type' => 'application/x-www-form-urlencoded',
		'Transfer-Encoding' => 'chunked',
	});

is(too_large($r), '413 close', 'chunked post too large');
like($r->{body}, qr/413 Request Entity Too Large/, 'too large by nginx');

$r = req('POST', '/token', body => chunked_body('identity=ivan&pad='
	. 'x' x 65518, 8192), headers => {
		'Content-Type' => 'application/x-www-form-urlencoded',
		'Transfer-Encoding' => 'chunked',
	});

is(too_large($r), '413 close', 'chunked post 64k');

# the first 8 KiB of a chunked 64 KiB body get the 413 at once: nginx
# does not wait for the rest (it read up to 1 MiB before the cap)

my $sock = http("POST /token HTTP/1.1\x0d\x0aHost: localhost\x0d\x0a"
	. "Content-Type: application/x-www-form-urlencoded\x0d\x0a"
	. "Transfer-Encoding: chunked\x0d\x0a\x0d\x0a"
	. sprintf("%x\x0d\x0a", 8192) . 'identity=ivan&pad='
	. 'x' x (8192 - 18) . "\x0d\x0a", start => 1);

my $early = '';

eval {
	local $SIG{ALRM} = sub { die "timeout\n" };
	alarm(5 * $t->slow);

	while ($early !~ /\x0d\x0a\x0d\x0a/) {
		my $n = sysread($sock, my $buf, 4096);
		last unless $n;
		$early .= $buf;
	}

	alarm(0);
};
alarm(0);

like($early, qr/^HTTP\/1\.1 413 /, 'chunked 64k refused before its end');
close $sock;

###############################################################################

# methods

for my $m (qw/ PUT DELETE PATCH /) {
	$r = req($m, '/token?identity=alice', body => 'identity=alice');

	is(error_of($r), '405 method_not_allowed', lc($m) . ' refused');
	is(header_of($r, 'Allow'), 'GET, POST', lc($m) . ' allow');
}

$r = req('HEAD', '/token?identity=alice');

is($r->{status}, 405, 'head refused');
is(header_of($r, 'Allow'), 'GET, POST', 'head allow');

$r = req('OPTIONS', '/token', headers => {
	'Origin' => 'https://console.example.com',
	'Access-Control-Request-Method' => 'POST',
});

is(error_of($r), '405 method_not_allowed', 'options without cors');
is(header_of($r, 'Allow'), 'GET, POST', 'options without cors allow');
is(cors_headers($r), '', 'options without cors no cors headers');

$r = req('PUT', '/token_cors?identity=alice',
	headers => { Origin => 'https://console.example.com' });

is(error_of($r), '405 method_not_allowed', 'put cors refused');
is(header_of($r, 'Allow'), 'GET, POST, OPTIONS', 'put cors allow');

###############################################################################

# CORS

$r = req('GET', '/token_cors?identity=alice',
	headers => { Origin => 'https://console.example.com' });

is($r->{status}, 200, 'cors status');
is(header_of($r, 'Access-Control-Allow-Origin'),
	'https://console.example.com', 'cors origin');
like(header_of($r, 'Vary') || '', qr/(^|,\s*)Origin(\s*,|$)/i, 'cors vary');

$r = req('GET', '/token_cors?identity=alice',
	headers => { Origin => 'https://b.example:8443' });

is(header_of($r, 'Access-Control-Allow-Origin'), 'https://b.example:8443',
	'cors second origin');

$r = form('/token_cors', 'identity=alice',
	headers => { Origin => 'https://b.example:8443' });

is(identity_of($r), 'alice', 'cors post');
is(header_of($r, 'Access-Control-Allow-Origin'), 'https://b.example:8443',
	'cors post origin');

for my $origin (
	'https://evil.example',
	'https://console.example.com.evil.example',
	'https://console.example.co',
	'http://console.example.com',
	'https://b.example',
	'null',
)
{
	$r = req('GET', '/token_cors?identity=alice',
		headers => { Origin => $origin });

	is($r->{status} . ' ' . cors_headers($r), '200 ',
		"cors other origin $origin");
}

is(cors_headers(req('GET', '/token_cors?identity=alice')), '',
	'cors no origin');
is(cors_headers(req('GET', '/token?identity=alice',
	headers => { Origin => 'https://console.example.com' })), '',
	'no cors configured');

# preflight

$r = req('OPTIONS', '/token_cors', headers => {
	'Origin' => 'https://console.example.com',
	'Access-Control-Request-Method' => 'POST',
	'Access-Control-Request-Headers' => 'content-type',
});

is($r->{status}, 204, 'preflight status');
is($r->{body}, '', 'preflight no body');
is(header_of($r, 'Access-Control-Allow-Origin'),
	'https://console.example.com', 'preflight origin');
is(header_of($r, 'Access-Control-Allow-Methods'), 'GET, POST, OPTIONS',
	'preflight methods');
is(header_of($r, 'Access-Control-Allow-Headers'),
	'Content-Type, Authorization', 'preflight headers');
is(header_of($r, 'Access-Control-Max-Age'), '600', 'preflight max age');

$r = req('OPTIONS', '/token_cors', headers => {
	'Origin' => 'https://evil.example',
	'Access-Control-Request-Method' => 'POST',
});

is($r->{status} . ' ' . cors_headers($r), '204 ',
	'preflight other origin');

# any origin

$r = req('GET', '/token_any?identity=alice',
	headers => { Origin => 'https://whatever.example' });

is($r->{status}, 200, 'cors any status');
is(header_of($r, 'Access-Control-Allow-Origin'), '*', 'cors any origin');

$r = req('OPTIONS', '/token_any', headers => {
	'Origin' => 'https://whatever.example',
	'Access-Control-Request-Method' => 'GET',
});

is($r->{status}, 204, 'cors any preflight');
is(header_of($r, 'Access-Control-Allow-Origin'), '*',
	'cors any preflight origin');

###############################################################################

# identity from a variable

$r = req('GET', '/token_user', headers => { 'X-User' => 'alice_1' });

is(identity_of($r), 'alice_1', 'variable identity');
is(((jwt($r))[6] || {})->{grants}{identity}, 'alice_1',
	'variable identity claim');
is(error_of(req('GET', '/token_user')), '400 invalid_identity',
	'variable identity missing');
is(error_of(req('GET', '/token_user?identity=alice')),
	'400 invalid_identity', 'variable identity ignores query');
is(error_of(req('GET', '/token_user', headers => { 'X-User' => 'a%41' })),
	'400 invalid_identity', 'variable identity not decoded');
is(error_of(req('GET', '/token_user', headers => { 'X-User' => 'a.b' })),
	'400 invalid_identity', 'variable identity pattern');
is(identity_of(form('/token_user', 'identity=mallory',
	headers => { 'X-User' => 'bob' })), 'bob', 'variable identity post');

# credentials from variables

$r = req('GET', '/token_empty?identity=alice');

is(error_of($r), '500 not_configured', 'empty secret');
is(join(',', sort keys %{$r->{json} || {}}), 'error,message',
	'empty secret no token');

$r = req('GET', '/token_empty?identity=alice',
	headers => { 'X-Secret' => $VAR_SECRET });

is($r->{status}, 200, 'variable secret');
is(sig_ok($r, $VAR_SECRET), 'valid', 'variable secret signature');

$r = req('GET', '/token_file?identity=alice');

is($r->{status}, 200, 'secret file');
is(sig_ok($r, $FILE_SECRET), 'valid', 'secret file whitespace stripped');

$r = req('GET', '/token_sid?identity=alice',
	headers => { 'X-Sid' => $OTHER_ACCOUNT });

is($r->{status}, 200, 'variable sid');
is(((jwt($r))[6] || {})->{sub}, $OTHER_ACCOUNT, 'variable sid claim');
is(error_of(req('GET', '/token_sid?identity=alice',
	headers => { 'X-Sid' => 'ACxyz' })), '500 not_configured',
	'invalid variable sid');
is(error_of(req('GET', '/token_sid?identity=alice')), '500 not_configured',
	'empty variable sid');

###############################################################################

# logs

$t->stop();

my $log = $t->read_file('error.log');
my @lines = $t->error_log_lines();

is(scalar(grep { /\[error\] .*twanon: "twanon_api_secret" evaluated to an empty value/ }
	@lines), 1, 'log empty secret');
is(scalar(grep { /\[error\] .*twanon: "twanon_account_sid" evaluated to an invalid value/ }
	@lines), 1, 'log invalid sid');
is(scalar(grep { /\[error\] .*twanon: "twanon_account_sid" evaluated to an empty value/ }
	@lines), 1, 'log empty sid');
ok(scalar(grep { /\[debug\] .*twanon/ } @lines), 'debug log');

unlike($log, qr/\Q$SECRET\E/, 'secret not logged');
unlike($log, qr/\Q$FILE_SECRET\E/, 'secret file not logged');

my @logged = grep { index($log, $_) >= 0 } @tokens;
is(join("\n", @logged), '', 'tokens not logged');

my @sigs = map { (split /\./)[2] } grep { tr/.// == 2 } @tokens;
@logged = grep { length && index($log, $_) >= 0 } @sigs;
is(join("\n", @logged), '', 'signatures not logged');

ok(@tokens >= 20, 'tokens collected');

###############################################################################
