#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for what the twanon_incoming webhook of ngx_http_twanon_module
# reads from a resolver's JSON that jansson alone would refuse: a reply
# that starts with a UTF-8 byte order mark, and numbers that do not fit
# 64 bits or a double.  A mark is skipped; a number is kept as the reply
# writes it, whatever its size, so that it loses nothing in a member
# nobody asked for, reaches a listed parameter as written (unless longer
# than 128 bytes), and is no identity.  Each call gets the exact routed
# or fallback TwiML, and error.log says why a reply was refused.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT webhook_request call_pairs /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $TOKEN = 'auth-token-for-json-tests-3c9e';

my $CALLER = '+15551234567';
my $CALLED = '+15557654321';
my $DIGITS = '5551234567';

my $BOM = "\xef\xbb\xbf";
my $HUGE = '123456789012345678901234567890';

my $DECL = qq{<?xml version="1.0" encoding="UTF-8"?>\n};
my $FALLBACK = $DECL . '<Response><Say>We are sorry, no one is available'
	. ' to take your call right now. Please try again later.</Say>'
	. "</Response>\n";

my $t = Test::Twanon->new()->has(qw/http proxy/);

# the resolver's replies, each served by "return 200" on 8081

my %replies = (
	plain => '{"appId":"user001","customerName":"Ann","customerId":42}',
	bom => $BOM . '{"appId":"user001","customerName":"Ann",'
		. '"customerId":42}',
	bom_space => $BOM . " \n {\"appId\":\"user001\",\"customerName\":"
		. '"Ann","customerId":42}',
	bom_only => $BOM,
	bom_twice => $BOM . $BOM . '{"appId":"user001"}',
	bom_late => '{"appId":"user001"}' . $BOM,
	huge_other => '{"appId":"user001","n":' . $HUGE
		. ',"customerName":"Ann","customerId":42}',
	huge_nested => '{"stats":{"min":-9223372036854775809,'
		. '"max":1.5e400,"all":[1E+999,' . $HUGE . ']},'
		. '"appId":"user001","customerName":"Ann",'
		. '"customerId":-9223372036854775808}',
	huge_listed => '{"appId":"user001","customerName":"Ann",'
		. '"customerId":' . $HUGE . '}',
	huge_real_listed => '{"appId":"user001","customerName":"Ann",'
		. '"customerId":-2e308}',
	huge_identity => '{"appId":' . $HUGE . ',"customerName":"Ann"}',
	huge_strings => '{"appId":"user001","customerName":"' . $HUGE . '",'
		. '"customerId":"1e400"}',
	huge_broken => '{"appId":"user001","n":' . $HUGE . ',',
	int64_max => '{"appId":"user001","customerName":"Ann",'
		. '"customerId":9223372036854775807}',
	bom_huge => $BOM . '{"appId":"user001","n":' . $HUGE
		. ',"customerName":"Ann","customerId":42}',

	long_number => '{"appId":"user001","customerName":' . ('9' x 128)
		. ',"customerId":' . ('9' x 129) . '}',

	# the module's own reader: as jansson reads, numbers as written
	reals => '{"appId":"user001","customerName":0.1,"customerId":1e3}',
	reals_exp => '{"appId":"user001","customerName":-2.5E-7,'
		. '"customerId":1e+100}',
	minus_zero => '{"appId":"user001","customerName":-0.0,'
		. '"customerId":-0}',
	twice => '{"appId":"nobody","customerName":{"a":1},"customerId":7,'
		. '"appId":"user001","customerName":"Ann","customerId":42}',
	deep_ok => '{"appId":"user001","customerName":"Ann","customerId":42,'
		. '"x":' . ('[' x 2046) . '1' . (']' x 2046) . '}',
	deep_over => '{"appId":"user001","customerName":"Ann","customerId":42,'
		. '"x":' . ('[' x 2047) . '1' . (']' x 2047) . '}',
	trailing => '{"appId":"user001"} {}',
	literal_cut => '{"appId":"user001","x":tru}',
	number_cut => '{"appId":"user001","x":1.}',
	raw_control => qq[{"appId":"user001","customerName":"a\tb"}],
	not_object => '["user001"]',
);

my ($webhooks, $resolvers, $returns) = ('', '', '');

