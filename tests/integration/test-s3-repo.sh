#!/usr/bin/env bash
# The repository acceptance cases of issue 3, on S3 (issue 6 acceptance "a
# real server"): a single-node Ceph cluster with radosgw on 127.0.0.1 holds
# the repositories; objects are damaged through tests/tools/skobj (get, flip,
# put back), the S3 equivalent of editing a pack file.
#   round trip  the issue-3 tree (1 GiB sparse file, 10,000 small files,
#               devices, xattrs, hardlinks...) restores identically; packs go
#               up as multipart uploads (threshold lowered to 5 MiB)
#   dedup       unchanged second backup adds < 1%; two trees share chunks
#   corruption  flipped byte / truncated / missing pack: check exits 4 naming
#               the pack and file, restore fails for that file only; corrupt
#               index repaired by `index rebuild`; corrupt manifest named
#   crash       kill -9 during backups: check clean, next backup completes,
#               prune reclaims the leftovers
#   concurrency two backups at once; prune refuses (exit 5) during them and a
#               waiting prune succeeds after; both restore; check clean
set -u
. "$(dirname "$0")/../lib/repo.sh"
. "$(dirname "$0")/../lib/ceph.sh"
s3_test_setup
MiB=$((1024 * 1024))

# --- round trip ---------------------------------------------------------------
export SNAPKEEP_S3_MULTIPART_THRESHOLD=5M SNAPKEEP_S3_PART_SIZE=5M
bash "$MKTREE" "$T/tree" >/dev/null 2>"$T/mktree.err" || { notok "mktree"; cat "$T/mktree.err"; sk_finish; }
expect_rc 0 "round trip: init (8 MiB packs, multipart above 5 MiB)" sk_init --pack-size 8M
view=$T/view; mkdir -p "$view"
if sk_noatime_view "$T/tree" "$view"; then src=$view; else src=$T/tree; fi
start=$SECONDS
sk backup --json "$src" >"$T/rt.json" 2>"$T/rt.err" && ok "round trip: backup ($((SECONDS - start)) s)" || { notok "round trip: backup"; cat "$T/rt.err"; }
grep -q 'uploadId=' "$CEPH_RGW_LOG" && ok "round trip: packs were sent as multipart uploads" || notok "round trip: no multipart upload seen in the rgw log"
start=$SECONDS
sk restore latest --target "$T/rt-out" -q 2>"$T/rt.err" && ok "round trip: restore ($((SECONDS - start)) s)" || { notok "round trip: restore"; cat "$T/rt.err"; }
"$TREECMP" "$src" "$T/rt-out/$(basename "$src")" >"$T/cmp" 2>&1 && ok "round trip: restored tree identical (treecmp)" || { notok "round trip: treecmp"; head -10 "$T/cmp"; }
expect_rc 0 "round trip: check --read-data" sk check --read-data -q
unset SNAPKEEP_S3_MULTIPART_THRESHOLD SNAPKEEP_S3_PART_SIZE

# --- dedup --------------------------------------------------------------------
sk backup --json "$src" >"$T/rt2.json" 2>/dev/null
added=$(jq .summary.added_bytes "$T/rt2.json" 2>/dev/null)
total=$(du -sb --apparent-size "$T/tree" | cut -f1)
if [ -n "$added" ] && [ "$added" != null ] && [ "$added" -lt $((total / 100)) ]; then ok "dedup: unchanged second backup added $added bytes (< 1% of $total)"
else notok "dedup: unchanged second backup added ${added:-?} bytes (tree $total)"; fi
umount -l "$view" 2>/dev/null
SNAPKEEP_REPO=$(s3_repo_url dedup)
expect_rc 0 "dedup: init" sk_init
mkdir -p "$T/d1" "$T/d2"
for i in 1 2 3 4; do sk_rand "$T/d1/f$i" $((6 * MiB)) "dd-$i"; cp "$T/d1/f$i" "$T/d2/f$i"; done
sk_rand "$T/d2/own" $((2 * MiB)) own
sk backup --json "$T/d1" >"$T/d1.json" && sk backup --json "$T/d2" >"$T/d2.json"
a2=$(jq .summary.added_bytes "$T/d2.json")
[ "$a2" -lt $((4 * MiB)) ] && ok "dedup: a second tree sharing 24 MiB adds only $a2 bytes" || notok "dedup: second tree added $a2 bytes"
# restores with a small read-ahead for reads without a plan (trees), and none
for ra in 3M 0; do
  rm -rf "$T/d-out"
  SNAPKEEP_S3_READAHEAD=$ra sk restore latest -q --target "$T/d-out" && "$TREECMP" "$T/d2" "$T/d-out/d2" >"$T/cmp" 2>&1 \
    && ok "restore with read-ahead window $ra identical" || { notok "restore with read-ahead $ra"; head -5 "$T/cmp"; }
