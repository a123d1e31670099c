#!/usr/bin/env bash
# A full disk (issue 4 acceptance), on both I/O paths (uring, threads):
#
# restore into a 16 MiB tmpfs of a 52 MiB tree (fallocate hits ENOSPC), and a
# sparse file's extents into an 8 MiB one (a write hits ENOSPC): the restore fails with a
# clear "No space left on device" naming files; every regular file left in
# the target is complete and identical to the source (no partial file
# claims success); the repository still checks clean (--read-data).
#
# backup into a repository on a 12 MiB tmpfs: a first small backup fits, a
# second with 24 MiB of new incompressible data does not: it fails clearly,
# writes no manifest, `check --read-data` finds no error afterwards, the
# first backup still restores identically, and once space is freed a backup
# completes and prune reclaims the leftovers.
set -u
. "$(dirname "$0")/../lib/repo.sh"
sk_repo_setup
[ -n "${SK_TEST_REPO_URL:-}" ] && { echo "SKIP: needs a local repository on a small filesystem"; exit 77; }
MiB=$((1024 * 1024))

mnt() { # DIR SIZE
  mkdir -p "$1"
  mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$1" 2>/dev/null || return 1
  sk_mounts+=("$1")
}
mnt "$T/probe" 1m || { echo "SKIP: cannot mount tmpfs here"; exit 77; }

# --- source: small files and several large incompressible ones ------------------
mkdir -p "$T/src/small" "$T/src/big"
for i in $(seq 1 200); do printf 'small file %d\n' "$i" > "$T/src/small/f$i"; done
for i in 1 2 3 4 5; do sk_rand "$T/src/big/b$i" $((8 * MiB)) "enospc-$i"; done
# A sparse file: a hole must not be filled by fallocate.
truncate -s $((64 * MiB)) "$T/src/big/sparse"
printf 'end' | dd of="$T/src/big/sparse" bs=1 seek=$((64 * MiB - 3)) conv=notrunc status=none
# Sparse with two 6 MiB data extents: not fallocated, so on an 8 MiB
# filesystem the second extent's writes are what hit ENOSPC.
sk_rand "$T/x1" $((6 * MiB)) "zz-1"; sk_rand "$T/x2" $((6 * MiB)) "zz-2"
dd if="$T/x1" of="$T/src/big/zz" bs=1M conv=notrunc status=none
dd if="$T/x2" of="$T/src/big/zz" bs=1M seek=32 conv=notrunc status=none
rm -f "$T/x1" "$T/x2"
expect_rc 0 "repo init" sk_init
expect_rc 0 "backup of a 52 MiB tree" sk backup -q "$T/src"

# Every regular file under DIR must equal its source twin.
no_partial_files() { # RESTORED_ROOT
  local f bad=0 n=0
  while IFS= read -r -d '' f; do
    n=$((n + 1))
    if ! cmp -s "$f" "$T/src/${f#"$1"/}"; then echo "    partial/wrong file left: ${f#"$1"/}"; bad=1; fi
  done < <(find "$1" -type f -print0)
  echo "    ($n files left in the target, all complete)" >&2
  return $bad
}

