#!/usr/bin/env bash
# Restart: kill -9 snapkeepd during a stream of Prepare/Commit calls, restart
# it on the same root, and check that
#  1. (tests/go/restart, 3 rounds) every acknowledged Commit is Committed,
#     intact and mountable, and after Cleanup the directories under
#     <root>/snapshots/ are exactly the snapshots the daemon knows;
#  2. (real containerd) containerd carries on: snapkeepd is killed with -9 in
#     the middle of an image unpack (containerd's own Prepare/Commit stream),
#     restarted, and containerd then imports the image and runs containers
#     from it with --snapshotter snapkeep; after containerd's GC has run,
#     Cleanup leaves no orphan directory.
#
# The Go part runs once more (2 rounds) against the ASan+UBSan build when
# there is one, and its log must hold no sanitizer report.
#
# Env: SNAPKEEPD, SNAPKEEPD_ASAN, SK_SRC, BUILD_DIR; SK_RESTART_ROUNDS (3).
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
SNAPKEEPD=${SNAPKEEPD:-$BUILD_DIR/snapkeepd}
export SNAPKEEPD SK_SRC
. "$SK_SRC/tests/lib/containerd.sh"
. "$SK_SRC/tests/lib/oci-image.sh"

sk_require_env
command -v go >/dev/null || sk_skip "go not installed (golang-go)"
[ -x "${OCI_BUSYBOX:-/bin/busybox}" ] || sk_skip "busybox-static not installed (test images need it)"
"$SK_SRC/tests/go/build.sh" restart || { echo "not ok build tests/go/restart"; exit 1; }
sk_tmp_init

# --- 1. the Go stream client, kill -9 at random moments
gdir=$SK_TMP/go
mkdir -p "$gdir"
"$BUILD_DIR/go-bin/restart" -snapkeepd "$SNAPKEEPD" -dir "$gdir" -rounds "${SK_RESTART_ROUNDS:-3}"
rc=$?
sk_umount_under "$gdir"
mkdir -p "$BUILD_DIR/test-logs" && cp "$gdir/snapkeepd.log" "$BUILD_DIR/test-logs/restart-go-snapkeepd.log" 2>/dev/null
[ $rc -eq 0 ] || SK_FAILS=$((SK_FAILS + 1))

# The same against the ASan+UBSan build (recovery paths at start-up, 2 rounds):
# no sanitizer report may appear in its log.
if [ -n "${SNAPKEEPD_ASAN:-}" ] && [ -x "$SNAPKEEPD_ASAN" ]; then
  adir=$SK_TMP/go-asan
  mkdir -p "$adir"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$BUILD_DIR/go-bin/restart" -snapkeepd "$SNAPKEEPD_ASAN" -dir "$adir" -rounds 2 | sed 's/^\(not \)\?ok /&asan: /'
  [ "${PIPESTATUS[0]}" -eq 0 ] || SK_FAILS=$((SK_FAILS + 1))
  sk_umount_under "$adir"
  cp "$adir/snapkeepd.log" "$BUILD_DIR/test-logs/restart-go-asan-snapkeepd.log" 2>/dev/null
  if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$adir/snapkeepd.log"; then
    sk_notok "asan: no sanitizer report across kill -9 + restart" "$(grep -m1 -A20 -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$adir/snapkeepd.log")"
  else
    sk_ok "asan: no sanitizer report across kill -9 + restart"
  fi
else
  echo "# ASan round skipped: SNAPKEEPD_ASAN not built"
fi

# --- 2. containerd carries on
ref=docker.io/snapkeep/restart-test:1
chain=docker.io/snapkeep/restart-chain:1
nlayers=40
oci_build_test_image "$SK_TMP/test.tar" "$ref" >/dev/null || { sk_notok "build test image"; sk_finish; }
oci_build_chain_image "$SK_TMP/chain.tar" "$chain" "$nlayers" >/dev/null || { sk_notok "build chain image"; sk_finish; }
# Keep this stack's snapkeepd off global paths (system config, control socket)
# so it can run next to other stacks; flags only when this build has them.
if [ -z "${SK_SNAPKEEPD_ARGS_SET:-}" ]; then
  SK_SNAPKEEPD_ARGS="--log-level debug"
  help=$("$SNAPKEEPD" --help 2>&1)
  grep -q -- '--config' <<<"$help" && SK_SNAPKEEPD_ARGS+=" --config="
  grep -q -- '--admin-socket' <<<"$help" && SK_SNAPKEEPD_ARGS+=" --admin-socket $(sk_dir a)/admin.sock"
fi
sk_stack_start a || { sk_notok "start containerd + snapkeepd"; sk_finish; }

