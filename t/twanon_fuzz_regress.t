#!/usr/bin/perl

# Copyright (C) twanon authors

# Replays what the libFuzzer targets of t/fuzz/ have found, and their
# seeds, through the fuzz binaries once (no fuzzing): each input in
# t/fuzz/regress/<target>/ once crashed a target or broke one of its
# invariants, and must now pass under AddressSanitizer, LeakSanitizer
# and UndefinedBehaviorSanitizer.
#
# The binaries come from "make fuzz-targets" (which "make test" runs
# first, and which passes TEST_TWANON_FUZZ_BIN) in build/fuzz/bin/;
# without them, or when they are older than the module's pure sources
# they were built from, as when prove runs alone, the test is skipped,
# which CI refuses (t/allowed-skips).
#
# t/fuzz/regress/route/int64-min-customerId: a resolver reply with
# "customerId": -9223372036854775808 reached ngx_sprintf("%L"), which
# negates the value as int64_t (src/core/ngx_string.c:464): signed
# overflow, undefined behaviour.
#
# t/fuzz/regress/signature/invalid-utf8-cycle: three keys in valid and
# invalid UTF-8 compared in a cycle, so that the signature's canonical
# string depended on the order of the body.
#
# t/fuzz/regress/route/bom-reply, huge-number-unlisted: a resolver reply
# behind a UTF-8 byte order mark, or with an integer beyond 64 bits in a
# member nobody asked for, was refused as invalid JSON.
#
# t/fuzz/regress/twiml/say-attribute-filtered-empty: a <Say> language of
# only characters XML cannot carry lost its (empty) attribute when the
# TwiML writer moved from libxml2 to the pool.

###############################################################################

use warnings;
use strict;

use Test::More;

use File::Spec;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon qw/ skip_file /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $bin = $ENV{TEST_TWANON_FUZZ_BIN} || '../build/fuzz/bin';
my @targets = qw/ form signature route twiml identity jwt outgoing /;

my @sources = map { "../ngx_http_twanon_module/ngx_http_twanon_$_" }
	qw/ lib.h form.c signature.c route.c twiml.c identity.c jwt.c
		hmac.c utf8.c /;

my %inputs;

for my $target (@targets) {
	for my $dir ("fuzz/regress/$target", "fuzz/corpus/$target") {
		next unless -d $dir;
		opendir(my $dh, $dir) or die "cannot read $dir: $!";
		push @{$inputs{$target}}, map { "$dir/$_" } sort
			grep { -f "$dir/$_" } readdir($dh);
		closedir($dh);
	}
}

my @run = grep { $inputs{$_} && @{$inputs{$_}} } @targets;

skip_file('no fuzz inputs') unless @run;

for my $target (@run) {
	my $exe = "$bin/fuzz_$target";
	skip_file("no $exe (make fuzz-targets builds it)") unless -x $exe;

	my $built = (stat($exe))[9];
	my @newer = grep { (stat($_))[9] > $built } @sources;

	skip_file("$exe is older than @newer; rebuild it with "
		. "make -f t/fuzz/fuzz.mk TOP=\$PWD targets") if @newer;
}

plan(tests => scalar @run);

###############################################################################

local $ENV{ASAN_OPTIONS} = 'detect_leaks=1';
local $ENV{UBSAN_OPTIONS} = 'print_stacktrace=1:halt_on_error=1';

for my $target (@run) {
	my @files = @{$inputs{$target}};
	my $cmd = join(' ', map { quote($_) } "$bin/fuzz_$target", @files);

	my $out = `$cmd 2>&1`;
	my $rc = $?;

	my $found = $out =~ /^(==\d+==ERROR.*|.*runtime error:.*|.*invariant failed.*)$/m
		? $1 : '';

	ok($rc == 0 && $found eq '', "$target: " . @files . ' inputs')
		or diag("exit " . ($rc >> 8) . ": $found\n"
			. join("\n", grep { /^(Running|    #\d|SUMMARY)/ }
				split(/\n/, $out)));
}

###############################################################################

sub quote {
	my ($s) = @_;
	$s =~ s/'/'\\''/g;
	return "'$s'";
}

###############################################################################
