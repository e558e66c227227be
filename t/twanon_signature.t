#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the X-Twilio-Signature check of twanon_incoming: the
# signature computed here as Twilio documents it (base64 of HMAC-SHA1
# under the auth token, over the URL and the sorted parameters), the URL
# with and without its port, repeated keys, empty values, "+" and "%2B",
# UTF-8 values, a query string, two auth tokens, twanon_webhook_url,
# twanon_account_sid, a token from a variable, twanon_verify_signature
# off; then the log lines of each refused call, and that neither the
# signatures nor the auth tokens are logged.

###############################################################################

use warnings;
use strict;

use Test::More;

use Digest::SHA qw/ hmac_sha1 /;
use MIME::Base64 qw/ encode_base64 /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT form_body twilio_signature /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $OTHER_ACCOUNT = 'AC' . 'ffffffffffffffffffffffffffffffff';

my $TOKEN = 'auth-token-current-5f0e7a21c3';
my $TOKEN2 = 'auth-token-next-8b34d9e0f1a6';
my $TOKEN3 = 'auth-token-retired-2c7d1b99e4';
my $FILE_TOKEN = 'auth-token-from-file-61aa0c';

# the token of /vartoken comes out of a map; nginx's own debug lines for
# the map may print it, so it is only checked in the info-level log

my $VAR_TOKEN = 'auth-token-mapped-d40b17';

my $FROM = '+15552223333';
my $TO = '+15557654321';

my $ROUTED = '<?xml version="1.0" encoding="UTF-8"?>' . "\n"
	. '<Response><Dial answerOnBridge="true" timeLimit="3600" timeout="30"'
	. ' callerId="' . $TO . '"><Client><Identity>user001</Identity>'
	. '<Parameter name="twanonRinging" value="1"/>'
	. '<Parameter name="customerName" value="Ann"/>'
	. '<Parameter name="customerId" value="42"/></Client></Dial>'
	. '</Response>' . "\n";

my $t = Test::Twanon->new()->has(qw/http proxy map/);

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    # all of the debug log, and what an operator would run: info

    error_log  %%TESTDIR%%/error.log debug;
    error_log  %%TESTDIR%%/info.log info;

    map \$http_x_tenant \$tenant_token {
        default  "";
        acme     $VAR_TOKEN;
    }

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        twanon_resolver  /resolver;

        location = /resolver {
            internal;
            proxy_pass  http://127.0.0.1:8081/route;
        }

        location = /incoming {
            twanon_incoming;
            twanon_auth_token  $TOKEN;
        }

        location = /rotate {
            twanon_incoming;
            twanon_auth_token  $TOKEN;
            twanon_auth_token  $TOKEN2;
        }

        location = /rotate_file {
            twanon_incoming;
            twanon_auth_token       $TOKEN;
            twanon_auth_token_file  auth.token;
        }

        location = /fixed {
            twanon_incoming;
            twanon_auth_token   $TOKEN;
            twanon_webhook_url  https://voice.example.com/incoming;
        }

        location = /account {
            twanon_incoming;
            twanon_auth_token   $TOKEN;
            twanon_account_sid  $ACCOUNT;
        }

        location = /vartoken {
            twanon_incoming;
            twanon_auth_token  \$tenant_token;
        }

        location = /docs {
            twanon_incoming;
            twanon_auth_token   12345;
            twanon_webhook_url  "https://mycompany.com/myapp.php?foo=1&bar=2";
        }

        location = /noverify {
            twanon_incoming;
            twanon_verify_signature  off;
        }
    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        location = /route {
            return 200 '{"appId":"user001","customerName":"Ann","customerId":"42"}';
        }
    }
}

EOF

$t->write_file('auth.token', "$FILE_TOKEN\n");
chmod 0600, $t->testdir() . '/auth.token';

###############################################################################

my $PORT = port(8080);
my $BASE = "http://localhost:$PORT";

# the signature of data as given; twilio_signature() (Test::Twanon) makes
# Twilio's data of a URL and a form

sub raw_signature {
	my ($token, $data) = @_;
	return encode_base64(hmac_sha1($data, $token), '');
}

