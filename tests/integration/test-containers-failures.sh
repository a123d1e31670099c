#!/bin/bash
# Issue 5 acceptance: incremental container backups, and bad input / failure.
#
#  - Incremental: a second `snapkeep backup --container` after a small change
#    adds about the changed bytes to the repository's packs (bound: growth <
#    changed bytes + 1 MiB) and captures no layer again; backing up the
#    unchanged image layers again (--snapshot of a committed layer, --all)
#    adds nothing (growth < 64 KiB: no data, at most tree blobs).
#  - Restoring onto a different image: FailedPrecondition with a message that
#    says so; no snapshot left behind.
#  - Wrong key (snapkeepd started with a wrong password file): backup and
#    restore fail with a clear message, nothing left behind.
#  - snapkeepd killed (-9) during a restore: after a restart no half-restored
#    snapshot exists (backend and containerd views), and the restore then works.
#  - A corrupt chunk, then a missing pack: the restore fails with a clear
#    error and no half-restored snapshot is visible in `ctr snapshots ls`.
set -u
#
# The error paths run under the ASan+UBSan snapkeepd when the runner provides
# one ($SNAPKEEPD_ASAN); any sanitizer report in its log fails the test.
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
[ -n "${SNAPKEEPD_ASAN:-}" ] && [ -x "$SNAPKEEPD_ASAN" ] && SNAPKEEPD=$SNAPKEEPD_ASAN
. "$SK_SRC/tests/lib/nodes.sh"
nodes_setup

node_start a || { sk_notok "node A starts"; sk_finish; }
node_start b || { sk_notok "node B starts"; sk_finish; }
sk_check "A: import the image" sk_ctr a images import --snapshotter snapkeep "$NODES_IMG_TAR" || sk_finish
node_run_bg a c1 || { sk_notok "A: start c1"; sk_finish; }
node_exec a c1 'set -e; mkdir -p /work; dd if=/dev/urandom of=/work/big bs=1048576 count=120 2>/dev/null
  for i in 1 2 3 4 5 6 7 8; do dd if=/dev/urandom of=/work/f$i bs=4096 count=64 2>/dev/null; done
  echo changed > /etc/sk-base; rm -rf /app' || sk_notok "A: changes in c1"

# No snapshot whose backend key ends in /KEY (containerd's view and the backend's).
no_snapshot() {
  local node=$1 key=$2
  ! sk_ctr "$node" snapshots --snapshotter snapkeep ls | awk 'NR > 1 {print $1}' | grep -qx "$key" &&
    ! sk_backend_ctr "$node" ls | awk 'NR > 1 {print $1}' | grep -q "/$key\$"
}

# ---- incremental ------------------------------------------------------------
g0=$(repo_data_bytes)
out=$(skc a backup --container c1 --namespace "$SK_NAMESPACE" --json 2>&1) || { sk_notok "A: first backup" "$out"; sk_finish; }
ID1=$(jq -r .backup_id <<<"$out")
g1=$(repo_data_bytes)
sk_ok "A: first backup $ID1 added $((g1 - g0)) bytes (120 MiB random file + image layers)"
node_exec a c1 'set -e; dd if=/dev/urandom of=/work/f3 bs=4096 count=64 2>/dev/null
  dd if=/dev/urandom of=/work/new bs=1024 count=300 2>/dev/null; echo again >> /etc/sk-base'
changed=$((256 * 1024 + 300 * 1024 + 16))
out=$(skc a backup --container c1 --namespace "$SK_NAMESPACE" --json 2>&1) || sk_notok "A: second backup" "$out"
ID2=$(jq -r .backup_id <<<"$out")
g2=$(repo_data_bytes); grow=$((g2 - g1))
if [ "$grow" -lt $((changed + 1048576)) ] && [ "$ID2" != "$ID1" ]; then
  sk_ok "incremental: second backup $ID2 added $grow bytes for $changed changed bytes (bound: changed + 1 MiB)"
else
  sk_notok "incremental: second backup added $grow bytes for $changed changed bytes"
