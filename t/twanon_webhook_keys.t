#!/usr/bin/perl

# Copyright (C) twanon authors

# Webhooks signed with a shared key (twanon_webhook_key,
# twanon_webhook_key_file) instead of the Auth Token: signatures made by
# Twilio's own helper library, twilio-node 6.3.1 (interop/sharedkey.js),
# under the key and algorithm that X-Twilio-Webhooks-Signature-Settings
# names, are accepted; a wrong key id, an unknown one, an unsupported
# algorithm, a SHA-1 signature under a SHA-256 header, a header where no
# key is configured, and a repeated header are refused with 403 and one
# "warn" line; two keys rotate; five keys on one level each verify; a
# key file's "$" is part of the secret; "nginx -t" checks the directives
# and refuses a "$" in twanon_webhook_key.

###############################################################################

use warnings;
use strict;

use Test::More;


BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT node_path node webhook_raw reply
	parse_response conf_passes conf_fails conf_warns /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

eval { require JSON::PP; };
skip_file('no JSON::PP (make test installs perl)') if $@;

skip_file('no node (make test installs it)') unless defined node_path();

skip_file('no interop/node_modules (make npm-deps)')
	unless -d 'interop/node_modules/twilio';

my $TOKEN = 'keys-auth-token-5d21';
my $K1 = 'shared-key-secret-one-8f3a';
my $K2 = 'shared-key-secret-two-c07e';
my $K3 = 'shared-key-secret-three-19b4';
my $K4 = 'shared$key-secret-four-6e02';
my @KF = map { "shared-key-five-$_-0a5c" } 1 .. 5;

my $FROM = '+15552229876';
my $TO = '+15557654321';
my $DIGITS = qr/5552229876/;

my $t = Test::Twanon->new()->has(qw/http proxy/);

$t->write_file('k2.secret', $K2);
chmod 0600, $t->testdir() . '/k2.secret';
$t->write_file('k4.secret', $K4);
chmod 0600, $t->testdir() . '/k4.secret';

