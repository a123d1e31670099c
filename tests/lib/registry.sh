# shellcheck shell=bash
# tests/lib/registry.sh: a real OCI registry for the tests: Debian's
# docker-registry (distribution 2.8) on 127.0.0.1, images pushed into it with
# skopeo from the archives tests/lib/oci-image.sh builds offline. Source it
# after tests/lib/containerd.sh (it keeps its files under $SK_TMP and stops
# with the test's cleanup through reg_stop).
#
#   reg_require            exit 77 (SKIP) unless docker-registry and skopeo exist
#   reg_start              start the registry on a free port; sets REG (host:port),
#                          REG_LOG (its log, access lines included)
#   reg_stop / reg_restart stop it (SIGTERM, then SIGKILL) / start it again
#                          on the same port and storage
#   reg_push ARCHIVE NAME:TAG
#                          push an OCI archive (oci_finish's output) as
#                          $REG/NAME:TAG
#   reg_mark               print the log's current line count, for reg_blob_gets
#   reg_blob_gets MARK [DIGEST...]
#                          number of successful blob downloads (GET .../blobs/
#                          sha256:..., status 200 or 206) logged after MARK,
#                          counting only DIGESTs when given
#
# CRI reaches it as a mirror with an http:// endpoint (see SK_CRI_REGISTRY in
# tests/lib/containerd.sh), so plain HTTP works without TLS.

reg_require() {
  command -v docker-registry >/dev/null || sk_skip "docker-registry not installed"
  command -v skopeo >/dev/null || sk_skip "skopeo not installed"
}

_reg_free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    # Nothing listening on it (bash's /dev/tcp connect fails).
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

reg_start() {
  sk_tmp_init || return 1
  local dir=$SK_TMP/registry
  mkdir -p "$dir/data"
  if [ -z "${REG:-}" ]; then
    REG=127.0.0.1:$(_reg_free_port) || return 1
  fi
  REG_LOG=$dir/registry.log
  cat >"$dir/config.yml" <<CFG
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $REG
CFG
  docker-registry serve "$dir/config.yml" >>"$REG_LOG" 2>&1 &
  REG_PID=$!
  sk_track_pid "$REG_PID"
  local i
  for ((i = 0; i < 100; i++)); do
    curl -sf "http://$REG/v2/" >/dev/null && return 0
    kill -0 "$REG_PID" 2>/dev/null || { tail -5 "$REG_LOG" >&2; return 1; }
    sleep 0.1
  done
  echo "# registry not ready on $REG" >&2
  return 1
}

reg_stop() {
  [ -n "${REG_PID:-}" ] || return 0
  _sk_stop_pid "$REG_PID" 10
  REG_PID=
}

reg_restart() { reg_stop; reg_start; }

reg_push() {
  skopeo --insecure-policy copy -q --dest-tls-verify=false "oci-archive:$1" "docker://$REG/$2"
}

reg_mark() { wc -l <"$REG_LOG"; }

reg_blob_gets() {
  local mark=$1; shift
  local pat='"GET /v2/[^ ]*/blobs/sha256:[0-9a-f]{64} HTTP/[0-9.]+" (200|206) '
  if [ $# -gt 0 ]; then
    pat='"GET /v2/[^ ]*/blobs/('$(printf '%s|' "$@" | sed 's/|$//')') HTTP/[0-9.]+" (200|206) '
  fi
  tail -n +"$((mark + 1))" "$REG_LOG" | grep -cE "$pat"
}
