#!/usr/bin/perl

# Copyright (C) twanon authors

# The masked callback (twanon_outgoing): the TwiML App's Voice URL for a
# call an operator's browser places by customer ID.  The module checks
# the signature, ApplicationSid, From ("client:" and an allowed identity)
# and the fields; asks the resolver with the operator, the customer ID
# and the CallSid in a POST body; and dials the number the resolver
# names, with its callerId or twanon_outgoing_caller_id, or refuses with
# the fallback, as it refuses a call without a field that
# twanon_token_outgoing_param names.  The number is in no log line and in
# no URI.  nginx -t warns of a location without
# twanon_token_outgoing_application_sid.

###############################################################################

use warnings;
use strict;

use Test::More;

use Digest::SHA qw/ hmac_sha256_hex /;
use File::Temp qw/ tempdir /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT webhook_request reply forking_server
	read_request backlog_request json_response conf_fails conf_passes
	conf_warns /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $TOKEN = 'outgoing-token-7e21';
my $HASH_KEY = 'outgoing-hash-key-0c3d';
my $APP = 'AP' . '0123456789abcdef' x 2;
my $CALLER_ID = '+15557654321';
# the customers' numbers (the caller IDs are the company's own)
my $DIGITS = qr/555010\d/;

my $DECL = qq{<?xml version="1.0" encoding="UTF-8"?>\n};
my $REFUSED = "200 text/xml; charset=utf-8\n$DECL"
	. "<Response><Say>This call cannot be placed.</Say></Response>\n";

my $backlog = tempdir(CLEANUP => 1) . '/resolver.log';

my $t = Test::Twanon->new()->has(qw/http proxy/);

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    log_format  calls  '\$uri route=\$twanon_route '
                       'hash=\$twanon_callee_hash call=\$twanon_call_sid';

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        access_log  %%TESTDIR%%/calls.log  calls;

        twanon_auth_token                      $TOKEN;
        twanon_hash_key                        $HASH_KEY;
        twanon_resolver                        /resolver;
        twanon_resolver_timeout                1s;
        twanon_token_outgoing_application_sid  $APP;
        twanon_outgoing_caller_id              $CALLER_ID;
        twanon_token_outgoing_param            team  sales;

        location = /resolver {
            internal;
            proxy_set_header  X-Call  \$twanon_call_sid;
            proxy_pass        http://127.0.0.1:8081/route;
        }

        location = /outgoing {
            twanon_outgoing;
        }

        location = /ticket {
            twanon_outgoing;
            twanon_outgoing_param  ticket;
        }

        location = /header {
            twanon_outgoing;
            twanon_outgoing_caller_id  \$http_x_caller_id;
        }

        location = /say {
            twanon_outgoing;
            twanon_fallback_say  "Not now.";
        }
    }
}

EOF

$t->run_backend(8081, \&forking_server, \&serve);

$t->run()->plan(57);

###############################################################################

my $n = 0;
my %sid;

# an outgoing call's request, signed; o{from}, o{app}, o{team} (the token
# param, "sales" unless given; undef: none), o{fields} (more fields),
# o{sig} (a signature to send instead), o{headers}

sub call {
	my ($name, $uri, $customer, %o) = @_;

	my $sid = sprintf('CA%032x', 0x0a770000 + ++$n);
	$sid{$name} = $sid;

	my @pairs = (
		AccountSid => 'AC' . '0' x 32,
		ApiVersion => '2010-04-01',
		defined $o{app} || !exists $o{app}
			? (ApplicationSid => exists $o{app} ? $o{app} : $APP) : (),
		CallSid => $sid,
		CallStatus => 'ringing',
		Called => '',
		Caller => 'client:op_1',
		Direction => 'inbound',
		defined $o{from} || !exists $o{from}
			? (From => exists $o{from} ? $o{from} : 'client:op_1') : (),
		To => '',
		defined $customer ? (($o{param} || 'customerId') => $customer)
			: (),
		defined $o{team} || !exists $o{team}
			? (team => exists $o{team} ? $o{team} : 'sales') : (),
		@{$o{fields} || []},
	);

	return reply(webhook_request($uri, token => $TOKEN, pairs => \@pairs,
		headers => [ defined $o{sig} ? ('X-Twilio-Signature' => $o{sig}) : (),
			@{$o{headers} || []} ]));
}

sub dialled {
	my ($number, $caller_id) = @_;

	return "200 text/xml; charset=utf-8\n$DECL"
		. '<Response><Dial answerOnBridge="true" timeLimit="3600"'
		. qq{ timeout="30" callerId="$caller_id"><Number>$number</Number>}
		. "</Dial></Response>\n";
}

###############################################################################

is(call('dial', '/outgoing', 'C-1001'), dialled('+15550100', $CALLER_ID),
	'customer dialled');
is(call('reply caller id', '/outgoing', 'C-1002'),
	dialled('+15550101', '+15550999'), 'caller id from the reply');
