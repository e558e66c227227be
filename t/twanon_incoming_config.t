#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the configuration checks of the twanon_incoming webhook of
# ngx_http_twanon_module: "nginx -t" on each misconfiguration must fail
# with the documented message, naming the file and line; good
# configurations must pass.

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

my $TOKEN = 'auth-token-for-config-tests-2d6b';
my $NEXT = 'next-auth-token-for-config-tests-7c1e';
my $HASH_KEY = 'hash-key-for-config-tests-44f0';

my $t = Test::Twanon->new()->has(qw/http proxy/);

$t->check_module()->plan(180);

###############################################################################

# a whole configuration around the given http, server and location text;
# the webhook is "location /voice", its resolver "location /resolver"

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
        location /voice {
$location
        }

        location /resolver {
            internal;
            proxy_pass  http://127.0.0.1:8081;
        }
    }
}

EOF
}

# a webhook with what it needs, and more directives

sub webhook {
	my (@more) = @_;

	return "            twanon_incoming;\n"
		. "            twanon_auth_token  $TOKEN;\n"
		. "            twanon_resolver    /resolver;\n"
		. join('', map { "            $_\n" } @more);
}

# nginx -t must fail with "[emerg] MESSAGE" as the whole rest of the line,
# where "FILE:LINE" stands for the config path and the line holding $at,
# and %%CONFDIR%% for the config's directory

# nginx -t must fail with an [emerg] line holding every given text and
# ending with " in FILE:LINE"

###############################################################################

# what the webhook needs

conf_fails('no auth token',
	conf(location => "            twanon_incoming;\n"
		. "            twanon_resolver  /resolver;\n"),
	'twanon_incoming;',
	'"twanon_incoming" in FILE:LINE requires "twanon_auth_token" or '
	. '"twanon_auth_token_file", or "twanon_webhook_key" '
	. '(or "twanon_verify_signature off")');

conf_fails('no resolver',
	conf(location => "            twanon_incoming;\n"
		. "            twanon_auth_token  $TOKEN;\n"),
	'twanon_incoming;',
	'"twanon_incoming" in FILE:LINE requires "twanon_resolver"');

conf_fails('no resolver in second webhook',
	conf(server => "        twanon_auth_token  $TOKEN;\n"
		. "        location /other {\n"
		. "            twanon_incoming;\n"
		. "        }\n",
		location => webhook()),
	'twanon_incoming;',
	'"twanon_incoming" in FILE:LINE requires "twanon_resolver"');

conf_fails('hash without key',
	conf(location => webhook('twanon_resolver_send  hash;')),
	'twanon_incoming;',
	'"twanon_incoming" in FILE:LINE requires "twanon_hash_key" '
	. '(for "twanon_resolver_send hash")');

conf_fails('incoming in server',
	conf(server => "        twanon_incoming;\n"),
	'twanon_incoming;',
	'"twanon_incoming" directive is not allowed here in FILE:LINE');

conf_fails_with('resolver send maybe',
	conf(location => webhook('twanon_resolver_send  maybe;')),
	'twanon_resolver_send', [ 'invalid value "maybe"' ]);

# auth tokens

conf_fails('three auth tokens',
	conf(location => webhook("twanon_auth_token  $NEXT;",
		'twanon_auth_token  third-token;')),
	'twanon_auth_token  third-token;',
	'"twanon_auth_token" directive is given more than twice: at most two '
	. 'auth tokens, the current and the next, are allowed in FILE:LINE');

conf_fails('three auth tokens with a file',
	conf(location => webhook('twanon_auth_token_file  next.token;',
		'twanon_auth_token  third-token;')),
	'twanon_auth_token  third-token;',
	'"twanon_auth_token" directive is given more than twice: at most two '
	. 'auth tokens, the current and the next, are allowed in FILE:LINE',
	files => { 'next.token' => [ "$NEXT\n", 0600 ] });

conf_fails('three auth tokens across levels',
	conf(server => "        twanon_auth_token  $NEXT;\n"
		. "        twanon_auth_token  second-token;\n",
		location => "            twanon_incoming;\n"
		. "            twanon_resolver  /resolver;\n"
		. "            twanon_auth_token  $TOKEN;\n"
		. "            twanon_auth_token  x-token;\n"
		. "            twanon_auth_token  third-token;\n"),
	'twanon_auth_token  third-token;',
	'"twanon_auth_token" directive is given more than twice: at most two '
	. 'auth tokens, the current and the next, are allowed in FILE:LINE');