for my $name (sort keys %replies) {

	# nginx takes a parameter of up to 4 kB: longer replies are files,
	# which the static module serves to GET only

	my $file = length $replies{$name} > 2048;
	my $method = $file ? "\n            proxy_method  GET;"
		. "\n            subrequest_output_buffer_size  16k;" : '';

	$webhooks .= <<"EOF";
        location = /in/$name {
            twanon_incoming;
            twanon_resolver  /res/$name;
        }

        location = /res/$name {
            internal;
            proxy_pass  http://127.0.0.1:8081/$name;$method
        }

EOF

	die "a \$ or a quote in the reply \"$name\"\n"
		if $replies{$name} =~ /[\$'\\]/;

	if ($file) {
		$t->write_file("$name.json", $replies{$name});

		$returns .= <<"EOF";
        location = /$name {
            alias  %%TESTDIR%%/$name.json;
        }

EOF
		next;
	}

	$returns .= <<"EOF";
        location = /$name {
            return  200 '$replies{$name}';
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

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        twanon_auth_token  $TOKEN;

$webhooks    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        default_type  application/json;

$returns    }
}

EOF

$t->run()->plan(35);

###############################################################################

# a signed webhook to /in/name

sub call {
	my ($name) = @_;

	my $r = webhook_request("/in/$name", token => $TOKEN,
		pairs => [ call_pairs(AccountSid => $ACCOUNT, CallStatus => undef,
			From => $CALLER, To => $CALLED) ]);

	return ($r->{status} // 'none') . "\n" . ($r->{body} // '');
}

# the routed TwiML for user001 with these parameters, or the fallback

sub dial {
	my (@params) = @_;

	my $p = '';

	while (@params) {
		my ($k, $v) = splice(@params, 0, 2);
		$p .= qq{<Parameter name="$k" value="$v"/>};
	}

	return "200\n" . $DECL . '<Response><Dial answerOnBridge="true"'
		. qq{ timeLimit="3600" timeout="30" callerId="$CALLED">}
		. '<Client><Identity>user001</Identity>'
		. "<Parameter name=\"twanonRinging\" value=\"1\"/>$p</Client>"
		. "</Dial></Response>\n";
}

my $ANN = dial(customerName => 'Ann', customerId => 42);

###############################################################################

# a byte order mark first: skipped, once

is(call('plain'), $ANN, 'plain reply');
is(call('bom'), $ANN, 'bom reply');
is(call('bom_space'), $ANN, 'bom then whitespace');
is(call('bom_only'), "200\n$FALLBACK", 'bom only');
is(call('bom_twice'), "200\n$FALLBACK", 'bom twice');
is(call('bom_late'), "200\n$FALLBACK", 'bom after the json');

# numbers jansson cannot hold: as written

is(call('huge_other'), $ANN, 'huge integer elsewhere');
is(call('huge_nested'), dial(customerName => 'Ann',
	customerId => '-9223372036854775808'), 'huge numbers nested');
is(call('huge_listed'), dial(customerName => 'Ann', customerId => $HUGE),
	'huge integer parameter as written');
is(call('huge_real_listed'), dial(customerName => 'Ann',
	customerId => '-2e308'), 'huge real parameter as written');
is(call('long_number'), dial(customerName => '9' x 128),
	'number over 128 bytes left out');
is(call('huge_identity'), "200\n$FALLBACK", 'huge identity');
is(call('huge_strings'), dial(customerName => $HUGE, customerId => '1e400'),
	'huge numbers in strings');
is(call('huge_broken'), "200\n$FALLBACK", 'huge integer, broken json');
is(call('int64_max'), dial(customerName => 'Ann',
	customerId => '9223372036854775807'), 'int64 max');
is(call('bom_huge'), $ANN, 'bom and huge integer');

# numbers as the reply writes them, the last of a member given twice,
# the depth jansson allows, and what it refuses

is(call('reals'), dial(customerName => '0.1', customerId => '1e3'),
	'reals as written');
is(call('reals_exp'), dial(customerName => '-2.5E-7',
	customerId => '1e+100'), 'exponents as written');
is(call('minus_zero'), dial(customerName => '-0.0', customerId => '-0'),
	'minus zero');
is(call('twice'), $ANN, 'a member given twice: the last one');
is(call('deep_ok'), $ANN, 'a value inside 2047 containers');
is(call('deep_over'), "200\n$FALLBACK", 'inside 2048: refused');
is(call('trailing'), "200\n$FALLBACK", 'a second document');
is(call('literal_cut'), "200\n$FALLBACK", 'a cut literal');
is(call('number_cut'), "200\n$FALLBACK", 'a number without decimals');
is(call('raw_control'), "200\n$FALLBACK", 'a raw tab in a string');
is(call('not_object'), "200\n$FALLBACK", 'an array');

###############################################################################

$t->stop();

my $log = $t->read_file('error.log');

like($log, qr!resolver "/res/bom_only" empty reply \(status 200\)!,
	'bom only logged empty');
like($log, qr!resolver "/res/bom_twice" invalid JSON \(status 200\)!,
	'bom twice logged invalid');
like($log, qr!resolver "/res/huge_identity" invalid identity!,
	'huge identity logged invalid');
like($log, qr!resolver "/res/huge_broken" invalid JSON \(status 200\)!,
	'broken json logged invalid');
like($log, qr!resolver "/res/deep_over" invalid JSON \(status 200\)!,
	'too deep logged invalid');
like($log, qr!resolver "/res/not_object" not a JSON object \(status 200\)!,
	'array logged not an object');
my $routed = join '|', qw/ plain bom bom_space huge_other huge_nested
	huge_listed huge_real_listed huge_strings int64_max bom_huge
	long_number
	reals reals_exp minus_zero twice deep_ok /;

unlike($log, qr!resolver "/res/(?:$routed)"!, 'routed replies not logged');
unlike($log, qr/$DIGITS/, 'no caller number in log');

###############################################################################
