#!/usr/bin/env bash
# Issue 6 benchmark: snapkeep's S3 backend against radosgw on 127.0.0.1, side
# by side with snapkeep's local-directory backend and restic's S3 backend
# (restic -r s3:http://127.0.0.1:PORT/bucket/restic) against the same server,
# in one run.
#
# Data set: the same as bench/repository.sh (copies of
# /usr/lib/x86_64-linux-gnu, /usr/share/doc and /usr/share/locale in
# $SK_BENCH_DATA, default /var/tmp/snapkeep-bench-data; built here the same
# way if that script has not built it yet).
#
# Server: a throw-away single-node Ceph cluster (tests/lib/ceph.sh) under the
# scratch directory, radosgw (beast) on a free port; stopped at the end.
#
# Per backend: first backup, a no-change incremental (S3 only) and full
# restore (wall time -> MiB/s of the data set), bytes stored, and HTTP requests counted from radosgw's request log
# (the same count for both tools), per GiB stored. Every tool starts each
# step with the same warm page cache of the data set. Restores run
# SK_BENCH_RUNS times (default 3), the tools in rotating order, and the
# median counts.
#
# Targets (issue 6, issue 15): snapkeep S3 backup throughput >= 2x restic's
# S3 throughput, restore >= 1.5x restic's and close to snapkeep's local
# restore of the same data, and requests per GiB stored <= restic's.
#
# The bound: the store runs on the same cores as the tools. Each step reports
# the tool's CPU time and the store's (radosgw, ceph-osd and ceph-mon, from
# /proc/PID/stat), and "store-get" downloads every pack of snapkeep's
# repository with curl (8 transfers at a time, to /dev/null): what serving
# the bytes costs the machine before any tool does anything with them.
#
# Environment: SNAPKEEP, SNAPKEEP_OLD (a second snapkeep binary that also
# restores the S3 backup, as "snapkeep-s3-old": the cost or gain of a change
# in the same run; it must read the repository's format), SK_BENCH_DATA,
# SK_BENCH_WORK (default /var/tmp), SK_BENCH_RUNS, SNAPKEEP_S3_CONNECTIONS
# (default 8).
set -u
. "$(dirname "$0")/lib/dataset.sh"
. "$SK_SRC/tests/lib/ceph.sh"
. "$(dirname "$0")/lib/stats.sh"

bench_need_snapkeep
command -v restic >/dev/null || { echo "SKIP: restic missing"; exit 77; }
ceph_have || { echo "SKIP: Ceph not installed (make deps)"; exit 77; }

bench_dataset   # the same data set as bench/repository.sh (lib/dataset.sh)

W=$(mktemp -d "${SK_BENCH_WORK:-/var/tmp}/sk-bench-s3.XXXXXX")
trap 'for o in "$W"/out-*; do fresh_fs_release "$o"; done; ceph_stop; rm -rf "$W"' EXIT
ceph_start "$W/ceph" >"$W/ceph-start.log" 2>&1 || { echo "FAIL: cannot start Ceph"; cat "$W/ceph-start.log"; exit 1; }
echo "figure: radosgw $(radosgw --version | awk '{print $3}') on $SNAPKEEP_S3_ENDPOINT"
printf 'bench passphrase\n' >"$W/pass"
export SNAPKEEP_PASSWORD_FILE=$W/pass RESTIC_PASSWORD_FILE=$W/pass RESTIC_CACHE_DIR=$W/restic-cache
export SNAPKEEP_CACHE_DIR=$W/sk-cache
SKOBJ=$BUILD_DIR/tools/skobj
S3SK=s3://$CEPH_BUCKET/snapkeep
RESTIC_REPO=s3:$SNAPKEEP_S3_ENDPOINT/$CEPH_BUCKET/restic

