#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the operator console (html/) in a real headless Chromium:
# nginx serves the page, /token (twanon_token) and /incoming
# (twanon_incoming); a webhook signed here for a call from +15559876543
# gets the TwiML, and browser/console.test.js (playwright-core) drives the
# page with a test double of Twilio.Device that rings with the
# <Parameter>s of that TwiML and the caller's number in
# call.parameters.From. It checks what the operator sees (name, ID,
# ringing, timer, mute, hang up, cancel, errors, token refresh, second
# tab, Japanese, demo mode (a simulated call that rings out to the next
# group, then to voicemail), SDK errors explained, the documented
# Content-Security-Policy, an address with credentials), Decline by the
# twanonRinging rule (ignore, or reject when rung alone), call waiting,
# the token backoff on a fake clock, the ringtone devices and the
# "Caller ID not verified" badge (callerVerificationParameter on
# /verify/), and that the caller's digits appear nowhere in the page.
# Each "ok" line of the script is one test here; the docs' policy and SDK
# error table are checked against the page here too.
#
# nginx serves a copy of html/ in the test's prefix, which workers
# running as "nobody" (nginx started as root) can read wherever the
# checkout is, under /root (mode 700) too.
#
# Needs node, browser/node_modules ("npm ci" in t/browser) and
# /usr/bin/chromium (Debian's chromium package), which make's test targets
# install; skipped without them (prove run by hand), which CI refuses
# (t/allowed-skips), except when Node.js is older than 20, which
# playwright-core cannot run on and Debian 12's nodejs (18) is.

###############################################################################

use warnings;
use strict;

use Test::More;

use Cwd qw/ abs_path /;
use File::Copy qw/ copy /;
use File::Find qw/ find /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT parse_response run_command
	signed_form /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $NODE = (grep { -x "$_/node" } split(/:/, $ENV{PATH} || ''))[0];
skip_file('no node (make test installs it)') unless defined $NODE;
$NODE .= '/node';

my ($NODE_MAJOR) = `$NODE --version 2>/dev/null` =~ /^v(\d+)\./;
skip_file('playwright-core needs node 20 or newer')
	unless defined $NODE_MAJOR && $NODE_MAJOR >= 20;

my $CHROMIUM = $ENV{TWANON_CHROMIUM} || '/usr/bin/chromium';
skip_file("no $CHROMIUM (make test installs chromium)")
	unless -x $CHROMIUM;

skip_file('no browser/node_modules (make npm-deps)')
	unless -d 'browser/node_modules/playwright-core';

skip_file('no html/index.html') unless -f '../html/index.html';

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $KEY = 'SK' . 'fedcba9876543210fedcba9876543210';
my $SECRET = 'console-secret-3e91a7';
my $TOKEN = 'console-auth-token-7c20d4';

my $FROM = '+15559876543';
my $TO = '+15557654321';

my $t = Test::Twanon->new()->has(qw/http proxy rewrite/);

my $HTML = $t->testdir() . '/html';
copy_readable(abs_path('../html'), $HTML);

my $PORT = port(8080);

# signed sample webhooks for the demo location, one per caller: the
# demo's /demo/simulate proxies them to /incoming, as a newcomer's
# "Simulate incoming call" does

sub webhook {
	my ($uri, $from, $n) = @_;

	my @pairs = (
		AccountSid => $ACCOUNT,
		ApiVersion => '2010-04-01',
		CallSid => sprintf('CA%032x', 0xc0450 + $n),
		CallStatus => 'ringing',
		Direction => 'inbound',
		From => $from,
		To => $TO,
	);

	return signed_form($TOKEN, "http://localhost:$PORT$uri", @pairs);
}

my ($BODY1, $SIG1) = webhook('/incoming', $FROM, 1);
my ($BODY2, $SIG2) = webhook('/incoming_unknown', '+15550100999', 2);

my $CONFIG = '"tokenUrl":"/token","identity":"operator1"';

# the masked callback: the browser sends a customer ID, the module's
# /outgoing asks a resolver that names the number ($CALLEE, which the
# page must never show), or refuses C-9999 with the fallback <Say>;
# /outdemo/callback?customer=ID sends the request Twilio would, signed,
# as the demo's /demo/callback does

