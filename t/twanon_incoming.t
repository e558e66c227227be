#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the twanon_incoming webhook of ngx_http_twanon_module: the
# routed TwiML for each kind of resolver reply, every fallback and its
# configuration, the <Dial> attributes, escaping and cutting of parameter
# values, methods, content types and body limits, the request the resolver
# receives, the module's variables in an access log, and the error.log
# lines (which never hold the caller's number).

###############################################################################

use warnings;
use strict;

use Test::More;

use Digest::SHA qw/ hmac_sha1 hmac_sha256_hex /;
use IO::Socket::INET;
use MIME::Base64 qw/ encode_base64 /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT form_escape webhook_request reply
	logged read_request /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $TOKEN = 'auth-token-for-tests-only-5e7d';
my $HASH_KEY = 'hash-key-for-tests-only-0b3c';

my $CALLER = '+15551234567';
my $CALLED = '+15557654321';
my $DIGITS = '5551234567';

my $DECL = qq{<?xml version="1.0" encoding="UTF-8"?>\n};
my $SORRY = 'We are sorry, no one is available to take your call right now.'
	. ' Please try again later.';
my $FALLBACK = $DECL . "<Response><Say>$SORRY</Say></Response>\n";
my $XML = 'text/xml; charset=utf-8';

my $FALLBACK_FILE = $DECL . "<Response>\n"
	. "  <Say voice=\"alice\">Busy &amp; closed</Say>\n"
	. "  <Hangup/>\n"
	. "</Response>\n";

my $t = Test::Twanon->new()->has(qw/http proxy/);

###############################################################################

# the resolver: "name" => [ status, reply ] served by "return" on 8081;
# the webhook /in/name asks /res/name, which proxies to 8081/name

my $LONG = 'a' . "\xc3\xa9" x 99 . 'z';

# Twilio's budget for the parameters of a <Client>: 800 bytes of names
# and values; 7 names of 32 bytes with values of 128 exceed it

my @BUDGET = map { sprintf('p%d', $_) . 'x' x 30 } 1 .. 7;
my @BUDGET_VALUES = ('a' . "\xc3\xa9" x 63 . 'z', '&' x 128,
	map({ $_ x 128 } qw/ c d e f /), 'short');
my @FIT = map { sprintf('q%d', $_) . 'x' x 30 } 1 .. 4;

sub json_members {
	my (@pairs) = @_;
	my $json = '';

	while (my ($k, $v) = splice(@pairs, 0, 2)) {
		$json .= qq{,"$k":"$v"};
	}

	return $json;
}

my %replies = (
	routed => [ 200, '{"appId":"user001","customerName":"Ann",'
		. '"customerId":42,"phone":"' . $CALLER . '"}' ],
	one => [ 200, '{"appId":["user001"],"customerName":"Ann",'
		. '"customerId":42}' ],
	ten => [ 200, '{"appId":[' . join(',', map { "\"agent_$_\"" } 0 .. 9)
		. '],"customerName":"Ann","customerId":42}' ],
	eleven => [ 200, '{"appId":[' . join(',', map { "\"agent_$_\"" } 0 .. 10)
		. '],"customerName":"Ann","customerId":42}' ],
	emptyarr => [ 200, '{"appId":[],"customerName":"Ann"}' ],
	mixed => [ 200, '{"appId":["user001",7],"customerName":"Ann"}' ],
	noid => [ 200, '{"customerName":"Ann","customerId":42}' ],
	numid => [ 200, '{"appId":42,"customerName":"Ann"}' ],
	dotid => [ 200, '{"appId":"bob.smith","customerName":"Ann"}' ],
	spaceid => [ 200, '{"appId":"a b","customerName":"Ann"}' ],
	id121 => [ 200, '{"appId":"' . 'b' x 121 . '"}' ],
	id122 => [ 200, '{"appId":"' . 'b' x 122 . '"}' ],
	s404 => [ 404, '{"error":"not found"}' ],
	s500 => [ 500, '{"appId":"user001"}' ],
	badjson => [ 200, '{"appId":"user001",' ],
	array => [ 200, '[{"appId":"user001"}]' ],
	empty => [ 200, '' ],
	specials => [ 200, '{"appId":"user001","customerName":"<&>\"\'",'
		. '"customerId":"a&b"}' ],
	newline => [ 200, '{"appId":"user001",'
		. '"customerName":"line1\nline2\r\nline3"}' ],
	control => [ 200, '{"appId":"user001",'
		. '"customerName":"a\u0000b\u0001c\u001fd\ufffee",'
		. '"customerId":"f\tg"}' ],
	long => [ 200, '{"appId":"user001","customerName":"' . $LONG . '",'
		. '"customerId":"' . 'x' x 200 . '"}' ],
	mapping => [ 200, '{"appId":"user002","customer_name":"Zed",'
		. '"score":2.5,"big":9007199254740993,"neg":-7,"flag":true,'
		. '"nothing":null,"obj":{"a":1},"list":["x"],'
		. '"customerName":"Ann","customerId":42}' ],
	field => [ 200, '{"agentId":"agent_7","appId":"not.this",'
		. '"customerName":"Ann","customerId":42}' ],
	budget => [ 200, '{"appId":"user001"'
		. json_members(map { ($BUDGET[$_], $BUDGET_VALUES[$_]) } 0 .. 6)
		. '}' ],
	budget_fit => [ 200, '{"appId":"user001"'
		. json_members(map { ($_, '&' x 128) } @FIT) . '}' ],
);