warm() { tar cf - "$@" 2>/dev/null | cat >/dev/null; }
# CPU seconds (user + system) the store's processes have used so far
store_cpu() {
  local f pid tck
  tck=$(getconf CLK_TCK)
  for f in "$CEPH_DIR"/run/*.pid; do
    pid=$(cat "$f" 2>/dev/null) || continue
    [ -r "/proc/$pid/stat" ] || continue
    # fields 14 and 15 after the command name, which may hold spaces: cut at the last ')'
    sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'
  done | awk -v t="$tck" '{ s += $1 } END { printf "%.2f", s / t }'
}
declare -A R
timed() { # NAME STEP CMD...
  local name=$1 step=$2 n0 t0 t1 c0 rc; shift 2
  n0=$(ceph_rgw_requests); c0=$(store_cpu); t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$W/cpu" "$@" >"$W/$name-$step.log" 2>&1; rc=$?
  t1=$(date +%s.%N)
  # the last line (a failed command's has "Command exited with non-zero status N" above it)
  R[$name,$step,cpu]=$(awk 'END { printf "%.2f", $1 + $2 }' "$W/cpu" 2>/dev/null)
  R[$name,$step,scpu]=$(awk -v a="$c0" -v b="$(store_cpu)" 'BEGIN { printf "%.2f", b - a }')
  R[$name,$step]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  R[$name,$step,req]=$(( $(ceph_rgw_requests) - n0 ))
  R[$name,$step,mibs]=$(awk -v s="${R[$name,$step]}" -v b="$data_bytes" 'BEGIN { printf "%.1f", b / 1048576 / s }')
  echo "figure: $name $step: ${R[$name,$step]}s (${R[$name,$step,mibs]} MiB/s), ${R[$name,$step,req]} requests, CPU ${R[$name,$step,cpu]}s + the store's ${R[$name,$step,scpu]}s${rc:+, exit $rc}" | sed 's/, exit 0$//'
  [ $rc -eq 0 ] || { tail -5 "$W/$name-$step.log"; return 1; }
}
verify() { # NAME DIR
  local rb rf
  rb=$(file_bytes "$2"); rf=$(find "$2" -type f 2>/dev/null | wc -l)
  if [ "$rf" = "$data_files" ] && [ "$rb" = "$data_file_bytes" ]; then echo "figure: $1 restore verified ($rf files, $rb bytes)"
  else echo "figure: $1 restore INCOMPLETE ($rf files, $rb bytes)"; failed=1; fi
}
failed=0

"$SNAPKEEP" --repo "$S3SK" repo init -q >"$W/init-s3.log" 2>&1 || { echo "snapkeep S3 init failed"; cat "$W/init-s3.log"; exit 1; }
"$SNAPKEEP" --repo "$W/local" repo init -q >"$W/init-local.log" 2>&1 || { echo "snapkeep local init failed"; exit 1; }
restic -r "$RESTIC_REPO" init --repository-version 2 >"$W/init-restic.log" 2>&1 || { echo "restic init failed"; cat "$W/init-restic.log"; exit 1; }

for name in snapkeep-s3 snapkeep-local restic-s3; do
  warm "$DATA"
  case $name in
    snapkeep-s3) timed $name backup "$SNAPKEEP" --repo "$S3SK" --no-progress backup -q "$DATA" || failed=1 ;;
    snapkeep-local) timed $name backup "$SNAPKEEP" --repo "$W/local" --no-progress backup -q "$DATA" || failed=1 ;;
    restic-s3) timed $name backup restic -r "$RESTIC_REPO" backup --compression auto "$DATA" || failed=1 ;;
  esac
done
# A no-change incremental reads the parent's trees from the store (through
# the repository's read-ahead cache on S3) and stores nothing new: time and
# requests, for information.
for name in snapkeep-s3 restic-s3; do
  warm "$DATA"
  case $name in
    snapkeep-s3) timed $name incremental "$SNAPKEEP" --repo "$S3SK" --no-progress backup -q "$DATA" || failed=1 ;;
    restic-s3) timed $name incremental restic -r "$RESTIC_REPO" backup --compression auto "$DATA" || failed=1 ;;
  esac
done
# The store's bound: every pack of snapkeep's repository, downloaded and thrown away.
"$SKOBJ" "$S3SK" ls data/ | while read -r name _; do
  printf 'url = "%s/%s/snapkeep/%s"\noutput = "/dev/null"\n' "$SNAPKEEP_S3_ENDPOINT" "$CEPH_BUCKET" "$name"
done >"$W/packs.curl"
echo "figure: store-get: $(grep -c '^url' "$W/packs.curl") packs of snapkeep's repository"
store_get=(curl -sS --fail --parallel --parallel-max 8 --aws-sigv4 "aws:amz:us-east-1:s3"
  --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -K "$W/packs.curl")
RUNS=${SK_BENCH_RUNS:-3}
restorers=(snapkeep-s3 snapkeep-local restic-s3 store-get)
[ -n "${SNAPKEEP_OLD:-}" ] && restorers+=(snapkeep-s3-old)
declare -A T TC TS
for ((run = 0; run < RUNS; run++)); do
  # rotate the order, so that no tool always follows the same one
  order=("${restorers[@]:run % ${#restorers[@]}}" "${restorers[@]:0:run % ${#restorers[@]}}")
  for name in "${order[@]}"; do
    out=$W/out-$name; fresh_fs "$out"
    case $name in
      store-get) timed $name restore "${store_get[@]}" || failed=1 ;;
      snapkeep-s3) timed $name restore "$SNAPKEEP" --repo "$S3SK" --no-progress restore -q latest --target "$out" || failed=1
        verify $name "$out/$(basename "$DATA")" ;;
      snapkeep-s3-old) timed $name restore "$SNAPKEEP_OLD" --repo "$S3SK" --no-progress restore -q latest --target "$out" || failed=1
        verify $name "$out/$(basename "$DATA")" ;;
      snapkeep-local) timed $name restore "$SNAPKEEP" --repo "$W/local" --no-progress restore -q latest --target "$out" || failed=1
        verify $name "$out/$(basename "$DATA")" ;;
      restic-s3) timed $name restore restic -r "$RESTIC_REPO" restore latest --target "$out" || failed=1
        verify $name "$out$DATA" ;;
    esac
    T[$name]+="${R[$name,restore]} "
    TC[$name]+="${R[$name,restore,cpu]} "
    TS[$name]+="${R[$name,restore,scpu]} "
    fresh_fs_release "$out"
  done
done
for name in "${restorers[@]}"; do
  # shellcheck disable=SC2086 # lists of numbers
  R[$name,restore]=$(printf '%s\n' ${T[$name]} | median)
  # shellcheck disable=SC2086
  R[$name,restore,cpu]=$(printf '%s\n' ${TC[$name]} | median) R[$name,restore,scpu]=$(printf '%s\n' ${TS[$name]} | median)
  R[$name,restore,mibs]=$(awk -v s="${R[$name,restore]}" -v b="$data_bytes" 'BEGIN { printf "%.1f", b / 1048576 / s }')
  echo "figure: $name restore: median ${R[$name,restore]}s of ${T[$name]}(${R[$name,restore,mibs]} MiB/s), CPU ${R[$name,restore,cpu]}s + the store's ${R[$name,restore,scpu]}s (medians)"
done

R[snapkeep-s3,stored]=$("$SKOBJ" "$S3SK" du "")
R[restic-s3,stored]=$("$SKOBJ" "s3://$CEPH_BUCKET/restic" du "")
R[snapkeep-local,stored]=$(du -sb --apparent-size "$W/local" | cut -f1)
for name in snapkeep-s3 restic-s3; do
  R[$name,rpg]=$(awk -v n="$(( ${R[$name,backup,req]:-0} + ${R[$name,restore,req]:-0} ))" -v s="${R[$name,stored]}" \
    'BEGIN { printf "%.0f", (s > 0 ? n / (s / 1073741824) : 0) }')
  R[$name,bpg]=$(awk -v n="${R[$name,backup,req]:-0}" -v s="${R[$name,stored]}" 'BEGIN { printf "%.0f", (s > 0 ? n / (s / 1073741824) : 0) }')
done
echo
printf '%-15s %11s %11s %13s %10s %10s %14s\n' backend "backup MiB/s" "restore MiB/s" "stored MiB" "backup req" "restore req" "req/GiB stored"
for name in snapkeep-s3 snapkeep-local restic-s3 ${SNAPKEEP_OLD:+snapkeep-s3-old} store-get; do
  printf '%-15s %11s %11s %13s %10s %10s %14s\n' "$name" "${R[$name,backup,mibs]:-?}" "${R[$name,restore,mibs]:-?}" \
    "$(( ${R[$name,stored]:-0} / 1048576 ))" "${R[$name,backup,req]:--}" "${R[$name,restore,req]:--}" "${R[$name,rpg]:--}"
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ge() { awk -v r="$1" -v t="$2" 'BEGIN { print (r != "n/a" && r >= t) ? "meets" : "MISSES" }'; }
le() { awk -v r="$1" -v t="$2" 'BEGIN { print (r != "n/a" && r <= t) ? "meets" : "MISSES" }'; }
for step in backup restore; do
  r=$(ratio "${R[snapkeep-s3,$step,mibs]:-0}" "${R[restic-s3,$step,mibs]:-0}")
  t=2.00; [ $step = restore ] && t=1.50
  echo "result: $step throughput snapkeep-s3/restic-s3 = $r (target >= $t: $(ge "$r" $t))"
  echo "result: $step throughput snapkeep-s3/snapkeep-local = $(ratio "${R[snapkeep-s3,$step,mibs]:-0}" "${R[snapkeep-local,$step,mibs]:-0}") (for information)"
done
[ -n "${SNAPKEEP_OLD:-}" ] &&
  echo "result: restore throughput snapkeep-s3/snapkeep-s3-old = $(ratio "${R[snapkeep-s3,restore,mibs]:-0}" "${R[snapkeep-s3-old,restore,mibs]:-0}") (the change against $SNAPKEEP_OLD)"
echo "result: no-change incremental snapkeep-s3/restic-s3 time = $(ratio "${R[snapkeep-s3,incremental]:-0}" "${R[restic-s3,incremental]:-0}")," \
  "requests ${R[snapkeep-s3,incremental,req]:-?} vs ${R[restic-s3,incremental,req]:-?} (for information)"
# On a machine whose cores the store shares, a step cannot take less wall time than all the CPU it
# costs (the tool's and the store's) spread over every core.
cores=$(nproc)
for name in snapkeep-s3 restic-s3 store-get; do
  for step in backup restore; do
    [ -n "${R[$name,$step,cpu]:-}" ] || continue
    echo "result: $name $step: ${R[$name,$step]}s; CPU ${R[$name,$step,cpu]}s + the store's ${R[$name,$step,scpu]}s over $cores cores" \
      "= at least $(awk -v a="${R[$name,$step,cpu]}" -v b="${R[$name,$step,scpu]}" -v c="$cores" 'BEGIN { printf "%.2f", (a + b) / c }')s (for information)"
  done
done
r=$(ratio "${R[snapkeep-s3,rpg]:-0}" "${R[restic-s3,rpg]:-0}")
echo "result: requests per GiB stored (backup+restore) snapkeep-s3 ${R[snapkeep-s3,rpg]} vs restic-s3 ${R[restic-s3,rpg]}: ratio $r (target <= 1.00: $(le "$r" 1.00))"
echo "result: backup requests per GiB stored snapkeep-s3 ${R[snapkeep-s3,bpg]} vs restic-s3 ${R[restic-s3,bpg]} (for information)"
echo "result: stored bytes snapkeep-s3/restic-s3 = $(ratio "${R[snapkeep-s3,stored]}" "${R[restic-s3,stored]}") (for information)"
exit $failed
