#!/usr/bin/perl

# Copyright (C) twanon authors

# Lists the test files a run of the suite skipped, with their reasons, from
# prove's output (a line "twanon_x.t .. skipped: <reason>"), and says for
# each whether t/allowed-skips allows that reason for the target that ran
# the suite.  Called by make's test targets after prove (see
# t/nginx-test.mk, prove_logged):
#
#   perl t/check-skips.pl --target=test [--allow=t/allowed-skips]
#       [--strict] build/test.log
#
# Exits with 1 when a skip is not allowed and the check is strict: with
# --strict, or when the environment has CI set (to anything but "", 0,
# false or no), as .ci/run and most CI services do; otherwise the list is
# printed and the exit status is 0.  Exits with 2 on a usage error or a
# bad allowlist.

###############################################################################

use warnings;
use strict;

use File::Basename qw/ dirname /;
use Getopt::Long qw/ GetOptions /;

###############################################################################

my $target;
my $allow = dirname(__FILE__) . '/allowed-skips';
my $strict = defined $ENV{CI} && $ENV{CI} !~ /^(?:|0|false|no)$/i;

GetOptions(
	'target=s' => \$target,
	'allow=s' => \$allow,
	'strict!' => \$strict,
) && defined $target && @ARGV == 1
	or usage();

my ($log) = @ARGV;

my @entries = read_allowlist($allow);

open my $fh, '<', $log or die "check-skips: cannot open $log: $!\n";

my @skips;

while (my $line = <$fh>) {
	$line =~ s/\r?\n\z//;

	my ($file, $reason) = $line =~ /^(\S+\.t) \.+ skipped: ?(.*)$/
		or next;

	$file =~ s!^\./!!;

	my ($entry) = grep { $reason =~ $_->{re} && covers($_, $target) }
		@entries;

	push @skips, { file => $file, reason => $reason, entry => $entry };
}

close $fh;

if (!@skips) {
	print "$target: no test file skipped\n";
	exit 0;
}

my @bad = grep { !defined $_->{entry} } @skips;

print "$target: " . @skips . " test file" . (@skips == 1 ? '' : 's')
	. " skipped:\n";

for my $s (@skips) {
	print "  $s->{file}: $s->{reason}\n";
	print defined $s->{entry}
		? "      allowed ($allow line $s->{entry}{line})\n"
		: "      NOT ALLOWED for $target in $allow\n";
}

exit 0 unless @bad;

if ($strict) {
	print "$target: " . @bad . " test file" . (@bad == 1 ? '' : 's')
		. " skipped for a reason $allow does not allow; failing (CI)\n";
	exit 1;
}

print "$target: under CI=true, the skips not allowed fail the run\n";
exit 0;

###############################################################################

sub usage {
	print STDERR "usage: $0 --target=NAME [--allow=FILE] [--strict]"
		. " PROVE_LOG\n";
	exit 2;
}

# entries: { targets => [...], re => qr/^(?:...)$/, line => N }

sub read_allowlist {
	my ($path) = @_;

	open my $fh, '<', $path
		or do { print STDERR "check-skips: $path: $!\n"; exit 2; };

	my @entries;

	while (my $line = <$fh>) {
		next if $line =~ /^\s*(?:#|$)/;

		$line =~ s/\s+\z//;

		my ($targets, $re) = $line =~ /^(\S+)\s+(\S.*)$/;

		if (!defined $re) {
			print STDERR "check-skips: $path line $.: not"
				. " \"TARGETS REGEX\"\n";
			exit 2;
		}

		my $qr = eval { qr/^(?:$re)$/ };

		if (!defined $qr) {
			print STDERR "check-skips: $path line $.: $@";
			exit 2;
		}

		push @entries, { targets => [ split /,/, $targets ], re => $qr,
			line => $. };
	}

	close $fh;

	return @entries;
}

sub covers {
	my ($entry, $target) = @_;
	return grep { $_ eq '*' || $_ eq $target } @{$entry->{targets}};
}

###############################################################################
