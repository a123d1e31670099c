#!/usr/bin/env bash
# The snapkeep command line itself: --help for the tool and every command,
# usage errors (exit 1), not found (exit 6), version, key slot management,
# forget policies with --dry-run and --prune, diff, stats and JSON output of
# every command that has it (each must parse with jq).
set -u
. "$(dirname "$0")/../lib/repo.sh"
sk_repo_setup

# --- help and usage ---------------------------------------------------------------
out=$("$SNAPKEEP" --help); rc=$?
[ $rc -eq 0 ] && grep -q '^Exit status:' <<<"$out" && grep -q 'repo init' <<<"$out" && ok "snapkeep --help lists commands and exit codes" || notok "snapkeep --help"
for c in "repo init" backup backups ls restore diff check forget prune stats "key add" "key list" "key remove" "key passwd" "index rebuild" version; do
  # shellcheck disable=SC2086
  out=$("$SNAPKEEP" $c --help 2>&1); rc=$?
  [ $rc -eq 0 ] && grep -q "^Usage: snapkeep $c" <<<"$out" && ok "'$c --help'" || notok "'$c --help' (exit $rc): $(head -2 <<<"$out")"
done
"$SNAPKEEP" >/dev/null 2>&1; [ $? -eq 1 ] && ok "no command: exit 1" || notok "no command"
"$SNAPKEEP" frobnicate >/dev/null 2>"$T/err"; [ $? -eq 1 ] && grep -q "unknown command 'frobnicate'" "$T/err" && ok "unknown command: exit 1 with message" || notok "unknown command"
"$SNAPKEEP" backup --bogus x >/dev/null 2>&1; [ $? -eq 1 ] && ok "unknown option: exit 1" || notok "unknown option"
"$SNAPKEEP" restore latest 2>"$T/err" >/dev/null; [ $? -eq 1 ] && grep -q -- '--target' "$T/err" && ok "restore without --target: exit 1 naming it" || notok "restore without --target"
"$SNAPKEEP" check --read-data-subset 200% 2>/dev/null; [ $? -eq 1 ] && ok "bad --read-data-subset: exit 1" || notok "bad --read-data-subset"
env -u SNAPKEEP_REPO "$SNAPKEEP" backups 2>"$T/err"; [ $? -eq 1 ] && grep -q 'no repository given' "$T/err" && ok "no --repo: exit 1 with hint" || notok "no --repo"
"$SNAPKEEP" version --json | jq -e '.version | length > 0' >/dev/null && ok "version --json" || notok "version --json"

# --- not found ---------------------------------------------------------------------
sk --repo "$T/nothing-here" backups >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 6 ] && grep -q "no repository at $T/nothing-here" "$T/err" && ok "missing repository: exit 6" || notok "missing repository (exit $rc: $(cat "$T/err"))"
expect_rc 0 "repo init" sk_init
sk_init 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q 'already exists' "$T/err" && ok "init on an existing repository refused (exit 2)" || notok "second init (exit $rc)"
mkdir -p "$T/src/d"; echo one > "$T/src/d/a"; echo two > "$T/src/b"
sk backup -q --tag first "$T/src" >/dev/null
sk restore deadbeef --target "$T/x" 2>"$T/err" >/dev/null; rc=$?
[ $rc -eq 6 ] && ok "unknown backup id: exit 6" || notok "unknown backup id (exit $rc: $(cat "$T/err"))"
sk ls latest src/nope 2>/dev/null >/dev/null; [ $? -eq 6 ] && ok "ls of a missing path: exit 6" || notok "ls of a missing path"

# --- diff, ls, stats -----------------------------------------------------------------
id1=$(sk backups --json | jq -r '.[0].id')
echo changed > "$T/src/b"; echo new > "$T/src/c"; rm "$T/src/d/a"; chmod 700 "$T/src/d"
sk backup -q --tag second "$T/src" >/dev/null
sk diff "$id1" latest >"$T/diff.txt"
grep -q '^M src/b$' "$T/diff.txt" && grep -q '^+ src/c$' "$T/diff.txt" && grep -q '^- src/d/a$' "$T/diff.txt" && grep -q '^U src/d/$' "$T/diff.txt" \
  && ok "diff shows modified, added, removed and metadata-only" || { notok "diff"; cat "$T/diff.txt"; }
