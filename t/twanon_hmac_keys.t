#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the keyed HMAC contexts of ngx_http_twanon_module. Each
# location keeps one OpenSSL context per key slot (the API secret that
# signs tokens, each of the two auth tokens that check webhook
# signatures, the hash key of $twanon_caller_hash), made on first use and
# then only reset while the key stays the same, or rekeyed when a key
# given through a variable changes. One nginx worker serves every request
# here, so the contexts live from one request to the next, and the keys
# change from request to request, back and forth and repeated: each token
# must be signed, each webhook checked and each caller hashed under the
# key of its own request, never under the one of the request before, nor
# with the context of another slot or another location.

###############################################################################

use warnings;
use strict;

use Test::More;

use Digest::SHA qw/ hmac_sha256 hmac_sha256_hex /;
use MIME::Base64 qw/ encode_base64url decode_base64url /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT webhook_request /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

eval { require JSON::PP; };
skip_file('no JSON::PP (make test installs perl)') if $@;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $KEY = 'SK' . 'fedcba9876543210fedcba9876543210';

# each set of keys has a key "a", a key "b" of the same length that
# differs from "a" in its last byte only, and a key "c" that starts with
# "a" and is longer than the 64-byte block of SHA-1 and SHA-256 (so that
# HMAC hashes it first): a key compared by length, or by a prefix, or a
# context not rekeyed, signs with the wrong one

my %SECRET = (
	a => 'api-secret-hmac-keys-a1',
	b => 'api-secret-hmac-keys-a2',
);
$SECRET{c} = $SECRET{a} . '-' . 'c' x (99 - length($SECRET{a}));

# the literal secret of a second token location, served in between

my $LIT_SECRET = 'api-secret-hmac-keys-literal';

my %TOKEN = (
	a => 'auth-token-hmac-keys-a1',
	b => 'auth-token-hmac-keys-a2',
);
$TOKEN{c} = $TOKEN{a} . '-' . 'c' x (99 - length($TOKEN{a}));

# signs webhooks that no location accepts

my $OTHER_TOKEN = 'auth-token-hmac-keys-other';

my %HASH_KEY = (
	a => 'hash-key-hmac-keys-a1',
	b => 'hash-key-hmac-keys-a2',
);
$HASH_KEY{c} = $HASH_KEY{a} . '-' . 'c' x (99 - length($HASH_KEY{a}));

my $CALLED = '+15557654321';

my $DECL = qq{<?xml version="1.0" encoding="UTF-8"?>\n};
my $FALLBACK = $DECL . '<Response><Say>We are sorry, no one is available'
	. ' to take your call right now. Please try again later.</Say>'
	. "</Response>\n";

my $t = Test::Twanon->new()->has(qw/http map/);

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    log_format  hmac  '\$twanon_call_sid \$twanon_caller_hash';

    # the API secret from the query string, the auth tokens and the hash
    # key from request headers (the query string is part of the signed
    # URL of a webhook); anything else maps to an empty key

    map \$arg_k \$secret {
        default  "";
        a        $SECRET{a};
        b        $SECRET{b};
        c        $SECRET{c};
    }

    map \$http_x_k \$auth {
        default  "";
        a        $TOKEN{a};
        b        $TOKEN{b};
        c        $TOKEN{c};
    }

    map \$http_x_k2 \$auth2 {
        default  "";
        a        $TOKEN{a};
        b        $TOKEN{b};
        c        $TOKEN{c};
    }

    map \$http_x_h \$hk {
        default  "";
        a        $HASH_KEY{a};
        b        $HASH_KEY{b};
        c        $HASH_KEY{c};
    }

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        twanon_account_sid  $ACCOUNT;
        twanon_api_key      $KEY;

        twanon_resolver  /resolver;

        location = /token {
            twanon_token;
            twanon_api_secret  \$secret;
        }

        location = /token_lit {
            twanon_token;
            twanon_api_secret  $LIT_SECRET;
        }

        # one auth token and the hash key, both from variables: two
        # slots of one location, rekeyed independently

        location = /incoming {
            twanon_incoming;
            twanon_auth_token     \$auth;
            twanon_hash_key       \$hk;
            twanon_resolver_send  hash;
            twanon_resolver       /resolver_hash;
            twanon_webhook_url    https://voice.example.com/incoming;

            access_log  %%TESTDIR%%/hmac.log  hmac;
        }

        # the current and the next token, both literal

        location = /rotate {
            twanon_incoming;
            twanon_auth_token   $TOKEN{a};
            twanon_auth_token   $TOKEN{b};
            twanon_webhook_url  https://voice.example.com/rotate;
        }

        # two tokens from variables: each slot rekeyed on its own

        location = /rotate_var {
            twanon_incoming;
            twanon_auth_token   \$auth;
            twanon_auth_token   \$auth2;
            twanon_webhook_url  https://voice.example.com/rotate_var;
        }

        location = /resolver {
            internal;
            return 200 '{"appId":"operator1","customerName":"A","customerId":"1"}';
        }

        # the hash the module computed, handed back as customerId

        location = /resolver_hash {
            internal;
            return 200 '{"appId":"operator1","customerName":"A","customerId":"\$twanon_caller_hash"}';
        }
    }
}

