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
. "$SK_SRC/tests/lib/goprog.sh"
bin=${SNAPKEEPD_ASAN:-}

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -n "$bin" ] && [ -x "$bin" ] || { echo "SKIP: ASan+UBSan snapkeepd not built (SNAPKEEPD_ASAN=$bin)"; exit 77; }
sk_go_build load

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
tmp=$(mktemp -d /tmp/skload.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$BUILD_DIR/go-bin/load" -snapkeepd "$bin" -dir "$tmp" \
  -clients "${SK_LOAD_CLIENTS:-16}" -duration "${SK_LOAD_SECONDS:-30}s"
rc=$?
sk_sanitizer_clean "$tmp/snapkeepd.log" load-snapkeepd.log 40 || rc=1
exit $rc
