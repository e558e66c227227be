#!/usr/bin/perl

# Copyright (C) twanon authors

# A seed near -max_len for the targets that read a resolver's reply
# (fuzz.mk writes it to build/fuzz/seeds/json/): an options byte (bit 2:
# the route written as TwiML), then a reply of about 1 MiB made of
# escaped strings in a member nobody asked for, then an escaped key, a
# kept string with escapes and a number.  Generated rather than
# committed, for its size.

use warnings;
use strict;

my @s = map { $_ % 2 ? '"\u00e9"' : '"\n"' } 1 .. 140000;

print "\x04", '{"pad":[', join(',', @s), '],',
	'"customerName":"caf\u00e9\n","\u0061ppId":"user1",',
	'"customerId":19.99}';
