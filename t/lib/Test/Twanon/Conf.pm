package Test::Twanon::Conf;

# Copyright (C) twanon authors

# nginx -t: a configuration written to a fresh directory of the prefix and
# tested, and the expectations on its exit code and what it printed
# (conf_passes, conf_fails, conf_fails_with, conf_warns).

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT_OK = qw/ nginx_t last_nginx_t_conf check_module conf_line
	conf_passes conf_fails conf_fails_with conf_warns /;

###############################################################################

use Test::More qw//;

use Test::Twanon::Checks qw/ valgrind_command /;
use Test::Twanon::Command qw/ run_command /;
use Test::Twanon::HTTP qw/ self_and_args log_core /;

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
		timeout => ($opts{timeout} || 20) * Test::Twanon::slow(),
		env => \%env,
	}, valgrind_command($dir), Test::Twanon::binary(), '-t',
		'-p', "$dir/", '-c', $path,
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
	my ($self, $path, $text) = self_and_args(@_);

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
	my ($self, $name, $conf, %opts) = self_and_args(@_);

	my ($rc, $out, $path) = $self->nginx_t($conf, %opts);

	Test::More::is($rc, 0, "$name passes") or Test::More::diag($out);

	return ($out, $path);
}

# nginx -t fails with that [emerg] message

sub conf_fails {
	my ($self, $name, $conf, $at, $message, %opts) = self_and_args(@_);

	my ($rc, $out, $path) = $self->nginx_t($conf, %opts);

	Test::More::isnt($rc, 0, "$name fails");
	Test::More::like($out,
		_conf_message($self, $message, $path, $at, 'emerg'),
		"$name message") or Test::More::diag($out);
}

# nginx -t fails with an [emerg] line holding each of texts, which ends
# with " in FILE:LINE" of the line at

sub conf_fails_with {
	my ($self, $name, $conf, $at, $texts, %opts) = self_and_args(@_);

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
	my ($self, $name, $conf, $at, $message, %opts) = self_and_args(@_);

	my $one = delete $opts{one};

	my ($rc, $out, $path) = $self->nginx_t($conf, %opts);

	Test::More::is($rc, 0, "$name passes") or Test::More::diag($out);
	Test::More::like($out,
		_conf_message($self, $message, $path, $at, 'warn'),
		"$name warning");

	Test::More::is(() = $out =~ /\[warn\]/g, 1, "$name one warning")
		if $one;

	return $out;
}


1;

###############################################################################
