#!/usr/bin/env bash
# Two nodes, one bucket (issue 6 acceptance): two snapkeep processes acting
# as different nodes (own UTS namespace and hostname, own cache directory)
# back up into one S3 repository at the same time, while a third node runs
# forget+prune; nothing coordinates them but the repository's lock objects.
# Afterwards every backup restores identically and check --read-data is
# clean. The prune must also have removed what the forgotten backups alone
# referenced (it really ran, after waiting for the backups).
set -u
. "$(dirname "$0")/../lib/repo.sh"
. "$(dirname "$0")/../lib/ceph.sh"
s3_test_setup
MiB=$((1024 * 1024))
command -v unshare >/dev/null || { echo "SKIP: unshare missing"; exit 77; }

# node NAME CMD...: run snapkeep as host NAME (hostname in a UTS namespace,
# so lock files and manifests carry it) with the node's own cache.
node() {
  local name=$1; shift
  SNAPKEEP_CACHE_DIR=$T/cache-$name unshare --uts sh -c 'hostname "$0"; exec "$@"' "$name" \
    "$SNAPKEEP" --no-progress "$@"
}

for n in node1 node2; do
  mkdir -p "$T/$n/sub"
  for i in 1 2; do sk_rand "$T/$n/old$i" $((12 * MiB)) "$n-old-$i"; done
  sk_rand "$T/$n/common" $((8 * MiB)) common
  for i in $(seq 1 100); do echo "$n $i" > "$T/$n/sub/f$i"; done
done
expect_rc 0 "init" sk_init
for n in node1 node2; do expect_rc 0 "$n: first backup" node $n backup -q "$T/$n"; done
# new data, and the old files go: after forget, only the first backups use them
for n in node1 node2; do
  rm "$T/$n/old1" "$T/$n/old2"
  for i in 1 2 3; do sk_rand "$T/$n/new$i" $((24 * MiB)) "$n-new-$i"; done
done
packs_before=$("$SKOBJ" "$SNAPKEEP_REPO" du data/)

node node1 backup --json "$T/node1" >"$T/b1.json" 2>"$T/b1.err" & p1=$!
node node2 backup --json "$T/node2" >"$T/b2.json" 2>"$T/b2.err" & p2=$!
sleep 0.5
both=0; kill -0 $p1 2>/dev/null && kill -0 $p2 2>/dev/null && both=1
s3_objects "$SNAPKEEP_REPO" locks/ >"$T/locks"
node node3 forget --keep-last 1 --prune --lock-wait 600 --json >"$T/prune.json" 2>"$T/prune.err" & p3=$!
sleep 0.5
kill -0 $p3 2>/dev/null && { kill -0 $p1 2>/dev/null || kill -0 $p2 2>/dev/null; } && waited=1 || waited=0
wait $p1; r1=$?; wait $p2; r2=$?; wait $p3; r3=$?
[ $both -eq 1 ] && ok "both nodes were backing up at the same time ($(wc -l <"$T/locks") lock objects)" || notok "timing: the two backups did not overlap"
[ $r1 -eq 0 ] && ok "node1 backup completed" || { notok "node1 backup exit $r1"; cat "$T/b1.err"; }
[ $r2 -eq 0 ] && ok "node2 backup completed" || { notok "node2 backup exit $r2"; cat "$T/b2.err"; }
[ $waited -eq 1 ] && ok "node3 forget+prune waited for the backups' locks" || echo "note: could not observe node3 waiting"
[ $r3 -eq 0 ] && ok "node3 forget --prune completed" || { notok "node3 forget --prune exit $r3"; cat "$T/prune.err"; }
# delayed deletion: that prune marked the data; one after the grace period deletes it
sleep 2
expect_rc 0 "node3 prune after the grace period" node node3 prune -q --grace 1s
packs_after=$("$SKOBJ" "$SNAPKEEP_REPO" du data/)
echo "figure: pack bytes before the concurrent backups $packs_before, at the end $packs_after"
# without the prune, the old files (2 x 24 MiB) would still be stored
unpruned=$((packs_before + 2 * 72 * MiB))
[ "$packs_after" -lt $((unpruned - 40 * MiB)) ] && ok "prune reclaimed the forgotten backups' data ($packs_after < $unpruned - 40 MiB)" \
  || notok "prune reclaimed too little: $packs_after bytes of packs (unpruned would be $unpruned)"

sk backups --json >"$T/list.json"
[ "$(jq length "$T/list.json")" = 2 ] && ok "two backups remain (one per node)" || notok "backups: $(jq -c '[.[] | {id, hostname}]' "$T/list.json")"
jq -e '[.[].hostname // .[].host] | sort == ["node1","node2"]' "$T/list.json" >/dev/null \
  && ok "manifests carry the node hostnames" || notok "hostnames: $(jq -c '[.[] | .hostname // .host]' "$T/list.json")"
for n in node1 node2; do
  id=$(jq -r .id "$T/b${n#node}.json")
  node node3 restore "$id" -q --target "$T/out-$n" && "$TREECMP" "$T/$n" "$T/out-$n/$n" >"$T/cmp" 2>&1 \
    && ok "$n's backup restores identically on node3" || { notok "$n restore"; head -5 "$T/cmp"; }
done
expect_rc 0 "check --read-data clean" sk check --read-data -q
[ -z "$(s3_objects "$SNAPKEEP_REPO" locks/)" ] && ok "no lock objects left behind" || notok "locks left: $(s3_objects "$SNAPKEEP_REPO" locks/)"
sk_finish
