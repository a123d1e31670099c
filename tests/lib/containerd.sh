# shellcheck shell=bash
# tests/lib/containerd.sh: isolated containerd + snapkeepd stacks for integration
# tests and benchmarks. Source it from bash; it sets no shell options of its own.
#
# Everything (roots, state, sockets, logs, mounts) lives under one temp dir
# $SK_TMP, created on first use and removed by sk_cleanup, which is installed as
# an EXIT/INT/TERM trap. Several stacks can run at once (nodes "a" and "b"); each
# is named, and functions take the name as first argument. Per stack NAME:
#   $SK_TMP/NAME/snapkeepd/          snapkeepd --root      (sk_root NAME)
#   $SK_TMP/NAME/sk.sock             snapkeepd --socket    (sk_sock NAME)
#   $SK_TMP/NAME/snapkeepd.log       snapkeepd stderr, appended across restarts
#   $SK_TMP/NAME/containerd/{root,state,config.toml}, containerd.sock, containerd.log
#
# Environment read:
#   SNAPKEEPD          snapkeepd binary (default $SK_SRC/build/snapkeepd)
#   SK_SNAPKEEPD_ARGS  extra snapkeepd flags (default "--log-level debug")
#   SK_NAMESPACE       containerd namespace used by sk_ctr (default "sktest")
#   SK_TMP_BASE        parent of the temp dir (default /tmp; keep it short: unix
#                      socket paths are limited to 107 bytes)
#   SK_KEEP_TMP=1      keep $SK_TMP on exit (for debugging)
#
# Functions:
#   sk_require_env             exit 77 (SKIP) unless root, containerd, ctr, runc and
#                              $SNAPKEEPD are usable
#   sk_tmp_init                create $SK_TMP and install the cleanup trap (idempotent;
#                              every start function calls it). Call start functions in
#                              the test's own shell, not inside $(...): the pids and
#                              the trap would be lost. A script that sets its own EXIT
#                              trap must call sk_cleanup from it.
#   sk_stack_start NAME        sk_snapkeepd_start NAME + sk_containerd_start NAME
#   sk_snapkeepd_start NAME [ARGS...]
#                              start snapkeepd (ARGS replace SK_SNAPKEEPD_ARGS); waits
#                              until its socket accepts connections (15 s) or fails
#   sk_snapkeepd_stop NAME     SIGTERM, wait up to 15 s, then SIGKILL; returns 1 if it
#                              needed SIGKILL or exited non-zero
#   sk_snapkeepd_kill9 NAME    SIGKILL snapkeepd and reap it (simulated crash)
#   sk_snapkeepd_restart NAME  kill -9 then start again on the same root and socket
#   sk_snapkeepd_pid NAME      print snapkeepd's pid
#   sk_containerd_start NAME   write config (version 2, [proxy_plugins.snapkeep],
#                              CRI disabled) and start containerd; waits for `ctr version`.
#                              SK_CONTAINERD_CRI=1 enables CRI (snapshotter
#                              $SK_CRI_SNAPSHOTTER, default snapkeep; annotations on;
#                              sandbox image $SK_CRI_SANDBOX_IMAGE; a plain-HTTP mirror
#                              for each registry host:port in $SK_CRI_REGISTRY)
#   sk_containerd_stop NAME    SIGTERM containerd (and its shims), then SIGKILL
#   sk_stack_stop NAME         stop containerd, then snapkeepd, umount leftovers
#   sk_ctr NAME ARGS...        ctr with --address and --namespace of stack NAME
#   sk_backend_ctr NAME ARGS...
#                              `ctr snapshots --snapshotter snapkeep ARGS` sent straight
#                              to snapkeepd's socket, bypassing containerd: shows the
#                              backend's own keys ("NS/N/key"), labels and kinds
#   sk_ctr_retry SECS NAME ARGS...
#                              sk_ctr, retried until it succeeds or SECS pass; use it
#                              right after a snapkeepd restart: containerd redials the
#                              proxy lazily with up to 3 s backoff (UNAVAILABLE meanwhile)
#   sk_retry SECS CMD...       run CMD until it succeeds or SECS pass
#   sk_root NAME / sk_sock NAME / sk_csock NAME / sk_dir NAME
#                              print snapkeepd root, snapkeepd socket, containerd
#                              socket, stack dir
#   sk_umount_under DIR        lazily umount every mount at or below DIR (deepest first)
#   sk_track_pid PID           have sk_cleanup stop PID too (a registry, a proxy)
#   sk_cleanup                 stop tracked pids and every stack, umount, rm -rf $SK_TMP (the trap)
#   sk_ok NAME / sk_notok NAME [DETAIL] / sk_check NAME CMD...
#                              TAP-ish result lines; failures are counted in
#                              $SK_FAILS; sk_finish exits 1 if any failed, else 0
#   sk_skip REASON             print "SKIP: REASON" and exit 77

