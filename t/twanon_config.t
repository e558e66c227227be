#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the configuration checks of ngx_http_twanon_module: "nginx -t"
# on each misconfiguration must fail with the documented message, naming
# the directive and the file and line; good configurations must pass.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT conf_passes conf_fails conf_fails_with
	conf_warns /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $KEY = 'SK' . 'fedcba9876543210fedcba9876543210';
my $SECRET = 's3cr3t-for-tests-only-7f1c';
my $APP = 'AP' . '11112222333344445555666677778888';
my $PUSH = 'CR' . 'aaaabbbbccccddddeeeeffff00001111';

my $t = Test::Twanon->new()->has(qw/http/);

$t->check_module()->plan(142);

###############################################################################

# a whole configuration around the given http, server and location text

sub conf {
	my (%c) = @_;

	my $http = $c{http} || '';
	my $server = $c{server} || '';
	my $location = defined $c{location} ? $c{location} : '';

	return <<"EOF";

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%
$http
    server {
        listen       127.0.0.1:8080;
        server_name  localhost;
$server
        location /token {
$location
        }
    }
}

EOF
}

sub creds {
	my (%skip) = map { $_ => 1 } @_;

	my $s = '';

	$s .= "            twanon_account_sid  $ACCOUNT;\n" unless $skip{sid};
	$s .= "            twanon_api_key      $KEY;\n" unless $skip{key};
	$s .= "            twanon_api_secret   $SECRET;\n" unless $skip{secret};

	return $s;
}

# the number of the line of the written config holding the text, or of
# the nth such line when given [ text, nth ]

# nginx -t must fail with "[emerg] MESSAGE", where "FILE:LINE" in the
# message stands for the config path and the line holding $at; a message
# not ending in FILE:LINE may be followed by nginx's own " in FILE:LINE"

# nginx -t must fail with an [emerg] line holding every given text and
# ending with " in FILE:LINE"

###############################################################################

# missing credentials

conf_fails('no account sid',
	conf(location => creds('sid') . "            twanon_token;\n"),
	'twanon_token;',
	'"twanon_token" in FILE:LINE requires "twanon_account_sid"');

conf_fails('no api key',
	conf(location => creds('key') . "            twanon_token;\n"),
	'twanon_token;',
	'"twanon_token" in FILE:LINE requires "twanon_api_key"');

conf_fails('no api secret',
	conf(location => creds('secret') . "            twanon_token;\n"),
	'twanon_token;',
	'"twanon_token" in FILE:LINE requires "twanon_api_secret" or '
	. '"twanon_api_secret_file"');

conf_fails('no credentials',
	conf(server => "        twanon_api_key  $KEY;\n",
		location => "            twanon_token;\n"),
	'twanon_token;',
	'"twanon_token" in FILE:LINE requires "twanon_account_sid"');

conf_fails('twanon_token in server',
	conf(server => creds() . "        twanon_token;\n"),
	'twanon_token;',
	'"twanon_token" directive is not allowed here in FILE:LINE');

# malformed SIDs

for my $case (
	[ 'twanon_account_sid', 'AC', 'ACxyz' ],
	[ 'twanon_account_sid', 'AC', 'ac' . '0123456789abcdef' x 2 ],
	[ 'twanon_account_sid', 'AC', 'AC' . '0123456789abcdef' x 2 . '0' ],
	[ 'twanon_account_sid', 'AC', 'SK' . '0123456789abcdef' x 2 ],
	[ 'twanon_api_key', 'SK', 'SK' . substr('fedcba9876543210' x 2, 1) ],
	[ 'twanon_api_key', 'SK', 'SK' . 'g' x 32 ],
	[ 'twanon_token_outgoing_application_sid', 'AP',
		'AP' . '1111222233334444' x 2 . 'f' ],
	[ 'twanon_token_push_credential_sid', 'CR', 'CR' . 'aaaabbbbccccdddg' x 2 ],
)
{
	my ($directive, $prefix, $value) = @$case;

	my %skip = (twanon_account_sid => 'sid', twanon_api_key => 'key');
	my $c = creds($skip{$directive} || ()) . "            twanon_token;\n"
		. "            $directive  $value;\n";

	conf_fails("$prefix $value", conf(location => $c), "$directive  $value",
		qq{invalid value "$value" in "$directive" directive, }
		. qq{it must be "$prefix" followed by 32 hex digits in FILE:LINE});
}

