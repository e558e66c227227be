#!/usr/bin/perl

# Copyright (C) twanon authors

# The after-dial step (twanon_after_dial, twanon_dial_attempts): Twilio's
# request to a <Dial>'s action URL.  An answered or canceled call is hung
# up; one nobody answered rings the next attempt's operators, found by a
# second lookup that tells the resolver the attempt and the dial status
# in its body, or gets the fallback; the attempt travels in the action's
# query, which the signature covers.  StirVerstat reaches the resolver
# and $twanon_stir_verstat.  The caller's number is in no log line and in
# no URI the resolver sees.

###############################################################################

use warnings;
use strict;

use Test::More;

use File::Temp qw/ tempdir /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT webhook_request reply logged forking_server
	read_request backlog_request json_response conf_fails conf_passes /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $TOKEN = 'after-dial-token-3a9c';
my $FROM = '+15552224444';
my $TO = '+15557654321';
my $DIGITS = qr/5552224444/;

my $DECL = qq{<?xml version="1.0" encoding="UTF-8"?>\n};
my $HANGUP = "200 text/xml; charset=utf-8\n$DECL"
	. "<Response><Hangup/></Response>\n";
my $FALLBACK = "200 text/xml; charset=utf-8\n$DECL"
	. '<Response><Say>We are sorry, no one is available to take your call'
	. " right now. Please try again later.</Say></Response>\n";
my $VOICEMAIL = qq{<?xml version="1.0" encoding="UTF-8"?>\n}
	. '<Response><Say>Please leave a message.</Say><Record maxLength="60"/>'
	. "</Response>\n";

# the resolver backend logs what it receives, the number included by
# design: outside the test's prefix, whose logs must not hold it

my $backlog = tempdir(CLEANUP => 1) . '/resolver.log';

my $t = Test::Twanon->new()->has(qw/http proxy/);

$t->write_file('voicemail.xml', $VOICEMAIL);

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    log_format  calls  '\$uri route=\$twanon_route status=\$twanon_dial_status '
                       'stir=\$twanon_stir_verstat call=\$twanon_call_sid';

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        access_log  %%TESTDIR%%/calls.log  calls;

        twanon_auth_token   $TOKEN;
        twanon_resolver     /resolver;

        location = /resolver {
            internal;
            proxy_set_header  X-Call  \$twanon_call_sid;
            proxy_pass        http://127.0.0.1:8081/route;
        }

        location = /resolver_down {
            internal;
            proxy_set_header  X-Call  \$twanon_call_sid;
            proxy_pass        http://127.0.0.1:8081/fail;
        }

        location = /resolver_any {
            internal;
            proxy_pass  http://127.0.0.1:8082/any;
        }

        location = /incoming {
            twanon_incoming;
            twanon_dial_action  /after;
        }

        location = /after {
            twanon_after_dial;
            twanon_dial_action  /after;
        }

        location = /after3 {
            twanon_after_dial;
            twanon_dial_attempts  3;
            twanon_dial_action    /after3?tenant=a;
        }

        location = /after1 {
            twanon_after_dial;
            twanon_dial_attempts  1;
        }

        location = /after_down {
            twanon_after_dial;
            twanon_dial_action     /after;
            twanon_resolver        /resolver_down;
            twanon_fallback_twiml  %%TESTDIR%%/voicemail.xml;
        }

        location = /after_url {
            twanon_after_dial;
            twanon_webhook_url  http://voice.example.com/after_url;
            twanon_dial_action  /after_url;
        }

        location = /after_q {
            twanon_after_dial;
            twanon_webhook_url  http://voice.example.com/after_q?site=eu;
            twanon_dial_action  /after_q?site=eu;
        }

        location /own/ {
            twanon_after_dial;
            twanon_dial_attempts  3;
            twanon_resolver       /resolver_any;
        }

        location = /loop {
            twanon_incoming;
            twanon_dial_action      /loop;
            twanon_fallback_client  alice;
        }

        location = /outgoing {
            twanon_outgoing;
            twanon_outgoing_caller_id  +15557654321;
        }
    }

    server {
        listen       127.0.0.1:8082;
        server_name  localhost;

        location / {
            return 200 '{"appId":"tier3","customerName":"Ann","customerId":42}';
        }
    }
}

EOF

$t->run_backend(8081, \&forking_server, \&serve);

$t->run()->plan(83);