sk diff --json "$id1" latest | jq -e '.modified == 1 and .added == 1 and .removed == 1 and .metadata >= 1' >/dev/null && ok "diff --json counts" || notok "diff --json"
sk ls latest src >"$T/ls.txt" && grep -qx 'src/c' "$T/ls.txt" && ok "ls lists a directory" || { notok "ls"; cat "$T/ls.txt"; }
sk stats --json | jq -e '.backups == 2 and .stored_size > 0' >/dev/null && ok "stats --json" || notok "stats --json"
sk ls "${id1:0:8}" --json | jq -e 'length >= 1' >/dev/null && ok "an 8-digit id prefix resolves" || notok "id prefix"
sk backups --tag second --json | jq -e 'length == 1 and .[0].tags == ["second"]' >/dev/null && ok "backups --tag filters" || notok "backups --tag"

# --- keys -------------------------------------------------------------------------------
printf 'second passphrase\n' > "$T/pass2"
expect_rc 0 "key add --new-password-file" sk key add -q --new-password-file "$T/pass2"
[ "$(sk key list --json | jq length)" = 2 ] && ok "key list shows 2 slots" || notok "key list"
other=$(sk key list --json | jq -r '.[] | select(.current == false) | .slot')
cur=$(sk key list --json | jq -r '.[] | select(.current == true) | .slot')
sk key remove "$cur" 2>"$T/err" >/dev/null; rc=$?
[ $rc -ne 0 ] && grep -q 'refusing' "$T/err" && ok "removing the slot in use is refused" || notok "remove current slot (exit $rc)"
expect_rc 0 "the second passphrase opens the repository" sk --password-file "$T/pass2" check -q
expect_rc 0 "key remove the other slot" sk key remove -q "$other"
sk --password-file "$T/pass2" backups >/dev/null 2>&1; [ $? -eq 3 ] && ok "a removed slot no longer opens (exit 3)" || notok "removed slot still opens"
printf 'changed passphrase\n' > "$T/pass3"
expect_rc 0 "key passwd" sk key passwd -q --new-password-file "$T/pass3"
sk backups >/dev/null 2>&1; [ $? -eq 3 ] && ok "the old passphrase is rejected after passwd" || notok "old passphrase after passwd"
expect_rc 0 "the new passphrase works after passwd" sk --password-file "$T/pass3" check -q
export SNAPKEEP_PASSWORD_FILE=$T/pass3

# --- forget and prune -------------------------------------------------------------------
for i in 3 4 5; do echo "$i" > "$T/src/b"; sk backup -q "$T/src" >/dev/null; done
sk forget --keep-last 2 --dry-run --json >"$T/f.json"
jq -e '.dry_run and .kept == 2 and .removed == 3' "$T/f.json" >/dev/null && ok "forget --dry-run reports 2 kept, 3 removed" || { notok "forget --dry-run"; cat "$T/f.json"; }
[ "$(sk backups --json | jq length)" = 5 ] && ok "--dry-run removed nothing" || notok "--dry-run removed backups"
sk forget --keep-last 2 --keep-tag first --prune --json >"$T/f.json"; rc=$?
[ $rc -eq 0 ] && jq -e '.kept == 3 and .removed == 2 and .prune.backups == 3' "$T/f.json" >/dev/null \
  && ok "forget --keep-last 2 --keep-tag first --prune" || { notok "forget --prune (exit $rc)"; cat "$T/f.json"; }
sk backups --json | jq -e 'any(.[]; .tags == ["first"])' >/dev/null && ok "the tagged backup was kept" || notok "tagged backup kept"
newest=$(sk backups --json | jq -r '.[-1].id')
expect_rc 0 "forget ID" sk forget -q "${newest:0:10}"
[ "$(sk backups --json | jq length)" = 2 ] && ok "forget ID removed one backup" || notok "forget ID"
expect_rc 0 "check clean after forget and prune" sk check --read-data -q
sk_finish