conf_fails('sid in server',
	conf(server => "        twanon_account_sid  AC1234;\n",
		location => creds('sid') . "            twanon_token;\n"),
	'twanon_account_sid  AC1234;',
	'invalid value "AC1234" in "twanon_account_sid" directive, '
	. 'it must be "AC" followed by 32 hex digits in FILE:LINE');

conf_fails('sid duplicate',
	conf(location => creds() . "            twanon_token;\n"
		. "            twanon_account_sid  $ACCOUNT;\n"),
	[ 'twanon_account_sid', 2 ],
	'"twanon_account_sid" directive is duplicate in FILE:LINE');

# ttl

for my $ttl (qw/ 0 0s 25h 86401s /) {
	my $c = creds() . "            twanon_token;\n"
		. "            twanon_token_ttl  $ttl;\n";

	conf_fails("ttl $ttl", conf(location => $c), "twanon_token_ttl  $ttl;",
		'"twanon_token_ttl" directive must be between 1s and 24h '
		. 'in FILE:LINE');
}

# identity pattern

conf_fails_with('bad regex',
	conf(location => creds() . "            twanon_token;\n"
		. "            twanon_token_identity_pattern  \"^(abc\$\";\n"),
	'twanon_token_identity_pattern', [ 'twanon_token_identity_pattern' ]);

# cors

for my $origin ('https://x.com/', 'example.com', 'ftp://example.com',
	'https://example.com/path', 'https://')
{
	my $c = creds() . "            twanon_token;\n"
		. "            twanon_cors_origin  $origin;\n";

	conf_fails("cors $origin", conf(location => $c),
		"twanon_cors_origin  $origin",
		qq{invalid value "$origin" in "twanon_cors_origin" directive, }
		. q{it must be an origin such as "https://example.com", "*" }
		. q{or "off" in FILE:LINE});
}

# region

for my $region ('IE1', 'us_1', 'a' x 33) {
	my $c = creds() . "            twanon_token;\n"
		. "            twanon_token_region  $region;\n";

	conf_fails("region $region", conf(location => $c),
		"twanon_token_region  $region",
		qq{invalid value "$region" in "twanon_token_region" directive, }
		. q{it must be a region name such as "us1" or "ie1" in FILE:LINE});
}

# on and off

conf_fails('incoming maybe',
	conf(location => creds() . "            twanon_token;\n"
		. "            twanon_token_incoming  maybe;\n"),
	'twanon_token_incoming  maybe;',
	'invalid value "maybe" in "twanon_token_incoming" directive, '
	. 'it must be "on" or "off" in FILE:LINE');

# secrets

conf_fails('empty secret',
	conf(location => creds('secret') . "            twanon_token;\n"
		. "            twanon_api_secret  \"\";\n"),
	'twanon_api_secret  "";',
	'empty value in "twanon_api_secret" directive in FILE:LINE');

my $dir = $t->testdir();

$t->write_file('empty.secret', '');
$t->write_file('blank.secret', " \t\r\n\n  \n");
$t->write_file('good.secret', "$SECRET\n");
$t->write_file('shared.secret', "$SECRET\n");
$t->write_file('public.secret', "$SECRET\n");
mkdir "$dir/secret.dir";
chmod 0600, "$dir/$_" for qw/ empty.secret blank.secret good.secret /;
chmod 0640, "$dir/shared.secret";
chmod 0604, "$dir/public.secret";

sub secret_file {
	my ($path) = @_;
	return conf(location => creds('secret') . "            twanon_token;\n"
		. "            twanon_token_identity  \$remote_user;\n"
		. "            twanon_api_secret_file  $path;\n");
}

conf_fails_with('secret file missing', secret_file("$dir/missing.secret"),
	'twanon_api_secret_file',
	[ 'twanon_api_secret_file', 'No such file or directory' ]);

