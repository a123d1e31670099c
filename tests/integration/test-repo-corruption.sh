#!/usr/bin/env bash
# Corruption is found and reported, never passed on (issue 3 acceptance).
# A repository with small packs (about one 300 KB blob each) and two backups
# sharing the data is damaged in one way per case, starting each time from a
# pristine copy:
#   flipped byte in a pack, truncated pack, missing pack: check names the
#     pack, the blob, both affected backups and the affected file, exits 4;
#     restore fails for exactly that file with a clear error (exit 4) and the
#     rest restores identically (treecmp with the file excluded);
#   corrupt index: check fails, `index rebuild` repairs it from the packs,
#     then check --read-data is clean and restore is identical;
#   corrupt manifest: backups/check name it, its restore fails clearly, the
#     other backup still restores identically.
set -u
. "$(dirname "$0")/../lib/repo.sh"
sk_repo_setup

mkdir -p "$T/src/sub"
for i in 01 02 03 04 05 06 07 08 09 10 11 12; do sk_rand "$T/src/f$i" 300000; done
echo small > "$T/src/sub/small"
# Chunk sizes pinned so that each 300 KB file is exactly one blob, whatever the
# defaults: the damaged packs then hold file data only, never a tree.
expect_rc 0 "repo init (256 KiB packs)" sk_init --pack-size 256K --chunk-min 512K --chunk-avg 1M --chunk-max 8M
sk backup --json "$T/src" >"$T/b1.json" && id1=$(jq -r .id "$T/b1.json")
sk_rand "$T/src/f13" 300000
sk backup --json "$T/src" >"$T/b2.json" && id2=$(jq -r .id "$T/b2.json")
[ -n "${id1:-}" ] && [ -n "${id2:-}" ] && ok "two backups" || { notok "two backups"; sk_finish; }
expect_rc 0 "pristine repository checks clean" sk check --read-data -q
for id in "$id1" "$id2"; do sk ls -R --json "$id" | jq -r '.[].path' >"$T/paths-$id"; done
sk_repo_save "$T/pristine" || { notok "saving a pristine copy"; sk_finish; }
pristine() { rm -rf "$T/out"; sk_repo_load "$T/pristine"; }
# The packs holding file data are the big ones; list them largest first.
data_packs() { sk_obj_ls data/ | sort -k2,2rn | awk '$2 > 200000 {print $1}'; }