# the fields of a voice webhook, with a CallSid of its own per case

my $n = 0;

sub call_sid {
	return sprintf('CA%032x', 0x5160000 + ++$n);
}

sub fields {
	my ($sid, %o) = @_;

	return (
		AccountSid => defined $o{account} ? $o{account} : $ACCOUNT,
		ApiVersion => '2010-04-01',
		CallSid => $sid,
		CallStatus => 'ringing',
		Direction => 'inbound',
		From => $FROM,
		To => $TO,
	);
}

###############################################################################

# each case: name, uri, host, body, signature headers (none, one or
# more), other headers, the outcome expected and the log line expected
# for its CallSid ('invalid', 'missing', 'account' or none)

my @cases;

sub case {
	my (%c) = @_;

	$c{uri} = '/incoming' unless defined $c{uri};
	$c{host} = "localhost:$PORT" unless defined $c{host};
	$c{headers} ||= [];

	if (!defined $c{body}) {
		my @pairs = (fields($c{sid}), @{$c{extra} || []});
		$c{pairs} = \@pairs;
		$c{body} = form_body(@pairs);
	}

	if (!exists $c{sigs}) {
		my $token = defined $c{token} ? $c{token} : $TOKEN;
		my $url = defined $c{url} ? $c{url} : "$BASE$c{uri}";
		$c{sigs} = [ twilio_signature($token, $url, @{$c{pairs}}) ];
	}

	push @cases, \%c;
}

sub routed {
	my ($name, %c) = @_;
	case(name => $name, sid => call_sid(), expect => '200 routed', %c);
}

sub refused {
	my ($name, $log, %c) = @_;
	case(name => $name, sid => call_sid(), expect => '403 forbidden',
		log => $log, %c);
}

# the basics

routed('valid');
refused('missing header', 'missing', sigs => []);

{
	my $sid = call_sid();
	my @pairs = fields($sid);
	my $sig = twilio_signature($TOKEN, "$BASE/incoming", @pairs);

	case(name => 'header repeated', sid => $sid, pairs => \@pairs,
		body => form_body(@pairs), sigs => [ $sig, $sig ],
		expect => '403 forbidden', log => 'missing');
}

refused('empty header', 'invalid', sigs => [ '' ]);
refused('wrong token', 'invalid', token => $TOKEN3);
refused('token prefix', 'invalid', token => substr($TOKEN, 0, -1));

{
	my $sid = call_sid();
	my @pairs = fields($sid);
	my $sig = twilio_signature($TOKEN, "$BASE/incoming", @pairs);
	my $body = form_body(@pairs);

	$body =~ s/CallStatus=ringing/CallStatus=ringinf/ or die "no status\n";

	case(name => 'one byte of body changed', sid => $sid, body => $body,
		sigs => [ $sig ], expect => '403 forbidden', log => 'invalid');
}

{
	my $sid = call_sid();
	my @pairs = fields($sid);
	my $sig = twilio_signature($TOKEN, "$BASE/incoming", @pairs);

	substr($sig, 5, 1) = substr($sig, 5, 1) eq 'A' ? 'B' : 'A';

	case(name => 'one byte of signature changed', sid => $sid,
		pairs => \@pairs, body => form_body(@pairs), sigs => [ $sig ],
		expect => '403 forbidden', log => 'invalid');
}

{
	my $sid = call_sid();
	my @pairs = (fields($sid), Extra => 'x');
	my $sig = twilio_signature($TOKEN, "$BASE/incoming", fields($sid));

	case(name => 'parameter added', sid => $sid, body => form_body(@pairs),
		sigs => [ $sig ], expect => '403 forbidden', log => 'invalid');
}

# the URL: with and without the port, the default port, the scheme

routed('url with port', url => "http://localhost:$PORT/incoming");
routed('url without port', url => 'http://localhost/incoming');
refused('url with another port', 'invalid',
	url => 'http://localhost:80/incoming');
refused('url with another scheme', 'invalid',
	url => "https://localhost:$PORT/incoming");