conf_fails_with('secret file directory', secret_file("$dir/secret.dir"),
	'twanon_api_secret_file', [ 'twanon_api_secret_file' ]);

conf_fails('secret file empty', secret_file("$dir/empty.secret"),
	'twanon_api_secret_file',
	qq{"twanon_api_secret_file" file "$dir/empty.secret" is empty}
	. ' in FILE:LINE');

conf_fails('secret file blank', secret_file("$dir/blank.secret"),
	'twanon_api_secret_file',
	qq{"twanon_api_secret_file" file "$dir/blank.secret" is empty}
	. ' in FILE:LINE');

# a FIFO is refused at once: nginx -t must not wait for a writer (the
# harness kills an nginx -t that takes longer than its timeout)

SKIP: {
	skip 'mkfifo failed', 3
		unless system('mkfifo', "$dir/fifo.secret") == 0;

	my $start = time();

	conf_fails('secret file fifo', secret_file("$dir/fifo.secret"),
		'twanon_api_secret_file',
		qq{"twanon_api_secret_file" file "$dir/fifo.secret" is not a regular }
		. 'file in FILE:LINE', timeout => 5);

	cmp_ok(time() - $start, '<', 5 * $t->slow(),
		'secret file fifo not waited on');
}

$t->write_file('bom.secret', "\xef\xbb\xbf$SECRET\n");
$t->write_file('space.secret', " $SECRET\n");
$t->write_file('newline.secret', "\n$SECRET\n");
$t->write_file('tab.secret', "\t$SECRET");
chmod 0600, "$dir/$_" for qw/ bom.secret space.secret newline.secret
	tab.secret /;

conf_fails('secret file bom', secret_file("$dir/bom.secret"),
	'twanon_api_secret_file',
	qq{"twanon_api_secret_file" file "$dir/bom.secret" starts with a UTF-8 }
	. 'byte order mark in FILE:LINE');

for my $name (qw/ space newline tab /) {
	conf_fails("secret file leading $name",
		secret_file("$dir/$name.secret"),
		'twanon_api_secret_file',
		qq{"twanon_api_secret_file" file "$dir/$name.secret" starts with }
		. 'white space in FILE:LINE');
}

conf_fails('secret then file',
	conf(location => creds() . "            twanon_token;\n"
		. "            twanon_api_secret_file  $dir/good.secret;\n"),
	'twanon_api_secret_file',
	'"twanon_api_secret_file" directive is duplicate in FILE:LINE');

conf_fails('file then secret',
	conf(location => "            twanon_api_secret_file  $dir/good.secret;\n"
		. creds() . "            twanon_token;\n"),
	"twanon_api_secret   $SECRET;",
	'"twanon_api_secret" directive is duplicate in FILE:LINE');

conf_fails('file twice',
	conf(location => creds('secret') . "            twanon_token;\n"
		. "            twanon_api_secret_file  $dir/good.secret;\n"
		. "            twanon_api_secret_file  $dir/good.secret;\n"),
	[ 'twanon_api_secret_file', 2 ],
	'"twanon_api_secret_file" directive is duplicate in FILE:LINE');

###############################################################################

# one content handler per location: ours refuses one set before it, and
# one set after it is found once the configuration is parsed

my %other = (
	proxy_pass => 'proxy_pass  http://127.0.0.1:8081;',
	fastcgi_pass => 'fastcgi_pass  127.0.0.1:8081;',
	empty_gif => 'empty_gif;',
	stub_status => 'stub_status;',
);

for my $name (sort keys %other) {
	my $token = creds() . "            twanon_token;\n"
		. "            twanon_token_identity  \$remote_user;\n";

	conf_fails("$name before twanon_token",
		conf(location => "            $other{$name}\n" . $token),
		'twanon_token;',
		'"twanon_token" cannot be mixed with another content handler '
		. '("proxy_pass", "fastcgi_pass", "stub_status" and the like) '
		. 'in FILE:LINE');

	conf_fails("$name after twanon_token",
		conf(location => $token . "            $other{$name}\n"),
		'twanon_token;',
		'"twanon_token" in FILE:LINE is overridden by another content '
		. 'handler ("proxy_pass", "fastcgi_pass", "stub_status" and the '
		. 'like) set after it in the same location');
}

