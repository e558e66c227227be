#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the configuration in the docs: every fenced ```nginx block of
# README.md and docs/*.md, every docs/examples/*.conf and the Debian
# drop-in example (docs/examples/debian/) passes "nginx -t" with the
# module just built, so that the docs cannot drift from the module.  A
# block that fails is named by its file and line, with nginx's message,
# whose line is turned back into the line of the doc.
#
# Where a block goes, by the directives at its top level:
#
#   - http, events, load_module, user, worker_processes or pid: a whole
#     nginx.conf.  Its load_module line becomes the test globals (the
#     module built, a pid file and an error log in the prefix), a missing
#     events {} is added, pid lines are commented out, and each http {}
#     gets the test's temporary paths and access log unless it sets them;
#   - server, upstream, map, log_format, *_zone, proxy_cache_path: the
#     inside of an http {};
#   - location, listen, server_name: the inside of a server {};
#   - anything else (a list of directives): the inside of a location {}.
#
# A block of the docs that is not a whole nginx.conf is placed in an
# http {} that sets what the docs' Example Configuration sets at http
# level (the account and API key SIDs, the API secret file and the Auth
# Token file), each unless the block sets it, and defines each variable
# $tenant_* that the block uses without defining it (the docs' examples
# of per-tenant maps) with an empty map.  The example files get no such
# help: the Debian drop-in is tested as conf.d/*.conf, then
# sites-available/*, in an otherwise empty http {}.
#
# An HTML comment on the line before the fence changes this:
#
#   <!-- nginx-t: with previous -->     tested together with the block
#                                       before it in the same file (a
#                                       location that uses the upstream or
#                                       cache zone defined there)
#   <!-- nginx-t: skip: <reason> -->    not tested; the test prints the
#                                       file, line and reason (keep these
#                                       few: none today)
#
# What ties a block to one machine is replaced: absolute paths under /etc,
# /usr, /var, /run, /srv and /opt go under the test prefix, where each
# file the directive needs is created (secret files with mode 600, a
# self-signed certificate and key, TwiML for twanon_fallback_twiml, the
# included hash key and tenant maps, directories for root and caches);
# host names in proxy_pass and in an upstream's servers become 127.0.0.1
# unless the name is an upstream of the block, since nginx -t resolves
# them; docs/examples/demo.conf's @@...@@ placeholders are filled in as
# "make demo" does.  A path whose directive the test does not know fails
# the block: teach the test what the file must hold.
#
# The examples for production (docs/examples/ but demo.conf, whose token
# location takes the identity from the request on purpose) must also pass
# without a single warning, and the Debian drop-in must hold no
# load_module line.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Twanon;

use Cwd qw//;
use File::Path qw/ make_path /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Twanon->new()->has(qw/http proxy ssl/);

my $ROOT = $t->testdir() . '/root';
my $TOP = '..';

my $ACCOUNT = 'AC' . '0123456789abcdef0123456789abcdef';
my $KEY = 'SK' . '0123456789abcdef0123456789abcdef';

# the directives of each kind of block, at its top level

my %MAIN = map { $_ => 1 } qw/ http events load_module user
	worker_processes pid /;
my %HTTP = map { $_ => 1 } qw/ server upstream map geo split_clients
	log_format proxy_cache_path fastcgi_cache_path limit_req_zone
	limit_conn_zone /;
my %SERVER = map { $_ => 1 } qw/ location listen server_name /;

# the start of an absolute path of the docs that goes under the test
# prefix

my $PATH = qr{(?<![\w.:/\$])/(?:etc|usr|var|run|srv|opt)/};

# what the test globals set in http {}, left out where a config sets it

my @HTTP_GLOBALS = qw/ client_body_temp_path proxy_temp_path
	fastcgi_temp_path uwsgi_temp_path scgi_temp_path access_log /;

###############################################################################

# the blocks: groups of [ file, line of the fence, text ], with a skip
# reason or not

my (@groups, @skipped);

