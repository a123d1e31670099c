#!/usr/bin/env bash
# Repository format versions (issue 15 item 3, FORMAT.md section 4):
# - tests/data/repo-v1, written by a snapkeep that knew only version 1
#   (tests/data/make-repo-v1.sh), is checked, restored identically, backed up
#   into and restored again by this build, and stays version 1 (config and
#   content hash rule 1 in every new tree);
# - a new repository is version 2: its files' content hashes are derived from
#   their chunk ids (rule 2), and backup, incremental backup, check and restore
#   round-trip; `repo init --format-version 1` still makes a version-1 one;
# - the end-to-end check still fails a file whose content hash does not match,
#   under either rule (tests/tools/skhostile hash-mismatch), and leaves nothing
#   of it behind;
# - a parent backup whose files claim the other rule (tests/tools/skrelabel:
#   another writer's, or crafted) is not reused: the next backup reads those
#   files again, succeeds, and writes the repository's own rule only.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SK_SRC/tests/lib/repo.sh"
. "$SK_SRC/tests/lib/formattree.sh"
SKHOSTILE=${SKHOSTILE:-$BUILD_DIR/tools/skhostile}
SKRELABEL=${SKRELABEL:-$BUILD_DIR/tools/skrelabel}
unset SK_TEST_REPO_URL # the fixture is a directory
sk_repo_setup
sk_need_built "$SKHOSTILE" "$SKRELABEL"

# The version in the config's file header (bytes 8-9, little-endian).
config_version() { od -An -tu2 -j8 -N2 "$1/config" | tr -d ' '; }
# The content hash rules of every file of backup $1, sorted and unique.
rules_of() { sk ls -R --json "$1" | jq -r '[.[] | select(.type == "file") | .content_hash_rule] | unique | map(tostring) | join(",")'; }
# Restore backup $1 and compare its "src" with $T/src.
restores_same() { # ID WHAT
  rm -rf "$T/out"
  if ! sk restore -q "$1" --target "$T/out"; then notok "$2: restore failed"; return; fi
  if "$TREECMP" "$T/src" "$T/out/src" >"$T/cmp" 2>&1; then ok "$2: restored tree is identical"
  else notok "$2: restored tree is identical"; head -20 "$T/cmp"; fi
}

sk_format_tree "$T/src"

# ---- a version-1 repository written by the previous writer ---------------
cp -a "$SK_SRC/tests/data/repo-v1" "$T/v1"
export SNAPKEEP_REPO=$T/v1
[ "$(config_version "$T/v1")" = 1 ] && ok "fixture is a version-1 repository" || notok "fixture version $(config_version "$T/v1")"
expect_rc 0 "v1: check --read-data of the fixture" sk check -q --read-data
fix=$(sk backups --json | jq -r '.[0].id')
[ "$(rules_of "$fix")" = 1 ] && ok "v1: the fixture's files hash by rule 1" || notok "v1: fixture rules $(rules_of "$fix")"
(cd "$T" && restores_same "$fix" "v1 fixture")

# The same tree changed a little, backed up into the old repository by this build.
printf 'more\n' >>"$T/src/small.txt"
sk_rand "$T/src/sub/new.bin" 50000 format-new
touch -h -d @1700000100 "$T/src/small.txt" "$T/src/sub/new.bin" "$T/src/sub"
sk backup --json --parent "$fix" "$T/src" >"$T/b1.json"; rc=$?
[ $rc = 0 ] && ok "v1: backup into the fixture" || { notok "v1: backup into the fixture (exit $rc)"; cat "$T/b1.json"; }
id1=$(jq -r .id "$T/b1.json")
[ "$(jq -r .parent "$T/b1.json")" = "$fix" ] && ok "v1: the fixture's backup is the parent" || notok "v1: parent $(jq -r .parent "$T/b1.json")"
[ "$(config_version "$T/v1")" = 1 ] && ok "v1: the repository stays version 1" || notok "v1: now version $(config_version "$T/v1")"
[ "$(rules_of "$id1")" = 1 ] && ok "v1: new and reused files hash by rule 1" || notok "v1: rules $(rules_of "$id1")"
restores_same "$id1" "v1 new backup"
expect_rc 0 "v1: check --read-data after the backup" sk check -q --read-data

# ---- a new repository: version 2 -------------------------------------------
export SNAPKEEP_REPO=$T/v2
expect_rc 0 "v2: repo init" sk_init
[ "$(config_version "$T/v2")" = 2 ] && ok "a new repository is version 2" || notok "new repository version $(config_version "$T/v2")"
sk_format_tree "$T/src"
id2=$(sk backup --json "$T/src" | jq -r .id)
[ "$(rules_of "$id2")" = 2 ] && ok "v2: every file hashes by rule 2" || notok "v2: rules $(rules_of "$id2")"
restores_same "$id2" "v2 backup"
printf 'more\n' >>"$T/src/small.txt"
sk_rand "$T/src/sub/new.bin" 50000 format-new
sk backup --json "$T/src" >"$T/b3.json"
id3=$(jq -r .id "$T/b3.json")
[ "$(jq -r .parent "$T/b3.json")" = "$id2" ] && [ "$(jq .summary.files_unmodified "$T/b3.json")" -ge 5 ] &&
  ok "v2: incremental backup reuses unchanged files" || notok "v2: incremental $(jq -c '{parent, summary}' "$T/b3.json")"