done

# --- reads outside a restore -----------------------------------------------------
# ls reads every tree blob one at a time, without a plan: through the
# repository's one read-ahead cache (the backend has no windows of its own),
# a handful of pack GETs; with SNAPKEEP_S3_READAHEAD=0, one GET per tree.
SNAPKEEP_REPO=$(s3_repo_url lsra)
expect_rc 0 "ls read-ahead: init" sk_init
rm -rf "$T/many"; mkdir -p "$T/many"
for i in $(seq 1 200); do mkdir -p "$T/many/d$i/sub"; echo "$i" >"$T/many/d$i/sub/f"; done
expect_rc 0 "ls read-ahead: backup of 401 directories" sk backup -q "$T/many"
# radosgw may write its log a moment after the reply: count once it is still
pack_gets() {
  local a b=-1 i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    a=$(grep -c '"GET /[^ ]*/data/' "$CEPH_RGW_LOG" 2>/dev/null || true)
    [ "$a" = "$b" ] && break
    b=$a; sleep 0.2
  done
  echo "$a"
}
g0=$(pack_gets); SNAPKEEP_S3_READAHEAD=0 sk ls -R latest >"$T/ls-exact" 2>"$T/ls.err"; g1=$(pack_gets)
sk ls -R latest >"$T/ls-ra" 2>>"$T/ls.err"; g2=$(pack_gets)
exact=$((g1 - g0)) ahead=$((g2 - g1))
if [ "$(grep -c '/sub/f$' "$T/ls-ra")" -eq 200 ] && cmp -s "$T/ls-exact" "$T/ls-ra"; then ok "ls read-ahead: both listings name all 200 files and agree"
else notok "ls read-ahead: listings differ or are short ($(wc -l <"$T/ls-ra") lines)"; head -3 "$T/ls.err"; fi
[ "$exact" -ge 200 ] && [ "$ahead" -ge 1 ] && [ "$ahead" -le 4 ] \
  && ok "ls read-ahead: $ahead pack GETs with read-ahead, $exact without" \
  || notok "ls read-ahead: $ahead pack GETs with read-ahead (want 1-4), $exact without (want >= 200)"

# --- corruption ---------------------------------------------------------------
# Damage is done behind the nodes' backs, so read as a node without a metadata
# cache would (check never uses the cache; that is tested at the end).
export SNAPKEEP_CACHE_DIR=off
SNAPKEEP_REPO=$(s3_repo_url corrupt)
rm -rf "$T/src"; mkdir -p "$T/src/sub"
for i in 01 02 03 04 05 06 07 08; do sk_rand "$T/src/f$i" 300000 "c$i"; done
echo small > "$T/src/sub/small"
expect_rc 0 "corruption: init (256 KiB packs)" sk_init --pack-size 256K
sk backup --json "$T/src" >"$T/b1.json" && id1=$(jq -r .id "$T/b1.json")
sk_rand "$T/src/f09" 300000 c9
sk backup --json "$T/src" >"$T/b2.json" && id2=$(jq -r .id "$T/b2.json")
expect_rc 0 "corruption: pristine repository checks clean" sk check --read-data -q
data_packs() { s3_objects "$SNAPKEEP_REPO" data/ | sort -k2,2nr | awk '$2 > 200000 {print $1}'; }
save() { "$SKOBJ" "$SNAPKEEP_REPO" get "$1" >"$T/saved"; saved=$1; }
restore_saved() { "$SKOBJ" "$SNAPKEEP_REPO" put "$saved" <"$T/saved"; rm -rf "$T/out"; }

