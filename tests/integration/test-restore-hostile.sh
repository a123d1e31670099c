#!/usr/bin/env bash
# The hostile-repository suite, CLI side: backups written with the repository
# key by tests/tools/skhostile (well-formed but malicious: a symlinked or
# non-directory fs, "..", "." and "/" in names, device nodes, setuid and
# capability files, hardlink groups reaching outside the included tree or
# mixing a symlink with a file, oversized sizes and counts, type-confused
# blobs, a 100,000-deep tree (and a 5,000-deep container layer merged), deep
# hardlink groups with long names, a split listing repeated down a deep path, a
# container record naming another backup's layers) are restored with
# `snapkeep restore` (plain, --include, --layer and the merged container
# restore). After every restore nothing outside the
# target has changed (a fingerprint of $T/outside, which every hostile
# symlink names, and of everything else in $T) and the run ended with a
# clear error or a safe result.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SK_SRC/tests/lib/repo.sh"
SKHOSTILE=${SKHOSTILE:-$BUILD_DIR/tools/skhostile}
sk_repo_setup
sk_need_built "$SKHOSTILE" "$SKPUTOBJ"
command -v getfattr >/dev/null || { echo "SKIP: getfattr (attr) missing"; exit 77; }
sk_init || { notok "repo init"; sk_finish; }

OUT=$T/outside W=$T/w S=$T/scratch
mkdir -p "$OUT/dir" "$W" "$S"
echo sentinel >"$OUT/passwd"
echo keep >"$OUT/dir/file"
chmod 0600 "$OUT/passwd"
# Everything in $T but the repository, the targets under $W and scratch files.
fingerprint() {
  (cd "$T" && find . -mindepth 1 \( -path ./repo -o -path ./w -o -path ./scratch \) -prune -o \
     -printf '%p %y %m %u %g %s %T@\n' | LC_ALL=C sort
   sha256sum outside/passwd outside/dir/file)
}
fp0=$(fingerprint)
outside_same() { # MSG
  local now; now=$(fingerprint)
  if [ "$now" = "$fp0" ]; then ok "$1: nothing outside the target changed"
  else notok "$1: something outside the target changed"; diff <(echo "$fp0") <(echo "$now") | head -20; fi
}
hostile() { "$SKHOSTILE" "$SNAPKEEP_REPO" "$T/pass" "$@"; }
# A hostile container backup: tag and a containers/ record with no layers below.
hostile_ct() {
  local id; id=$(hostile --tag snapkeep:container "$@") || return 1
  printf 'snapkeep-container 1\nkind active\nsnapshot ns/9/c\nchain-id -\n' |
    "$SKPUTOBJ" "$SNAPKEEP_REPO" "$T/pass" containers "$id" || return 1
  echo "$id"
}
n=0
tgt() { n=$((n + 1)); t=$W/t$n; }
# hostile_backup SCENARIO ARG: id= a backup of that skhostile scenario, and a new $t
hostile_backup() { id=$(hostile "$@") || notok "skhostile $1"; tgt; }
# restore_limited "ULIMIT-OPTION" NAME ID [ARGS...]: restore ID into $t under
# that limit; the JSON summary in $S/NAME.json, stderr in $S/log; sets rc,
# dirs and files.
restore_limited() {
  local lim=$1 name=$2 id=$3
  shift 3
  # shellcheck disable=SC2086 # the option and its value are two words
  (ulimit $lim && sk restore "$id" --target "$t" --json "$@") >"$S/$name.json" 2>"$S/log"; rc=$?
  dirs=$(jq .dirs "$S/$name.json" 2>/dev/null) files=$(jq .files "$S/$name.json" 2>/dev/null)
}
# restored_exactly NAME DIRS FILES: restore_limited succeeded with these counts and no error
restored_exactly() { [ $rc -eq 0 ] && [ "$dirs" = "$2" ] && [ "$files" = "$3" ] && [ "$(jq .errors "$S/$1.json")" = 0 ]; }

# ---- defect 2: fs is a symlink / not a directory ------------------------------
id=$(hostile_ct fs-symlink "$OUT/dir") || { notok "skhostile fs-symlink"; sk_finish; }
tgt
sk restore "$id" --target "$t" --layer >"$S/log" 2>&1; rc=$?
if [ $rc -ne 0 ] && [ ! -e "$t" ] && [ ! -L "$t" ] && grep -q "symbolic link" "$S/log"; then
  ok "restore --layer of a symlinked fs fails, naming it, and leaves no target"
else notok "restore --layer of a symlinked fs (exit $rc, target $(stat -c %F "$t" 2>&1))"; cat "$S/log"; fi
outside_same "restore --layer, symlinked fs"
tgt
sk restore "$id" --target "$t" >"$S/log" 2>&1; rc=$?
if [ $rc -ne 0 ] && [ ! -e "$t" ] && grep -q "symbolic link" "$S/log"; then
  ok "merged restore of a symlinked fs fails, naming it"
