#!/usr/bin/env bash
# Issue 15 benchmark: the blob index's memory, open time and lookup rate on
# synthetic repositories of 1, 4 and 16 million blobs, today's index (sorted
# runs, tests/unit/test-index-bench.c) beside the previous one (one open-addressing
# table), side by side in one run.
#
# The previous index is compiled from git: repo/index.{c,h} at
# SK_BENCH_INDEX_BASE (default 588f56f, the last commit with the table),
# linked with the same tool and the same libraries. Each size runs each
# index SK_BENCH_INDEX_RUNS times (default 3), alternating, and the median is
# reported.
#
# Figures per index and size (see tests/unit/test-index-bench.c): open time, anonymous memory
# per blob after open (what the machine cannot reclaim without swap), mapped
# spill-file pages per blob (page cache the kernel may drop), the same after
# 2 Mi lookups, peak RSS, lookups per second of present and absent ids, and
# for 2 Mi blobs then added one by one (as a backup adds them; runs merge at
# every size) the time and the longest single insert, which is what holds
# the repository's lock longest. The runs index also runs with its merges in
# the caller's thread ("runs-fg"), as before merges moved to the background.
# The table skips the adding by default (SK_BENCH_INDEX_TABLE_ADDS below).
# Target (issue 15): at 16 million, anonymous memory per blob <= 1/3 of the
# table's; open time and lookup rate no worse.
#
# Environment: SK_BENCH_INDEX_SIZES (default "1000000 4000000 16000000"),
# SK_BENCH_INDEX_SPILL (spill directory, default /var/tmp).
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
SIZES=${SK_BENCH_INDEX_SIZES:-1000000 4000000 16000000}
RUNS=${SK_BENCH_INDEX_RUNS:-3}
BASE=${SK_BENCH_INDEX_BASE:-588f56f}
SPILL=${SK_BENCH_INDEX_SPILL:-/var/tmp}
# The table index takes minutes to add 2 Mi blobs at 16 million (41 s at 4
# million): it skips that step unless SK_BENCH_INDEX_TABLE_ADDS=1.
TABLE_ADDS=$([ "${SK_BENCH_INDEX_TABLE_ADDS:-0}" = 1 ] && echo add || echo noadd)
new=$BUILD_DIR/tests/test-index-bench
[ -x "$new" ] || { echo "no $new: run make all first"; exit 1; }
command -v jq >/dev/null || { echo "jq missing"; exit 1; }

work=$(mktemp -d /var/tmp/sk-index-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/old/repo"
git -C "$SK_SRC" show "$BASE:repo/index.c" >"$work/old/repo/index.c" &&
  git -C "$SK_SRC" show "$BASE:repo/index.h" >"$work/old/repo/index.h" ||
  { echo "cannot read repo/index.{c,h} at $BASE from git"; exit 1; }
old=$work/index-bench-table
# the old header first; everything else from the tree and its libraries
gcc -std=gnu11 -O2 -D_GNU_SOURCE -DSK_INDEX_BENCH_TABLE -I"$work/old" -I"$SK_SRC" -I"$BUILD_DIR/gen" \
  -o "$old" "$SK_SRC/tests/unit/test-index-bench.c" "$work/old/repo/index.c" \
  "$BUILD_DIR/libsk-repo.a" "$BUILD_DIR/libsk-store.a" "$BUILD_DIR/libsk-common.a" \
  -lzstd -lcrypto -lpthread -lm || { echo "building the table index from $BASE failed"; exit 1; }

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
field() { jq -r ".$2" "$1" | median; }

printf '%-9s %-8s %8s %10s %10s %12s %12s %9s %12s %12s %7s %10s\n' blobs index open_s anon_B/blob file_B/blob \
  anon_after_lk file_after_lk peak_MiB present/s absent/s add_s longest_ms
for n in $SIZES; do
  : >"$work/new-$n.json"; : >"$work/old-$n.json"; : >"$work/fg-$n.json"
  for r in $(seq 1 "$RUNS"); do
    # rotate which goes first
    case $((r % 3)) in 1) order="old new fg" ;; 2) order="new fg old" ;; *) order="fg old new" ;; esac
    for which in $order; do
      sync; echo 1 >/proc/sys/vm/drop_caches 2>/dev/null || true
      case $which in
        new) "$new" "$n" "$SPILL" >>"$work/new-$n.json" || { echo "index-bench $n failed"; exit 1; } ;;
        fg) "$new" "$n" "$SPILL" foreground >>"$work/fg-$n.json" || { echo "index-bench $n foreground failed"; exit 1; } ;;
        *) "$old" "$n" - $TABLE_ADDS >>"$work/old-$n.json" || { echo "index-bench (table) $n failed"; exit 1; } ;;
      esac
    done
  done
  for which in old new fg; do
    f=$work/$which-$n.json
    label=$(case $which in old) echo table ;; new) echo runs ;; *) echo runs-fg ;; esac)
    printf '%-9s %-8s %8s %10s %10s %12s %12s %9s %12s %12s %7s %10s\n' "$n" "$label" "$(field "$f" open_s)" \
      "$(field "$f" anon_bytes_per_blob)" "$(field "$f" file_bytes_per_blob)" \
      "$(field "$f" anon_after_lookups_per_blob)" "$(field "$f" file_after_lookups_per_blob)" \
      "$(field "$f" peak_rss_mib)" "$(field "$f" present_lookups_per_s)" "$(field "$f" absent_lookups_per_s)" \
      "$(field "$f" add_s)" "$(field "$f" add_longest_insert_ms)"
    for k in open_s anon_bytes_per_blob file_bytes_per_blob anon_after_lookups_per_blob \
      file_after_lookups_per_blob peak_rss_mib present_lookups_per_s absent_lookups_per_s add_s \
      add_longest_insert_ms; do
      echo "figure: index $label $n $k $(field "$f" $k)" >>"$work/figures"
    done
  done
  ratio() { awk -v a="$(field "$work/new-$n.json" "$1")" -v b="$(field "$work/old-$n.json" "$1")" 'BEGIN {printf "%.3f", a / b}'; }
  echo "result: $n blobs: anonymous memory per blob runs/table $(ratio anon_after_lookups_per_blob)" \
    "(target at 16M: <= 0.333), open time $(ratio open_s) (<= 1), present lookups/s $(ratio present_lookups_per_s)" \
    "(>= 1), absent lookups/s $(ratio absent_lookups_per_s) (>= 1); longest insert while adding: runs" \
    "$(field "$work/new-$n.json" add_longest_insert_ms) ms, runs-fg $(field "$work/fg-$n.json" add_longest_insert_ms) ms," \
    "table $(field "$work/old-$n.json" add_longest_insert_ms) ms" >>"$work/results"
done
cat "$work/figures" "$work/results"