sk_check "import test image with --snapshotter snapkeep" sk_ctr a images import --snapshotter snapkeep "$SK_TMP/test.tar"
expected="hello from snapkeep top layer"
out=$(sk_ctr a run --rm --snapshotter snapkeep "$ref" c-before 2>&1)
[ "$out" = "$expected" ] && sk_ok "container runs before the crash" ||
  sk_notok "container runs before the crash" "got '$out', want '$expected'"

# Kill snapkeepd while containerd unpacks the chain image: the unpack is
# containerd's own Prepare/Apply/Commit stream.
nbase=$(sk_backend_ctr a ls 2>/dev/null | tail -n +2 | wc -l)
sk_ctr a images import --snapshotter snapkeep "$SK_TMP/chain.tar" >"$SK_TMP/import1.log" 2>&1 &
ipid=$!
# Kill once the unpack is visibly under way (a few layers committed), a
# random few milliseconds later.
want=$((nbase + 3 + RANDOM % 8))
while kill -0 $ipid 2>/dev/null &&
  [ "$(sk_backend_ctr a ls 2>/dev/null | tail -n +2 | wc -l)" -lt $want ]; do
  sleep 0.02
done
sleep "0.0$((RANDOM % 10))"
if kill -0 $ipid 2>/dev/null; then
  sk_snapkeepd_kill9 a
  wait $ipid; irc=$?
  echo "# kill -9 landed during the unpack (backend had >= $((want - nbase)) new snapshots); import exited $irc"
  [ $irc -ne 0 ] && sk_ok "kill -9 interrupted containerd's unpack (import failed as it should)" ||
    echo "# (the import still succeeded: the kill hit after its last snapshot call)"
else
  wait $ipid
  sk_snapkeepd_kill9 a
  echo "# the import finished before the kill; killed afterwards"
fi
sk_snapkeepd_start a || { sk_notok "snapkeepd restarts on the same root"; sk_finish; }
sk_ok "snapkeepd restarts on the same root after kill -9 mid-unpack"

if sk_ctr_retry 30 a images import --snapshotter snapkeep "$SK_TMP/chain.tar" >"$SK_TMP/import2.log" 2>&1; then
  sk_ok "containerd imports + unpacks again after the restart"
else
  sk_notok "containerd imports + unpacks again after the restart" "$(tail -3 "$SK_TMP/import2.log")"
fi
out=$(sk_ctr_retry 30 a run --rm --snapshotter snapkeep "$chain" c-chain cat "/layers/L$nlayers" 2>&1)
[ "$out" = "$nlayers" ] &&
  sk_ok "container from the $nlayers-layer image unpacked after the crash runs" ||
  sk_notok "container from the $nlayers-layer image unpacked after the crash runs" "got '$out', want '$nlayers'"
out=$(sk_ctr_retry 30 a run --rm --snapshotter snapkeep "$ref" c-after 2>&1)
[ "$out" = "$expected" ] && sk_ok "container from the image unpacked before the crash still runs" ||
  sk_notok "container from the image unpacked before the crash still runs" "got '$out', want '$expected'"

# A plain kill -9 + restart with containerd idle, then containerd must carry on
# (UNAVAILABLE for a few seconds while it redials is allowed).
sk_snapkeepd_restart a || sk_notok "second kill -9 + restart"
out=$(sk_ctr_retry 30 a run --rm --snapshotter snapkeep "$ref" c-after2 2>&1)
[ "$out" = "$expected" ] && sk_ok "container runs after a second kill -9 + restart" ||
  sk_notok "container runs after a second kill -9 + restart" "$out"

# Orphans: remove the images so containerd's GC removes backend snapshots and
# calls Cleanup; then the backend's directories must match its snapshots.
sk_check "ctr images rm --sync" sk_ctr a images rm --sync "$ref" "$chain"
root=$(sk_root a)
# containerd's GC runs asynchronously after --sync returns for the backend;
# give it a moment, then Cleanup (through the proxy client) and compare.
if sk_retry 20 "$BUILD_DIR/go-bin/restart" -check-dirs "$(sk_sock a)" -dir "$root" >"$SK_TMP/dirs.out" 2>&1; then
  sk_ok "after containerd GC + Cleanup: dirs under snapshots/ = backend snapshots ($(ls "$root/snapshots" | wc -l))"
else
  sk_notok "after containerd GC + Cleanup: dirs under snapshots/ = backend snapshots" "$(tail -1 "$SK_TMP/dirs.out")"
fi

sk_stack_stop a
cp "$(sk_dir a)/snapkeepd.log" "$BUILD_DIR/test-logs/restart-stack-snapkeepd.log" 2>/dev/null
sk_finish
