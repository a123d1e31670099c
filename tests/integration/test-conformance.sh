#!/usr/bin/env bash
# containerd's own snapshotter conformance suite (snapshots/testsuite from
# Debian's golang-github-containerd-containerd-dev) against snapkeepd through
# containerd's snapshots/proxy client, with a fresh snapkeepd and root per case
# (tests/go/conformance). Every case that runs must pass, and at least 20 must
# run (the 1.6 suite skips Rename itself). When the ASan+UBSan build exists the
# suite runs a second time against it ("asan/" lines), and no daemon log may
# then hold a sanitizer report.
#
# Env: SNAPKEEPD, SNAPKEEPD_ASAN, SK_SRC, BUILD_DIR; SK_CONFORMANCE_PARALLEL
# (default 3) cases at a time; SK_CONFORMANCE_RUN=REGEX runs a subset (then
# the count is not enforced); SK_CONFORMANCE_ASAN=0 skips the ASan pass.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
SNAPKEEPD=${SNAPKEEPD:-$BUILD_DIR/snapkeepd}

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (the suite mounts snapshots)"; exit 77; }
[ -x "$SNAPKEEPD" ] || { echo "SKIP: snapkeepd not built at $SNAPKEEPD"; exit 77; }
command -v go >/dev/null || { echo "SKIP: go not installed (golang-go)"; exit 77; }
[ -d /usr/share/gocode/src/github.com/containerd/containerd/snapshots/testsuite ] ||
  { echo "SKIP: golang-github-containerd-containerd-dev not installed"; exit 77; }

"$SK_SRC/tests/go/build.sh" conformance || { echo "not ok build tests/go/conformance"; exit 1; }

tmp=$(mktemp -d /tmp/skconf.XXXXXX)
cleanup() {
  local m
  # The suite unmounts what it mounts; this only catches leftovers of a crash.
  for m in $(awk -v d="$tmp" 'index($5, d) == 1 { print length($5) " " $5 }' /proc/self/mountinfo | sort -rn | cut -d' ' -f2-); do
    umount -l "$m" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
run=()
[ -n "${SK_CONFORMANCE_RUN:-}" ] && run=(-test.run "TestSnapkeep/${SK_CONFORMANCE_RUN}")
status=0

# run_suite LABEL BINARY: one full pass; prints "ok [LABEL/]<case>" lines.
run_suite() {
  local label=$1 bin=$2 logdir=$BUILD_DIR/test-logs/conformance${1:+-$1} pfx=${1:+$1/}
  local work=$tmp/${label:-main} rc pass=0 fail=0 skip=0 verdict name
  rm -rf "$logdir"
  mkdir -p "$logdir" "$work"
  echo "# conformance pass ${label:-main}: $bin (daemon logs in $logdir)"
  # The suite puts its per-case dirs under TMPDIR (roots, sockets, mounts).
  (cd "$work" && TMPDIR=$work SNAPKEEPD=$bin SK_LOG_DIR=$logdir \
    "$BUILD_DIR/go-bin/conformance.test" -test.v -test.count 1 \
    -test.parallel "${SK_CONFORMANCE_PARALLEL:-3}" -test.timeout 20m "${run[@]}") >"$logdir/go-test.out" 2>&1
  rc=$?
  while read -r verdict name; do
    case $verdict in
      PASS) pass=$((pass + 1)); echo "ok $pfx$name" ;;
      FAIL) fail=$((fail + 1)); echo "not ok $pfx$name" ;;
      SKIP) skip=$((skip + 1)); echo "ok $pfx$name # SKIP (the suite skips it itself)" ;;
    esac
  done < <(sed -n 's/^ *--- \(PASS\|FAIL\|SKIP\): TestSnapkeep\/\([^ ]*\) .*/\1 \2/p' "$logdir/go-test.out")
  echo "result: conformance${label:+ ($label)} $pass passed, $fail failed, $skip skipped (go test exit $rc)"
  if [ $fail -gt 0 ] || [ $rc -ne 0 ]; then
    echo "--- go test output:"
    grep -v '^=== \(RUN\|PAUSE\|CONT\)' "$logdir/go-test.out" | tail -80
    status=1
  fi
  if [ -z "${SK_CONFORMANCE_RUN:-}" ] && [ $pass -lt 20 ]; then
    echo "not ok ${pfx}at least 20 cases ran and passed (got $pass)"
    status=1
  fi
  if grep -lqE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$logdir"/case-*.log 2>/dev/null; then
    echo "not ok ${pfx}no sanitizer report in the daemon logs"
    grep -m1 -A30 -hE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$logdir"/case-*.log | head -40
    status=1
  fi
}

run_suite "" "$SNAPKEEPD"
if [ "${SK_CONFORMANCE_ASAN:-1}" != 0 ] && [ -n "${SNAPKEEPD_ASAN:-}" ] && [ -x "$SNAPKEEPD_ASAN" ]; then
  run_suite asan "$SNAPKEEPD_ASAN"
else
  echo "# ASan pass skipped (SNAPKEEPD_ASAN not built or SK_CONFORMANCE_ASAN=0)"
fi
exit $status
