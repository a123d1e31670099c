#!/bin/bash
# Node loss under automatic backups (issue 12): nodes A and B share one
# repository. On A a container appends a counter to /counter five times a
# second, under a policy with a 3 s interval. At a random moment A is lost:
# its snapkeepd, its containerd and the container's processes are killed with
# SIGKILL. On B, `ctr run` with the restore label
# containerd.io/snapshot/snapkeep.restore=latest:<namespace>/<container>
# restores the container, and its counter must be behind A's last written
# value by at most one interval plus one backup's duration (in counter steps,
# plus one step of timing slack).
#
# Also: `snapkeep backups` names the backups by namespace/container, and the
# latest: selector is refused on a node that does not allow "latest". Then A
# is rebuilt (same host name, same root path: its new snapshots get the lost
# node's ids and paths) and its retention must leave the lost node's backups
# alone.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SK_NAMESPACE=${SK_NAMESPACE:-sknl$$}
. "$SK_SRC/tests/lib/nodes.sh"
nodes_setup
INTERVAL=3
RATE=5 # counter steps per second
cat >"$SK_TMP/a.conf" <<EOF
[automation]
scan_interval = 1s
[policy counter]
label = containerd.io/snapshot/app=counter
interval = ${INTERVAL}s
jitter = 0
keep_last = 5
EOF
node_start a --config "$SK_TMP/a.conf" || { sk_notok "node A starts"; sk_finish; }
node_start b --restore-selectors latest || { sk_notok "node B starts"; sk_finish; }
node_start c || { sk_notok "node C starts"; sk_finish; }
sk_check "A: import the image" sk_ctr a images import --snapshotter snapkeep "$NODES_IMG_TAR" || sk_finish
sk_check "B: import the image" sk_ctr b images import --snapshotter snapkeep "$NODES_IMG_TAR" || sk_finish
sk_check "C: import the image" sk_ctr c images import --snapshotter snapkeep "$NODES_IMG_TAR" || sk_finish

sk_ctr a run -d --snapshotter snapkeep --snapshotter-label containerd.io/snapshot/app=counter "$NODES_IMG" ticker \
  sh -c 'i=0; while :; do i=$((i + 1)); echo $i >> /counter; sleep 0.2; done' >/dev/null ||
  { sk_notok "A: start the counter container"; sk_finish; }

