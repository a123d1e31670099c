#!/bin/bash
# Issue 5 acceptance: two nodes, fresh-node layers, export, labels.
#
# Nodes A and B are isolated containerd+snapkeepd stacks (own roots, states,
# sockets) sharing one local repository. On A a container changes its
# filesystem (new, modified and deleted image files, a replaced directory,
# xattrs, hardlinks, symlinks, a 200 MiB file) and is backed up with
# `snapkeep backup --container`. On B, whose snapkeep root is empty, the
# image is imported: its layers must come from the repository (the
# remote-snapshotter path: snapshots labelled snapkeep.layer-backup, the
# daemon's layers_rehydrated counter and log line; their content equal to A's
# layers), then the container is restored with
# `ctr run --snapshotter-label containerd.io/snapshot/snapkeep.restore=ID`.
# A full listing taken inside both containers (path, type, mode, owner, size,
# sha256, link target, hardlink group) must be identical; xattrs are compared
# from the host on the mounted root filesystems (busybox has no getfattr),
# plus a treecmp of the two root filesystems. Finally the backup is exported
# with `snapkeep export` and imported into node C, a containerd using the
# built-in overlayfs snapshotter, where a container shows the same listing.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SK_SRC/tests/lib/nodes.sh"
nodes_setup
STOREPULL=${STOREPULL:-$BUILD_DIR/go-bin/storepull}
BUILD_DIR=$BUILD_DIR bash "$SK_SRC/tests/go/build.sh" storepull >/dev/null 2>&1
[ -x "$STOREPULL" ] || sk_skip "tests/go/storepull could not be built (golang-go, containerd Go sources)"

node_start a || { sk_notok "node A starts"; sk_finish; }
node_start b || { sk_notok "node B starts"; sk_finish; }

# ---- node A: image, container, changes ----------------------------------------
sk_check "A: import the image into snapkeep" sk_ctr a images import --snapshotter snapkeep "$NODES_IMG_TAR" || sk_finish
node_run_bg a c1 || { sk_notok "A: start container c1"; sk_finish; }
changes='set -e
echo "new file" > /new.txt
mkdir -p /srv/data/sub && echo nested > /srv/data/sub/n.txt
echo "modified base" > /etc/sk-base
echo "appended" >> /data/kept.txt
rm /etc/sk-layer2
rm -rf /app && mkdir /app && echo "replaced" > /app/only.txt
echo hardlinked > /srv/h1 && ln /srv/h1 /srv/data/h2 && ln /srv/h1 /srv/h3
ln -s ../etc/sk-base /srv/link-rel && ln -s /nonexistent /srv/dangling
chmod 4750 /srv/h1 && chown 123:456 /srv/data/sub/n.txt && chmod 0700 /srv/data/sub
mkfifo /srv/fifo
dd if=/dev/urandom of=/srv/big.bin bs=1048576 count=200 2>/dev/null
touch /srv/empty'
node_exec a c1 "$changes" && sk_ok "A: container c1 made its changes" || sk_notok "A: changes inside c1 failed"

# xattrs: busybox cannot set them, so set them on the container's upper dir
# from the host (files the container created, so they live in the upper).
m=$(sk_ctr a snapshots --snapshotter snapkeep mounts /x c1)
upper=$(tr , '\n' <<<"${m##* -o }" | sed -n 's/^upperdir=//p')
if [ -n "$upper" ] && setfattr -n user.color -v blue "$upper/new.txt" &&
  setfattr -n user.empty "$upper/srv/data/sub/n.txt" &&
  setfattr -n trusted.sktest -v 0x00ff10 "$upper/srv/big.bin"; then
  sk_ok "A: xattrs set on c1's files"
else
  sk_notok "A: setting xattrs via the upper dir ($upper)"
fi

# ---- backup on A ---------------------------------------------------------------
sk_ctr a task pause c1 >/dev/null 2>&1
out=$(skc a backup --container c1 --namespace "$SK_NAMESPACE" --json 2>&1); rc=$?
sk_ctr a task resume c1 >/dev/null 2>&1
ID=$(jq -r '.backup_id // empty' <<<"$out" 2>/dev/null)
if [ $rc -eq 0 ] && [ -n "$ID" ]; then
  sk_ok "A: snapkeep backup --container c1 -> $ID ($(jq -r '[.results[].layers_captured] | add' <<<"$out") layers captured)"
