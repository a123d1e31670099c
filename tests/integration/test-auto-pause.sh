#!/bin/bash
# Consistency = pause (issue 12), with a real containerd and runc: a container
# writes the host's uptime (/proc/uptime, 10 ms resolution) to /clock every
# 50 ms. Under a policy with consistency = pause, snapkeepd pauses its task
# through containerd's Tasks API while the backup reads its writable layer:
#
#  - the container's own clock shows a gap as long as the backup (it made no
#    progress while the layer was read) and then goes on: it was resumed;
#  - with pause_timeout shorter than the backup, the task is resumed at the
#    deadline and the log says the backup is only crash-consistent;
#  - snapkeepd killed with -9 while the task is paused: the task is resumed
#    when snapkeepd starts again (the paused set is persisted);
#  - a container that is not running is backed up without a pause.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
[ -n "${SNAPKEEPD_ASAN:-}" ] && [ -x "$SNAPKEEPD_ASAN" ] && SNAPKEEPD=$SNAPKEEPD_ASAN
SK_NAMESPACE=${SK_NAMESPACE:-skpause$$}
. "$SK_SRC/tests/lib/nodes.sh"
nodes_setup
cat >"$SK_TMP/a.conf" <<EOF
[automation]
scan_interval = 1s
[policy consistent]
label = containerd.io/snapshot/app=clock
interval = 1h
consistency = pause
pause_timeout = 30s
[policy short]
label = containerd.io/snapshot/app=short
interval = 1h
consistency = pause
pause_timeout = 1s
EOF
node_start a --config "$SK_TMP/a.conf" || { sk_notok "node A starts"; sk_finish; }
sk_check "import the image" sk_ctr a images import --snapshotter snapkeep "$NODES_IMG_TAR" || sk_finish
LOG=$(sk_dir a)/snapkeepd.log
ADMIN=$(node_admin a)
CLOCK='while :; do cut -d" " -f1 /proc/uptime >> /clock; sleep 0.05; done'
task_status() { sk_ctr a tasks ls 2>/dev/null | awk -v c="$1" '$1 == c {print $3}'; }
task_is() { [ "$(task_status "$1")" = "$2" ]; }   # CID STATUS (for sk_retry: evaluated each time)
runs_over() { [ "$(runs_of "$1")" -gt "$2" ]; }   # CID N
run_now() { "$SNAPKEEP" --no-progress -q daemon run-now "$1" --admin-socket "$ADMIN" >/dev/null; }
runs_of() { # CID: successful scheduled runs of CID in the log
  grep -c "scheduled backup of [^ ]*/$1 (policy [a-z]*): backup" "$LOG"
}
# The longest gap between consecutive /clock lines after line $2 of container $1.
max_gap() {
  node_exec a "$1" "tail -n +${2:-1} /clock" | awk 'NR > 1 && $1 - p > g { g = $1 - p } { p = $1 } END { printf "%.2f", g }'
}

for c in c1 c2; do
  label=clock; [ $c = c2 ] && label=short
  sk_ctr a run -d --snapshotter snapkeep --snapshotter-label containerd.io/snapshot/app=$label "$NODES_IMG" $c \
    sh -c "$CLOCK" >/dev/null || { sk_notok "start $c"; sk_finish; }
  # Enough data that reading the layer takes a while.
  node_exec a $c "dd if=/dev/urandom of=/big bs=1M count=300 2>/dev/null" || sk_notok "write /big in $c"
done

# ---- paused throughout the backup, then resumed ---------------------------------------
sleep 1
lines=$(node_exec a c1 "wc -l < /clock")
run_now consistent
sk_retry 60 runs_over c1 0 || { sk_notok "c1's paused backup did not finish" "$(tail -5 "$LOG")"; sk_finish; }
secs=$(grep -o "scheduled backup of [^ ]*/c1 (policy consistent): backup [0-9a-f]* in [0-9.]* s" "$LOG" | tail -1 |
       awk '{print $(NF-1)}')
sleep 1
gap=$(max_gap c1 "$lines")
if awk -v g="$gap" -v s="$secs" 'BEGIN { exit !(g >= 0.8 * s && g >= 0.5) }'; then
  sk_ok "c1's own clock stopped for $gap s during its $secs s backup"
else
  sk_notok "c1's clock gap $gap s, backup $secs s: was the task paused?"
fi
grep -q "scheduled backup of [^ ]*/c1 (policy consistent): .*task paused throughout" "$LOG" &&
  sk_ok "the log says the task was paused throughout" || sk_notok "no 'paused throughout' in the log"
[ "$(task_status c1)" = RUNNING ] && sk_ok "c1 runs again after its backup" || sk_notok "c1 is $(task_status c1)"
n1=$(node_exec a c1 "wc -l < /clock"); sleep 1; n2=$(node_exec a c1 "wc -l < /clock")
[ "$n2" -gt "$n1" ] && sk_ok "c1's clock goes on ($n1 -> $n2 lines)" || sk_notok "c1's clock stands still"

# ---- pause_timeout shorter than the backup -------------------------------------------------
run_now short
sk_retry 60 runs_over c2 0 || sk_notok "c2's backup did not finish"
grep -q "task $SK_NAMESPACE/c2 was paused for pause_timeout (1 s) and is resumed" "$LOG" &&
  grep -q "scheduled backup of [^ ]*/c2 (policy short): .*task paused until pause_timeout only" "$LOG" &&
  sk_ok "c2 (pause_timeout 1 s) resumed at the deadline; the log says the backup is crash-consistent" ||
  sk_notok "c2's pause_timeout" "$(grep c2 "$LOG" | tail -3)"
[ "$(task_status c2)" = RUNNING ] && sk_ok "c2 runs" || sk_notok "c2 is $(task_status c2)"

# ---- kill -9 while paused: resumed at the next start ---------------------------------------
node_exec a c1 "dd if=/dev/urandom of=/big2 bs=1M count=300 2>/dev/null" || sk_notok "write /big2 in c1"
run_now consistent
sk_retry 20 task_is c1 PAUSED && sk_ok "c1 paused for its backup" ||
  sk_notok "c1 never seen paused ($(task_status c1))"
sk_snapkeepd_kill9 a
sleep 1
[ "$(task_status c1)" = PAUSED ] && sk_ok "after kill -9 of snapkeepd, c1 is still paused (as expected)" ||
  sk_notok "c1 after kill -9: $(task_status c1)"
node_snapkeepd_restart a || { sk_notok "snapkeepd restarts"; sk_finish; }
sk_retry 15 task_is c1 RUNNING &&
  sk_ok "the restarted snapkeepd resumed c1: $(grep -o 'resuming task [^,]*' "$LOG" | tail -1)" ||
  sk_notok "c1 is $(task_status c1) after the restart"

# ---- a stopped container is backed up without a pause ---------------------------------------
sk_ctr a tasks kill -s KILL c2 >/dev/null 2>&1; sleep 1; sk_ctr a tasks rm c2 >/dev/null 2>&1
before=$(runs_of c2)
run_now short
sk_retry 30 runs_over c2 "$before" && sk_ok "c2 without a task is backed up (nothing to pause)" ||
  sk_notok "c2 without a task" "$(grep c2 "$LOG" | tail -2)"
nodes_finish