# webhook locations: name => [ resolver, directives ]

my %hooks = (
	(map { $_ => [ $_, '' ] } keys %replies),

	mapping => [ 'mapping', <<'EOF' ],
            twanon_client_parameter  name customer_name;
            twanon_client_parameter  score;
            twanon_client_parameter  big;
            twanon_client_parameter  neg;
            twanon_client_parameter  nothing;
            twanon_client_parameter  obj;
            twanon_client_parameter  absent;
EOF
	field => [ 'field', "            twanon_identity_field  agentId;\n" ],
	budget => [ 'budget', join('', map {
		"            twanon_client_parameter  $_;\n" } @BUDGET) ],
	budget_fit => [ 'budget_fit', join('', map {
		"            twanon_client_parameter  $_;\n" } @FIT) ],

	cid_off => [ 'routed', "            twanon_dial_caller_id  off;\n" ],
	cid_value => [ 'routed',
		"            twanon_dial_caller_id  +15550001111;\n" ],
	cid_var => [ 'routed',
		"            twanon_dial_caller_id  \$http_x_caller_id;\n" ],
	dial => [ 'routed', <<'EOF' ],
            twanon_dial_answer_on_bridge  off;
            twanon_dial_time_limit        10m;
            twanon_dial_timeout           45s;
            twanon_dial_action            "https://example.com/done?a=1&b=2";
EOF

	say => [ 's500', '            twanon_fallback_say  language=ja-JP '
		. "voice=alice \"Sorry <closed> & bye\";\n" ],
	say_voice => [ 's404',
		"            twanon_fallback_say  voice=man \"Goodbye\";\n" ],
	twiml => [ 's500', "            twanon_fallback_twiml  fallback.xml;\n" ],
	fclient => [ 's500', "            twanon_fallback_client  op_1 op_2;\n"
		. "            twanon_dial_timeout  20s;\n" ],
	fclient404 => [ 's404',
		"            twanon_fallback_client  op_1 op_2;\n" ],

	loop => [ 'routed', "            twanon_dial_action      /in/loop;\n"
		. "            twanon_fallback_client  op_1;\n" ],
	urlq => [ 'routed', '            twanon_webhook_url  '
		. "http://voice.example.com/in/urlq?site=eu;\n" ],

	infile => [ 'routed', "            client_body_in_file_only  on;\n" ],
	small => [ 'routed', "            client_body_buffer_size  128;\n" ],

	echo => [ 'echo', '' ],
	echo_hash => [ 'echo_hash', "            twanon_resolver_send  hash;\n" ],
	latin1 => [ 'latin1', '' ],
);

# the echo backend: records each request it gets, answers with a route

my %daemon = map { $_ => 1 } qw/ echo echo_hash latin1 /;

my ($webhooks, $resolvers, $returns) = ('', '', '');

