#!/usr/bin/env bash
# Issue 4 benchmark: the I/O data path. snapkeep on both I/O engines
# (--io=uring, --io=threads) against restic and borg, the compression bound
# (tar | zstd -3 -T0) and the read bound (tar | cat > /dev/null), side by side
# in one run, on the same data set as bench/repository.sh (built by the same
# recipe into the same cache: copies of /usr/lib/x86_64-linux-gnu,
# /usr/share/doc and /usr/share/locale, about 1.4 GiB in ~14,000 files).
#
# Steps, in step-major order (every tool's step before the next step, so a
# change in background load hits all tools alike):
#   warm cache (the data set is read once before each step):
#     read bound, zstd bound, first backup, no-change incremental (SK_BENCH_RUNS
#     times per tool, the tool order rotated each round, medians), full restore
#   cold cache (echo 3 > /proc/sys/vm/drop_caches before each; needs root,
#   skipped otherwise): read bound, zstd bound, snapkeep first backup on both
#   engines (fresh repositories), no-change incremental on both engines and
#   restic (the metadata pass), and the many-small-files case: backups of
#   usr_share_doc + usr_share_locale (~9,000 files, median 5 KiB) with
#   --io=uring and --io=threads, SK_BENCH_RUNS times (default 3), alternating.
# Peak RSS of every step comes from /usr/bin/time.
#
# Settings as in bench/repository.sh: snapkeep defaults; restic 0.14
# --compression auto (repository v2); borg 1.2 repokey, zstd,3.
#
# Output: "figure:" lines, a table, and "result:" lines with the ratios and
# the issue's targets: first backup >= 2.5x restic's throughput and >= 80% of
# the zstd bound's; restore >= 3x restic's; no-change incremental <= 0.2x
# restic's time; peak RSS <= restic's; uring >= 1.2x threads on cold small
# files. The machine may be shared: absolute figures are noisy, the ratios
# between tools run side by side in the same run are what counts.
#
# Environment: SNAPKEEP, SK_BENCH_DATA, SK_BENCH_WORK (scratch, default
# /var/tmp), SK_BENCH_RUNS, SK_BENCH_COLD=0 skips the cold-cache part,
# SK_BENCH_MATRIX=0 skips the restore matrix (lib/restore-matrix.sh: both
# data sets into the machine's own filesystem and a fresh one, medians),
# SK_BENCH_WARM=0 skips the warm part (with the cold one: the matrix alone),
# SK_BENCH_TOOLS (default "sk-uring sk-threads restic borg").
set -u
. "$(dirname "$0")/lib/dataset.sh"
. "$(dirname "$0")/lib/restore-matrix.sh"
TOOLS=${SK_BENCH_TOOLS:-sk-uring sk-threads restic borg}
RUNS=${SK_BENCH_RUNS:-3}

bench_need_snapkeep time
for c in zstd tar; do command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }; done
bench_need_tools $TOOLS
if ! "$SNAPKEEP" --no-progress --help >/dev/null 2>&1; then echo "SKIP: $SNAPKEEP does not run"; exit 77; fi

# --- the data set: the same as bench/repository.sh's (lib/dataset.sh) ----------
bench_dataset
SMALL=("$DATA/usr_share_doc" "$DATA/usr_share_locale")
small_files=$(find "${SMALL[@]}" -type f | wc -l)
small_bytes=$(du -scb --apparent-size "${SMALL[@]}" | tail -1 | cut -f1)
echo "figure: small-files subset: $small_bytes bytes in $small_files files (usr_share_doc, usr_share_locale)"
[ "$data_bytes" -ge "${SK_BENCH_MIN_BYTES:-1073741824}" ] || { echo "data set smaller than 1 GiB"; exit 1; }
echo "figure: machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "figure: snapkeep binary: $SNAPKEEP"

bench_workdir io
unset SNAPKEEP_IO

can_drop=0
if [ "$(id -u)" -eq 0 ] && [ "${SK_BENCH_COLD:-1}" = 1 ] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
  can_drop=1
fi
cache() { # warm|cold TREE...
  if [ "$1" = cold ]; then sync; echo 3 >/proc/sys/vm/drop_caches
  else shift; tar cf - "$@" 2>/dev/null | cat >/dev/null; fi
}

