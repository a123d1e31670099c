#!/usr/bin/env bash
# Crash safety (issue 3 acceptance): kill -9 a backup at a random point, five
# times. After each kill: `check` finds no error (leftover packs are only
# warnings), the next backup completes and restores identically. At the end
# `prune` removes the leftovers: check reports no warnings, every byte in the
# packs belongs to an indexed blob, and after forgetting all but the newest
# backup the repository is about the size of a clean repository holding the
# same final tree (<= 5% + 256 KiB more).
set -u
. "$(dirname "$0")/../lib/repo.sh"
sk_repo_setup
MiB=$((1024 * 1024))

mkdir -p "$T/src/many"
for i in $(seq 1 200); do printf 'small %d\n' "$i" > "$T/src/many/f$i"; done
expect_rc 0 "repo init (1 MiB packs, so a kill leaves several)" sk_init --pack-size 1M
RANDOM=$$
# Calibrate: how long does a backup of one round's new data take here? Each
# kill comes after the run's first new pack plus 0%..60% of that, so it lands
# inside the run whatever the machine's speed.
for i in 1 2 3; do sk_rand "$T/src/r0-$i" $((24 * MiB)) "crash-0-$i-$$"; done
start=$(date +%s%N)
expect_rc 0 "calibration backup" sk backup -q "$T/src"
full_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "figure: a backup of 72 MiB of new data takes ${full_ms} ms"
killed=0
for round in 1 2 3 4 5; do
  # New data every round, so every backup has real work to be killed in.
  for i in 1 2 3; do sk_rand "$T/src/r$round-$i" $((24 * MiB)) "crash-$round-$i-$$"; done
  n0=$(sk_obj_ls data/ | wc -l)
  sk backup -q "$T/src" >/dev/null 2>"$T/kill.err" &
  pid=$!
  # First wait for the run's first new pack: a calibration slowed by a busy
  # machine made every later kill land after the manifest was written.
  for _ in $(seq 1 1000); do
    kill -0 $pid 2>/dev/null || break
    [ "$(sk_obj_ls data/ | wc -l)" -gt "$n0" ] && break
    sleep 0.01
  done
  delay=$(awk -v r=$RANDOM -v f=$full_ms 'BEGIN { printf "%.3f", f * (r % 60) / 100 / 1000 }')
  sleep "$delay"
  if kill -0 $pid 2>/dev/null; then
    kill -9 $pid; wait $pid 2>/dev/null
    killed=$((killed + 1))
    echo "case: round $round: killed the backup after ${delay}s"
  else
    wait $pid
    echo "case: round $round: backup finished before the kill at ${delay}s (still a valid round)"
  fi
  sk check --json >"$T/check.json" 2>/dev/null; rc=$?
  [ $rc -eq 0 ] && ok "round $round: check is clean after kill -9 ($(jq .warnings "$T/check.json") warnings)" \
    || { notok "round $round: check after kill -9 (exit $rc)"; jq -c '.problems[:3]' "$T/check.json"; }
  expect_rc 0 "round $round: the next backup completes" sk backup -q "$T/src"
  rm -rf "$T/out"
  sk restore latest --target "$T/out" -q && "$TREECMP" "$T/src" "$T/out/src" >"$T/cmp" 2>&1 \
    && ok "round $round: it restores identically" || { notok "round $round: restore"; head -5 "$T/cmp"; }
done
rm -rf "$T/out"
[ $killed -ge 3 ] && ok "$killed of 5 backups were killed mid-run" || notok "only $killed of 5 backups were killed mid-run"

before=$(sk_pack_bytes)
# Delayed deletion (FORMAT.md 9b): the first prune only marks the leftovers
# (and takes them out of the index); one after the grace period deletes.
sk prune --json >"$T/prune0.json"; rc=$?
[ $rc -eq 0 ] && [ "$(jq .packs_trashed "$T/prune0.json")" -gt 0 ] && [ "$(jq .packs_deleted "$T/prune0.json")" = 0 ] \
  && [ "$(sk_pack_bytes)" -ge "$before" ] && ok "prune marks the leftovers, deletes nothing yet ($(jq -c '{packs_trashed}' "$T/prune0.json"))" \
  || notok "first prune (exit $rc): $(jq -c . "$T/prune0.json")"
sleep 2
sk prune --grace 1s --json >"$T/prune.json"; rc=$?
[ $rc -eq 0 ] && ok "prune after the grace period ($(jq -c '{packs_deleted, packs_undeleted, bytes_freed}' "$T/prune.json"))" || notok "prune (exit $rc)"
after=$(sk_pack_bytes)
echo "figure: packs before prune $before bytes, after $after bytes"
sk check --read-data --json >"$T/check.json"; rc=$?
[ $rc -eq 0 ] && [ "$(jq .warnings "$T/check.json")" = 0 ] && ok "after prune: check --read-data clean, no leftover warnings" \
  || { notok "after prune: check (exit $rc, $(jq .warnings "$T/check.json") warnings)"; jq -c '.problems[:3]' "$T/check.json"; }
sk stats --json >"$T/stats.json"
pb=$(jq .repository.pack_bytes "$T/stats.json"); ib=$(jq .repository.blob_stored_bytes "$T/stats.json")
pc=$(jq .repository.pack_count "$T/stats.json")
# Packs hold indexed blobs, plus dead records prune chose not to repack
# (packs more than half live are kept): allow 5%.
[ "$pb" -le $((ib + ib / 20 + pc * 4096)) ] && ok "after prune: pack bytes ($pb) within 5% of indexed blob bytes ($ib)" \
  || notok "after prune: pack bytes $pb exceed indexed blob bytes $ib by more than 5%"

# Against a clean repository of the final tree.
expect_rc 0 "forget all but the newest backup, then prune" sk forget -q --keep-last 1 --prune
sleep 2
expect_rc 0 "prune after the grace period" sk prune -q --grace 1s
crashed=$(sk_pack_bytes)
SNAPKEEP_REPO=$T/clean sk_init --pack-size 1M
SNAPKEEP_REPO=$T/clean sk backup -q "$T/src" >/dev/null
clean=$(SNAPKEEP_REPO=$T/clean sk_pack_bytes)
echo "figure: crashed-and-pruned repository $crashed bytes of packs, clean repository $clean bytes"
[ "$crashed" -le $((clean + clean / 20 + 262144)) ] && ok "pruned repository ~ clean repository ($crashed vs $clean bytes)" \
  || notok "pruned repository $crashed bytes vs clean $clean bytes"
expect_rc 0 "final check --read-data clean" sk check --read-data -q
sk_finish