for my $name (sort keys %hooks) {
	my ($res, $extra) = @{$hooks{$name}};

	$webhooks .= <<"EOF";
        location = /in/$name {
            twanon_incoming;
            twanon_resolver  /res/$res;
$extra        }

EOF
}

for my $name (sort(keys %replies), sort(keys %daemon)) {
	my $port = $daemon{$name} ? 8082 : 8081;

	# the subrequest's own header variables, as a resolver location
	# may use them (in nginx 1.23+ they follow each header's "next")

	my $vars = $daemon{$name} ? "            proxy_set_header  "
		. "X-Resolver-Vars  \"\$content_type|\$content_length\";\n" : '';

	$resolvers .= <<"EOF";
        location = /res/$name {
            internal;
$vars            proxy_pass  http://127.0.0.1:$port/$name;
        }

EOF

	next if $daemon{$name};

	my ($status, $reply) = @{$replies{$name}};

	$returns .= <<"EOF";
        location = /$name {
            return  $status ${\ ngx_quote($reply)};
        }

EOF
}

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    log_format  twanon  '\$uri \$twanon_route \$twanon_call_sid '
                        '\$twanon_caller_hash \$twanon_client_identity';
    log_format  dial    '\$uri \$twanon_call_sid dial=\$twanon_dial_status '
                        'stir=\$twanon_stir_verstat';

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        access_log  %%TESTDIR%%/twanon.log  twanon;
        access_log  %%TESTDIR%%/dial.log    dial;

        twanon_auth_token  $TOKEN;
        twanon_hash_key    $HASH_KEY;

        proxy_connect_timeout  3s;
        proxy_read_timeout     5s;

        # larger than the webhook limit, which still holds
        client_max_body_size   10m;

$webhooks$resolvers
        location /inh/ {
            twanon_fallback_say  "Outer fallback";

            location = /inh/say {
                twanon_incoming;
                twanon_resolver  /res/s500;
            }

            location = /inh/client {
                twanon_incoming;
                twanon_resolver  /res/s500;
                twanon_fallback_client  op_3;
            }

            location = /inh/twiml {
                twanon_incoming;
                twanon_resolver  /res/s500;
                twanon_fallback_twiml  fallback.xml;
            }
        }

        location /inh2/ {
            twanon_fallback_client  op_4;

            location = /inh2/client {
                twanon_incoming;
                twanon_resolver  /res/s500;
            }

            location = /inh2/say {
                twanon_incoming;
                twanon_resolver  /res/s500;
                twanon_fallback_say  "Inner fallback";
            }
        }
    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        default_type  application/json;

$returns    }
}

EOF

$t->write_file('fallback.xml', $FALLBACK_FILE);

$t->run_backend(8082, \&echo_daemon, $t->testdir());

$t->run()->plan(119);

###############################################################################

# a string quoted for nginx.conf

sub ngx_quote {
	my ($s) = @_;

	$s =~ s/\\/\\\\/g;
	$s =~ s/'/\\'/g;

	return "'$s'";
}

# X-Twilio-Signature: base64(HMAC-SHA1(token, url + sorted name.value));
# a name repeated contributes each distinct value once, values sorted

# a signed webhook POST to /in/name, or any URI starting with /

my $calls = 0;
my @bodies;

sub call {
	my ($uri, %o) = @_;

	$uri = "/in/$uri" unless $uri =~ m!^/!;

	my $sid = $o{sid} || sprintf('CA%032d', ++$calls);

	my @pairs = (
		AccountSid => $ACCOUNT,
		ApiVersion => '2010-04-01',
		CallSid => $sid,
		CallStatus => 'ringing',
		Called => $CALLED,
		Caller => $CALLER,
		Direction => 'inbound',
		From => $CALLER,
		To => $CALLED,
		map { @$_ } @{$o{extra} || []},
	);

	my $r = webhook_request($uri, token => $TOKEN, pairs => \@pairs,
		map { defined $o{$_} ? ($_ => $o{$_}) : () }
			qw/ headers no_headers chunked method url /);

	$r->{sid} = $sid;
	push @bodies, $r->{body} if defined $r->{body};

	return $r;
}

# "status content-type" and the body, to compare in one go

# nginx's own 413, from client_max_body_size as capped by the module:
# the status and the Connection header

