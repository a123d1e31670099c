#!/usr/bin/env bash
# Issue 3 benchmark: snapkeep vs restic vs borg, side by side in one run, on
# the same data set of real files.
#
# Data set (built once, cached): copies of /usr/lib/x86_64-linux-gnu,
# /usr/share/doc and /usr/share/locale of the machine (about 1.4 GiB of
# shared libraries, documentation and message catalogues; symlinks kept) in
# $SK_BENCH_DATA (default /var/tmp/snapkeep-bench-data). A marker file records
# the sources and total size; delete the directory to rebuild it.
#
# Per tool: repository init, first backup, no-change incremental backup, full
# restore (into an empty directory), repository size (du --apparent-size), and
# peak RSS of each step (/usr/bin/time). Settings, as issue 3 asks:
#   snapkeep  defaults (repo init without options)
#   restic    0.14, repository version 2, --compression auto, RESTIC_PASSWORD_FILE
#   borg      1.2, init -e repokey, create --compression zstd,3, BORG_PASSPHRASE
# Before each timed step the data set (or repository) is read once, so every
# tool starts with the same warm page cache. SK_BENCH_DROP_CACHES=1 drops the
# page cache before each step instead (global: only on an otherwise idle box).
#
# Output: one "figure:" line per measurement, a table, and "result:" lines with
# the ratios against restic and the issue's targets (times <= restic, repo
# size <= 1.05x restic, peak RSS <= restic).
#
# Environment: SNAPKEEP (default $BUILD_DIR/snapkeep), SK_BENCH_DATA (no spaces),
# SK_BENCH_WORK (scratch, default /var/tmp), SK_BENCH_TOOLS (default
# "snapkeep restic borg").
set -u
. "$(dirname "$0")/lib/dataset.sh"
TOOLS=${SK_BENCH_TOOLS:-snapkeep restic borg}

bench_need_snapkeep time
bench_need_tools $TOOLS

# --- the data set (lib/dataset.sh) ----------------------------------------------
bench_dataset
[ "$data_bytes" -ge "${SK_BENCH_MIN_BYTES:-1073741824}" ] || { echo "data set smaller than 1 GiB (issue 3 asks for at least that)"; exit 1; }

bench_workdir repo

warm() { # read a tree so that every tool starts with the same cache state
  if [ "${SK_BENCH_DROP_CACHES:-0}" = 1 ]; then sync; echo 3 >/proc/sys/vm/drop_caches
  else tar cf - "$@" 2>/dev/null | cat >/dev/null; fi
}

declare -A R
# timed TOOL STEP CMD...: run CMD under /usr/bin/time, record seconds and KiB.
timed() {
  local tool=$1 step=$2; shift 2
  /usr/bin/time -f '%e %M' -o "$W/time" "$@" >"$W/$tool-$step.log" 2>&1
  local rc=$? secs kib
  # /usr/bin/time prefixes "Command exited with non-zero status N" on failure.
  secs=$(tail -1 "$W/time" | cut -d' ' -f1); kib=$(tail -1 "$W/time" | cut -d' ' -f2)
  R[$tool,$step]=$secs R[$tool,$step,rss]=$kib
  echo "figure: $tool $step: ${secs}s, peak RSS $((kib / 1024)) MiB${rc:+ (exit $rc)}" | sed 's/ (exit 0)//'
  if [ $rc -ne 0 ]; then echo "$tool $step failed:"; tail -20 "$W/$tool-$step.log"; return 1; fi
}