[ "$(rules_of "$id3")" = 2 ] && ok "v2: incremental backup's files hash by rule 2" || notok "v2: rules $(rules_of "$id3")"
restores_same "$id3" "v2 incremental backup"
expect_rc 0 "v2: check --read-data" sk check -q --read-data

# A parent whose files claim rule 1 (as if another writer made it): the
# next backup, with one file changed, reads the rest again instead of mixing
# the rules in a directory (which used to fail every later backup).
rid=$("$SKRELABEL" "$SNAPKEEP_REPO" "$T/pass" "$id3" 1) || notok "skrelabel 1"
printf 'again\n' >>"$T/src/sub/new.bin"
sk backup --json "$T/src" >"$T/b4.json"; rc=$?
[ $rc = 0 ] && [ "$(jq -r .parent "$T/b4.json")" = "$rid" ] && ok "v2: a backup over a parent of the other rule succeeds" ||
  { notok "v2: backup over a relabelled parent (exit $rc)"; head -c 600 "$T/b4.json"; }
id4=$(jq -r .id "$T/b4.json")
# skrelabel relabels the files of src/ itself: those 4 are read again; the 3
# unchanged files further down (sub/hard1, deep/er/*) still claim rule 2.
[ "$(jq .summary.files_unmodified "$T/b4.json")" = 3 ] && ok "v2: the relabelled parent's files are read again, the others reused" ||
  notok "v2: reused $(jq .summary.files_unmodified "$T/b4.json") files, want the 3 not relabelled"
[ "$(rules_of "$id4")" = 2 ] && ok "v2: and hash by rule 2" || notok "v2: rules $(rules_of "$id4")"
restores_same "$id4" "v2 backup over a relabelled parent"

# ---- the end-to-end check under both rules --------------------------------
for rule in 1 2; do
  hid=$("$SKHOSTILE" "$SNAPKEEP_REPO" "$T/pass" hash-mismatch $rule) || { notok "skhostile hash-mismatch $rule"; continue; }
  rm -rf "$T/h"
  sk restore --json "$hid" --target "$T/h" >"$T/h.json" 2>"$T/h.err"; rc=$?
  [ $rc != 0 ] && ok "rule $rule: a restore with a wrong content hash fails (exit $rc)" || notok "rule $rule: restore with a wrong content hash succeeded"
  grep -q "content hash mismatch" "$T/h.json" "$T/h.err" && ok "rule $rule: the error names the content hash" ||
    { notok "rule $rule: error names the content hash"; head -c 600 "$T/h.json" "$T/h.err"; }
  [ ! -e "$T/h/fs/bad" ] && ok "rule $rule: nothing of the mismatching file is left" || notok "rule $rule: fs/bad was left behind"
  [ "$(cat "$T/h/fs/good" 2>/dev/null)" = "$(printf 'first chunk of good\nsecond chunk of good')" ] &&
    ok "rule $rule: the matching file is restored" || notok "rule $rule: fs/good not restored"
done

# ---- version 1 on request, and no version beyond what this build knows ------
export SNAPKEEP_REPO=$T/v1new
expect_rc 0 "repo init --format-version 1" sk_init --format-version 1
[ "$(config_version "$T/v1new")" = 1 ] && ok "--format-version 1 makes a version-1 repository" || notok "version $(config_version "$T/v1new")"
id5=$(sk backup --json "$T/src" | jq -r .id)
[ "$(rules_of "$id5")" = 1 ] && ok "--format-version 1: files hash by rule 1" || notok "--format-version 1: rules $(rules_of "$id5")"
restores_same "$id5" "--format-version 1 backup"
# and the other way: a parent claiming rule 2 does not bring rule 2 into it
rid=$("$SKRELABEL" "$SNAPKEEP_REPO" "$T/pass" "$id5" 2) || notok "skrelabel 2"
id6=$(sk backup --json "$T/src" | jq -r .id)
[ "$(rules_of "$id6")" = 1 ] && [ "$(config_version "$T/v1new")" = 1 ] &&
  ok "--format-version 1: a parent claiming rule 2 leaves the repository at rule 1" || notok "--format-version 1 after a rule-2 parent: rules $(rules_of "$id6")"
restores_same "$id6" "--format-version 1 backup over a relabelled parent"
export SNAPKEEP_REPO=$T/v3
sk_init --format-version 3 2>"$T/v3.err"; rc=$?
[ $rc = 1 ] && grep -q -- "--format-version wants 1..2" "$T/v3.err" && [ ! -e "$T/v3/config" ] &&
  ok "--format-version 3 is a usage error (exit 1) naming the range" || { notok "--format-version 3 (exit $rc)"; cat "$T/v3.err"; }
# A config of a version this build does not know: refused, naming the cause.
cp -a "$T/v2" "$T/v9"
printf '\x09' | dd of="$T/v9/config" bs=1 seek=8 conv=notrunc status=none
SNAPKEEP_REPO=$T/v9 sk backups 2>"$T/v9.err"; rc=$?
[ $rc != 0 ] && grep -q "repository format version" "$T/v9.err" && ok "an unknown format version is refused with a clear error" ||
  { notok "unknown format version (exit $rc)"; cat "$T/v9.err"; }
sk_finish
