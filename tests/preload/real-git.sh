#!/usr/bin/env bash
# git init/add/commit/log/gc in a temporary repository: same output with and without umm.
set -u
. tests/preload/lib.bash
need git git
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
export GIT_CONFIG_NOSYSTEM=1 HOME=$TMPD
cat >"$TMPD/run.sh" <<'SH'
set -e
d=$1; rm -rf "$d"; mkdir -p "$d"; cd "$d"
git init -q -b main .
for i in $(seq 1 40); do
  mkdir -p "dir$((i % 5))"
  seq $((i * 100)) | sed "s/^/line $i /" >"dir$((i % 5))/file$i.txt"
  git add -A; git commit -q -m "commit $i"
done
git log --stat --format='%H %s' | head -200
git gc -q
git count-objects -v | grep -v size
git fsck --full
git log --oneline | wc -l
SH
compare git bash "$TMPD/run.sh" "$TMPD/repo"
