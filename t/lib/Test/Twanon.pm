package Test::Twanon;

# Copyright (C) twanon authors

# Small test harness for ngx_http_twanon_module, shaped like nginx-tests'
# lib/Test/Nginx.pm: every test writes its own nginx.conf into a temporary
# prefix, starts a real nginx on loopback ports and talks raw HTTP to it.
#
# Environment:
#   TEST_NGINX_BINARY        nginx binary (default /usr/sbin/nginx)
#   TEST_NGINX_MODULE        the module .so to load (default ../build/
#                            ngx_http_twanon_module.so relative to t/);
#                            an empty string loads nothing: the module is
#                            linked into nginx (make test-static)
#   TEST_NGINX_GLOBALS       extra main-context lines for %%TEST_GLOBALS%%
#   TEST_NGINX_GLOBALS_HTTP  extra http-context lines for %%TEST_GLOBALS_HTTP%%
#   TEST_NGINX_VERBOSE       print requests, responses and logs as diagnostics
#   TEST_NGINX_LEAVE         keep the temporary prefix after the test
#   TEST_NGINX_VALGRIND      run every nginx (and nginx -t) under valgrind
#                            memcheck, as one process ("master_process off"
#                            is added to the globals); plan() then adds a
#                            third end check, "no valgrind errors"
#   TEST_NGINX_VALGRIND_SUPP suppressions file (default t/valgrind.supp);
#                            an empty string uses none
#   TEST_NGINX_VALGRIND_OPTIONS  more valgrind options, split on spaces
#                            (e.g. --gen-suppressions=all)
#   TEST_NGINX_ASAN          nginx is built with AddressSanitizer (see
#                            t/sanitize.mk): nginx -t runs with
#                            LeakSanitizer off, as its main() returns with
#                            the new cycle unfreed
#   TEST_NGINX_SLOW          the factor $t->slow returns, by which tests
#                            stretch what they assert about timings and the
#                            harness its own waits (default 1, 8 under
#                            valgrind, 2 under ASan)
#   TMPDIR                   where the prefixes go (default /tmp); run as
#                            root, /tmp when not everyone may enter it, as
#                            nginx's workers run as "nobody"

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT = qw/ http http_get http_request port skip_file /;
our @EXPORT_OK = qw/ http_content parse_response log_in log_out
	form_escape form_body twilio_signature webhook_request webhook_raw
	chunked_body reply logged conf_line conf_passes conf_fails
	conf_fails_with conf_warns forking_server read_request node_path node
	run_command /;

###############################################################################

use Cwd qw//;
use Digest::SHA qw//;
use File::Basename qw/ dirname /;
use File::Find qw//;
use File::Path qw/ rmtree /;
use File::Spec qw//;
use File::Temp qw/ tempdir /;
use IO::Socket::INET;
use MIME::Base64 qw//;
use POSIX qw/ WNOHANG /;
use Scalar::Util qw/ weaken blessed /;
use Test::More qw//;

###############################################################################

our $NGINX = defined $ENV{TEST_NGINX_BINARY} && $ENV{TEST_NGINX_BINARY} ne ''
	? $ENV{TEST_NGINX_BINARY} : '/usr/sbin/nginx';

our $MODULE;

if (defined $ENV{TEST_NGINX_MODULE}) {
	$MODULE = $ENV{TEST_NGINX_MODULE};
	$MODULE = File::Spec->rel2abs($MODULE) if $MODULE ne '';

} else {
	# this file is t/lib/Test/Twanon.pm; the module is built in ../build

	my $file = File::Spec->rel2abs(__FILE__);
	$file = Cwd::abs_path($file) || $file;

	my $tdir = dirname(dirname(dirname($file)));
	$MODULE = File::Spec->catfile(dirname($tdir), 'build',
		'ngx_http_twanon_module.so');
}

our $CRLF = "\x0d\x0a";

# valgrind mode: nginx runs as a single process under memcheck

our $VALGRIND = defined $ENV{TEST_NGINX_VALGRIND}
	&& $ENV{TEST_NGINX_VALGRIND} ne '' && $ENV{TEST_NGINX_VALGRIND} ne '0';

our $VALGRIND_SUPP;

if (defined $ENV{TEST_NGINX_VALGRIND_SUPP}) {
	$VALGRIND_SUPP = $ENV{TEST_NGINX_VALGRIND_SUPP};
	$VALGRIND_SUPP = File::Spec->rel2abs($VALGRIND_SUPP)
		if $VALGRIND_SUPP ne '';

} else {
	my $file = File::Spec->rel2abs(__FILE__);
	$file = Cwd::abs_path($file) || $file;

	$VALGRIND_SUPP = File::Spec->catfile(dirname(dirname(dirname($file))),
		'valgrind.supp');
	$VALGRIND_SUPP = '' unless -f $VALGRIND_SUPP;
}

# how much slower than usual nginx may be: valgrind runs it 10 to 50 times
# slower on the CPU, though most tests wait on the network or on timers

our $SLOW = defined $ENV{TEST_NGINX_SLOW}
	&& $ENV{TEST_NGINX_SLOW} =~ /^\d+(?:\.\d+)?$/ && $ENV{TEST_NGINX_SLOW} > 0
	? $ENV{TEST_NGINX_SLOW}
	: ($VALGRIND ? 8 : $ENV{TEST_NGINX_ASAN} ? 2 : 1);

# the object the exported functions (http_get, port, ...) talk to

our $CURRENT;

# every live object, for the END block

my @OBJECTS;

###############################################################################