EOF

$t->run()->plan(77);

###############################################################################

my $json = JSON::PP->new->utf8->canonical;

# the JWT of a /token response: ( header b64, payload b64, signature b64,
# payload )

sub jwt {
	my ($r) = @_;

	my $body = eval { $json->decode($r->{body}) };
	my $token = ref $body eq 'HASH' ? $body->{token} : undef;
	return () unless defined $token;

	my ($h, $p, $s) = split /\./, $token, -1;
	return () unless defined $s;

	return ($h, $p, $s, eval { $json->decode(decode_base64url($p)) });
}

# "identity key..." for a token: the identity it was issued for, and the
# names of all the secrets its signature is valid under (exactly one, if
# the module signed it right); or the status of a failed request

sub token_of {
	my ($uri) = @_;

	my $r = http_request('GET', $uri);

	return 'status ' . (defined $r->{status} ? $r->{status} : 'none')
		unless defined $r->{status} && $r->{status} == 200;

	my ($h, $p, $s, $payload) = jwt($r);
	return 'no token' unless defined $s;

	my %secrets = (%SECRET, lit => $LIT_SECRET);

	my @valid = grep {
		$s eq encode_base64url(hmac_sha256("$h.$p", $secrets{$_}))
	} sort keys %secrets;

	my $identity = ref $payload eq 'HASH' ? $payload->{grants}{identity}
		: undef;

	return join ' ', (defined $identity ? $identity : 'no identity'),
		(@valid ? @valid : 'none');
}

# X-Twilio-Signature: base64(HMAC-SHA1(token, url + sorted name.value))

# a webhook POST to a location, signed with a token for its configured
# twanon_webhook_url, from a caller, with more request headers

my $calls = 0;

sub call {
	my ($location, $token, $caller, %headers) = @_;

	my $sid = sprintf('CA%032d', ++$calls);

	my $r = webhook_request($location, token => $token,
		url => "https://voice.example.com$location", pairs => [
			AccountSid => $ACCOUNT,
			ApiVersion => '2010-04-01',
			CallSid => $sid,
			CallStatus => 'ringing',
			Called => $CALLED,
			Caller => $caller,
			Direction => 'inbound',
			From => $caller,
			To => $CALLED,
		], headers => \%headers);

	$r->{sid} = $sid;

	return $r;
}

# "routed <customerId>" for TwiML that dials operator1, or the status
# and body of anything else

sub routed {
	my ($r) = @_;

	my $body = defined $r->{body} ? $r->{body} : '';

	return "routed $1" if defined $r->{status} && $r->{status} == 200
		&& $body =~ m!^\Q$DECL\E<Response><Dial [^>]*><Client>
			<Identity>operator1</Identity>
			<Parameter\ name="twanonRinging"\ value="1"/>
			<Parameter\ name="customerName"\ value="A"/>
			<Parameter\ name="customerId"\ value="([^"]*)"/>
			</Client></Dial></Response>\n\z!x;

	return (defined $r->{status} ? $r->{status} : 'none') . " $body";
}

###############################################################################

# tokens: the secret changes, stays, and changes back, on one location;
# an empty secret in between fails without touching the context, and a
# location with a literal secret is served in between

my $n = 0;

for my $k (qw/ a b a a b b c a c c lit b x a lit c b a /) {
	$n++;

	if ($k eq 'lit') {
		is(token_of("/token_lit?identity=user$n"), "user$n lit",
			"token $n literal secret");
		next;
	}

	if ($k eq 'x') {
		is(token_of("/token?k=x&identity=user$n"), 'status 500',
			"token $n empty secret");
		next;
	}

	is(token_of("/token?k=$k&identity=user$n"), "user$n $k",
		"token $n secret $k");
}

###############################################################################

# webhooks on /incoming: the auth token (HMAC-SHA1) from X-K and the hash
# key (HMAC-SHA256) from X-H change independently; each step is
# [ X-K, signed with, X-H, caller ], where "x" maps to an empty key; the
# TwiML carries the caller's hash that the resolver got, which must be
# the one under X-H's key