fi
lc=$(jq -r '[.results[] | .layers_captured] | add' <<<"$out")
[ "$lc" = 0 ] && sk_ok "incremental: no image layer captured again (layers_reused $(jq -r '[.results[] | .layers_reused] | add' <<<"$out"))" ||
  sk_notok "incremental: layers_captured=$lc on the second backup"
layer_key=$(sk_backend_ctr a ls | awk 'NR > 1 && $NF == "Committed" {print $1}' | head -1)
out=$(skc a backup --snapshot "$layer_key" --json 2>&1); rc=$?
g3=$(repo_data_bytes)
[ $rc -eq 0 ] && [ $((g3 - g2)) -lt 65536 ] && sk_ok "unchanged image layer backed up again: +$((g3 - g2)) bytes" ||
  sk_notok "backup --snapshot $layer_key again (exit $rc, +$((g3 - g2)) bytes)" "$out"
out=$(skc a backup --all --json 2>&1); rc=$?
g4=$(repo_data_bytes)
[ $rc -eq 0 ] && [ $((g4 - g3)) -lt 65536 ] && sk_ok "backup --all of an unchanged node: +$((g4 - g3)) bytes" ||
  sk_notok "backup --all (exit $rc, +$((g4 - g3)) bytes)" "$out"
LIST_A=$SK_TMP/list-a; ct_listing a c1 >"$LIST_A"

# ---- restore onto a different image ------------------------------------------------
oci_build_chain_image "$SK_TMP/other.tar" docker.io/snapkeep/other:1 3 >/dev/null
sk_check "B: import the test image and another image" sh -c \
  "ctr --address $(sk_csock b) -n $SK_NAMESPACE images import --snapshotter snapkeep $NODES_IMG_TAR &&
   ctr --address $(sk_csock b) -n $SK_NAMESPACE images import --snapshotter snapkeep $SK_TMP/other.tar"
out=$(NODE_RUN_IMG=docker.io/snapkeep/other:1 node_run_bg b bad1 \
  --snapshotter-label "containerd.io/snapshot/snapkeep.restore=$ID2" 2>&1); rc=$?
if [ $rc -ne 0 ] && grep -qi 'failed.\?precondition' <<<"$out" && grep -qi 'image\|chain\|layer' <<<"$out"; then
  sk_ok "different image: FailedPrecondition: $(tail -1 <<<"$out" | cut -c1-160)"
else
  sk_notok "different image (exit $rc)" "$out"
fi
no_snapshot b bad1 && sk_ok "different image: no snapshot left" || sk_notok "different image: snapshot bad1 left behind"
sk_ctr b containers rm bad1 >/dev/null 2>&1