sub new {
	my ($class) = @_;
	$class = __PACKAGE__ unless defined $class && !ref $class;

	my $self = bless {}, $class;

	$self->{_pid} = $$;
	$self->{_ports} = {};
	$self->{_nginx_t} = 0;
	$self->{_nginx_t_output} = [];
	$self->{_daemons} = [];

	# when nginx runs as root, its workers run as an unprivileged user
	# and must be able to reach the prefix: a $TMPDIR only its owner may
	# enter (libpam-tmpdir's /tmp/user/0) gives way to /tmp

	my $tmp = File::Spec->tmpdir();
	$tmp = '/tmp' if $> == 0 && !_reachable($tmp);

	$self->{_testdir} = tempdir('twanon-test-XXXXXXXXXX', DIR => $tmp,
		CLEANUP => ($ENV{TEST_NGINX_LEAVE} ? 0 : 1))
		or die "Can't create temp directory: $!\n";

	chmod(0755, $self->{_testdir})
		or die "Can't chmod $self->{_testdir}: $!\n";

	Test::More::BAIL_OUT("no $NGINX binary found") unless -x $NGINX;

	Test::More::diag("testdir: $self->{_testdir}") if $ENV{TEST_NGINX_LEAVE};

	$CURRENT = $self;

	push @OBJECTS, $self;
	weaken($OBJECTS[-1]);

	_catch_signals();

	return $self;
}

# whether anyone may enter the directory and each one above it

sub _reachable {
	my ($dir) = @_;

	$dir = Cwd::abs_path($dir);
	return 0 unless defined $dir;

	while (1) {
		my @st = stat($dir) or return 0;
		return 0 unless $st[2] & 01;
		return 1 if $dir eq '/';
		$dir = dirname($dir);
	}
}

# a test killed by a signal runs no END block: stop what we started first,
# then die of the same signal

sub _catch_signals {
	for my $sig (qw/ INT TERM HUP PIPE /) {
		next if defined $SIG{$sig} && $SIG{$sig} ne 'DEFAULT';

		$SIG{$sig} = sub {
			for my $self (@OBJECTS) {
				next unless defined $self && $self->{_pid} == $$;

				$self->_kill_nginx(1);
				$self->stop_daemons();

				rmtree($self->{_testdir})
					unless $ENV{TEST_NGINX_LEAVE};
			}

			$SIG{$sig} = 'DEFAULT';
			kill $sig, $$;
		};
	}
}

# should this process die, the kernel sends SIGTERM to the child calling
# this (Linux prctl(PR_SET_PDEATHSIG)), so that no nginx outlives its test

sub _die_with_parent {
	return unless $^O eq 'linux';

	eval {
		require 'sys/syscall.ph';
		syscall(SYS_prctl(), 1, 15);
	};
}

sub DESTROY {
	my ($self) = @_;
	local ($?, $!, $@);

	return if !defined $self->{_pid} || $self->{_pid} != $$;

	$self->stop();
}

END {
	local ($?, $!, $@);

	for my $self (@OBJECTS) {
		next unless defined $self;
		next if $self->{_pid} != $$;
		$self->stop();
	}
}

###############################################################################

# features: Debian's nginx has everything the tests use, so has() only
# records what was asked for; but "master_process" (a test that reloads
# nginx, or kills a worker) skips the file under valgrind, where nginx
# runs as a single process

sub has {
	my ($self, @features) = @_;
	push @{$self->{_has}}, @features;

	skip_file('needs a master process, not under valgrind')
		if $VALGRIND && grep { $_ eq 'master_process' } @features;

	return $self;
}

# the one way a test file skips: a plan of no tests with the reason, which
# prove prints as "skipped: <reason>".  make's test targets list every
# skipped file with its reason after the run, and under CI=true fail on a
# reason t/allowed-skips does not allow for that target
# (t/check-skips.pl).  Only for what make cannot provide (such as a
# Node.js new enough) or what the file cannot test under valgrind or
# ASan: nginx failing to start is a failure (run, check_module).  A
# function or a method

sub skip_file {
	my $reason = pop;

	die "skip_file needs a reason\n"
		unless defined $reason && !ref $reason && $reason =~ /\S/;

	Test::More::plan(skip_all => $reason);
}

# true when nginx runs under valgrind (as a single process)

sub valgrind {
	return $VALGRIND ? 1 : 0;
}

# the factor by which a test stretches its timing assertions: 1, or more
# under valgrind or ASan (TEST_NGINX_SLOW); a method or a function

sub slow {
	return $SLOW;
}

sub has_version {
	my ($self, $need) = @_;

	$self->{_configure_args} = `$NGINX -V 2>&1`
		unless defined $self->{_configure_args};

	$self->{_configure_args} =~ m!nginx version: nginx/([0-9.]+)!
		or return 0;

	my @v = split(/\./, $1);

	for my $n (split(/\./, $need)) {
		my $v = shift @v || 0;
		return 0 if $n > $v;
		return 1 if $v > $n;
	}

	return 1;
}

sub plan {
	my ($self, $plan) = @_;

	Test::More::plan(tests => $plan + ($VALGRIND ? 3 : 2));
	$self->{_planned} = 1;

	return $self;
}

sub testdir {
	my ($self) = @_;
	return $self->{_testdir};
}

sub module {
	return $MODULE;
}

sub binary {
	return $NGINX;
}

###############################################################################

# ports: each 127.0.0.1:NNNN in a config maps to a free port, stable
# within one object

sub port {
	my ($self, $num);

	if (blessed($_[0]) && $_[0]->isa(__PACKAGE__)) {
		($self, $num) = @_;

	} else {
		($num) = @_;
		$self = $CURRENT or die "no Test::Twanon object\n";
	}

	return $self->{_ports}{$num} if defined $self->{_ports}{$num};

	my %used = map { $_ => 1 } values %{$self->{_ports}};

	for (1 .. 20) {
		my $s = IO::Socket::INET->new(
			Proto => 'tcp',
			LocalAddr => '127.0.0.1:0',
			Listen => 1,
			ReuseAddr => 1,
		) or next;

		my $port = $s->sockport();
		$s->close();

		next if $used{$port};

		$self->{_ports}{$num} = $port;
		return $port;
	}

	die "can't find a free port for $num\n";
}

