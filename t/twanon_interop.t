#!/usr/bin/perl

# Copyright (C) twanon authors

# Interoperability of twanon_token with Twilio's own helper library: each
# token the module issues is handed to interop/token.js, which builds the
# token twilio.jwt.AccessToken and VoiceGrant make for the same inputs and
# compares the two (header, claims, signature), the outgoing grant's
# params included.  Needs node and interop/node_modules ("npm ci" in
# t/interop; "make test" runs it).

###############################################################################

use warnings;
use strict;

use Test::More;


BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT node_path node parse_response /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

eval { require JSON::PP; };
skip_file('no JSON::PP (make test installs perl)') if $@;

skip_file('no node (make test installs it)') unless defined node_path();

skip_file('no interop/node_modules (make npm-deps)')
	unless -d 'interop/node_modules/twilio'
		&& -d 'interop/node_modules/jsonwebtoken';

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789ABCDEF';
my $KEY = 'SK' . 'fedcba9876543210fedcba9876543210';
my $SECRET = 'interop-secret-9d41c7';
my $APP = 'AP' . 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
my $PUSH = 'CR' . '0f1e2d3c4b5a69788796a5b4c3d2e1f0';

# UTF-8 in a param: u with diaeresis, a telephone sign, and a character
# outside the BMP

my $UTF8 = "Z\xc3\xbcrich \xe2\x98\x8e \xf0\x9f\x93\x9e";

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

        location = /token_full {
            twanon_token;
            twanon_token_region                    ie1;
            twanon_token_outgoing_application_sid  $APP;
            twanon_token_push_credential_sid       $PUSH;
            twanon_token_ttl                       600;
        }

        location = /token_params {
            twanon_token;
            twanon_token_incoming                  off;
            twanon_token_outgoing_application_sid  $APP;
            twanon_token_outgoing_param  team      \$http_x_team;
            twanon_token_outgoing_param  site.id   hq-1;
            twanon_token_outgoing_param  quote     "say \\"hi\\" \\\\ \\t";
            twanon_token_outgoing_param  utf8      "$UTF8";
            twanon_token_outgoing_param  none      \$http_x_none;
        }

        location = /token_outgoing {
            twanon_token;
            twanon_token_incoming                  off;
            twanon_token_outgoing_application_sid  $APP;
            twanon_token_ttl                       24h;
        }
    }
}

EOF

# an identity of 121 characters

my $LONG = 'L' . ('0123456789_abcdefghi' x 6);

my %plain = (ttl => 3600, incoming => JSON::PP::true());

my %full = (ttl => 600, incoming => JSON::PP::true(), region => 'ie1',
	outgoingApplicationSid => $APP, pushCredentialSid => $PUSH);

my %outgoing = (ttl => 86400, incoming => JSON::PP::false(),
	outgoingApplicationSid => $APP);

# the params of /token_params for a value of X-Team, as characters: the
# input of token.js is encoded as UTF-8

sub params {
	my ($team) = @_;

	my %p = (team => $team, 'site.id' => 'hq-1', quote => "say \"hi\" \\ \t",
		utf8 => $UTF8, none => '');

	utf8::decode($_) for values %p;

	return { ttl => 3600, incoming => JSON::PP::false(),
		outgoingApplicationSid => $APP, outgoingApplicationParams => \%p };
}

my @cases = (
	[ 'plain alice', 'GET', '/token', 'alice', \%plain ],
	[ 'plain user_001', 'GET', '/token', 'user_001', \%plain ],
	[ 'plain 121 chars', 'GET', '/token', $LONG, \%plain ],
	[ 'plain post', 'POST', '/token', 'Op_42', \%plain ],
	[ 'full alice', 'GET', '/token_full', 'alice', \%full ],
	[ 'full user_001', 'GET', '/token_full', 'user_001', \%full ],
	[ 'full 121 chars', 'GET', '/token_full', $LONG, \%full ],
	[ 'outgoing only', 'GET', '/token_outgoing', 'user_001', \%outgoing ],
	[ 'params', 'GET', '/token_params', 'alice', params('sales'),
		[ 'X-Team', 'sales' ] ],
	[ 'params escaped', 'GET', '/token_params', 'alice',
		params("a\x01\"b\\c\x1f $UTF8"),
		[ 'X-Team', "a\x01\"b\\c\x1f $UTF8" ] ],
	[ 'params empty', 'GET', '/token_params', 'alice', params('') ],
);

$t->run()->plan(scalar @cases + 3);

###############################################################################

my @tokens;

for my $case (@cases) {
	my ($name, $method, $uri, $identity, $settings, $headers) = @$case;

	my $r = $method eq 'GET'
		? http_request('GET', "$uri?identity=$identity",
			headers => $headers || [])
		: http_request('POST', $uri, body => "identity=$identity",
			headers => [ 'Content-Type',
				'application/x-www-form-urlencoded' ]);

	my $json = eval { JSON::PP->new->decode($r->{body}) }
		if defined $r->{status} && $r->{status} == 200;

	if (!defined $json || !defined $json->{token}
		|| !defined $json->{identity} || $json->{identity} ne $identity)
	{
		fail("interop $name");
		diag("no token: " . (defined $r->{raw} ? $r->{raw} : 'no reply'));
		next;
	}

	push @tokens, $json->{token};

	my $input = JSON::PP->new->utf8->canonical->encode({
		%$settings,
		token => $json->{token},
		identity => $identity,
		accountSid => $ACCOUNT,
		apiKey => $KEY,
		apiSecret => $SECRET,
	});

	my ($rc, $out) = node('interop/token.js', $input);

	my @lines = split /\n/, $out;
	my @bad = grep { !/^ok - / } @lines;

	ok($rc == 0 && @lines >= 10 && !@bad, "interop $name")
		or diag("node exited with $rc:\n$out");
}

is(scalar @tokens, scalar @cases, 'every case got a token');

$t->stop();

my $log = $t->read_file('error.log');

unlike($log, qr/\Q$SECRET\E/, 'no secret in error log');
is((grep { index($log, (split /\./, $_)[2]) >= 0 } @tokens), 0,
	'no token signature in error log');

###############################################################################