else notok "merged restore of a symlinked fs (exit $rc)"; cat "$S/log"; fi
outside_same "merged restore, symlinked fs (the merge would move and delete the entries it names)"
id=$(hostile fs-symlink "$OUT/dir") || notok "skhostile fs-symlink (plain)"
tgt
sk restore "$id" --target "$t" --include fs >"$S/log" 2>&1; rc=$?
if [ -L "$t/fs" ] && [ "$(readlink "$t/fs")" = "$OUT/dir" ]; then
  ok "plain restore of a symlinked fs restores the symlink itself, inside the target (exit $rc)"
else notok "plain restore of a symlinked fs (exit $rc)"; cat "$S/log"; fi
outside_same "plain restore, symlinked fs"

id=$(hostile_ct fs-file) || notok "skhostile fs-file"
tgt
sk restore "$id" --target "$t" --layer >"$S/log" 2>&1; rc=$?
[ $rc -ne 0 ] && [ ! -e "$t" ] && grep -q "not a directory" "$S/log" &&
  ok "restore --layer of a non-directory fs fails, naming it" || { notok "restore --layer, fs a file (exit $rc)"; cat "$S/log"; }
outside_same "restore --layer, fs a file"

# ---- defect 5: the target itself is a planted symlink --------------------------
id=$(hostile specials) || notok "skhostile specials"
ln -s "$OUT/dir" "$W/planted"
sk restore "$id" --target "$W/planted" >"$S/log" 2>&1; rc=$?
[ $rc -ne 0 ] && ok "restore into a target that is a symlink fails (exit $rc)" || notok "restore into a planted symlink succeeded"
outside_same "restore into a planted symlink"

# ---- defect 5: devices, setuid/setgid, capabilities ------------------------------
mode() { stat -c %a "$1" 2>/dev/null; }
hascap() { getfattr -h -n security.capability "$1" >/dev/null 2>&1; }
tgt
sk restore "$id" --target "$t" --no-owner >"$S/log" 2>&1; rc=$?
if [ ! -e "$t/fs/mem" ] && [ ! -e "$t/fs/disk" ] && [ "$(stat -c '%F %t:%T' "$t/fs/whiteout")" = "character special file 0:0" ] &&
   [ "$(mode "$t/fs/suid")" = 755 ] && [ "$(mode "$t/fs/sgid")" = 755 ] && ! hascap "$t/fs/cap" &&
   [ "$(stat -c %F "$t/fs/fifo")" = fifo ]; then
  ok "restore --no-owner as root: no devices (whiteout kept), setuid/setgid cleared, no capability (exit $rc)"
else
  notok "restore --no-owner as root grants privileges: $(cd "$t/fs" 2>/dev/null && stat -c '%n %F %a' * | tr '\n' ';')"
  cat "$S/log"
fi
grep -q "device node not restored" "$S/log" && ok "skipped devices are reported" || notok "skipped devices are not reported"
tgt
sk restore "$id" --target "$t" --drop-privileges >/dev/null 2>&1
[ ! -e "$t/fs/mem" ] && [ "$(mode "$t/fs/suid")" = 755 ] && ! hascap "$t/fs/cap" &&
  ok "restore --drop-privileges as root: no devices, no setuid, no capability" || notok "restore --drop-privileges"
tgt
sk restore "$id" --target "$t" >/dev/null 2>&1
[ "$(stat -c '%F %t:%T' "$t/fs/mem")" = "character special file 1:1" ] && [ "$(mode "$t/fs/suid")" = 4755 ] &&
  ok "root restoring owners keeps devices and setuid (the documented trusted case)" || notok "default root restore"
outside_same "privilege cases"

# ---- names the format forbids ------------------------------------------------------
for kind in dotdot dot slash abs; do
  id=$(hostile names "$kind" "$OUT") || { notok "skhostile names $kind"; continue; }
  tgt
  sk restore "$id" --target "$t" >"$S/log" 2>&1; rc=$?
  if [ $rc -ne 0 ] && grep -q "malformed tree" "$S/log" && [ ! -e "$t/fs/a" ]; then
    ok "a tree with a \"$kind\" name is refused as malformed (exit $rc)"
  else notok "tree with a \"$kind\" name (exit $rc)"; cat "$S/log"; fi
  outside_same "name $kind"
done

