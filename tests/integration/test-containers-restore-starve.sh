#!/bin/bash
# Restores must not starve the Snapshots API: while two slow restores run
# inside Prepare (label containerd.io/snapshot/snapkeep.restore=ID), List,
# Stat, Prepare, Commit and Remove of other keys each answer within a bound
# well below the restore time, and a restore beyond the configured slots
# (restores = 2) is refused at once (ResourceExhausted) instead of taking a
# worker. snapkeepd runs with --workers 2, so without restore workers of their
# own two restores would hold every worker.
#
# The restores are sent straight to snapkeepd's socket (tests/go/skprepare),
# as two containerds sharing it would: one containerd 1.6 holds its metadata
# write transaction across the backend Prepare, so its own restores never
# overlap at the snapshotter (and its other metadata writes wait meanwhile).
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
# Under the ASan+UBSan daemon (when the runner provides one) restores run
# about 10x slower, so less data keeps them slow enough.
MB=${SK_STARVE_MB:-400}
if [ -n "${SNAPKEEPD_ASAN:-}" ] && [ -x "$SNAPKEEPD_ASAN" ]; then
  SNAPKEEPD=$SNAPKEEPD_ASAN
  MB=${SK_STARVE_MB:-120}
fi
. "$SK_SRC/tests/lib/nodes.sh"
nodes_setup
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
SKPREPARE=${SKPREPARE:-$BUILD_DIR/go-bin/skprepare}
BUILD_DIR=$BUILD_DIR bash "$SK_SRC/tests/go/build.sh" skprepare >/dev/null 2>&1
[ -x "$SKPREPARE" ] || sk_skip "tests/go/skprepare could not be built (golang-go, containerd Go sources)"
BOUND_MS=${BOUND_MS:-3000}

node_up_with a c1 --workers 2
node_exec a c1 "mkdir -p /work && dd if=/dev/urandom of=/work/big bs=1048576 count=$MB 2>/dev/null && sha256sum /work/big > /work/big.sum" ||
  sk_notok "A: write $MB MiB in c1"
node_backup a c1
sk_ok "A: c1 ($MB MiB) backed up as $ID"
SUM=$(node_exec a c1 'cut -d" " -f1 /work/big.sum')

# Straight to snapkeepd's socket, at most 120 s.
bctr() { timeout 120 ctr --address "$(sk_sock a)" snapshots --snapshotter snapkeep "$@"; }
# The image's top layer (c1's parent): what a restore of c1 goes on.
PARENT=$(bctr info "$(node_backend_key a c1)" | jq -r .Parent)
[ -n "$PARENT" ] || { sk_notok "c1's parent"; sk_finish; }
R=$SK_NAMESPACE/900
restore_bg() { # N: restore ID into $R/rN in the background
  ( timeout 300 "$SKPREPARE" -socket "$(sk_sock a)" -key "$R/r$1" -parent "$PARENT" \
      -label "containerd.io/snapshot/snapkeep.restore=$ID" >"$SK_TMP/r$1.out" 2>&1
    echo $? >"$SK_TMP/r$1.rc" ) &
}
# Restores in flight, seen on disk rather than through the daemon (whose
# workers may all be held): each restores into <snapshot dir>/.restore first.
restoring() { find "$(sk_root a)/snapshots" -mindepth 2 -maxdepth 2 -name .restore 2>/dev/null | wc -l; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# timed NAME CMD...: run CMD, print its duration in ms; ok if it succeeded
# within BOUND_MS.
timed() {
  local name=$1 t0 t1 out rc; shift
  t0=$(now_ms)
  out=$("$@" 2>&1); rc=$?
  t1=$(now_ms)
  if [ $rc -eq 0 ] && [ $((t1 - t0)) -lt "$BOUND_MS" ]; then
    sk_ok "$name answered in $((t1 - t0)) ms during the restores (bound $BOUND_MS ms)"
  else
    sk_notok "$name took $((t1 - t0)) ms (exit $rc) during the restores (bound $BOUND_MS ms)" "$(tail -2 <<<"$out" | cut -c1-160)"
  fi
}

t_start=$(now_ms)
restore_bg 1; p1=$!
restore_bg 2; p2=$!
# Once a restore writes data the other Prepare, sent at the same time, has
# reached the daemon too.
end=$((SECONDS + 60))
until [ "$(restoring)" -ge 1 ] || [ $SECONDS -ge $end ]; do sleep 0.2; done
sleep 0.5

timed "List" bctr ls
timed "Stat" bctr info "$PARENT"
timed "Prepare of another key" bctr prepare plain-1 "$PARENT"
timed "Commit of another key" bctr commit plain-1-c plain-1
timed "Remove of another key" bctr rm plain-1-c
t0=$(now_ms)
out=$(timeout 120 "$SKPREPARE" -socket "$(sk_sock a)" -key "$R/r3" -parent "$PARENT" \
  -label "containerd.io/snapshot/snapkeep.restore=$ID" 2>&1); rc=$?
t1=$(now_ms)
if [ $rc -ne 0 ] && grep -q "restores are running already" <<<"$out" && [ $((t1 - t0)) -lt "$BOUND_MS" ]; then
  sk_ok "a third restore is refused at once ($((t1 - t0)) ms): $(grep -o '[0-9]* restores are running already' <<<"$out")"
else
  sk_notok "a third restore (exit $rc, $((t1 - t0)) ms)" "$(tail -2 <<<"$out" | cut -c1-160)"
fi
n=$(restoring)
if [ "$n" -eq 2 ]; then
  sk_ok "both restores were in flight through the checks: the bound means something"
else
  sk_notok "both restores in flight through the checks ($n restoring; if one finished, raise SK_STARVE_MB)"
fi

wait $p1 $p2
t_end=$(now_ms)
ok=0
for k in 1 2; do
  up=$(bctr mounts /mnt "$R/r$k" 2>/dev/null | tr , '\n' | sed -n 's/^upperdir=//p')
  [ "$(cat "$SK_TMP/r$k.rc")" = 0 ] && [ -n "$up" ] && [ "$(sha256sum "$up/work/big" | cut -d' ' -f1)" = "$SUM" ] &&
    ok=$((ok + 1))
done
[ $ok -eq 2 ] && sk_ok "both restores completed correctly in $((t_end - t_start)) ms" ||
  sk_notok "restores ($ok of 2 correct)" "$(cat "$SK_TMP/r1.out" "$SK_TMP/r2.out")"
nodes_finish