for io in uring threads; do
  mnt "$T/full-$io" 16m || { notok "$io: mount tmpfs"; continue; }
  SNAPKEEP_IO=$io sk restore latest --target "$T/full-$io/out" >"$T/r-$io.out" 2>"$T/r-$io.err"
  rc=$?
  if [ $rc -ne 0 ] && grep -q 'No space left on device' "$T/r-$io.err" && grep -q 'src/big/b' "$T/r-$io.err"; then
    ok "$io: restore onto a full disk fails clearly (exit $rc): $(grep -m1 'No space' "$T/r-$io.err")"
  else
    notok "$io: restore onto a full disk: exit $rc"; sed 's/^/    /' "$T/r-$io.err" | head
  fi
  if no_partial_files "$T/full-$io/out/src" 2>"$T/np.txt"; then
    ok "$io: no partial file left in the target $(cat "$T/np.txt")"
  else
    notok "$io: partial files left in the target"
  fi
  if [ -e "$T/full-$io/out/src/big/sparse" ]; then
    blocks=$(stat -c %b "$T/full-$io/out/src/big/sparse")
    if [ "$blocks" -lt 1024 ]; then ok "$io: the sparse file kept its hole ($blocks blocks)"
    else notok "$io: sparse file filled: $blocks blocks"; fi
  fi
  # A write (not fallocate) that runs out of space in the middle of a file.
  mnt "$T/w-$io" 8m || notok "$io: mount tmpfs"
  SNAPKEEP_IO=$io sk restore latest --include src/big/zz --target "$T/w-$io/out" >/dev/null 2>"$T/w-$io.err"
  rc=$?
  if [ $rc -ne 0 ] && grep -q 'src/big/zz: write: No space left on device' "$T/w-$io.err" &&
     [ ! -e "$T/w-$io/out/src/big/zz" ]; then
    ok "$io: a write hitting ENOSPC fails the file clearly and removes it: $(grep -m1 'No space' "$T/w-$io.err")"
  else
    notok "$io: write ENOSPC: exit $rc, zz left: $([ -e "$T/w-$io/out/src/big/zz" ] && echo yes || echo no)"
    sed 's/^/    /' "$T/w-$io.err" | head
  fi
  expect_rc 0 "$io: repository checks clean after the failed restore" sk check --read-data -q
  # With room, the same restore succeeds and is identical.
  SNAPKEEP_IO=$io sk restore latest --target "$T/ok-$io" >/dev/null 2>"$T/r2.err"
  rc=$?
  if [ $rc -eq 0 ] && "$TREECMP" "$T/src" "$T/ok-$io/src" >"$T/cmp.txt" 2>&1; then
    ok "$io: with room, the restore is identical"
  else
    notok "$io: restore with room: exit $rc"; head "$T/r2.err" "$T/cmp.txt" | sed 's/^/    /'
  fi
  rm -rf "$T/ok-$io"
done

# --- backup into a full repository -------------------------------------------------
for io in uring threads; do
  repo=$T/smallrepo-$io
  mnt "$repo" 12m || { notok "$io: mount tmpfs"; continue; }
  export SNAPKEEP_REPO=$repo/r
  expect_rc 0 "$io: repo init on a 12 MiB filesystem" sk_init
  rm -rf "$T/src2"; mkdir -p "$T/src2"
  sk_rand "$T/src2/first" $((1 * MiB)) "first-$io"
  expect_rc 0 "$io: a small first backup fits" env SNAPKEEP_IO=$io "$SNAPKEEP" --no-progress backup -q "$T/src2"
  first=$(sk backups --json | jq -r '.[0].id')
  for i in 1 2 3; do sk_rand "$T/src2/big$i" $((8 * MiB)) "big-$io-$i"; done
  SNAPKEEP_IO=$io sk backup "$T/src2" >"$T/b-$io.out" 2>"$T/b-$io.err"
  rc=$?
  if [ $rc -ne 0 ] && grep -q 'No space left on device' "$T/b-$io.err"; then
    ok "$io: backup into a full repository fails clearly (exit $rc): $(grep -m1 'No space' "$T/b-$io.err")"
  else
    notok "$io: backup into a full repository: exit $rc"; sed 's/^/    /' "$T/b-$io.err" | head
  fi
  n=$(sk backups --json | jq length)
  if [ "$n" = 1 ]; then ok "$io: no manifest written by the failed backup"
  else notok "$io: $n backups listed after the failed one (want 1)"; fi
  expect_rc 0 "$io: check --read-data finds no error after the failed backup" sk check --read-data -q
  rm -rf "$T/rs"
  if sk restore "$first" --target "$T/rs" -q 2>"$T/rs.err" && cmp -s "$T/src2/first" "$T/rs/src2/first"; then
    ok "$io: the earlier backup still restores identically"
  else
    notok "$io: earlier backup restore"; sed 's/^/    /' "$T/rs.err" | head
  fi
  rm -rf "$T/rs"
  # Free room (the big files go away): the next backup completes; prune reclaims.
  rm -f "$T/src2"/big2 "$T/src2"/big3
  # --grace 0: the space is needed now and nothing else writes (FORMAT.md 9b)
  expect_rc 0 "$io: prune reclaims the leftovers of the failed backup" sk prune -q --grace 0
  expect_rc 0 "$io: after freeing space a backup completes" env SNAPKEEP_IO=$io "$SNAPKEEP" --no-progress backup -q "$T/src2"
  expect_rc 0 "$io: check --read-data clean at the end" sk check --read-data -q
done
export SNAPKEEP_REPO=$T/repo
sk_finish
