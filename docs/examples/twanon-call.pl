#!/usr/bin/perl

# Copyright (C) twanon authors

# Sends the voice webhook that Twilio would send for an incoming call,
# signed with X-Twilio-Signature, and prints the TwiML that comes back.
# No call is placed: nothing but the URL given is contacted.
#
#   perl twanon-call.pl --url http://127.0.0.1:8080/incoming \
#       --signed-url https://voice.example.com/incoming \
#       --account AC0123456789abcdef0123456789abcdef \
#       --token AUTH_TOKEN --from +15550100 [--to +15557654321]
#
# "perl twanon-call.pl --help" lists every option.  --account must be
# the Account SID in twanon_account_sid (nginx answers 403 to any other),
# or --config names the nginx.conf to read it from.  An https URL's
# certificate is verified; --insecure skips that, for a test server with
# a self-signed certificate only, never for a real deployment.
# "make call FROM=..." runs this against "make demo".

use warnings;
use strict;

use Digest::SHA qw/ hmac_sha1_base64 /;
use Getopt::Long;
use HTTP::Tiny;

# every option: its Getopt::Long spec, the value's name and its help text
# (--help prints this table, so the two cannot drift apart)

my @OPTIONS = (
    [ 'url=s', 'URL',
      'where to send it (default http://127.0.0.1:8080/incoming)' ],
    [ 'signed-url=s', 'URL',
      'the URL Twilio signs: twanon_webhook_url (default --url)' ],
    [ 'token=s', 'TOKEN',
      'the Auth Token that signs: twanon_auth_token (required)' ],
    [ 'account=s', 'SID',
      'AccountSid sent: twanon_account_sid (required, or --config)' ],
    [ 'config=s', 'FILE',
      'read --account from twanon_account_sid in this nginx.conf' ],
    [ 'from=s', 'NUMBER',
      'the caller\'s number, From (required)' ],
    [ 'to=s', 'NUMBER',
      'the number called, To (default +15557654321)' ],
    [ 'customer=s', 'ID',
      'a callback (twanon_outgoing) to this customer ID' ],
    [ 'operator=s', 'ID',
      'the operator who calls back: From=client:ID (operator1)' ],
    [ 'application=s', 'SID',
      'the TwiML App of --customer, ApplicationSid (AP000...)' ],
    [ 'dial-status=s', 'STATUS',
      'after-dial request with this DialCallStatus' ],
    [ 'insecure', '',
      'https: skip certificate checks (self-signed tests only)' ],
    [ 'timeout=i', 'SECONDS',
      'give up after this long (default 20)' ],
    [ 'help', '',
      'print this help and exit' ],
);

my %o = (
    url => 'http://127.0.0.1:8080/incoming',
    to => '+15557654321',
    timeout => 20,
);

Getopt::Long::Configure('no_ignore_case');

GetOptions(\%o, map { $_->[0] } @OPTIONS)
    or die usage() . "Try \"$0 --help\".\n";

if ($o{help}) {
    print help();
    exit 0;
}

@ARGV and die "$0: unexpected argument \"$ARGV[0]\"\n" . usage();

defined $o{token} or die "$0: --token is required\n" . usage();
defined $o{from} || defined $o{customer}
    or die "$0: --from (or --customer) is required\n" . usage();

if (!defined $o{account} && defined $o{config}) {
    $o{account} = account_from_config($o{config});
}

defined $o{account}
    or die "$0: --account is required: the Account SID (AC...) that"
        . " twanon_account_sid holds; nginx answers 403 to any other.\n"
        . "Give it, or --config /etc/nginx/nginx.conf to read it.\n";

$o{account} =~ /^AC[0-9a-fA-F]{32}\z/
    or die "$0: --account \"$o{account}\" is not an Account SID"
        . " (AC and 32 hex digits)\n";