###############################################################################

my $n = 0;
my %sid;

# a signed webhook: uri (with its query), the dial status (undef: none),
# more fields; o{signed} is the URL signed instead of the one requested,
# o{call_status} the CallStatus, o{from} the From

sub hook {
	my ($name, $uri, $status, %o) = @_;

	my $sid = sprintf('CA%032x', 0xaf7e0000 + ++$n);
	$sid{$name} = $sid;

	my @pairs = (
		AccountSid => 'AC' . '0' x 32,
		CallSid => $sid,
		CallStatus => $o{call_status} || 'in-progress',
		Direction => 'inbound',
		From => $o{from} || $FROM,
		To => $TO,
		defined $status ? (DialCallStatus => $status,
			DialCallSid => 'CA' . 'f' x 32, DialCallDuration => '0',
			DialBridged => 'false') : (),
		@{$o{pairs} || []},
	);

	return reply(webhook_request($uri, token => $TOKEN, pairs => \@pairs,
		defined $o{signed} ? (url => $o{signed}) : ()));
}

sub dial {
	my ($action, @ids) = @_;

	my $p = '<Parameter name="twanonRinging" value="' . @ids . '"/>'
		. '<Parameter name="customerName" value="Ann"/>'
		. '<Parameter name="customerId" value="42"/>';

	return "200 text/xml; charset=utf-8\n$DECL"
		. '<Response><Dial answerOnBridge="true" timeLimit="3600"'
		. qq{ timeout="30" callerId="$TO" action="$action">}
		. join('', map { "<Client><Identity>$_</Identity>$p</Client>" }
			@ids)
		. "</Dial></Response>\n";
}

my $INVALID = "400 text/plain; charset=utf-8\ninvalid webhook fields\n";

###############################################################################

# the first step: its action carries no attempt; StirVerstat goes on

is(hook('first', '/incoming', undef,
	pairs => [ StirVerstat => 'TN-Validation-Passed-A' ]),
	dial('/after', 'tier1'), 'first step');

# an answered, completed or canceled dial: hang up, nobody asked

is(hook('completed', '/after', 'completed'), $HANGUP, 'completed: hangup');
is(hook('answered', '/after', 'answered'), $HANGUP, 'answered: hangup');
is(hook('canceled', '/after', 'canceled'), $HANGUP, 'canceled: hangup');

# nobody answered: the next attempt, its number in the action

is(hook('no-answer', '/after', 'no-answer',
	pairs => [ StirVerstat => 'TN-Validation-Failed' ]),
	dial('/after?attempt=2', 'tier2a', 'tier2b'),
	'no-answer: attempt 2 rung');
is(hook('busy', '/after', 'busy'), dial('/after?attempt=2', 'tier2a',
	'tier2b'), 'busy: attempt 2 rung');
is(hook('failed', '/after', 'failed'), dial('/after?attempt=2', 'tier2a',
	'tier2b'), 'failed: attempt 2 rung');

# the last attempt ended: the fallback, without a lookup

is(hook('exhausted', '/after?attempt=2', 'no-answer'), $FALLBACK,
	'attempt 2 of 2: fallback');
is(hook('one attempt', '/after1', 'busy'), $FALLBACK,
	'twanon_dial_attempts 1: fallback');

# three attempts, an action with a query of its own

is(hook('three', '/after3?tenant=a', 'no-answer'),
	dial('/after3?tenant=a&amp;attempt=2', 'tier2a', 'tier2b'),
	'attempt 2 of 3, action with a query');
is(hook('three unknown', '/after3?tenant=a&attempt=2', 'busy'), $FALLBACK,
	'attempt 3: unknown to the resolver, fallback');
is(hook('three done', '/after3?tenant=a&attempt=3', 'busy'), $FALLBACK,
	'attempt 3 of 3: fallback');

# the second lookup fails: the location's fallback, here a voicemail

is(hook('down', '/after_down', 'no-answer'),
	"200 text/xml; charset=utf-8\n$VOICEMAIL", 'resolver down: voicemail');

# a configured URL gets the request's query for the signature

is(hook('url', '/after_url?attempt=2', 'busy',
	signed => 'http://voice.example.com/after_url?attempt=2'), $FALLBACK,
	'configured url with the query signed');
