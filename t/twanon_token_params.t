#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for twanon_token_outgoing_param of ngx_http_twanon_module: the
# params of the Access Token's outgoing voice grant (literal and variable
# values, JSON escaping, invalid UTF-8, empty values), their inheritance,
# their absence, and the "nginx -t" failures of the directive.

###############################################################################

use warnings;
use strict;

use Test::More;

use Digest::SHA qw/ hmac_sha256 /;
use MIME::Base64 qw/ encode_base64url decode_base64url /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT conf_passes conf_fails /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

eval { require JSON::PP; };
skip_file('no JSON::PP (make test installs perl)') if $@;

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $KEY = 'SK' . 'fedcba9876543210fedcba9876543210';
my $SECRET = 's3cr3t-for-tests-only-7f1c';
my $APP = 'AP' . '11112222333344445555666677778888';

# UTF-8 in the configuration: u with diaeresis, a telephone sign, and a
# character outside the BMP (a JSON surrogate pair if it were escaped)

my $UTF8 = "Z\xc3\xbcrich \xe2\x98\x8e \xf0\x9f\x93\x9e";

my $t = Test::Twanon->new()->has(qw/http rewrite/);

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    twanon_account_sid  $ACCOUNT;
    twanon_api_key      $KEY;
    twanon_api_secret   $SECRET;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        twanon_token_outgoing_application_sid  $APP;

        twanon_token_outgoing_param  team  sales;
        twanon_token_outgoing_param  site  hq-1;

        location = /inherit {
            twanon_token;
        }

        location = /own {
            twanon_token;
            twanon_token_outgoing_param  only.mine  yes;
        }

        location = /var {
            twanon_token;
            twanon_token_outgoing_param  team   \$http_x_team;
            twanon_token_outgoing_param  label  "team-\$http_x_team!";
            twanon_token_outgoing_param  none   \$http_x_none;
            twanon_token_outgoing_param  who    \$arg_identity;
        }

        location = /escape {
            twanon_token;
            twanon_token_outgoing_param  quote  "say \\"hi\\"";
            twanon_token_outgoing_param  back   "a\\\\b";
            twanon_token_outgoing_param  ws     "tab\\there\\nline\\rcr";
            twanon_token_outgoing_param  utf8   "$UTF8";
            twanon_token_outgoing_param  set    \$v;
            set  \$v  "{\\"k\\":[1]}";
        }

        location = /eight {
            twanon_token;
            twanon_token_outgoing_param  p1  1;
            twanon_token_outgoing_param  p2  2;
            twanon_token_outgoing_param  p3  3;
            twanon_token_outgoing_param  p4  4;
            twanon_token_outgoing_param  p5  5;
            twanon_token_outgoing_param  p6  6;
            twanon_token_outgoing_param  p7  7;
            twanon_token_outgoing_param  A-z_0.9  8;
        }
    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        location = /plain {
            twanon_token;
            twanon_token_outgoing_application_sid  $APP;
        }

        location = /none {
            twanon_token;
        }
    }
}

EOF

$t->run()->plan(52);

###############################################################################

my $json = JSON::PP->new->utf8->canonical;

# the same decoder on bytes: strings stay bytes, as the token holds them

my $bytes = JSON::PP->new->canonical;

# the decoded payload of a token response (bytes in its strings), whether
# it is valid UTF-8 JSON, and whether its signature holds

sub token {
	my ($uri, %opts) = @_;

	my $r = http_request('GET', $uri, %opts);

	my $body = eval { $json->decode($r->{body}) };
	return { status => $r->{status} } unless ref $body eq 'HASH'
		&& defined $body->{token};

	my ($h, $p, $s) = split /\./, $body->{token}, -1;
	my $text = decode_base64url($p);

	return {
		status => $r->{status},
		text => $text,
		utf8 => defined(eval { $json->decode($text) }) ? 1 : 0,
		payload => eval { $bytes->decode($text) },
		signed => $s eq encode_base64url(hmac_sha256("$h.$p", $SECRET))
			? 1 : 0,
	};
}