refused('url with another path', 'invalid', url => "$BASE/other");
refused('url with another host', 'invalid',
	url => "http://127.0.0.1:$PORT/incoming");

routed('host without port, url without port', host => 'example.com',
	url => 'http://example.com/incoming');
routed('host without port, url with default port', host => 'example.com',
	url => 'http://example.com:80/incoming');
refused('host without port, url with https port', 'invalid',
	host => 'example.com', url => 'http://example.com:443/incoming');
refused('host without port, url with https', 'invalid',
	host => 'example.com', url => 'https://example.com:443/incoming');
routed('host with default port, url without port', host => 'example.com:80',
	url => 'http://example.com/incoming');
routed('host with default port, url with it', host => 'example.com:80',
	url => 'http://example.com:80/incoming');

# repeated keys, signed as the string Twilio builds; the names sort as
# bytes: upper case before lower case

sub base_data {
	my ($sid, $url) = @_;

	$url = "$BASE/incoming" unless defined $url;

	return $url . "CallSid$sid" . "From$FROM" . "To$TO";
}

sub keys_case {
	my ($name, $body, $tail, $expect) = @_;

	my $sid = call_sid();

	case(name => $name, sid => $sid,
		body => form_body(CallSid => $sid, From => $FROM, To => $TO) . $body,
		sigs => [ raw_signature($TOKEN, base_data($sid) . $tail) ],
		expect => $expect,
		log => $expect =~ /^403/ ? 'invalid' : undef);
}

keys_case('repeated keys a1a2', '&a=1&a=2', 'a1a2', '200 routed');
keys_case('repeated keys reversed', '&a=2&a=1', 'a1a2', '200 routed');
keys_case('repeated keys in body order', '&a=2&a=1', 'a2a1',
	'403 forbidden');
keys_case('repeated value counted once', '&a=1&a=1', 'a1', '200 routed');
keys_case('repeated value not twice', '&a=1&a=1', 'a1a1', '403 forbidden');
keys_case('repeated keys apart', '&a=2&b=x&a=1', 'a1a2bx', '200 routed');
keys_case('names sorted as bytes', '&b=1&_=2&a=3&U=4&Z=5',
	'U4Z5_2a3b1', '200 routed');

# empty values

keys_case('empty values', '&a=&b=2&c=', 'ab2c', '200 routed');
keys_case('empty and other value', '&a=x&a=', 'aax', '200 routed');
keys_case('empty value not dropped', '&a=&b=2', 'b2', '403 forbidden');

# "+" is a space, "%2B" a plus; the decoded values are signed

keys_case('plus and %2B', '&q=a+b&r=a%2Bb', 'qa bra+b', '200 routed');
keys_case('plus signed as plus', '&q=a+b', 'qa+b', '403 forbidden');
keys_case('%2B signed as space', '&r=a%2Bb', 'ra b', '403 forbidden');
keys_case('%20 is a space', '&s=a%20b', 'sa b', '200 routed');
keys_case('escaped name', '&x%5By%5D=1', 'x[y]1', '200 routed');

# UTF-8 values, percent-encoded; the bytes are signed

keys_case('unicode value', '&n=Zo%C3%AB+%E6%9D%B1%E4%BA%AC',
	"nZo\xc3\xab \xe6\x9d\xb1\xe4\xba\xac", '200 routed');
keys_case('unicode lower case hex', '&n=Zo%c3%ab',
	"nZo\xc3\xab", '200 routed');
keys_case('unicode signed as escapes', '&n=Zo%C3%AB', 'nZo%C3%AB',
	'403 forbidden');

# a query string on the webhook URL is part of the URL signed

routed('query string', uri => '/incoming?tenant=x',
	url => "$BASE/incoming?tenant=x");
routed('query string url without port', uri => '/incoming?tenant=x',
	url => 'http://localhost/incoming?tenant=x');
refused('query string not signed', 'invalid', uri => '/incoming?tenant=x',
	url => "$BASE/incoming");
# tenant=x among the parameters signed instead of in the URL