else
  sk_notok "A: backup --container c1 (exit $rc)" "$out"; sk_finish
fi
info=$(sk_ctr a snapshots --snapshotter snapkeep info c1)
if [ "$(jq -r '.Labels["containerd.io/snapshot/snapkeep.backup"] // empty' <<<"$info")" = "$ID" ] &&
  [ -n "$(jq -r '.Labels["containerd.io/snapshot/snapkeep.backup-time"] // empty' <<<"$info")" ]; then
  sk_ok "A: ctr snapshots info c1 shows snapkeep.backup=$ID and snapkeep.backup-time"
else
  sk_notok "A: backup labels missing on c1" "$info"
fi
LIST_A=$SK_TMP/list-a; ct_listing a c1 >"$LIST_A"
# The listing must show the changes (so that "identical" below means something).
if grep -q '^/srv/big.bin|file|644|0|0|209715200|' "$LIST_A" && grep -q '^/srv/h3|file|4750|0|0|11|.*|/srv/data/h2$' "$LIST_A" &&
  grep -q '^/srv/link-rel|symbolic link|777|0|0|.*|../etc/sk-base|-$' "$LIST_A" &&
  grep -q '^/srv/data/sub/n.txt|file|644|123|456|' "$LIST_A" && grep -q '^/app/only.txt|' "$LIST_A" &&
  ! grep -q '^/app/new.txt|\|^/etc/sk-layer2|' "$LIST_A" && grep -q '^/srv/fifo|fifo|' "$LIST_A"; then
  sk_ok "A: listing ($(wc -l <"$LIST_A") entries) shows the changes: 200 MiB file, hardlink group, symlink, owner, replaced dir, deletion, FIFO"
else
  sk_notok "A: listing does not show the changes" "$(grep '^/srv\|^/app\|^/etc' "$LIST_A")"
fi

# ---- node B: fresh-node layers ---------------------------------------------------
[ -z "$(sk_backend_ctr b ls 2>/dev/null | tail -n +2)" ] && sk_ok "B: snapkeep root starts empty" || sk_notok "B: root not empty"
# containerd 1.6's `ctr images import/pull` unpack through image.Unpack, which
# sends no containerd.io/snapshot.ref label; the pull unpacker (CRI, nerdctl
# pull) does. So: content only with ctr, then unpack through client.Pull with
# WithPullUnpack (tests/go/storepull, the "registry" being containerd's own
# content store).
sk_check "B: ctr images import --no-unpack (content only)" \
  sk_ctr b images import --no-unpack "$NODES_IMG_TAR"
if out=$("$STOREPULL" -address "$(sk_csock b)" -namespace "$SK_NAMESPACE" -snapshotter snapkeep "$NODES_IMG" 2>&1); then
  sk_ok "B: image unpacked through containerd's pull unpacker ($(grep -c ' new$' <<<"$out") new layers)"
else
  sk_notok "B: pull-unpack" "$out"
fi
chains=$(sk_ctr b snapshots --snapshotter snapkeep ls | awk 'NR > 1 && $NF == "Committed" {print $1}')
n_chain=$(wc -w <<<"$chains"); from_repo=0
for ch in $chains; do
  lb=$(sk_ctr b snapshots --snapshotter snapkeep info "$ch" | jq -r '.Labels["containerd.io/snapshot/snapkeep.layer-backup"] // empty')
  [ -n "$lb" ] && from_repo=$((from_repo + 1))
done
[ "$n_chain" -eq 4 ] && [ "$from_repo" -eq 4 ] &&
  sk_ok "B: all 4 image layers carry snapkeep.layer-backup (taken from the repository)" ||
  sk_notok "B: layers from the repository: $from_repo of $n_chain"
st=$(skc b daemon status --json 2>&1)
[ "$(jq -r .layers_rehydrated <<<"$st" 2>/dev/null)" = 4 ] && sk_ok "B: daemon status: layers_rehydrated = 4 (unpack skipped)" ||
  sk_notok "B: layers_rehydrated" "$st"