# the outgoing grant, as canonical JSON, or what is there instead

sub outgoing {
	my ($tok) = @_;

	return "status $tok->{status}" unless ref $tok->{payload} eq 'HASH';

	my $voice = $tok->{payload}{grants}{voice};
	return 'no voice grant' unless ref $voice eq 'HASH';
	return 'no outgoing' unless exists $voice->{outgoing};

	return $bytes->encode($voice->{outgoing});
}

sub params {
	my (%p) = @_;
	return $bytes->encode({ application_sid => $APP, params => { %p } });
}

###############################################################################

# inherited from the server, as a whole

my $tok = token('/inherit?identity=alice');

is($tok->{status}, 200, 'inherit status');
is(outgoing($tok), params(team => 'sales', site => 'hq-1'), 'inherit params');
is($tok->{signed}, 1, 'inherit signature');
like($tok->{text}, qr/"outgoing":\{"application_sid":"\Q$APP\E","params":\{/,
	'inherit params after application sid');

# a level with its own does not inherit any

$tok = token('/own?identity=alice');

is(outgoing($tok), params('only.mine' => 'yes'), 'own params');

# variables, evaluated per request

$tok = token('/var?identity=alice', headers => { 'X-Team' => 'support' });

is(outgoing($tok), params(team => 'support', label => 'team-support!',
	none => '', who => 'alice'), 'variable params');
is($tok->{signed}, 1, 'variable signature');

$tok = token('/var?identity=bob', headers => { 'X-Team' => 'billing' });

is(outgoing($tok), params(team => 'billing', label => 'team-billing!',
	none => '', who => 'bob'), 'variable params again');

# an empty value is an empty string, not a missing param

$tok = token('/var?identity=alice');

is(outgoing($tok), params(team => '', label => 'team-!', none => '',
	who => 'alice'), 'empty params');
like($tok->{text}, qr/"none":""/, 'empty param written');

# escaping: quotes, backslashes, white space and UTF-8 from the config

$tok = token('/escape?identity=alice');

is(outgoing($tok), params(quote => 'say "hi"', back => 'a\\b',
	ws => "tab\there\nline\rcr", utf8 => $UTF8, set => '{"k":[1]}'),
	'escaped params');
is($tok->{utf8}, 1, 'escaped payload json');
like($tok->{text}, qr/"ws":"tab\\there\\nline\\rcr"/, 'white space escaped');
like($tok->{text}, qr/"utf8":"\Q$UTF8\E"/, 'utf-8 written as is');

# control characters, quotes and backslashes from a header

$tok = token('/var?identity=alice',
	headers => { 'X-Team' => "a\x01b\x1fc\"d\\e\x7ff" });

is(outgoing($tok), params(team => "a\x01b\x1fc\"d\\e\x7ff",
	label => "team-a\x01b\x1fc\"d\\e\x7ff!", none => '', who => 'alice'),
	'control params');
like($tok->{text}, qr/"team":"a\\u0001b\\u001[fF]c\\"d\\\\e\x7ff"/,
	'control escaped');
is($tok->{utf8}, 1, 'control payload json');

# UTF-8 from a header passes, invalid UTF-8 becomes U+FFFD

$tok = token('/var?identity=alice', headers => { 'X-Team' => $UTF8 });

is(outgoing($tok), params(team => $UTF8, label => "team-$UTF8!", none => '',
	who => 'alice'), 'utf-8 params');

$tok = token('/var?identity=alice',
	headers => { 'X-Team' => "x\xffy\xc3z\xed\xa0\x80" });

my $fffd = "\xef\xbf\xbd";

is(outgoing($tok), params(team => "x${fffd}y${fffd}z$fffd$fffd$fffd",
	label => "team-x${fffd}y${fffd}z$fffd$fffd$fffd!", none => '',
	who => 'alice'), 'invalid utf-8 params');
is($tok->{utf8}, 1, 'invalid utf-8 payload json');
is($tok->{signed}, 1, 'invalid utf-8 signature');

# eight params, names of every allowed kind

$tok = token('/eight?identity=alice');

is(outgoing($tok), params(p1 => '1', p2 => '2', p3 => '3', p4 => '4',
	p5 => '5', p6 => '6', p7 => '7', 'A-z_0.9' => '8'), 'eight params');

# no params: no "params" key; no application sid: no outgoing

$tok = token('/plain?identity=alice', port => 8081);

is(outgoing($tok), $bytes->encode({ application_sid => $APP }),
	'no params');
unlike($tok->{text}, qr/params/, 'no params key');

$tok = token('/none?identity=alice', port => 8081);

is(outgoing($tok), 'no outgoing', 'no outgoing');

###############################################################################

# nginx -t

sub conf {
	my (%c) = @_;

	my $server = $c{server} || '';
	my $location = $c{location} || '';

	return <<"EOF";

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    twanon_account_sid  $ACCOUNT;
    twanon_api_key      $KEY;
    twanon_api_secret   $SECRET;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;
$server
        location /token {
            twanon_token;
$location
        }
    }
}

EOF
}

