#!/usr/bin/env bash
# Issue 14's benchmarks: the Kubernetes path, side by side in one run, each
# measurement RUNS times (SK_BENCH_RUNS, default 5), the modes alternating,
# median reported. A fresh node has nothing in its page cache: as root, every
# timed step starts after `sync` and `echo 3 > /proc/sys/vm/drop_caches`
# (SK_BENCH_COLD=0 turns that off), so that one mode does not pay for the
# write-back of the node removed before it and the next one does not read the
# registry's blobs from memory.
#
#  1. CRI pull-and-run of a SK_BENCH_CRI_MB (default 400) MB, 4-layer image on a
#     fresh node (new containerd and snapkeepd roots every run): PullImage,
#     RunPodSandbox, CreateContainer, StartContainer, ExecSync `true`, with the
#     image in a real registry on 127.0.0.1 (docker-registry), through
#       - containerd's built-in overlayfs snapshotter ("overlayfs"),
#       - snapkeep, layers from the registry ("snapkeep-registry": remote
#         layers off, so containerd unpacks as it does for overlayfs),
#       - snapkeep with the layers in the repository ("snapkeep-repo").
#     Targets: snapkeep-repo at least 1.5x faster than overlayfs;
#     snapkeep-registry within 1.05x of overlayfs.
#  2. A pod container's backup (the image plus ~100 MiB of changes) made into
#     an image on a fresh node: `snapkeep restore --as-image` vs `snapkeep
#     export` + `ctr images import` (which unpacks into snapkeep). Target: at
#     least 3x faster.
#
# Environment: SNAPKEEPD, SNAPKEEP, SK_SRC, BUILD_DIR, SK_BENCH_RUNS, SK_BENCH_CRI_MB,
# SK_BENCH_COLD.
set -u
here=$(cd "$(dirname "$0")" && pwd)
SK_SRC=${SK_SRC:-$(cd "$here/.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
SNAPKEEPD=${SNAPKEEPD:-$BUILD_DIR/snapkeepd}
SNAPKEEP=$(realpath -m "${SNAPKEEP:-$BUILD_DIR/snapkeep}")
RUNS=${SK_BENCH_RUNS:-5}
MB=${SK_BENCH_CRI_MB:-400}
source "$SK_SRC/tests/lib/nodes.sh"
source "$SK_SRC/tests/lib/registry.sh"
source "$SK_SRC/tests/lib/cri.sh"
source "$here/lib/stats.sh"
SK_SNAPKEEPD_ARGS="--log-level info"
nodes_setup
reg_require
cri_setup

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
cold=0
if [ "$(id -u)" -eq 0 ] && [ "${SK_BENCH_COLD:-1}" = 1 ] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
  cold=1
fi
settle() { # before a timed step: write back and drop the page cache (if cold)
  sync
  [ "$cold" = 1 ] && echo 3 >/proc/sys/vm/drop_caches
  return 0
}
echo "figure: machine: $(nproc) cores, $(uname -r); page cache dropped before each timed step: $([ $cold = 1 ] && echo yes || echo no)"

reg_start || { echo "registry did not start"; exit 1; }
cri_push_pause || { echo "sandbox image push failed"; exit 1; }
echo "building a $MB MB 4-layer image..."
oci_build_bench_image "$SK_TMP/big.tar" snapkeep/big:1 "$MB" 4 >/dev/null || { echo "image build failed"; exit 1; }
reg_push "$SK_TMP/big.tar" sk/big:1 || { echo "push failed"; exit 1; }
rm -f "$SK_TMP/big.tar"
IMG=$REG/sk/big:1
LAYERS=$(skopeo inspect --raw --tls-verify=false "docker://$IMG" | jq -r '.layers[].digest')
blobs=$(skopeo inspect --raw --tls-verify=false "docker://$IMG" | jq '[.layers[].size] | add')
echo "figure: image $IMG: 4 layers, $((blobs >> 20)) MiB compressed, about $MB MB unpacked"

stop_node() { sk_stack_stop "$1"; rm -rf "${SK_TMP:?}/$1"; }

# The seed node: pulls the image, runs a pod whose container writes ~100 MiB,
# and backs the container up (its image layers go to the repository too).
node_start seed || { echo "seed node did not start"; exit 1; }
cri seed pull "$IMG" >/dev/null || { echo "seed pull failed"; exit 1; }
cri_pod seed seedpod app "$IMG" sh -c 'mkdir -p /bench && for i in 1 2 3 4; do
  head -c 26214400 /dev/urandom > /bench/r$i; done && touch /tmp/ready && exec sleep 100000' || exit 1
sk_retry 120 cri seed exec "$CID" test -e /tmp/ready || { echo "seed container not ready"; exit 1; }
BID=$(skc seed backup --container "$CID" --namespace k8s.io --json | jq -r .backup_id)
[ ${#BID} = 64 ] || { echo "seed backup failed"; exit 1; }
echo "figure: seed backup $BID (the image's 4 layers and 100 MiB of container changes)"
stop_node seed

# ---- 1. pull and run -------------------------------------------------------------
pull_run() { # NODE: one pull-and-run on a freshly started node; prints seconds
  local n=$1 t0
  t0=$(now)
  cri "$n" pull "$IMG" >/dev/null && cri_pod "$n" p c "$IMG" sleep 100000 && cri "$n" exec "$CID" true || return 1
  elapsed "$t0"
}
declare -A T=()
for i in $(seq 1 "$RUNS"); do
  for mode in overlayfs snapkeep-registry snapkeep-repo; do
    n=$mode-$i
    args=()
    [ $mode = snapkeep-registry ] && args=(--no-remote-layers)
    snap=snapkeep
    [ $mode = overlayfs ] && snap=overlayfs
    SK_CRI_SNAPSHOTTER=$snap node_start "$n" "${args[@]}" || { echo "node $n did not start"; exit 1; }
    mark=$(reg_mark)
    settle
    t=$(pull_run "$n") || { echo "pull-and-run failed on $n"; exit 1; }
    d=$(reg_blob_gets "$mark" $LAYERS)
    echo "run $i $mode: $t s ($d of 4 layer blobs downloaded)"
    T[$mode]+="$t "
    stop_node "$n"
  done
done
m_ov=$(tr ' ' '\n' <<<"${T[overlayfs]}" | grep . | median)
m_reg=$(tr ' ' '\n' <<<"${T[snapkeep-registry]}" | grep . | median)
m_repo=$(tr ' ' '\n' <<<"${T[snapkeep-repo]}" | grep . | median)
echo "figure: CRI pull-and-run, median of $RUNS: overlayfs $m_ov s, snapkeep from the registry $m_reg s, snapkeep from the repository $m_repo s"
r1=$(ratio "$m_ov" "$m_repo")
r2=$(ratio "$m_reg" "$m_ov")
echo "result: pull-and-run from the repository is ${r1}x faster than overlayfs from the registry (target >= 1.5x): $(awk -v r="$r1" 'BEGIN { print (r >= 1.5) ? "MET" : "MISSED" }')"
echo "result: pull-and-run through snapkeep from the registry takes ${r2}x overlayfs's time (target <= 1.05x): $(verdict "$r2" 1.05)"

# ---- 2. restore --as-image vs export + import ----------------------------------------
declare -A A=()
for i in $(seq 1 "$RUNS"); do
  n=asimage-$i
  node_start "$n" || exit 1
  settle
  t0=$(now)
  "$SNAPKEEP" --no-progress -q restore "$BID" --as-image "$REG/sk/restored:$i" --containerd-socket "$(sk_csock "$n")" ||
    { echo "as-image failed"; exit 1; }
  t=$(elapsed "$t0")
  cri "$n" image-id "$REG/sk/restored:$i" >/dev/null || { echo "as-image: CRI does not see the image"; exit 1; }
  A[asimage]+="$t "
  echo "run $i restore --as-image: $t s"
  stop_node "$n"

  n=import-$i
  node_start "$n" || exit 1
  settle
  t0=$(now)
  "$SNAPKEEP" --no-progress -q export "$BID" --oci-archive "$SK_TMP/export.tar" --ref "$REG/sk/exported:$i" &&
    ctr --address "$(sk_csock "$n")" --namespace k8s.io images import --snapshotter snapkeep "$SK_TMP/export.tar" >/dev/null ||
    { echo "export + import failed"; exit 1; }
  t=$(elapsed "$t0")
  rm -f "$SK_TMP/export.tar"
  A[import]+="$t "
  echo "run $i export + ctr images import: $t s"
  stop_node "$n"
done
m_ai=$(tr ' ' '\n' <<<"${A[asimage]}" | grep . | median)
m_im=$(tr ' ' '\n' <<<"${A[import]}" | grep . | median)
r3=$(ratio "$m_im" "$m_ai")
echo "figure: backup to image on a fresh node, median of $RUNS: restore --as-image $m_ai s, export + ctr images import $m_im s"
echo "result: restore --as-image is ${r3}x faster than export + import (target >= 3x): $(awk -v r="$r3" 'BEGIN { print (r >= 3) ? "MET" : "MISSED" }')"
