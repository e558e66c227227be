#!/usr/bin/perl

# Copyright (C) twanon authors

# Sends the voice webhook that Twilio would send for an incoming call,
# signed with X-Twilio-Signature, and prints the TwiML that comes back.
#
#   perl twanon-call.pl --url http://127.0.0.1:8080/incoming \
#       --signed-url https://voice.example.com/incoming \
#       --token AUTH_TOKEN --from +15550100 [--to +15557654321]
#
# --signed-url is the URL Twilio would sign (twanon_webhook_url); it
# defaults to --url.  "make call FROM=..." runs this against "make demo".

use warnings;
use strict;

use Digest::SHA qw/ hmac_sha1_base64 /;
use Getopt::Long;
use HTTP::Tiny;

my %o = (
    url => 'http://127.0.0.1:8080/incoming',
    to => '+15557654321',
    account => 'AC00000000000000000000000000000000',
);

GetOptions(\%o, 'url=s', 'signed-url=s', 'token=s', 'from=s', 'to=s',
    'account=s')
    or die "usage: $0 --url URL --token TOKEN --from NUMBER\n";

defined $o{token} or die "$0: --token is required\n";
defined $o{from} or die "$0: --from is required\n";

my %params = (
    AccountSid => $o{account},
    ApiVersion => '2010-04-01',
    CallSid => 'CA' . join('', map { sprintf '%x', int rand 16 } 1 .. 32),
    CallStatus => 'ringing',
    Direction => 'inbound',
    From => $o{from},
    To => $o{to},
);

my $signed = defined $o{'signed-url'} ? $o{'signed-url'} : $o{url};
my $data = $signed . join '', map { $_ . $params{$_} } sort keys %params;

my $signature = hmac_sha1_base64($data, $o{token});
$signature .= '=' while length($signature) % 4;

my $r = HTTP::Tiny->new(timeout => 20)->post_form($o{url}, \%params,
    { headers => { 'X-Twilio-Signature' => $signature } });

if ($r->{status} == 599) {
    die "$0: $o{url}: $r->{content}"
        . "(is \"make demo\" running in another terminal?)\n";
}

print "HTTP $r->{status} $r->{reason}\n\n$r->{content}";

exit($r->{success} ? 0 : 1);