my $sid = "            twanon_token_outgoing_application_sid  $APP;\n";

my $nine = join '',
	map { "            twanon_token_outgoing_param  p$_  $_;\n" } 1 .. 9;

conf_fails('ninth param', conf(location => $sid . $nine),
	'twanon_token_outgoing_param  p9',
	'too many "twanon_token_outgoing_param" directives, at most 8 '
	. 'in FILE:LINE');

for my $name ('', 'a b', "caf\xc3\xa9", 'x' x 33, 'a/b', 'a:b') {
	(my $shown = $name) =~ s/[^ -~]/?/g;

	conf_fails("bad name \"$shown\"", conf(location => $sid
		. "            twanon_token_outgoing_param  \"$name\"  v;\n"),
		'twanon_token_outgoing_param',
		"invalid parameter name \"$name\" in "
		. '"twanon_token_outgoing_param" directive, it must be 1 to 32 '
		. 'letters, digits, "_", "-" or "." in FILE:LINE');
}

conf_fails('duplicate name', conf(location => $sid
	. "            twanon_token_outgoing_param  team  a;\n"
	. "            twanon_token_outgoing_param  team  b;\n"),
	[ 'twanon_token_outgoing_param', 2 ],
	'parameter "team" is duplicate in "twanon_token_outgoing_param" '
	. 'directive in FILE:LINE');

conf_fails('empty value', conf(location => $sid
	. "            twanon_token_outgoing_param  team  \"\";\n"),
	'twanon_token_outgoing_param',
	'empty value in "twanon_token_outgoing_param" directive in FILE:LINE');

conf_fails('one value', conf(location => $sid
	. "            twanon_token_outgoing_param  team;\n"),
	'twanon_token_outgoing_param',
	'invalid number of arguments in "twanon_token_outgoing_param" '
	. 'directive in FILE:LINE');

conf_fails('no application sid', conf(server =>
	"        twanon_token_outgoing_param  team  sales;\n"),
	'twanon_token;',
	'"twanon_token" in FILE:LINE has "twanon_token_outgoing_param" but no '
	. '"twanon_token_outgoing_application_sid": the params are sent only '
	. 'with the calls of a TwiML App');

# the same name on two levels: the inner level replaces the outer

conf_passes('same name two levels', conf(
	server => "        twanon_token_outgoing_param  team  a;\n",
	location => $sid . "            twanon_token_outgoing_param  team  b;\n"));

# params where no token is minted need no application sid

conf_passes('params without token', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    twanon_token_outgoing_param  team  sales;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;
    }
}

EOF

###############################################################################

# the values are not logged by the module (nginx's own debug log prints
# the request headers they came from)

$t->stop();

my $log = $t->read_file('error.log');

unlike($log, qr/sales|hq-1/, 'literal values not logged');
unlike(join('', grep { /twanon/ } split /^/m, $log), qr/billing|support/,
	'variable values not logged');
like($log, qr/\[debug\] .*twanon token outgoing params:4$/m, 'params debug');

###############################################################################