n_log=$(grep -c 'rehydrated from backup' "$(sk_dir b)/snapkeepd.log")
[ "$n_log" -eq 4 ] && sk_ok "B: snapkeepd logged 4 'layer ... rehydrated from backup' lines" || sk_notok "B: $n_log rehydrate log lines"
# containerd's unpacker labels a layer blob containerd.io/uncompressed only
# after it applied (unpacked) it: no such label means the unpack was skipped.
man=$(sk_ctr b images ls | awk -v r="$NODES_IMG" '$1 == r {print $3}')
layers=$(sk_ctr b content get "$man" | jq -r '.layers[].digest')
applied=0
for l in $layers; do
  sk_ctr b content ls | awk -v d="$l" '$1 == d' | grep -q 'containerd.io/uncompressed' && applied=$((applied + 1))
done
applied_a=0   # control: node A unpacked the same image the ordinary way
for l in $layers; do
  sk_ctr a content ls | awk -v d="$l" '$1 == d' | grep -q 'containerd.io/uncompressed' && applied_a=$((applied_a + 1))
done
[ -n "$layers" ] && [ "$applied" -eq 0 ] && [ "$applied_a" -eq 4 ] &&
  sk_ok "B: no layer blob got containerd.io/uncompressed: containerd applied none (on A, which unpacked, all 4 have it)" ||
  sk_notok "B: $applied layer blobs applied by containerd on B, $applied_a on A (want 0 and 4)"
