#!/usr/bin/perl

# Copyright (C) twanon authors

# Interoperability of twanon_incoming with Twilio's own helper library,
# through interop/webhook.js: requests signed by
# twilio.getExpectedTwilioSignature() are accepted, and refused once one
# byte of a parameter value is changed; the TwiML the module sends equals,
# parsed, the document twilio.twiml.VoiceResponse builds for the same dial
# (or say) settings.  Needs node and interop/node_modules ("npm ci" in
# t/interop; "make test" runs it).

###############################################################################

use warnings;
use strict;

use Test::More;


BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT node_path node form_escape twilio_signature /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

eval { require JSON::PP; };
skip_file('no JSON::PP (make test installs perl)') if $@;

skip_file('no node (make test installs it)') unless defined node_path();

skip_file('no interop/node_modules (make npm-deps)')
	unless -d 'interop/node_modules/twilio';

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $TOKEN = 'interop-auth-token-4c1e9a';
my $TOKEN2 = 'interop-auth-token-next-77b0';

my $FROM = '+15552223333';
my $TO = '+15557654321';

my $SAY = 'We are sorry, no one is available to take your call right now.'
	. ' Please try again later.';

my $t = Test::Twanon->new()->has(qw/http proxy/);

# a quoted heredoc: the resolver replies hold backslashes for nginx

my $conf = <<'EOF';

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        twanon_auth_token  __TOKEN__;
        twanon_resolver    /resolver;

        location = /resolver {
            internal;
            proxy_pass  http://127.0.0.1:8081/route;
        }

        location = /resolver_escape {
            internal;
            proxy_pass  http://127.0.0.1:8081/escape;
        }

        location = /resolver_unknown {
            internal;
            proxy_pass  http://127.0.0.1:8081/unknown;
        }

        location = /resolver_number {
            internal;
            proxy_pass  http://127.0.0.1:8081/number;
        }

        location = /outgoing {
            twanon_outgoing;
            twanon_resolver            /resolver_number;
            twanon_outgoing_caller_id  +15557654321;
        }

        location = /incoming {
            twanon_incoming;
        }

        location = /rotate {
            twanon_incoming;
            twanon_auth_token  __TOKEN__;
            twanon_auth_token  __TOKEN2__;
        }

        location = /fixed {
            twanon_incoming;
            twanon_webhook_url  https://voice.example.com/incoming;
        }

        location = /fixed_q {
            twanon_incoming;
            twanon_webhook_url  https://voice.example.com/incoming?site=eu;
        }

        location = /after_url {
            twanon_after_dial;
            twanon_dial_attempts  3;
            twanon_webhook_url    https://voice.example.com/after-dial;
            twanon_dial_action    /after-dial;
        }

        location = /after_url_q {
            twanon_after_dial;
            twanon_dial_attempts  3;
            twanon_webhook_url    https://voice.example.com/after-dial?site=eu;
            twanon_dial_action    /after-dial?site=eu;
        }

        location /calls/ {
            twanon_after_dial;
            twanon_dial_attempts  3;
        }

        location = /escape {
            twanon_incoming;
            twanon_resolver  /resolver_escape;
        }

        location = /custom {
            twanon_incoming;
            twanon_dial_answer_on_bridge  off;
            twanon_dial_time_limit        10m;
            twanon_dial_timeout           45s;
            twanon_dial_caller_id         +15550001111;
            twanon_dial_action            "https://example.com/after?x=1&y=2";
            twanon_client_parameter       displayName customerName;
            twanon_client_parameter       account customerId;
            twanon_client_parameter       tier;
        }

        location = /after {
            twanon_after_dial;
            twanon_dial_action  /after;
        }

        location = /after3 {
            twanon_after_dial;
            twanon_dial_attempts  3;
            twanon_dial_action    /after3;
        }

        location = /nocaller {
            twanon_incoming;
            twanon_dial_caller_id  off;
        }

        location = /fallback_say {
            twanon_incoming;
            twanon_resolver  /resolver_unknown;
        }

        location = /fallback_options {
            twanon_incoming;
            twanon_resolver      /resolver_unknown;
            twanon_fallback_say  language=ja-JP voice=alice
                                 "Sorry & <goodbye>";
        }

        location = /fallback_client {
            twanon_incoming;
            twanon_resolver         /resolver_unknown;
            twanon_fallback_client  alice bob_2;
        }
    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        location = /route {
            return 200 '{"appId":"user001","customerName":"Ann","customerId":"42"}';
        }

        location = /escape {
            return 200 '{"appId":["user001","agent_2"],"customerName":"O\'Hara <b> & \\"x\\"\\n\\ty","customerId":42,"tier":"gold"}';
        }

        location = /unknown {
            return 404;
        }

        location = /number {
            return 200 '{"number":"+15550100"}';
        }
    }
}