$o{url} =~ m{^(https?)://([^/:?#]+)}i
    or die "$0: --url \"$o{url}\" is not an http:// or https:// URL\n";

my ($scheme, $host) = (lc $1, $2);

my %params = (
    AccountSid => $o{account},
    ApiVersion => '2010-04-01',
    CallSid => 'CA' . join('', map { sprintf '%x', int rand 16 } 1 .. 32),
    CallStatus => 'ringing',
    Direction => 'inbound',
    From => $o{from},
    To => $o{to},
);

# a callback: what Twilio posts to the TwiML App's Voice URL when the
# operator's browser calls device.connect({params: {customerId: ID}})

if (defined $o{customer}) {
    my $client = 'client:' . (defined $o{operator} ? $o{operator}
        : 'operator1');

    delete @params{qw/ From To /};

    %params = (%params,
        ApplicationSid => defined $o{application} ? $o{application}
            : 'AP' . '0' x 32,
        Caller => $client,
        From => $client,
        To => '',
        customerId => $o{customer},
    );
}

# what Twilio adds when it requests a <Dial>'s action URL

if (defined $o{'dial-status'}) {
    $params{DialCallStatus} = $o{'dial-status'};
    $params{DialCallSid} = 'CA' . join('', map { sprintf '%x', int rand 16 }
        1 .. 32);
    $params{DialCallDuration} = '0';
    $params{CallStatus} = 'in-progress';
}

my $signed = defined $o{'signed-url'} ? $o{'signed-url'} : $o{url};
my $data = $signed . join '', map { $_ . $params{$_} } sort keys %params;

my $signature = hmac_sha1_base64($data, $o{token});
$signature .= '=' while length($signature) % 4;

# HTTP::Tiny before 0.083 does not verify certificates unless told to

my $http = HTTP::Tiny->new(
    timeout => $o{timeout},
    verify_SSL => $o{insecure} ? 0 : 1,
);

if ($scheme eq 'https') {
    my ($ok, $why) = $http->can_ssl();
    $ok or die "$0: https needs IO::Socket::SSL and Net::SSLeay"
        . " (Debian: libio-socket-ssl-perl): $why\n";
}

my $r = $http->post_form($o{url}, \%params,
    { headers => { 'X-Twilio-Signature' => $signature } });

if ($r->{status} == 599) {
    my $why = $r->{content};

    if ($scheme eq 'https' && $why =~ /certificate|verify|SSL/i) {
        die "$0: $o{url}: the server's TLS certificate is not trusted"
            . " for \"$host\":\n$why"
            . "For a test server with a self-signed certificate only,"
            . " add --insecure.\n";
    }

    die "$0: $o{url}: $why"
        . "(is \"make demo\" running in another terminal?)\n";
}

$| = 1;

print "HTTP $r->{status} $r->{reason}\n\n$r->{content}";

if ($r->{status} == 403) {
    print STDERR "$0: 403: nginx refused the webhook: check --token"
        . " (twanon_auth_token), --signed-url (twanon_webhook_url)"
        . " and --account (twanon_account_sid)\n";
}

exit($r->{success} ? 0 : 1);

###############################################################################

sub usage {
    my ($me) = $0 =~ m{([^/]*)\z};

    return "usage: $me --url URL [--signed-url URL] --token TOKEN\n"
        . "    {--account SID | --config FILE} --from NUMBER [--to NUMBER]\n"
        . "    [--dial-status STATUS] [--customer ID [--operator ID]\n"
        . "    [--application SID]] [--insecure] [--timeout SECONDS]\n";
}

sub help {
    my $text = usage()
        . "\nSends the voice webhook Twilio would send for a call from"
        . " NUMBER, signed\nwith TOKEN, and prints the TwiML nginx answers."
        . " No call is placed.\n\n";

    for my $opt (@OPTIONS) {
        my ($spec, $arg, $what) = @$opt;
        my ($name) = $spec =~ /^([\w-]+)/;

        $text .= sprintf "  %-18s %s\n",
            '--' . $name . ($arg ne '' ? " $arg" : ''), $what;
    }

    return $text . "\nExit status: 0 for a 2xx answer, 1 otherwise.\n";
}

# the one twanon_account_sid of an nginx.conf (not of its includes)

sub account_from_config {
    my ($file) = @_;

    open my $fh, '<', $file or die "$0: --config: cannot read $file: $!\n";

    my %sids;

    while (my $line = <$fh>) {
        $line =~ s/#.*//;

        while ($line =~ /(?:^|[;{}\s])twanon_account_sid\s+
                         ("?)([^\s;"]+)\1\s*;/gx)
        {
            $sids{$2} = 1;
        }
    }

    close $fh;

    my @sids = sort keys %sids;

    @sids == 1 and return $sids[0];

    die "$0: --config: no twanon_account_sid in $file"
        . " (its include files are not read); give --account\n"
        unless @sids;

    die "$0: --config: $file has several twanon_account_sid values ("
        . join(', ', @sids) . "); pick one with --account\n";
}

###############################################################################
