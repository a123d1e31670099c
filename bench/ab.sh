#!/usr/bin/env bash
# Two snapkeep binaries side by side: the cost of a change, in one run.
#
#   bench/ab.sh OLD NEW [RUNS]
#
# On bench/io.sh's data set (built by the same recipe into the same cache),
# each run takes, for OLD and then NEW: init, first backup, no-change
# incremental, full restore into a fresh ext4 (bench/lib/restore-target.sh),
# io_uring, warm cache (the data set is read before each step). Runs
# alternate between the binaries, in ABBA order (old first in odd runs, new
# first in even ones), so that background load and the writeback one run
# leaves for the next hit both alike. Prints "figure:" lines per step and binary (median wall time of
# RUNS, default 7, and mean user and system CPU time) and a "result:" line
# per step with NEW's median over OLD's, and NEW's CPU time (user + system,
# summed over the runs) over OLD's: on a small shared machine single runs
# spread by 10-20%, and CPU time is the steadier of the two. Issue 10's
# budget: no step > 1.03.
#
# Not part of `make bench` (it needs two binaries); run it by hand, for
# example with the binary of the commit before a change as OLD.
#
# Environment: SK_BENCH_DATA, SK_BENCH_WORK (scratch, default /var/tmp).
set -u
. "$(dirname "$0")/lib/restore-target.sh"
[ $# -ge 2 ] || { echo "usage: bench/ab.sh OLD NEW [RUNS]" >&2; exit 2; }
OLD=$(realpath "$1") NEW=$(realpath "$2") RUNS=${3:-7}
for b in "$OLD" "$NEW"; do [ -x "$b" ] || { echo "not executable: $b" >&2; exit 2; }; done
[ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time missing (Debian package time)"; exit 77; }
DATA=${SK_BENCH_DATA:-/var/tmp/snapkeep-bench-data}
[ -f "$DATA.done" ] || { echo "no data set at $DATA: run bench/io.sh once to build it" >&2; exit 2; }

W=$(mktemp -d "${SK_BENCH_WORK:-/var/tmp}/sk-bench-ab.XXXXXX")
trap 'fresh_fs_release "$W/out"; rm -rf "$W"' EXIT
echo pw >"$W/pass"
export SNAPKEEP_PASSWORD_FILE=$W/pass
unset SNAPKEEP_IO
echo "figure: data set $DATA: $(tail -1 "$DATA.done") bytes in $(find "$DATA" -type f | wc -l) files"
echo "figure: machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "figure: old $OLD, new $NEW, $RUNS alternating runs"

warm() { find "$DATA" -type f -exec cat {} + >/dev/null 2>&1; }
for i in $(seq "$RUNS"); do
  # ABBA order: whichever binary runs second meets the page cache and the
  # writeback the first one left, so each goes first in half the runs.
  order="old new"; [ $((i % 2)) = 0 ] && order="new old"
  for side in $order; do
    b=$OLD; [ $side = new ] && b=$NEW
    R=$W/repo
    rm -rf "$R"
    "$b" --repo "$R" repo init -q || { echo "init failed ($side)"; exit 1; }
    for step in first incr restore; do
      warm
      if [ $step = restore ]; then
        fresh_fs "$W/out"
        cmd=("$b" --repo "$R" --no-progress restore -q --io=uring latest --target "$W/out/t")
      else
        cmd=("$b" --repo "$R" --no-progress backup -q --io=uring "$DATA")
      fi
      /usr/bin/time -f "$side $step %e %U %S" -a -o "$W/times" "${cmd[@]}" ||
        { echo "$side $step failed"; exit 1; }
    done
    fresh_fs_release "$W/out"
  done
done

median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
for step in first incr restore; do
  for side in old new; do
    m=$(awk -v s=$side -v t=$step '$1==s && $2==t {print $3}' "$W/times" | median)
    cpu=$(awk -v s=$side -v t=$step '$1==s && $2==t {u+=$4; y+=$5; n++} END {printf "user %.2f s, system %.2f s", u/n, y/n}' "$W/times")
    all=$(awk -v s=$side -v t=$step '$1==s && $2==t {printf "%s ", $3}' "$W/times")
    echo "figure: $step $side: median $m s ($all); mean CPU $cpu"
    eval "m_$side=$m"
  done
  cpu_ratio=$(awk -v t=$step '$2==t {c[$1]+=$4+$5} END {printf "%.3f", c["new"]/c["old"]}' "$W/times")
  echo "result: $step new/old $(awk -v a="$m_new" -v b="$m_old" 'BEGIN {printf "%.3f", a/b}') (median wall time; CPU time $cpu_ratio; budget 1.03)"
done