EOF

$conf =~ s/__TOKEN__/$TOKEN/g;
$conf =~ s/__TOKEN2__/$TOKEN2/g;

$t->write_file_expand('nginx.conf', $conf);

###############################################################################

my $PORT = port(8080);
my $BASE = "http://localhost:$PORT";

# the fields of a voice webhook, as Twilio sends them

my $n = 0;

sub call_sid {
	return sprintf('CA%032x', 0x1e7e0000 + ++$n);
}

sub fields {
	my ($sid) = @_;

	return (
		AccountSid => $ACCOUNT,
		ApiVersion => '2010-04-01',
		CallSid => $sid,
		CallStatus => 'ringing',
		Called => $TO,
		CalledCountry => 'US',
		Caller => $FROM,
		CallerCity => 'SAN FRANCISCO',
		Direction => 'inbound',
		From => $FROM,
		FromCountry => 'US',
		To => $TO,
		ToState => 'CA',
	);
}

# signature cases: name, uri, host, url signed, token, extra parameters
# (a value may be an array: the name is sent once per element), and the
# parameter whose value gets one byte changed ([ name, index ])

my @sign = (
	{ name => 'twilio fields', tamper => [ 'CallStatus' ] },
	{ name => 'url without port', url => 'http://localhost/incoming',
		tamper => [ 'To' ] },
	{ name => 'query string', uri => '/incoming?tenant=x&region=eu',
		tamper => [ 'CallStatus' ] },
	{ name => 'repeated keys', extra => [ a => [ '2', '1', '2' ],
		b => [ 'x' ], Z => [ 'z1', 'z0' ] ], tamper => [ 'a', 1 ] },
	{ name => 'unicode', extra => [
		CallerName => "Zo\xc3\xab \xe6\x9d\xb1\xe4\xba\xac",
		FromCity => "S\xc3\xa3o Paulo",
		Note => "\xf0\x9f\x98\x80 \xe2\x82\xac",
		"Cl\xc3\xa9" => 'v' ], tamper => [ 'FromCity' ] },
	{ name => 'unicode repeated', extra => [
		u => [ "\xc3\xa9", "e", "\xe2\x82\xac", "z" ] ],
		tamper => [ 'u', 2 ] },
	{ name => 'special characters', extra => [
		Digits => '+1 2&3=4%5',
		Quote => q{"<a href='x'>"},
		Slash => 'a/b?c#d',
		Tilde => '~!*()' ], tamper => [ 'Digits' ] },
	{ name => 'empty values', extra => [ e => '', f => [ '', 'x' ] ],
		tamper => [ 'f', 1 ] },
	{ name => 'names of mixed case', extra => [ b => '1', B => '2',
		_ => '3', a => '4', Z => '5', 'z.' => '6', '0' => '7' ],
		tamper => [ '_' ] },
	{ name => 'host without port', host => 'example.com',
		url => 'http://example.com/incoming', tamper => [ 'From' ] },
	{ name => 'host without port, url with port', host => 'example.com',
		url => 'http://example.com:80/incoming', tamper => [ 'From' ] },
	{ name => 'webhook url', uri => '/fixed',
		url => 'https://voice.example.com/incoming',
		tamper => [ 'Direction' ] },
	{ name => 'rotation next token', uri => '/rotate', token => $TOKEN2,
		tamper => [ 'ApiVersion' ] },
	{ name => 'webhook url with a query', uri => '/fixed_q?site=eu',
		url => 'https://voice.example.com/incoming?site=eu',
		tamper => [ 'Direction' ] },

	# the after-dial step: Twilio signs the action URL with its query

	{ name => 'after-dial', uri => '/after', extra => [
		DialCallStatus => 'no-answer', DialCallDuration => '0' ],
		tamper => [ 'DialCallDuration' ] },
	{ name => 'after-dial with attempt', uri => '/after3?attempt=2',
		extra => [ DialCallStatus => 'busy', DialBridged => 'false' ],
		tamper => [ 'DialBridged' ] },

	# ... and twanon_webhook_url gets the request's attempt appended

	{ name => 'after-dial url', uri => '/after_url',
		url => 'https://voice.example.com/after-dial',
		extra => [ DialCallStatus => 'no-answer' ],
		tamper => [ 'DialCallStatus' ] },
	{ name => 'after-dial url, attempt', uri => '/after_url?attempt=2',
		url => 'https://voice.example.com/after-dial?attempt=2',
		extra => [ DialCallStatus => 'no-answer' ],
		tamper => [ 'DialCallStatus' ] },
	{ name => 'after-dial url with a query', uri => '/after_url_q?site=eu',
		url => 'https://voice.example.com/after-dial?site=eu',
		extra => [ DialCallStatus => 'busy' ], tamper => [ 'To' ] },
	{ name => 'after-dial url with a query, attempt',
		uri => '/after_url_q?site=eu&attempt=2',
		url => 'https://voice.example.com/after-dial?site=eu&attempt=2',
		extra => [ DialCallStatus => 'busy' ], tamper => [ 'To' ] },

	# U+FF01 and U+1F600: twilio-node sorts names and the values of a
	# name by UTF-16 code units (U+1F600 is D83D DE00, before FF01), not
	# by code points or UTF-8 bytes (EF BC 81 before F0 9F 98 80)

	{ name => 'names beyond the bmp', extra => [
		"\xef\xbc\x81" => '1', "\xf0\x9f\x98\x80" => '2' ],
		tamper => [ "\xef\xbc\x81" ] },
	{ name => 'repeated values beyond the bmp', extra => [
		v => [ "\xef\xbc\x81", "\xf0\x9f\x98\x80" ] ],
		tamper => [ 'v', 0 ] },
);

