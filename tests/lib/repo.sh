# shellcheck shell=bash
# tests/lib/repo.sh: shared helpers for the repository acceptance tests
# (tests/integration/test-repo-*.sh). Source it from bash.
#
# sk_repo_setup          skip (exit 77) unless root and $SNAPKEEP, treecmp and skobj
#                        are built; create $T (temp dir, removed on exit, bind mounts
#                        undone), a password file, and export SNAPKEEP_REPO (a fresh
#                        $T/repo, or $SK_TEST_REPO_URL when set, e.g. an s3:// URL)
#                        and SNAPKEEP_PASSWORD_FILE
# sk_init [ARGS]         snapkeep repo init (cheap scrypt cost for speed)
# sk ARGS                run $SNAPKEEP with --no-progress
# ok / notok MSG         print a TAP-like line; notok counts failures
# expect_rc WANT MSG CMD...
#                        run CMD, compare its exit status with WANT
# sk_finish              print a summary; exit 0 if nothing failed, else 1
# sk_noatime_view SRC VIEW
#                        bind-mount SRC read-only with noatime at VIEW, so reading
#                        it (a backup) does not change atimes; returns 1 if mounts
#                        are not possible here
# sk_rand FILE BYTES [SEED]
#                        deterministic pseudo-random content
#
# Storage access goes through tests/tools/skobj (the repository's own backend
# layer), so every test works the same on a local directory and on S3. Object
# names are as in docs/FORMAT.md ("config", "data/ab/ab12...", "index/...").
# All act on $SNAPKEEP_REPO:
# sk_obj_ls PREFIX/      "NAME SIZE" lines, sorted (PREFIX: keys data index backups locks)
# sk_obj_names           every object name of the repository, sorted
# sk_obj_get NAME / sk_obj_put NAME <FILE / sk_obj_rm NAME / sk_obj_size NAME
# sk_obj_flip NAME OFFSET        xor one byte with 0x01
# sk_obj_truncate NAME LENGTH
# sk_repo_bytes / sk_pack_bytes  bytes of all objects / of the packs (data/)
# sk_repo_fingerprint    every object's name, size and sha256, sorted
# sk_repo_save DIR / sk_repo_load DIR
#                        copy every object out to DIR / make the repository hold
#                        exactly the objects saved in DIR (pristine copies)
#
# Environment: SNAPKEEP (default $BUILD_DIR/snapkeep), TREECMP, SKOBJ, SKPUTOBJ
# (default $BUILD_DIR/tools/...), SK_TEST_REPO_URL, SK_TMP_BASE (default
# /var/tmp), SK_KEEP_TMP=1 keeps $T.

