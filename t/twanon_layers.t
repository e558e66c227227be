#!/usr/bin/perl

# Copyright (C) twanon authors

# Tests for the shape of ngx_http_twanon_module/ (README.md, "Layout"):
#
#   - the README's table of C sources names every .c and .h file there,
#     and no other, each with a layer: module, handler, plumbing or pure;
#   - a graph of which file uses which, from the #include "..." lines and
#     from the non-static names each file defines and the others use, has
#     no cycle, and no edge runs up: plumbing or pure using the module or
#     a handler, a handler using another, pure using plumbing;
#   - the plumbing names no handler in a member (tlcf->after_dial);
#   - pure files include nothing of nginx's src/http;
#   - no C file is over 700 lines.
#
# The module's own ngx_module_t is every file's way to its configuration,
# as in nginx's modules, and is no edge.

use warnings;
use strict;

use Test::More;
use FindBin;
use Cwd qw(abs_path);

my $top = abs_path("$FindBin::Bin/..");
my $dir = "$top/ngx_http_twanon_module";
my $prefix = 'ngx_http_twanon_';

my %rank = (module => 0, handler => 1, plumbing => 2, pure => 3);

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

# the layout table: rows "| `a.c`, `b.c` | layer | job |"

my %layer;
my $in = 0;

for (split /\n/, slurp("$top/README.md")) {
    $in = 1 if /^\| file \| layer \| job \|/;
    next unless $in;
    last if !/^\|/;
    my ($files, $layer) = /^\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|/ or next;
    for my $f ($files =~ /`([^`]+)`/g) {
        $layer{$f =~ /^ngx_/ ? $f : "$prefix$f"} = $layer;
    }
}

opendir my $dh, $dir or die "$dir: $!";
my @files = sort grep { /\.[ch]$/ } readdir $dh;
closedir $dh;

ok(scalar(keys %layer), 'README has a layout table of the C sources');

for my $f (@files) {
    ok(exists $layer{$f}, "README layout table names $f");
    ok(!exists $layer{$f} || exists $rank{$layer{$f}},
       "$f has a known layer") if exists $layer{$f};
}

for my $f (sort keys %layer) {
    ok(-f "$dir/$f", "README layout table: $f exists");
}

# the graph

my (%src, %defines, %owner);

for my $f (@files) {
    my $text = slurp("$dir/$f");

    $text =~ s{/\*.*?\*/}{ }gs;
    $text =~ s{"(?:[^"\\\n]|\\.)*"}{""}g;
    $src{$f} = $text;

    my $raw = slurp("$dir/$f");
    my @lines = split /\n/, $raw;

    next unless $f =~ /\.c$/;

    for my $i (0 .. $#lines) {

        # a function: its name in column 0, its type on the line before
        if ($lines[$i] =~ /^($prefix\w+)\(/) {
            next if $i > 0 && $lines[$i - 1] =~ /^static\b/;
            $owner{$1} = $f;
            next;
        }

        # a variable: "type  name = ..." or "type  name[] = ..."
        if ($lines[$i] =~ /^(?!static\b)[a-z_][\w ]*\s\**($prefix\w+)\s*(\[\w*\])?\s*(=|;)/
            && $lines[$i] !~ /^(extern|typedef|return)\b/)
        {
            $owner{$1} = $f;
        }
    }
}

delete $owner{"${prefix}module"};

my %edge;

for my $f (@files) {
    my $text = slurp("$dir/$f");

    for my $h ($text =~ /^#include\s+"([^"]+)"/mg) {
        $edge{$f}{$h} = 'includes';
    }

    next unless $f =~ /\.c$/;

    my %seen;
    for my $name ($src{$f} =~ /\b($prefix\w+)\b/g) {
        next if $seen{$name}++;
        my $o = $owner{$name} or next;
        next if $o eq $f;
        $edge{$f}{$o} //= "uses $name";
    }
}

for my $f (sort keys %edge) {
    for my $g (sort keys %{ $edge{$f} }) {
        my ($lf, $lg) = ($layer{$f}, $layer{$g});
        next unless defined $lf && defined $lg
                    && exists $rank{$lf} && exists $rank{$lg};

        my $why = "$f ($lf) $edge{$f}{$g} of $g ($lg)";
        my $up = $rank{$lg} < $rank{$lf}
                 || ($lf eq 'handler' && $lg eq 'handler')
                 || ($lf eq 'module' && $lg eq 'module');

        ok(!$up, "no call up: $why");
    }
}

# cycles: Tarjan's strongly connected components

my ($index, @stack, %on, %idx, %low, @cycles) = (0);

sub strong {
    my ($v) = @_;
    $idx{$v} = $low{$v} = $index++;
    push @stack, $v;
    $on{$v} = 1;

    for my $w (sort keys %{ $edge{$v} || {} }) {
        next unless exists $src{$w};
        if (!exists $idx{$w}) {
            strong($w);
            $low{$v} = $low{$w} if $low{$w} < $low{$v};

        } elsif ($on{$w}) {
            $low{$v} = $idx{$w} if $idx{$w} < $low{$v};
        }
    }

    return unless $low{$v} == $idx{$v};

    my @scc;
    my $w;
    do {
        $w = pop @stack;
        $on{$w} = 0;
        push @scc, $w;
    } while ($w ne $v);

    push @cycles, [ sort @scc ] if @scc > 1;
}

for my $f (@files) {
    strong($f) unless exists $idx{$f};
}

is(scalar @cycles, 0, 'no cycle between files')
    or diag(join "\n", map { join ' <-> ', @$_ } @cycles);

# the plumbing reads descriptors: no member named after a webhook handler
# (as "tlcf->after_dial" or "ctx->incoming" were)

my $handlers = join '|', map { /^${prefix}(\w+)\.c$/ ? $1 : () }
    grep { ($layer{$_} // '') eq 'handler' } @files;

for my $f (grep { ($layer{$_} // '') eq 'plumbing' && /\.c$/ } @files) {
    my @named = $src{$f} =~ /(?:->|\.)((?:$handlers))\b/g;
    @named = grep { $_ ne 'status' } @named;   # also ctx->status, r's
    is("@named", '', "$f (plumbing) names no handler");
}

# pure files see no request

for my $f (grep { ($layer{$_} // '') eq 'pure' } @files) {
    my @http = slurp("$dir/$f") =~ /^#include\s+<(ngx_http\w*\.h|nginx\.h)>/mg;
    is("@http", '', "$f (pure) includes nothing of src/http");
}

# sizes

for my $f (grep { /\.c$/ } @files) {
    my $n = () = slurp("$dir/$f") =~ /\n/g;
    cmp_ok($n, '<', 700, "$f is under 700 lines");
}

done_testing();
