#!/usr/bin/env bash
# Run libFuzzer harnesses from DIR: all of them, or the one named. Each starts from
# its seed corpus tests/fuzz/corpus/<name>/ (copied, so seeds stay unchanged).
# FUZZ_SECONDS (make fuzz) or FUZZ_QUICK_SECONDS (make check, default 10).
set -euo pipefail
dir=$1; only=${2:-}
secs=${FUZZ_SECONDS:-${FUZZ_QUICK_SECONDS:-10}}
src=$(cd "$(dirname "$0")" && pwd)
rc=0
for f in "$dir"/fuzz-*; do
  name=$(basename "$f")
  [ -z "$only" ] || [ "$only" = "$name" ] || continue
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  [ -d "$src/fuzz/corpus/$name" ] && cp -r "$src/fuzz/corpus/$name/." "$work/"
  echo "fuzz: $name for ${secs}s"
  if ! "$f" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" "$work" 2>&1 | tail -25; then
    rc=1
  fi
  if ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* >/dev/null 2>&1; then
    echo "fuzz: $name found a crash:"; ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null; rc=1
  fi
  rm -rf "$work"; trap - EXIT
done
exit $rc