declare -A R
# timed KEY CMD...: run CMD under /usr/bin/time; R[KEY]=seconds, R[KEY,rss]=KiB,
# R[KEY,cpu]=user+system seconds (steadier than wall time on a shared machine).
timed() {
  local key=$1; shift
  /usr/bin/time -f '%e %M %U %S' -o "$W/time" "$@" >"$W/log" 2>&1
  local rc=$? secs kib cpu
  secs=$(tail -1 "$W/time" | cut -d' ' -f1); kib=$(tail -1 "$W/time" | cut -d' ' -f2)
  cpu=$(tail -1 "$W/time" | awk '{ printf "%.2f", $3 + $4 }')
  R[$key]=$secs R[$key,rss]=$kib R[$key,cpu]=$cpu
  echo "figure: $key: ${secs}s, CPU ${cpu}s, peak RSS $((kib / 1024)) MiB$([ $rc -ne 0 ] && echo " (exit $rc)")"
  if [ $rc -ne 0 ]; then echo "$key failed:"; tail -20 "$W/log"; return 1; fi
}
mibs() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", b / 1048576 / s; else print "?" }'; }

step_cmd() { # TOOL STEP [REPO-SUFFIX]: one step's command line (no spaces in paths)
  local tool=$1 step=$2 repo=$W/$1-repo${3:-} out=$W/$1-restore
  local io=${tool#sk-}
  case $tool/$step in
    sk-*/init) echo "$SNAPKEEP --repo $repo repo init -q" ;;
    sk-*/first|sk-*/incr) echo "$SNAPKEEP --repo $repo --no-progress backup -q --io=$io $DATA" ;;
    sk-*/small) echo "$SNAPKEEP --repo $repo --no-progress backup -q --io=$io ${SMALL[*]}" ;;
    sk-*/restore) echo "$SNAPKEEP --repo $repo --no-progress restore -q --io=$io latest --target $out" ;;
    *) peer_step_cmd "$tool" "$step" "$repo" "$out" "second-$RANDOM" first ;;
  esac
}
run_step() { # TOOL STEP KEY [REPO-SUFFIX]
  mkdir -p "$W/$1-restore"
  cd "$W/$1-restore" || exit 1   # borg extracts into the current directory
  # shellcheck disable=SC2046 # step_cmd prints a command line
  timed "$3" $(step_cmd "$1" "$2" "${4:-}")
  local rc=$?
  cd "$W" || exit 1
  return $rc
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else print a[int((NR + 1) / 2)] }'; }
# rotated RUN TOOL...: the tools in round RUN's order (each round starts one further on), so that no
# tool always runs right after the same other one
rotated() { local k=$(( ($1 - 1) % ($# - 1) )); shift; local t=("$@"); echo "${t[@]:k}" "${t[@]:0:k}"; }

failed=0
declare -A ok_tool
bench_init_tools $TOOLS

# --- warm cache -----------------------------------------------------------------
if [ "${SK_BENCH_WARM:-1}" = 1 ]; then
  cache warm "$DATA"
  timed bound-read-warm sh -c "tar -cf - -C $DATA . | cat >/dev/null" || failed=1
  cache warm "$DATA"
  timed bound-zstd-warm sh -c "tar -cf - -C $DATA . | zstd -3 -T0 -q >/dev/null" || failed=1
  for step in first incr restore; do
    if [ $step = incr ]; then
      # RUNS no-change incrementals per tool, the order rotated each round, medians: the tool that runs
      # right after another's first backup (hundreds of MB just written) pays for it, and one run
      # decided the ratio before
      for run in $(seq 1 "$RUNS"); do
        # shellcheck disable=SC2086 # tool names have no spaces
        for tool in $(rotated "$run" $TOOLS); do
          [ -n "${ok_tool[$tool]:-}" ] || continue
          cache warm "$DATA"
          run_step "$tool" incr "$tool-incr-warm-$run" || { failed=1; unset "ok_tool[$tool]"; }
        done
      done
      for tool in $TOOLS; do
        [ -n "${ok_tool[$tool]:-}" ] || continue
        for k in "" ",cpu" ",rss"; do
          R[$tool-incr-warm$k]=$(for run in $(seq 1 "$RUNS"); do echo "${R[$tool-incr-warm-$run$k]}"; done | median)
        done
        echo "figure: $tool-incr-warm: median ${R[$tool-incr-warm]}s, CPU ${R[$tool-incr-warm,cpu]}s ($RUNS runs)"
      done
      continue
    fi
    for tool in $TOOLS; do
      [ -n "${ok_tool[$tool]:-}" ] || continue
      if [ $step = restore ]; then cache warm "$W/$tool-repo"; fresh_fs "$W/$tool-restore"; else cache warm "$DATA"; fi
      # A tool whose step failed gets no ratios: a failed run must not "meet" a target.
      run_step "$tool" "$step" "$tool-$step-warm" || { failed=1; unset "ok_tool[$tool]"; }
    done
  done
  for tool in $TOOLS; do
    [ -n "${ok_tool[$tool]:-}" ] || continue
    out=$W/$tool-restore
    case $tool in sk-*) restored=$out/$(basename "$DATA") ;; *) restored=$out$DATA ;; esac
    rb=$(file_bytes "$restored")
    rf=$(find "$restored" -type f 2>/dev/null | wc -l)
    if [ "$rf" = "$data_files" ] && [ "$rb" = "$data_file_bytes" ]; then echo "figure: $tool restore verified ($rf files, $rb bytes)"
    else echo "figure: $tool restore INCOMPLETE ($rf files, $rb bytes)"; failed=1; fi
    R[$tool,size]=$(du -sb --apparent-size "$W/$tool-repo" | cut -f1)
    echo "figure: $tool repository size: ${R[$tool,size]} bytes"
    fresh_fs_release "$out"
  done
fi

# --- cold cache -----------------------------------------------------------------
if [ $can_drop = 1 ]; then
  cache cold; timed bound-read-cold sh -c "tar -cf - -C $DATA . | cat >/dev/null" || failed=1
  cache cold; timed bound-zstd-cold sh -c "tar -cf - -C $DATA . | zstd -3 -T0 -q >/dev/null" || failed=1
  for tool in $TOOLS; do
    case $tool in sk-*) ;; *) continue ;; esac
    # shellcheck disable=SC2046
    $(step_cmd "$tool" init -cold) >/dev/null 2>&1 || { echo "$tool init (cold) failed"; failed=1; continue; }
    cache cold; run_step "$tool" first "$tool-first-cold" -cold || failed=1
  done
  for tool in $TOOLS; do
    case $tool in borg) continue ;; esac  # the metadata pass, cold: restic and both engines
    [ -n "${ok_tool[$tool]:-}" ] || continue
    cache cold; run_step "$tool" incr "$tool-incr-cold" || failed=1
  done
  # Many small files, cold: uring vs threads, alternating, fresh repositories.
  for run in $(seq 1 "$RUNS"); do
    order="sk-uring sk-threads"; [ $((run % 2)) = 0 ] && order="sk-threads sk-uring"
    for tool in $order; do
      rm -rf "$W/$tool-repo-small"
      # shellcheck disable=SC2046
      $(step_cmd "$tool" init -small) >/dev/null 2>&1 || { failed=1; continue; }
      cache cold; run_step "$tool" small "$tool-small-cold-$run" -small || failed=1
    done
  done
