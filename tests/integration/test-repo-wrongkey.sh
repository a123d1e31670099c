#!/usr/bin/env bash
# Wrong key (issue 3 acceptance): a wrong passphrase or a wrong key file gives
# a clear error ("wrong passphrase or key file for repository X") and exit
# status 3, for every command, and nothing is written: the repository tree
# (paths, types, sizes, modes, sha256 of every file) is the same before and
# after (every object's name, size and sha256), and restore creates no
# target. The right key file opens it.
set -u
. "$(dirname "$0")/../lib/repo.sh"
sk_repo_setup

mkdir -p "$T/src/d"
sk_rand "$T/src/d/file" 300000
echo hello > "$T/src/small"
expect_rc 0 "repo init" sk_init
expect_rc 0 "backup with the right passphrase" sk backup -q "$T/src"
head -c 64 /dev/urandom > "$T/keyfile"
expect_rc 0 "key add --new-key-file" sk key add -q --new-key-file "$T/keyfile"
head -c 64 /dev/urandom > "$T/wrong-keyfile"
printf 'not the passphrase\n' > "$T/wrong-pass"

before=$(sk_repo_fingerprint)
msg="wrong passphrase or key file for repository $SNAPKEEP_REPO"
for secret in "--password-file $T/wrong-pass" "--key-file $T/wrong-keyfile"; do
  kind=${secret%% *}
  for cmd in "backup $T/src" "backups" "ls latest" "restore latest --target $T/target" "diff latest latest" \
             "check --read-data" "forget --keep-last 1 --prune" "prune" "stats" "key list" \
             "key add --new-password-file $T/wrong-pass" "key passwd --new-password-file $T/wrong-pass" \
             "index rebuild"; do
    # shellcheck disable=SC2086
    "$SNAPKEEP" --no-progress $secret $cmd >"$T/out" 2>"$T/err"; rc=$?
    if [ $rc -eq 3 ] && grep -qF "$msg" "$T/err"; then
      ok "$kind: '${cmd%% /*}' exits 3 naming the cause"
    else
      notok "$kind: '${cmd%% /*}' (exit $rc, stderr: $(head -c 200 "$T/err"))"
    fi
  done
done
# The environment variable path too, and an empty password file.
SNAPKEEP_PASSWORD_FILE=$T/wrong-pass "$SNAPKEEP" backups >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 3 ] && grep -qF "$msg" "$T/err" && ok "SNAPKEEP_PASSWORD_FILE with a wrong passphrase exits 3" || notok "SNAPKEEP_PASSWORD_FILE wrong (exit $rc)"
: > "$T/empty"
"$SNAPKEEP" --password-file "$T/empty" backups >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q 'empty' "$T/err" && ok "an empty password file is refused clearly (exit $rc)" || notok "empty password file (exit $rc: $(cat "$T/err"))"
# No TTY and no secret: a clear message, exit 3, never a hang.
env -u SNAPKEEP_PASSWORD_FILE setsid "$SNAPKEEP" backups </dev/null >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 3 ] && grep -q 'no passphrase given' "$T/err" && ok "no secret and no terminal: exit 3 with a hint" || notok "no secret, no tty (exit $rc: $(cat "$T/err"))"

after=$(sk_repo_fingerprint)
[ "$before" = "$after" ] && ok "repository byte-identical after all wrong-key attempts" || { notok "repository changed"; diff <(echo "$before") <(echo "$after") | head; }
[ ! -e "$T/target" ] && ok "restore with a wrong key created nothing" || notok "restore with a wrong key created $T/target"

# The right key file works; so does the passphrase; a passphrase is never argv.
expect_rc 0 "the right key file opens the repository" sk --key-file "$T/keyfile" check -q
SNAPKEEP_KEY_FILE=$T/keyfile expect_rc 0 "SNAPKEEP_KEY_FILE opens the repository" sk check -q
"$SNAPKEEP" --password "x" backups >/dev/null 2>&1; rc=$?
[ $rc -eq 1 ] && ok "there is no --password option (usage error)" || notok "--password accepted? (exit $rc)"
sk_finish