###############################################################################

sub read_file {
	my ($self, $name) = @_;
	local $/;

	my $path = File::Spec->file_name_is_absolute($name)
		? $name : $self->{_testdir} . '/' . $name;

	open my $fh, '<', $path or die "Can't open $path: $!\n";
	binmode $fh;
	my $content = <$fh>;
	close $fh;

	return defined $content ? $content : '';
}

sub write_file {
	my ($self, $name, $content) = @_;

	my $path = File::Spec->file_name_is_absolute($name)
		? $name : $self->{_testdir} . '/' . $name;

	open my $fh, '>', $path or die "Can't create $path: $!\n";
	binmode $fh;
	print $fh $content;
	close $fh or die "Can't write $path: $!\n";

	return $self;
}

sub write_file_expand {
	my ($self, $name, $content) = @_;

	return $self->write_file($name,
		$self->_expand($content, $self->{_testdir}));
}

# the generated globals are kept on one line each, so that line numbers
# in an expanded config are the line numbers of the text the test wrote

sub test_globals {
	my ($self, $dir) = @_;
	$dir = $self->{_testdir} unless defined $dir;

	my $s = '';

	$s .= "load_module $MODULE; " if $MODULE ne '';
	$s .= "pid $dir/nginx.pid; ";
	$s .= "error_log $dir/error.log debug;";

	# under valgrind, one process to check; nginx takes neither from -g
	# when the config sets them too, so they go here ("daemon off;" only
	# when the config says nothing of it: every test says "daemon off;")

	if ($VALGRIND) {
		$s .= ' master_process off;';
		$s .= ' daemon off;' unless $self->{_expanding_has_daemon};
	}

	$s .= ' ' . _one_line($ENV{TEST_NGINX_GLOBALS})
		if defined $ENV{TEST_NGINX_GLOBALS};

	return $s;
}

sub test_globals_http {
	my ($self, $dir) = @_;
	$dir = $self->{_testdir} unless defined $dir;

	my $s = '';

	$s .= "client_body_temp_path $dir/client_body_temp; ";
	$s .= "proxy_temp_path $dir/proxy_temp; ";
	$s .= "fastcgi_temp_path $dir/fastcgi_temp; ";
	$s .= "uwsgi_temp_path $dir/uwsgi_temp; ";
	$s .= "scgi_temp_path $dir/scgi_temp; ";
	$s .= "access_log $dir/access.log;";

	$s .= ' ' . _one_line($ENV{TEST_NGINX_GLOBALS_HTTP})
		if defined $ENV{TEST_NGINX_GLOBALS_HTTP};

	return $s;
}

sub _one_line {
	my ($s) = @_;

	# a comment would swallow the rest of the line, so comments go

	$s =~ s/#[^\n]*//g;
	$s =~ s/\s*\n\s*/ /g;

	return $s;
}

sub _expand {
	my ($self, $content, $dir) = @_;

	local $self->{_expanding_has_daemon} = $content =~ /^\s*daemon\s/m;

	$content =~ s/%%TEST_GLOBALS%%/$self->test_globals($dir)/ge;
	$content =~ s/%%TEST_GLOBALS_HTTP%%/$self->test_globals_http($dir)/ge;
	$content =~ s/%%TESTDIR%%/$self->{_testdir}/g;
	$content =~ s/%%CONFDIR%%/$dir/g;

	$content =~ s/\b127\.0\.0\.1:(\d{2,5})\b/'127.0.0.1:' . $self->port($1)/ge;
	$content =~ s/%%PORT_(\d+)%%/$self->port($1)/ge;

	return $content;
}

###############################################################################

sub run {
	my ($self) = @_;

	die "nginx already running\n" if $self->{_started};

	my $testdir = $self->{_testdir};
	my $conf = $self->read_file('nginx.conf');

	my %listen;
	while ($conf =~ /^\s*listen\s+127\.0\.0\.1:(\d+)/gm) {
		$listen{$1} = 1;
	}

	unlink "$testdir/nginx.pid";

	my $pid = fork();
	die "Unable to fork(): $!\n" unless defined $pid;

	if ($pid == 0) {
		# own process group, so that a stuck nginx and its workers
		# can be killed together

		POSIX::setpgid(0, 0);
		_die_with_parent();

		open STDOUT, '>>', "$testdir/stderr.log";
		open STDERR, '>>', "$testdir/stderr.log";

		my @cmd = (_valgrind($testdir), $NGINX, '-p', "$testdir/",
			'-c', "$testdir/nginx.conf", '-e', "$testdir/error.log");

		{
			no warnings 'exec';
			exec(@cmd);
		}

		print STDERR "Unable to exec($cmd[0]): $!\n";
		POSIX::_exit(1);
	}

	$self->{_nginx} = $pid;
	$self->{_started} = 1;

	# wait until every listening port accepts connections

	my ($exited, $ok);

	for (1 .. 100 * $SLOW) {
		if (waitpid($pid, WNOHANG) == $pid) {
			$exited = $?;
			last;
		}

		$ok = 1;

		for my $port (keys %listen) {
			my $s = IO::Socket::INET->new(
				Proto => 'tcp',
				PeerAddr => "127.0.0.1:$port",
				Timeout => 1,
			);

			if (!defined $s) {
				$ok = 0;
				last;
			}

			$s->close();
		}

		last if $ok && -e "$testdir/nginx.pid";

		$ok = 0;
		select undef, undef, undef, 0.05;
	}

	return $self if $ok;

	if (defined $exited) {
		$self->{_started} = 0;
		delete $self->{_nginx};

	} else {
		$self->_kill_nginx();
	}

	my $why = defined $exited
		? "nginx exited with status " . ($exited >> 8)
		: "nginx did not start listening in time";

	# the test file fails (it dies before its plan), with the logs

	Test::More::diag("$why\n" . $self->_logs_for_humans());

	die "nginx failed to start: $why\n";
}

