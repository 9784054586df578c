# lib.bash - helpers for the preload test scripts (sourced).
B=${B:-build}
SO=$(cd "$B" && pwd)/libumm_preload.so
[ -f "$SO" ] || { echo "missing $SO (make first)"; exit 1; }
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT

# under_umm NAME CMD...: run CMD under the preload with UMM_STATS=1; stdout
# to $TMPD/NAME.out, stderr to $TMPD/NAME.err (umm's lines kept there);
# fails unless CMD succeeds and umm printed its summary.
under_umm() {
  local name=$1; shift
  if ! LD_PRELOAD=$SO UMM_STATS=1 "$@" >"$TMPD/$name.out" 2>"$TMPD/$name.err"; then
    echo "FAIL: $* under umm"; tail -n 30 "$TMPD/$name.err"; return 1
  fi
  if ! grep -q '^umm: stats' "$TMPD/$name.err"; then
    echo "FAIL: $*: no umm summary, the preload did not serve it"; return 1
  fi
}

# compare NAME CMD...: run CMD with glibc malloc and with umm (in fresh
# copies of the current directory state made by the caller as needed) and
# compare stdout byte for byte.
compare() {
  local name=$1; shift
  if ! "$@" >"$TMPD/$name.ref" 2>"$TMPD/$name.referr"; then
    echo "FAIL: $* without umm"; tail -n 30 "$TMPD/$name.referr"; return 1
  fi
  under_umm "$name" "$@" || return 1
  if ! cmp -s "$TMPD/$name.ref" "$TMPD/$name.out"; then
    echo "FAIL: $*: output differs with umm"; diff "$TMPD/$name.ref" "$TMPD/$name.out" | head -20; return 1
  fi
  echo "ok: $name ($(wc -c <"$TMPD/$name.out") bytes identical; $(grep -c '^umm: stats' "$TMPD/$name.err") umm process(es))"
}

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "FAIL: $1 not installed (apt package: $2)"; exit 1; }
}
