#!/bin/bash
# Shared maintenance (issue 12): three daemons (nodes A, B, C) on one local
# repository (or, run as test-auto-maint-s3.sh, SK_MAINT_S3=1: one S3
# repository on radosgw), each backing up a container that keeps writing new data, with
# retention (keep_last 2) so that prune has garbage, and scheduled prune and
# check every few seconds.
#
#  - exactly one node prunes and checks: the holder of the maintenance lease
#    (maint/lease in the repository); the others skip and say who holds it;
#  - no two prunes ever overlap (their start and end times, from the logs);
#  - when the holder is killed, another node takes over once the lease expires;
#  - no backup is lost: the newest backup of every container restores with
#    its last data, and `snapkeep check --read-data` is clean.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SK_NAMESPACE=${SK_NAMESPACE:-skmaint$$}
. "$SK_SRC/tests/lib/nodes.sh"
if [ -n "${SK_MAINT_S3:-}" ]; then
  . "$SK_SRC/tests/lib/ceph.sh"
  ceph_have || sk_skip "Ceph (ceph-mon ceph-osd radosgw) not installed: run make deps"
  nodes_repo_hook() {
    trap 'r=$?; ceph_stop; (exit $r); sk_cleanup' EXIT # sk_cleanup exits with the status it finds
    ceph_start "$SK_TMP/ceph" || { echo "# cannot start Ceph"; tail -20 "$SK_TMP"/ceph/log/*.log; return 1; }
    NODES_REPO=s3://$CEPH_BUCKET/maint-$$
    export SNAPKEEP_CACHE_DIR=$SK_TMP/cache-cli
    echo "# repository $NODES_REPO on radosgw $SNAPKEEP_S3_ENDPOINT"
  }
fi
nodes_setup
LEASE=8
cat >"$SK_TMP/n.conf" <<EOF
[automation]
scan_interval = 1s
prune_interval = 3s
check_interval = 5s
check_read_data_subset = 50
lease_ttl = ${LEASE}s
[policy fast]
label = containerd.io/snapshot/app=fast
interval = 2s
jitter = 0
keep_last = 2
EOF
NODES=(a b c)
for n in "${NODES[@]}"; do
  # each node its own pack cache, as on separate machines
  { printf '[snapkeepd]\ncache_dir = %s\n' "$SK_TMP/cache-$n"; cat "$SK_TMP/n.conf"; } >"$SK_TMP/n-$n.conf"
  node_start $n --config "$SK_TMP/n-$n.conf" || { sk_notok "node ${n^^} starts"; sk_finish; }
  sk_ctr $n images import --snapshotter snapkeep "$NODES_IMG_TAR" >/dev/null || { sk_notok "${n^^}: import"; sk_finish; }
  sk_ctr $n run -d --snapshotter snapkeep --snapshotter-label containerd.io/snapshot/app=fast "$NODES_IMG" w$n \
    sh -c 'i=0; while :; do i=$((i + 1)); head -c 200000 /dev/urandom > /data$((i % 3)); echo $i > /last; sleep 1; done' \
    >/dev/null || { sk_notok "${n^^}: start w$n"; sk_finish; }
done
sleep 20

log() { echo "$(sk_dir "$1")/snapkeepd.log"; }
pruned() { grep -c "maintenance: prune done as" "$(log "$1")"; }
owner=; owners=0
for n in "${NODES[@]}"; do
  c=$(pruned $n)
  echo "# node ${n^^}: $c prunes, $(grep -c 'maintenance: check done' "$(log $n)") checks, $(grep -c 'maintenance: prune skipped' "$(log $n)") skipped"
  [ "$c" -gt 0 ] && { owner=$n; owners=$((owners + 1)); }
done
[ "$owners" = 1 ] && sk_ok "exactly one node (${owner^^}) prunes; $(pruned "$owner") prunes in 20 s" ||
  sk_notok "$owners nodes pruned"
echo "figure: $(grep -m1 -o 'maintenance: prune done as .*; next' "$(log "${owner:-a}")")"
echo "figure: $(grep -m1 -o 'maintenance: check done as .*; next' "$(log "${owner:-a}")")"
holder=$(grep -o "maintenance: prune done as [^:]*:[0-9a-f]*" "$(log "${owner:-a}")" | head -1 | awk '{print $NF}')
others_ok=1
for n in "${NODES[@]}"; do
  [ "$n" = "$owner" ] && continue
  grep -q "maintenance: prune skipped: $holder holds the maintenance lease" "$(log $n)" || others_ok=0
done
[ $others_ok = 1 ] && sk_ok "the other nodes skip maintenance and name the holder ($holder)" ||
  sk_notok "the other nodes' logs do not name the lease holder $holder"
grep -q "maintenance: check done as" "$(log "${owner:-a}")" && sk_ok "the holder also runs the partial check" ||
  sk_notok "no scheduled check on the holder"

# ---- the holder is lost: another node takes over ------------------------------------------
sk_snapkeepd_kill9 "$owner"
sleep $((LEASE + 8))
new_owner=
for n in "${NODES[@]}"; do
  [ "$n" = "$owner" ] && continue
  [ "$(pruned $n)" -gt 0 ] && new_owner="$new_owner$n"
done
[ ${#new_owner} = 1 ] && sk_ok "after ${owner^^} was killed, ${new_owner^^} took the lease over and prunes" ||
  sk_notok "takeover: nodes that pruned after the kill: '${new_owner}'"

# ---- no two prunes overlapped ----------------------------------------------------------------
# Each prune's interval [start, end]: its end is the log line's time, its start the lease
# line before it is not logged, so use the repository lock: prune holds the exclusive lock,
# which snapkeep check --read-data below would not get either if a prune had left it. From
# the logs: end times of prunes on different nodes, sorted, never within one settle + prune.
ends=$(for n in "${NODES[@]}"; do grep -h "maintenance: prune done as" "$(log $n)" | cut -c1-23 | sed "s/$/ $n/"; done | sort)
overlap=$(awk '{ split($1, t, /[T:.Z]/); s = t[2]*3600 + t[3]*60 + t[4] + t[5]/1000;
                 if (NR > 1 && $2 != pn && s - ps < 0.5) n++; ps = s; pn = $2 } END { print n + 0 }' <<<"$ends")
[ "$overlap" = 0 ] && sk_ok "no two prunes of different nodes ended within 0.5 s of each other ($(grep -c . <<<"$ends") prunes)" ||
  sk_notok "$overlap prunes of different nodes overlap" "$ends"

# ---- no backup lost ----------------------------------------------------------------------------
sleep 3
lost=0
for n in "${NODES[@]}"; do
  [ "$n" = "$owner" ] && continue
  id=$(skc $n daemon schedule --json | jq -r --arg c "/w$n" '.sources[] | select(.source | endswith($c)) | .last_backup')
  rm -rf "$SK_TMP/r$n"
  if ! out=$("$SNAPKEEP" --no-progress restore "$id" --target "$SK_TMP/r$n" 2>&1) || [ ! -s "$SK_TMP/r$n/last" ]; then
    lost=$((lost + 1)); echo "# ${n^^}: newest backup ${id:0:12} does not restore: $out"
  fi
done
# The killed node's newest backup too (its daemon is gone: by name, from the repository).
out=$("$SNAPKEEP" --no-progress restore "latest:$SK_NAMESPACE/w$owner" --target "$SK_TMP/r$owner" 2>&1) &&
  [ -s "$SK_TMP/r$owner/last" ] || { lost=$((lost + 1)); echo "# ${owner^^}'s newest backup does not restore: $out"; }
[ $lost = 0 ] && sk_ok "every container's newest backup restores after the prunes" || sk_notok "$lost backups lost"
out=$("$SNAPKEEP" --no-progress check --read-data 2>&1) && sk_ok "check --read-data is clean" ||
  sk_notok "check --read-data" "$(tail -5 <<<"$out")"
nodes_finish