my $webhook = "            twanon_verify_signature  off;\n"
	. "            twanon_resolver  /resolver;\n";

conf_fails('twanon_incoming after twanon_token',
	conf(location => creds() . "            twanon_token;\n"
		. "            twanon_incoming;\n" . $webhook),
	'twanon_incoming;',
	'"twanon_incoming" cannot be mixed with "twanon_token" in FILE:LINE');

conf_fails('twanon_token after twanon_incoming',
	conf(location => creds() . "            twanon_incoming;\n"
		. "            twanon_token;\n" . $webhook),
	'twanon_token;',
	'"twanon_token" cannot be mixed with "twanon_incoming" in FILE:LINE');

conf_fails('twanon_token twice',
	conf(location => creds() . "            twanon_token;\n"
		. "            twanon_token;\n"),
	[ 'twanon_token;', 2 ],
	'"twanon_token" directive is duplicate in FILE:LINE');

# in regex and named locations too

conf_fails('proxy_pass after twanon_token in regex location',
	conf(server => "        location ~ ^/regex {\n" . creds()
		. "            twanon_token;\n"
		. "            proxy_pass  http://127.0.0.1:8081;\n"
		. "        }\n"),
	'twanon_token;',
	'"twanon_token" in FILE:LINE is overridden by another content '
	. 'handler ("proxy_pass", "fastcgi_pass", "stub_status" and the '
	. 'like) set after it in the same location');

conf_fails('stub_status after twanon_token in named location',
	conf(server => "        location \@named {\n" . creds()
		. "            twanon_token;\n"
		. "            stub_status;\n"
		. "        }\n"),
	'twanon_token;',
	'"twanon_token" in FILE:LINE is overridden by another content '
	. 'handler ("proxy_pass", "fastcgi_pass", "stub_status" and the '
	. 'like) set after it in the same location');

# a nested location has a handler of its own

conf_passes('proxy_pass in nested location', conf(location => creds()
	. "            twanon_token;\n"
	. "            twanon_token_identity  \$remote_user;\n"
	. "            location /token/nested {\n"
	. "                proxy_pass  http://127.0.0.1:8081;\n"
	. "            }\n"));

###############################################################################

# warnings: a token for any identity, louder for any web site

my $out = conf_warns('identity from the request',
	conf(location => creds() . "            twanon_token;\n"),
	'twanon_token;',
	'"twanon_token" in FILE:LINE mints a token for any identity the '
	. 'client names; set "twanon_token_identity" to an authenticated user');

is(() = $out =~ /\[warn\]/g, 1, 'identity from the request one warning');

$out = conf_warns('identity from the request, any origin',
	conf(location => creds() . "            twanon_token;\n"
		. "            twanon_cors_origin  *;\n"),
	'twanon_token;',
	'"twanon_token" in FILE:LINE mints a token for any identity the '
	. 'client names, and with "twanon_cors_origin *" any web site can ask '
	. 'for one; set "twanon_token_identity" to an authenticated user');

is(() = $out =~ /\[warn\]/g, 1, 'any origin one warning');

($out) = conf_passes('identity bound, any origin',
	conf(location => creds() . "            twanon_token;\n"
		. "            twanon_token_identity  \$remote_user;\n"
		. "            twanon_cors_origin  *;\n"));

unlike($out, qr/\[warn\]/, 'identity bound no warning');

# an OpenSSL that cannot do HMAC (no provider loaded) fails nginx -t with
# OpenSSL's own reason

$t->write_file('no-provider.cnf', join("\n", 'openssl_conf = openssl_init',
	'[openssl_init]', 'providers = provider_sect',
	'[provider_sect]', 'null = null_sect',
	'[null_sect]', 'activate = 1', ''));

{
	local $ENV{OPENSSL_CONF} = "$dir/no-provider.cnf";

	conf_fails('no hmac',
		conf(location => creds() . "            twanon_token;\n"
		. "            twanon_token_identity  \$remote_user;\n"),
		'twanon_token;',
		'"twanon_token" in FILE:LINE cannot create an HMAC-SHA256 context '
		. '(SSL: error:0308010C:digital envelope routines::unsupported:'
		. 'Global default library context, Algorithm (HMAC : 0), '
		. 'Properties (<null>))');
}

