#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for docs/examples/twanon-call.pl, the script behind "make call":
# --help lists every option of its Getopt spec, a webhook it signs gets
# the routed TwiML from a real nginx with twanon_account_sid set (with
# --account, or with --config reading it from nginx.conf), a wrong token
# or account gets 403, a missing or malformed --account is refused before
# anything is sent, and an https server with a self-signed certificate
# (made here with openssl) is refused with a clear message unless
# --insecure is given.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT run_command /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $SCRIPT = '../docs/examples/twanon-call.pl';

my $OPENSSL = (grep { -x "$_/openssl" } split(/:/, $ENV{PATH} || ''))[0];
skip_file('no openssl command (Debian package openssl)')
	unless defined $OPENSSL;
$OPENSSL .= '/openssl';

eval { require IO::Socket::SSL; require Net::SSLeay; 1 }
	or skip_file('no IO::Socket::SSL (Debian libio-socket-ssl-perl)');

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $OTHER = 'AC' . '0' x 32;
my $TOKEN = 'call-tool-auth-token-4f1e';
my $SIGNED = 'https://voice.example.com/incoming';

my $FROM = '+15550104321';

my $t = Test::Twanon->new()->has(qw/http http_ssl proxy/);

my $dir = $t->testdir();

system($OPENSSL, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
	'-keyout', "$dir/key.pem", '-out', "$dir/cert.pem", '-days', '2',
	'-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1',
	'-loglevel', 'error') == 0
	or system($OPENSSL, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
		'-keyout', "$dir/key.pem", '-out', "$dir/cert.pem",
		'-days', '2', '-subj', '/CN=localhost') == 0
	or die "openssl req failed\n";

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    twanon_account_sid  $ACCOUNT;

    server {
        listen       127.0.0.1:8080;
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        ssl_certificate      cert.pem;
        ssl_certificate_key  key.pem;

        location = /incoming {
            twanon_incoming;
            twanon_auth_token   $TOKEN;
            twanon_webhook_url  $SIGNED;
            twanon_resolver     /resolver;
        }

        location = /resolver {
            internal;
            proxy_pass  http://127.0.0.1:8081/route;
        }
    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        location = /route {
            return 200 '{"appId":"operator1","customerName":"Call Tool"}';
        }
    }
}

EOF

$t->run()->plan(23);

my $HTTP = 'http://127.0.0.1:' . port(8080) . '/incoming';
my $HTTPS = 'https://127.0.0.1:' . port(8443) . '/incoming';

my @SIGN = ('--signed-url', $SIGNED, '--token', $TOKEN, '--from', $FROM);

###############################################################################

# --help: one line for each option of the Getopt spec, and no other

my ($rc, $out) = tool('--help');

is($rc, 0, 'help exit status');

my @spec = spec_options();
my @help = $out =~ /^\s+--([\w-]+)/mg;

ok(@spec >= 9, 'spec parsed') or diag("spec: @spec");
is(join(' ', sort @help), join(' ', sort @spec), 'help lists every option');
like($out, qr/^usage: .*--signed-url URL.*--account SID.*--to NUMBER/s,
	'usage names signed-url, account, to');
unlike($out, qr/^.{81}/m, 'help fits 80 columns');

# a signed call with the right account and token: the routed TwiML

($rc, $out) = tool('--url', $HTTP, '--account', $ACCOUNT, @SIGN);

is($rc, 0, 'call exit status');
like($out, qr/^HTTP 200 OK\n/, 'call answered 200');
like($out, qr{<Client><Identity>operator1</Identity>}, 'call routed');
unlike($out, qr/0104321/, 'no caller number in twiml');

# the account read from nginx.conf

($rc, $out) = tool('--url', $HTTP, '--config', "$dir/nginx.conf", @SIGN);

like($out, qr/^HTTP 200 OK\n.*<Client>/s, 'account from config');

$t->write_file('two.conf', "twanon_account_sid $ACCOUNT;\n"
	. "server { twanon_account_sid  $OTHER; }\n");

($rc, $out) = tool('--url', $HTTP, '--config', "$dir/two.conf", @SIGN);

like($out, qr/several twanon_account_sid values.*--account/,
	'config with two accounts refused');

# refused by nginx: another account, another token

($rc, $out) = tool('--url', $HTTP, '--account', $OTHER, @SIGN);

like($out, qr/^HTTP 403 /m, 'other account 403');
is($rc, 1, 'other account exit status');

($rc, $out) = tool('--url', $HTTP, '--account', $ACCOUNT,
	'--signed-url', $SIGNED, '--token', 'wrong-token', '--from', $FROM);

like($out, qr/^HTTP 403 .*check --token/ms, 'wrong token 403 with a hint');

# refused by the script, before anything is sent

($rc, $out) = tool('--url', $HTTP, @SIGN);

like($out, qr/^\S+: --account is required/, 'missing account');
isnt($rc, 0, 'missing account exit status');
unlike($out, qr/^HTTP /m, 'missing account sends nothing');

($rc, $out) = tool('--url', $HTTP, '--account', 'AC123', @SIGN);

like($out, qr/--account "AC123" is not an Account SID/, 'bad account');

# https with a self-signed certificate: refused, unless --insecure

($rc, $out) = tool('--url', $HTTPS, '--account', $ACCOUNT, @SIGN);

like($out, qr/TLS certificate is not trusted.*add --insecure/s,
	'self-signed refused with a hint');
isnt($rc, 0, 'self-signed exit status');

($rc, $out) = tool('--url', $HTTPS, '--account', $ACCOUNT, '--insecure',
	@SIGN);

like($out, qr/^HTTP 200 OK\n.*<Client>/s, 'insecure https call');

$t->stop();

my $log = $t->read_file('error.log') . $t->read_file('access.log');

unlike($log, qr/\Q$TOKEN\E/, 'no token in logs');
unlike($log, qr/0104321/, 'no caller number in logs');

###############################################################################

# the long option names of the script's @OPTIONS table, from its source

sub spec_options {
	open my $fh, '<', $SCRIPT or die "Can't open $SCRIPT: $!\n";
	local $/;
	my $src = <$fh>;
	close $fh;

	my ($table) = $src =~ /^my \@OPTIONS = \((.*?)^\);/ms
		or return ();

	return $table =~ /^\s*\[\s*'([\w-]+)/mg;
}

# runs the script with these arguments, stdout and stderr together, at
# most 30 s; returns (exit code, output)

sub tool {
	my (@args) = @_;

	return run_command({ timeout => 30 }, $^X, $SCRIPT, '--timeout', 10,
		@args);
}

###############################################################################