conf_fails('empty auth token',
	conf(location => "            twanon_incoming;\n"
		. "            twanon_resolver  /resolver;\n"
		. "            twanon_auth_token  \"\";\n"),
	'twanon_auth_token  "";',
	'empty value in "twanon_auth_token" directive in FILE:LINE');

# resolver URI

for my $uri ('resolver', '/resolver?a=1', 'http://resolver/r', '?a') {
	conf_fails("resolver $uri",
		conf(location => "            twanon_incoming;\n"
			. "            twanon_auth_token  $TOKEN;\n"
			. "            twanon_resolver  $uri;\n"),
		"twanon_resolver  $uri;",
		qq{invalid value "$uri" in "twanon_resolver" directive, it must be }
		. 'the URI of a location, such as "/resolver", with no arguments '
		. 'in FILE:LINE');
}

# client parameters

conf_fails('8 client parameters',
	conf(location => webhook(map { "twanon_client_parameter  p$_;" } 1 .. 8)),
	'twanon_client_parameter  p8;',
	'too many "twanon_client_parameter" directives, Twilio allows at most 8 '
	. 'parameters, and the module uses one in FILE:LINE');

for my $bad ('a' x 33, '"a b"', 'a/b', 'caf' . "\xc3\xa9", '""') {
	(my $shown = $bad) =~ s/^"(.*)"$/$1/;
	my $label = length $bad > 32 ? '33 chars'
		: $bad =~ /\xc3/ ? 'not ascii' : $bad;

	conf_fails("parameter name $label",
		conf(location => webhook("twanon_client_parameter  $bad;")),
		"twanon_client_parameter  $bad",
		qq{invalid parameter name "$shown" in "twanon_client_parameter" }
		. 'directive, it must be 1 to 32 letters, digits, "_", "-" or "." '
		. 'in FILE:LINE');
}

conf_fails('duplicate parameter',
	conf(location => webhook('twanon_client_parameter  customerName;',
		'twanon_client_parameter  customerId;',
		'twanon_client_parameter  customerName  name;')),
	'twanon_client_parameter  customerName  name;',
	'parameter "customerName" is duplicate in FILE:LINE');

# dial

for my $v (qw/ 0 0s 4h1s 5h /) {
	conf_fails("time limit $v",
		conf(location => webhook("twanon_dial_time_limit  $v;")),
		"twanon_dial_time_limit  $v;",
		'"twanon_dial_time_limit" directive must be between 1s and 4h '
		. 'in FILE:LINE');
}

for my $v (qw/ 4s 601s 11m /) {
	conf_fails("timeout $v",
		conf(location => webhook("twanon_dial_timeout  $v;")),
		"twanon_dial_timeout  $v;",
		'"twanon_dial_timeout" directive must be between 5s and 600s '
		. 'in FILE:LINE');
}

# a dial's action: Twilio drops a fragment, and the after-dial step adds
# the attempt; at server level too, where no handler is set

for my $v ('/after#t', 'https://example.com/a?x=1#frag', '#') {
	conf_fails("dial action $v",
		conf(location => webhook("twanon_dial_action  \"$v\";")),
		'twanon_dial_action', qq{"twanon_dial_action" "$v" has a }
		. 'fragment ("#"), which Twilio drops with what follows in '
		. 'FILE:LINE');
}

for my $v ('/after?attempt=2', '/after?x=1&attempt', '/after?attempt=') {
	conf_fails("dial action $v",
		conf(server => "        twanon_dial_action  \"$v\";\n",
			location => webhook()),
		'twanon_dial_action', qq{"twanon_dial_action" "$v" has an }
		. '"attempt" parameter: the after-dial step appends its own in '
		. 'FILE:LINE');
}

conf_passes('dial action with attempts in names and values',
	conf(location => webhook('twanon_dial_action  '
		. '"/after?attempts=2&x=attempt&myattempt=1";')));

# fallbacks