sub too_large {
	my ($r) = @_;

	my $connection = $r->{headers}{connection};

	return (defined $r->{status} ? $r->{status} : 'none') . ' '
		. (defined $connection ? $connection : 'none');
}

sub xml {
	my ($twiml) = @_;
	return "200 $XML\n$twiml";
}

sub text {
	my ($status, $text) = @_;
	return "$status text/plain; charset=utf-8\n$text";
}

# the routed TwiML: ids, params [ name, escaped value ], Dial attributes

sub dial {
	my (%o) = @_;

	my $attrs = defined $o{attrs} ? $o{attrs}
		: qq{answerOnBridge="true" timeLimit="3600" timeout="30"}
		. qq{ callerId="$CALLED"};

	my $params = $o{params} || [ [ customerName => 'Ann' ],
		[ customerId => '42' ] ];

	my $p = join '', map { qq{<Parameter name="$_->[0]" value="$_->[1]"/>} }
		@$params;

	my @ids = @{$o{ids} || [ 'user001' ]};

	# the module's own parameter, first: how many browsers ring

	$p = '<Parameter name="twanonRinging" value="' . @ids . '"/>' . $p;

	my $clients = join '', map { "<Client><Identity>$_</Identity>$p</Client>" }
		@ids;

	return xml($DECL . "<Response><Dial $attrs>$clients</Dial></Response>\n");
}

###############################################################################

# routed

my $r = call('routed');
my %sid = (routed => $r->{sid});

is(reply($r), dial(), 'routed');
unlike($r->{body}, qr/$DIGITS|phone/, 'routed extra field ignored');

is(reply(call('one')), dial(), 'identity array of 1');
is(reply(call('ten')), dial(ids => [ map { "agent_$_" } 0 .. 9 ]),
	'identity array of 10');
is(reply(call('id121')), dial(ids => [ 'b' x 121 ], params => []),
	'identity 121 chars');

# fallback on a reply that names no valid identity

for my $name (qw/ eleven emptyarr mixed noid numid dotid spaceid id122
	s404 s500 badjson array empty /)
{
	$r = call($name);
	$sid{$name} = $r->{sid};

	is(reply($r), xml($FALLBACK), "fallback $name");
}

# values: escaped, control characters dropped, cut at a character

is(reply(call('specials')), dial(params => [
	[ customerName => '&lt;&amp;&gt;&quot;\'' ],
	[ customerId => 'a&amp;b' ] ]), 'xml specials');

is(reply(call('newline')), dial(params => [
	[ customerName => 'line1&#10;line2&#13;&#10;line3' ] ]), 'newline');

is(reply(call('control')), dial(params => [
	[ customerName => 'abcde' ], [ customerId => 'f&#9;g' ] ]),
	'control characters');

is(reply(call('long')), dial(params => [
	[ customerName => 'a' . "\xc3\xa9" x 63 ],
	[ customerId => 'x' x 128 ] ]), 'long values cut');

is(reply(call('latin1')), dial(params => [
	[ customerName => "Jos\xef\xbf\xbd \xef\xbf\xbd!" ],
	[ customerId => "\xef\xbf\xbd" ] ]), 'invalid utf-8');

# Twilio's 800 bytes of parameters: twanonRinging first and whole, the
# longest values cut to one length (92 bytes, 91 not to split a
# character), counted unescaped, as Twilio does

$r = call('budget');
$sid{budget} = $r->{sid};

is(reply($r), dial(params => [
	[ $BUDGET[0] => 'a' . "\xc3\xa9" x 45 ],
	[ $BUDGET[1] => '&amp;' x 92 ],
	(map { [ $BUDGET[$_] => substr($BUDGET_VALUES[$_], 0, 92) ] } 2 .. 5),
	[ $BUDGET[6] => 'short' ] ]), 'parameters cut to 800 bytes');

sub param_bytes {
	my ($body) = @_;
	my ($client) = $body =~ m!<Client>(.*?)</Client>!s;
	my $n = 0;

	for my $a ($client =~ /<Parameter name="([^"]*)" value="([^"]*)"/g) {
		my $v = $a;
		$v =~ s/&lt;/</g; $v =~ s/&gt;/>/g; $v =~ s/&quot;/"/g;
		$v =~ s/&#(\d+);/chr($1)/ge; $v =~ s/&amp;/&/g;
		$n += length $v;
	}

	return $n;
}