else
  echo "figure: cold-cache part skipped (needs root and a writable /proc/sys/vm/drop_caches; SK_BENCH_COLD=${SK_BENCH_COLD:-1})"
fi

# --- summary --------------------------------------------------------------------
echo
printf '%-11s %10s %10s %10s %10s %10s %10s %9s\n' tool "first s" "MiB/s" "incr s" "restore s" "MiB/s" "repo MiB" "RSS MiB"
for tool in $TOOLS; do
  m=0; for s in first incr restore; do k=${R[$tool-$s-warm,rss]:-0}; [ "$k" -gt "$m" ] && m=$k; done
  R[$tool,peak]=$m
  printf '%-11s %10s %10s %10s %10s %10s %10s %9s\n' "$tool" "${R[$tool-first-warm]:-?}" \
    "$(mibs "$data_bytes" "${R[$tool-first-warm]:-0}")" "${R[$tool-incr-warm]:-?}" "${R[$tool-restore-warm]:-?}" \
    "$(mibs "$data_bytes" "${R[$tool-restore-warm]:-0}")" "$(( ${R[$tool,size]:-0} / 1048576 ))" "$((m / 1024))"
done
for b in read zstd; do
  for c in warm cold; do
    [ -n "${R[bound-$b-$c]:-}" ] && echo "figure: $b bound ($c): ${R[bound-$b-$c]}s = $(mibs "$data_bytes" "${R[bound-$b-$c]}") MiB/s"
  done
