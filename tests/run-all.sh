#!/usr/bin/env bash
# Runs every test of `make check`: the cmocka unit tests (ASan+UBSan build), a
# short libFuzzer run of every harness, then the integration scripts
# tests/integration/test-*.sh (real containerd, runc and snapkeepd).
#
# Environment: BUILD_DIR, ASAN_BUILD_DIR (set by make); T=REGEX runs only the
# tests whose name matches; FUZZ_QUICK_SECONDS (default 10) per harness.
# Exit status 77 from a test means "skipped" and must come with a reason.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export SK_SRC=$(cd "$here/.." && pwd)
export BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
export ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-$SK_SRC/build-asan}
export SNAPKEEPD=$BUILD_DIR/snapkeepd SNAPKEEP=$BUILD_DIR/snapkeep
export SNAPKEEPD_ASAN=$ASAN_BUILD_DIR/snapkeepd SNAPKEEP_ASAN=$ASAN_BUILD_DIR/snapkeep
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
filter=${T:-.}
logdir=${SK_TEST_LOGDIR:-$BUILD_DIR/test-logs}
mkdir -p "$logdir"

pass=0 fail=0 skip=0 failed=()
run_one() { # name, command...
  local name=$1; shift
  [[ $name =~ $filter ]] || return 0
  local log=$logdir/$name.log start=$SECONDS rc
  mkdir -p "$(dirname "$log")"
  printf '=== %s\n' "$name"
  "$@" >"$log" 2>&1; rc=$?
  if [ $rc -eq 0 ]; then
    pass=$((pass + 1)); printf -- '--- PASS %s (%ds)\n' "$name" $((SECONDS - start))
  elif [ $rc -eq 77 ]; then
    skip=$((skip + 1)); printf -- '--- SKIP %s: %s\n' "$name" "$(grep -m1 '^SKIP' "$log" || tail -1 "$log")"
  else
    fail=$((fail + 1)); failed+=("$name")
    printf -- '--- FAIL %s (exit %d, %ds); last lines of %s:\n' "$name" $rc $((SECONDS - start)) "$log"
    tail -40 "$log" | sed 's/^/    /'
  fi
  # Show the per-case lines a test chose to print (conformance cases, figures).
  grep -E '^(ok|not ok|PASS|FAIL|SKIP|case|figure|result)[ :]' "$log" | sed 's/^/    /' | head -200
}

for t in "$ASAN_BUILD_DIR"/tests/test-*; do
  [ -x "$t" ] && run_one "unit/$(basename "$t")" timeout --kill-after=10 "${SK_UNIT_TIMEOUT:-300}" "$t"
done

for f in "$BUILD_DIR"/fuzz/fuzz-*; do
  [ -x "$f" ] || continue
  run_one "fuzz/$(basename "$f")" "$here/run-fuzz.sh" "$BUILD_DIR/fuzz" "$(basename "$f")"
done

for s in "$here"/integration/test-*.sh; do
  [ -f "$s" ] && run_one "integration/$(basename "$s" .sh)" timeout --kill-after=30 "${SK_TEST_TIMEOUT:-1200}" bash "$s"
done

echo
[ ${#failed[@]} -gt 0 ] && printf 'failed: %s\n' "${failed[*]}"
echo "check: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] && [ $((pass + skip)) -gt 0 ]
