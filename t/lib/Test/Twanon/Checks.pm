package Test::Twanon::Checks;

# Copyright (C) twanon authors

# The checks plan() adds to every test file: no [alert], [crit] or [emerg]
# line, no sanitizer report, and under valgrind no memcheck error; and the
# valgrind command line nginx runs under.
#
# Environment:
#   TEST_NGINX_VALGRIND      run every nginx (and nginx -t) under valgrind
#                            memcheck, as one process ("master_process off"
#                            is added to the globals); plan() then adds a
#                            third end check, "no valgrind errors"
#   TEST_NGINX_VALGRIND_SUPP suppressions file (default t/valgrind.supp);
#                            an empty string uses none
#   TEST_NGINX_VALGRIND_OPTIONS  more valgrind options, split on spaces
#                            (e.g. --gen-suppressions=all)

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT_OK = qw/ $VALGRIND valgrind_command end_checks /;

###############################################################################

use Cwd qw//;
use File::Basename qw/ dirname /;
use File::Find qw//;
use File::Spec qw//;
use Test::More qw//;

###############################################################################

our $VALGRIND = defined $ENV{TEST_NGINX_VALGRIND}
	&& $ENV{TEST_NGINX_VALGRIND} ne '' && $ENV{TEST_NGINX_VALGRIND} ne '0';

our $VALGRIND_SUPP;

if (defined $ENV{TEST_NGINX_VALGRIND_SUPP}) {
	$VALGRIND_SUPP = $ENV{TEST_NGINX_VALGRIND_SUPP};
	$VALGRIND_SUPP = File::Spec->rel2abs($VALGRIND_SUPP)
		if $VALGRIND_SUPP ne '';

} else {
	# this file is t/lib/Test/Twanon/Checks.pm

	my $file = File::Spec->rel2abs(__FILE__);
	$file = Cwd::abs_path($file) || $file;

	$VALGRIND_SUPP = File::Spec->catfile(
		dirname(dirname(dirname(dirname($file)))), 'valgrind.supp');
	$VALGRIND_SUPP = '' unless -f $VALGRIND_SUPP;
}

###############################################################################

# the valgrind command line nginx runs under in valgrind mode, logging into
# dir; or nothing

sub valgrind_command {
	my ($dir) = @_;

	return () unless $VALGRIND;

	my @cmd = ('valgrind', '--tool=memcheck', '--leak-check=full',
		'--errors-for-leak-kinds=definite',
		'--show-leak-kinds=definite', '--trace-children=no',
		'--num-callers=30', '--keep-debuginfo=yes',
		"--log-file=$dir/valgrind.%p.log");

	push @cmd, "--suppressions=$VALGRIND_SUPP" if $VALGRIND_SUPP ne '';

	push @cmd, grep { $_ ne '' } split /\s+/, $ENV{TEST_NGINX_VALGRIND_OPTIONS}
		if defined $ENV{TEST_NGINX_VALGRIND_OPTIONS};

	return @cmd;
}

# the two checks plan() adds (three under valgrind): once, and only under
# a numeric plan; objects are all the live Test::Twanon objects

sub end_checks {
	my ($self, @objects) = @_;

	return if $self->{_checked};
	return unless $self->{_planned};

	my $tb = Test::More->builder;
	my $plan = $tb->has_plan;
	return unless defined $plan && $plan =~ /^\d+$/;

	$self->{_checked} = 1;

	my $log = $self->_slurp('error.log');
	my $stderr = $self->_slurp('stderr.log');

	my @alerts = grep { /\[(?:alert|emerg|crit)\]/ }
		split(/\n/, $log . "\n" . $stderr);

	Test::More::is(join("\n", @alerts), '', 'no alerts');

	my $re = qr/ERROR: AddressSanitizer|runtime error:|Sanitizer/;

	my @errors = grep { /$re/ }
		split(/\n/, join("\n", $log, $stderr,
			@{$self->{_nginx_t_output}}));

	Test::More::is(join("\n", @errors), '', 'no sanitizer errors')
		or Test::More::diag(_sanitizer_reports(split(/\n/,
			join("\n", $log, $stderr, @{$self->{_nginx_t_output}}))));

	_valgrind_check($self, @objects) if $VALGRIND;

	if ($ENV{TEST_NGINX_VERBOSE}) {
		Test::More::diag($self->_logs_for_humans());
	}
}

# the whole of each sanitizer report among log lines, for a failed "no
# sanitizer errors": an ASan or LSan report up to its SUMMARY line, a UBSan
# "runtime error:" with its stack (nginx's own lines in between left out)