is(call('field', '/ticket', 'C-1001', param => 'ticket'),
	dialled('+15550100', $CALLER_ID), 'twanon_outgoing_param');
is(call('header caller id', '/header', 'C-1001',
	headers => [ 'X-Caller-Id' => '+15550777' ]),
	dialled('+15550100', '+15550777'), 'caller id with a variable');

# refused, with the fallback

is(call('404', '/outgoing', 'C-404'), $REFUSED, 'resolver 404');
is(call('500', '/outgoing', 'C-500'), $REFUSED, 'resolver 500');
is(call('timeout', '/outgoing', 'C-slow'), $REFUSED, 'resolver timeout');
is(call('not json', '/outgoing', 'C-bad'), $REFUSED, 'invalid json');
is(call('no number', '/outgoing', 'C-nonum'), $REFUSED, 'no number');
is(call('no plus', '/outgoing', 'C-noplus'), $REFUSED, 'number without +');
is(call('spaces', '/outgoing', 'C-space'), $REFUSED, 'number with spaces');
is(call('integer', '/outgoing', 'C-int'), $REFUSED, 'number not a string');
is(call('leading zero', '/outgoing', 'C-zero'), $REFUSED, 'number +0...');
is(call('too long', '/outgoing', 'C-long'), $REFUSED, '16 digits');
is(call('bad caller id', '/outgoing', 'C-badcid'), $REFUSED,
	'reply callerId not e.164');
is(call('variable caller id', '/header', 'C-1001',
	headers => [ 'X-Caller-Id' => 'anonymous' ]), $REFUSED,
	'caller id variable not e.164');
is(call('no customer', '/outgoing', undef), $REFUSED, 'no customer id');
is(call('bad customer', '/outgoing', 'C 1001'), $REFUSED,
	'invalid customer id');
is(call('long customer', '/outgoing', 'C' x 65), $REFUSED,
	'customer id too long');
is(call('fallback say', '/say', 'C-404'), "200 text/xml; charset=utf-8\n"
	. "$DECL<Response><Say>Not now.</Say></Response>\n",
	'the location\'s fallback');

# refused before any lookup: 403 and 400

my $FORBIDDEN = "403 text/plain; charset=utf-8\nforbidden\n";
my $INVALID = "400 text/plain; charset=utf-8\ninvalid webhook fields\n";

is(call('other app', '/outgoing', 'C-1001', app => 'AP' . 'f' x 32),
	$FORBIDDEN, 'another TwiML App');
is(call('no app', '/outgoing', 'C-1001', app => undef), $FORBIDDEN,
	'no ApplicationSid');
is(call('phone from', '/outgoing', 'C-1001', from => '+15550100'),
	$FORBIDDEN, 'From not a client');
is(call('bad identity', '/outgoing', 'C-1001', from => 'client:op 1'),
	$FORBIDDEN, 'From with an invalid identity');
is(call('bad signature', '/outgoing', 'C-1001', sig => 'x' x 28),
	$FORBIDDEN, 'bad signature');
is(call('customer twice', '/outgoing', 'C-1001',
	fields => [ customerId => 'C-1002' ]), $INVALID, 'customer id twice');
is(call('app twice', '/outgoing', 'C-1001',
	fields => [ ApplicationSid => $APP ]), $INVALID, 'ApplicationSid twice');

# the token's outgoing params go on to the resolver, once

is(call('team', '/outgoing', 'C-1001', team => 'sales & ops'),
	dialled('+15550100', $CALLER_ID), 'token param');
is(call('team twice', '/outgoing', 'C-1001', team => 'sales',
	fields => [ team => 'admin' ]), $INVALID, 'token param twice');
is(call('empty team', '/outgoing', 'C-1001', team => ''),
	dialled('+15550100', $CALLER_ID), 'token param empty');

# a token param missing from the call is refused: a resolver may read
# "absent" as "allowed"

is(call('no team', '/outgoing', 'C-1001', team => undef), $REFUSED,
	'token param missing');

# From empty or absent is no operator

is(call('empty from', '/outgoing', 'C-1001', from => ''), $FORBIDDEN,
	'From empty');
is(call('short from', '/outgoing', 'C-1001', from => 'client'), $FORBIDDEN,
	'From shorter than client:');
is(call('no from', '/outgoing', 'C-1001', from => undef), $FORBIDDEN,
	'From absent');

###############################################################################

$t->stop();

open my $bfh, '<', $backlog or die "Can't open $backlog: $!\n";
my @got = map { chomp; $_ } <$bfh>;
close $bfh;

my %body = map { /^\S+ call=(\w+) (.*)$/ ? ($1 => $2) : () } @got;

is($body{$sid{dial}}, "operator=op_1&customer_id=C-1001&call_sid=$sid{dial}"
	. '&team=sales', 'resolver body');
