#!/usr/bin/env bash
# The I/O engine end to end through tests/tools/ioprobe: the same small-file
# set (statx+open+read+close pipelined) and the same big file (in-order reader)
# read with --io=uring, --io=threads and plain syscalls must give the same
# content checksum; --io=auto must say which backend it picked. Prints the
# timings as "figure" lines (warm cache; not a benchmark).
set -u
here=$(cd "$(dirname "$0")" && pwd)
SK_SRC=${SK_SRC:-$(cd "$here/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
IOPROBE=${IOPROBE:-$BUILD_DIR/tools/ioprobe}
[ -x "$IOPROBE" ] || { echo "SKIP: $IOPROBE not built"; exit 77; }

T=$(mktemp -d /tmp/sk-io-probe.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok $*"; }
notok() { echo "not ok $*"; fails=$((fails + 1)); }

"$IOPROBE" mksmall "$T/small" 500 || { echo "mksmall failed"; exit 1; }
"$IOPROBE" mkbig "$T/big" 32 || { echo "mkbig failed"; exit 1; }

sum_of() { sed -n 's/.* sum=\([0-9a-f]*\).*/\1/p'; }
for kind in small big; do
  args=("$T/$kind"); if [ $kind = small ]; then args+=(500); else args+=(--verify); fi
  ref=$("$IOPROBE" $kind "${args[@]}" --io=sync 2>/dev/null | sum_of)
  [ -n "$ref" ] || { notok "$kind: plain syscalls produced no checksum"; continue; }
  for io in uring threads auto; do
    out=$("$IOPROBE" $kind "${args[@]}" --io=$io 2>"$T/err") || { notok "$kind --io=$io failed: $(cat "$T/err")"; continue; }
    echo "figure $out"
    if [ "$(echo "$out" | sum_of)" = "$ref" ]; then
      ok "$kind --io=$io reads the same bytes as plain syscalls ($(head -1 "$T/err" | sed 's/^ioprobe: //'))"
    else
      notok "$kind --io=$io checksum $(echo "$out" | sum_of) != $ref"
    fi
  done
done
# registered buffers give the same bytes too
out=$("$IOPROBE" big "$T/big" --io=uring --fixed --verify 2>/dev/null)
[ "$(echo "$out" | sum_of)" = "$("$IOPROBE" big "$T/big" --io=sync --verify 2>/dev/null | sum_of)" ] \
  && ok "big --io=uring --fixed reads the same bytes" || notok "big --io=uring --fixed checksum differs"
if "$IOPROBE" small "$T/small" 500 --io=bogus >/dev/null 2>&1; then notok "--io=bogus accepted"; else ok "--io=bogus rejected"; fi
[ $fails -eq 0 ]