my $APP_SID = 'AP' . '0123456789abcdef' x 2;
my $CALLEE = '+15550123';
my $OUT_URL = 'https://console.twanon.invalid/outgoing';

sub callback {
	my ($customer, $n) = @_;

	my @pairs = (
		AccountSid => $ACCOUNT,
		ApiVersion => '2010-04-01',
		ApplicationSid => $APP_SID,
		CallSid => sprintf('CA%032x', 0xca11 + $n),
		CallStatus => 'ringing',
		Caller => 'client:operator1',
		Direction => 'inbound',
		From => 'client:operator1',
		To => '',
		customerId => $customer,
	);

	return signed_form($TOKEN, $OUT_URL, @pairs);
}

my ($OUT_BODY1, $OUT_SIG1) = callback('C-1001', 1);
my ($OUT_BODY2, $OUT_SIG2) = callback('C-9999', 2);

my $OUT_DEMO = '"demo":{"simulateUrl":"/demo/simulate",'
	. '"callbackUrl":"/outdemo/callback","callers":['
	. '{"id":"1","label":"Caller 1 (known customer)"}]}';

# the Content-Security-Policy that docs/console.md recommends, served for
# /csp/; /csp-old/ gets the one it replaced, which blocked the page's own
# data: favicon

my $DOCS = slurp('../docs/console.md');

my ($CSP) = $DOCS =~ /^add_header\s+Content-Security-Policy\s+"([^"]*)"/m;
$CSP = '' unless defined $CSP;