SK_SRC=${SK_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
SNAPKEEP=${SNAPKEEP:-$BUILD_DIR/snapkeep}
TREECMP=${TREECMP:-$BUILD_DIR/tools/treecmp}
SKOBJ=${SKOBJ:-$BUILD_DIR/tools/skobj}
SKPUTOBJ=${SKPUTOBJ:-$BUILD_DIR/tools/skputobj}
# shellcheck disable=SC2034 # used by the scripts that source this file
MKTREE=$SK_SRC/tests/lib/mktree.sh
sk_failures=0
sk_mounts=()

sk_passes=0
ok() { echo "ok $*"; sk_passes=$((sk_passes + 1)); }
notok() { echo "not ok $*"; sk_failures=$((sk_failures + 1)); }

sk_cleanup() {
  local m
  for m in "${sk_mounts[@]}"; do umount -l "$m" 2>/dev/null; done
  if [ -n "${T:-}" ] && [ -d "$T" ]; then
    if [ "${SK_KEEP_TMP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
  fi
}

# sk_need_built PROGRAM...: SKIP (exit 77) unless every PROGRAM is built.
sk_need_built() {
  local p
  for p in "$@"; do [ -x "$p" ] || { echo "SKIP: $p not built"; exit 77; }; done
}

sk_repo_setup() {
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (devices, owners, trusted.* xattrs)"; exit 77; }
  sk_need_built "$SNAPKEEP" "$TREECMP" "$SKOBJ"
  command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
  T=$(mktemp -d "${SK_TMP_BASE:-/var/tmp}/sk-repo.XXXXXX")
  trap sk_cleanup EXIT
  trap 'exit 130' INT TERM
  printf 'correct horse battery staple\n' > "$T/pass"
  chmod 600 "$T/pass"
  export SNAPKEEP_REPO=${SK_TEST_REPO_URL:-$T/repo} SNAPKEEP_PASSWORD_FILE=$T/pass
  unset SNAPKEEP_KEY_FILE
}

sk() { "$SNAPKEEP" --no-progress "$@"; }
sk_init() { sk repo init --scrypt-log2n 10 -q "$@"; }

expect_rc() { # WANT MSG CMD...
  local want=$1 msg=$2 rc; shift 2
  "$@"; rc=$?
  if [ "$rc" -eq "$want" ]; then ok "$msg"; else notok "$msg (exit $rc, want $want)"; fi
  return 0
}

sk_finish() {
  echo "result: $sk_passes sub-cases passed, $sk_failures failed"
  [ "$sk_failures" -eq 0 ] && exit 0
  exit 1
}

sk_noatime_view() { # SRC VIEW
  mkdir -p "$2"
  mount --bind "$1" "$2" 2>/dev/null || return 1
  sk_mounts+=("$2")
  mount -o remount,bind,ro,noatime "$2" 2>/dev/null || return 1
  return 0
}

sk_obj_ls() { "$SKOBJ" "$SNAPKEEP_REPO" ls "$1"; }
sk_obj_get() { "$SKOBJ" "$SNAPKEEP_REPO" get "$@"; }
sk_obj_put() { "$SKOBJ" "$SNAPKEEP_REPO" put "$1"; }
sk_obj_rm() { "$SKOBJ" "$SNAPKEEP_REPO" rm "$1"; }
sk_obj_size() { "$SKOBJ" "$SNAPKEEP_REPO" size "$1"; }
sk_obj_flip() { "$SKOBJ" "$SNAPKEEP_REPO" flip "$1" "$2"; }
sk_obj_truncate() { "$SKOBJ" "$SNAPKEEP_REPO" truncate "$1" "$2"; }
sk_obj_names() {
  { sk_obj_size config >/dev/null 2>&1 && echo config
    local p; for p in keys data index backups locks; do sk_obj_ls "$p/" 2>/dev/null | cut -d' ' -f1; done
  } | LC_ALL=C sort
}
sk_pack_bytes() { "$SKOBJ" "$SNAPKEEP_REPO" du data/; }
sk_repo_bytes() {
  local p t=0 n
  n=$(sk_obj_size config 2>/dev/null) && t=$((t + n))
  for p in keys data index backups locks; do n=$("$SKOBJ" "$SNAPKEEP_REPO" du "$p/" 2>/dev/null) && t=$((t + n)); done
  echo $t
}
sk_repo_fingerprint() {
  local n
  sk_obj_names | while read -r n; do
    printf '%s %s %s\n' "$n" "$(sk_obj_size "$n")" "$(sk_obj_get "$n" | sha256sum | cut -d' ' -f1)"
  done
}
sk_repo_save() { # DIR
  local n
  mkdir -p "$1"
  sk_obj_names | while read -r n; do
    mkdir -p "$1/$(dirname "$n")"; sk_obj_get "$n" >"$1/$n" || return 1
  done
}
sk_repo_load() { # DIR
  local n
  sk_obj_names | while read -r n; do sk_obj_rm "$n" || return 1; done
  (cd "$1" && find . -type f -printf '%P\n') | while read -r n; do sk_obj_put "$n" <"$1/$n" || return 1; done
}

sk_rand() { # FILE BYTES [SEED]
  openssl enc -aes-128-ctr -nosalt -pass "pass:sk-${3:-$1}" -pbkdf2 -iter 1 \
    -in <(head -c "$2" /dev/zero) -out "$1" 2>/dev/null
}

# sk_two_trees FILES MIB SMALL: the trees $T/a and $T/b for two backups at
# once (made anew): each FILES random files of MIB MiB (different in each
# tree), an 8 MiB file "shared" with the same content in both, and SMALL
# small files in sub/.
sk_two_trees() {
  local t i
  for t in a b; do
    rm -rf "${T:?}/$t"; mkdir -p "$T/$t/sub"
    for i in $(seq 1 "$1"); do sk_rand "$T/$t/file$i" $(($2 * 1024 * 1024)) "conc-$t-$i"; done
    sk_rand "$T/$t/shared" $((8 * 1024 * 1024)) shared
    for i in $(seq 1 "$3"); do printf '%s %d\n' "$t" "$i" > "$T/$t/sub/f$i"; done
  done
}

# sk_two_restored [PREFIX [SUFFIX]]: the backups of $T/a and $T/b (their
# `backup --json` output in $T/a.json, $T/b.json) each restore identically;
# one ok/notok each, named "PREFIXbackup a restores identicallySUFFIX".
sk_two_restored() {
  local t id
  for t in a b; do
    id=$(jq -r .id "$T/$t.json")
    sk restore "$id" --target "$T/out-$t" -q && "$TREECMP" "$T/$t" "$T/out-$t/$t" >"$T/cmp" 2>&1 \
      && ok "${1:-}backup $t restores identically${2:-}" || { notok "${1:-}backup $t restore"; head -5 "$T/cmp"; }
  done
}
