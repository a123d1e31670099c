# shellcheck shell=bash
# tests/lib/cri.sh: drive containerd's CRI plugin as kubelet does, with the
# runtime.v1 client tests/go/cri. Source after tests/lib/nodes.sh and
# tests/lib/registry.sh. Pods use the host network (no CNI needed).
#
#   cri_setup                  build tests/go/cri (skip the test if it cannot be
#                              built); make CRI on in every containerd started
#                              afterwards (SK_CONTAINERD_CRI=1)
#   cri_push_pause             build the sandbox ("pause") image offline (busybox
#                              sleeping), push it to $REG and point CRI at it and at
#                              the registry (SK_CRI_SANDBOX_IMAGE, SK_CRI_REGISTRY):
#                              call after reg_start, before starting the nodes
#   cri NODE ARGS...           the client on NODE's containerd socket
#   cri_pod NODE POD CNAME IMAGE CMD...
#                              RunPodSandbox POD (Kubernetes namespace $CRI_POD_NS,
#                              default "default"), then cri_container; sets POD
#   cri_container NODE PODID POD CNAME IMAGE CMD...
#                              CreateContainer + StartContainer; sets CID
#   cri_listing NODE CID       nodes.sh's container listing, taken with ExecSync

CRI_BIN=${CRI_BIN:-$BUILD_DIR/go-bin/cri}
CRI_POD_NS=${CRI_POD_NS:-default}

cri_setup() {
  BUILD_DIR=$BUILD_DIR bash "$SK_SRC/tests/go/build.sh" cri >/dev/null 2>&1
  [ -x "$CRI_BIN" ] || sk_skip "tests/go/cri could not be built (golang-go, protoc, golang-google-protobuf-dev)"
  export SK_CONTAINERD_CRI=1
}

cri_push_pause() {
  local w=$SK_TMP/pause-img
  oci_new "$w" && oci_busybox_rootfs "$w/root" && oci_add_layer "$w" "$w/root" gzip &&
    oci_finish "$w" snapkeep/pause:1 "$SK_TMP/pause.tar" /bin/sleep 2147483647 &&
    reg_push "$SK_TMP/pause.tar" sk/pause:1 || return 1
  rm -rf "$w"
  export SK_CRI_SANDBOX_IMAGE=$REG/sk/pause:1 SK_CRI_REGISTRY=$REG
}

cri() {
  local node=$1; shift
  mkdir -p "$SK_TMP/$node/pods"
  "$CRI_BIN" -address "$(sk_csock "$node")" -logdir "$SK_TMP/$node/pods" -ns "$CRI_POD_NS" "$@"
}

cri_pod() {
  local node=$1 pod=$2 out; shift 2
  out=$(cri "$node" runp "$pod" 2>&1) || { sk_notok "${node^^}: RunPodSandbox $pod" "$out"; return 1; }
  POD=$out
  cri_container "$node" "$POD" "$pod" "$@"
}

cri_container() {
  local node=$1 podid=$2 pod=$3 cname=$4 img=$5 out; shift 5
  out=$(cri "$node" create "$podid" "$pod" "$cname" "$img" -- "$@" 2>&1) ||
    { sk_notok "${node^^}: CreateContainer $cname" "$out"; return 1; }
  CID=$out
  out=$(cri "$node" start "$CID" 2>&1) || { sk_notok "${node^^}: StartContainer $cname" "$out"; return 1; }
}

cri_listing() {
  cri "$1" exec "$2" sh -c "$_CT_LIST_SCRIPT" | ct_listing_groups
}