like(hook('url unsigned query', '/after_url?attempt=2', 'busy',
	signed => 'http://voice.example.com/after_url'), qr/^403 /,
	'configured url: query not signed, refused');

# a forged attempt: the signature no longer matches

like(hook('forged', '/after?attempt=2', 'no-answer',
	signed => 'http://localhost/after'), qr/^403 /, 'forged attempt: 403');

# a configured URL with a query of its own: the action keeps it, and the
# attempt is signed appended to it, as Twilio requests the action

my $first = hook('query first', '/after_q?site=eu', 'no-answer',
	signed => 'http://voice.example.com/after_q?site=eu');
is($first, dial('/after_q?site=eu&amp;attempt=2', 'tier2a', 'tier2b'),
	'configured url with a query: attempt 2 rung');

my ($action) = $first =~ /action="([^"]*)"/;
$action = '/none' unless defined $action;
$action =~ s/&amp;/&/g;

is(hook('query second', $action, 'no-answer',
	signed => "http://voice.example.com$action"), $FALLBACK,
	'configured url with a query: its action, signed, accepted');
like(hook('query unsigned attempt', '/after_q?site=eu&attempt=2', 'busy',
	signed => 'http://voice.example.com/after_q?site=eu'), qr/^403 /,
	'configured url with a query: unsigned attempt refused');
like(hook('query other', '/after_q?site=us&attempt=2', 'busy',
	signed => 'http://voice.example.com/after_q?site=us&attempt=2'),
	qr/^403 /, 'configured url with a query: another query refused');

# no twanon_dial_action: the last segment of the request's own path, and
# its query less the attempt

is(hook('own', '/own/after?site=eu&attempt=2&x', 'no-answer'),
	dial('after?site=eu&amp;x&amp;attempt=3', 'tier3'),
	'own uri as the action');
is(hook('own colon', '/own/a:b', 'busy'), dial('./a:b?attempt=2', 'tier3'),
	'own uri with a colon as the action');

# the caller hung up while the dial rang: hang up, nobody asked

is(hook('gone completed', '/after', 'no-answer',
	call_status => 'completed'), $HANGUP, 'caller gone: hangup');
is(hook('gone canceled', '/after', 'busy', call_status => 'canceled'),
	$HANGUP, 'caller canceled: hangup');

# an unknown status with odd bytes, on the last attempt

is(hook('odd status', '/after?attempt=2', "x\x01\"\\" . 'y' x 40),
	$FALLBACK, 'odd DialCallStatus: no-answer, last attempt');

# a dial's outcome sent to an incoming-call location: no dial again

is(hook('loop', '/loop', 'no-answer'), $FALLBACK,
	'incoming with DialCallStatus: spoken fallback');
is(hook('incoming whatever', '/incoming', 'whatever',
	pairs => [ StirVerstat => 'TN-Validation-Passed-A' ]), $FALLBACK,
	'incoming with an unknown DialCallStatus: spoken fallback');
like(hook('outgoing whatever', '/outgoing', 'whatever',
	from => 'client:user001',
	pairs => [ StirVerstat => 'TN-Validation-Passed-A' ]), qr/^200 /,
	'outgoing with DialCallStatus');

# invalid input: 400

is(hook('no status', '/after', undef), $INVALID, 'no DialCallStatus');
is(hook('unknown status', '/after', 'ringing'), dial('/after?attempt=2',
	'tier2a', 'tier2b'), 'unknown DialCallStatus');
is(hook('status twice', '/after', 'busy',
	pairs => [ DialCallStatus => 'busy' ]), $INVALID, 'DialCallStatus twice');
is(hook('attempt 3 of 2', '/after?attempt=3', 'busy'), $FALLBACK,
	'attempt over the maximum');
is(hook('attempt 1', '/after?attempt=1', 'busy'), $INVALID, 'attempt 1');
is(hook('attempt 0', '/after?attempt=0', 'busy'), $INVALID, 'attempt 0');
is(hook('attempt 01', '/after?attempt=01', 'busy'), $INVALID, 'attempt 01');
is(hook('attempt 02', '/after?attempt=02', 'busy'), $INVALID,
	'attempt with a zero');
is(hook('attempt x', '/after?attempt=x', 'busy'), $INVALID,
	'attempt not a number');
is(hook('attempt empty', '/after?attempt=', 'busy'), $INVALID,
	'attempt empty');
