#!/usr/bin/env bash
# Issue 5's benchmark: container writable-layer backup and restore with
# snapkeep vs the path containerd offers today, on the same ~300 MiB of
# container changes, side by side in one run.
#
#  1. Backup: `snapkeep backup --container` (a first backup into a fresh
#     repository each run, so nothing is incremental) vs `ctr snapshots diff`
#     of the same container snapshot to a gzip layer in containerd's content
#     store (what checkpoint and nerdctl commit do). Target: >= 3x faster.
#  2. Restore: `ctr containers create --snapshotter snapkeep
#     --snapshotter-label containerd.io/snapshot/snapkeep.restore=ID` (Prepare
#     rehydrates the writable layer, every chunk verified) vs `ctr images
#     import --snapshotter overlayfs` of an image archive holding the base
#     image plus that gzip diff layer, into a namespace where the base image
#     is already unpacked (so only the equivalent layer is imported and
#     unpacked). Target: >= 3x faster.
#  3. Repository growth of one backup vs the gzip layer's size. Target: <=.
#
# The changes (made inside the container with busybox): 100 MiB of random
# data in 4 files, ~190 MiB of text-like data (seq output) in 48 files, 1000
# small files, a deleted and a modified image file. Each measurement runs RUNS
# times, alternating snapkeep and peer; the median of each is reported.
#
# Environment: SNAPKEEPD, SNAPKEEP, SK_SRC, BUILD_DIR; SK_BENCH_RUNS (default 3).
set -u
here=$(cd "$(dirname "$0")" && pwd)
SK_SRC=${SK_SRC:-$(cd "$here/.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
SNAPKEEPD=${SNAPKEEPD:-$BUILD_DIR/snapkeepd}
SNAPKEEP=${SNAPKEEP:-$BUILD_DIR/snapkeep}
# The benches change directory: a relative path given by the caller must still work.
SNAPKEEP=$(realpath -m "$SNAPKEEP")
RUNS=${SK_BENCH_RUNS:-3}
source "$SK_SRC/tests/lib/nodes.sh"
SK_SNAPKEEPD_ARGS="--log-level info"
nodes_setup

now() { date +%s.%N; }
calc() { awk "BEGIN { print $* }"; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

node_start a || sk_skip "node A did not start"
sk_ctr a images import --snapshotter snapkeep "$NODES_IMG_TAR" >/dev/null || { echo "import failed"; exit 1; }
node_run_bg a c1 || { echo "container start failed"; exit 1; }
node_exec a c1 'set -e; mkdir -p /bench/rand /bench/text /bench/small
  for i in 1 2 3 4; do dd if=/dev/urandom of=/bench/rand/r$i bs=1048576 count=25 2>/dev/null; done
  for i in $(busybox seq 1 48); do busybox seq $((i * 10000000)) $((i * 10000000 + 470000)) > /bench/text/t$i; done
  for i in $(busybox seq 1 1000); do echo "small file $i" > /bench/small/s$i; done
  rm /etc/sk-layer2; echo modified > /etc/sk-base' || { echo "changes failed"; exit 1; }
changes=$(node_exec a c1 'du -sk /bench' | cut -f1)
echo "figure: container changes: $((changes / 1024)) MiB (100 MiB random, text-like rest, 1000 small files)"
sk_ctr a task pause c1 >/dev/null

bk_times="" diff_times="" growth="" gz=0 ID=""
for i in $(seq 1 "$RUNS"); do
  # snapkeep: a first backup into a fresh repository
  NODES_REPO=$SK_TMP/repo-$i
  SNAPKEEP_REPO=$NODES_REPO "$SNAPKEEP" --no-progress repo init --scrypt-log2n 10 -q
  node_snapkeepd_restart a >/dev/null || { echo "snapkeepd restart failed"; exit 1; }
  sk_retry 10 sk_ctr a snapshots --snapshotter snapkeep ls >/dev/null
  sync
  t0=$(now)
  out=$(SNAPKEEP_REPO=$NODES_REPO skc a backup --container c1 --namespace "$SK_NAMESPACE" --json) || { echo "backup failed: $out"; exit 1; }
  t1=$(now)
  ID=$(jq -r .backup_id <<<"$out")
  bk_times+=" $(calc "$t1 - $t0")"
  growth+=" $(du -sb "$NODES_REPO/data" | cut -f1)"
  # peer: ctr snapshots diff to a gzip layer
  sync
  t0=$(now)
  # It writes the layer into the content store and also to stdout.
  sk_ctr a snapshots --snapshotter snapkeep diff c1 >"$SK_TMP/layer.gz" || { echo "ctr snapshots diff failed"; exit 1; }
  t1=$(now)
  diff_times+=" $(calc "$t1 - $t0")"
  gz=$(stat -c %s "$SK_TMP/layer.gz")
  echo "run $i: snapkeep backup $(echo "$bk_times" | awk '{print $NF}') s, ctr snapshots diff (gzip) $(echo "$diff_times" | awk '{print $NF}') s"
done
bk=$(median <<<"$bk_times"); df=$(median <<<"$diff_times"); gr=$(median <<<"$growth")
echo "figure: writable-layer backup: snapkeep $bk s, ctr snapshots diff -> gzip layer $df s"
echo "figure: repository growth $gr bytes, gzip layer $gz bytes"

# Equivalent image for the peer restore: base image + the gzip diff layer.
W=$SK_TMP/peer-img; mkdir -p "$W"; tar -C "$W" -xf "$NODES_IMG_TAR"
man=$(jq -r '.manifests[0].digest' "$W/index.json"); man=${man#sha256:}
cfg=$(jq -r .config.digest "$W/blobs/sha256/$man"); cfg=${cfg#sha256:}
dg=sha256:$(sha256sum <"$SK_TMP/layer.gz" | cut -d' ' -f1)
cp "$SK_TMP/layer.gz" "$W/blobs/sha256/${dg#sha256:}"
diffid=$(zcat "$W/blobs/sha256/${dg#sha256:}" | sha256sum | cut -d' ' -f1)
jq -c --arg d "sha256:$diffid" '.rootfs.diff_ids += [$d]' "$W/blobs/sha256/$cfg" >"$W/cfg"
ncfg=$(sha256sum <"$W/cfg" | cut -d' ' -f1); mv "$W/cfg" "$W/blobs/sha256/$ncfg"
jq -c --arg c "sha256:$ncfg" --argjson cs "$(stat -c %s "$W/blobs/sha256/$ncfg")" --arg l "$dg" --argjson ls "$gz" \
  '.config.digest = $c | .config.size = $cs | .layers += [{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":$l,"size":$ls}]' \
  "$W/blobs/sha256/$man" >"$W/man"
nman=$(sha256sum <"$W/man" | cut -d' ' -f1); mv "$W/man" "$W/blobs/sha256/$nman"
jq -c --arg m "sha256:$nman" --argjson ms "$(stat -c %s "$W/blobs/sha256/$nman")" \
  '.manifests[0].digest = $m | .manifests[0].size = $ms | .manifests[0].annotations["io.containerd.image.name"] = "docker.io/snapkeep/peer:1" | .manifests[0].annotations["org.opencontainers.image.ref.name"] = "1"' \
  "$W/index.json" >"$W/index.new" && mv "$W/index.new" "$W/index.json"
rm -f "$W/blobs/sha256/$man" "$W/blobs/sha256/$cfg"
tar -C "$W" -cf "$SK_TMP/peer.tar" oci-layout index.json blobs
rm -rf "$W"

# Restore side on node B (same repository as A's last run).
NODES_REPO=$SK_TMP/repo-$RUNS
node_start b || { echo "node B did not start"; exit 1; }
sk_ctr b images import --snapshotter snapkeep "$NODES_IMG_TAR" >/dev/null
rs_times="" imp_times=""
for i in $(seq 1 "$RUNS"); do
  sync
  t0=$(now)
  sk_ctr b containers create --snapshotter snapkeep --snapshotter-label "containerd.io/snapshot/snapkeep.restore=$ID" \
    "$NODES_IMG" "r$i" >/dev/null || { echo "restore failed"; exit 1; }
  t1=$(now)
  rs_times+=" $(calc "$t1 - $t0")"
  ns=peer$i
  ctr --address "$(sk_csock b)" -n "$ns" images import --snapshotter overlayfs "$NODES_IMG_TAR" >/dev/null
  sync
  t0=$(now)
  ctr --address "$(sk_csock b)" -n "$ns" images import --snapshotter overlayfs "$SK_TMP/peer.tar" >/dev/null ||
    { echo "peer import failed"; exit 1; }
  t1=$(now)
  imp_times+=" $(calc "$t1 - $t0")"
  echo "run $i: snapkeep restore $(echo "$rs_times" | awk '{print $NF}') s, ctr images import of the layer $(echo "$imp_times" | awk '{print $NF}') s"
done
rs=$(median <<<"$rs_times"); im=$(median <<<"$imp_times")
echo "figure: restore: snapkeep $rs s, ctr images import (overlayfs) $im s"

# Sanity: the restored container holds the changes (else the timing is void).
if node_mount_rootfs b snapkeep r1 "$SK_TMP/chk" && [ "$(ls "$SK_TMP/chk/bench/small" | wc -l)" = 1000 ] &&
  [ "$(stat -c %s "$SK_TMP/chk/bench/rand/r4")" = 26214400 ] && [ ! -e "$SK_TMP/chk/etc/sk-layer2" ]; then
  umount "$SK_TMP/chk"
else
  echo "restored snapshot does not hold the container's changes"; exit 1
fi

bx=$(awk "BEGIN { printf \"%.2f\", $df / $bk }"); rx=$(awk "BEGIN { printf \"%.2f\", $im / $rs }")
gx=$(awk "BEGIN { printf \"%.3f\", $gr / $gz }")
pass() { [ "$(calc "($1) ? 1 : 0")" = 1 ] && echo MET || echo MISSED; }
echo "result: backup speed-up vs ctr snapshots diff (gzip): ${bx}x (target >= 3x) $(pass "$bx >= 3")"
echo "result: restore speed-up vs ctr images import: ${rx}x (target >= 3x) $(pass "$rx >= 3")"
echo "result: repository growth / gzip layer size: ${gx} (target <= 1) $(pass "$gx <= 1")"
exit 0