conf_fails('fallback say option',
	conf(location => webhook('twanon_fallback_say  rate=fast "Hello";')),
	'twanon_fallback_say',
	'invalid parameter "rate=fast" in "twanon_fallback_say" directive, '
	. 'expected "language=", "voice=" or the text as the last parameter '
	. 'in FILE:LINE');

conf_fails('fallback say text first',
	conf(location => webhook('twanon_fallback_say  "Hello" voice=alice;')),
	'twanon_fallback_say',
	'invalid parameter "Hello" in "twanon_fallback_say" directive, '
	. 'expected "language=", "voice=" or the text as the last parameter '
	. 'in FILE:LINE');

my @kinds = (
	[ 'twanon_fallback_say', 'twanon_fallback_say  "Hello";' ],
	[ 'twanon_fallback_twiml', 'twanon_fallback_twiml  good.xml;' ],
	[ 'twanon_fallback_client', 'twanon_fallback_client  op_1;' ],
);

my $GOOD = qq{<?xml version="1.0" encoding="UTF-8"?>\n}
	. "<Response><Say>Closed</Say></Response>\n";

for my $first (@kinds) {
	for my $second (@kinds) {
		my $name = "$first->[0] then $second->[0]";
		$name =~ s/twanon_fallback_//g;

		conf_fails($name,
			conf(location => webhook($first->[1], $second->[1])),
			[ $second->[1], $first == $second ? 2 : 1 ],
			qq{"$second->[0]" directive is duplicate: one of }
			. '"twanon_fallback_say", "twanon_fallback_twiml" and '
			. '"twanon_fallback_client" is allowed at one level in FILE:LINE',
			files => { 'good.xml' => $GOOD });
	}
}

conf_fails_with('fallback twiml missing',
	conf(location => webhook('twanon_fallback_twiml  missing.xml;')),
	'twanon_fallback_twiml', [ 'twanon_fallback_twiml', 'missing.xml' ]);

for my $case (
	[ 'not well-formed', 'bad.xml', "<Response><Say>Hi</Response>\n",
		'is not well-formed XML' ],
	[ 'text', 'text.xml', "Sorry, closed.\n", 'is not well-formed XML' ],
	[ 'wrong root', 'root.xml', "<Say>Hi</Say>\n",
		'has no <Response> root element' ],
	[ 'lower case root', 'lower.xml', "<response><Say>Hi</Say></response>\n",
		'has no <Response> root element' ],
	[ 'namespaced root', 'ns.xml',
		qq{<t:Response xmlns:t="urn:x"><Say>Hi</Say></t:Response>\n},
		'has no <Response> root element' ],
)
{
	my ($name, $file, $content, $reason) = @$case;

	conf_fails("fallback twiml $name",
		conf(location => webhook("twanon_fallback_twiml  $file;")),
		'twanon_fallback_twiml',
		qq{"twanon_fallback_twiml" file "$file" $reason in FILE:LINE},
		files => { $file => $content });
}

conf_fails_with('fallback twiml empty',
	conf(location => webhook('twanon_fallback_twiml  empty.xml;')),
	'twanon_fallback_twiml', [ '"twanon_fallback_twiml" file', 'empty.xml' ],
	files => { 'empty.xml' => '' });

for my $id ('op.1', '', 'a' x 122, 'op-1') {
	my $label = length $id > 100 ? '122 chars' : $id eq '' ? 'empty' : $id;

	conf_fails("fallback client $label",
		conf(location => webhook(qq{twanon_fallback_client  op_1 "$id";})),
		'twanon_incoming;',
		qq{"twanon_fallback_client" identity "$id" does not match the }
		. 'identity pattern, for "twanon_incoming" in FILE:LINE');
}

conf_fails('fallback client inherited',
	conf(server => "        twanon_fallback_client  op.1;\n",
		location => webhook()),
	'twanon_incoming;',
	'"twanon_fallback_client" identity "op.1" does not match the '
	. 'identity pattern, for "twanon_incoming" in FILE:LINE');

conf_fails_with('fallback client 11',
	conf(location => webhook('twanon_fallback_client  '
		. join(' ', map { "op_$_" } 1 .. 11) . ';')),
	'twanon_fallback_client', [ 'twanon_fallback_client' ]);

# auth token files: not a FIFO (refused at once, not waited on), no
# byte order mark, no leading white space

my $dir = $t->testdir();