is(hook('attempt twice', '/after?attempt=2&attempt=2', 'busy'), $INVALID,
	'attempt twice');
is(hook('attempt bare', '/after?attempt', 'busy'), $INVALID,
	'attempt without a value');
is(hook('attempt after a bare one', '/after?attempt&attempt=2', 'busy'),
	$INVALID, 'attempt after one without a value');
is(hook('bad stir', '/after', 'busy',
	pairs => [ StirVerstat => 'not valid!' ]), $INVALID,
	'malformed StirVerstat');

###############################################################################

$t->stop();

# what the resolver received: one lookup per step that rang or tried to

open my $bfh, '<', $backlog or die "Can't open $backlog: $!\n";
my @got = map { chomp; $_ } <$bfh>;
close $bfh;
my %body = map { /call=(\w+) (.*)/ ? ($1 => $2) : () } @got;

is(scalar(grep { !m!^/route call=! && !m!^/fail call=! } @got), 0,
	'resolver uris: /route and /fail only');
like($body{$sid{first}}, qr/^from_number=%2B15552224444&to_number=%2B15557654321&stir_verstat=TN-Validation-Passed-A$/,
	'first lookup body');
like($body{$sid{'no-answer'}}, qr/&stir_verstat=TN-Validation-Failed&attempt=2&dial_status=no-answer$/,
	'second lookup body');
like($body{$sid{busy}}, qr/[^_]&attempt=2&dial_status=busy$/,
	'busy lookup body');
like($body{$sid{'three unknown'}}, qr/&attempt=3&dial_status=busy$/,
	'third lookup body');
is(join(' ', grep { exists $body{$sid{$_}} } qw/ completed answered
	canceled exhausted forged url /, 'one attempt', 'three done',
	'no status', 'bad stir', 'attempt bare', 'attempt after a bare one'),
	'', 'no lookup when none is needed');
is(scalar(grep { /^\/fail call=$sid{down} / } @got), 1, 'down: one lookup');

is(join(' ', grep { exists $body{$sid{$_}} } 'gone completed',
	'gone canceled', 'loop', 'incoming whatever', 'outgoing whatever'), '',
	'no lookup for a caller gone or a dial sent to /incoming');

# the variables

my $calls = $t->read_file('calls.log');

like($calls, qr!^/after route=answered status=completed stir=- call=$sid{completed}$!m,
	'log completed');
like($calls, qr!^/after route=canceled status=canceled stir=- call=$sid{canceled}$!m,
	'log canceled');
like($calls, qr!^/after route=client status=no-answer stir=TN-Validation-Failed call=$sid{'no-answer'}$!m,
	'log next attempt');
like($calls, qr!^/after route=exhausted status=no-answer stir=- call=$sid{exhausted}$!m,
	'log exhausted');
like($calls, qr!^/incoming route=client status=- stir=TN-Validation-Passed-A call=$sid{first}$!m,
	'log first step');
like($calls, qr!^/after route=canceled status=no-answer stir=- call=$sid{'gone completed'}$!m,
	'log caller gone');
like($calls, qr!^/loop route=error status=- stir=- call=$sid{loop}$!m,
	'log dial sent to /incoming');
like($calls, qr!^/incoming route=error status=- stir=TN-Validation-Passed-A call=$sid{'incoming whatever'}$!m,
	'log incoming: no dial status');
like($calls, qr!^/outgoing route=refused status=- stir=- call=$sid{'outgoing whatever'}$!m,
	'log outgoing: no dial status, no stir');
like($calls, qr!^/after route=client status=no-answer stir=- call=$sid{'unknown status'}$!m,
	'log unknown status');

my $log = $t->read_file('error.log');

is(logged($log, 'info', 'twanon: no attempt left after "no-answer", serving '
	. qq{the fallback, call "$sid{exhausted}"}), 1, 'log no attempt left');
is(logged($log, 'warn', 'twanon: after-dial webhook with an unknown '
	. qq{"DialCallStatus" "ringing", taken as "no-answer", }
	. qq{call "$sid{'unknown status'}"}), 1, 'log unknown status line');
is(logged($log, 'warn', 'twanon: after-dial webhook with an unknown '
	. '"DialCallStatus" "x\\x01\\x22\\x5c' . 'y' x 28 . '...", taken as '
	. qq{"no-answer", call "$sid{'odd status'}"}), 1,
	'log odd status line');