###############################################################################

# good configurations

($out) = conf_passes('all directives', conf(location => <<"EOF"));
            twanon_token;
            twanon_account_sid                     $ACCOUNT;
            twanon_api_key                         $KEY;
            twanon_api_secret                      $SECRET;
            twanon_token_identity                  \$arg_user;
            twanon_token_identity_pattern          "^[a-z0-9_.\@-]{1,64}\$";
            twanon_token_ttl                       24h;
            twanon_token_incoming                  off;
            twanon_token_outgoing_application_sid  $APP;
            twanon_token_push_credential_sid       $PUSH;
            twanon_token_region                    ie1;
            twanon_cors_origin                     https://console.example.com
                                                   http://localhost:8080;
EOF

like($out, qr/test is successful/, 'all directives successful');
unlike($out, qr/\[(?:warn|emerg|alert|crit)\]/, 'all directives quiet');

conf_passes('ttl 1s', conf(location => creds() . <<'EOF'));
            twanon_token;
            twanon_token_identity  $remote_user;
            twanon_token_ttl  1s;
            twanon_token_region  us1;
            twanon_cors_origin  *;
EOF

conf_passes('cors off', conf(location => creds() . <<'EOF'));
            twanon_token;
            twanon_cors_origin  off;
EOF

conf_passes('inherited from http', conf(http => creds()
	. "    twanon_token_ttl  5m;\n",
	location => "            twanon_token;\n"));

conf_passes('inherited from server', conf(server => creds(),
	location => "            twanon_token;\n"));

conf_passes('inherited secret file', conf(http => creds('secret')
	. "    twanon_api_secret_file  $dir/good.secret;\n",
	location => "            twanon_token;\n"));

conf_passes('variables', conf(location => <<'EOF'));
            twanon_token;
            twanon_account_sid  $http_x_sid;
            twanon_api_key      $http_x_key;
            twanon_api_secret   $http_x_secret;
EOF

conf_passes('upper case hex', conf(location => "            twanon_token;\n"
	. '            twanon_account_sid  AC' . uc('0123456789abcdef' x 2) . ";\n"
	. '            twanon_api_key      SK' . uc('fedcba9876543210' x 2) . ";\n"
	. "            twanon_api_secret   $SECRET;\n"
	. '            twanon_token_outgoing_application_sid  AP'
	. uc('1111222233334444abcdef0123456789') . ";\n"
	. '            twanon_token_push_credential_sid  CR'
	. uc('aaaabbbbccccdddd' x 2) . ";\n"));

conf_passes('credentials without twanon_token',
	conf(location => creds('secret')));

# secret files: 0600 is quiet, 0640 warns, relative to the prefix

($out) = conf_passes('secret file', secret_file("$dir/good.secret"));
unlike($out, qr/\[warn\]/, 'secret file no warning');

($out) = conf_passes('secret file readable', secret_file("$dir/shared.secret"));
my $warn = quotemeta(qq{"twanon_api_secret_file" file "$dir/shared.secret"}
	. ' is readable by other users');
like($out, qr/\[warn\] (?:\d+#\d+: )?$warn/, 'secret file readable warning');

($out) = conf_passes('secret file public', secret_file("$dir/public.secret"));
$warn = quotemeta(qq{"twanon_api_secret_file" file "$dir/public.secret"}
	. ' is readable by other users');
like($out, qr/\[warn\] (?:\d+#\d+: )?$warn/, 'secret file public warning');

my $path;
($out, $path) = conf_passes('secret file relative',
	secret_file('relative.secret'),
	files => { 'relative.secret' => [ "$SECRET\r\n", 0600 ] });

like($out, qr/test is successful/, 'secret file relative successful');

###############################################################################

# nothing printed by nginx -t contains the secret

my $all = join "\n", @{$t->{_nginx_t_output}};
unlike($all, qr/\Q$SECRET\E/, 'secret not printed');

###############################################################################
