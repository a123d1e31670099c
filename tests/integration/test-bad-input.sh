#!/usr/bin/env bash
# Bad input: malformed protobuf, empty keys, missing parents, oversized labels,
# Commit of a View, Remove of a parent, unknown methods. Each must get the
# proper gRPC code while the daemon stays up and List stays exactly as it was
# (tests/go/badinput). Runs against the ASan+UBSan build when there is one,
# and then no sanitizer report may appear in the daemon's log.
#
# Env: SNAPKEEPD_ASAN (preferred), SNAPKEEPD, SK_SRC, BUILD_DIR.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
SNAPKEEPD=${SNAPKEEPD:-$BUILD_DIR/snapkeepd}
bin=${SNAPKEEPD_ASAN:-}
[ -n "$bin" ] && [ -x "$bin" ] || bin=$SNAPKEEPD

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x "$bin" ] || { echo "SKIP: snapkeepd not built at $bin"; exit 77; }
command -v go >/dev/null || { echo "SKIP: go not installed (golang-go)"; exit 77; }
"$SK_SRC/tests/go/build.sh" badinput || { echo "not ok build tests/go/badinput"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
tmp=$(mktemp -d /tmp/skbad.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "# daemon: $bin"
"$BUILD_DIR/go-bin/badinput" -snapkeepd "$bin" -dir "$tmp"
rc=$?
log=$tmp/snapkeepd.log
mkdir -p "$BUILD_DIR/test-logs" && cp "$log" "$BUILD_DIR/test-logs/bad-input-snapkeepd.log" 2>/dev/null
if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$log"; then
  echo "not ok no sanitizer report in the daemon's log"
  grep -m1 -A30 -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$log"
  rc=1
else
  echo "ok no sanitizer report in the daemon's log"
fi
exit $rc