unlike($log, qr/\x01/, 'no raw byte in the log');
is(logged($log, 'error', 'twanon: incoming-call webhook with '
	. '"DialCallStatus": a dial\'s action leads here, not to '
	. '"twanon_after_dial"; serving the fallback without a dial, '
	. qq{call "$sid{loop}"}), 1, 'log dial sent to /incoming');
is(logged($log, 'info', 'twanon: after-dial webhook with attempt 3, above '
	. qq{"twanon_dial_attempts" 2, call "$sid{'attempt 3 of 2'}"}), 1,
	'log attempt above the maximum');
is(logged($log, 'info', 'twanon: after-dial webhook with no '
	. qq{"DialCallStatus", call "$sid{'no status'}"}), 1,
	'log no status line');
is(logged($log, 'info', 'twanon: after-dial webhook with an invalid '
	. qq{"attempt", call "$sid{'attempt x'}"}), 1, 'log invalid attempt');
is(logged($log, 'warn', 'twanon: caller unknown to the resolver, serving '
	. qq{the fallback, call "$sid{'three unknown'}"}), 1,
	'log unknown on attempt 3');

is(join("\n", grep { /$DIGITS/ } split /\n/, $log . $calls), '',
	'no caller number in the logs');
unlike($calls, qr/not valid/, 'a refused StirVerstat is not shown');

###############################################################################

# nginx -t

sub conf {
	my ($location) = @_;

	return <<"EOF";

%%TEST_GLOBALS%%

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        twanon_auth_token  $TOKEN;
        twanon_resolver    /resolver;

        location /after {
$location
        }
    }
}

EOF
}

conf_passes('no action', conf("twanon_after_dial;\n"));
conf_fails('action with a fragment',
	conf("twanon_after_dial;\ntwanon_dial_action  /after#t;\n"),
	'twanon_dial_action', '"twanon_dial_action" "/after#t" has a fragment '
	. '("#"), which Twilio drops with what follows in FILE:LINE');
conf_fails('action with an attempt',
	conf("twanon_after_dial;\ntwanon_dial_action  /after?x=1&attempt=2;\n"),
	'twanon_dial_action', '"twanon_dial_action" "/after?x=1&attempt=2" has '
	. 'an "attempt" parameter: the after-dial step appends its own in '
	. 'FILE:LINE');
conf_fails('webhook url with an attempt', conf("twanon_after_dial;\n"
	. "twanon_webhook_url  https://x.example.com/after?attempt;\n"),
	'twanon_after_dial;', '"twanon_webhook_url" '
	. '"https://x.example.com/after?attempt" of "twanon_after_dial" in '
	. 'FILE:LINE has an "attempt" parameter: the after-dial step appends '
	. 'its own');
conf_fails('webhook url with a fragment', conf("twanon_after_dial;\n"
	. "twanon_webhook_url  https://x.example.com/after#t;\n"),
	'twanon_after_dial;', '"twanon_webhook_url" '
	. '"https://x.example.com/after#t" of "twanon_after_dial" in '
	. 'FILE:LINE has a fragment ("#"), which Twilio drops with what '
	. 'follows');
conf_passes('one attempt, no action',
	conf("twanon_after_dial;\ntwanon_dial_attempts  1;\n"));
conf_fails('11 attempts', conf("twanon_after_dial;\ntwanon_dial_action  /after;\n"
	. "twanon_dial_attempts  11;\n"), 'twanon_dial_attempts',
	'"twanon_dial_attempts" must be between 1 and 10 in FILE:LINE');

###############################################################################

# the resolver backend: logs "uri call=CallSid body", answers by attempt

sub serve {
	my ($client) = @_;

	my $req = read_request($client);
	return unless defined $req;

	my ($uri, $body) = backlog_request($backlog, $req);

	my ($attempt) = $body =~ /(?:^|&)attempt=(\d+)/;
	my ($status, $json) = (200, '{"appId":"tier1","customerName":"Ann",'
		. '"customerId":42}');

	if ($uri ne '/route') {
		$status = 500;
		$json = '{}';

	} elsif (defined $attempt && $attempt == 2) {
		$json = '{"appId":["tier2a","tier2b"],"customerName":"Ann",'
			. '"customerId":42}';

	} elsif (defined $attempt) {
		$status = 404;
		$json = '{}';
	}

	print $client json_response($status, $json);
}

###############################################################################
