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
. "$SK_SRC/tests/lib/goprog.sh"
SNAPKEEPD=${SNAPKEEPD:-$BUILD_DIR/snapkeepd}
bin=${SNAPKEEPD_ASAN:-}
[ -n "$bin" ] && [ -x "$bin" ] || bin=$SNAPKEEPD

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x "$bin" ] || { echo "SKIP: snapkeepd not built at $bin"; exit 77; }
sk_go_build badinput

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
tmp=$(mktemp -d /tmp/skbad.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "# daemon: $bin"
"$BUILD_DIR/go-bin/badinput" -snapkeepd "$bin" -dir "$tmp"
rc=$?
sk_sanitizer_clean "$tmp/snapkeepd.log" bad-input-snapkeepd.log 30 || rc=1
exit $rc