is(param_bytes($r->{body}), 794, 'parameters within 800 bytes');

$r = call('budget_fit');
$sid{budget_fit} = $r->{sid};

is(reply($r), dial(params => [ map { [ $_ => '&amp;' x 128 ] } @FIT ]),
	'parameters counted unescaped');

# parameter mapping, identity field

is(reply(call('mapping')), dial(ids => [ 'user002' ], params => [
	[ name => 'Zed' ], [ score => '2.5' ], [ big => '9007199254740993' ],
	[ neg => '-7' ] ]), 'client parameter mapping');

is(reply(call('field')), dial(ids => [ 'agent_7' ]), 'identity field');

# dial attributes

my $dial_attrs = 'answerOnBridge="true" timeLimit="3600" timeout="30"';

is(reply(call('cid_off')), dial(attrs => $dial_attrs), 'caller id off');
is(reply(call('cid_value')),
	dial(attrs => qq{$dial_attrs callerId="+15550001111"}),
	'caller id value');
is(reply(call('cid_var', headers => { 'X-Caller-Id' => '+15550002222' })),
	dial(attrs => qq{$dial_attrs callerId="+15550002222"}),
	'caller id variable');

is(reply(call('dial')), dial(attrs => 'answerOnBridge="false"'
	. qq{ timeLimit="600" timeout="45" callerId="$CALLED"}
	. ' action="https://example.com/done?a=1&amp;b=2"'), 'dial attributes');

###############################################################################

# fallbacks

is(reply(call('say')), xml($DECL . '<Response><Say language="ja-JP"'
	. ' voice="alice">Sorry &lt;closed&gt; &amp; bye</Say></Response>'
	. "\n"), 'fallback say language voice');

is(reply(call('say_voice')), xml($DECL
	. qq{<Response><Say voice="man">Goodbye</Say></Response>\n}),
	'fallback say voice');

is(reply(call('twiml')), xml($FALLBACK_FILE), 'fallback twiml');

my $unknown = [ [ customerName => 'Unknown caller' ] ];

$r = call('fclient');
$sid{fclient} = $r->{sid};

is(reply($r), dial(ids => [ 'op_1', 'op_2' ], params => $unknown,
	attrs => 'answerOnBridge="true" timeLimit="3600" timeout="20"'
	. qq{ callerId="$CALLED"}), 'fallback client');

$r = call('fclient404');
$sid{fclient404} = $r->{sid};

is(reply($r), dial(ids => [ 'op_1', 'op_2' ], params => $unknown),
	'fallback client unknown caller');

# inheritance: a fallback at an inner level replaces the outer kind

is(reply(call('/inh/say')),
	xml($DECL . "<Response><Say>Outer fallback</Say></Response>\n"),
	'inherited say');
is(reply(call('/inh/client')), dial(ids => [ 'op_3' ], params => $unknown),
	'client replaces say');
is(reply(call('/inh/twiml')), xml($FALLBACK_FILE), 'twiml replaces say');
is(reply(call('/inh2/client')), dial(ids => [ 'op_4' ], params => $unknown),
	'inherited client');
is(reply(call('/inh2/say')),
	xml($DECL . "<Response><Say>Inner fallback</Say></Response>\n"),
	'say replaces client');

###############################################################################

# methods, content types, bodies

$r = call('routed', method => 'GET');
$sid{get} = $r->{sid};

is(reply($r), text(405, "method not allowed\n"), 'get');
is($r->{headers}{allow}, 'POST', 'get allow');

$r = http_get('/in/routed');
push @bodies, $r;

like($r, qr!^HTTP/1\.\d 405 !, 'get http/1.0');
like($r, qr!^Allow: POST\x0d$!m, 'get http/1.0 allow');

for my $m (qw/ PUT DELETE /) {
	$r = call('routed', method => $m);

	is($r->{status} . ' ' . ($r->{headers}{allow} || ''), '405 POST',
		lc($m) . ' refused');
}

