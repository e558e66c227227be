package Test::Twanon;

# Copyright (C) twanon authors

# Small test harness for ngx_http_twanon_module, shaped like nginx-tests'
# lib/Test/Nginx.pm: every test writes its own nginx.conf into a temporary
# prefix, starts a real nginx on loopback ports and talks raw HTTP to it.
#
# This file is nginx in a prefix: the Test::Twanon object, its ports,
# files and config expansion, run and stop, and its logs.  Each other job
# has a module under Test/Twanon/, whose functions Test::Twanon imports
# and exports (as methods too):
#   Conf     nginx -t and the conf_passes/conf_fails expectations
#   HTTP     the HTTP/1.x client (http, http_request, parse_response)
#   Twilio   Twilio's side: forms, signatures, signed webhook requests
#   Backend  the backends nginx talks to (run_backend, forking_server)
#   Wrk      wrk load and its counts
#   Checks   the end checks (alerts, sanitizers, valgrind)
#   Command  processes (run_command, node, worker_pids)
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
#   TEST_NGINX_VALGRIND...   valgrind mode: see Test::Twanon::Checks
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

our (@EXPORT, @EXPORT_OK);

BEGIN {
	@EXPORT = qw/ http http_get http_request port skip_file /;
	@EXPORT_OK = qw/ logged /;

	# each part's functions are imported here and exported again

	for my $part (qw/ Conf HTTP Twilio Backend Wrk Checks Command /) {
		my $module = "Test::Twanon::$part";

		require "Test/Twanon/$part.pm";

		no strict 'refs';
		my @names = @{"${module}::EXPORT_OK"};

		$module->import(@names);
		push @EXPORT_OK, @names;
	}
}

###############################################################################

use Cwd qw//;
use File::Basename qw/ dirname /;
use File::Path qw/ rmtree /;
use File::Spec qw//;
use File::Temp qw/ tempdir /;
use IO::Socket::INET;
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
		die_with_parent();

		open STDOUT, '>>', "$testdir/stderr.log";
		open STDERR, '>>', "$testdir/stderr.log";

		my @cmd = (valgrind_command($testdir), $NGINX, '-p', "$testdir/",
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

	end_checks($self, grep { defined } @OBJECTS);

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

# how many lines of an error log (its text, or a list of its lines) are
# of that level and hold that text

sub logged {
	my ($log, $level, $text) = @_;

	my @lines = ref $log ? @$log : split /\n/, $log;

	return scalar grep { /\[\Q$level\E\] / && index($_, $text) >= 0 }
		@lines;
}

###############################################################################

1;

###############################################################################