# A few backups, then the loss at a random moment within an interval.
sleep $((INTERVAL * 3 + RANDOM % INTERVAL)).$((RANDOM % 10))
upper=$(grep -l "" "$(sk_root a)"/snapshots/*/fs/counter 2>/dev/null | head -1)
sk_snapkeepd_kill9 a
kill -KILL "${SK_PID_C[a]}" 2>/dev/null
for pid in $(pgrep -f "containerd-shim.*-address $(sk_csock a)"); do
  pkill -KILL -P "$pid" 2>/dev/null # the container's init (the counter loop) and its children
  kill -KILL "$pid" 2>/dev/null
done
SK_PID_C[a]=
sleep 0.5
last_a=$(tail -1 "$upper" 2>/dev/null)
[ -n "$last_a" ] && [ "$last_a" -gt 0 ] && sk_ok "A lost with its counter at $last_a" ||
  { sk_notok "A's last counter value (upper $upper)"; sk_finish; }
runs=$(grep -c "scheduled backup of .*/ticker (policy counter): backup" "$(sk_dir a)/snapkeepd.log")
longest=$(grep -o "scheduled backup of .*/ticker (policy counter): backup [0-9a-f]* in [0-9.]* s" \
          "$(sk_dir a)/snapkeepd.log" | awk '{print $(NF-1)}' | sort -n | tail -1)
echo "figure: A made $runs scheduled backups of the ticker; the longest took ${longest:-?} s"

# ---- B restores the latest state by name ------------------------------------------------
sel="latest:$SK_NAMESPACE/ticker"
out=$(sk_ctr b run --rm --snapshotter snapkeep --snapshotter-label "containerd.io/snapshot/snapkeep.restore=$sel" \
      "$NODES_IMG" restored sh -c 'tail -1 /counter' 2>&1)
last_b=$(tail -1 <<<"$out" | tr -dc '0-9')
if [ -n "$last_b" ] && [ "$last_b" -gt 0 ]; then
  behind=$((last_a - last_b))
  bound=$(awk -v i="$INTERVAL" -v d="${longest:-0}" -v r="$RATE" 'BEGIN { printf "%d", (i + d) * r + 1 }')
  [ "$behind" -ge 0 ] && [ "$behind" -le "$bound" ] &&
    sk_ok "B restored $sel: counter $last_b, behind A by $behind steps (bound $bound: one interval plus one backup)" ||
    sk_notok "B's counter $last_b is behind A's $last_a by $behind steps (bound $bound)"
  echo "figure: lost on node loss: $behind counter steps = $(awk -v b="$behind" -v r="$RATE" 'BEGIN{print b/r}') s of work (interval ${INTERVAL} s)"
else
  sk_notok "B: restore by $sel" "$(tail -5 <<<"$out")"
fi

# ---- a node that does not allow "latest" refuses the selector ------------------------------
out=$(sk_ctr c run --rm --snapshotter snapkeep --snapshotter-label "containerd.io/snapshot/snapkeep.restore=$sel" \
      "$NODES_IMG" refused true 2>&1)
[ $? -ne 0 ] && grep -q "not allowed on this node" <<<"$out" && sk_ok "C (restore_selectors none) refuses $sel" ||
  sk_notok "C accepted $sel" "$(tail -3 <<<"$out")"

# ---- the backups are named by what they hold ----------------------------------------------
out=$("$SNAPKEEP" --no-progress backups --tag snapkeep:policy=counter 2>&1)
grep -q "container $SK_NAMESPACE/ticker" <<<"$out" && ! grep -q "/snapshots/" <<<"$out" &&
  sk_ok "snapkeep backups names them: $(grep -m1 -o "container $SK_NAMESPACE/ticker" <<<"$out")" ||
  sk_notok "snapkeep backups listing" "$(head -3 <<<"$out")"
"$SNAPKEEP" --no-progress backups 2>&1 | grep -q "layer sha256:" && sk_ok "layer backups are listed by chain id" ||
  sk_notok "no layer backup listed by chain id"
# ---- A is rebuilt: same host name, same root path, same container name --------------------
# The new node's snapshots get the same ids and paths as the lost node's did; its
# retention (keep_last 5) must not take the lost node's backups for its own.
lost_ids=$(grep -o "scheduled backup of [^ ]*/ticker (policy counter): backup [0-9a-f]*" "$(sk_dir a)/snapkeepd.log" |
           awk '{print $NF}')
sk_containerd_stop a
sk_umount_under "$(sk_dir a)"
rm -rf "$(sk_dir a)/snapkeepd" "$(sk_dir a)/containerd"
# runc keeps the killed task's state host-wide; a rebuilt machine would not have it.
runc --root "/run/containerd/runc/$SK_NAMESPACE" delete --force ticker >/dev/null 2>&1
mv "$(sk_dir a)/snapkeepd.log" "$(sk_dir a)/snapkeepd-lost.log"
node_start a --config "$SK_TMP/a.conf" || { sk_notok "rebuilt node A starts"; sk_finish; }
sk_ctr a images import --snapshotter snapkeep "$NODES_IMG_TAR" >/dev/null || sk_notok "rebuilt A: import"
sk_ctr a run -d --snapshotter snapkeep --snapshotter-label containerd.io/snapshot/app=counter "$NODES_IMG" ticker \
  sh -c 'while :; do date >> /counter; sleep 0.2; done' >/dev/null || sk_notok "rebuilt A: start ticker"
new_runs() { [ "$(grep -c "scheduled backup of [^ ]*/ticker (policy counter): backup" "$(sk_dir a)/snapkeepd.log")" -ge 7 ]; }
sk_retry $((INTERVAL * 9 + 10)) new_runs || sk_notok "rebuilt A made fewer than 7 backups"
held=$("$SNAPKEEP" --no-progress backups --json --tag snapkeep:policy=counter | jq -r '.[].id[0:12]')
missing=0
for id in $lost_ids; do grep -qx "$id" <<<"$held" || missing=$((missing + 1)); done
[ -n "$lost_ids" ] && [ $missing = 0 ] &&
  sk_ok "the rebuilt node's retention kept all $(wc -w <<<"$lost_ids") backups of the lost node (same host name and paths)" ||
  sk_notok "the rebuilt node's retention forgot $missing of the lost node's $(wc -w <<<"$lost_ids") backups"
nodes_finish