for my $type ('application/json', 'text/plain', 'multipart/form-data',
	'application/x-www-form-urlencodedx')
{
	$r = call('routed', headers => { 'Content-Type' => $type });

	like(reply($r), qr!^415 text/plain; charset=utf-8\n!, "type $type");
}

$r = call('routed', no_headers => [ 'Content-Type' ]);

like(reply($r), qr!^415 text/plain; charset=utf-8\n!, 'no content type');

is(reply(call('routed', headers => { 'Content-Type' =>
	'application/x-www-form-urlencoded; charset=utf-8' })), dial(),
	'content type with charset');
is(reply(call('routed', headers => { 'Content-Type' =>
	'Application/X-WWW-Form-Urlencoded' })), dial(),
	'content type case');

# body size: 65536 bytes route, 65537 do not

my $fixed = length join '&',
	map { form_escape($_->[0]) . '=' . form_escape($_->[1]) }
	[ AccountSid => $ACCOUNT ], [ ApiVersion => '2010-04-01' ],
	[ CallSid => 'CA' . '0' x 32 ], [ CallStatus => 'ringing' ],
	[ Called => $CALLED ], [ Caller => $CALLER ],
	[ Direction => 'inbound' ], [ From => $CALLER ], [ To => $CALLED ],
	[ Pad => '' ];

my $pad = 'p' x (65536 - $fixed);

is(reply(call('routed', extra => [ [ Pad => $pad ] ])), dial(),
	'body 65536');
is(too_large(call('routed', extra => [ [ Pad => $pad . 'p' ] ])),
	'413 close', 'body 65537');
is(too_large(call('routed', extra => [ [ Pad => $pad . 'p' ] ],
	chunked => 4000)), '413 close', 'chunked body 65537');
is(reply(call('routed', extra => [ [ Pad => $pad ] ], chunked => 4000)),
	dial(), 'chunked body 65536');
is(reply(call('routed', chunked => 7)), dial(), 'chunked body');

is(too_large(call('routed', extra => [ [ Pad => 'p' x 300000 ] ])),
	'413 close', 'body 300k');

# malformed forms

for my $body ('From=%zz', 'CallSid=CA1&From=%4', 'a=%') {
	$r = http_request('POST', '/in/routed', body => $body, headers => {
		'Content-Type' => 'application/x-www-form-urlencoded' });

	is(reply($r), text(400, "malformed form body\n"), "malformed $body");
}

# bodies in temporary files

is(reply(call('infile')), dial(), 'body in file only');
is(reply(call('small')), dial(), 'body over buffer size');
is(reply(call('small', extra => [ [ Pad => 'p' x 5000 ] ])), dial(),
	'large body over buffer size');

# signatures

$r = call('routed', no_headers => [ 'X-Twilio-Signature' ]);
$sid{nosig} = $r->{sid};

is(reply($r), text(403, "forbidden\n"), 'no signature');

$r = call('routed', headers => {
	'X-Twilio-Signature' => encode_base64(hmac_sha1('x', $TOKEN), '') });
$sid{badsig} = $r->{sid};

is(reply($r), text(403, "forbidden\n"), 'bad signature');

# a configured URL with a query: signed with it

is(reply(call('/in/urlq?site=eu',
	url => 'http://voice.example.com/in/urlq?site=eu')), dial(),
	'webhook url with a query');
is(reply(call('/in/urlq?site=eu', url => 'http://voice.example.com/in/urlq')),
	text(403, "forbidden\n"), 'webhook url with a query, signed without');

# a dial's outcome sent here (an action that leads back): the spoken
# fallback, never a dial, not even to the fallback clients

$r = call('loop', extra => [ [ DialCallStatus => 'no-answer' ],
	[ StirVerstat => 'No-TN-Validation' ] ]);
$sid{loop} = $r->{sid};

is(reply($r), xml($FALLBACK), 'dial status: spoken fallback, no dial');
like(call('loop')->{body}, qr!<Dial [^>]*action="/in/loop"!,
	'no dial status: routed');

###############################################################################

# what the resolver receives

