#!/bin/bash
# The hostile-repository suite, Prepare side: a real container backup taken
# by snapkeepd has its root tree rewritten with the repository key
# (tests/tools/skhostile --id: same backup id, tags and containers/ record,
# so containerd's restore label still names a valid container backup), and
# is restored with `ctr run --snapshotter-label
# containerd.io/snapshot/snapkeep.restore=<full id>` on the container's
# active key. After each, nothing outside the snapshot has changed (a
# fingerprint of $SK_TMP/outside, which every hostile symlink names), and
# the run either failed with a clear error and left no snapshot behind, or
# gave a safe result. The daemon's own restore into a host directory
# (`snapkeep daemon restore ID --target DIR`) is checked on the same backups,
# and so is the rehydration of image layers on a fresh node.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SK_SRC/tests/lib/nodes.sh"
SKHOSTILE=${SKHOSTILE:-$BUILD_DIR/tools/skhostile}
[ -x "$SKHOSTILE" ] || { echo "SKIP: $SKHOSTILE not built"; exit 77; }
nodes_setup

OUT=$SK_TMP/outside
mkdir -p "$OUT/dir"
echo sentinel >"$OUT/passwd"
echo keep >"$OUT/dir/file"
fingerprint() { (cd "$OUT" && find . -printf '%p %y %m %u %g %s %T@\n' | LC_ALL=C sort; sha256sum passwd dir/file); }
fp0=$(fingerprint)
outside_same() {
  local now; now=$(fingerprint)
  [ "$now" = "$fp0" ] && sk_ok "$1: nothing outside the snapshot changed" ||
    sk_notok "$1: something outside the snapshot changed" "$(diff <(echo "$fp0") <(echo "$now") | head -20)"
}
no_snapshot() {
  ! sk_ctr a snapshots --snapshotter snapkeep ls | awk 'NR > 1 {print $1}' | grep -qx "$1" &&
    ! sk_backend_ctr a ls | awk 'NR > 1 {print $1}' | grep -q "/$1\$"
}
hostile() { "$SKHOSTILE" "$NODES_REPO" "$NODES_PASS" --id "$ID" "$@" >/dev/null; }
# Restore into a new container CID; on success, try to write through its root.
restore_as() { # CID
  local out rc
  out=$(node_run_bg a "$1" --snapshotter-label "containerd.io/snapshot/snapkeep.restore=$ID" 2>&1); rc=$?
  if [ $rc -eq 0 ]; then
    node_exec a "$1" 'echo pwned > /pwned; echo pwned > /passwd; echo pwned > /file' >/dev/null 2>&1
  fi
  RESTORE_OUT=$out
  return $rc
}
gone() { sk_ctr a tasks kill -s KILL "$1" >/dev/null 2>&1; sleep 0.3; sk_ctr a tasks rm -f "$1" >/dev/null 2>&1
  sk_ctr a containers rm "$1" >/dev/null 2>&1; }

node_up_with a c1
node_exec a c1 'echo hello > /hello' || sk_notok "write in c1"
node_backup a c1
sk_ok "container backup $ID"

# Control: the untouched backup restores.
if restore_as ok0 && sk_ctr a task exec --exec-id chk ok0 cat /hello | grep -q hello; then
  sk_ok "the untouched backup restores through Prepare"
else sk_notok "the untouched backup restores" "$RESTORE_OUT"; fi
gone ok0

# ---- defect 2: fs is a symlink / a file -------------------------------------------
for sc in "fs-symlink $OUT/dir" fs-file; do
  read -r -a args <<<"$sc"
  hostile "${args[@]}" || { sk_notok "skhostile $sc"; continue; }
  cid=h-${args[0]}
  if ! restore_as "$cid" && grep -q "not a directory" <<<"$RESTORE_OUT"; then
    sk_ok "${args[0]}: Prepare fails: $(tail -1 <<<"$RESTORE_OUT" | cut -c1-200)"
  else sk_notok "${args[0]}: Prepare" "$RESTORE_OUT"; fi
  no_snapshot "$cid" && sk_ok "${args[0]}: no snapshot left" || sk_notok "${args[0]}: snapshot left behind"
  outside_same "${args[0]}"
  gone "$cid"
  # The daemon's restore into a host directory moves the restored fs there.
  out=$(skc a daemon restore "$ID" --target "$SK_TMP/dr-${args[0]}" 2>&1); rc=$?
  if [ $rc -ne 0 ] && [ ! -e "$SK_TMP/dr-${args[0]}" ] && [ ! -L "$SK_TMP/dr-${args[0]}" ] && grep -q "not a directory" <<<"$out"; then
    sk_ok "${args[0]}: daemon restore --target fails and leaves no target"
  else sk_notok "${args[0]}: daemon restore --target (exit $rc)" "$out"; fi
  outside_same "${args[0]}, daemon restore"
done

