#!/usr/bin/env bash
# Dedup (issue 3 acceptance), measured as growth of the repository on disk
# (du --apparent-size of the whole repository: packs, index, manifests):
#   1. a second backup of an unchanged tree adds < 1% of the tree's size;
#   2. inserting 1 MiB into a 100 MiB file adds < 4 MiB (median of 5 places);
#   3. a second tree sharing most files with the first (different path, so
#      no parent) adds little more than its new files: its chunks are shared.
set -u
. "$(dirname "$0")/../lib/repo.sh"
sk_repo_setup
MiB=$((1024 * 1024))

expect_rc 0 "repo init" sk_init

# 1. Unchanged tree: 40 MiB of incompressible files plus the small-file part
# of the round-trip tree.
mkdir -p "$T/tree1"
for i in $(seq -w 1 40); do sk_rand "$T/tree1/file$i" $MiB "t1-$i"; done
MKTREE_MANY=2000 MKTREE_SPARSE_SIZE=$((8 * MiB)) bash "$MKTREE" "$T/tree1/mk" >/dev/null
tree_size=$(du -sb --apparent-size "$T/tree1" | cut -f1)
expect_rc 0 "first backup of tree1" sk backup -q "$T/tree1"
r0=$(sk_repo_bytes)
expect_rc 0 "second backup of unchanged tree1" sk backup -q "$T/tree1"
r1=$(sk_repo_bytes)
grow=$((r1 - r0))
echo "figure: unchanged re-backup grew the repository by $grow bytes (tree $tree_size bytes, $(awk -v g=$grow -v t=$tree_size 'BEGIN{printf "%.3f", 100*g/t}')%)"
[ $((grow * 100)) -lt "$tree_size" ] && ok "unchanged tree adds < 1% ($grow of $tree_size bytes)" || notok "unchanged tree adds $grow bytes (>= 1% of $tree_size)"
# Even reading everything again (--force) stores nothing new.
sk backup -q --force "$T/tree1" >/dev/null
r2=$(sk_repo_bytes)
[ $(((r2 - r1) * 100)) -lt "$tree_size" ] && ok "forced re-read of an unchanged tree adds < 1% ($((r2 - r1)) bytes)" || notok "forced re-read adds $((r2 - r1)) bytes"

# 2. 1 MiB inserted into a 100 MiB file. What an insertion costs depends on
# where it lands: the chunk it falls into is re-stored along with the inserted
# bytes, and content-defined chunk sizes vary. So the insertion is made at five
# independent places (each starting from the original file, around the middle),
# and the typical cost, the median, must be under 4 MiB. No single insertion may
# cost more than 1 MiB plus one maximum chunk plus the following one (the worst
# case that still means boundaries resynchronised: 1 + 8 + 8 MiB).
mkdir -p "$T/big"
sk_rand "$T/orig" $((100 * MiB)) big
cp "$T/orig" "$T/big/file"
expect_rc 0 "backup of a 100 MiB file" sk backup -q "$T/big"
grows=()
for k in 0 1 2 3 4; do
  off=$(( (40 + 5 * k) * MiB + k * 123457 ))
  sk_rand "$T/insert" $MiB "insert-$k"
  { head -c $off "$T/orig"; cat "$T/insert"; tail -c +$((off + 1)) "$T/orig"; } >"$T/big/file"
  [ "$(stat -c %s "$T/big/file")" -eq $((101 * MiB)) ] || notok "test file is not 101 MiB"
  r0=$(sk_repo_bytes)
  expect_rc 0 "backup after inserting 1 MiB at offset $off" sk backup -q "$T/big"
  r1=$(sk_repo_bytes)
  grows+=($((r1 - r0)))
  echo "figure: 1 MiB insert at offset $off of 100 MiB grew the repository by $((r1 - r0)) bytes ($(awk -v g=$((r1 - r0)) 'BEGIN{printf "%.2f", g/1048576}') MiB)"
done
median=$(printf '%s\n' "${grows[@]}" | sort -n | sed -n 3p)
worst=$(printf '%s\n' "${grows[@]}" | sort -n | tail -1)
[ "$median" -lt $((4 * MiB)) ] && ok "1 MiB insert adds < 4 MiB (median of 5 places: $median bytes)" || notok "1 MiB insert: median growth $median bytes (>= 4 MiB)"
[ "$worst" -lt $((17 * MiB)) ] && ok "every 1 MiB insert resynchronises (worst $worst bytes)" || notok "a 1 MiB insert added $worst bytes: chunk boundaries did not resynchronise"

# 3. A second tree at another path sharing 36 of tree1's 40 files, plus 4 new.
mkdir -p "$T/tree2"
for i in $(seq -w 1 36); do cp "$T/tree1/file$i" "$T/tree2/copy$i"; done
for i in 1 2 3 4; do sk_rand "$T/tree2/new$i" $MiB "t2-$i"; done
r0=$(sk_repo_bytes)
expect_rc 0 "backup of tree2 (shares 36 of 40 MiB with tree1)" sk backup -q "$T/tree2"
r1=$(sk_repo_bytes)
grow=$((r1 - r0))
echo "figure: tree2 (40 MiB, 4 MiB new) grew the repository by $grow bytes"
[ $grow -lt $((5 * MiB)) ] && ok "tree2 adds < 5 MiB: its 36 shared files are deduplicated ($grow bytes)" || notok "tree2 adds $grow bytes (>= 5 MiB)"
jq -e '.dedup_ratio > 1.5' <(sk stats --json) >/dev/null && ok "stats reports deduplication (ratio $(sk stats --json | jq .dedup_ratio))" || notok "stats dedup ratio $(sk stats --json | jq .dedup_ratio)"
expect_rc 0 "check --read-data clean" sk check --read-data -q
sk_finish