{
	my $sid = call_sid();
	my @pairs = fields($sid);

	case(name => 'query string signed as params', sid => $sid,
		uri => '/incoming?tenant=x', pairs => \@pairs, body => form_body(@pairs),
		sigs => [ twilio_signature($TOKEN, "$BASE/incoming", @pairs,
			tenant => 'x') ],
		expect => '403 forbidden', log => 'invalid');
}

# two auth tokens: current and next

routed('rotation current', uri => '/rotate');
routed('rotation next', uri => '/rotate', token => $TOKEN2);
refused('rotation third', 'invalid', uri => '/rotate', token => $TOKEN3);
routed('rotation file current', uri => '/rotate_file');
routed('rotation file next', uri => '/rotate_file', token => $FILE_TOKEN);
refused('rotation file third', 'invalid', uri => '/rotate_file',
	token => $TOKEN2);
refused('rotation file newline', 'invalid', uri => '/rotate_file',
	token => "$FILE_TOKEN\n");

# twanon_webhook_url

routed('webhook url', uri => '/fixed',
	url => 'https://voice.example.com/incoming');
routed('webhook url with port', uri => '/fixed',
	url => 'https://voice.example.com:443/incoming');
refused('webhook url, own url', 'invalid', uri => '/fixed');
refused('webhook url, own url without port', 'invalid', uri => '/fixed',
	url => 'http://localhost/fixed');
refused('webhook url, http', 'invalid', uri => '/fixed',
	url => 'http://voice.example.com/incoming');

# twanon_account_sid

routed('account match', uri => '/account');

{
	my $sid = call_sid();
	my @pairs = fields($sid, account => $OTHER_ACCOUNT);

	case(name => 'account mismatch', sid => $sid, uri => '/account',
		pairs => \@pairs, body => form_body(@pairs),
		sigs => [ twilio_signature($TOKEN, "$BASE/account", @pairs) ],
		expect => '403 forbidden', log => 'account');

	$sid = call_sid();
	@pairs = fields($sid);
	splice(@pairs, 0, 2);

	case(name => 'account missing', sid => $sid, uri => '/account',
		pairs => \@pairs, body => form_body(@pairs),
		sigs => [ twilio_signature($TOKEN, "$BASE/account", @pairs) ],
		expect => '403 forbidden', log => 'account');

	$sid = call_sid();
	@pairs = fields($sid, account => lc $ACCOUNT);

	case(name => 'account case differs', sid => $sid, uri => '/account',
		pairs => \@pairs, body => form_body(@pairs),
		sigs => [ twilio_signature($TOKEN, "$BASE/account", @pairs) ],
		expect => '403 forbidden', log => 'account');
}

refused('account match, wrong token', 'invalid', uri => '/account',
	token => $TOKEN2);

# an auth token from a variable

refused('variable token empty', undef, uri => '/vartoken',
	token => $VAR_TOKEN);
routed('variable token', uri => '/vartoken', token => $VAR_TOKEN,
	headers => [ 'X-Tenant' => 'acme' ]);
refused('variable token, other token', 'invalid', uri => '/vartoken',
	headers => [ 'X-Tenant' => 'acme' ]);

# the example of Twilio's security documentation, with its signature

my @DOCS = (CallSid => 'CA1234567890ABCDE', Caller => '+12349013030',
	Digits => '1234', From => '+12349013030', To => '+18005551212');
my $DOCS_URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';
my $DOCS_SIG = '0/KCTR6DLpKmkAf8muzZqo1nDgQ=';

case(name => 'twilio docs example', sid => 'CA1234567890ABCDE',
	uri => '/docs', pairs => \@DOCS, body => form_body(@DOCS),
	sigs => [ $DOCS_SIG ], expect => '200 docs');

# twanon_verify_signature off

routed('verify off unsigned', uri => '/noverify', sigs => []);
routed('verify off wrong signature', uri => '/noverify', token => $TOKEN3);

###############################################################################

$t->run()->plan(2 * @cases + 11);

is(twilio_signature('12345', $DOCS_URL, @DOCS), $DOCS_SIG,
	'signature of the docs example');

###############################################################################

