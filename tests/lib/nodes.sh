# shellcheck shell=bash
# tests/lib/nodes.sh: "nodes" for the container backup tests: isolated
# containerd+snapkeepd stacks (tests/lib/containerd.sh) sharing one local
# repository, the snapkeep CLI pointed at a node's admin socket, and listings
# of a container's filesystem for comparing two containers. Source from bash.
#
#   nodes_setup                 skip unless root, containerd, runc, snapkeepd,
#                               snapkeep, treecmp, jq, busybox; create $SK_TMP,
#                               the repository $NODES_REPO (local, or what the
#                               test's nodes_repo_hook sets it to; password file
#                               $NODES_PASS) and the test image $NODES_IMG_TAR
#                               (ref $NODES_IMG, tests/lib/oci-image.sh's 4-layer
#                               image)
#   node_start NAME [ARGS...]   snapkeepd with --repo/--password-file/--admin-socket/
#                               --containerd-socket (+ ARGS, e.g. --no-remote-layers)
#                               and containerd
#   node_snapkeepd_restart NAME kill -9 snapkeepd and start it with the same flags,
#                               then wait until containerd reaches it again
#   node_admin NAME             the node's admin socket
#   skc NAME ARGS...            $SNAPKEEP --no-progress --admin-socket <NAME's> ARGS
#                               (repository and password exported for it)
#   node_run_bg NAME CID [ctr run options...]
#                               `ctr run -d --snapshotter snapkeep OPTS IMG CID sleep 100000`
#   node_exec NAME CID CMD      run a shell command inside a running container
#   ct_listing NAME CID         the in-container listing (below), to stdout
#   ct_listing_groups           turn _CT_LIST_SCRIPT's output (stdin), run by
#                               other means (CRI's ExecSync), into that listing
#   node_mount_rootfs NAME SNAPSHOTTER KEY DIR
#                               mount snapshot KEY read-only on the host at DIR
#                               (its upper becomes the top lowerdir, so a running
#                               container's overlay is not mounted twice);
#                               SNAPSHOTTER "backend" asks snapkeepd directly
#                               (backend keys, no containerd GC in the way)
#   node_backend_key NAME CHAINID  the backend key (NS/N/sha256:...) of a layer
#   host_xattrs DIR             every xattr below DIR (getfattr, hex values), sorted
#   repo_data_bytes             bytes of the repository's packs (data/)
#   nodes_finish                fail if any snapkeepd log holds a sanitizer report
#                               (ASan/UBSan builds), then sk_finish
#
# The in-container listing is produced by busybox inside the container: one
# line per entry below / on the root filesystem (-xdev: /proc, /sys, /dev
# are other mounts): path|type|mode|uid|gid|size|sha256 or link target|
# hardlink group. The group is the first path (sorted order) sharing the
# inode, computed on the host from the inode numbers the container printed,
# so two containers with different inode numbers compare equal. Busybox has
# no getfattr: xattrs are compared from the host on the mounted root
# filesystem (host_xattrs), which is the same overlay the container sees.

# runc keeps its state under /run/containerd/runc/<namespace>/<id> for every
# containerd on the host: a namespace of our own keeps parallel tests apart.
SK_NAMESPACE=${SK_NAMESPACE:-skct$$}
. "$SK_SRC/tests/lib/containerd.sh"
. "$SK_SRC/tests/lib/oci-image.sh"

BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
SNAPKEEP=${SNAPKEEP:-$BUILD_DIR/snapkeep}
TREECMP=${TREECMP:-$BUILD_DIR/tools/treecmp}
SKOBJ=${SKOBJ:-$BUILD_DIR/tools/skobj}
NODES_IMG=docker.io/snapkeep/ctbase:1
declare -gA NODE_ARGS=()