damaged_pack_case() { # NAME PACKNAME CHECKARGS
  local name=$1 packname=$2 checkargs=$3 rc
  packname=$(basename "$packname")
  sk check $checkargs --json >"$T/check.json" 2>"$T/check.err"; rc=$?
  [ $rc -eq 4 ] && ok "$name: check $checkargs exits 4" || notok "$name: check exits $rc"
  jq -e --arg p "$packname" '[.problems[] | select(.kind == "error" and .pack == $p)] | length > 0' "$T/check.json" >/dev/null \
    && ok "$name: check names pack ${packname:0:12}" || notok "$name: check names the pack"
  mapfile -t bad < <(jq -r '.problems[] | select(.kind == "error") | .path // empty' "$T/check.json" | sort -u)
  # f09 exists only in the second backup; every other file is in both
  local want=("$id1" "$id2"); [ "${bad[0]:-}" = src/f09 ] && want=("$id2")
  jq -e --argjson w "$(printf '%s\n' "${want[@]}" | jq -R . | jq -s .)" '[.problems[].backup_id] | unique | . as $got | all($w[]; . as $x | $got | index($x) != null)' "$T/check.json" >/dev/null \
    && ok "$name: check names the affected backup(s) (${#want[@]})" || notok "$name: check names the affected backups"
  [ ${#bad[@]} -ge 1 ] && [[ ${bad[0]} == src/f* ]] && ok "$name: check names the file(s): ${bad[*]}" || notok "$name: check names the file (${bad[*]:-none})"
  sk restore "$id2" --target "$T/out" >/dev/null 2>"$T/restore.err"; rc=$?
  [ $rc -eq 4 ] && grep -qF "${bad[0]:-none}" "$T/restore.err" && ok "$name: restore exits 4 naming the file" || { notok "$name: restore exits $rc"; head -3 "$T/restore.err"; }
  local excl=() p
  for p in "${bad[@]}"; do excl+=(-x "${p#src/}"); done
  "$TREECMP" "${excl[@]}" "$T/src" "$T/out/src" >"$T/cmp" 2>&1 && ok "$name: every other file restored identically" || { notok "$name: other files"; head -5 "$T/cmp"; }
}

pack=$(data_packs | sed -n 1p); save "$pack"
size=$("$SKOBJ" "$SNAPKEEP_REPO" size "$pack")
"$SKOBJ" "$SNAPKEEP_REPO" flip "$pack" $((size / 2)) && damaged_pack_case "flipped byte" "$pack" --read-data
restore_saved
pack=$(data_packs | sed -n 2p); save "$pack"
"$SKOBJ" "$SNAPKEEP_REPO" truncate "$pack" $(( $("$SKOBJ" "$SNAPKEEP_REPO" size "$pack") / 2 )) && damaged_pack_case "truncated pack" "$pack" --read-data
restore_saved
pack=$(data_packs | sed -n 3p); save "$pack"
"$SKOBJ" "$SNAPKEEP_REPO" rm "$pack" && damaged_pack_case "missing pack" "$pack" ""
restore_saved
expect_rc 0 "corruption: repaired repository checks clean again" sk check --read-data -q

for f in $(s3_objects "$SNAPKEEP_REPO" index/ | cut -d' ' -f1); do "$SKOBJ" "$SNAPKEEP_REPO" flip "$f" 40; done
sk check >/dev/null 2>"$T/check.err"; rc=$?
[ $rc -eq 4 ] && grep -qi index "$T/check.err" && ok "corrupt index: check exits 4 naming the index" || notok "corrupt index: check exits $rc"
expect_rc 0 "corrupt index: index rebuild" sk index rebuild -q
expect_rc 0 "corrupt index: check --read-data clean after rebuild" sk check --read-data -q
rm -rf "$T/out"
sk restore "$id2" --target "$T/out" -q && "$TREECMP" "$T/src" "$T/out/src" >"$T/cmp" 2>&1 && ok "corrupt index: restore after rebuild identical" || notok "corrupt index: restore"

save "backups/$id1"
"$SKOBJ" "$SNAPKEEP_REPO" flip "backups/$id1" 30
sk check >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 4 ] && grep -q "$id1" "$T/err" && ok "corrupt manifest: check exits 4 naming it" || { notok "corrupt manifest: check exits $rc"; head -3 "$T/err"; }
sk restore "$id1" --target "$T/out1" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "$id1" "$T/err" && ok "corrupt manifest: its restore fails clearly (exit $rc)" || notok "corrupt manifest: restore exits $rc"
rm -rf "$T/out"
sk restore "$id2" --target "$T/out" -q && "$TREECMP" "$T/src" "$T/out/src" >/dev/null 2>&1 && ok "corrupt manifest: the other backup restores" || notok "corrupt manifest: other backup"
restore_saved

export SNAPKEEP_CACHE_DIR=$T/cache

# --- crash --------------------------------------------------------------------
SNAPKEEP_REPO=$(s3_repo_url crash)
rm -rf "$T/src"; mkdir -p "$T/src/many"
for i in $(seq 1 100); do printf 'small %d\n' "$i" > "$T/src/many/f$i"; done
expect_rc 0 "crash: init (1 MiB packs)" sk_init --pack-size 1M
RANDOM=$$
for round in 1 2 3; do
  for i in 1 2; do sk_rand "$T/src/r$round-$i" $((16 * MiB)) "crash-$round-$i-$$"; done
  sk backup -q "$T/src" >/dev/null 2>&1 & pid=$!
  delay=$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.1 + (r % 100) / 100 }')
  sleep "$delay"
  if kill -0 $pid 2>/dev/null; then kill -9 $pid; wait $pid 2>/dev/null; echo "case: crash round $round: killed after ${delay}s"
  else wait $pid; echo "case: crash round $round: finished before ${delay}s"; fi
  sk check --json >"$T/check.json" 2>/dev/null; rc=$?
  [ $rc -eq 0 ] && ok "crash round $round: check clean ($(jq .warnings "$T/check.json") warnings)" || { notok "crash round $round: check exits $rc"; jq -c '.problems[:3]' "$T/check.json"; }
  expect_rc 0 "crash round $round: the next backup completes" sk backup -q "$T/src"