# Layer content: every chain level mounted read-only on A and B, compared.
# Views are made on snapkeepd directly (backend keys): containerd's GC would
# collect a view that no lease or container holds.
same=0
for ch in $chains; do
  d=$SK_TMP/lv/${ch#sha256:}; mkdir -p "$d/a" "$d/b"
  ka=$(node_backend_key a "$ch"); kb=$(node_backend_key b "$ch")
  if [ -n "$ka" ] && [ -n "$kb" ] && sk_backend_ctr a view "lv-$ch" "$ka" >/dev/null &&
    sk_backend_ctr b view "lv-$ch" "$kb" >/dev/null &&
    node_mount_rootfs a backend "lv-$ch" "$d/a" && node_mount_rootfs b backend "lv-$ch" "$d/b" &&
    out=$("$TREECMP" -r "$d/a" "$d/b" 2>&1); then
    same=$((same + 1))
  else
    echo "# layer $ch differs: $(head -5 <<<"${out:-view or mount failed}")"
  fi
  umount "$d/a" "$d/b" 2>/dev/null
  sk_backend_ctr a rm "lv-$ch" >/dev/null 2>&1
  sk_backend_ctr b rm "lv-$ch" >/dev/null 2>&1
done
[ "$same" -eq 4 ] && sk_ok "B: every layer's content equals A's (treecmp of the mounted chains)" ||
  sk_notok "B: $same of 4 layers equal"

# ---- node B: restore the container ---------------------------------------------
if node_run_bg b c1b --snapshotter-label "containerd.io/snapshot/snapkeep.restore=$ID" 2>"$SK_TMP/err"; then
  sk_ok "B: ctr run --snapshotter-label containerd.io/snapshot/snapkeep.restore=$ID"
else
  sk_notok "B: restore through ctr run" "$(cat "$SK_TMP/err")"; sk_finish
fi
LIST_B=$SK_TMP/list-b; ct_listing b c1b >"$LIST_B"
if diff -u "$LIST_A" "$LIST_B" >"$SK_TMP/diff"; then
  sk_ok "A vs B: in-container listings identical ($(wc -l <"$LIST_A") entries: path, type, mode, owner, size, sha256, link targets, hardlink groups)"
else
  sk_notok "A vs B: listings differ" "$(head -20 "$SK_TMP/diff")"
fi
st=$(skc b daemon status --json 2>&1)
[ "$(jq -r .restores_done <<<"$st" 2>/dev/null)" -ge 1 ] 2>/dev/null && sk_ok "B: daemon status counts the restore" ||
  sk_notok "B: restores_done" "$st"
# xattrs and everything else from the host: both root filesystems mounted.
node_mount_rootfs a snapkeep c1 "$SK_TMP/ra" && node_mount_rootfs b snapkeep c1b "$SK_TMP/rb" || sk_notok "mount root filesystems"
xa=$(host_xattrs "$SK_TMP/ra"); xb=$(host_xattrs "$SK_TMP/rb")
if [ "$xa" = "$xb" ] && grep -q 'new.txt|user.color=0x626c7565' <<<"$xa" && grep -q 'big.bin|trusted.sktest=0x00ff10' <<<"$xa"; then
  sk_ok "A vs B: xattrs identical ($(wc -l <<<"$xa") xattrs, read on the host from the mounted root filesystems)"
else
  sk_notok "A vs B: xattrs differ" "$(diff <(echo "$xa") <(echo "$xb") | head -10)"
fi
if out=$("$TREECMP" -r "$SK_TMP/ra" "$SK_TMP/rb" 2>&1); then
  sk_ok "A vs B: treecmp of the root filesystems (incl. ns mtimes, xattrs, holes) finds no difference"
else
  sk_notok "A vs B: treecmp" "$(head -10 <<<"$out")"
fi
umount "$SK_TMP/ra" "$SK_TMP/rb" 2>/dev/null

# ---- export -> node C with the built-in overlayfs snapshotter ---------------------
if out=$("$SNAPKEEP" --no-progress export "$ID" --oci-archive "$SK_TMP/export.tar" --ref snapkeep/exported:c1 --json 2>&1); then
  sk_ok "snapkeep export: $(jq -r .layers <<<"$out") layers, $(jq -r .archive_size <<<"$out") bytes"
else
  sk_notok "snapkeep export" "$out"
fi
sk_containerd_start c >/dev/null || sk_notok "node C (containerd only) starts"
if out=$(sk_ctr c images import --snapshotter overlayfs "$SK_TMP/export.tar" 2>&1); then
  sk_ok "C: ctr images import --snapshotter overlayfs of the exported archive"
  if NODE_SNAPSHOTTER=overlayfs NODE_RUN_IMG=docker.io/snapkeep/exported:c1 node_run_bg c c1c 2>"$SK_TMP/err"; then
    LIST_C=$SK_TMP/list-c; ct_listing c c1c >"$LIST_C"
    if diff -u "$LIST_A" "$LIST_C" >"$SK_TMP/diff"; then
      sk_ok "A vs C (exported image): in-container listings identical"
    else
      sk_notok "A vs C: listings differ" "$(head -20 "$SK_TMP/diff")"
    fi
    node_mount_rootfs c overlayfs c1c "$SK_TMP/rc" && xc=$(host_xattrs "$SK_TMP/rc")
    umount "$SK_TMP/rc" 2>/dev/null
    # containerd refuses trusted.* xattrs from any image archive ("admin
    # attributes from archive not supported"), so those cannot survive an
    # export/import; every other namespace must.
    xa_nt=$(grep -v '|trusted\.' <<<"$xa")
    [ "$xa_nt" = "${xc:-}" ] && [ -n "$xa_nt" ] &&
      sk_ok "A vs C: xattrs identical except trusted.* (which containerd drops from archives)" ||
      sk_notok "A vs C: xattrs differ" "$(diff <(echo "$xa_nt") <(echo "${xc:-}") | head -10)"
  else
    sk_notok "C: run a container from the exported image" "$(cat "$SK_TMP/err")"
  fi
else
  sk_notok "C: import of the exported archive" "$out"
fi

# ---- restore into a directory ---------------------------------------------------
if "$SNAPKEEP" --no-progress restore "$ID" --target "$SK_TMP/dir-merged" -q &&
  node_mount_rootfs a snapkeep c1 "$SK_TMP/ra" && out=$("$TREECMP" -r "$SK_TMP/ra" "$SK_TMP/dir-merged" 2>&1); then
  sk_ok "snapkeep restore ID --target DIR: the merged root filesystem equals A's container (treecmp)"
else
  sk_notok "restore --target (merged)" "$(head -10 <<<"${out:-}")"
fi
umount "$SK_TMP/ra" 2>/dev/null
if "$SNAPKEEP" --no-progress restore "$ID" --target "$SK_TMP/dir-layer" --layer -q &&
  out=$("$TREECMP" -r "$upper" "$SK_TMP/dir-layer" 2>&1); then
  sk_ok "snapkeep restore ID --target DIR --layer: equals A's upper dir (whiteouts, opaque dirs, xattrs)"
else
  sk_notok "restore --target --layer" "$(head -10 <<<"${out:-}")"
fi
nodes_finish