# damaged_pack_case NAME PACK CHECK-ARGS: after the damage, check and restore.
damaged_pack_case() {
  local name=$1 pack=$2 checkargs=$3 packname
  packname=$(basename "$pack")
  sk check $checkargs --json >"$T/check.json" 2>"$T/check.err"; local rc=$?
  [ $rc -eq 4 ] && ok "$name: check $checkargs exits 4" || notok "$name: check exits $rc"
  if jq -e --arg p "$packname" '[.problems[] | select(.kind == "error" and .pack == $p)] | length > 0' "$T/check.json" >/dev/null; then
    ok "$name: check names pack ${packname:0:12}"
  else notok "$name: check names the pack"; head -c 800 "$T/check.json"; echo; fi
  jq -e '[.problems[] | select(.kind == "error" and (.blob // "" | test("^[0-9a-f]{64}$")))] | length > 0' "$T/check.json" >/dev/null \
    && ok "$name: check names the blob" || notok "$name: check names the blob"
  mapfile -t bad < <(jq -r '.problems[] | select(.kind == "error") | .path // empty' "$T/check.json" | sort -u)
  # Every backup holding an affected file must be named (f13 is only in the
  # second backup; the others are in both).
  local want=() id got
  for id in "$id1" "$id2"; do
    for p in "${bad[@]}"; do
      grep -qxF "$p" "$T/paths-$id" && { want+=("$id"); break; }
    done
  done
  got=$(jq -r '[.problems[].backup_id // empty] | unique | .[]' "$T/check.json" | sort | tr '\n' ' ')
  [ ${#want[@]} -ge 1 ] && [ "$got" = "$(printf '%s\n' "${want[@]}" | sort | tr '\n' ' ')" ] \
    && ok "$name: check names the affected backups (${#want[@]})" || notok "$name: check names the affected backups (want ${want[*]:-?}, got $got)"
  if [ ${#bad[@]} -ge 1 ] && [[ ${bad[0]} == src/f* ]]; then ok "$name: check names the affected file(s): ${bad[*]}"
  else notok "$name: check names the affected file (got: ${bad[*]:-none})"; fi
  # The human output says the same on stderr.
  grep -q "$packname" "$T/check.err" && grep -qF "${bad[0]:-none}" "$T/check.err" \
    && ok "$name: text output names pack and file" || { notok "$name: text output names pack and file"; head -5 "$T/check.err"; }

  sk restore "$id2" --target "$T/out" >"$T/restore.out" 2>"$T/restore.err"; rc=$?
  [ $rc -eq 4 ] && ok "$name: restore exits 4" || notok "$name: restore exits $rc"
  local excl=() p missing_ok=1
  for p in "${bad[@]}"; do
    excl+=(-x "${p#src/}")
    grep -qF "$p" "$T/restore.err" || missing_ok=0
    [ -e "$T/out/$p" ] && missing_ok=0
  done
  [ $missing_ok -eq 1 ] && grep -qi 'pack\|corrupt\|missing' "$T/restore.err" \
    && ok "$name: restore reports the affected file(s) clearly and does not leave them" \
    || { notok "$name: restore error for the affected file"; head -5 "$T/restore.err"; }
  "$TREECMP" "${excl[@]}" "$T/src" "$T/out/src" >"$T/cmp" 2>&1 \
    && ok "$name: every other file restored identically" || { notok "$name: other files identical"; head -10 "$T/cmp"; }
}

# 1. One flipped byte in the middle of a data pack.
pristine
pack=$(data_packs | sed -n 1p)
size=$(sk_obj_size "$pack")
sk_obj_flip "$pack" $((size / 2)) || notok "flipping a byte"
damaged_pack_case "flipped byte" "$pack" --read-data

# 2. A truncated pack.
pristine
pack=$(data_packs | sed -n 2p)
sk_obj_truncate "$pack" $(( $(sk_obj_size "$pack") / 2 ))
damaged_pack_case "truncated pack" "$pack" --read-data

# 3. A missing pack: found without reading data.
pristine
pack=$(data_packs | sed -n 3p)
sk_obj_rm "$pack"
damaged_pack_case "missing pack" "$pack" ""

# 4. Corrupt index: every index file gets one flipped byte.
pristine
for f in $(sk_obj_ls index/ | cut -d' ' -f1); do sk_obj_flip "$f" 40; done
sk check >"$T/out.txt" 2>"$T/check.err"; rc=$?
[ $rc -eq 4 ] && ok "corrupt index: check exits 4" || notok "corrupt index: check exits $rc"
grep -qi 'index' "$T/check.err" && ok "corrupt index: check mentions the index" || { notok "corrupt index: check mentions the index"; head -5 "$T/check.err"; }
expect_rc 0 "corrupt index: index rebuild" sk index rebuild -q
expect_rc 0 "corrupt index: check --read-data clean after rebuild" sk check --read-data -q
sk restore "$id2" --target "$T/out" -q && "$TREECMP" "$T/src" "$T/out/src" >"$T/cmp" 2>&1 \
  && ok "corrupt index: restore after rebuild identical" || { notok "corrupt index: restore after rebuild"; head "$T/cmp"; }

# 5. Corrupt manifest of the first backup.
pristine
sk_obj_flip "backups/$id1" 30
sk backups >"$T/out.txt" 2>"$T/err"; rc=$?
[ $rc -eq 4 ] && grep -q "$id1" "$T/err" && ok "corrupt manifest: backups exits 4 naming it" || { notok "corrupt manifest: backups (exit $rc)"; head -3 "$T/err"; }
grep -q "${id2:0:12}" "$T/out.txt" && ok "corrupt manifest: the other backup is still listed" || notok "corrupt manifest: other backup listed"
sk check >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 4 ] && grep -q "$id1" "$T/err" && ok "corrupt manifest: check exits 4 naming it" || { notok "corrupt manifest: check (exit $rc)"; head -3 "$T/err"; }
sk restore "$id1" --target "$T/out1" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "$id1" "$T/err" && ok "corrupt manifest: its restore fails clearly (exit $rc)" || { notok "corrupt manifest: restore (exit $rc)"; head -3 "$T/err"; }
sk restore "$id2" --target "$T/out" -q && "$TREECMP" "$T/src" "$T/out/src" >"$T/cmp" 2>&1 \
  && ok "corrupt manifest: the other backup restores identically" || { notok "corrupt manifest: other backup restores"; head "$T/cmp"; }
sk prune >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && ok "corrupt manifest: prune refuses to delete anything (exit $rc)" || notok "corrupt manifest: prune ran"
sk_finish