SK_SRC=${SK_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SNAPKEEPD=${SNAPKEEPD:-$SK_SRC/build/snapkeepd}
SK_NAMESPACE=${SK_NAMESPACE:-sktest}
SK_SNAPKEEPD_ARGS=${SK_SNAPKEEPD_ARGS:---log-level debug}
SK_FAILS=${SK_FAILS:-0}
SK_TMP=${SK_TMP:-}
declare -gA SK_PID_D=() SK_PID_C=()
SK_STACKS=()
SK_TRACKED_PIDS=()
# sk_track_pid PID: stop PID (SIGTERM, then SIGKILL) in sk_cleanup, like the
# stacks (helpers the test starts itself: a registry, a proxy).
sk_track_pid() { SK_TRACKED_PIDS+=("$1"); }

sk_skip() { echo "SKIP: $*"; exit 77; }

sk_ok() { echo "ok - $*"; }
sk_notok() {
  echo "not ok - $1${2:+: $2}"
  SK_FAILS=$((SK_FAILS + 1))
}
# sk_check NAME CMD...: ok if CMD succeeds; on failure show its output.
sk_check() {
  local name=$1 out; shift
  if out=$("$@" 2>&1); then sk_ok "$name"; return 0; fi
  sk_notok "$name" "command failed: $*"
  printf '%s\n' "$out" | tail -20 | sed 's/^/#   /'
  return 1
}
sk_finish() {
  if [ "$SK_FAILS" -gt 0 ]; then echo "# $SK_FAILS sub-case(s) failed"; exit 1; fi
  exit 0
}

sk_require_env() {
  [ "$(id -u)" = 0 ] || sk_skip "needs root (mounts, containerd)"
  local b
  for b in containerd ctr runc; do
    command -v "$b" >/dev/null || sk_skip "$b not installed"
  done
  [ -x "$SNAPKEEPD" ] || sk_skip "snapkeepd binary not found at $SNAPKEEPD (run make all)"
}

sk_tmp_init() {
  if [ -z "$SK_TMP" ] || [ ! -d "$SK_TMP" ]; then
    SK_TMP=$(mktemp -d "${SK_TMP_BASE:-/tmp}/skit.XXXXXX") || return 1
    trap sk_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
  fi
}

sk_dir() { echo "$SK_TMP/$1"; }
sk_root() { echo "$SK_TMP/$1/snapkeepd"; }
sk_sock() { echo "$SK_TMP/$1/sk.sock"; }
sk_csock() { echo "$SK_TMP/$1/containerd.sock"; }
sk_snapkeepd_pid() { echo "${SK_PID_D[$1]:-}"; }

sk_retry() {
  local secs=$1 end; shift
  end=$((SECONDS + secs))
  while :; do
    "$@" && return 0
    [ $SECONDS -ge $end ] && return 1
    sleep 0.2
  done
}

# True when something accepts connections on unix socket $1. curl speaks HTTP/2
# to it; exit 7 means it could not connect, anything else means a listener.
_sk_sock_listening() {
  [ -S "$1" ] || return 1
  if command -v curl >/dev/null; then
    curl -s -o /dev/null --max-time 2 --unix-socket "$1" --http2-prior-knowledge http://localhost/ 2>/dev/null
    [ $? -ne 7 ]
  fi
}

_sk_register() {
  local s
  for s in "${SK_STACKS[@]}"; do [ "$s" = "$1" ] && return 0; done
  SK_STACKS+=("$1")
}

sk_snapkeepd_start() {
  local name=$1; shift
  sk_tmp_init || return 1
  local dir=$SK_TMP/$name
  mkdir -p "$dir/snapkeepd"
  _sk_register "$name"
  local args
  if [ $# -gt 0 ]; then args=("$@"); else read -r -a args <<<"$SK_SNAPKEEPD_ARGS"; fi
  echo "=== $(date -u +%T.%N) start: $SNAPKEEPD --root $dir/snapkeepd --socket $dir/sk.sock ${args[*]}" >>"$dir/snapkeepd.log"
  "$SNAPKEEPD" --root "$dir/snapkeepd" --socket "$dir/sk.sock" "${args[@]}" >>"$dir/snapkeepd.log" 2>&1 &
  SK_PID_D[$name]=$!
  _sk_wait_ready "snapkeepd ($name)" "socket not ready" "${SK_PID_D[$name]}" "$dir/snapkeepd.log" 15 0.05 \
    _sk_sock_listening "$dir/sk.sock" || { [ $? = 2 ] && SK_PID_D[$name]=; return 1; }
}

# _sk_wait_ready WHAT NOT-READY PID LOG SECS STEP CMD...: run CMD every STEP
# seconds until it succeeds (0). Returns 2, with the tail of LOG on stderr, if
# PID exits first; 1 ("WHAT NOT-READY after SECS s") once SECS have passed.
_sk_wait_ready() {
  local what=$1 not_ready=$2 pid=$3 log=$4 secs=$5 step=$6
  shift 6
  local end=$((SECONDS + secs))
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "# $what exited during start; log tail:" >&2
      tail -20 "$log" | sed 's/^/#   /' >&2
      return 2
    fi
    if [ $SECONDS -ge $end ]; then
      echo "# $what $not_ready after $secs s" >&2
      return 1
    fi
    sleep "$step"
  done
}

# _sk_stop_pid PID TIMEOUT: SIGTERM, wait, SIGKILL. Returns the exit status, or
# 137 when SIGKILL was needed.
_sk_stop_pid() {
  local pid=$1 t=$2 i rc
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  for ((i = 0; i < t * 20; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 137
  fi
  wait "$pid" 2>/dev/null; rc=$?
  return $rc
}

sk_snapkeepd_stop() {
  local name=$1 rc=0
  _sk_stop_pid "${SK_PID_D[$name]:-}" 15 || rc=$?
  SK_PID_D[$name]=
  [ $rc -eq 0 ]
}

sk_snapkeepd_kill9() {
  local name=$1 pid=${SK_PID_D[$1]:-}
  [ -n "$pid" ] || return 0
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  SK_PID_D[$name]=
  echo "=== $(date -u +%T.%N) killed with SIGKILL" >>"$SK_TMP/$name/snapkeepd.log"
  return 0
}

sk_snapkeepd_restart() {
  local name=$1; shift
  sk_snapkeepd_kill9 "$name"
  sk_snapkeepd_start "$name" "$@"
}

sk_containerd_start() {
  local name=$1
  sk_tmp_init || return 1
  local dir=$SK_TMP/$name
  local cd=$dir/containerd
  mkdir -p "$cd/root" "$cd/state"
  _sk_register "$name"
  # CRI (unless SK_CONTAINERD_CRI=1) and the snapshotters/plugins that probe
  # the host are disabled so it starts in well under a second; overlayfs and
  # native stay for comparisons.
  local cri_off='"io.containerd.grpc.v1.cri",'
  [ "${SK_CONTAINERD_CRI:-0}" = 1 ] && cri_off=
  cat >"$cd/config.toml" <<EOF
version = 2
root = "$cd/root"
state = "$cd/state"
disabled_plugins = [
  $cri_off
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "$dir/containerd.sock"

[ttrpc]
  address = "$dir/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "${SK_CONTAINERD_LOG_LEVEL:-info}"

[metrics]
  address = ""

[proxy_plugins]
  [proxy_plugins.snapkeep]
    type = "snapshot"
    address = "$dir/sk.sock"
EOF
  [ "${SK_CONTAINERD_CRI:-0}" = 1 ] && _sk_cri_config "$cd" >>"$cd/config.toml"
  echo "=== $(date -u +%T.%N) start containerd" >>"$dir/containerd.log"
  containerd --config "$cd/config.toml" >>"$dir/containerd.log" 2>&1 &
  SK_PID_C[$name]=$!
  _sk_wait_ready "containerd ($name)" "not ready" "${SK_PID_C[$name]}" "$dir/containerd.log" 20 0.1 \
    _sk_ctr_answers "$dir/containerd.sock" || { [ $? = 2 ] && SK_PID_C[$name]=; return 1; }
}

# The CRI plugin as a Kubernetes node has it with snapkeep (`snapkeep setup
# containerd --cri`): snapshot annotations on, the sandbox ("pause") image and
# the registry mirror from the test, CNI dirs of its own (pods use the host
# network), a stream server on a free port.
_sk_cri_config() {
  local cd=$1
  mkdir -p "$cd/cni/bin" "$cd/cni/conf"
  cat <<EOF

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${SK_CRI_SANDBOX_IMAGE:-registry.k8s.io/pause:3.6}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # CRI gives the sandbox oom_score_adj -998; lowering a score needs
  # CAP_SYS_RESOURCE, which a test machine running in a container may lack.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "${SK_CRI_SNAPSHOTTER:-snapkeep}"
    disable_snapshot_annotations = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cd/cni/bin"
    conf_dir = "$cd/cni/conf"
EOF
  local r
  for r in ${SK_CRI_REGISTRY:-}; do
    cat <<EOF
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$r"]
    endpoint = ["http://$r"]
EOF
  done
}

_sk_ctr_answers() { ctr --address "$1" version >/dev/null 2>&1; }

sk_containerd_stop() {
  local name=$1 dir=$SK_TMP/$1 pid ns t
  [ -n "${SK_PID_C[$name]:-}" ] || return 0
  # Kill leftover tasks first so their shims exit instead of lingering.
  for ns in $(ctr --address "$dir/containerd.sock" namespaces ls -q 2>/dev/null); do
    for t in $(ctr --address "$dir/containerd.sock" -n "$ns" tasks ls -q 2>/dev/null); do
      ctr --address "$dir/containerd.sock" -n "$ns" tasks kill -s KILL "$t" >/dev/null 2>&1
      ctr --address "$dir/containerd.sock" -n "$ns" tasks rm -f "$t" >/dev/null 2>&1
    done
  done
  _sk_stop_pid "${SK_PID_C[$name]}" 15
  SK_PID_C[$name]=
  # Shims started by this containerd carry its address on their command line.
  for pid in $(pgrep -f "containerd-shim.*-address $dir/containerd.sock" 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null
  done
  return 0
}

sk_stack_start() {
  sk_snapkeepd_start "$1" && sk_containerd_start "$1"
}

sk_stack_stop() {
  sk_containerd_stop "$1"
  sk_snapkeepd_stop "$1"
  sk_umount_under "$SK_TMP/$1"
}

sk_ctr() {
  local name=$1; shift
  ctr --address "$SK_TMP/$name/containerd.sock" --namespace "$SK_NAMESPACE" "$@"
}

sk_backend_ctr() {
  local name=$1; shift
  ctr --address "$SK_TMP/$name/sk.sock" snapshots --snapshotter snapkeep "$@"
}

sk_ctr_retry() {
  local secs=$1 end out rc; shift
  end=$((SECONDS + secs))
  while :; do
    out=$(sk_ctr "$@" 2>&1); rc=$?
    if [ $rc -eq 0 ] || [ $SECONDS -ge $end ]; then
      printf '%s\n' "$out"
      return $rc
    fi
    sleep 0.3
  done
}

sk_umount_under() {
  local dir=$1 m
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  dir=$(realpath "$dir")
  # Field 5 of mountinfo is the mount point (octal-escaped); deepest first.
  while read -r m; do
    m=$(printf '%b' "$m")
    umount -l "$m" 2>/dev/null
  done < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print length($5) " " $5 }' /proc/self/mountinfo |
    sort -rn | cut -d' ' -f2-)
}

sk_cleanup() {
  local rc=$? s
  trap - EXIT
  for s in "${SK_TRACKED_PIDS[@]}"; do _sk_stop_pid "$s" 5 >/dev/null 2>&1; done
  if [ -n "$SK_TMP" ] && [ -d "$SK_TMP" ]; then
    for s in "${SK_STACKS[@]}"; do sk_containerd_stop "$s"; done
    for s in "${SK_STACKS[@]}"; do sk_snapkeepd_stop "$s"; done
    sk_umount_under "$SK_TMP"
    if [ "${SK_KEEP_TMP:-0}" = 1 ] || { [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ "${SK_KEEP_TMP_ON_FAIL:-0}" = 1 ]; }; then
      echo "# kept $SK_TMP" >&2
    else
      rm -rf "$SK_TMP"
    fi
  fi
  exit $rc
}
