#!/bin/bash
# Issue 14 acceptance, bad input on the Kubernetes path: a CRI pull of an image
# the registry does not have, and a registry that stops in the middle of a
# layer download, both fail with an error that names the cause, and leave no
# image and no snapshot behind (containerd's GC removes what the failed pull's
# lease held; snapkeepd's root has no snapshot directory left). Then the
# registry comes back and the same pull succeeds.
#
# The registry is stopped by tests/go/cutproxy, a proxy in front of it that
# passes the first 4 MiB of the big layer, then SIGKILLs the registry and
# breaks the connection: deterministic, whatever the machine's speed.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SK_SRC/tests/lib/nodes.sh"
. "$SK_SRC/tests/lib/registry.sh"
. "$SK_SRC/tests/lib/cri.sh"
nodes_setup
reg_require
cri_setup
BUILD_DIR=$BUILD_DIR bash "$SK_SRC/tests/go/build.sh" cutproxy >/dev/null 2>&1
CUTPROXY=$BUILD_DIR/go-bin/cutproxy
[ -x "$CUTPROXY" ] || sk_skip "tests/go/cutproxy could not be built"

reg_start || { sk_notok "registry starts"; sk_finish; }
# An image with a 48 MiB layer (random: gzip cannot shrink it) between two small ones.
w=$SK_TMP/big
oci_new "$w/img" && oci_busybox_rootfs "$w/l1" && oci_add_layer "$w/img" "$w/l1" gzip &&
  mkdir -p "$w/l2/data" && head -c $((48 << 20)) /dev/urandom >"$w/l2/data/big.bin" &&
  oci_add_layer "$w/img" "$w/l2" tar && mkdir -p "$w/l3/etc" && echo top >"$w/l3/etc/top" &&
  oci_add_layer "$w/img" "$w/l3" gzip && oci_finish "$w/img" snapkeep/big:1 "$SK_TMP/big.tar" cat /etc/top &&
  reg_push "$SK_TMP/big.tar" sk/big:1 || { sk_notok "build and push the big image"; sk_finish; }
rm -rf "$w"
BIG=$(skopeo inspect --raw --tls-verify=false "docker://$REG/sk/big:1" | jq -r '.layers | max_by(.size) | .digest')
PROXY=127.0.0.1:$(_reg_free_port)
"$CUTPROXY" -listen "$PROXY" -backend "$REG" -digest "$BIG" -after $((4 << 20)) -kill "$REG_PID" \
  >>"$SK_TMP/cutproxy.log" 2>&1 &
PROXY_PID=$!
sk_track_pid "$PROXY_PID"
sk_retry 10 curl -sf "http://$PROXY/v2/" >/dev/null || { sk_notok "cutproxy answers"; sk_finish; }
export SK_CRI_REGISTRY="$REG $PROXY"
node_start a || { sk_notok "node A starts (containerd with CRI)"; sk_finish; }

k8s_snapshots() { sk_backend_ctr a ls | awk 'NR > 1 && $1 ~ /^k8s\.io\//' | wc -l; }
# CRI's namespace is k8s.io (sk_ctr uses the test's own).
images_k8s() { ctr --address "$(sk_csock a)" --namespace k8s.io images ls -q; }
no_leftovers() {
  [ "$(k8s_snapshots)" = 0 ] && [ -z "$(ls "$(sk_root a)/snapshots" 2>/dev/null)" ] && [ -z "$(images_k8s)" ]
}

# ---- an image the registry does not have ------------------------------------------
out=$(cri a pull "$REG/sk/missing:1" 2>&1) && sk_notok "pull of a missing image succeeded" "$out" ||
  { grep -qi "not found" <<<"$out" && sk_ok "pull of a missing image fails, naming it: $(tail -c 160 <<<"$out")" ||
    sk_notok "pull of a missing image: message" "$out"; }
no_leftovers && sk_ok "missing image: no image, no snapshot, no snapshot directory left" ||
  sk_notok "missing image: leftovers" "$(k8s_snapshots) snapshots; images: $(images_k8s | tr '\n' ' ')"

# ---- the registry stops in the middle of the big layer ------------------------------
out=$(cri a -timeout 120s pull "$PROXY/sk/big:1" 2>&1) && sk_notok "pull through a dying registry succeeded" "$out" ||
  { grep -q "PullImage: .*sk/big:1" <<<"$out" && sk_ok "pull fails when the registry stops mid-pull: $(tail -c 200 <<<"$out")" ||
    sk_notok "pull through a dying registry: not PullImage's error" "$out"; }
! kill -0 "$REG_PID" 2>/dev/null && grep -q "cut: registry pid" "$SK_TMP/cutproxy.log" &&
  sk_ok "the registry was killed after 4 MiB of the 48 MiB layer" || sk_notok "the registry was not cut" "$(cat "$SK_TMP/cutproxy.log")"
grep -qiE "connection|EOF|refused|reset|stopped|unexpected" <<<"$out" &&
  sk_ok "the error names the broken download" || sk_notok "the error does not say what failed" "$out"
n_prep=$(grep -c "prepare k8s.io/" "$SK_TMP/a/snapkeepd.log")
[ "$n_prep" -ge 1 ] && sk_ok "the failed pull had prepared $n_prep snapshot(s) in snapkeep before the cut" ||
  sk_notok "the failed pull made no snapshot: the leftover check below would prove nothing"
if sk_retry 30 no_leftovers; then
  sk_ok "registry stopped: containerd's GC left no image, no snapshot, no snapshot directory"
else
  sk_notok "registry stopped: leftovers" "$(k8s_snapshots) snapshots; images: $(images_k8s | tr '\n' ' ')"
fi

# ---- the registry is back: the same pull succeeds ----------------------------------
reg_stop
reg_start || { sk_notok "registry restarts"; sk_finish; }
out=$(cri a pull "$REG/sk/big:1" 2>&1) && sk_ok "after the registry is back, the pull succeeds ($out)" ||
  sk_notok "pull after the registry is back" "$out"
cri a rmi "$REG/sk/big:1" >/dev/null 2>&1
kill "$PROXY_PID" 2>/dev/null
nodes_finish
