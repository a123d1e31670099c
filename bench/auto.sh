#!/usr/bin/env bash
# Issue 12's benchmark: what automatic backups cost the node they protect,
# side by side in one run (a real containerd, runc and snapkeepd).
#
#  1. Snapshot-op latency: Prepare+Commit+Remove through containerd (the Go
#     client tests/go/snapbench), p50 and p99, with automation off
#     ([automation] enabled = false) and with it on while a scheduled backup
#     of a container holding 1 GB of new data runs. Rounds alternate between
#     the two daemons. Targets: p50 <= 1.2x, p99 <= 2x the idle figures.
#  2. A busy container (busybox gzip of random data in a loop, one core)
#     counts its iterations per second with no backup running and while a
#     scheduled backup of 1 GB runs at the default priority (SCHED_IDLE, idle
#     I/O class). Target: its throughput drops by no more than 15%.
#  3. The idle scheduler on 1,000 containers' snapshots: snapkeepd's CPU time
#     and memory over a measured window with 1,000 sources and with none
#     (the same daemon before the snapshots exist), extrapolated to a day (the
#     scheduler's work per day is the snapshot-list scan every scan_interval
#     and the few next-run computations; nothing else runs while idle).
#
# Environment: SNAPKEEPD, SNAPKEEP, SK_SRC, BUILD_DIR; SK_BENCH_ROUNDS
# (latency rounds per side, default 3), SK_BENCH_GB (data per backup, default
# 1), SK_BENCH_IDLE_SECONDS (idle window, default 60), SK_BENCH_SOURCES
# (default 1000).
set -u
here=$(cd "$(dirname "$0")" && pwd)
SK_SRC=${SK_SRC:-$(cd "$here/.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
export SK_NAMESPACE=skbauto$$
IDLE_NS=skbidle$$
. "$SK_SRC/tests/lib/nodes.sh"
nodes_setup
ROUNDS=${SK_BENCH_ROUNDS:-3}
GB=${SK_BENCH_GB:-1}
IDLE=${SK_BENCH_IDLE_SECONDS:-60}
NSRC=${SK_BENCH_SOURCES:-1000}
BUILD_DIR=$BUILD_DIR bash "$SK_SRC/tests/go/build.sh" snapbench >/dev/null 2>&1
SNAPBENCH=$BUILD_DIR/go-bin/snapbench
[ -x "$SNAPBENCH" ] || sk_skip "tests/go/snapbench could not be built (golang-go, containerd Go sources)"

. "$SK_SRC/bench/lib/stats.sh"
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$1/stat"; }
rss_of() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

cat >"$SK_TMP/on.conf" <<EOF
[automation]
scan_interval = 1s
[policy big]
label = containerd.io/snapshot/app=big
interval = 1d
[policy idle]
namespaces = $IDLE_NS
interval = 1d
EOF
printf '[automation]\nenabled = false\n' >"$SK_TMP/off.conf"
run_with() { # CONF: (re)start node a's snapkeepd with CONF
  NODE_ARGS[a]="--config $1 --log-level info"
  if [ -n "${SK_PID_D[a]:-}" ]; then node_snapkeepd_restart a; else node_start a ${NODE_ARGS[a]}; fi
}
run_with "$SK_TMP/on.conf" || { echo "node A does not start" >&2; exit 1; }
sk_ctr a images import --snapshotter snapkeep "$NODES_IMG_TAR" >/dev/null || { echo "import failed" >&2; exit 1; }
TOP=$(sk_ctr a snapshots --snapshotter snapkeep ls | awk '$3 == "Committed" {print $1}' | tail -1)
LOG=$(sk_dir a)/snapkeepd.log

# Containers holding GB of new random data each, one per backup to measure
# (new data: every backup reads, chunks and stores all of it).
n_big=$((ROUNDS + 1))
for i in $(seq $n_big); do
  sk_ctr a run -d --snapshotter snapkeep --snapshotter-label containerd.io/snapshot/app=big "$NODES_IMG" big$i \
    sleep 100000 >/dev/null || { echo "start big$i failed" >&2; exit 1; }
  node_exec a big$i "dd if=/dev/urandom of=/bigdata bs=1M count=$((GB * 1024)) 2>/dev/null || echo "# dd into big$i failed" >&2"
done
sync # the data's writeback must not land in the first measurement
echo "figure: $n_big containers with ${GB} GiB of new data each; image top layer $TOP"
backup_of() { # CID: run-now its snapshot, and wait until the backup runs
  local key
  key=$("$SNAPKEEP" --no-progress daemon schedule --json --admin-socket "$(node_admin a)" |
        jq -r --arg c "/$1" '.sources[] | select(.source | endswith($c)) | .source')
  "$SNAPKEEP" --no-progress -q daemon run-now "$key" --admin-socket "$(node_admin a)" >/dev/null
  for _ in $(seq 50); do
    [ "$("$SNAPKEEP" --no-progress daemon schedule --json --admin-socket "$(node_admin a)" |
         jq -r --arg c "/$1" '.sources[] | select(.source | endswith($c)) | .state')" = running ] && return 0
    sleep 0.1
  done
  return 1
}
backup_done() { grep -q "scheduled backup of [^ ]*/$1 (policy big): backup" "$LOG"; }
backup_secs() { grep -o "scheduled backup of [^ ]*/$1 (policy big): backup [0-9a-f]* in [0-9.]* s" "$LOG" | awk '{print $(NF-1)}'; }

# --- 1. latency ---------------------------------------------------------------------------
lat() { sync; "$SNAPBENCH" -address "$(sk_csock a)" -snapshotter snapkeep -namespace "$SK_NAMESPACE" -parent "$TOP" -n 300; }
declare -a off50 off99 on50 on99
big=1
for r in $(seq "$ROUNDS"); do
  run_with "$SK_TMP/off.conf" || exit 1
  out=$(lat) || { echo "snapbench failed: $out" >&2; exit 1; }
  off50+=("$(grep -o 'median_us=[0-9]*' <<<"$out" | cut -d= -f2)"); off99+=("$(grep -o 'p99_us=[0-9]*' <<<"$out" | cut -d= -f2)")
  run_with "$SK_TMP/on.conf" || exit 1
  sleep 2 # the first scan
  backup_of big$big || echo "# round $r: the backup of big$big was not seen running"
  out=$(lat) || { echo "snapbench failed: $out" >&2; exit 1; }
  still=running; backup_done big$big && still=finished
  on50+=("$(grep -o 'median_us=[0-9]*' <<<"$out" | cut -d= -f2)"); on99+=("$(grep -o 'p99_us=[0-9]*' <<<"$out" | cut -d= -f2)")
  sk_retry 120 backup_done big$big
  sync
  echo "# round $r: off p50 ${off50[-1]} us p99 ${off99[-1]} us; during the backup of big$big ($(backup_secs big$big) s, $still when the loop ended): p50 ${on50[-1]} us p99 ${on99[-1]} us"
  big=$((big + 1))
done
m_off50=$(printf '%s\n' "${off50[@]}" | median); m_off99=$(printf '%s\n' "${off99[@]}" | median)
m_on50=$(printf '%s\n' "${on50[@]}" | median); m_on99=$(printf '%s\n' "${on99[@]}" | median)
r50=$(ratio "$m_on50" "$m_off50"); r99=$(ratio "$m_on99" "$m_off99")
echo "figure: Prepare+Commit+Remove through containerd, automation off: p50 $m_off50 us, p99 $m_off99 us; during a scheduled ${GB} GiB backup: p50 $m_on50 us, p99 $m_on99 us (medians of $ROUNDS rounds of 300)"
echo "result: snapshot-op latency during a scheduled backup / automation off: p50 $r50 (target <= 1.2: $(verdict "$r50" 1.2)), p99 $r99 (target <= 2: $(verdict "$r99" 2))"

# --- 2. a busy container -----------------------------------------------------------------------
sk_ctr a run -d --snapshotter snapkeep "$NODES_IMG" busy sh -c \
  'head -c 4000000 /dev/urandom > /in; while :; do gzip -1 -c /in > /dev/null; echo >> /ticks; done' >/dev/null ||
  { echo "start busy failed" >&2; exit 1; }
# The container's tick count; a read that fails is retried, never taken as 0
# (one that was made a later rate three times too high).
ticks() {
  local n
  for _ in 1 2 3; do
    n=$(node_exec a busy "wc -l < /ticks" 2>/dev/null) && [[ $n =~ ^[0-9]+$ ]] && { echo "$n"; return 0; }
    sleep 0.2
  done
  return 1
}
rate_over() { # SECONDS: iterations per second of the busy container, or "n/a"
  local a b
  a=$(ticks) || { echo n/a; return; }
  sleep "$1"
  b=$(ticks) || { echo n/a; return; }
  awk -v a="$a" -v b="$b" -v s="$1" 'BEGIN { printf "%.2f", (b - a) / s }'
}
sleep 3
idle_rate=$(rate_over 8)
backup_of big$big || echo "# the backup of big$big was not seen running"
busy_rate=$(rate_over 5)
# A backup that ended inside the window would flatter the figure: say so.
busy_still=running; backup_done big$big && busy_still="FINISHED inside the window"
sk_retry 300 backup_done big$big
idle_rate2=$(rate_over 8)
base=$(awk -v a="$idle_rate" -v b="$idle_rate2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/) printf "%.2f", (a + b) / 2; else print "n/a" }')
drop=$(awk -v i="$base" -v b="$busy_rate" 'BEGIN { if (i + 0 > 0 && b ~ /^[0-9.]+$/) printf "%.3f", 1 - b / i; else print "n/a" }')
echo "figure: busy container (gzip -1 of 4 MB, one core): $idle_rate and $idle_rate2 it/s with no backup, $busy_rate it/s during a scheduled ${GB} GiB backup ($(backup_secs big$big) s, $busy_still at the window's end; default priority: SCHED_IDLE CPU, idle I/O class, busy_cpu_share 25%)"
if [ "$drop" = n/a ]; then
  echo "result: busy container throughput drop during a scheduled backup: n/a (a tick read failed)"
else
  echo "result: busy container throughput drop during a scheduled backup $drop (target <= 0.15: $(verdict "$drop" 0.15))"
fi
sk_ctr a tasks kill -s KILL busy >/dev/null 2>&1

# --- 3. the idle scheduler on $NSRC sources -------------------------------------------------------
pid=${SK_PID_D[a]}
sleep 2
c0=$(cpu_of "$pid"); r0=$(rss_of "$pid"); sleep "$IDLE"; c1=$(cpu_of "$pid"); r1=$(rss_of "$pid")
base_cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }')
echo "# creating $NSRC active snapshots in namespace $IDLE_NS (policy idle: one day interval)"
for i in $(seq "$NSRC"); do
  ctr --address "$(sk_csock a)" --namespace "$IDLE_NS" snapshots --snapshotter snapkeep prepare "idle-$i" \
    >/dev/null || { echo "prepare idle-$i failed" >&2; exit 1; }
done
have() { [ "$("$SNAPKEEP" --no-progress daemon schedule --json --admin-socket "$(node_admin a)" |
              jq '[.sources[] | select(.policy == "idle")] | length')" -ge "$NSRC" ]; }
sk_retry 120 have || echo "# not all $NSRC sources seen"
sleep 3
c2=$(cpu_of "$pid"); sleep "$IDLE"; c3=$(cpu_of "$pid"); r3=$(rss_of "$pid")
src_cpu=$(awk -v a="$c2" -v b="$c3" 'BEGIN { printf "%.3f", b - a }')
day=$(awk -v s="$src_cpu" -v w="$IDLE" 'BEGIN { printf "%.0f", s * 86400 / w }')
delta=$(awk -v s="$src_cpu" -v b="$base_cpu" -v w="$IDLE" 'BEGIN { d = (s - b) * 86400 / w; printf "%.0f", d < 0 ? 0 : d }')
echo "figure: idle snapkeepd CPU over $IDLE s (clock ticks of 10 ms): $base_cpu s with $n_big sources, $src_cpu s with $NSRC more (scan every 1 s); RSS $r1 KiB -> $r3 KiB"
echo "result: idle scheduler with $NSRC containers, per simulated day (scan every 1 s, 10x the default rate): $day s of CPU for the whole idle daemon, of which $delta s for the $NSRC sources; $(( r3 - r1 )) KiB of memory for them"
nodes_finish