my $OLD_CSP = "default-src 'self'; script-src 'self'; connect-src 'self'"
	. " https://*.twilio.com wss://*.twilio.com;"
	. " media-src 'self' https://sdk.twilio.com";

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    types {
        text/html               html;
        text/css                css;
        application/javascript  js;
        application/json        json;
        image/png               png;
    }

    default_type  application/octet-stream;

    map \$request_body \$out_callee {
        "~(^|&)customer_id=C-1001(&|\$)"  '{"number":"$CALLEE"}';
        default  "";
    }

    twanon_account_sid  $ACCOUNT;
    twanon_api_key      $KEY;
    twanon_api_secret   $SECRET;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        root  $HTML;

        # one copy of the page per test config: each prefix gets its
        # own config.json

        location = /config.json {
            default_type  application/json;
            return 200 '{$CONFIG,"language":"en"}';
        }

        location /ja/ {
            alias  $HTML/;
        }

        location = /ja/config.json {
            default_type  application/json;
            return 200 '{$CONFIG,"language":"ja"}';
        }

        location /refresh/ {
            alias  $HTML/;
        }

        location = /refresh/config.json {
            default_type  application/json;
            return 200 '{"tokenUrl":"/token_short","identity":"operator1","language":"en"}';
        }

        location /fail/ {
            alias  $HTML/;
        }

        location = /fail/config.json {
            default_type  application/json;
            return 200 '{"tokenUrl":"/token_500","identity":"operator1","language":"en"}';
        }

        location /auth/ {
            alias  $HTML/;
        }

        location = /auth/config.json {
            default_type  application/json;
            return 200 '{"tokenUrl":"/token_401","identity":"operator1","language":"en"}';
        }

        location /net/ {
            alias  $HTML/;
        }

        location = /net/config.json {
            default_type  application/json;
            return 200 '{"tokenUrl":"/token_net","identity":"operator1","language":"en"}';
        }

        location /verify/ {
            alias  $HTML/;
        }

        location = /verify/config.json {
            default_type  application/json;
            return 200 '{$CONFIG,"language":"en","callerVerificationParameter":"stirVerdict"}';
        }

        location /demo/ {
            alias  $HTML/;
        }

        location /out/ {
            alias  $HTML/;
        }

        location = /out/config.json {
            default_type  application/json;
            return 200 '{$CONFIG,"language":"en","outgoing":true}';
        }

        location /out-ja/ {
            alias  $HTML/;
        }

        location = /out-ja/config.json {
            default_type  application/json;
            return 200 '{$CONFIG,"language":"ja","outgoing":true}';
        }

        location /outdemo/ {
            alias  $HTML/;
        }

        location = /outdemo/config.json {
            default_type  application/json;
            return 200 '{$CONFIG,"language":"en","outgoing":true,$OUT_DEMO}';
        }

        location = /outdemo/callback {
            rewrite  ^ /outdemo/callback_\$arg_customer? last;
        }

        location = /outdemo/callback_C-1001 {
            internal;
            proxy_pass                 http://127.0.0.1:8080/outgoing;
            proxy_method               POST;
            proxy_pass_request_headers off;
            proxy_set_header  Host                "localhost:$PORT";
            proxy_set_header  Content-Type        application/x-www-form-urlencoded;
            proxy_set_header  X-Twilio-Signature  "$OUT_SIG1";
            proxy_set_body    "$OUT_BODY1";
        }

        location = /outdemo/callback_C-9999 {
            internal;
            proxy_pass                 http://127.0.0.1:8080/outgoing;
            proxy_method               POST;
            proxy_pass_request_headers off;
            proxy_set_header  Host                "localhost:$PORT";
            proxy_set_header  Content-Type        application/x-www-form-urlencoded;
            proxy_set_header  X-Twilio-Signature  "$OUT_SIG2";
            proxy_set_body    "$OUT_BODY2";
        }

        location = /outgoing {
            twanon_outgoing;
            twanon_auth_token          $TOKEN;
            twanon_webhook_url         $OUT_URL;
            twanon_resolver            /out_resolver;
            twanon_outgoing_caller_id  +15557654321;
            twanon_token_outgoing_application_sid  $APP_SID;
        }

        location = /out_resolver {
            internal;
            default_type  application/json;

            if (\$out_callee = "") {
                return  404 '{"error":"unknown customer"}';
            }

            return  200 \$out_callee;
        }

        location /csp/ {
            alias       $HTML/;
            add_header  Content-Security-Policy "$CSP" always;
        }

        location = /csp/config.json {
            default_type  application/json;
            return 200 '{$CONFIG,"language":"en"}';
        }

        location /csp-old/ {
            alias       $HTML/;
            add_header  Content-Security-Policy "$OLD_CSP" always;
        }

        location = /csp-old/config.json {
            default_type  application/json;
            return 200 '{$CONFIG,"language":"en"}';
        }

        location = /demo/config.json {
            default_type  application/json;
            return 200 '{$CONFIG,"language":"en","demo":{"simulateUrl":"/demo/simulate","callers":[{"id":"1","label":"Caller 1 (known customer)"},{"id":"2","label":"Caller 2 (unknown number)"},{"id":"3","label":"Caller 3 (hangup after a ring)"},{"id":"4","label":"Caller 4 (no dial action)"}]}}';
        }

        # the demo's sample calls: a fixed signed webhook per caller,
        # proxied to the module's real /incoming; with &attempt=1 and
        # &attempt=2, the TwiML that demo.conf's /after-dial returns once
        # nobody answered the first and the second ring (a wider group,
        # then the voicemail), here as literals

        location = /demo/simulate {
            rewrite  ^ /demo/call\$arg_caller\$arg_attempt? last;
        }

        location = /demo/call11 {
            internal;
            default_type  text/xml;
            return 200 '<?xml version="1.0" encoding="UTF-8"?>
<Response><Dial answerOnBridge="true" timeLimit="3600" timeout="30" callerId="$TO" action="/after-dial?attempt=2"><Client><Identity>operator1</Identity><Parameter name="customerName" value="Hanako Yamada"/><Parameter name="customerId" value="C-1001"/><Parameter name="twanonRinging" value="2"/></Client><Client><Identity>operator2</Identity><Parameter name="customerName" value="Hanako Yamada"/><Parameter name="customerId" value="C-1001"/><Parameter name="twanonRinging" value="2"/></Client></Dial></Response>
';
        }

        # caller 3: after one ring, <Hangup/>; caller 4: a <Dial> with
        # no action, which ends the call when nobody answers

        location = /demo/call3 {
            internal;
            default_type  text/xml;
            return 200 '<?xml version="1.0" encoding="UTF-8"?>
<Response><Dial callerId="$TO" action="/after-dial"><Client><Identity>operator1</Identity><Parameter name="customerName" value="Kenji Sato"/><Parameter name="customerId" value="C-1004"/><Parameter name="twanonRinging" value="1"/></Client></Dial></Response>
';
        }

        location = /demo/call31 {
            internal;
            default_type  text/xml;
            return 200 '<?xml version="1.0" encoding="UTF-8"?>
<Response><Hangup/></Response>
';
        }

        location = /demo/call4 {
            internal;
            default_type  text/xml;
            return 200 '<?xml version="1.0" encoding="UTF-8"?>
<Response><Dial callerId="$TO"><Client><Identity>operator1</Identity><Parameter name="customerName" value="Kenji Sato"/><Parameter name="twanonRinging" value="1"/></Client></Dial></Response>
';
        }

        location = /demo/call12 {
            internal;
            default_type  text/xml;
            return 200 '<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say>Nobody could take your call. Please leave a message after the tone.</Say>
  <Record maxLength="120" playBeep="true"/>
</Response>
';
        }

        location = /demo/call1 {
            internal;
            proxy_pass                 http://127.0.0.1:8080/incoming;
            proxy_method               POST;
            proxy_pass_request_headers off;
            proxy_set_header  Host                "localhost:$PORT";
            proxy_set_header  Content-Type        application/x-www-form-urlencoded;
            proxy_set_header  X-Twilio-Signature  "$SIG1";
            proxy_set_body    "$BODY1";
        }

        location = /demo/call2 {
            internal;
            proxy_pass                 http://127.0.0.1:8080/incoming_unknown;
            proxy_method               POST;
            proxy_pass_request_headers off;
            proxy_set_header  Host                "localhost:$PORT";
            proxy_set_header  Content-Type        application/x-www-form-urlencoded;
            proxy_set_header  X-Twilio-Signature  "$SIG2";
            proxy_set_body    "$BODY2";
        }

        location = /token {
            twanon_token;
        }

        location = /token_short {
            twanon_token;
            twanon_token_ttl  64s;
        }

        location = /token_500 {
            return 500;
        }

        location = /token_401 {
            return 401;
        }

        # the <Dial> action (not served here) is what a demo call that
        # rings out asks next: /demo/call11 and /demo/call12 above

        location = /incoming {
            twanon_incoming;
            twanon_auth_token   $TOKEN;
            twanon_resolver     /resolver;
            twanon_dial_action  /after-dial;
        }

        location = /incoming_unknown {
            twanon_incoming;
            twanon_auth_token  $TOKEN;
            twanon_resolver    /resolver_unknown;
        }

        location = /resolver {
            internal;
            proxy_pass  http://127.0.0.1:8081/route;
        }

        location = /resolver_unknown {
            internal;
            proxy_pass  http://127.0.0.1:8081/unknown;
        }
    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        location = /route {
            return 200 '{"appId":"operator1","customerName":"Hanako Yamada","customerId":"C-1001","phone":"$FROM"}';
        }

        location = /unknown {
            return 404;
        }
    }
}