# the valgrind command line nginx runs under in valgrind mode, logging into
# dir; or nothing

sub _valgrind {
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

sub _logs_for_humans {
	my ($self) = @_;

	my $s = '';

	for my $name (qw/ stderr.log error.log /) {
		my $path = "$self->{_testdir}/$name";
		next unless -s $path;

		my @lines = split /\n/, $self->read_file($name);
		@lines = grep { !/\[debug\]/ } @lines;
		@lines = @lines[-40 .. -1] if @lines > 40;

		$s .= "--- $name:\n" . join("\n", @lines) . "\n";
	}

	return $s;
}

sub _kill_nginx {
	my ($self, $fast) = @_;

	my $pid = $self->{_nginx};
	return unless $pid;

	for my $sig ($fast ? qw/ TERM KILL / : qw/ QUIT TERM KILL /) {
		if ($sig eq 'KILL') {
			kill 'KILL', -$pid;
			kill 'KILL', $pid;

		} else {
			kill $sig, $pid;
		}

		# valgrind checks for leaks as nginx exits

		my $limit = ($sig eq 'QUIT' ? 200 : 100) * $SLOW;

		for (1 .. $limit) {
			my $rc = waitpid($pid, WNOHANG);

			if ($rc == $pid || $rc == -1) {
				delete $self->{_nginx};
				$self->{_started} = 0;
				return;
			}

			select undef, undef, undef, 0.05;
		}

		Test::More::diag("nginx did not exit on SIG$sig")
			if $sig ne 'KILL';
	}

	waitpid($pid, 0);
	delete $self->{_nginx};
	$self->{_started} = 0;
}

sub stop {
	my ($self) = @_;

	return $self if $self->{_pid} != $$;

	$self->_kill_nginx() if $self->{_started};
	$self->stop_daemons();

	$self->_end_checks();

	return $self;
}

sub stop_daemons {
	my ($self) = @_;

	while (@{$self->{_daemons}}) {
		my $pid = shift @{$self->{_daemons}};

		kill 'TERM', $pid;

		my $exited;

		for (1 .. 100) {
			my $rc = waitpid($pid, WNOHANG);
			$exited = 1, last if $rc == $pid || $rc == -1;
			select undef, undef, undef, 0.05;
		}

		next if $exited;

		kill 'KILL', $pid;
		waitpid($pid, 0);
	}

	return $self;
}

# the two checks plan() adds: once, and only under a numeric plan

sub _end_checks {
	my ($self) = @_;

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

	$self->_valgrind_check() if $VALGRIND;

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
	my ($self) = @_;

	my @dirs;

	for my $other (@OBJECTS) {
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

sub _slurp {
	my ($self, $name) = @_;

	my $path = "$self->{_testdir}/$name";
	return '' unless -e $path;

	my $s = eval { $self->read_file($name) };
	return defined $s ? $s : '';
}

sub error_log_lines {
	my ($self) = @_;
	return split /\n/, $self->_slurp('error.log');
}

###############################################################################

# nginx -t on a config written to a fresh subdirectory of the prefix;
# returns (exit code, stdout and stderr, path of the config written)
#
# options: files (see below), timeout
#
# %%TESTDIR%% is the main prefix (where write_file puts files),
# %%CONFDIR%% the subdirectory; the generated pid, error_log and temp paths
# live in the subdirectory

sub nginx_t {
	my ($self, $conf, %opts) = @_;

	my $n = ++$self->{_nginx_t};
	my $dir = "$self->{_testdir}/t$n";

	mkdir $dir or die "Can't create $dir: $!\n";
	chmod 0755, $dir;

	# files => { name => content, or [ content, mode ] }, written into
	# the subdirectory (the prefix of this nginx -t) first

	for my $name (sort keys %{$opts{files} || {}}) {
		my $f = $opts{files}{$name};
		my ($content, $mode) = ref $f ? @$f : ($f, 0644);

		$self->write_file("$dir/$name", $content);
		chmod $mode, "$dir/$name" or die "Can't chmod $name: $!\n";
	}

	my $path = "$dir/nginx.conf";
	$self->write_file($path, $self->_expand($conf, $dir));

	# nginx -t leaves its whole configuration to exit: nothing for
	# LeakSanitizer to find but nginx's own way to end

	my %env;

	$env{ASAN_OPTIONS} = join(':', grep { defined && $_ ne '' }
		$ENV{ASAN_OPTIONS}, 'detect_leaks=0')
		if $ENV{TEST_NGINX_ASAN};

	my ($rc, $out) = run_command({
		timeout => ($opts{timeout} || 20) * $SLOW,
		env => \%env,
	}, _valgrind($dir), $NGINX, '-t', '-p', "$dir/", '-c', $path,
		'-e', 'stderr');

	push @{$self->{_nginx_t_output}}, $out;
	$self->{_last_nginx_t} = $path;

	log_core('nginx -t', "exit $rc\n$out");

	return wantarray ? ($rc, $out, $path) : $rc;
}

sub last_nginx_t_conf {
	my ($self) = @_;
	return $self->{_last_nginx_t};
}

# for a file that only runs nginx -t: nginx -t on the test globals (the
# module's load_module line, unless it is linked in) and one of the
# module's directives, so that a module nginx cannot load, or a binary
# without it, fails the file before its plan, with nginx -t's output

sub check_module {
	my ($self) = @_;

	my ($rc, $out) = $self->nginx_t(<<'EOF');
%%TEST_GLOBALS%%

events {
}

http {
    twanon_token_ttl  1h;
}
EOF

	return $self if $rc == 0;

	Test::More::diag("nginx -t exited with status $rc\n$out");

	die "nginx -t failed: the module does not load\n";
}

###############################################################################

# the node found in $PATH, or undef

sub node_path {
	my ($dir) = grep { -x "$_/node" } split(/:/, $ENV{PATH} || '');
	return defined $dir ? "$dir/node" : undef;
}

# runs node on a script with one argument, for 60 s at most; returns
# (exit code, output, stderr included)

sub node {
	my ($script, $arg) = @_;

	my $node = node_path();
	die "no node in PATH\n" unless defined $node;

	return run_command({ timeout => 60 * $SLOW }, $node, $script, $arg);
}

# runs a command, its stdout and stderr together, for $opts->{timeout}
# seconds at most; returns (exit code, output).  Options: env (variables
# added to its environment), dir (where it runs), group (a process group
# of its own, all of which a timeout ends, as a browser's children).  A
# command ended by a signal, a timeout included, exits with 255, and a
# timeout adds a line saying so to the output.

sub run_command {
	my ($opts, @cmd) = @_;

	my $pid = open(my $fh, '-|');
	die "Can't fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		POSIX::setpgid(0, 0) if $opts->{group};
		open STDERR, '>&', \*STDOUT;

		if (defined $opts->{dir} && !chdir $opts->{dir}) {
			print "Can't chdir to $opts->{dir}: $!\n";
			POSIX::_exit(127);
		}

		my $env = $opts->{env} || {};
		$ENV{$_} = $env->{$_} for keys %$env;

		{
			no warnings 'exec';
			exec(@cmd);
		}
		print "Unable to exec($cmd[0]): $!\n";
		POSIX::_exit(127);
	}

	# read by sysread, so that a timeout keeps what came before it

	my $out = '';

	eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		alarm($opts->{timeout});
		1 while sysread($fh, $out, 65536, length $out);
		alarm(0);
	};
	alarm(0);

	if ($@) {
		if ($opts->{group}) {
			kill 'TERM', -$pid;
			select undef, undef, undef, 1;
			kill 'KILL', -$pid;

		} else {
			kill 'KILL', $pid;
		}

		$out .= "\n$cmd[0]: timed out after $opts->{timeout} s\n";
	}

	close $fh;

	my $rc = $? >> 8;
	$rc = 255 if $? & 127;

	return ($rc, $out);
}

# a TCP server on 127.0.0.1:$port for run_daemon(): each connection is
# served by $serve->($socket) in a child of its own, which ends with the
# test and after $seconds (8 by default) in any case

sub forking_server {
	my ($port, $serve, $seconds) = @_;

	my $server = IO::Socket::INET->new(
		Proto => 'tcp',
		LocalAddr => "127.0.0.1:$port",
		Listen => 64,
		ReuseAddr => 1,
	) or die "Can't create listening socket: $!\n";

	local $SIG{PIPE} = 'IGNORE';
	local $SIG{CHLD} = 'IGNORE';

	while (1) {
		my $client = $server->accept() or next;

		my $pid = fork();

		if (!defined $pid) {
			close $client;
			next;
		}

		if ($pid == 0) {
			_die_with_parent();
			close $server;

			local $SIG{ALRM} = sub { POSIX::_exit(0) };
			alarm($seconds || 8);

			eval { $serve->($client); };

			close $client;
			POSIX::_exit(0);
		}

		close $client;
	}
}

# what a test backend reads of a request: the headers, then as many bytes
# as Content-Length says (fewer if the peer closes first); undef when the
# peer closes before the end of the headers

sub read_request {
	my ($client) = @_;

	my $req = '';

	while ($req !~ /\x0d\x0a\x0d\x0a/) {
		my $n = sysread($client, $req, 4096, length $req);
		return undef unless $n;
	}

	my ($len) = $req =~ /^Content-Length:\s*(\d+)/mi;
	my $want = index($req, "\x0d\x0a\x0d\x0a") + 4 + ($len || 0);

	while (length $req < $want) {
		my $n = sysread($client, $req, 4096, length $req);
		last unless $n;
	}

	return $req;
}

sub run_daemon {
	my ($self, $code, @args) = @_;

	my $pid = fork();
	die "Can't fork daemon: $!\n" unless defined $pid;

	if ($pid == 0) {
		_die_with_parent();

		if (ref($code) eq 'CODE') {
			eval { $code->(@args); };
			print STDERR $@ if $@;
			POSIX::_exit(0);
		}

		{
			no warnings 'exec';
			exec($code, @args);
		}
		POSIX::_exit(127);
	}

	push @{$self->{_daemons}}, $pid;

	return $self;
}

sub waitforsocket {
	my ($self, $peer) = @_;
	$peer = $self unless blessed($self);

	for (1 .. 100) {
		my $s = IO::Socket::INET->new(
			Proto => 'tcp',
			PeerAddr => $peer,
			Timeout => 1,
		);

		if (defined $s) {
			$s->close();
			return 1;
		}

		select undef, undef, undef, 0.05;
	}

	return undef;
}

###############################################################################

sub log_core {
	return unless $ENV{TEST_NGINX_VERBOSE};

	my ($prefix, $msg) = @_;
	($prefix, $msg) = ('', $prefix) unless defined $msg;
	$prefix .= ' ' if length($prefix) > 0;

	$msg = '' unless defined $msg;

	if (length($msg) > 2048) {
		$msg = substr($msg, 0, 2048)
			. "(...logged only 2048 of " . length($msg) . " bytes)";
	}

	$msg =~ s/^/# $prefix/gm;
	$msg =~ s/([^\x20-\x7e\n])/sprintf('\\x%02x', ord($1))/ge;
	$msg .= "\n" unless $msg =~ /\n\z/;

	print $msg;
}

sub log_out {
	log_core('>>', @_);
}

sub log_in {
	log_core('<<', @_);
}

###############################################################################

# the HTTP client; each function may also be called as a method

sub _self_and_args {
	my $self = (blessed($_[0]) && $_[0]->isa(__PACKAGE__))
		? shift : $CURRENT;

	die "no Test::Twanon object\n" unless defined $self;

	return ($self, @_);
}

sub http_get {
	my ($self, $uri, %opts) = _self_and_args(@_);

	return $self->http("GET $uri HTTP/1.0" . $CRLF
		. "Host: localhost" . $CRLF . $CRLF, %opts);
}

# sends a raw request to 127.0.0.1:port(8080), or to port(opts{port}),
# or to opts{peer}; returns the raw response, or undef on error or timeout
#
# options: port, peer, body (sent after the request), sleep (before the
# body), timeout (seconds, default 8 times slow()), start (return the
# socket after sending)

sub http {
	my ($self, $request, %opts) = _self_and_args(@_);

	my $timeout = $opts{timeout} || 8 * $SLOW;
	my $peer = $opts{peer}
		|| '127.0.0.1:' . $self->port($opts{port} || 8080);

	my ($s, $reply);

	eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		local $SIG{PIPE} = sub { die "sigpipe\n" };
		alarm($timeout);

		$s = $opts{socket} || IO::Socket::INET->new(
			Proto => 'tcp',
			PeerAddr => $peer,
			Timeout => $timeout,
		) or die "Can't connect to $peer: $!\n";

		binmode $s;

		log_out($request);
		$s->print($request) or die "write: $!\n";

		if (defined $opts{body}) {
			select undef, undef, undef, $opts{sleep} if $opts{sleep};
			log_out($opts{body});
			$s->print($opts{body}) or die "write: $!\n";
		}

		alarm(0);
	};
	alarm(0);

	if ($@) {
		log_in("died: $@");
		return undef;
	}

	return $s if $opts{start};

	my $head = $request =~ /^HEAD /;

	eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		local $SIG{PIPE} = sub { die "sigpipe\n" };
		alarm($timeout);

		$reply = '';

		while (1) {
			my $n = sysread($s, my $buf, 65536);

			if (!defined $n) {
				# a reset after a complete response is fine
				last if length $reply && _complete($reply, $head);
				die "read: $!\n";
			}

			last if $n == 0;

			$reply .= $buf;

			# a keepalive connection stays open: stop at the end
			# of the response

			last if _complete($reply, $head);
		}

		$s->close();
		alarm(0);
	};
	alarm(0);

	if ($@) {
		log_in("died: $@");
		return undef;
	}

	log_in($reply);
	return $reply;
}