is(reply(call('/in/echo?tenant=7&From=x', headers => {
	'Cookie' => 'session=c00k1e',
	'User-Agent' => 'TwilioProxy/1.1',
	'X-Home-Region' => 'us1',
	'I-Twilio-Idempotency-Token' => 'idem-3f2a',
})), dial(ids => [ 'echo_1' ], params => []), 'echo routed');

my $req = eval { $t->read_file('echo.req') } || '';
my ($head, $body) = split /\x0d\x0a\x0d\x0a/, $req, 2;
$head = '' unless defined $head;

is($body, 'from_number=%2B15551234567&to_number=%2B15557654321',
	'resolver body');
like($head, qr!^POST /echo HTTP/1\.[01]\x0d\n!, 'resolver request line');
like($head, qr!^Content-Type: application/x-www-form-urlencoded\x0d?$!mi,
	'resolver content type');
like($head, qr!^Content-Length: 51\x0d?$!mi, 'resolver content length');
like($head, qr!^X-Resolver-Vars: application/x-www-form-urlencoded\|51\x0d?$!mi,
	'resolver variables');
unlike($head, qr/twilio|signature/i, 'resolver no signature');
unlike($head, qr/c00k1e|idem-|us1|^(?:Cookie|User-Agent|X-Home-Region):/mi,
	'resolver no webhook headers');
unlike($head, qr/\?/, 'resolver no query string');
unlike($head, qr/CA\d{32}|$DIGITS/, 'resolver headers hold no webhook data');

is(reply(call('echo_hash')), dial(ids => [ 'echo_1' ], params => []),
	'echo hash routed');

$req = eval { $t->read_file('echo_hash.req') } || '';
(undef, $body) = split /\x0d\x0a\x0d\x0a/, $req, 2;

is($body, 'from_hash=' . hmac_sha256_hex($CALLER, $HASH_KEY)
	. '&to_number=%2B15557654321', 'resolver hash body');

###############################################################################

$t->stop();

# nothing served holds the caller's number

is(join("\n", grep { /$DIGITS/ } @bodies), '', 'number not served');

# variables in the access log

my $hash = hmac_sha256_hex($CALLER, $HASH_KEY);
my $access = eval { $t->read_file('twanon.log') } || '';

sub access_line {
	my ($sid) = @_;
	my ($line) = grep { index($_, " $sid ") >= 0 } split /\n/, $access;
	return defined $line ? $line : 'not logged';
}

is(access_line($sid{routed}),
	"/in/routed client $sid{routed} $hash user001", 'log routed');
is(access_line($sid{s500}), "/in/s500 error $sid{s500} $hash -", 'log error');
is(access_line($sid{badjson}), "/in/badjson error $sid{badjson} $hash -",
	'log invalid reply');
is(access_line($sid{s404}), "/in/s404 unknown $sid{s404} $hash -",
	'log unknown');
is(access_line($sid{fclient}),
	"/in/fclient error $sid{fclient} $hash op_1,op_2", 'log fallback client');
is(access_line($sid{fclient404}),
	"/in/fclient404 unknown $sid{fclient404} $hash op_1,op_2",
	'log fallback client unknown');
like(access_line($sid{badsig}), qr!^/in/routed rejected $sid{badsig} !,
	'log rejected');
like($access, qr!^/in/routed rejected - !m, 'log rejected get');
unlike($access, qr/$DIGITS/, 'access log without number');

like(eval { $t->read_file('dial.log') } || '',
	qr!^/in/loop $sid{loop} dial=- stir=No-TN-Validation$!m,
	'log no dial status in twanon_incoming');

# error.log

my $log = $t->read_file('error.log');
my @lines = split /\n/, $log;

# the lines of a call, shown when its line is missing

sub call_lines {
	my ($sid) = @_;
	return join "\n", grep { !/\[debug\]/ && /call "$sid"/ } @lines;
}

is(logged($log, 'error', 'twanon: incoming-call webhook with '
	. '"DialCallStatus": a dial\'s action leads here, not to '
	. '"twanon_after_dial"; serving the fallback without a dial, '
	. qq{call "$sid{loop}"}), 1, 'log dial status in twanon_incoming');
is(logged($log, 'warn', 'twanon: caller unknown to the resolver, '
	. qq{serving the fallback, call "$sid{s404}"}), 1, 'log 404')
	or diag(call_lines($sid{s404}));