my @CALLERS = ('+15551230001', '+15551230002');

my @steps = (
	[ 'a', 'a', 'a', 0 ],
	[ 'b', 'b', 'a', 0 ],
	[ 'a', 'a', 'b', 0 ],
	[ 'a', 'a', 'b', 1 ],
	[ 'b', 'a', 'a', 0 ],
	[ 'b', 'b', 'b', 0 ],
	[ 'c', 'c', 'c', 1 ],
	[ 'a', 'c', 'c', 0 ],
	[ 'a', 'a', 'a', 1 ],
	[ 'c', 'a', 'b', 1 ],
	[ 'c', 'c', 'a', 0 ],
	[ 'c', 'c', 'c', 0 ],
	[ 'x', 'a', 'a', 0 ],
	[ 'b', 'b', 'x', 1 ],
	[ 'b', 'b', 'b', 1 ],
	[ 'a', 'b', 'a', 1 ],
	[ 'a', 'a', 'c', 0 ],
);

my (%logged, $nohash);

for my $i (1 .. @steps) {
	my ($k, $signed, $h, $c) = @{$steps[$i - 1]};
	my $caller = $CALLERS[$c];

	my $r = call('/incoming', $TOKEN{$signed}, $caller,
		'X-K' => $k, 'X-H' => $h);

	my $hash = defined $HASH_KEY{$h}
		? hmac_sha256_hex($caller, $HASH_KEY{$h}) : '-';

	# the hash logged, for every call, even one refused

	$logged{$r->{sid}} = [ $hash, "incoming $i hash $h logged" ];
	$nohash = $r->{sid} if $hash eq '-' && $k eq $signed;

	# a call without a hash key cannot be looked up: the fallback

	my $want = $k ne $signed ? "403 forbidden\n"
		: $hash eq '-' ? "200 $FALLBACK" : "routed $hash";

	is(routed($r), $want, "incoming $i token $k signed $signed hash $h");
}

###############################################################################

# two literal tokens: either is accepted, whichever was used last, and
# a third one is not

my @rotate = qw/ a b b a a other b a other a b /;

for my $i (1 .. @rotate) {
	my $k = $rotate[$i - 1];
	my $r = call('/rotate', $TOKEN{$k} || $OTHER_TOKEN, $CALLERS[0]);

	is(routed($r), $k eq 'other' ? "403 forbidden\n" : 'routed 1',
		"rotate $i signed $k");
}

# two tokens from variables: [ X-K, X-K2, signed with ]; a signature is
# valid under either slot, and each slot has the key of its own header

my @rotate_var = (
	[ 'a', 'b', 'a' ],
	[ 'a', 'b', 'b' ],
	[ 'b', 'a', 'a' ],
	[ 'b', 'a', 'b' ],
	[ 'b', 'a', 'b' ],
	[ 'a', 'c', 'c' ],
	[ 'a', 'c', 'b' ],
	[ 'c', 'a', 'c' ],
	[ 'c', 'a', 'a' ],
	[ 'b', 'b', 'a' ],
	[ 'b', 'b', 'b' ],
	[ 'a', 'b', 'c' ],
	[ 'c', 'c', 'c' ],
);

for my $i (1 .. @rotate_var) {
	my ($k, $k2, $signed) = @{$rotate_var[$i - 1]};

	my $r = call('/rotate_var', $TOKEN{$signed}, $CALLERS[1],
		'X-K' => $k, 'X-K2' => $k2);

	my $ok = $signed eq $k || $signed eq $k2;

	is(routed($r), $ok ? 'routed 1' : "403 forbidden\n",
		"rotate var $i tokens $k $k2 signed $signed");
}

###############################################################################

$t->stop();

# $twanon_caller_hash in the access log: the key of each call's own X-H

my %lines = map { (split / /, $_, 2) }
	split /\n/, (eval { $t->read_file('hmac.log') } || '');

for my $sid (sort keys %logged) {
	my ($hash, $name) = @{$logged{$sid}};
	is($lines{$sid}, $hash, $name);
}

# nothing failed on the way: the only errors logged are those of the
# empty keys, and the failed lookup of the call without a hash key

my $empty = qr/twanon:\ "twanon_(?:api_secret|auth_token|hash_key)"
	\ evaluated\ to\ an\ empty\ value/x;

my @errors = grep { /\[(?:error|crit|alert|emerg)\]/ && !/$empty/
	&& !/twanon: resolver "\/resolver_hash" failed .* call "$nohash"/ }
	split /\n/, $t->read_file('error.log');

is(join("\n", @errors), '', 'no errors');

###############################################################################