for my $c (@sign) {
	$c->{uri} = '/incoming' unless defined $c->{uri};
	$c->{host} = "localhost:$PORT" unless defined $c->{host};
	$c->{url} = "$BASE$c->{uri}" unless defined $c->{url};
	$c->{token} = $TOKEN unless defined $c->{token};
	$c->{sid} = call_sid();
	$c->{params} = [ fields($c->{sid}), @{$c->{extra} || []} ];
}

# TwiML cases: uri, and what the document must hold, as the arguments of
# response.dial() and client.parameter(), or of response.say()

my $ann = [ { name => 'customerName', value => 'Ann' },
	{ name => 'customerId', value => '42' } ];

my $escaped = [ { name => 'customerName',
		value => qq{O'Hara <b> & "x"\n\ty} },
	{ name => 'customerId', value => '42' } ];

my $unknown = [ { name => 'customerName', value => 'Unknown caller' } ];

my %dial = (answerOnBridge => JSON::PP::true(), timeLimit => 3600,
	timeout => 30, callerId => $TO);

my @twiml = (
	[ 'after-dial hangup', '/after', { hangup => JSON::PP::true() },
		[ DialCallStatus => 'completed' ] ],
	[ 'after-dial next attempt', '/after3?attempt=2', {
		dial => { %dial, action => '/after3?attempt=3' },
		clients => [ { identity => 'user001', parameters => $ann } ] },
		[ DialCallStatus => 'no-answer' ] ],
	[ 'routed', '/incoming', {
		dial => { %dial },
		clients => [ { identity => 'user001', parameters => $ann } ] } ],
	[ 'routed escaped values, two clients', '/escape', {
		dial => { %dial },
		clients => [ { identity => 'user001', parameters => $escaped },
			{ identity => 'agent_2', parameters => $escaped } ] } ],
	[ 'routed dial settings', '/custom', {
		dial => { answerOnBridge => JSON::PP::false(), timeLimit => 600,
			timeout => 45, callerId => '+15550001111',
			action => 'https://example.com/after?x=1&y=2' },
		clients => [ { identity => 'user001', parameters => [
			{ name => 'displayName', value => 'Ann' },
			{ name => 'account', value => '42' } ] } ] } ],
	[ 'routed no caller id', '/nocaller', {
		dial => { answerOnBridge => JSON::PP::true(), timeLimit => 3600,
			timeout => 30 },
		clients => [ { identity => 'user001', parameters => $ann } ] } ],
	[ 'fallback client', '/fallback_client', {
		dial => { %dial },
		clients => [ { identity => 'alice', parameters => $unknown },
			{ identity => 'bob_2', parameters => $unknown } ] } ],
	[ 'fallback say', '/fallback_say', {
		say => { attributes => {}, text => $SAY } } ],
	[ 'fallback say options', '/fallback_options', {
		say => { attributes => { language => 'ja-JP', voice => 'alice' },
			text => 'Sorry & <goodbye>' } } ],
);

# the module's own parameter, first: how many browsers the dial rings

for my $clients (grep { defined } map { $_->[2]{clients} } @twiml) {
	$_->{parameters} = [
		{ name => 'twanonRinging', value => scalar @$clients },
		@{$_->{parameters}} ]
		for @$clients;
}

# the same documents against a wrong expectation: the comparison must
# see each of these

my @wrong = (
	[ 'timeout', '/incoming', sub { $_[0]{dial}{timeout} = 31 } ],
	[ 'identity', '/incoming',
		sub { $_[0]{clients}[0]{identity} = 'user002' } ],
	[ 'parameter order', '/incoming',
		sub { $_[0]{clients}[0]{parameters} = [ reverse @$ann ] } ],
	[ 'extra attribute', '/nocaller',
		sub { $_[0]{dial}{callerId} = $TO } ],
	[ 'client order', '/fallback_client',
		sub { @{$_[0]{clients}} = reverse @{$_[0]{clients}} } ],
	[ 'say text', '/fallback_say', sub { $_[0]{say}{text} .= ' ' } ],
);

# the action the after-dial step writes, followed as Twilio follows it:
# name, location, the URL Twilio signs for the first after-dial request
# (the location's path and this URL's query are requested), and the one
# its action leads to

my @follow = (
	[ 'configured url with a query', '/after_url_q',
		'https://voice.example.com/after-dial?site=eu',
		'https://voice.example.com/after-dial?site=eu&attempt=2' ],
	[ 'configured url', '/after_url',
		'https://voice.example.com/after-dial',
		'https://voice.example.com/after-dial?attempt=2' ],
	[ 'own url', '/calls/after-dial', "$BASE/calls/after-dial?site=eu",
		"$BASE/calls/after-dial?site=eu&attempt=2" ],
);

$t->run()->plan(3 * @sign + 3 + 2 * @twiml + @wrong + 7 * @follow + 5);

###############################################################################

my $json = JSON::PP->new->utf8->canonical;

# JSON::PP wants characters; the tests hold UTF-8 bytes

sub chars {
	my ($s) = @_;
	utf8::decode($s);
	return $s;
}

# the body: each name once per value, in the order given

sub body {
	my (@params) = @_;

	my @out;

	while (@params) {
		my ($k, $v) = splice(@params, 0, 2);

		for my $value (ref $v ? @$v : $v) {
			push @out, form_escape($k) . '=' . form_escape($value);
		}
	}

	return join('&', @out);
}

# the same parameters with one byte of one value changed

sub tampered {
	my ($tamper, @params) = @_;

	my ($name, $index) = @$tamper;
	my @out;
	my $done = 0;

	while (@params) {
		my ($k, $v) = splice(@params, 0, 2);

		if ($k eq $name && !$done) {
			my @values = ref $v ? @$v : ($v);
			my $i = defined $index ? $index : 0;

			substr($values[$i], -1, 1) =
				chr(ord(substr($values[$i], -1, 1)) ^ 1);

			$v = ref $v ? \@values : $values[0];
			$done = 1;
		}

		push @out, $k, $v;
	}

	die "no $name to change\n" unless $done;

	return @out;
}

sub outcome {
	my ($r) = @_;

	return 'no reply' unless defined $r->{status};
	return "$r->{status} $r->{body}";
}

sub webhook {
	my ($c, $sig, @params) = @_;

	return http_request('POST', $c->{uri}, headers => [
		'Host' => $c->{host},
		'Content-Type' => 'application/x-www-form-urlencoded',
		'X-Twilio-Signature' => $sig,
	], body => body(@params));
}

###############################################################################

# signatures by twilio.getExpectedTwilioSignature(), all in one run

my @input;

for my $c (@sign) {
	my %params;
	my @p = @{$c->{params}};

	while (@p) {
		my ($k, $v) = splice(@p, 0, 2);
		$params{chars($k)} = ref $v ? [ map { chars($_) } @$v ] : chars($v);
	}

	push @input, { id => $c->{sid}, authToken => $c->{token},
		url => $c->{url}, params => \%params };
}

my ($rc, $out) = node('interop/webhook.js', $json->encode({ sign => \@input }));

my %sig = $out =~ /^sig (CA[0-9a-f]{32}) (\S+)$/mg;
my @bad = grep { /^not ok/ } split /\n/, $out;

is($rc, 0, 'signatures from twilio') or diag($out);
is(join("\n", @bad), '', 'twilio validates its own signatures');
is(scalar keys %sig, scalar @sign, 'a signature per case');

my @sent;

for my $c (@sign) {
	my $sig = $sig{$c->{sid}};
	push @sent, $sig if defined $sig;
	$sig = 'none' unless defined $sig;

	my $r = webhook($c, $sig, @{$c->{params}});

	is($r->{status}, 200, "signed by twilio: $c->{name}")
		or diag(outcome($r));
	like($r->{body}, qr!<Identity>user001</Identity>!,
		"signed by twilio routed: $c->{name}");

	$r = webhook($c, $sig, tampered($c->{tamper}, @{$c->{params}}));

	is(outcome($r), "403 forbidden\n", "one byte changed: $c->{name}");
}

###############################################################################

# TwiML against twilio.twiml.VoiceResponse

my %doc;

for my $case (@twiml) {
	my ($name, $uri, $expect, $extra) = @$case;

	my $sid = call_sid();
	my @params = (fields($sid), @{$extra || []});
	my $c = { uri => $uri, host => "localhost:$PORT" };

	my $sig = twilio_signature($TOKEN, "$BASE$uri", @params);
	my $r = webhook($c, $sig, @params);

	is($r->{status}, 200, "twiml status: $name") or diag(outcome($r));

	$doc{$uri} = $r->{body};

	($rc, $out) = node('interop/webhook.js', $json->encode({
		twiml => chars(defined $r->{body} ? $r->{body} : ''),
		expect => $expect }));

	my @lines = split /\n/, $out;

	ok($rc == 0 && @lines == 4 && !grep({ !/^ok - / } @lines),
		"twiml matches twilio: $name") or diag("node exited with $rc:\n$out");
}

for my $case (@wrong) {
	my ($name, $uri, $change) = @$case;

	my ($expect) = map { $_->[2] } grep { $_->[1] eq $uri } @twiml;
	$expect = $json->decode($json->encode($expect));
	$change->($expect);

	($rc, $out) = node('interop/webhook.js', $json->encode({
		twiml => chars(defined $doc{$uri} ? $doc{$uri} : ''),
		expect => $expect }));

	ok($rc == 1 && $out =~ /^not ok - document matches twilio: /m,
		"comparison sees a wrong $name") or diag("node exited with $rc:\n$out");
}

# the action of each after-dial reply, resolved by node's URL parser
# against the URL requested, signed by twilio-node and requested in turn:
# accepted, and its attempt signed; the first request's signature does
# not hold for it

sub twilio_sign {
	my ($url, @p) = @_;

	my %params = @p;
	my ($rc, $out) = node('interop/webhook.js', $json->encode({
		authToken => $TOKEN, url => $url, params => \%params }));
	my ($sig) = $out =~ /^sig request (\S+)$/m;

	return defined $sig ? $sig : 'none';
}

sub follow_action {
	my ($base, $body) = @_;

	my ($action) = ($body || '') =~ /action="([^"]*)"/;
	return '' unless defined $action;

	$action =~ s/&amp;/&/g;

	my ($rc, $out) = node('interop/webhook.js', $json->encode({
		resolve => [ { base => $base, ref => $action } ] }));
	my ($url) = $out =~ /^url (\S+)$/m;

	return defined $url ? $url : '';
}