done
rm -rf "$T/out"
sk restore latest --target "$T/out" -q && "$TREECMP" "$T/src" "$T/out/src" >"$T/cmp" 2>&1 && ok "crash: latest restores identically" || { notok "crash: restore"; head -5 "$T/cmp"; }
# delayed deletion: the first prune marks, one after the grace period deletes
sk prune --json >"$T/prune0.json"; rc=$?
[ $rc -eq 0 ] && ok "crash: prune marks the leftovers ($(jq -c '{packs_trashed, packs_deleted}' "$T/prune0.json"))" || notok "crash: prune marks the leftovers (exit $rc)"
sleep 2
sk prune --grace 1s --json >"$T/prune.json"; rc=$?
# (the killed backups may have left no pack, or packs a later backup indexed and uses)
[ $rc -eq 0 ] && [ $(( $(jq .packs_deleted "$T/prune.json") + $(jq .packs_undeleted "$T/prune.json") )) -eq "$(jq .packs_trashed "$T/prune0.json")" ] && ok "crash: prune after the grace period ($(jq -c '{packs_deleted, packs_undeleted, bytes_freed}' "$T/prune.json"))" || { notok "crash: prune exits $rc"; cat "$T/prune.json"; }
sk check --read-data --json >"$T/check.json"; rc=$?
[ $rc -eq 0 ] && [ "$(jq .warnings "$T/check.json")" = 0 ] && ok "crash: after prune check --read-data clean, no leftovers" || notok "crash: after prune check exits $rc, $(jq .warnings "$T/check.json") warnings"