SKIP: {
	skip 'mkfifo failed', 3
		unless system('mkfifo', "$dir/fifo.token") == 0;

	my $start = time();

	conf_fails('auth token file fifo',
		conf(location => webhook("twanon_auth_token_file  $dir/fifo.token;")),
		'twanon_auth_token_file',
		qq{"twanon_auth_token_file" file "$dir/fifo.token" is not a regular }
		. 'file in FILE:LINE', timeout => 5);

	cmp_ok(time() - $start, '<', 5 * $t->slow(),
		'auth token file fifo not waited on');
}

conf_fails('auth token file bom',
	conf(location => webhook('twanon_auth_token_file  next.token;')),
	'twanon_auth_token_file',
	'"twanon_auth_token_file" file "%%CONFDIR%%/next.token" starts with '
	. 'a UTF-8 byte order mark in FILE:LINE',
	files => { 'next.token' => [ "\xef\xbb\xbf$NEXT\n", 0600 ] });

conf_fails('auth token file leading space',
	conf(location => webhook('twanon_auth_token_file  next.token;')),
	'twanon_auth_token_file',
	'"twanon_auth_token_file" file "%%CONFDIR%%/next.token" starts with '
	. 'white space in FILE:LINE',
	files => { 'next.token' => [ "  $NEXT\n", 0600 ] });

# one content handler per location, in either order

my %other = (
	proxy_pass => 'proxy_pass  http://127.0.0.1:8081;',
	fastcgi_pass => 'fastcgi_pass  127.0.0.1:8081;',
	uwsgi_pass => 'uwsgi_pass  127.0.0.1:8081;',
	grpc_pass => 'grpc_pass  127.0.0.1:8081;',
	memcached_pass => 'memcached_pass  127.0.0.1:8081;',
	empty_gif => 'empty_gif;',
	stub_status => 'stub_status;',
);

for my $name (sort keys %other) {
	conf_fails("$name before twanon_incoming",
		conf(location => "            $other{$name}\n" . webhook()),
		'twanon_incoming;',
		'"twanon_incoming" cannot be mixed with another content handler '
		. '("proxy_pass", "fastcgi_pass", "stub_status" and the like) '
		. 'in FILE:LINE');

	conf_fails("$name after twanon_incoming",
		conf(location => webhook() . "            $other{$name}\n"),
		'twanon_incoming;',
		'"twanon_incoming" in FILE:LINE is overridden by another content '
		. 'handler ("proxy_pass", "fastcgi_pass", "stub_status" and the '
		. 'like) set after it in the same location');
}

###############################################################################

# warnings: no signature check; a signed URL that is not a literal

my $unsigned = '"twanon_incoming" in FILE:LINE has no literal '
	. '"twanon_webhook_url": a webhook that Twilio signed for another URL '
	. 'under the same Auth Token is accepted here';

# each the only warning

conf_warns('no webhook url', conf(location => webhook()),
	'twanon_incoming;', $unsigned, one => 1);

conf_warns('webhook url with variables', conf(location =>
	webhook('twanon_webhook_url  https://voice.example.com$request_uri;')),
	'twanon_incoming;', $unsigned, one => 1);

conf_warns('verify signature off',
	conf(location => "            twanon_incoming;\n"
	. "            twanon_verify_signature  off;\n"
	. "            twanon_resolver  /resolver;\n"),
	'twanon_incoming;',
	'"twanon_incoming" in FILE:LINE does not check signatures '
	. '("twanon_verify_signature off"): anyone who can reach it can post '
	. 'any caller', one => 1);

# an OpenSSL that cannot do HMAC fails nginx -t with OpenSSL's reason

$t->write_file('no-provider.cnf', join("\n", 'openssl_conf = openssl_init',
	'[openssl_init]', 'providers = provider_sect',
	'[provider_sect]', 'null = null_sect',
	'[null_sect]', 'activate = 1', ''));

{
	local $ENV{OPENSSL_CONF} = "$dir/no-provider.cnf";

	conf_fails('no hmac', conf(location => webhook()), 'twanon_incoming;',
		'"twanon_incoming" in FILE:LINE cannot create an HMAC-SHA1 context '
		. '(SSL: error:0308010C:digital envelope routines::unsupported:'
		. 'Global default library context, Algorithm (HMAC : 0), '
		. 'Properties (<null>))');
}