my $five = join('', map { "            twanon_webhook_key  f$_ $KF[$_ - 1];\n" }
	1 .. 5);

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

        twanon_resolver          /resolver;
        twanon_webhook_key       k1 $K1;
        twanon_webhook_key_file  k2 %%TESTDIR%%/k2.secret;

        location = /resolver {
            internal;
            proxy_pass  http://127.0.0.1:8081/route;
        }

        location = /both {
            twanon_incoming;
            twanon_auth_token  $TOKEN;
        }

        location = /keys {
            twanon_incoming;
            twanon_webhook_key  k3 $K3;
        }

        location = /dollar {
            twanon_incoming;
            twanon_webhook_key_file  k4 %%TESTDIR%%/k4.secret;
        }

        location = /five {
            twanon_incoming;
$five        }
    }

    server {
        listen       127.0.0.1:8082;
        server_name  localhost;

        twanon_resolver  /resolver;

        location = /resolver {
            internal;
            proxy_pass  http://127.0.0.1:8081/route;
        }

        location = /token {
            twanon_incoming;
            twanon_auth_token  $TOKEN;
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

###############################################################################

# name => [ port, uri, secret and settings it is signed under (undef: the
#   Auth Token, no header), the settings headers sent, status, log ]
# where log is the reason of the line it must leave, or undef for none

my $RT = 'X-Twilio-Webhooks-Signature-Settings refused';
my $SHA256 = 'algorithm=HMAC_SHA256';

my @cases = (
	[ 'sha256', 8080, '/both', $K1, "key=k1,$SHA256",
		[ "key=k1,$SHA256" ], 200 ],
	[ 'second key', 8080, '/both', $K2, "key=k2,$SHA256",
		[ "key=k2,$SHA256" ], 200 ],
	[ 'sha1 under a key', 8080, '/both', $K1, 'key=k1,algorithm=HMAC_SHA1',
		[ 'key=k1,algorithm=HMAC_SHA1' ], 200 ],
	[ 'no algorithm is sha1', 8080, '/both', $K1, 'key=k1',
		[ 'key=k1' ], 200 ],
	[ 'spaces and case', 8080, '/both', $K1,
		' key = k1 , algorithm = hmac_sha256 ',
		[ ' key = k1 , algorithm = hmac_sha256 ' ], 200 ],
	[ 'unknown part', 8080, '/both', $K1, "v=2,key=k1,$SHA256",
		[ "v=2,key=k1,$SHA256" ], 200 ],
	[ 'auth token, no header', 8080, '/both', undef, undef, [], 200 ],
	[ 'empty header', 8080, '/both', undef, undef, [ '' ], 200 ],
	[ 'key of the location', 8080, '/keys', $K3, "key=k3,$SHA256",
		[ "key=k3,$SHA256" ], 200 ],
	[ 'dollar in a key file', 8080, '/dollar', $K4, "key=k4,$SHA256",
		[ "key=k4,$SHA256" ], 200 ],
	(map { [ "key $_ of five", 8080, '/five', $KF[$_ - 1],
		"key=f$_,$SHA256", [ "key=f$_,$SHA256" ], 200 ] } 1 .. 5),
	(map { [ "key $_ of five, sha1", 8080, '/five', $KF[$_ - 1],
		"key=f$_,algorithm=HMAC_SHA1",
		[ "key=f$_,algorithm=HMAC_SHA1" ], 200 ] } 1, 3, 5),

	[ 'wrong key id', 8080, '/both', $K1, "key=k1,$SHA256",
		[ "key=k2,$SHA256" ], 403,
		'invalid signature for "http://localhost/both" under shared '
		. 'key "k2" (HMAC-SHA256)' ],
	[ 'unknown key id', 8080, '/both', $K1, "key=k1,$SHA256",
		[ "key=k9,$SHA256" ], 403, "$RT (unknown key id)" ],
	[ 'wrong algorithm', 8080, '/both', $K1, "key=k1,$SHA256",
		[ 'key=k1,algorithm=HMAC_SHA512' ], 403,
		"$RT (unsupported algorithm)" ],
	[ 'sha1 under a sha256 header', 8080, '/both', $K1,
		'key=k1,algorithm=HMAC_SHA1', [ "key=k1,$SHA256" ], 403,
		'invalid signature for "http://localhost/both" under shared '
		. 'key "k1" (HMAC-SHA256)' ],
	[ 'auth token under a header', 8080, '/both', undef, undef,
		[ 'key=k1,algorithm=HMAC_SHA1' ], 403,
		'invalid signature for "http://localhost/both" under shared '
		. 'key "k1" (HMAC-SHA1)' ],
	[ 'key signature, no header', 8080, '/both', $K1,
		'key=k1,algorithm=HMAC_SHA1', [], 403,
		'invalid signature for "http://localhost/both" under the Auth '
		. 'Token (HMAC-SHA1)' ],
	[ 'no key id', 8080, '/both', $K1, "key=k1,$SHA256", [ $SHA256 ], 403,
		"$RT (no key id, or a part given twice)" ],
	[ 'key given twice', 8080, '/both', $K1, "key=k1,$SHA256",
		[ "key=k1,key=k1,$SHA256" ], 403,
		"$RT (no key id, or a part given twice)" ],
	[ 'repeated header', 8080, '/both', $K1, "key=k1,$SHA256",
		[ "key=k1,$SHA256", "key=k1,$SHA256" ], 403,
		'repeated X-Twilio-Webhooks-Signature-Settings header' ],
	[ 'inherited key replaced', 8080, '/keys', $K1, "key=k1,$SHA256",
		[ "key=k1,$SHA256" ], 403, "$RT (unknown key id)" ],
	[ 'no auth token here', 8080, '/keys', undef, undef, [], 403,
		'no X-Twilio-Webhooks-Signature-Settings header, and no '
		. '"twanon_auth_token" to check the signature with' ],
	[ 'no key here', 8082, '/token', $K1, "key=k1,$SHA256",
		[ "key=k1,$SHA256" ], 403,
		"$RT (no \"twanon_webhook_key\" here)" ],
);

$t->run()->plan(2 * @cases + 26);

###############################################################################

my $n = 0;

# the signatures, from twilio-node: one JSON call for every case

for my $c (@cases) {
	my ($name, $port, $uri, $secret, $settings) = @$c;

	$n++;
	$c->[8] = sprintf('CA%032x', 0x7e10000 + $n);
	$c->[9] = [
		AccountSid => 'AC' . '0' x 32,
		CallSid => $c->[8],
		CallStatus => 'ringing',
		Direction => 'inbound',
		From => $FROM,
		To => $TO,
	];
}

my $json = JSON::PP->new->canonical;

my ($rc, $out) = node('interop/sharedkey.js', $json->encode([ map { {
	id => $_->[8],
	secret => defined $_->[3] ? $_->[3] : $TOKEN,
	url => "http://localhost$_->[2]",
	params => { @{$_->[9]} },
	settings => $_->[4],
} } @cases ]));

is($rc, 0, 'twilio-node signs every case') or diag($out);

my %sig = $out =~ /^sig (\S+) \S+ (\S+)$/mg;
my %alg = $out =~ /^sig (\S+) (\S+) \S+$/mg;

is($alg{$cases[0][8]}, 'HMAC_SHA256', 'twilio-node reads HMAC_SHA256');
is($alg{$cases[2][8]}, 'HMAC_SHA1', 'twilio-node reads HMAC_SHA1');
is($alg{$cases[3][8]}, 'HMAC_SHA1', 'twilio-node: no algorithm is sha1');
is(length $sig{$cases[0][8]}, 44, 'sha-256 signature length');

###############################################################################

my $ROUTED = qr!<Dial [^>]*><Client><Identity>user001</Identity>!;

for my $c (@cases) {
	my ($name, $port, $uri, $secret, $settings, $send, $status) = @$c;

	my $r = parse_response($t->http(webhook_raw($uri,
		pairs => $c->[9],
		sigs => [ $sig{$c->[8]} ],
		headers => [ map { "X-Twilio-Webhooks-Signature-Settings: $_" }
			@$send ]), port => $port));

	is($r->{status}, $status, "$name: status $status")
		or diag(reply($r));

	if ($status == 200) {
		like($r->{body}, $ROUTED, "$name: routed");

	} else {
		is($r->{body}, "forbidden\n", "$name: forbidden");
	}
}

###############################################################################

$t->stop();

my $log = $t->read_file('error.log');
my @lines = grep { !/\[debug\]/ } split /\n/, $log;

my @wrong;

for my $c (@cases) {
	my $sid = $c->[8];
	my @got = grep { /call "$sid"/ } @lines;
	my $want = $c->[7];

	if (!defined $want) {
		push @wrong, "$c->[0]: @got" if @got;
		next;
	}

	push @wrong, "$c->[0]: " . (@got ? "@got" : 'no line')
		unless @got == 1
			&& $got[0] =~ /\[warn\] .*twanon: \Q$want\E, call "$sid"/;
}

is(join("\n", @wrong), '', 'one warn line per refusal, none otherwise');
is(join("\n", grep { index($log, $_) >= 0 } $TOKEN, $K1, $K2, $K3, $K4,
	@KF), '',
	'no secret in error log');
is(join("\n", grep { /$DIGITS/ } @lines), '', 'no caller number in log');

###############################################################################

# nginx -t: the key id, a duplicate, an empty secret, the secret file's
# rules, and the requirement of twanon_incoming

sub conf {
	my ($server, $location) = @_;

	return <<"EOF";

%%TEST_GLOBALS%%

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;
$server
        location /incoming {
            twanon_incoming;
            twanon_resolver  /resolver;
$location
        }
    }
}

EOF
}