sub _sanitizer_reports {
	my (@lines) = @_;

	my (@out, $in, $n);

	for my $l (@lines) {
		if ($l =~ /ERROR: \w*Sanitizer|runtime error:/) {
			$in = $l =~ /runtime error:/ ? 'ub' : 'asan';
			$n = 0;
			push @out, '', $l;
			next;
		}

		next unless $in;
		next if $l =~ m!^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[!;

		if ($in eq 'ub') {
			if ($l =~ /^\s+#\d+ /) {
				push @out, $l if $n++ < 30;
				next;
			}

			undef $in;
			next;
		}

		push @out, $l if $n++ < 80;
		undef $in if $l =~ /^SUMMARY: /;
	}

	return join("\n", map { _symbolize($_) } @out);
}

# a sanitizer's stack frame left as "(object+offset)", named with
# addr2line: GCC's runtime symbolizes with libbacktrace, which knows only
# the objects loaded when it first ran, before nginx loaded the module

my %SYMBOLS;

sub _symbolize {
	my ($l) = @_;

	my ($head, $frame, $obj, $off) =
		$l =~ /^(\s*#(\d+) 0x[0-9a-f]+)\s+\((\/[^()+]+)\+(0x[0-9a-f]+)\)$/
		or return $l;

	return $l unless -f $obj;

	# a return address, but for the frame that failed

	my $pc = sprintf('0x%x', hex($off) - ($frame > 0 ? 1 : 0));

	$SYMBOLS{"$obj $pc"} = `addr2line -f -i -e '$obj' $pc 2>/dev/null`
		unless exists $SYMBOLS{"$obj $pc"};

	my ($func, $where) = split /\n/, $SYMBOLS{"$obj $pc"} || '';
	return $l unless defined $where && $func ne '??';

	return "$head in $func $where ($obj+$off)";
}

# the third end check under valgrind: every valgrind log of this test (its
# nginx, its nginx -t runs, and those of the other Test::Twanon objects of
# this process, which are stopped first so that their logs are complete)
# must show "ERROR SUMMARY: 0 errors" (--errors-for-leak-kinds=definite
# counts a definitely lost block as an error), and none may hold a
# "definitely lost" record naming the module; the records found are
# printed, a leak of the module's called out

sub _valgrind_check {
	my ($self, @objects) = @_;

	my @dirs;

	for my $other (@objects) {
		next unless defined $other && $other->{_pid} == $$;

		if ($other != $self && $other->{_started}) {
			$other->_kill_nginx();
			$other->stop_daemons();
		}

		push @dirs, $other->{_testdir};
	}

	my @logs;

	File::Find::find({ no_chdir => 1, wanted => sub {
		push @logs, $_ if -f $_ && m!/valgrind\.\d+\.log$!;
	} }, grep { -d } @dirs);

	my @bad;

	for my $log (sort @logs) {
		my $text = eval { $self->read_file($log) };
		next unless defined $text;

		my ($errors) = $text =~ /^==\d+== ERROR SUMMARY: (\d+) errors/m;
		my @records = _valgrind_records($text);

		my @ours = grep { /definitely lost/ && /ngx_http_twanon/ }
			@records;

		if (!defined $errors) {
			push @bad, "$log: no ERROR SUMMARY (nginx did not exit"
				. " normally)", @records;

		} elsif ($errors > 0 || @ours) {
			push @bad, "$log: ERROR SUMMARY: $errors errors"
				. (@ours ? ', ' . @ours . ' definitely lost in the'
					. ' module' : ''), @records;
		}
	}

	Test::More::ok(!@bad, 'no valgrind errors')
		or Test::More::diag(join("\n", @bad));
}

# the error and leak records of a valgrind log, without the "==pid== "
# prefixes, the banner, the summaries and valgrind's own warnings

sub _valgrind_records {
	my ($text) = @_;

	my @records;

	for my $para (split /\n(?:==\d+==\s*\n)+/, $text) {
		$para =~ s/^==\d+== ?//mg;
		$para =~ s/^\s+|\s+\z//g;

		next if $para eq '';
		next if $para =~ /^Memcheck, a memory error detector/;
		next if $para =~ /^(?:HEAP|LEAK|ERROR) SUMMARY:/;
		next if $para =~ /^(?:For (?:lists|counts) of detected
			|To\ see\ them,\ rerun|Rerun\ with
			|All\ heap\ blocks\ were\ freed|Reachable\ blocks)/x;

		# "Warning: set address range perms", "Warning: noted but
		# unhandled ioctl": valgrind's notes, not errors

		my @lines = grep { !/^Warning: / && !/^\s*$/ } split /\n/, $para;
		next unless @lines;

		push @records, join("\n", @lines);
	}

	return @records;
}

1;

###############################################################################
