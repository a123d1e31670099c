#!/usr/bin/env bash
# Load: 16 concurrent clients (one connection each) run a checked mix of all
# ten Snapshots RPCs for 30 s against the ASan+UBSan build of snapkeepd
# (tests/go/load). No call may fail unexpectedly (provoked conflicts are
# counted separately), and after a SIGTERM shutdown the daemon's log must hold
# no sanitizer report.
#
# Env: SNAPKEEPD_ASAN, SK_SRC, BUILD_DIR; SK_LOAD_SECONDS (30), SK_LOAD_CLIENTS (16).
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
bin=${SNAPKEEPD_ASAN:-}

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -n "$bin" ] && [ -x "$bin" ] || { echo "SKIP: ASan+UBSan snapkeepd not built (SNAPKEEPD_ASAN=$bin)"; exit 77; }
command -v go >/dev/null || { echo "SKIP: go not installed (golang-go)"; exit 77; }
"$SK_SRC/tests/go/build.sh" load || { echo "not ok build tests/go/load"; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
tmp=$(mktemp -d /tmp/skload.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$BUILD_DIR/go-bin/load" -snapkeepd "$bin" -dir "$tmp" \
  -clients "${SK_LOAD_CLIENTS:-16}" -duration "${SK_LOAD_SECONDS:-30}s"
rc=$?
log=$tmp/snapkeepd.log
mkdir -p "$BUILD_DIR/test-logs" && cp "$log" "$BUILD_DIR/test-logs/load-snapkeepd.log" 2>/dev/null
if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$log"; then
  echo "not ok no sanitizer report in the daemon's log"
  grep -m1 -A40 -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$log"
  rc=1
else
  echo "ok no sanitizer report in the daemon's log"
fi
exit $rc