# ---- malformed names, oversized: clear errors ---------------------------------------
for sc in "names dotdot $OUT" "names slash $OUT" oversized; do
  read -r -a args <<<"$sc"
  hostile "${args[@]}" || { sk_notok "skhostile $sc"; continue; }
  cid=h-${args[0]}-${args[1]:-x}; cid=${cid//\//_}
  if ! restore_as "$cid"; then
    sk_ok "$sc: Prepare fails: $(tail -1 <<<"$RESTORE_OUT" | cut -c1-200)"
  else sk_notok "$sc: Prepare succeeded on a damaged tree"; fi
  no_snapshot "$cid" && sk_ok "$sc: no snapshot left" || sk_notok "$sc: snapshot left behind"
  outside_same "$sc"
  gone "$cid"
done

# ---- safe results: hardlinks reaching out, devices and setuid inside the container -----
# Type confusion: a tree stored only as a data blob and a file chunk stored
# only as a tree blob are what an older snapkeep's cross-type dedup left in
# real repositories; blobs are read as the type asked for with that legacy
# fallback (FORMAT.md 6): the bytes are the ones the id authenticates, so the
# restore is safe: d is an empty directory, f holds its chunk's bytes.
hostile type-confused || sk_notok "skhostile type-confused"
if restore_as h-type-confused &&
   sk_ctr a task exec --exec-id tc h-type-confused sh -c 'test -d /d && test -f /f && test -z "$(ls -A /d)"'; then
  sk_ok "type-confused: restores as the legacy state it is (d empty, f its chunk's bytes)"
else sk_notok "type-confused: Prepare" "$RESTORE_OUT"; fi
outside_same "type-confused"
gone h-type-confused
hostile hardlink "$OUT/passwd" || sk_notok "skhostile hardlink"
if restore_as h-hardlink; then
  sk_ok "hardlink: restores (links stay inside the snapshot)"
else sk_notok "hardlink: Prepare" "$RESTORE_OUT"; fi
outside_same "hardlink"
gone h-hardlink
hostile specials || sk_notok "skhostile specials"
restore_as h-specials && sk_ok "specials: restores" || sk_notok "specials: Prepare" "$RESTORE_OUT"
outside_same "specials"
gone h-specials

# ---- a deep tree -------------------------------------------------------------------------
hostile deep 3000 || sk_notok "skhostile deep"
if restore_as h-deep; then sk_ok "a 3,000-deep fs restores through Prepare"
else sk_notok "deep fs: Prepare" "$RESTORE_OUT"; fi
outside_same "deep"
gone h-deep

# ---- image layers rehydrated on a fresh node (the remote-snapshotter path) ----------------
# Every layer backup's fs becomes a symlink to $OUT/dir; node B unpacks the
# image through containerd's pull unpacker (tests/go/storepull), which asks
# snapkeepd to rehydrate each layer from the repository.
STOREPULL=${STOREPULL:-$BUILD_DIR/go-bin/storepull}
BUILD_DIR=$BUILD_DIR bash "$SK_SRC/tests/go/build.sh" storepull >/dev/null 2>&1
if [ ! -x "$STOREPULL" ]; then
  echo "SKIP part: tests/go/storepull could not be built (golang-go, containerd Go sources)"
else
  n_layers=0
  for lb in $("$SNAPKEEP" --no-progress backups --json | jq -r '.[] | select(.tags | index("snapkeep:layer")) | .id'); do
    "$SKHOSTILE" "$NODES_REPO" "$NODES_PASS" --id "$lb" fs-symlink "$OUT/dir" >/dev/null && n_layers=$((n_layers + 1))
  done
  [ "$n_layers" -ge 1 ] && sk_ok "rewrote $n_layers layer backups with a symlinked fs" || sk_notok "no layer backup to rewrite"
  node_start b || { sk_notok "node B starts"; nodes_finish; }
  sk_check "B: ctr images import --no-unpack (content only)" sk_ctr b images import --no-unpack "$NODES_IMG_TAR"
  out=$("$STOREPULL" -address "$(sk_csock b)" -namespace "$SK_NAMESPACE" -snapshotter snapkeep "$NODES_IMG" 2>&1); rc=$?
  n_rehyd=$(jq -r .layers_rehydrated <<<"$(skc b daemon status --json 2>&1)" 2>/dev/null)
  # Safe result: rehydration refused (logged), containerd unpacks the layers
  # from the image's own content instead.
  if [ $rc -eq 0 ] && [ "$n_rehyd" = 0 ] && grep -q "its fs is not a directory (a symbolic link)" "$(sk_dir b)/snapkeepd.log"; then
    sk_ok "B: no layer whose fs is a symlink is rehydrated (refusal logged); containerd unpacked the image itself"
  else sk_notok "B: hostile layer rehydration (exit $rc, layers_rehydrated $n_rehyd)" "$out"; fi
  links=$(find "$(sk_root b)" -name fs -type l 2>/dev/null | wc -l)
  [ "$links" -eq 0 ] && sk_ok "B: no snapshot's fs is a symlink" || sk_notok "B: $links snapshot fs are symlinks"
  outside_same "layer rehydration"
fi

nodes_finish
