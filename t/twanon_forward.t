#!/usr/bin/perl

# Copyright (C) twanon authors

# "nginx -t" refuses "mirror" and "post_action" where a webhook is
# answered (twanon_incoming, twanon_after_dial, twanon_outgoing): both
# send the request, body and caller's number included, to another
# location.  Set in the location before or after the handler, or
# inherited from the server or http level, they fail with the handler's
# file and line; "mirror off" in the location, mirror in a token location
# or in another location pass.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ :DEFAULT conf_passes conf_fails /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $TOKEN = 'forward-token-3b9e';
my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $KEY = 'SK' . 'fedcba9876543210fedcba9876543210';
my $SECRET = 'forward-secret-44a1';
my $APP = 'AP' . '0123456789abcdef' x 2;

my $t = Test::Twanon->new()->has(qw/http mirror/);

$t->check_module()->plan(29);

###############################################################################

# a configuration with a webhook location of the given handler, and text
# at the http, server and location levels

sub conf {
	my (%c) = @_;

	my $handler = $c{handler} || 'twanon_incoming';
	my $before = $c{before} || '';
	my $after = $c{after} || '';
	my $http = $c{http} || '';
	my $server = $c{server} || '';
	my $other = $c{other} || '';
	my $token = $c{token} || '';

	return <<"EOF";

%%TEST_GLOBALS%%

events {
}

http {
    %%TEST_GLOBALS_HTTP%%
$http
    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        twanon_auth_token          $TOKEN;
        twanon_resolver            /resolver;
        twanon_dial_attempts       1;
        twanon_outgoing_caller_id  +15557654321;
        twanon_token_outgoing_application_sid  $APP;
$server
        location = /resolver {
            internal;
            return 404;
        }

        location = /copy {
            internal;
            return 204;
        }

        location \@copy {
            return 204;
        }

        location /webhook {
$before
            $handler;
$after
        }

        location /other {
$other
            return 204;
        }

        location /token {
            twanon_token;
            twanon_account_sid     $ACCOUNT;
            twanon_api_key         $KEY;
            twanon_api_secret      $SECRET;
            twanon_token_identity  fixed;
$token
        }
    }
}

EOF
}

sub refused {
	my ($handler, $directive) = @_;

	return qq{"$handler" in FILE:LINE cannot be used with "$directive", }
		. 'here or inherited: it would forward the webhook\'s body, and '
		. 'the caller\'s number with it, to another location';
}

my $MIRROR = "mirror  /copy;";
my $POST = "post_action  \@copy;";

# mirror: after and before the handler, at each level, each handler

conf_fails('mirror after', conf(after => $MIRROR), 'twanon_incoming;',
	refused('twanon_incoming', 'mirror'));
conf_fails('mirror before', conf(before => $MIRROR), 'twanon_incoming;',
	refused('twanon_incoming', 'mirror'));
conf_fails('mirror in server', conf(server => $MIRROR), 'twanon_incoming;',
	refused('twanon_incoming', 'mirror'));
conf_fails('mirror in http', conf(http => $MIRROR), 'twanon_incoming;',
	refused('twanon_incoming', 'mirror'));
conf_fails('mirror, after dial', conf(handler => 'twanon_after_dial',
	after => $MIRROR), 'twanon_after_dial;',
	refused('twanon_after_dial', 'mirror'));
conf_fails('mirror, outgoing', conf(handler => 'twanon_outgoing',
	before => $MIRROR), 'twanon_outgoing;',
	refused('twanon_outgoing', 'mirror'));
conf_fails('mirror in server, outgoing', conf(handler => 'twanon_outgoing',
	server => $MIRROR), 'twanon_outgoing;',
	refused('twanon_outgoing', 'mirror'));

# post_action: the same

conf_fails('post_action after', conf(after => $POST), 'twanon_incoming;',
	refused('twanon_incoming', 'post_action'));
conf_fails('post_action before', conf(before => $POST), 'twanon_incoming;',
	refused('twanon_incoming', 'post_action'));
conf_fails('post_action in server', conf(server => $POST),
	'twanon_incoming;', refused('twanon_incoming', 'post_action'));
conf_fails('post_action, after dial', conf(handler => 'twanon_after_dial',
	before => $POST), 'twanon_after_dial;',
	refused('twanon_after_dial', 'post_action'));
conf_fails('post_action in http, outgoing', conf(handler => 'twanon_outgoing',
	http => $POST), 'twanon_outgoing;',
	refused('twanon_outgoing', 'post_action'));

# what is not a webhook's, or turned off in it, passes

conf_passes('no mirror', conf());
conf_passes('mirror off in the location', conf(server => $MIRROR,
	after => 'mirror  off;'));
conf_passes('mirror elsewhere', conf(other => $MIRROR));
conf_passes('mirror with a token', conf(token => $MIRROR));
conf_passes('post_action elsewhere', conf(other => $POST));

###############################################################################