# is a raw response complete?

sub _complete {
	my ($raw, $head) = @_;

	my $end = index($raw, "\x0d\x0a\x0d\x0a");
	return 0 if $end < 0;

	my $headers = substr($raw, 0, $end);
	my $body = substr($raw, $end + 4);

	my ($status) = $headers =~ m!^HTTP/\d\.\d (\d{3})!;
	return 0 unless defined $status;

	return 1 if $head || $status =~ /^1|^204$|^304$/;

	if ($headers =~ /^Transfer-Encoding:\s*chunked\s*$/mi) {
		return _dechunk($body) ? 1 : 0;
	}

	if ($headers =~ /^Content-Length:\s*(\d+)\s*$/mi) {
		return length($body) >= $1 ? 1 : 0;
	}

	# read until the connection is closed

	return 0;
}

# returns the decoded body of a complete chunked body, or undef

sub _dechunk {
	my ($body) = @_;

	my $content = '';
	my $pos = 0;

	while (1) {
		my $eol = index($body, "\x0d\x0a", $pos);
		return undef if $eol < 0;

		my $line = substr($body, $pos, $eol - $pos);
		my ($len) = $line =~ /^([0-9a-fA-F]+)/ or return undef;
		$len = hex($len);
		$pos = $eol + 2;

		if ($len == 0) {
			# trailers, then an empty line
			while (1) {
				$eol = index($body, "\x0d\x0a", $pos);
				return undef if $eol < 0;
				last if $eol == $pos;
				$pos = $eol + 2;
			}

			return $content;
		}

		return undef if length($body) < $pos + $len + 2;

		$content .= substr($body, $pos, $len);
		$pos += $len + 2;
	}
}