done
echo

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ge() { awk -v r="$1" -v t="$2" 'BEGIN { print (r != "n/a" && r >= t) ? "meets" : "MISSES" }'; }
le() { awk -v r="$1" -v t="$2" 'BEGIN { print (r != "n/a" && r <= t) ? "meets" : "MISSES" }'; }
for sk in sk-uring sk-threads; do
  [ -n "${ok_tool[$sk]:-}" ] && [ "${SK_BENCH_WARM:-1}" = 1 ] || continue
  if [ -n "${ok_tool[restic]:-}" ]; then
    r=$(ratio "${R[restic-first-warm]:-0}" "${R[$sk-first-warm]:-0}")
    echo "result: $sk first backup throughput / restic = $r (target >= 2.5: $(ge "$r" 2.5))"
    r=$(ratio "${R[restic-restore-warm]:-0}" "${R[$sk-restore-warm]:-0}")
    echo "result: $sk restore throughput / restic = $r (target >= 3.0: $(ge "$r" 3.0))"
    r=$(ratio "${R[$sk-incr-warm]:-0}" "${R[restic-incr-warm]:-0}")
    echo "result: $sk no-change incremental time / restic = $r (target <= 0.20: $(le "$r" 0.20))"
    echo "result: $sk no-change incremental CPU time / restic = $(ratio "${R[$sk-incr-warm,cpu]:-0}" "${R[restic-incr-warm,cpu]:-0}") (for information: what an idle machine would show)"
    if [ -n "${R[restic-incr-cold]:-}" ]; then
      r=$(ratio "${R[$sk-incr-cold]:-0}" "${R[restic-incr-cold]:-0}")
      echo "result: $sk no-change incremental time, cold cache / restic = $r (for information)"
    fi
    r=$(ratio "${R[$sk,peak]:-0}" "${R[restic,peak]:-0}")
    echo "result: $sk peak RSS / restic = $r (target <= 1.00: $(le "$r" 1.00))"
  fi
  r=$(ratio "${R[bound-zstd-warm]:-0}" "${R[$sk-first-warm]:-0}")
  echo "result: $sk first backup throughput / zstd -3 -T0 bound = $r (target >= 0.80: $(ge "$r" 0.80))"
  r=$(ratio "${R[bound-read-warm]:-0}" "${R[$sk-first-warm]:-0}")
  echo "result: $sk first backup throughput / read bound = $r (for information)"
  if [ -n "${R[$sk-first-cold]:-}" ]; then
    r=$(ratio "${R[bound-zstd-cold]:-0}" "${R[$sk-first-cold]:-0}")
    echo "result: $sk first backup, cold cache / zstd bound (cold) = $r (for information)"
  fi
  echo "result: $sk no-change incremental: $(awk -v s="${R[$sk-incr-warm]:-0}" -v n="$data_files" \
    'BEGIN { printf "%.1f", s * 1e6 / n }') us per file warm$([ -n "${R[$sk-incr-cold]:-}" ] && awk -v s="${R[$sk-incr-cold]}" -v n="$data_files" \
    'BEGIN { printf ", %.1f us per file cold", s * 1e6 / n }') (whole run, $data_files files)"
done
if [ -n "${R[sk-uring-small-cold-1]:-}" ] && [ -n "${R[sk-threads-small-cold-1]:-}" ]; then
  mu=$(for i in $(seq 1 "$RUNS"); do echo "${R[sk-uring-small-cold-$i]:-}"; done | median)
  mt=$(for i in $(seq 1 "$RUNS"); do echo "${R[sk-threads-small-cold-$i]:-}"; done | median)
  echo "figure: cold small files: uring median ${mu}s, threads median ${mt}s ($RUNS runs each)"
  r=$(ratio "$mt" "$mu")
  echo "result: cold many-small-files throughput uring / threads = $r (target >= 1.2: $(ge "$r" 1.2))"
fi
# --- restore matrix (issue 15): two data sets x own/fresh filesystem, median of RUNS --
if [ "${SK_BENCH_MATRIX:-1}" = 1 ]; then
  restore_matrix
fi

echo "figure: load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $failed
