#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for docs/examples/twanon.conf: the configuration the docs hand to
# operators passes "nginx -t" without a single warning.  Only what ties it
# to one machine is replaced: the module and the logs come from the test
# globals, the secrets are files of the test, and the TLS listener is a
# plain loopback one (the module's checks do not depend on TLS).

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Twanon->new()->has(qw/http proxy/);

$t->check_module()->plan(6);

###############################################################################

my $dir = $t->testdir();

$t->write_file('api_secret', "api-secret-for-example-tests-5e2a\n");
$t->write_file('auth_token', "auth-token-for-example-tests-91c0\n");
$t->write_file('voicemail.xml', qq{<?xml version="1.0" encoding="UTF-8"?>\n}
	. '<Response><Say>Please leave a message.</Say>'
	. qq{<Record maxLength="120"/></Response>\n});
chmod 0600, "$dir/api_secret", "$dir/auth_token";

open my $fh, '<', '../docs/examples/twanon.conf'
	or die "Can't open docs/examples/twanon.conf: $!\n";
my $example = do { local $/; <$fh> };
close $fh;

my $conf = $example;

$conf =~ s{^load_module modules/ngx_http_twanon_module\.so;}
	{%%TEST_GLOBALS%%}m;
$conf =~ s{^(?:user|error_log|pid) .*\n}{}mg;
$conf =~ s#^http \{\n#http {\n    %%TEST_GLOBALS_HTTP%%\n#m;
$conf =~ s{/var/log/nginx/access\.log}{%%CONFDIR%%/example-access.log}g;
$conf =~ s{/etc/nginx/twilio/}{$dir/}g;
$conf =~ s{listen +443 ssl;}{listen       127.0.0.1:8080;};
$conf =~ s{^ *ssl_certificate(?:_key)? .*\n}{}mg;
$conf =~ s#include +/etc/nginx/mime\.types;#types {}#
	unless -f '/etc/nginx/mime.types';

my ($rc, $out) = $t->nginx_t($conf);

is($rc, 0, 'example passes') or diag($out);
like($out, qr/test is successful/, 'example successful');
unlike($out, qr/\[(?:warn|emerg|alert|crit)\]/, 'example without warnings')
	or diag($out);
like($example, qr/^ *twanon_webhook_url +https:\/\/[^\$\s]+;$/m,
	'example sets a literal webhook url');

# the check is live: without its twanon_webhook_url, the example warns

$conf =~ s{^ *twanon_webhook_url .*\n}{}m;

($rc, $out) = $t->nginx_t($conf);

is($rc, 0, 'example without webhook url passes') or diag($out);
my $warn = quotemeta('has no literal "twanon_webhook_url"');

like($out, qr/\[warn\] .*"twanon_incoming" in \S+ $warn/,
	'example without webhook url warns');

###############################################################################