nodes_setup() {
  sk_require_env
  [ -x "$SNAPKEEP" ] || sk_skip "snapkeep not built at $SNAPKEEP"
  [ -x "$TREECMP" ] || sk_skip "treecmp not built at $TREECMP"
  command -v jq >/dev/null || sk_skip "jq missing"
  command -v getfattr >/dev/null || sk_skip "getfattr (attr) missing"
  [ -x "$OCI_BUSYBOX" ] || sk_skip "busybox-static missing"
  "$SNAPKEEPD" --help 2>&1 | grep -q -- --admin-socket || sk_skip "snapkeepd has no control API yet (--admin-socket)"
  sk_tmp_init || exit 1
  NODES_REPO=$SK_TMP/repo
  # A test may put the repository elsewhere (an S3 bucket): nodes_repo_hook,
  # if defined, runs here, with $SK_TMP made, and may set NODES_REPO.
  if declare -F nodes_repo_hook >/dev/null; then nodes_repo_hook || exit 1; fi
  NODES_PASS=$SK_TMP/pass
  printf 'node test passphrase\n' >"$NODES_PASS"
  chmod 600 "$NODES_PASS"
  export SNAPKEEP_REPO=$NODES_REPO SNAPKEEP_PASSWORD_FILE=$NODES_PASS
  unset SNAPKEEP_KEY_FILE
  "$SNAPKEEP" --no-progress repo init --scrypt-log2n 10 -q || { echo "# repo init failed" >&2; exit 1; }
  NODES_IMG_TAR=$SK_TMP/ctbase.tar
  oci_build_test_image "$NODES_IMG_TAR" "$NODES_IMG" >/dev/null || { echo "# image build failed" >&2; exit 1; }
}

node_admin() { echo "$SK_TMP/$1/admin.sock"; }

_node_snapkeepd_args() {
  local name=$1
  echo "--log-level debug --repo $NODES_REPO --password-file ${NODE_PASS_OVERRIDE[$name]:-$NODES_PASS}" \
    "--admin-socket $(node_admin "$name") --containerd-socket $(sk_csock "$name") ${NODE_ARGS[$name]:-}"
}
declare -gA NODE_PASS_OVERRIDE=()

node_start() {
  local name=$1 args; shift
  NODE_ARGS[$name]="$*"
  read -r -a args <<<"$(_node_snapkeepd_args "$name")"
  sk_snapkeepd_start "$name" "${args[@]}" && sk_containerd_start "$name"
}

node_snapkeepd_restart() {
  local name=$1 args
  read -r -a args <<<"$(_node_snapkeepd_args "$name")"
  sk_snapkeepd_restart "$name" "${args[@]}" || return 1
  # containerd redials the proxy lazily (UNAVAILABLE meanwhile).
  sk_retry 15 sk_ctr "$name" snapshots --snapshotter snapkeep ls >/dev/null 2>&1
}

skc() {
  local name=$1; shift
  "$SNAPKEEP" --no-progress "$@" --admin-socket "$(node_admin "$name")"
}

node_run_bg() {
  local name=$1 cid=$2; shift 2
  local img=${NODE_RUN_IMG:-$NODES_IMG}
  sk_ctr "$name" run -d --snapshotter "${NODE_SNAPSHOTTER:-snapkeep}" "$@" "$img" "$cid" sleep 100000 >/dev/null
}

# node_up_with NAME CTR [SNAPKEEPD-ARGS...]: start node NAME, import the test
# image into snapkeep there and run container CTR; a failure ends the test.
node_up_with() {
  local name=$1 cid=$2 n=${1^^}
  shift 2
  node_start "$name" "$@" || { sk_notok "node $n starts"; sk_finish; }
  sk_check "$n: import the image" sk_ctr "$name" images import --snapshotter snapkeep "$NODES_IMG_TAR" || sk_finish
  node_run_bg "$name" "$cid" || { sk_notok "$n: start $cid"; sk_finish; }
}

