#!/usr/bin/env bash
# Entry point of `make bench`: runs each benchmark script below in turn. Each
# prints its own figures ("figure: ..." and "result: ..." lines) and compares
# snapkeep with a peer run side by side in the same run. The output of every
# bench goes to bench/results/<UTC time>-<bench>.txt (gitignored) as well.
#
# Environment: BUILD_DIR (default build/), B=REGEX runs only matching benches;
# each bench documents its own knobs (SK_BENCH_*).
set -u
here=$(cd "$(dirname "$0")" && pwd)
export SK_SRC=${SK_SRC:-$(cd "$here/.." && pwd)}
export BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
export SNAPKEEPD=${SNAPKEEPD:-$BUILD_DIR/snapkeepd} SNAPKEEP=${SNAPKEEP:-$BUILD_DIR/snapkeep}
export SK_BENCH_RESULTS=${SK_BENCH_RESULTS:-$here/results}
mkdir -p "$SK_BENCH_RESULTS"

# The benchmarks, in order. Add new ones here.
BENCHES=(
  snapshotter.sh # issue 2: unpack time and Prepare+Commit+Remove latency vs overlayfs
  repository.sh  # issue 3: backup/incremental/restore time, repo size, peak RSS vs restic and borg
  s3.sh          # issue 6: S3 backup/restore throughput and requests/GiB via radosgw vs local and restic's S3
  containers.sh  # issue 5: writable-layer backup/restore vs ctr snapshots diff (gzip) / ctr images import; repo growth
  io.sh          # issue 4: I/O data path: both engines vs restic, borg, the zstd and read bounds, warm and cold
  auto.sh        # issue 12: snapshot-op latency and a busy container during scheduled backups; the idle scheduler
  metrics.sh     # issue 13: snapshot-op latency with the metrics endpoint on (scraped) and off
  cri.sh         # issue 14: CRI pull-and-run (registry vs repository vs overlayfs); restore --as-image vs export + import
  index.sh       # issue 15: blob index memory, open time and lookup rate at 1, 4 and 16 million blobs vs the previous table
)

filter=${B:-.}
stamp=$(date -u +%Y%m%d-%H%M%S)
failed=()
for b in "${BENCHES[@]}"; do
  [[ $b =~ $filter ]] || continue
  [ -f "$here/$b" ] || { echo "--- SKIP $b (not present)"; continue; }
  out=$SK_BENCH_RESULTS/$stamp-${b%.sh}.txt
  echo "=== bench $b (output also in $out)"
  bash "$here/$b" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 77 ]; then
    echo "--- SKIP $b"
  elif [ "$rc" -ne 0 ]; then
    echo "--- FAIL $b (exit $rc)"; failed+=("$b")
  else
    echo "--- done $b"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}"
  exit 1
fi
exit 0