sub outcome {
	my ($r) = @_;

	return 'no reply' unless defined $r->{status};

	my $type = $r->{headers}{'content-type'};
	$type = '' unless defined $type && !ref $type;

	return '200 routed'
		if $r->{status} == 200 && $r->{body} eq $ROUTED
		&& $type eq 'text/xml; charset=utf-8';

	return '200 docs'
		if $r->{status} == 200 && $r->{body} =~ m!<Identity>user001<!
		&& $r->{body} =~ m!callerId="\+18005551212"!;

	return '403 forbidden'
		if $r->{status} == 403 && $r->{body} eq "forbidden\n"
		&& $type =~ m!^text/plain(;|$)!;

	return "$r->{status} $type: $r->{body}";
}

my @sent;

for my $c (@cases) {
	my @headers = (
		'Host' => $c->{host},
		'Content-Type' => 'application/x-www-form-urlencoded',
		(map { ('X-Twilio-Signature' => $_) } @{$c->{sigs}}),
		@{$c->{headers}},
	);

	push @sent, grep { length } @{$c->{sigs}};

	my $r = http_request('POST', $c->{uri}, headers => \@headers,
		body => $c->{body});

	is(outcome($r), $c->{expect}, $c->{name});
}

$t->stop();

###############################################################################

# per CallSid: the lines of level info and above that name it

my @lines = $t->error_log_lines();
my @notice = grep { !/\[debug\]/ } @lines;

my %message = (
	invalid => 'invalid signature for "[^"?]+(?:\?\.\.\.)?" under the '
		. 'Auth Token \(HMAC-SHA1\)',
	missing => 'missing or repeated signature header',
	account => 'webhook for another account',
);

for my $c (@cases) {
	my $sid = $c->{sid};
	my @got = grep { /call "\Q$sid\E"/ } @notice;

	if (!defined $c->{log}) {
		is(join("\n", @got), '', "log $c->{name}");
		next;
	}

	my $re = qr/\[warn\] .*twanon: $message{$c->{log}}, call "$sid"/;

	ok(@got == 1 && $got[0] =~ $re, "log $c->{name}")
		or diag(@got ? join("\n", @got) : 'no line');
}

is(scalar(grep { /\[error\] .*twanon: "twanon_auth_token" evaluated to an empty value/ }
	@notice), 1, 'log empty variable token');
ok(scalar(grep { /\[debug\] .*twanon incoming handler/ } @lines),
	'debug log');

# nothing secret in what an operator logs (info), and nothing in the
# module's own lines at debug; nginx's own debug lines print the request
# headers, X-Twilio-Signature included, and nothing else of these

my $info = $t->read_file('info.log');
my @secrets = ($TOKEN, $TOKEN2, $TOKEN3, $FILE_TOKEN, $VAR_TOKEN);

ok(scalar(grep { /twanon: invalid signature/ } split /\n/, $info),
	'info log written');
is(join("\n", grep { index($info, $_) >= 0 } @sent), '',
	'no signature in info log');
is(join("\n", grep { index($info, $_) >= 0 } @secrets), '',
	'no auth token in info log');

my @module = grep { /twanon/ } @lines;

is(join("\n", grep { my $l = $_; grep { index($l, $_) >= 0 } @sent, @secrets }
	@module), '', 'no signature or token in module lines');

my @other = grep { my $l = $_; grep { index($l, $_) >= 0 } @sent }
	grep { !/\[debug\] .* http header: "X-Twilio-Signature: / } @lines;

is(join("\n", @other), '', 'signature only in nginx header lines');

my $log = $t->read_file('error.log');

is(join("\n", grep { index($log, $_) >= 0 }
	$TOKEN, $TOKEN2, $TOKEN3, $FILE_TOKEN), '',
	'no literal auth token in debug log');

my @var = grep { index($_, $VAR_TOKEN) >= 0 } @lines;

is(join("\n", grep { !/\[debug\] .* http (map|script var): / } @var), '',
	'variable token only in nginx variable lines');

ok(@sent >= @cases - 5, 'signatures collected');

###############################################################################
