#!/usr/bin/env bash
# Issue 13's benchmark: what metrics cost. Prepare+Commit+Remove latency
# through a real containerd (tests/go/snapbench) with snapkeepd's metrics
# endpoint off and on (scraped every second meanwhile, as Prometheus would,
# so rendering competes with the calls), rounds alternating between the two
# daemons on the same root. Target: p50 with metrics on within 1.05x of off.
#
# The counters are recorded whether or not the endpoint is on; to include
# their cost, point SK_BENCH_BASE_SNAPKEEPD at a snapkeepd from before
# metrics existed: the "off" side then runs that binary. Rounds alternate
# which side goes first (ABBA), so the order a restart leaves things in
# favours neither.
#
# Environment: SNAPKEEPD, SNAPKEEP, SK_SRC, BUILD_DIR; SK_BENCH_ROUNDS
# (rounds per side, default 6), SK_BENCH_LOOPS (loops per round, default 300),
# SK_BENCH_BASE_SNAPKEEPD (see above).
set -u
here=$(cd "$(dirname "$0")" && pwd)
SK_SRC=${SK_SRC:-$(cd "$here/.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
export SK_NAMESPACE=skbmet$$
. "$SK_SRC/tests/lib/nodes.sh"
nodes_setup
ROUNDS=${SK_BENCH_ROUNDS:-6}
NEW_SNAPKEEPD=$SNAPKEEPD
BASE_SNAPKEEPD=${SK_BENCH_BASE_SNAPKEEPD:-$SNAPKEEPD}
LOOPS=${SK_BENCH_LOOPS:-300}
BUILD_DIR=$BUILD_DIR bash "$SK_SRC/tests/go/build.sh" snapbench >/dev/null 2>&1
SNAPBENCH=$BUILD_DIR/go-bin/snapbench
[ -x "$SNAPBENCH" ] || sk_skip "tests/go/snapbench could not be built (golang-go, containerd Go sources)"

. "$SK_SRC/bench/lib/stats.sh"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '[automation]\nenabled = false\n' >"$SK_TMP/off.conf"
printf '[snapkeepd]\nmetrics_address = 127.0.0.1:%s\n[automation]\nenabled = false\n' "$PORT" >"$SK_TMP/on.conf"
run_with() { # CONF: (re)start node A's snapkeepd with CONF (off.conf: the base binary)
  NODE_ARGS[a]="--config $1 --log-level info"
  if [ "$1" = "$SK_TMP/off.conf" ]; then SNAPKEEPD=$BASE_SNAPKEEPD; else SNAPKEEPD=$NEW_SNAPKEEPD; fi
  if [ -n "${SK_PID_D[a]:-}" ]; then node_snapkeepd_restart a; else node_start a ${NODE_ARGS[a]}; fi
}
run_with "$SK_TMP/off.conf" || { echo "node A does not start" >&2; exit 1; }
sk_ctr a images import --snapshotter snapkeep "$NODES_IMG_TAR" >/dev/null || { echo "import failed" >&2; exit 1; }
TOP=$(sk_ctr a snapshots --snapshotter snapkeep ls | awk '$3 == "Committed" {print $1}' | tail -1)
lat() { sync; "$SNAPBENCH" -address "$(sk_csock a)" -snapshotter snapkeep -namespace "$SK_NAMESPACE" -parent "$TOP" -n "$LOOPS"; }
field() { grep -o "$1=[0-9]*" | cut -d= -f2; }

declare -a off50 on50 off99 on99
scrapes=0
side_off() {
  run_with "$SK_TMP/off.conf" || exit 1
  out=$(lat) || { echo "snapbench failed: $out" >&2; exit 1; }
  off50+=("$(field median_us <<<"$out")"); off99+=("$(field p99_us <<<"$out")")
}
side_on() {
  run_with "$SK_TMP/on.conf" || exit 1
  ( while :; do curl -sf -o /dev/null "http://127.0.0.1:$PORT/metrics" && echo; sleep 1; done ) >"$SK_TMP/scrapes" &
  scraper=$!
  out=$(lat) || { kill $scraper; echo "snapbench failed: $out" >&2; exit 1; }
  kill $scraper; wait $scraper 2>/dev/null
  scrapes=$((scrapes + $(wc -l <"$SK_TMP/scrapes")))
  on50+=("$(field median_us <<<"$out")"); on99+=("$(field p99_us <<<"$out")")
  n_prep=$(curl -sf "http://127.0.0.1:$PORT/metrics" |
           awk '/^snapkeep_snapshot_rpcs_total\{method="Prepare",code="OK"\}/ { print $NF }')
}
echo "figure: metrics off: $BASE_SNAPKEEPD; metrics on: $NEW_SNAPKEEPD"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 4)) = 1 ] || [ $((r % 4)) = 0 ]; then side_off; side_on; else side_on; side_off; fi
  echo "# round $r: metrics off p50 ${off50[-1]} us p99 ${off99[-1]} us; on (scraped each second) p50 ${on50[-1]} us p99 ${on99[-1]} us"
done
m_off=$(printf '%s\n' "${off50[@]}" | median); m_on=$(printf '%s\n' "${on50[@]}" | median)
p_off=$(printf '%s\n' "${off99[@]}" | median); p_on=$(printf '%s\n' "${on99[@]}" | median)
r50=$(ratio "$m_on" "$m_off"); r99=$(ratio "$p_on" "$p_off")
echo "figure: Prepare+Commit+Remove through containerd, metrics off: p50 $m_off us p99 $p_off us; metrics on: p50 $m_on us p99 $p_on us (medians of $ROUNDS rounds of $LOOPS; $scrapes scrapes meanwhile; the last metrics-on daemon counted $n_prep Prepares)"
echo "result: snapshot-op latency with metrics on / off: p50 $r50 (target <= 1.05: $(verdict "$r50" 1.05)), p99 $r99"
nodes_finish
