#!/usr/bin/env bash
# Issue 2's benchmark: snapkeep vs containerd's built-in overlayfs snapshotter,
# side by side in one containerd (same run, same disk, interleaved runs).
#
#  1. `ctr images import --snapshotter S` (+ unpack) of a locally built image of
#     about 400 MB in 4 gzip layers (random and text-like data, ~2000 small
#     files). Content is ingested once beforehand (untimed) so both sides time
#     the same work: reading the archive, decompressing, hashing, writing the
#     files, and the snapshotter's Prepare/Commit/Stat/Mounts. Every run unpacks
#     into a fresh namespace (nothing is deleted during the runs: on this
#     journal-less ext4 freshly freed inodes are not reused for about a minute,
#     which would measure the inode allocator rather than the snapshotter).
#     One untimed warm-up unpack each, then RUNS pairs in alternating order.
#     Target: snapkeep <= 1.05x overlayfs.
#  2. Latency of Prepare+Commit+Remove through containerd, on top of the
#     unpacked image's top layer. Driven by the Go client tests/go/snapbench
#     (containerd's client library, no process per call) in ROUNDS alternating
#     rounds; otherwise by `ctr` (three processes per iteration, which dilutes
#     the ratio; the output says which driver ran). Target: <= 1.3x overlayfs.
#
# The machine is shared, so load drifts during a run. Results are therefore
# the median of per-pair ratios (each snapkeep run against the overlayfs run
# next to it); the ratio of the two medians is printed as well, and so is the
# CPU time of the unpacks (ctr + containerd + snapkeepd), which load disturbs
# far less than wall time.
#
# Environment: SNAPKEEPD, SK_SRC, BUILD_DIR; SK_BENCH_RUNS (unpack pairs,
# default 7), SK_BENCH_IMAGE_MB (default 400), SK_BENCH_ROUNDS (latency rounds,
# default 10), SK_BENCH_OPS (loops per round and snapshotter: default 300 with
# the Go client, 150 with ctr), SK_BENCH_TMPFS=1 puts the whole stack on
# /dev/shm, SK_BENCH_CTR=1 forces the ctr driver, SK_BENCH_RESULTS (image
# cache in its cache/), SK_BENCH_CANDIDATE=native (harness self-test).
set -u
here=$(cd "$(dirname "$0")" && pwd)
SK_SRC=${SK_SRC:-$(cd "$here/.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
SNAPKEEPD=${SNAPKEEPD:-$BUILD_DIR/snapkeepd}
# shellcheck source=../tests/lib/containerd.sh
source "$SK_SRC/tests/lib/containerd.sh"
# shellcheck source=../tests/lib/oci-image.sh
source "$SK_SRC/tests/lib/oci-image.sh"

RUNS=${SK_BENCH_RUNS:-7}
IMAGE_MB=${SK_BENCH_IMAGE_MB:-400}
RESULTS=${SK_BENCH_RESULTS:-$here/results}
CAND=${SK_BENCH_CANDIDATE:-snapkeep} # another name (e.g. native) = self-test without snapkeepd
SNAPS=(overlayfs "$CAND")
SK_SNAPKEEPD_ARGS=${SK_BENCH_SNAPKEEPD_ARGS:---log-level info}
[ "${SK_BENCH_TMPFS:-0}" = 1 ] && SK_TMP_BASE=/dev/shm

if [ "$CAND" = snapkeep ]; then sk_require_env; else [ "$(id -u)" = 0 ] || sk_skip "needs root"; fi
[ -x "$OCI_BUSYBOX" ] || sk_skip "$OCI_BUSYBOX missing (busybox-static)"
[ -x /usr/bin/time ] || sk_skip "/usr/bin/time missing (Debian package time)"

median() { sort -g | awk -v OFMT=%.10g '{ v[NR] = $1 } END { if (NR == 0) exit 1; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now() { echo "${EPOCHREALTIME/,/.}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
median_of() { tr ' ' '\n' <<<"$1" | grep . | median; }   # of a space-separated list
# snap_median NAME S RUNS: med=the median of RUNS, kept as NAME_S (S with - as _)
# for ratio_of_medians NAME: the candidate's median over overlayfs's.
snap_median() { med=$(median_of "$3"); declare -g "$1_${2//-/_}=$med"; }
ratio_of_medians() { local c=$1_${CAND//-/_} o=$1_overlayfs; ratio "${!c}" "${!o}"; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r <= t) ? "MET" : "MISSED" }'; }

# --- the image (cached: building 400 MB of layers takes a while) ----------------
mkdir -p "$RESULTS/cache"
IMG=docker.io/skbench/big:${IMAGE_MB}m
# The name carries a hash of the builder, so a changed recipe rebuilds the image.
recipe=$(sha256sum "$SK_SRC/tests/lib/oci-image.sh" | cut -c1-8)
archive=$RESULTS/cache/bench-image-${IMAGE_MB}m-$recipe.tar
if [ ! -s "$archive" ]; then
  rm -f "$RESULTS/cache/bench-image-${IMAGE_MB}m-"*.tar
  echo "# building the ${IMAGE_MB} MB 4-layer bench image (cached in $archive)"
  oci_build_bench_image "$archive.tmp" "$IMG" "$IMAGE_MB" 4 || { echo "bench image build failed" >&2; exit 1; }
  mv -f "$archive.tmp" "$archive"
fi
echo "# image: $(du -m "$archive" | cut -f1) MB archive, 4 gzip layers; $RUNS runs per snapshotter"

if [ "$CAND" = snapkeep ]; then
  sk_stack_start a || { echo "could not start the stack" >&2; exit 1; }
else
  sk_containerd_start a || { echo "could not start containerd" >&2; exit 1; }
fi
ctrn() { local ns=$1; shift; ctr --address "$(sk_csock a)" --namespace "$ns" "$@"; }

# Ingest the content once (untimed) and warm the page cache with the archive.
ctrn warm images import --no-unpack "$archive" >/dev/null || { echo "warm-up import failed" >&2; exit 1; }
cat "$archive" >/dev/null

# CPU seconds (user+system) a process has used so far, from /proc/PID/stat.
cpu_of() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$1/stat"
}
daemons_cpu() { awk -v a="$(cpu_of "${SK_PID_C[a]:-}")" -v b="$(cpu_of "${SK_PID_D[a]:-}")" 'BEGIN { printf "%.3f", a + b }'; }

# import_once NS SNAPSHOTTER: prints "WALL CPU" of one import+unpack, CPU being
# the seconds used by ctr, containerd and snapkeepd together: the work done,
# which the machine's other load disturbs much less than the wall time.
import_once() {
  local ns=$1 s=$2 t0 t1 c0 c1 n
  sync
  c0=$(daemons_cpu)
  t0=$(now)
  if ! /usr/bin/time -f '%U %S' -o "$SK_TMP/import.time" ctr --address "$(sk_csock a)" --namespace "$ns" \
    images import --snapshotter "$s" "$archive" >/dev/null 2>"$SK_TMP/import.err"; then
    echo "import with $s failed: $(cat "$SK_TMP/import.err")" >&2; return 1
  fi
  t1=$(now)
  c1=$(daemons_cpu)
  n=$(ctrn "$ns" snapshots --snapshotter "$s" ls | awk 'NR > 1 && $NF == "Committed"' | wc -l)
  [ "$n" = 4 ] || { echo "unpack with $s left $n committed snapshots, want 4" >&2; return 1; }
  awk -v a="$t0" -v b="$t1" -v c0="$c0" -v c1="$c1" -v ct="$(tail -1 "$SK_TMP/import.time")" \
    'BEGIN { split(ct, u, " "); printf "%.3f %.3f", b - a, c1 - c0 + u[1] + u[2] }'
}

# One untimed unpack each first: the first unpack after ingestion is an outlier.
for s in "${SNAPS[@]}"; do import_once "warm-$s" "$s" >/dev/null || exit 1; done

declare -A unpack_times=() unpack_cpu=()
pairs="" cpairs=""
for ((i = 1; i <= RUNS; i++)); do
  # Alternate who goes first so drift (load, writeback) hits both sides.
  if [ $((i % 2)) = 1 ]; then order=(overlayfs "$CAND"); else order=("$CAND" overlayfs); fi
  declare -A this=() thiscpu=()
  for s in "${order[@]}"; do
    r=$(import_once "u-$s-$i" "$s") || exit 1
    read -r this[$s] thiscpu[$s] <<<"$r"
    unpack_times[$s]+="${this[$s]} "
    unpack_cpu[$s]+="${thiscpu[$s]} "
    echo "# run $i $s: import+unpack ${this[$s]} s wall, ${thiscpu[$s]} s CPU"
  done
  pairs+="$(ratio "${this[$CAND]}" "${this[overlayfs]}") "
  cpairs+="$(ratio "${thiscpu[$CAND]}" "${thiscpu[overlayfs]}") "
done
for s in "${SNAPS[@]}"; do
  echo "figure: unpack CPU (ctr+containerd+snapkeepd) $s median $(median_of "${unpack_cpu[$s]}") s (runs: ${unpack_cpu[$s]% })"
done
echo "figure: unpack CPU ratio $CAND/overlayfs = $(median_of "$cpairs") (median of paired runs; per pair: ${cpairs% })"
for s in "${SNAPS[@]}"; do
  snap_median unpack "$s" "${unpack_times[$s]}"
  echo "figure: unpack $s median ${med} s (runs: ${unpack_times[$s]% })"
done
r_med=$(ratio_of_medians unpack)
r_unpack=$(median_of "$pairs")
echo "figure: unpack ratio of medians $CAND/overlayfs = $r_med; per-run pair ratios: ${pairs% }"
echo "result: unpack ratio $CAND/overlayfs = $(printf '%.3f' "$r_unpack") (median of paired runs; target <= 1.05: $(verdict "$r_unpack" 1.05))"

# --- Prepare+Commit+Remove latency -------------------------------------------------
# Parent: the top layer of the image unpacked in run 1 of each snapshotter.
top_of() {
  local ns=$1 s=$2
  ctrn "$ns" snapshots --snapshotter "$s" ls | awk 'NR > 1 { k[$1] = 1; if (NF == 3) p[$2] = 1 } END { for (x in k) if (!(x in p)) print x }'
}

driver=ctr
gobin=""
if [ "${SK_BENCH_CTR:-0}" != 1 ] && [ -f "$SK_SRC/tests/go/snapbench/main.go" ] && command -v go >/dev/null; then
  if BUILD_DIR=$BUILD_DIR bash "$SK_SRC/tests/go/build.sh" snapbench >"$SK_TMP/gobuild.log" 2>&1 &&
    [ -x "$BUILD_DIR/go-bin/snapbench" ]; then
    driver=go gobin=$BUILD_DIR/go-bin/snapbench
  else
    echo "# tests/go/snapbench did not build, falling back to ctr: $(tail -3 "$SK_TMP/gobuild.log")"
  fi
fi

declare -A lat=()
lpairs=""
if [ "$driver" = go ]; then
  OPS=${SK_BENCH_OPS:-300}
  ROUNDS=${SK_BENCH_ROUNDS:-10}
  has_parent=0
  "$gobin" -h 2>&1 | grep -q -- '-parent' && has_parent=1
  echo "# latency driver: Go client $gobin; $ROUNDS rounds of $OPS loops per snapshotter, alternating;" \
    "$([ $has_parent = 1 ] && echo "parent: the image's top layer" || echo "parentless")"
  declare -A par=()
  for s in "${SNAPS[@]}"; do par[$s]=$(top_of "u-$s-1" "$s"); done
  for ((round = 1; round <= ROUNDS; round++)); do
    if [ $((round % 2)) = 1 ]; then order=(overlayfs "$CAND"); else order=("$CAND" overlayfs); fi
    declare -A this=()
    for s in "${order[@]}"; do
      pargs=()
      [ "$has_parent" = 1 ] && pargs=(-parent "${par[$s]}")
      # snapbench prints one line "median_us=N p90_us=N" (see tests/go/snapbench).
      out=$("$gobin" -address "$(sk_csock a)" -namespace "u-$s-1" -snapshotter "$s" \
        "${pargs[@]}" -n "$OPS" 2>&1) || { echo "snapbench $s failed: $out" >&2; exit 1; }
      m=$(grep -o 'median_us=[0-9.]*' <<<"$out" | head -1 | cut -d= -f2)
      [ -n "$m" ] || { echo "snapbench $s: no median_us in output: $out" >&2; exit 1; }
      this[$s]=$m
      lat[$s]+="$m "
      echo "# round $round $s: $out"
    done
    lpairs+="$(ratio "${this[$CAND]}" "${this[overlayfs]}") "
  done
else
  OPS=${SK_BENCH_OPS:-150}
  echo "# latency driver: ctr (3 processes per iteration; process start-up dominates and dilutes the ratio)"
  declare -A par=()
  for s in "${SNAPS[@]}"; do par[$s]=$(top_of "u-$s-1" "$s"); done
  for ((j = 0; j < OPS; j++)); do
    declare -A this=()
    for s in "${SNAPS[@]}"; do
      cs_b() { ctrn "u-$s-1" snapshots --snapshotter "$s" "$@" >/dev/null 2>&1; }
      t0=$(now)
      cs_b prepare "lat-a-$j" "${par[$s]}" && cs_b commit "lat-c-$j" "lat-a-$j" && cs_b rm "lat-c-$j" ||
        { echo "ctr prepare/commit/rm with $s failed at iteration $j" >&2; exit 1; }
      t1=$(now)
      this[$s]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1e6 }')
      lat[$s]+="${this[$s]} "
    done
    lpairs+="$(ratio "${this[$CAND]}" "${this[overlayfs]}") "
  done
fi
for s in "${SNAPS[@]}"; do
  snap_median lat "$s" "${lat[$s]}"
  if [ "$driver" = go ]; then echo "figure: prepare+commit+remove $s median ${med} us (per-round medians: ${lat[$s]% })"
  else echo "figure: prepare+commit+remove via ctr $s median ${med} us ($OPS iterations)"; fi
done
r_med=$(ratio_of_medians lat)
r_lat=$(median_of "$lpairs")
echo "figure: latency ratio of medians $CAND/overlayfs = $r_med"
echo "result: prepare+commit+remove latency ratio $CAND/overlayfs = $(printf '%.3f' "$r_lat") (median of paired rounds; target <= 1.3: $(verdict "$r_lat" 1.3); driver $driver)"

if [ "$CAND" = snapkeep ] && ! kill -0 "$(sk_snapkeepd_pid a)" 2>/dev/null; then
  echo "snapkeepd died during the bench" >&2; exit 1
fi
exit 0
