# Helpers for the integration tests that drive snapkeepd through one of the
# Go programs of tests/go (test-load.sh, test-bad-input.sh): building the
# program and judging the daemon's log afterwards. Sourced; needs SK_SRC and
# BUILD_DIR. Why here: those scripts ran the same build-then-check-the-log
# sequence word for word.
#
# sk_go_build PROG           SKIP (exit 77) without go; build tests/go/PROG
#                            into $BUILD_DIR/go-bin (exit 1 if that fails)
# sk_sanitizer_clean LOG NAME LINES
#                            keep LOG as $BUILD_DIR/test-logs/NAME, then print
#                            "ok" when it holds no ASan/UBSan/LSan report, or
#                            "not ok" with LINES lines of the first report and
#                            return 1

sk_go_build() {
  command -v go >/dev/null || { echo "SKIP: go not installed (golang-go)"; exit 77; }
  "$SK_SRC/tests/go/build.sh" "$1" || { echo "not ok build tests/go/$1"; exit 1; }
}

sk_sanitizer_clean() {
  local log=$1 name=$2 lines=$3 re='ERROR: AddressSanitizer|runtime error:|LeakSanitizer'
  mkdir -p "$BUILD_DIR/test-logs" && cp "$log" "$BUILD_DIR/test-logs/$name" 2>/dev/null
  if grep -qE "$re" "$log"; then
    echo "not ok no sanitizer report in the daemon's log"
    grep -m1 -A"$lines" -E "$re" "$log"
    return 1
  fi
  echo "ok no sanitizer report in the daemon's log"
}
