#!/usr/bin/env bash
# gcc compiling a multi-file C program (driver, cc1, as, collect2, ld all under umm):
# same objects, same program output with and without umm.
set -u
. tests/preload/lib.bash
need gcc gcc
mkdir -p "$TMPD/src"
for i in 1 2 3 4 5 6; do
  cat >"$TMPD/src/m$i.c" <<C
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { int key; struct node *l, *r; };
static struct node *ins$i(struct node *t, int k) {
  if (!t) { t = calloc(1, sizeof *t); t->key = k; return t; }
  if (k < t->key) t->l = ins$i(t->l, k); else t->r = ins$i(t->r, k);
  return t;
}
static int depth$i(struct node *t) { if (!t) return 0; int a = depth$i(t->l), b = depth$i(t->r); return 1 + (a > b ? a : b); }
int f$i(int n) { struct node *t = 0; for (int j = 0; j < n; j++) t = ins$i(t, (j * $i * 7919) % 10007); return depth$i(t); }
C
done
cat >"$TMPD/src/main.c" <<'C'
#include <stdio.h>
int f1(int), f2(int), f3(int), f4(int), f5(int), f6(int);
int main(void) { printf("%d %d %d %d %d %d\n", f1(1000), f2(2000), f3(3000), f4(4000), f5(5000), f6(6000)); return 0; }
C
cat >"$TMPD/build.sh" <<'SH'
set -e
cd "$1"; out=$2; mkdir -p "$out"
for f in *.c; do gcc -O2 -Wall -c "$f" -o "$out/${f%.c}.o"; done
gcc -o "$out/prog" "$out"/*.o
"$out/prog"
cat "$out"/*.o | md5sum
SH
compare gcc bash "$TMPD/build.sh" "$TMPD/src" "$TMPD/out"