failed=0
# Step-major order (every tool's first backup, then every tool's incremental,
# then every restore) so that a change in the machine's background load
# during the run hits all tools alike rather than one of them.
step_cmd() { # TOOL STEP: the command line of one step
  local tool=$1 step=$2 repo=$W/$1-repo out=$W/$1-restore
  case $tool/$step in
    snapkeep/init) echo "$SNAPKEEP --repo $repo repo init -q" ;;
    snapkeep/first|snapkeep/incr) echo "$SNAPKEEP --repo $repo --no-progress backup -q $DATA" ;;
    snapkeep/restore) echo "$SNAPKEEP --repo $repo --no-progress restore -q latest --target $out" ;;
    *) peer_step_cmd "$tool" "$step" "$repo" "$out" second second ;;
  esac
}
declare -A ok_tool
for tool in $TOOLS; do mkdir -p "$W/$tool-restore"; done
bench_init_tools $TOOLS
for step in first incr restore; do
  for tool in $TOOLS; do
    [ -n "${ok_tool[$tool]:-}" ] || continue
    if [ $step = restore ]; then warm "$W/$tool-repo"; fresh_fs "$W/$tool-restore"; else warm "$DATA"; fi
    # borg extracts into the current directory; no subshell, timed records into R.
    cd "$W/$tool-restore" || exit 1
    # shellcheck disable=SC2046
    timed "$tool" "$step" $(step_cmd "$tool" "$step") || failed=1
    cd "$W" || exit 1
  done
done
for tool in $TOOLS; do
  [ -n "${ok_tool[$tool]:-}" ] || continue
  repo=$W/$tool-repo out=$W/$tool-restore
  case $tool in
    snapkeep) restored=$out/$(basename "$DATA") ;;
    *) restored=$out$DATA ;;
  esac
  R[$tool,size]=$(du -sb --apparent-size "$repo" | cut -f1)
  echo "figure: $tool repository size: ${R[$tool,size]} bytes"
  # The restore must be complete: same number of bytes and files as the data set.
  rb=$(file_bytes "$restored")
  rf=$(find "$restored" -type f 2>/dev/null | wc -l)
  if [ "$rf" = "$data_files" ] && [ "$rb" = "$data_file_bytes" ]; then echo "figure: $tool restore verified ($rf files, $rb bytes)"
  else echo "figure: $tool restore INCOMPLETE ($rf files, $rb bytes)"; failed=1; fi
  fresh_fs_release "$out"
done

peak() { local m=0 s; for s in first incr restore; do [ "${R[$1,$s,rss]:-0}" -gt "$m" ] && m=${R[$1,$s,rss]}; done; echo "$m"; }
echo
printf '%-9s %12s %12s %12s %14s %14s\n' tool "first (s)" "incr (s)" "restore (s)" "repo (MiB)" "peak RSS (MiB)"
for tool in $TOOLS; do
  printf '%-9s %12s %12s %12s %14s %14s\n' "$tool" "${R[$tool,first]:-?}" "${R[$tool,incr]:-?}" "${R[$tool,restore]:-?}" \
    "$(( ${R[$tool,size]:-0} / 1048576 ))" "$(( $(peak "$tool") / 1024 ))"
done
echo

# Ratios against restic and the targets of issue 3.
if [[ " $TOOLS " == *" snapkeep "* && " $TOOLS " == *" restic "* ]]; then
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
  verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r != "n/a" && r <= t) ? "meets" : "MISSES" }'; }
  for step in first incr restore; do
    r=$(ratio "${R[snapkeep,$step]:-0}" "${R[restic,$step]:-0}")
    echo "result: $step time snapkeep/restic = $r (target <= 1.00: $(verdict "$r" 1.00))"
  done
  r=$(ratio "${R[snapkeep,size]:-0}" "${R[restic,size]:-0}")
  echo "result: repository size snapkeep/restic = $r (target <= 1.05: $(verdict "$r" 1.05))"
  r=$(ratio "$(peak snapkeep)" "$(peak restic)")
  echo "result: peak RSS snapkeep/restic = $r (target <= 1.00: $(verdict "$r" 1.00))"
  if [[ " $TOOLS " == *" borg "* ]]; then
    for step in first incr restore; do
      echo "result: $step time snapkeep/borg = $(ratio "${R[snapkeep,$step]:-0}" "${R[borg,$step]:-0}") (for information)"
    done
    echo "result: repository size snapkeep/borg = $(ratio "${R[snapkeep,size]:-0}" "${R[borg,size]:-0}") (for information)"
  fi
fi
exit $failed