###############################################################################

# good configurations

my ($out) = conf_passes('all directives', conf(location => <<"EOF"),
            twanon_incoming;
            twanon_auth_token             $TOKEN;
            twanon_auth_token_file        next.token;
            twanon_verify_signature       on;
            twanon_webhook_url            https://voice.example.com/voice;
            twanon_resolver               /resolver;
            twanon_resolver_send          hash;
            twanon_hash_key               $HASH_KEY;
            twanon_identity_field         agentId;
            twanon_client_parameter       name  customer_name;
            twanon_client_parameter       a.b-c_D;
            twanon_client_parameter       ${\ ('p' x 32)};
            twanon_dial_caller_id         \$http_x_caller;
            twanon_dial_answer_on_bridge  off;
            twanon_dial_time_limit        4h;
            twanon_dial_timeout           600s;
            twanon_dial_action            https://example.com/done;
            twanon_fallback_say           language=ja-JP voice=alice "Hello";
            twanon_token_identity_pattern "^[a-z0-9_.]{1,64}\$";
EOF
	files => { 'next.token' => [ "$NEXT\n", 0600 ] });

like($out, qr/test is successful/, 'all directives successful');
unlike($out, qr/\[(?:warn|emerg|alert|crit)\]/, 'all directives quiet');

conf_passes('verify signature off without token',
	conf(location => "            twanon_incoming;\n"
		. "            twanon_verify_signature  off;\n"
		. "            twanon_resolver  /resolver;\n"));

conf_passes('two auth tokens',
	conf(location => webhook("twanon_auth_token  $NEXT;")));

conf_passes('token variable', conf(location => "            twanon_incoming;\n"
	. "            twanon_auth_token  \$http_x_token;\n"
	. "            twanon_resolver  /resolver;\n"));

conf_passes('inherited from http and server',
	conf(http => "    twanon_auth_token  $TOKEN;\n"
		. "    twanon_hash_key  $HASH_KEY;\n",
		server => "        twanon_resolver  /resolver;\n"
		. "        twanon_resolver_send  hash;\n"
		. "        twanon_fallback_client  op_1 op_2;\n",
		location => "            twanon_incoming;\n"));

conf_passes('limits', conf(location => webhook('twanon_dial_time_limit  1s;',
	'twanon_dial_timeout  5s;',
	map { "twanon_client_parameter  p$_;" } 1 .. 7)));

conf_passes('dial caller id off', conf(location => webhook(
	'twanon_dial_caller_id  off;', 'twanon_dial_answer_on_bridge  on;')));

my $path;
($out, $path) = conf_passes('fallback twiml', conf(location =>
	webhook('twanon_fallback_twiml  good.xml;',
		'twanon_webhook_url  https://voice.example.com/voice;')),
	files => { 'good.xml' => [ $GOOD, 0600 ] });

unlike($out, qr/\[(?:warn|emerg)\]/, 'fallback twiml quiet');

conf_passes('fallback twiml absolute', conf(location =>
	webhook('twanon_fallback_twiml  %%CONFDIR%%/good.xml;')),
	files => { 'good.xml' => [ $GOOD, 0600 ] });

conf_passes('fallback client 10', conf(location => webhook(
	'twanon_fallback_client  ' . join(' ', map { "op_$_" } 1 .. 10) . ';')));

conf_passes('fallback client custom pattern', conf(location => webhook(
	'twanon_fallback_client  op.1;',
	'twanon_token_identity_pattern  "^[a-z0-9_.]{1,64}$";')));

conf_passes('fallback kinds at different levels',
	conf(http => "    twanon_fallback_twiml  good.xml;\n",
		server => "        twanon_fallback_client  op_1;\n",
		location => webhook('twanon_fallback_say  "Hi";')),
	files => { 'good.xml' => [ $GOOD, 0600 ] });

conf_passes('fallback client without webhook',
	conf(location => "            twanon_fallback_client  op.1;\n"));

###############################################################################

# nothing printed by nginx -t holds a token or key

my $all = join "\n", @{$t->{_nginx_t_output}};
unlike($all, qr/\Q$TOKEN\E|\Q$NEXT\E|\Q$HASH_KEY\E/, 'secrets not printed');

###############################################################################