# --- concurrency --------------------------------------------------------------
SNAPKEEP_REPO=$(s3_repo_url conc)
sk_two_trees 3 32 200
expect_rc 0 "concurrency: init" sk_init
sk backup --json "$T/a" >"$T/a.json" 2>"$T/a.err" & pa=$!
sk backup --json "$T/b" >"$T/b.json" 2>"$T/b.err" & pb=$!
sleep 0.7
running=0; kill -0 $pa 2>/dev/null && kill -0 $pb 2>/dev/null && running=1
before=$(s3_objects "$SNAPKEEP_REPO" data/; s3_objects "$SNAPKEEP_REPO" index/)
sk prune >"$T/prune1.out" 2>"$T/prune1.err"; rc=$?
if [ $running -eq 1 ]; then
  [ $rc -eq 5 ] && grep -qi 'lock' "$T/prune1.err" && ok "concurrency: prune during two backups refuses (exit 5): $(head -c 150 "$T/prune1.err")" || notok "concurrency: prune exits $rc"
else notok "concurrency: timing: the backups were not both running at the prune"; fi
after=$(s3_objects "$SNAPKEEP_REPO" data/; s3_objects "$SNAPKEEP_REPO" index/)
[ -z "$(comm -23 <(echo "$before" | sort) <(echo "$after" | sort))" ] && ok "concurrency: the refused prune deleted nothing" || notok "concurrency: objects vanished"
sk prune --lock-wait 300 --json >"$T/prune2.json" 2>"$T/prune2.err" & pp=$!
wait $pa; ra=$?; wait $pb; rb=$?; wait $pp; rp=$?
[ $ra -eq 0 ] && [ $rb -eq 0 ] && ok "concurrency: both backups completed" || { notok "concurrency: backups exit $ra/$rb"; cat "$T/a.err" "$T/b.err"; }
[ $rp -eq 0 ] && ok "concurrency: prune --lock-wait succeeded" || { notok "concurrency: waiting prune exits $rp"; cat "$T/prune2.err"; }
sk_two_restored "concurrency: "
expect_rc 0 "concurrency: check --read-data clean" sk check --read-data -q

# --- metadata cache -----------------------------------------------------------
requests() { grep -c 'beast: .* "\(GET\|PUT\|POST\|HEAD\|DELETE\) ' "$CEPH_RGW_LOG"; }
rm -rf "$SNAPKEEP_CACHE_DIR"
n0=$(requests); sk backups >/dev/null; n1=$(requests); sk backups >/dev/null; n2=$(requests)
cold=$((n1 - n0)); warm=$((n2 - n1))
[ $warm -lt $cold ] && ok "cache: listing backups with a warm cache takes $warm requests, cold $cold" || notok "cache: warm $warm requests, cold $cold"
f=$(find "$SNAPKEEP_CACHE_DIR" -path '*/backups/*' -type f | head -1)
if [ -n "$f" ]; then
  printf 'X' | dd of="$f" bs=1 seek=20 conv=notrunc status=none
  sk backups >/dev/null 2>"$T/err" && ok "cache: a corrupted cache file is detected and fetched again" || { notok "cache: corrupted cache file"; cat "$T/err"; }
else notok "cache: no manifest cached under $SNAPKEEP_CACHE_DIR"; fi
# check reads the store, not the cache: a manifest damaged in the store is
# found although this node has a good copy cached
m=$(s3_objects "$SNAPKEEP_REPO" backups/ | head -1 | cut -d' ' -f1)
"$SKOBJ" "$SNAPKEEP_REPO" get "$m" >"$T/m.saved"
"$SKOBJ" "$SNAPKEEP_REPO" flip "$m" 30
sk check -q >/dev/null 2>&1; rc=$?
[ $rc -eq 4 ] && ok "cache: check ignores the cache and finds a damaged manifest" || notok "cache: check exits $rc with a damaged manifest in the store"
"$SKOBJ" "$SNAPKEEP_REPO" put "$m" <"$T/m.saved"
rm -rf "$SNAPKEEP_CACHE_DIR"
id=$(jq -r .id "$T/b.json")   # the concurrency part's backup of $T/b
sk restore "$id" --target "$T/out-cache" -q && "$TREECMP" "$T/b" "$T/out-cache/b" >/dev/null 2>&1 \
  && ok "cache: deleting the cache is safe (restore identical)" || notok "cache: restore without cache"
sk_finish