for my $f (@follow) {
	my ($name, $location, $url, $expect) = @$f;

	my @p = (fields(call_sid()), DialCallStatus => 'no-answer');
	my ($query) = $url =~ /(\?.*)$/;
	$query = '' unless defined $query;

	my $r = webhook({ uri => "$location$query", host => "localhost:$PORT" },
		twilio_sign($url, @p), @p);

	is($r->{status}, 200, "follow $name: first") or diag(outcome($r));

	my $next = follow_action($url, $r->{body});

	is($next, $expect, "follow $name: action resolved");

	my ($next_query) = $next =~ /(\?.*)$/;
	$next_query = '' unless defined $next_query;

	my $uri = $location eq '/calls/after-dial'
		? ($next =~ m!^https?://[^/]+(/.*)$! ? $1 : '/none')
		: "$location$next_query";

	$r = webhook({ uri => $uri, host => "localhost:$PORT" },
		twilio_sign($next, @p), @p);

	is($r->{status}, 200, "follow $name: second, signed by twilio")
		or diag(outcome($r));
	like($r->{body}, qr!<Identity>user001</Identity>!,
		"follow $name: second routed");

	my $last = follow_action($next, $r->{body});

	like($last, qr/[?&]attempt=3$/, "follow $name: third action");
	unlike($last, qr/attempt=2/, "follow $name: one attempt");

	$r = webhook({ uri => $uri, host => "localhost:$PORT" },
		twilio_sign($url, @p), @p);

	is(outcome($r), "403 forbidden\n", "follow $name: attempt not signed");
}

# the masked callback: a request that twilio-node signs, and the TwiML it
# gets, against VoiceResponse().dial({...}).number()

{
	my $sid = call_sid();
	my @p = (AccountSid => $ACCOUNT, ApiVersion => '2010-04-01',
		ApplicationSid => 'AP' . '0' x 32, CallSid => $sid,
		CallStatus => 'ringing', Caller => 'client:user001',
		Direction => 'inbound', From => 'client:user001', To => '',
		customerId => 'C-1001');

	($rc, $out) = node('interop/webhook.js', $json->encode({ sign => [ {
		id => $sid, authToken => $TOKEN, url => "$BASE/outgoing",
		params => { @p } } ] }));

	my ($sig) = $out =~ /^sig \Q$sid\E (\S+)$/m;

	my $r = webhook({ uri => '/outgoing', host => "localhost:$PORT" },
		defined $sig ? $sig : 'none', @p);

	is($r->{status}, 200, 'outgoing signed by twilio') or diag(outcome($r));

	($rc, $out) = node('interop/webhook.js', $json->encode({
		twiml => chars(defined $r->{body} ? $r->{body} : ''),
		expect => { dial => { %dial }, number => '+15550100' } }));

	is($rc, 0, 'outgoing twiml matches twilio') or diag($out);
}

###############################################################################

$t->stop();

my $log = $t->read_file('error.log');
my @lines = grep { /twanon/ } split /\n/, $log;

is(join("\n", grep { my $l = $_; grep { index($l, $_) >= 0 }
	$TOKEN, $TOKEN2, @sent } @lines), '', 'no secret in module lines');
# one warn line per call, for the request with a byte changed

my @count = map { my $sid = $_->{sid};
		scalar grep { /\[warn\] .*twanon: invalid signature for "[^"]*" under .*, call "$sid"/ }
			@lines }
	@sign;

is(join(' ', @count), join(' ', (1) x @count),
	'one warn line per changed byte');
unlike($log, qr/\Q$TOKEN\E|\Q$TOKEN2\E/, 'no auth token in error log');

###############################################################################

# the signature for the TwiML requests, computed the way the module checks
# it (twanon_signature.t covers this side)


###############################################################################