# ---- hardlinks ------------------------------------------------------------------------
id=$(hostile hardlink "$OUT/passwd") || notok "skhostile hardlink"
tgt
sk restore "$id" --target "$t" --include fs >"$S/log" 2>&1; rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$t/fs/h")" = "first member, outside fs" ] && [ ! -e "$t/aaa" ] &&
   [ -L "$t/fs/l" ] && [ -f "$t/fs/m" ] && [ ! -L "$t/fs/m" ] && [ "$(cat "$t/fs/m")" = pwned ] &&
   [ "$(stat -c %i "$t/fs/l")" != "$(stat -c %i "$t/fs/m")" ]; then
  ok "hardlink groups stay inside the target (first member left out: content restored; a symlink+file group: each restored as stored, not linked)"
else notok "hardlink groups (exit $rc)"; ls -l "$t/fs" 2>&1; cat "$S/log"; fi
grep -q "stored with other content" "$S/log" && ok "the member unlike its group's first is reported" || notok "differing hardlink member not reported"
[ "$(cat "$OUT/passwd")" = sentinel ] && ok "the hardlinked symlink's target was not written" || notok "wrote through a hardlinked symlink"
outside_same "hardlinks"

# A group whose members are stored with different contents: each member is
# restored with its own (checked) content, never as a link to the other's.
id=$(hostile hardlink-differ) || notok "skhostile hardlink-differ"
tgt
sk restore "$id" --target "$t" >"$S/log" 2>&1; rc=$?
if [ "$(cat "$t/fs/a")" = AAAA ] && [ "$(cat "$t/fs/b")" = BBBB ] && [ "$(stat -c %i "$t/fs/a")" != "$(stat -c %i "$t/fs/b")" ] &&
   grep -q "stored with other content" "$S/log"; then
  ok "hardlink members with different stored contents are restored apart, with a warning (exit $rc)"
else notok "hardlink members with different contents (exit $rc)"; ls -li "$t/fs" 2>&1; cat "$S/log"; fi
outside_same "hardlink-differ"

# A group of FIFOs whose first member cannot be created (a file of the
# target is in its place, and there is no --overwrite): the next member is
# created anew, not linked to the target's file.
mkdir -p "$S/fifos/d"; mkfifo "$S/fifos/d/a"; ln "$S/fifos/d/a" "$S/fifos/d/b"
fid=$(sk backup --json "$S/fifos" | jq -r .id)
tgt; mkdir -p "$t/fifos/d"; echo SECRET >"$t/fifos/d/a"
sk restore "$fid" --target "$t" >"$S/log" 2>&1; rc=$?
if [ -p "$t/fifos/d/b" ] && [ "$(cat "$t/fifos/d/a")" = SECRET ] && [ "$(stat -c %i "$t/fifos/d/a")" != "$(stat -c %i "$t/fifos/d/b")" ]; then
  ok "a hardlink group whose first member is in the way is not linked to the file there (exit $rc)"
else notok "hardlink group with its first member in the way (exit $rc)"; ls -li "$t/fifos/d"; cat "$S/log"; fi

# ---- oversized sizes and counts -----------------------------------------------------
id=$(hostile oversized) || notok "skhostile oversized"
tgt
sk restore "$id" --target "$t" >"$S/log" 2>&1; rc=$?
if [ $rc -eq 4 ] && grep -q "malformed tree" "$S/log" && [ -f "$t/fs/xattr" ]; then
  ok "oversized: the bad count is refused, the rest restores or fails by itself (exit 4)"
else notok "oversized (exit $rc)"; cat "$S/log"; fi
outside_same "oversized"

# ---- type confusion -----------------------------------------------------------------
# A tree stored only as a data blob and a file chunk stored only as a tree
# blob: the state an older snapkeep's cross-type dedup left in real
# repositories. Readers ask for a type and fall back to the other copy of the
# same authenticated bytes (FORMAT.md 6), and check names both.
id=$(hostile type-confused) || notok "skhostile type-confused"
tgt
sk restore "$id" --target "$t" >"$S/log" 2>&1; rc=$?
if [ $rc -eq 0 ] && [ -d "$t/fs/d" ] && [ -z "$(ls -A "$t/fs/d")" ] && [ -f "$t/fs/f" ] && [ -s "$t/fs/f" ]; then
  ok "type-confused blobs restore as the legacy state they are (d empty, f its chunk's bytes)"
else notok "type confusion (exit $rc; f: $(stat -c %s "$t/fs/f" 2>&1))"; cat "$S/log"; fi
sk check >"$S/log" 2>&1
if grep -q "exists only as a data blob" "$S/log" && grep -q "exists only as a tree blob" "$S/log"; then
  ok "check names both type-confused blobs"
else notok "check on type-confused blobs"; cat "$S/log"; fi
outside_same "type confusion"