sub http_content {
	my ($raw) = @_;

	my $r = parse_response($raw);
	return defined $r ? $r->{body} : undef;
}

# parses a raw response into
# { status, headers (lowercased names; arrayref when repeated), body, raw }

sub parse_response {
	my ($raw) = @_;

	return undef unless defined $raw;

	my $end = index($raw, "\x0d\x0a\x0d\x0a");
	return { status => undef, headers => {}, body => undef, raw => $raw }
		if $end < 0;

	my $head = substr($raw, 0, $end);
	my $body = substr($raw, $end + 4);

	my ($line, @lines) = split /\x0d\x0a/, $head;
	my ($status) = $line =~ m!^HTTP/\d\.\d (\d{3})!;

	my %headers;

	for (@lines) {
		my ($name, $value) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
		$name = lc $name;

		if (!exists $headers{$name}) {
			$headers{$name} = $value;

		} elsif (ref $headers{$name}) {
			push @{$headers{$name}}, $value;

		} else {
			$headers{$name} = [ $headers{$name}, $value ];
		}
	}

	my $te = $headers{'transfer-encoding'};

	if (defined $te && !ref $te && $te =~ /^chunked$/i) {
		my $d = _dechunk($body);
		$body = defined $d ? $d : $body . '[incomplete chunked body]';
	}

	return {
		status => defined $status ? $status + 0 : undef,
		status_line => $line,
		headers => \%headers,
		body => $body,
		raw => $raw,
	};
}

# http_request($method, $uri, headers => {...} or [...], body => '...',
#     port => NNNN, version => '1.1', timeout => N)
#
# sends an HTTP/1.1 request with Host: localhost and Connection: close,
# plus Content-Length when a body is given and neither Content-Length nor
# Transfer-Encoding is; returns parse_response() of the reply, or a hash
# with an undef status on error