for my $case (
	[ 's500', 'unexpected status (status 500)' ],
	[ 'badjson', 'invalid JSON (status 200)' ],
	[ 'array', 'not a JSON object (status 200)' ],
	[ 'empty', 'empty reply (status 200)' ],
	[ 'noid', 'no identity (status 200)' ],
	[ 'dotid', 'invalid identity (status 200)' ],
	[ 'spaceid', 'invalid identity (status 200)' ],
	[ 'numid', 'invalid identity (status 200)' ],
	[ 'eleven', 'invalid identity (status 200)' ],
	[ 'emptyarr', 'invalid identity (status 200)' ],
	[ 'mixed', 'invalid identity (status 200)' ],
	[ 'id122', 'invalid identity (status 200)' ],
)
{
	my ($name, $reason) = @$case;

	is(logged($log, 'error', qq{twanon: resolver "/res/$name" $reason, }
		. qq{serving the fallback, call "$sid{$name}"}), 1, "log $name")
		or diag(call_lines($sid{$name}));
}

is(logged($log, 'info', 'twanon: malformed webhook body'), 3,
	'log malformed');
is(logged($log, 'warn', 'twanon: missing or repeated signature header, '
	. qq{call "$sid{nosig}"}), 1, 'log no signature')
	or diag(call_lines($sid{nosig}));
is(logged($log, 'warn', qq{twanon: invalid signature for }
	. qq{"http://localhost/in/routed" under the Auth Token (HMAC-SHA1), }
	. qq{call "$sid{badsig}"}), 1, 'log bad signature')
	or diag(call_lines($sid{badsig}));
is(scalar(grep { !/\[debug\]/ && /call "$sid{routed}"/ } @lines), 0,
	'log routed quiet');

is(join("\n", grep { /$DIGITS/ } split /\n/, $log), '',
	'error log without number');

is(join("\n", map { logged($log, 'info', qq{twanon: parameter "$_" cut }
	. qq{to fit Twilio's 800 bytes of parameters, call "$sid{budget}"}) }
	@BUDGET), '1 1 1 1 1 1 0' =~ s/ /\n/gr, 'log parameters cut');
is(scalar(grep { /cut to fit/ && /call "$sid{budget_fit}"/ } @lines), 0,
	'log parameters fit');
is(join("\n", grep { !/\[debug\]/ && /c{40}|\xc3\xa9\xc3\xa9|&&&&/ }
	@lines), '', 'log parameters without values');
unlike($log, qr/\Q$TOKEN\E|\Q$HASH_KEY\E/, 'error log without secrets');

###############################################################################

# the echo backend on 8082: each request is written to NAME.req in the
# test directory; the reply routes to "echo_1", or, for /latin1, carries
# bytes that are not UTF-8

sub echo_daemon {
	my ($port, $dir) = @_;

	my $server = IO::Socket::INET->new(
		Proto => 'tcp',
		LocalAddr => "127.0.0.1:$port",
		Listen => 16,
		ReuseAddr => 1,
	) or die "Can't create listening socket: $!\n";

	local $SIG{PIPE} = 'IGNORE';
	local $SIG{ALRM} = sub { die "timeout\n" };

	while (my $client = $server->accept()) {
		eval {
			alarm(5);

			my $req = read_request($client);
			$req = '' unless defined $req;
			my ($path) = $req =~ m!^\S+ /(\w+)!;
			$path = 'unknown' unless defined $path;

			open my $fh, '>', "$dir/$path.req" or die "$!\n";
			binmode $fh;
			print $fh $req;
			close $fh;

			my $reply = $path eq 'latin1'
				? '{"appId":"user001","customerName":"Jos'
					. "\xe9 \xff" . '!","customerId":"' . "\xc3" . '"}'
				: '{"appId":"echo_1"}';

			print $client "HTTP/1.0 200 OK\x0d\x0a"
				. "Content-Type: application/json\x0d\x0a"
				. 'Content-Length: ' . length($reply) . "\x0d\x0a"
				. "Connection: close\x0d\x0a\x0d\x0a" . $reply;

			alarm(0);
		};
		alarm(0);

		close $client;
	}
}


###############################################################################
