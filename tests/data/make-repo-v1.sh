#!/usr/bin/env bash
# Makes tests/data/repo-v1: a repository of format version 1 written by a
# snapkeep that knows only version 1 (the fixture in the tree was made by the
# build of commit a71f559), holding one backup of the tree of
# tests/lib/formattree.sh. test-repo-format.sh restores it, checks it and
# backs up into it with the current code.
#   SNAPKEEP=/path/to/old/snapkeep bash tests/data/make-repo-v1.sh
# Password: "correct horse battery staple" (tests/lib/repo.sh). Small chunks
# (1K/4K/16K) so the files have several chunks each.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/repo.sh"
. "$here/../lib/formattree.sh"
: "${SNAPKEEP:?the snapkeep binary that writes version 1}"
w=$(mktemp -d /var/tmp/sk-fixture.XXXXXX)
trap 'rm -rf "$w"' EXIT
printf 'correct horse battery staple\n' >"$w/pass"
export SNAPKEEP_PASSWORD_FILE=$w/pass SNAPKEEP_REPO=$w/repo
sk_format_tree "$w/src"
"$SNAPKEEP" --no-progress repo init -q --scrypt-log2n 10 --chunk-min 1K --chunk-avg 4K --chunk-max 16K
(cd "$w" && "$SNAPKEEP" --no-progress backup -q --tag fixture src)
"$SNAPKEEP" --no-progress check -q --read-data
rm -rf "$here/repo-v1"
cp -a "$w/repo" "$here/repo-v1"
rmdir "$here/repo-v1"/*/ 2>/dev/null || true
echo "wrote $here/repo-v1"