sub http_request {
	my ($self, $method, $uri, %opts) = _self_and_args(@_);

	my $version = $opts{version} || '1.1';
	my @headers;

	if (ref $opts{headers} eq 'HASH') {
		@headers = map { [ $_, $opts{headers}{$_} ] }
			sort keys %{$opts{headers}};

	} elsif (ref $opts{headers} eq 'ARRAY') {
		my @h = @{$opts{headers}};
		push @headers, [ splice(@h, 0, 2) ] while @h;
	}

	my %have = map { lc($_->[0]) => 1 } @headers;

	unshift @headers, [ 'Host', 'localhost' ] unless $have{host};
	push @headers, [ 'Connection', 'close' ] unless $have{connection};

	if (defined $opts{body} && !$have{'content-length'}
		&& !$have{'transfer-encoding'})
	{
		push @headers, [ 'Content-Length', length($opts{body}) ];
	}

	my $request = "$method $uri HTTP/$version" . $CRLF;
	$request .= "$_->[0]: $_->[1]" . $CRLF for @headers;
	$request .= $CRLF;
	$request .= $opts{body} if defined $opts{body};

	my $raw = $self->http($request,
		map { defined $opts{$_} ? ($_ => $opts{$_}) : () }
			qw/ port peer timeout /);

	my $r = parse_response($raw);

	return $r || { status => undef, headers => {}, body => undef,
		raw => undef };
}

###############################################################################


###############################################################################

# Twilio's side of a webhook, for the tests that play Twilio.

# a form value, application/x-www-form-urlencoded as Twilio sends it

sub form_escape {
	my ($s) = @_;

	$s =~ s/([^A-Za-z0-9\-_.~ ])/sprintf('%%%02X', ord($1))/ge;
	$s =~ tr/ /+/;

	return $s;
}

# a form body of a flat list of names and values, in the order given

sub form_body {
	my (@pairs) = @_;

	my @out;

	while (@pairs) {
		my ($k, $v) = splice(@pairs, 0, 2);
		push @out, form_escape($k) . '=' . form_escape($v);
	}

	return join('&', @out);
}

# X-Twilio-Signature over a URL and a flat list of form names and values:
# base64 of the HMAC-SHA1, keyed with the Auth Token, of the URL followed
# by each name in sorted order with each of its distinct values, sorted

sub twilio_signature {
	my ($token, $url, @pairs) = @_;

	my %values;

	while (@pairs) {
		my ($k, $v) = splice(@pairs, 0, 2);
		$values{$k}{$v} = 1;
	}

	my $data = $url;

	for my $k (sort keys %values) {
		$data .= $k . $_ for sort keys %{$values{$k}};
	}

	my $mac = Digest::SHA::hmac_sha1($data, $token);

	return MIME::Base64::encode_base64($mac, '');
}

# a body in chunks of size bytes, Transfer-Encoding: chunked

sub chunked_body {
	my ($data, $size) = @_;

	my $s = '';

	while (length $data) {
		my $chunk = substr($data, 0, $size, '');
		$s .= sprintf("%x\x0d\x0a%s\x0d\x0a", length $chunk, $chunk);
	}

	return $s . "0\x0d\x0a\x0d\x0a";
}

# webhook_request($uri, token => ..., pairs => [ name, value, ... ], ...):
# Twilio's POST of those fields to uri, signed with the Auth Token over
# url (default http://<host><uri>); returns http_request()'s reply.
#
# options: host (a Host header, and the signed URL's host), url, headers
# (more, or other, headers: a hash or a flat list), no_headers (names of
# headers not to send), chunked (the body in chunks of that size),
# method, timeout

sub webhook_request {
	my ($self, $uri, %o) = _self_and_args(@_);

	my @pairs = @{$o{pairs} || []};
	my $body = form_body(@pairs);
	my $url = defined $o{url} ? $o{url}
		: 'http://' . ($o{host} || 'localhost') . $uri;

	my @headers = (
		defined $o{host} ? (Host => $o{host}) : (),
		'Content-Type' => 'application/x-www-form-urlencoded',
		'X-Twilio-Signature' =>
			twilio_signature($o{token}, $url, @pairs),
	);

	my @more = ref $o{headers} eq 'HASH'
		? map { $_ => $o{headers}{$_} } sort keys %{$o{headers}}
		: @{$o{headers} || []};

	# a header given again replaces the default one

	while (my ($name, $value) = splice(@more, 0, 2)) {
		my $i = _header_index(\@headers, $name);
		if (defined $i) {
			$headers[$i + 1] = $value;
		} else {
			push @headers, $name, $value;
		}
	}

	for my $name (@{$o{no_headers} || []}) {
		my $i = _header_index(\@headers, $name);
		splice(@headers, $i, 2) if defined $i;
	}

	if ($o{chunked}) {
		push @headers, 'Transfer-Encoding' => 'chunked';
		$body = chunked_body($body, $o{chunked});
	}

	return $self->http_request($o{method} || 'POST', $uri,
		headers => \@headers, body => $body,
		defined $o{timeout} ? (timeout => $o{timeout}) : ());
}

sub _header_index {
	my ($headers, $name) = @_;

	for (my $i = 0; $i < @$headers; $i += 2) {
		return $i if lc $headers->[$i] eq lc $name;
	}

	return undef;
}

# webhook_raw($uri, token => ..., pairs => [ ... ], ...): the same POST
# as the raw bytes of an HTTP request, for tests that send it in parts
# or get it wrong on purpose.
#
# options: url (signed; default http://localhost<uri>), version (1.1),
# host (undef: no Host header), sigs (the X-Twilio-Signature values
# sent, default the right one), type (Content-Type; '' sends none),
# headers (more header lines), body (instead of the fields' form),
# length (Content-Length sent), chunked (no Content-Length), connection