for my $file (grep { -f "$TOP/$_" } 'README.md',
	map { s{^\Q$TOP\E/}{}r } sort glob("$TOP/docs/*.md"))
{
	my @lines = split /\n/, slurp("$TOP/$file"), -1;
	my ($start, $indent, @text, $marker);

	for my $n (0 .. $#lines) {
		my $line = $lines[$n];

		if (defined $start) {
			if ($line =~ /^\s*```\s*$/) {
				add_block($file, $start,
					join("\n", @text) . "\n", $marker);
				undef $start;
				next;
			}

			$line =~ s/^ {0,$indent}//;
			push @text, $line;
			next;
		}

		next unless $line =~ /^( *)```nginx\s*$/;

		($start, $indent, @text) = ($n + 1, length $1);

		# the marker: the last line before the fence that is not blank

		my $p = $n - 1;
		$p-- while $p >= 0 && $lines[$p] =~ /^\s*$/;
		$marker = $p >= 0
			&& $lines[$p] =~ /^\s*<!--\s*nginx-t:\s*(.*?)\s*-->/
			? $1 : undef;
	}

	die "$file: the ```nginx block at line $start is not closed\n"
		if defined $start;
}

for my $path (sort glob("$TOP/docs/examples/*.conf")) {
	(my $file = $path) =~ s{^\Q$TOP\E/}{};
	push @groups, { blocks => [ [ $file, 1, slurp($path) ] ],
		example => 1, quiet => $file !~ m{/demo\.conf$} };
}

# the Debian drop-in: conf.d/*.conf, then sites-available/*, in http {}

my @debian = map { s{^\Q$TOP\E/}{}r }
	sort(glob("$TOP/docs/examples/debian/conf.d/*.conf")),
	sort(glob("$TOP/docs/examples/debian/sites-available/*"));

push @groups, {
	blocks => [ map { [ $_, 1, slurp("$TOP/$_") ] } @debian ],
	example => 1, quiet => 1, level => 'http'
} if @debian;

sub add_block {
	my ($file, $line, $text, $marker) = @_;

	my $block = [ $file, $line, $text ];

	if (!defined $marker) {
		push @groups, { blocks => [ $block ] };

	} elsif ($marker =~ /^skip:\s*(\S.*)$/) {
		push @skipped, "$file:$line: $1";

	} elsif ($marker eq 'with previous') {
		die "$file:$line: \"with previous\" without a block before it\n"
			unless @groups && !$groups[-1]{example}
				&& $groups[-1]{blocks}[-1][0] eq $file;
		push @{$groups[-1]{blocks}}, $block;

	} else {
		die "$file:$line: unknown marker \"nginx-t: $marker\"\n";
	}
}

###############################################################################

$t->check_module();

my $quiet = grep { $_->{quiet} } @groups;

$t->plan(@groups + $quiet + 3);

diag("skipped $_") for @skipped;

cmp_ok(scalar(grep { !$_->{example} } @groups), '>=', 40,
	'blocks found in the docs');
is(scalar @debian, 2, 'debian drop-in has two files');
unlike(join('', map { slurp("$TOP/$_") } @debian),
	qr/^\s*load_module\b/m, 'debian drop-in loads no module');

make_path($ROOT);
certificate();

for my $g (@groups) {
	my $where = join(' + ', map { "$_->[0]:$_->[1]" } @{$g->{blocks}});

	my ($conf, $origin) = eval { assemble($g) };

	if (!defined $conf) {
		is($@, '', "$where passes nginx -t");
		is($@, '', "$where without warnings") if $g->{quiet};
		next;
	}

	my ($rc, $out, $path) = $t->nginx_t($conf);

	# nginx's lines, with the generated config's lines as the doc's

	my $msg = join("\n", map { where($_, $path, $origin) }
		grep { /\[(?:emerg|alert|crit)\]/ } split /\n/, $out);

	$msg = "nginx -t exited with $rc:\n$out" if $rc != 0 && $msg eq '';

	is($msg, '', "$where passes nginx -t");

	next unless $g->{quiet};

	my $warn = join("\n", map { where($_, $path, $origin) }
		grep { /\[warn\]/ } split /\n/, $out);

	is($warn, '', "$where without warnings");
}

###############################################################################

# a whole nginx.conf for a group of blocks; returns the text and, for each
# of its lines, "file:line" of the doc or undef

sub assemble {
	my ($g) = @_;

	my (%level, @parts);

	for my $b (@{$g->{blocks}}) {
		my ($file, $line, $text) = @$b;

		$text = placeholders($text) if $file =~ m{^docs/examples/};

		my @st = statements($text);
		my $level = $g->{level} || level(@st);

		push @parts, { file => $file, line => $line, text => $text,
			level => $level, st => \@st };
	}

	die "a whole nginx.conf cannot be tested with another block\n"
		if @parts > 1 && grep { $_->{level} eq 'main' } @parts;

	my @st = map { @{$_->{st}} } @parts;
	my $all = join("\n", map { $_->{text} } @parts);

	# host names nginx -t would resolve, paths under the prefix, and the
	# files there

	my %upstream = map { $_->{args}[0] => 1 }
		grep { $_->{name} eq 'upstream' } @st;
	my %hosts;

	for my $s (@st) {
		my $arg;

		if ($s->{name} =~ /^(?:proxy|grpc|uwsgi|scgi|fastcgi)_pass$/) {
			($arg) = $s->{args}[0] =~ m{^\w+://([^/:\$]+)};

		} elsif ($s->{name} eq 'server' && $s->{parent} eq 'upstream') {
			($arg) = $s->{args}[0] =~ m{^([^/:\$]+)};
		}

		next unless defined $arg;
		next if $arg =~ /^(?:[\d.]+|unix)$/ || $upstream{$arg};

		$hosts{$arg} = 1;
	}

	for my $s (@st) {
		for my $a (@{$s->{args}}) {
			make_file($s->{name}, $_) for $a =~ /($PATH[^\s;'"]*)/g;
		}
	}

	for my $part (@parts) {
		my $text = $part->{text};

		$text =~ s{($PATH)}{$ROOT$1}g;

		for my $h (keys %hosts) {
			$text =~ s{(\w+://|^\s*server\s+)\Q$h\E(?=[:/;\s])}
				{${1}127.0.0.1}mg;
		}

		$part->{text} = $text;
	}

	my @lines;		# [ text, origin ]

	my $add = sub {
		my ($part, $prefix) = @_;
		my $n = $part->{line};

		push @lines, map { [ $prefix . $_, "$part->{file}:" . $n++ ] }
			split /\n/, $part->{text};
	};

	if ($parts[0]{level} eq 'main') {
		my $part = $parts[0];
		my $text = $part->{text};

		my $http = http_globals(@st);

		my $loaded = $text =~ s{^\s*load_module\s+[^;]*twanon[^;]*;}
			{%%TEST_GLOBALS%%}m;
		$text =~ s{^(\s*)(pid\s)}{$1# $2}mg;
		$text =~ s{^(\s*http\s*\{)}{$1 $http}mg;

		$part->{text} = $text;

		push @lines, [ '%%TEST_GLOBALS%%', undef ] unless $loaded;
		$add->($part, '');
		push @lines, [ 'events {}', undef ]
			unless grep { $_->{name} eq 'events' } @{$part->{st}};

		return finish(@lines);
	}

	push @lines, [ '%%TEST_GLOBALS%%', undef ], [ 'events {}', undef ],
		[ 'http {', undef ], [ '    ' . http_globals(@st), undef ];

	push @lines, map { [ "    $_", undef ] } prelude($all, @st)
		unless $g->{example};

	$add->($_, '    ') for grep { $_->{level} eq 'http' } @parts;

	my @server = grep { $_->{level} eq 'server' } @parts;
	my @location = grep { $_->{level} eq 'location' } @parts;

	if (@server || @location) {
		push @lines, [ '    server {', undef ];
		$add->($_, '        ') for @server;

		if (@location) {
			push @lines,
				[ '        location /twanon-docs/ {', undef ];
			$add->($_, '            ') for @location;
			push @lines, [ '        }', undef ];
		}

		push @lines, [ '    }', undef ];
	}

	push @lines, [ '}', undef ];

	return finish(@lines);
}

sub finish {
	my (@lines) = @_;

	return (join('', map { "$_->[0]\n" } @lines),
		[ undef, map { $_->[1] } @lines ]);
}

# the kind of a block, from its top-level directives

sub level {
	my (@st) = @_;

	my @top = map { $_->{name} } grep { $_->{depth} == 0 } @st;

	return 'main' if grep { $MAIN{$_} } @top;
	return 'http' if grep { $HTTP{$_} || /_zone$/ } @top;
	return 'server' if grep { $SERVER{$_} } @top;
	return 'location';
}

# the test's temporary paths and access log, but those the config sets

sub http_globals {
	my (@st) = @_;

	my %set = map { $_->{name} => 1 } @st;
	my $s = $t->test_globals_http();

	for my $name (@HTTP_GLOBALS) {
		$s =~ s/(?:^|(?<=; ))\Q$name\E [^;]*;\s*//g if $set{$name};
	}

	return $s;
}

# what a fragment finds at http level: the Example Configuration's
# account settings, and the $tenant_* variables it uses

sub prelude {
	my ($all, @st) = @_;

	my %set = map { $_->{name} => 1 } @st;
	my %defined;
	my @lines;

	for my $s (@st) {
		my @vars;

		push @vars, $s->{args}[1] if $s->{name} eq 'map';
		push @vars, $s->{args}[0]
			if $s->{name} =~ /^(?:set|auth_request_set)$/;

		for (@vars) {
			$defined{$1} = 1 if defined && /^\$(\w+)$/;
		}
	}

	push @lines, "twanon_account_sid  $ACCOUNT;"
		unless $set{twanon_account_sid};
	push @lines, "twanon_api_key  $KEY;"
		unless $set{twanon_api_key};

	for my $name (qw/ api_secret auth_token /) {
		next if $set{"twanon_$name"} || $set{"twanon_${name}_file"};

		make_file("twanon_${name}_file", "/etc/nginx/twilio/$name");
		push @lines,
			"twanon_${name}_file  $ROOT/etc/nginx/twilio/$name;";
	}

	my %tenant = map { $_ => 1 } $all =~ /\$(tenant_\w+)/g;

	push @lines, "map \$host \$$_ { default \"\"; }"
		for grep { !$defined{$_} } sort keys %tenant;

	return @lines;
}

# demo.conf's placeholders, as "make demo" fills them in

sub placeholders {
	my ($text) = @_;

	my %value = (
		MODULE => 'ngx_http_twanon_module.so',
		PREFIX => "$ROOT/srv/demo",
		HTML => Cwd::abs_path("$TOP/html"),
		EXAMPLES => Cwd::abs_path("$TOP/docs/examples"),
		PORT => '8080',
	);

	make_path("$ROOT/srv/demo/tmp");

	$text =~ s{\@\@(\w+)\@\@}{
		defined $value{$1} ? $value{$1}
			: die "unknown placeholder \@\@$1\@\@\n"
	}ge;

	return $text;
}

###############################################################################

# the file a directive needs at path (a path of the docs), under $ROOT

sub make_file {
	my ($name, $path) = @_;

	my $file = "$ROOT$path";
	(my $dir = $file) =~ s{/[^/]*$}{};

	make_path($dir);

	return if $name eq 'pid' || $name eq 'load_module';

	if ($name =~ /^(?:access_log|error_log)$/) {
		return;

	} elsif ($name =~ /^(?:root|alias|proxy_cache_path|\w+_temp_path)$/) {
		make_path($file);

	} elsif ($name =~ /^twanon_(?:api_secret|auth_token|webhook_key)_file$/) {
		write_once($file, "secret-for-docs-tests-$name\n", 0600);

	} elsif ($name eq 'twanon_fallback_twiml') {
		write_once($file, '<?xml version="1.0" encoding="UTF-8"?>'
			. "\n<Response><Say>We are closed.</Say></Response>\n");

	} elsif ($name eq 'auth_basic_user_file') {
		write_once($file, "op_7:{PLAIN}secret-for-docs-tests\n", 0600);

	} elsif ($name eq 'ssl_certificate') {
		write_once($file, slurp("$ROOT/test.crt"));

	} elsif ($name eq 'ssl_certificate_key') {
		write_once($file, slurp("$ROOT/test.key"), 0600);

	} elsif ($name eq 'include' && $path =~ /\*/) {
		make_path($dir);

	} elsif ($name eq 'include' && $path =~ m{/mime\.types$}) {
		write_once($file, "types {\n    text/html  html;\n"
			. "    application/javascript  js;\n"
			. "    application/json  json;\n}\n");

	} elsif ($name eq 'include' && $path =~ m{/hash_key\.conf$}) {
		write_once($file, 'twanon_hash_key "' . ('5a' x 32) . "\";\n",
			0600);

	} elsif ($name eq 'include' && $path =~ m{/tenants\.conf$}) {
		write_once($file, join('', map {
			"map \$host \$tenant_$_ {\n    default \"\";\n}\n"
		} qw/ account_sid api_key api_secret auth_token /), 0600);

	} else {
		die "no rule for the file \"$path\" of \"$name\": "
			. "say in t/twanon_docs.t what it holds\n";
	}
}

sub write_once {
	my ($file, $content, $mode) = @_;

	return if -e $file;

	$t->write_file($file, $content);
	chmod(defined $mode ? $mode : 0644, $file)
		or die "Can't chmod $file: $!\n";
}

# one self-signed certificate and key for every ssl_certificate

sub certificate {
	system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256"
		. " -nodes -subj /CN=docs.example.com -days 2"
		. " -keyout '$ROOT/test.key' -out '$ROOT/test.crt'"
		. " >/dev/null 2>&1") == 0
		or die "openssl: cannot make a self-signed certificate\n";
}

###############################################################################

# the statements of configuration text: name, args, depth, the name of
# the enclosing block, line

sub statements {
	my ($text) = @_;

	my (@st, @words, @stack, $start);
	my $line = 1;

	pos($text) = 0;

	while (pos($text) < length $text) {
		if ($text =~ /\G\n/gc) {
			$line++;

		} elsif ($text =~ /\G[ \t\r]+/gc || $text =~ /\G#[^\n]*/gc) {
			# blanks, comments

		} elsif ($text =~ /\G([;{}])/gc) {
			my $c = $1;

			if (@words) {
				push @st, { name => $words[0],
					args => [ @words[1 .. $#words] ],
					depth => scalar @stack,
					parent => @stack ? $stack[-1] : '',
					line => $start };
			}

			if ($c eq '{') {
				push @stack, @words ? $words[0] : '';

			} elsif ($c eq '}') {
				die "unbalanced \"}\" at line $line\n"
					unless @stack;
				pop @stack;
			}

			@words = ();

		} elsif ($text =~ /\G"((?:[^"\\]|\\.)*)"/gcs
			|| $text =~ /\G'((?:[^'\\]|\\.)*)'/gcs
			|| $text =~ /\G([^\s;{}"']+)/gc)
		{
			my $w = $1;
			$start = $line unless @words;
			push @words, $w;
			$line += () = $w =~ /\n/g;

		} else {
			die "cannot read the configuration at line $line\n";
		}
	}

	die "unterminated block or directive\n" if @stack || @words;

	return @st;
}

# an nginx line with the generated config's file:line as the doc's

sub where {
	my ($line, $path, $origin) = @_;

	$line =~ s{\Q$path\E:(\d+)}{
		defined $origin->[$1] ? $origin->[$1] : "(test wrapper):$1"
	}ge;
	$line =~ s{\Q$ROOT\E}{}g;

	return $line;
}

sub slurp {
	my ($path) = @_;

	open my $fh, '<', $path or die "Can't open $path: $!\n";
	local $/;
	my $content = <$fh>;
	close $fh;

	return $content;
}

###############################################################################