# ---- a containers/ record naming another backup's layers ---------------------------------
mkdir -p "$S/src-b/fs"; echo "container B data" >"$S/src-b/fs/secret"
bid=$(sk backup --json --tag snapkeep:container "$S/src-b/fs" | jq -r .id)
printf 'snapkeep-container 1\nkind active\nsnapshot ns/8/b\nchain-id -\n' | "$SKPUTOBJ" "$SNAPKEEP_REPO" "$T/pass" containers "$bid"
aid=$(hostile --tag snapkeep:container fs-file) &&
  printf 'snapkeep-container 1\nkind active\nsnapshot ns/9/a\nchain-id -\nlayer sha256:00 %s\nlayer sha256:01 latest\nlayer sha256:02 ../../../etc\n' "$bid" |
  "$SKPUTOBJ" "$SNAPKEEP_REPO" "$T/pass" containers "$aid"
tgt
sk restore "$aid" --target "$t" >"$S/log" 2>&1; rc=$?
[ $rc -ne 0 ] && [ ! -e "$t" ] && ok "a record naming another container's layer, 'latest' and a path fails cleanly (exit $rc)" ||
  { notok "containers/ record naming other layers (exit $rc)"; cat "$S/log"; }
outside_same "containers/ record naming other layers"
ls "$W" | grep -q snapkeep-restore && notok "a work directory was left next to the target" || ok "no work directory left behind"

# ---- a 100,000-deep tree ------------------------------------------------------------------
start=$SECONDS
id=$(hostile deep 100000) || notok "skhostile deep"
echo "figure: writing the 100,000-deep backup took $((SECONDS - start)) s"
tgt
start=$SECONDS
# A bound on fds: depth must not cost one per level.
restore_limited "-n 1024" deep "$id"
echo "figure: restoring it took $((SECONDS - start)) s"
if restored_exactly deep 100000 1; then
  ok "a 100,000-deep tree restores with at most 1024 fds ($dirs directories and the file at the bottom)"
else notok "100,000-deep tree (exit $rc, $dirs dirs, $files files)"; tail -5 "$S/log"; fi
outside_same "deep tree"

# Remembered paths must not grow as depth x count: 8,000 levels of 255-byte
# names, each holding a hardlink group of its own. Kept as strings, the
# groups' first paths alone would take 8,000^2 x 128 bytes (8 GB); the address
# space here is 2 GiB.
hostile_backup deep-links 8000
restore_limited "-v 2097152" links "$id"
if restored_exactly links 8000 8000; then
  ok "8,000 levels of 255-byte names, a hardlink group on each, restore in 2 GiB of address space"
else notok "deep hardlink groups (exit $rc, $dirs dirs, $files files)"; tail -5 "$S/log"; fi
outside_same "deep hardlink groups"

# Listings held along one path are bounded too (SK_WALK_HELD_MAX): 1,000
# levels naming the same split-directory parts (2 MiB stored, ~2 GiB decoded
# along the path). The restore stops descending where the bound is reached,
# naming it, instead of running out of memory (as it did before).
hostile_backup deep-wide 1000
inc="fs$(printf '/z%.0s' $(seq 999))"
restore_limited "-v 2097152" wide "$id" --include "$inc"
if [ $rc -eq 4 ] && [ "$(jq .errors "$S/wide.json")" = 1 ] && [ "${dirs:-0}" -ge 100 ] && [ "$dirs" -lt 1000 ] &&
   grep -q "directory listings held along this path would exceed 512 MiB" "$S/log"; then
  ok "a listing repeated 1,000 levels deep: restored down to the memory bound ($dirs levels), then a named error"
else notok "deep repeated listings (exit $rc, $dirs dirs)"; tail -3 "$S/log" | cut -c1-300; fi
outside_same "deep repeated listings"

# The merged container restore walks the layer again (overlay merge; its fd
# bound is tests/unit/test-overlay-merge.c's test_deep). No fd limit here:
# the work directory's removal (common/fsutil.c sk_rm_rf) holds one fd per
# level until the hard-recursion branch replaces it.
id=$(hostile_ct deep 5000) || notok "skhostile deep (container)"
tgt
sk restore "$id" --target "$t" -q >"$S/log" 2>&1; rc=$?
find "$t" -printf '%y %f\n' 2>/dev/null >"$S/deep.list"
if [ $rc -eq 0 ] && [ "$(grep -c '^d ' "$S/deep.list")" -eq 5000 ] && grep -q '^f bottom$' "$S/deep.list"; then
  ok "a 5,000-deep container layer restores merged"
else notok "5,000-deep merged restore (exit $rc)"; tail -5 "$S/log"; fi
outside_same "deep merged restore"
ls "$W" | grep -q snapkeep-restore && notok "deep merged restore: a work directory was left next to the target" ||
  ok "deep merged restore: no work directory left behind"

sk_finish