EOF

$t->run();

###############################################################################

# the webhook, signed here; its TwiML goes to the browser test

my $r = http_request('POST', '/incoming',
	headers => [
		'Host', "localhost:$PORT",
		'Content-Type', 'application/x-www-form-urlencoded',
		'X-Twilio-Signature', $SIG1,
	],
	body => $BODY1);

my $twiml = defined $r->{body} ? $r->{body} : '';
$t->write_file('twiml.xml', $twiml);

# the demo callbacks the browser test posts to: a <Dial><Number> for a
# known customer, the fallback <Say> for an unknown one

my $dial = http_request('POST', '/outdemo/callback?customer=C-1001',
	headers => [ 'Host', "localhost:$PORT" ]);
my $say = http_request('POST', '/outdemo/callback?customer=C-9999',
	headers => [ 'Host', "localhost:$PORT" ]);

# the browser test; each of its "ok" / "not ok" lines becomes a test

my ($rc, $out, $secs) = browser_test();

my @results;
my @notes;

for my $line (split /\n/, $out) {
	if ($line =~ /^(not )?ok - (.*)$/) {
		push @results, [ !defined $1, $2 ];

	} else {
		push @notes, $line;
	}
}

$t->plan(scalar(@results) + 12);

is($CSP, "default-src 'self'; script-src 'self'; connect-src 'self'"
	. " https://*.twilio.com wss://*.twilio.com;"
	. " media-src 'self' https://sdk.twilio.com; img-src 'self' data:",
	'documented csp');