# ---- wrong key --------------------------------------------------------------------
printf 'not the passphrase\n' >"$SK_TMP/wrong"
NODE_PASS_OVERRIDE[b]=$SK_TMP/wrong
node_snapkeepd_restart b || sk_notok "B: restart with a wrong key"
out=$(node_run_bg b wk1 --snapshotter-label "containerd.io/snapshot/snapkeep.restore=$ID2" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -qi 'passphrase\|key' <<<"$out" && sk_ok "wrong key: restore fails: $(tail -1 <<<"$out" | cut -c1-160)" ||
  sk_notok "wrong key: restore (exit $rc)" "$out"
no_snapshot b wk1 && sk_ok "wrong key: no snapshot left" || sk_notok "wrong key: snapshot wk1 left behind"
sk_ctr b containers rm wk1 >/dev/null 2>&1
node_run_bg b wk2 >/dev/null 2>&1
out=$(skc b backup --container wk2 --namespace "$SK_NAMESPACE" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -qi 'passphrase\|key' <<<"$out" && sk_ok "wrong key: backup fails: $(tail -1 <<<"$out" | cut -c1-160)" ||
  sk_notok "wrong key: backup (exit $rc)" "$out"
unset 'NODE_PASS_OVERRIDE[b]'
node_snapkeepd_restart b || sk_notok "B: restart with the right key"

# ---- kill -9 during a restore ---------------------------------------------------------
killed=0
for attempt in 1 2 3; do
  key=kr$attempt
  ( node_run_bg b "$key" --snapshotter-label "containerd.io/snapshot/snapkeep.restore=$ID2" >"$SK_TMP/kill.out" 2>&1 ) &
  runpid=$!
  end=$((SECONDS + 30))
  while [ $SECONDS -lt $end ]; do
    if sk_backend_ctr b ls 2>/dev/null | awk 'NR > 1 {print $1}' | grep -q "/$key\$"; then
      sk_snapkeepd_kill9 b; killed=1; break
    fi
    kill -0 $runpid 2>/dev/null || break
    sleep 0.02
  done
  wait $runpid
  [ $killed = 1 ] && break
  sk_ctr b tasks kill -s KILL "$key" >/dev/null 2>&1; sleep 0.3
  sk_ctr b tasks rm -f "$key" >/dev/null 2>&1; sk_ctr b containers rm "$key" >/dev/null 2>&1
done
if [ $killed = 1 ]; then
  node_snapkeepd_restart b || sk_notok "B: restart after kill -9"
  sk_retry 10 sk_ctr b snapshots --snapshotter snapkeep ls >/dev/null
  sk_ctr b containers rm "$key" >/dev/null 2>&1
  if no_snapshot b "$key"; then
    sk_ok "kill -9 during restore: no half-restored snapshot after restart ($(grep -c 'half-restored' "$(sk_dir b)/snapkeepd.log") swept)"
  else
    sk_notok "kill -9 during restore: snapshot $key left" "$(sk_backend_ctr b ls)"
  fi
  ! sk_backend_ctr b ls | awk 'NR > 1 {print $1}' | while read -r k; do sk_backend_ctr b info "$k"; done |
    grep -q 'snapkeep.restoring' && sk_ok "kill -9 during restore: no snapshot carries the restoring marker" ||
    sk_notok "kill -9: restoring marker left"
  if node_run_bg b again --snapshotter-label "containerd.io/snapshot/snapkeep.restore=$ID2" 2>"$SK_TMP/err" &&
    ct_listing b again >"$SK_TMP/list-again" && diff -q "$LIST_A" "$SK_TMP/list-again" >/dev/null; then
    sk_ok "kill -9 during restore: the restore then works, listing identical to A's"
  else
    sk_notok "kill -9: restore after restart" "$(cat "$SK_TMP/err"; diff "$LIST_A" "$SK_TMP/list-again" | head)"
  fi
else
  sk_notok "kill -9 during restore: never caught a restore in flight"
fi

# ---- corrupt chunk, then missing pack ---------------------------------------------------
read -r pack size < <(find "$NODES_REPO/data" -type f -printf '%p %s\n' | sort -k2 -n | tail -1)
cp "$pack" "$SK_TMP/pack.bak"
printf '\xff' | dd of="$pack" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
cmp -s "$pack" "$SK_TMP/pack.bak" && printf '\x00' | dd of="$pack" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
out=$(node_run_bg b bad2 --snapshotter-label "containerd.io/snapshot/snapkeep.restore=$ID2" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -qi 'corrupt\|mismatch\|AEAD\|EBADMSG\|bad message' <<<"$out" &&
  sk_ok "corrupt chunk: restore fails: $(tail -1 <<<"$out" | cut -c1-160)" || sk_notok "corrupt chunk (exit $rc)" "$out"
no_snapshot b bad2 && sk_ok "corrupt chunk: no half-restored snapshot in ctr snapshots ls" ||
  sk_notok "corrupt chunk: snapshot bad2 left behind"
sk_ctr b containers rm bad2 >/dev/null 2>&1
rm -f "$pack"
out=$(node_run_bg b bad3 --snapshotter-label "containerd.io/snapshot/snapkeep.restore=$ID2" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -qi 'missing\|not found\|no such\|ENOENT' <<<"$out" &&
  sk_ok "missing pack: restore fails: $(tail -1 <<<"$out" | cut -c1-160)" || sk_notok "missing pack (exit $rc)" "$out"
no_snapshot b bad3 && sk_ok "missing pack: no half-restored snapshot in ctr snapshots ls" ||
  sk_notok "missing pack: snapshot bad3 left behind"
nodes_finish