my $dir = $t->testdir();

$t->write_file('open.secret', $K2);
chmod 0644, "$dir/open.secret";

conf_passes('keys only', conf('', "twanon_webhook_key  k1 $K1;\n"));
conf_passes('key file', conf("twanon_webhook_key_file  k2 $dir/k2.secret;\n",
	''));
conf_warns('readable key file',
	conf("twanon_webhook_key_file  k2 $dir/open.secret;\n", ''),
	undef, qq{"twanon_webhook_key_file" file "$dir/open.secret" is }
	. 'readable by other users');
conf_fails('bad key id', conf("twanon_webhook_key  k,1 $K1;\n", ''),
	'twanon_webhook_key  k,1', 'invalid key id "k,1": 1 to 128 letters, '
	. 'digits, "_", "-", "." or ":" in FILE:LINE');
conf_fails('duplicate key id', conf("twanon_webhook_key  k1 $K1;\n"
	. "twanon_webhook_key_file  k1 $dir/k2.secret;\n", ''),
	'twanon_webhook_key_file  k1', 'key id "k1" is duplicate in FILE:LINE');
conf_fails('empty secret', conf("twanon_webhook_key  k1 \"\";\n", ''),
	'twanon_webhook_key  k1', '"twanon_webhook_key" directive has an empty '
	. 'secret in FILE:LINE');
conf_fails('no key file', conf("twanon_webhook_key_file  k1 $dir/none;\n",
	''), 'twanon_webhook_key_file  k1', qq{"twanon_webhook_key_file" }
	. qq{cannot open "$dir/none" (2: No such file or directory) in FILE:LINE});
conf_fails('variable as a key', conf("twanon_webhook_key  k1 \$tenant_key;\n",
	''), 'twanon_webhook_key  k1', '"twanon_webhook_key" directive takes no '
	. 'variables: a secret with "$" belongs in "twanon_webhook_key_file" in '
	. 'FILE:LINE');
conf_fails('dollar inside a key', conf('', "twanon_webhook_key  k1 a\$b;\n"),
	'twanon_webhook_key  k1', '"twanon_webhook_key" directive takes no '
	. 'variables: a secret with "$" belongs in "twanon_webhook_key_file" in '
	. 'FILE:LINE');
conf_fails('nine keys', conf(join('', map { "twanon_webhook_key  k$_ $K1;\n" }
	1 .. 9), ''), 'twanon_webhook_key  k9',
	'too many webhook keys, at most 8 are allowed in FILE:LINE');

###############################################################################