sub webhook_raw {
	my ($uri, %o) = @_;

	my $version = $o{version} || '1.1';
	my $host = exists $o{host} ? $o{host} : 'localhost';
	my @pairs = @{$o{pairs} || []};

	my $body = defined $o{body} ? $o{body} : form_body(@pairs);
	my $url = defined $o{url} ? $o{url} : "http://localhost$uri";

	my $sigs = exists $o{sigs} ? $o{sigs}
		: [ twilio_signature($o{token}, $url, @pairs) ];

	my $type = defined $o{type} ? $o{type}
		: 'application/x-www-form-urlencoded';

	my $req = "POST $uri HTTP/$version" . $CRLF;
	$req .= "Host: $host" . $CRLF if defined $host;
	$req .= "Content-Type: $type" . $CRLF if $type ne '';
	$req .= "X-Twilio-Signature: $_" . $CRLF for @$sigs;
	$req .= $_ . $CRLF for @{$o{headers} || []};

	$req .= 'Content-Length: '
		. (defined $o{length} ? $o{length} : length $body) . $CRLF
		unless $o{chunked};

	$req .= "Connection: $o{connection}" . $CRLF
		if defined $o{connection};

	return $req . $CRLF . $body;
}

# a reply as "status content-type\nbody", for is() against what a test
# expects; a parse_response() hash (or raw bytes)

sub reply {
	my ($r) = @_;

	$r = parse_response($r) unless ref $r;
	$r ||= { headers => {} };

	my $type = $r->{headers}{'content-type'};
	$type = join(', ', @$type) if ref $type;

	return (defined $r->{status} ? $r->{status} : 'none') . ' '
		. (defined $type ? $type : 'none') . "\n"
		. (defined $r->{body} ? $r->{body} : '');
}

# how many lines of an error log (its text, or a list of its lines) are
# of that level and hold that text

sub logged {
	my ($log, $level, $text) = @_;

	my @lines = ref $log ? @$log : split /\n/, $log;

	return scalar grep { /\[\Q$level\E\] / && index($_, $text) >= 0 }
		@lines;
}

###############################################################################

# nginx -t expectations: each runs nginx -t on a configuration (options:
# those of nginx_t) and checks its exit code and what it printed.
#
# "at" names the configuration line a message points to: the text of the
# line, or [ text, n ] for the nth line holding it.  In an expected
# message, FILE:LINE stands for that file and line and %%CONFDIR%% for
# the configuration's directory; nginx ends most messages with " in
# FILE:LINE", which a message that does not end with FILE:LINE itself
# may have or not.

# the number of the line of the file at path holding text, 0 if none

sub conf_line {
	my ($self, $path, $text) = _self_and_args(@_);

	my $nth = 1;
	($text, $nth) = @$text if ref $text;

	my @lines = split /\n/, $self->read_file($path), -1;

	for my $n (0 .. $#lines) {
		next if index($lines[$n], $text) < 0;
		return $n + 1 if --$nth == 0;
	}

	return 0;
}

# the message as a regex for one line of nginx -t's output

sub _conf_message {
	my ($self, $message, $path, $at, $level) = @_;

	(my $confdir = $path) =~ s{/[^/]*$}{};
	$message =~ s/%%CONFDIR%%/$confdir/g;

	my $re = quotemeta($message);

	if (defined $at) {
		my $where = quotemeta("$path:" . $self->conf_line($path, $at));
		$re =~ s/FILE\\:LINE/$where/g;
	}

	$re .= '(?: in \S+:\d+)?' unless $message =~ /FILE:LINE$/;

	return qr/\[$level\] (?:\d+#\d+: )?$re$/m;
}

# nginx -t passes; returns its output and the configuration's path

sub conf_passes {
	my ($self, $name, $conf, %opts) = _self_and_args(@_);

	my ($rc, $out, $path) = $self->nginx_t($conf, %opts);

	Test::More::is($rc, 0, "$name passes") or Test::More::diag($out);

	return ($out, $path);
}

# nginx -t fails with that [emerg] message

sub conf_fails {
	my ($self, $name, $conf, $at, $message, %opts) = _self_and_args(@_);

	my ($rc, $out, $path) = $self->nginx_t($conf, %opts);

	Test::More::isnt($rc, 0, "$name fails");
	Test::More::like($out,
		$self->_conf_message($message, $path, $at, 'emerg'),
		"$name message") or Test::More::diag($out);
}

# nginx -t fails with an [emerg] line holding each of texts, which ends
# with " in FILE:LINE" of the line at

sub conf_fails_with {
	my ($self, $name, $conf, $at, $texts, %opts) = _self_and_args(@_);

	my ($rc, $out, $path) = $self->nginx_t($conf, %opts);
	my $line = $self->conf_line($path, $at);

	my ($emerg) = $out =~ /^(.*\[emerg\].*)$/m;
	$emerg = '' unless defined $emerg;

	Test::More::isnt($rc, 0, "$name fails");
	Test::More::ok(!grep({ index($emerg, $_) < 0 } @$texts)
		&& $emerg =~ / in \Q$path:$line\E$/, "$name message")
		or Test::More::diag($out);
}

# nginx -t passes with that [warn] message; with the option one => 1, it
# is the only warning; returns nginx -t's output

sub conf_warns {
	my ($self, $name, $conf, $at, $message, %opts) = _self_and_args(@_);

	my $one = delete $opts{one};

	my ($rc, $out, $path) = $self->nginx_t($conf, %opts);

	Test::More::is($rc, 0, "$name passes") or Test::More::diag($out);
	Test::More::like($out,
		$self->_conf_message($message, $path, $at, 'warn'),
		"$name warning");

	Test::More::is(() = $out =~ /\[warn\]/g, 1, "$name one warning")
		if $one;

	return $out;
}

1;

###############################################################################
