#!/usr/bin/perl

# Copyright (C) twanon authors

# The harness stays split by job: no module under t/lib is over 700
# lines, every part's functions are exported through Test::Twanon, and
# no test file defines a function of the same name as one the harness
# exports (a helper written again in a test file belongs in the harness).
# No nginx runs here.

###############################################################################

use warnings;
use strict;

use Test::More;

use File::Find qw//;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon ();

###############################################################################

my $MAX_LINES = 700;

plan(tests => 3);

my @modules;

File::Find::find({ no_chdir => 1, wanted => sub {
	push @modules, $_ if -f $_ && /\.pm$/;
} }, 'lib');

my @long;

for my $file (sort @modules) {
	open my $fh, '<', $file or die "Can't open $file: $!\n";
	my $lines = () = <$fh>;
	close $fh;

	push @long, "$file: $lines lines" if $lines > $MAX_LINES;
}

is(join("\n", @long), '', "no harness module over $MAX_LINES lines");

# each part's exports, and whether Test::Twanon exports them too

my (%exported, @missing);

{
	no strict 'refs';

	$exported{$_} = 1
		for @Test::Twanon::EXPORT, @Test::Twanon::EXPORT_OK;

	for my $file (sort grep { m!^lib/Test/Twanon/! } @modules) {
		(my $module = $file) =~ s!^lib/!!;
		$module =~ s!\.pm$!!;
		$module =~ s!/!::!g;

		next if $module eq 'Test::Twanon::HTTP2';

		push @missing, map { "$module: $_" }
			grep { !$exported{$_} } @{"${module}::EXPORT_OK"};
	}
}

is(join("\n", @missing), '', 'every part exported through Test::Twanon');

my @again;

for my $file (sort glob('*.t')) {
	open my $fh, '<', $file or die "Can't open $file: $!\n";

	while (<$fh>) {
		push @again, "$file:$.: $1"
			if /^\s*sub\s+(\w+)/ && $exported{$1};
	}

	close $fh;
}

is(join("\n", @again), '', 'no test file defines a harness function');

###############################################################################