is($body{$sid{team}}, "operator=op_1&customer_id=C-1001&call_sid=$sid{team}"
	. '&team=sales%20%26%20ops', 'resolver body with the token param');
is($body{$sid{'empty team'}}, "operator=op_1&customer_id=C-1001"
	. "&call_sid=$sid{'empty team'}&team=", 'resolver body, empty param');
is(scalar(grep { !m!^/route call=! } @got), 0, 'resolver uri /route only');
is(join(' ', grep { exists $body{$sid{$_}} } 'no customer', 'bad customer',
	'other app', 'phone from', 'bad signature', 'customer twice',
	'no team', 'empty from', 'short from', 'no from'), '',
	'no lookup for refused requests');

my $calls = $t->read_file('calls.log');
my $hash = hmac_sha256_hex('+15550100', $HASH_KEY);

like($calls, qr!^/outgoing route=dialled hash=$hash call=$sid{dial}$!m,
	'log dialled, callee hash');
like($calls, qr!^/outgoing route=refused hash=- call=$sid{'404'}$!m,
	'log refused');
like($calls, qr!^/outgoing route=error hash=- call=$sid{'500'}$!m,
	'log error');
like($calls, qr!^/outgoing route=refused hash=- call=$sid{'no plus'}$!m,
	'log invalid number refused');
like($calls, qr!^/outgoing route=rejected hash=- call=$sid{'other app'}$!m,
	'log rejected');

my $log = $t->read_file('error.log');

like($log, qr/\[warn\] .*twanon: outgoing call for another TwiML App, call "$sid{'other app'}"/,
	'log other app');
like($log, qr/\[warn\] .*twanon: outgoing call without "team" that "twanon_token_outgoing_param" names, refused, call "$sid{'no team'}"/,
	'log missing token param');
like($calls, qr!^/outgoing route=refused hash=- call=$sid{'no team'}$!m,
	'log missing token param refused');
like($log, qr/\[error\] .*twanon: resolver "\/resolver" invalid number \(status 200\), refusing the outgoing call, call "$sid{spaces}"/,
	'log invalid number');
is(join("\n", grep { /$DIGITS/ } split /\n/, $log . $calls), '',
	'no number in the logs');

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

        location /outgoing {
$location
        }
    }
}

EOF
}

conf_fails('no caller id', conf("twanon_outgoing;\n"), 'twanon_outgoing;',
	'"twanon_outgoing" in FILE:LINE requires "twanon_outgoing_caller_id": '
	. 'Twilio refuses a call from a browser without a valid caller ID '
	. '(error 13214)');
conf_warns('no application sid', conf("twanon_outgoing;\n"
	. "twanon_outgoing_caller_id  +15557654321;\n"), 'twanon_outgoing;',
	'"twanon_outgoing" in FILE:LINE has no '
	. '"twanon_token_outgoing_application_sid": a call from any TwiML App '
	. 'of the account, or with no ApplicationSid, is accepted here');

my ($out) = conf_passes('application sid', conf("twanon_outgoing;\n"
	. "twanon_outgoing_caller_id  +15557654321;\n"
	. "twanon_token_outgoing_application_sid  $APP;\n"));
unlike($out, qr/application_sid/, 'application sid, no warning');

conf_fails('bad field name', conf("twanon_outgoing;\n"
	. "twanon_outgoing_caller_id  +15557654321;\n"
	. "twanon_outgoing_param  customer/id;\n"), 'twanon_outgoing_param',
	'invalid field name "customer/id" in "twanon_outgoing_param" directive, '
	. 'it must be 1 to 32 letters, digits, "_", "-" or "." in FILE:LINE');

###############################################################################

# the resolver backend: logs "uri call=CallSid body", answers by customer

sub serve {
	my ($client) = @_;

	my $req = read_request($client);
	return unless defined $req;

	my (undef, $body) = backlog_request($backlog, $req);

	my ($customer) = $body =~ /customer_id=([^&]*)/;
	$customer = '' unless defined $customer;

	my %reply = (
		'C-1001' => '{"number":"+15550100"}',
		'C-1002' => '{"number":"+15550101","callerId":"+15550999"}',
		'C-bad' => 'not json',
		'C-nonum' => '{"x":1}',
		'C-noplus' => '{"number":"15550100"}',
		'C-space' => '{"number":"+1 555 0100"}',
		'C-int' => '{"number":15550100}',
		'C-zero' => '{"number":"+05550100"}',
		'C-long' => '{"number":"+1234567890123456"}',
		'C-badcid' => '{"number":"+15550100","callerId":"anonymous"}',
	);

	my ($status, $json) = (200, $reply{$customer});

	if ($customer eq 'C-slow') {
		sleep 3;
	}

	($status, $json) = (404, '{}') if $customer eq 'C-404'
		|| !defined $json;
	($status, $json) = (500, '{}') if $customer eq 'C-500';

	print $client json_response($status, $json);
}

###############################################################################
