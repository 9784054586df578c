#!/usr/bin/env bash
# perl: hashes, regexes, sorting, string building: same output with and without umm.
set -u
. tests/preload/lib.bash
need perl perl-base
cat >"$TMPD/w.pl" <<'PL'
use strict; use warnings;
my %h; my @a;
for my $i (1 .. 200000) { my $k = sprintf("key%07d", ($i * 7919) % 1000003); $h{$k} .= "v$i,"; push @a, $k x (1 + $i % 3); }
my $n = 0; for my $k (sort keys %h) { $n += length $h{$k}; }
my @m = grep { /key00(\d)\1/ } @a;
my $s = join(",", map { uc } @a[0 .. 999]);
$s =~ s/KEY(\d+)/<$1>/g;
my %c; $c{length $_}++ for @a;
print "$n ", scalar(@m), " ", length($s), " ", join(" ", map { "$_=$c{$_}" } sort { $a <=> $b } keys %c), "\n";
PL
compare perl perl "$TMPD/w.pl"