# the SDK error codes that app.js explains and the table of docs/console.md

my $APP = slurp('../html/app.js');
my ($errors) = $APP =~ /^const SDK_ERRORS = \{\n(.*?)^\};/ms;
my @app_codes = sort(($errors || '') =~ /^    (\d{5}): \{/mg);
my ($section) = $DOCS =~ /^## SDK errors\n(.*?)(?=^## |\z)/ms;
my @doc_codes = sort(($section || '') =~ /^\| (\d{5}) \|/mg);

ok(@app_codes >= 15, 'app.js explains sdk errors') or diag("@app_codes");
is("@doc_codes", "@app_codes", 'docs list the same sdk errors');

is($r->{status}, 200, 'webhook answered');
my $client = '<Client><Identity>operator1</Identity>'
	. '<Parameter name="twanonRinging" value="1"/>'
	. '<Parameter name="customerName" value="Hanako Yamada"/>'
	. '<Parameter name="customerId" value="C-1001"/></Client>';

like($twiml, qr/\Q$client\E/, 'twiml parameters');
unlike($twiml, qr/5559876543/, 'no caller number in twiml');

like($dial->{body} || '', qr{<Dial [^>]*><Number>\Q$CALLEE\E</Number></Dial>},
	'callback dials the customer');
like($say->{body} || '', qr{<Say[^>]*>[^<]+</Say>}, 'callback refused');

diag(join("\n", @notes)) if @notes && ($rc != 0 || $ENV{TEST_NGINX_VERBOSE});

for my $res (@results) {
	ok($res->[0], "browser: $res->[1]");
}

ok(@results >= 30, 'browser checks ran') or diag("only " . @results);
is($rc, 0, 'browser test exit status');

diag(sprintf('browser test took %.1f s', $secs)) if $ENV{TEST_NGINX_VERBOSE};

$t->stop();

my $log = $t->read_file('error.log') . $t->read_file('access.log');

unlike($log, qr/\Q$SECRET\E|\Q$TOKEN\E/, 'no secrets in logs');

# the access log, and the error log less nginx's own debug lines (its map
# and script debugging prints the test resolver's reply)

my $ours = join("\n", grep { !/\[debug\]/ || /: \*\d+ twanon / }
	split /\n/, $log);

unlike($ours, qr/5550123/, 'no customer number in logs');

###############################################################################

sub slurp {
	my ($file) = @_;

	open my $fh, '<:encoding(UTF-8)', $file or die "Can't open $file: $!\n";
	local $/;
	my $text = <$fh>;
	close $fh;

	return $text;
}

# copies a directory, less node_modules, readable by all: files 0644,
# directories 0755

sub copy_readable {
	my ($from, $to) = @_;

	find({ no_chdir => 1, wanted => sub {
		if ($_ =~ m!/node_modules$!) {
			$File::Find::prune = 1;
			return;
		}

		my $dest = $to . substr($_, length $from);

		if (-d $_) {
			mkdir $dest or die "Can't mkdir $dest: $!\n" unless -d $dest;
			chmod 0755, $dest or die "Can't chmod $dest: $!\n";
			return;
		}

		copy($_, $dest) or die "Can't copy $_: $!\n";
		chmod 0644, $dest or die "Can't chmod $dest: $!\n";
	} }, $from);
}

# runs the browser test in its own process group, at most 180 s;
# returns (exit code, output, seconds)

sub browser_test {
	my $start = time();

	my ($rc, $out) = run_command({ timeout => 180, group => 1, env => {
		TWANON_BASE => "http://127.0.0.1:$PORT",
		TWANON_TWIML_FILE => $t->testdir() . '/twiml.xml',
		TWANON_CALLER => $FROM,
		TWANON_CALLEE => $CALLEE,
		TWANON_CHROMIUM => $CHROMIUM,
		TWANON_CSP => $CSP,
		TWANON_TO => $TO,
	} }, $NODE, 'browser/console.test.js');

	return ($rc, $out, time() - $start);
}

###############################################################################