# node_backup NAME CTR: ID= a backup of container CTR (its JSON summary in
# out); a failure ends the test.
node_backup() {
  out=$(skc "$1" backup --container "$2" --namespace "$SK_NAMESPACE" --json 2>&1) || { sk_notok "${1^^}: backup" "$out"; sk_finish; }
  ID=$(jq -r .backup_id <<<"$out")
}

node_exec() {
  local name=$1 cid=$2; shift 2
  sk_ctr "$name" task exec --exec-id "x$RANDOM$RANDOM" "$cid" sh -c "$*"
}

# Printed inside the container by busybox: path|type|mode|uid|gid|size|data|inode|nlink
_CT_LIST_SCRIPT='find / -xdev | sort | while IFS= read -r p; do
  t=$(stat -c %F "$p")
  case "$t" in
    "regular file"|"regular empty file") d=$(sha256sum "$p" | cut -d" " -f1); t=file;;
    "symbolic link") d=$(readlink "$p");;
    *) d=-;;
  esac
  s=$(stat -c %s "$p"); [ "$t" = directory ] && s=-
  echo "$p|$t|$(stat -c "%a|%u|%g" "$p")|$s|$d|$(stat -c "%i|%h" "$p")"
done'

ct_listing() {
  node_exec "$1" "$2" "$_CT_LIST_SCRIPT" | ct_listing_groups
}

# ct_listing_groups: _CT_LIST_SCRIPT's raw lines (stdin) to the listing.
ct_listing_groups() {
  awk -F'|' -v OFS='|' '
    { line[NR]=$0; path[NR]=$1; ino[NR]=$8; nl[NR]=$9
      if ($9 > 1 && $2 != "directory" && !($8 in first)) first[$8]=$1 }
    END { for (i = 1; i <= NR; i++) {
            split(line[i], f, "|")
            g = (nl[i] > 1 && f[2] != "directory") ? first[ino[i]] : "-"
            print f[1], f[2], f[3], f[4], f[5], f[6], f[7], g } }'
}

node_mount_rootfs() {
  local name=$1 snapper=$2 key=$3 dir=$4 m opts upper lower
  if [ "$snapper" = backend ]; then
    m=$(sk_backend_ctr "$name" mounts "$dir" "$key") || return 1
  else
    m=$(sk_ctr "$name" snapshots --snapshotter "$snapper" mounts "$dir" "$key") || return 1
  fi
  mkdir -p "$dir"
  case "$m" in
    *"-t overlay"*)
      opts=${m##* -o }
      upper=$(tr , '\n' <<<"$opts" | sed -n 's/^upperdir=//p')
      lower=$(tr , '\n' <<<"$opts" | sed -n 's/^lowerdir=//p')
      if [ -n "$upper" ]; then
        mount -t overlay overlay -o "ro,index=off,lowerdir=$upper${lower:+:$lower}" "$dir"
      else
        mount -t overlay overlay -o "ro,index=off,lowerdir=$lower" "$dir"
      fi ;;
    *) eval "$m" && mount -o remount,bind,ro "$dir" ;;
  esac
}

host_xattrs() {
  (cd "$1" && getfattr -R -P -h -d -m - -e hex . 2>/dev/null) | awk '
    /^# file: / { f = substr($0, 9); next }
    /=/ { print f "|" $0 }' | sort
}

repo_data_bytes() { du -sb "$NODES_REPO/data" | cut -f1; }

node_backend_key() { sk_backend_ctr "$1" ls | awk -v c="$2" 'NR > 1 && $1 ~ ("/" c "$") {print $1; exit}'; }

nodes_finish() {
  local s bad=0
  for s in "${SK_STACKS[@]}"; do
    if grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$SK_TMP/$s/snapkeepd.log" 2>/dev/null; then
      sk_notok "snapkeepd on node $s: sanitizer report" "$(grep -m3 'Sanitizer\|runtime error:' "$SK_TMP/$s/snapkeepd.log")"
      bad=1
    fi
  done
  [ $bad = 0 ] && sk_ok "no sanitizer report in any snapkeepd log"
  sk_finish
}
