#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for limit_req in front of twanon_token, as docs/examples/twanon.conf
# sets it: a request over the rate gets 429 with a JSON body shaped like
# the module's own errors ({"error":"rate_limited","message":"..."}),
# application/json and Cache-Control: no-store, from the example's named
# location @token_429 taken verbatim; without the error_page, nginx's own
# HTML page.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT parse_response /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

eval { require JSON::PP; };
skip_file('no JSON::PP (make test installs perl)') if $@;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $KEY = 'SK' . 'fedcba9876543210fedcba9876543210';
my $SECRET = 's3cr3t-for-limit-tests-9d2e';

# the example's named location and the lines of its /token that refuse

open my $fh, '<', '../docs/examples/twanon.conf'
	or die "Can't open docs/examples/twanon.conf: $!\n";
my $example = do { local $/; <$fh> };
close $fh;

my ($named) = $example =~ /^( *location \@token_429 \{\n.*?^ *\}\n)/ms
	or die "docs/examples/twanon.conf has no location \@token_429\n";
my @limit = $example
	=~ /^ *((?:limit_req_status|error_page) +[^\n]*429[^\n]*)$/mg;

die "docs/examples/twanon.conf: no limit_req_status 429 and error_page 429"
	. " in /token\n" unless @limit == 2;

my $limit = join("\n", map { "            $_" } @limit);

my $t = Test::Twanon->new()->has(qw/http limit_req/);

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    # one request a minute, no burst: the second is refused at once

    limit_req_zone  \$binary_remote_addr  zone=one:1m  rate=1r/m;
    limit_req_zone  \$binary_remote_addr  zone=two:1m  rate=1r/m;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        twanon_account_sid  $ACCOUNT;
        twanon_api_key      $KEY;
        twanon_api_secret   $SECRET;

        location = /token {
            limit_req  zone=one  nodelay;
$limit

            twanon_token;
            twanon_token_identity  op_7;
        }

$named
        location = /plain {
            limit_req         zone=two  nodelay;
            limit_req_status  429;

            twanon_token;
            twanon_token_identity  op_7;
        }
    }
}

EOF

$t->run()->plan(11);

###############################################################################

my $first = parse_response(http_get('/token'));

is($first->{status}, 200, 'first token');

# the rate is one a minute: the second request, at the latest the fifth
# should the clock tick over, is refused

my $r;

for (1 .. 5) {
	$r = parse_response(http_get('/token'));
	last if defined $r->{status} && $r->{status} != 200;
}

is($r->{status}, 429, 'over the rate 429');
like($r->{headers}{'content-type'}, qr{^application/json$},
	'over the rate json type');
is($r->{headers}{'cache-control'}, 'no-store', 'over the rate no-store');

my $json = eval { JSON::PP::decode_json($r->{body}) } || {};

is($json->{error}, 'rate_limited', 'over the rate error');
like($json->{message}, qr/^[a-z][^"]+$/, 'over the rate message');
is(join(',', sort keys %$json), 'error,message', 'over the rate members');
unlike($r->{body}, qr/<html|eyJ/i, 'over the rate no html no jwt');

# without the error_page, nginx's HTML page: what the example avoids

http_get('/plain');

my $plain;

for (1 .. 5) {
	$plain = parse_response(http_get('/plain'));
	last if defined $plain->{status} && $plain->{status} != 200;
}

like(($plain->{status} || '') . ' ' . ($plain->{headers}{'content-type'}
	|| ''), qr{^429 text/html}, 'without error_page html');

$t->stop();

my $log = $t->read_file('error.log');

# the excess is 1 less what the rate has earned since the first request
# (0.999 or less on a slow machine, or under valgrind)

is(scalar(() = $log =~ /\[error\] .*limiting requests, excess: [01]\.\d{3} by zone "one"/g),
	1, 'refusal logged');
unlike($log, qr/\Q$SECRET\E/, 'no secret in log');

###############################################################################
