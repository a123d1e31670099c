# shellcheck shell=bash
# tests/lib/ceph.sh: a throw-away single-node Ceph cluster with radosgw on
# 127.0.0.1, for the S3 tests and bench/s3.sh. Source it from bash.
#
# ceph_start DIR     1 mon, 1 BlueStore OSD (sparse file beside the OSD dir),
#                    pool size 1, no mgr, radosgw (beast) on a free port; every
#                    file, socket and log under DIR. Creates an S3 user and the
#                    bucket $CEPH_BUCKET (default "snapkeep"), and exports
#                    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
#                    SNAPKEEP_S3_ENDPOINT, CEPH_RGW_PORT, CEPH_RGW_LOG.
#                    Returns non-zero (with the reason on stderr) on failure.
# ceph_stop          stop rgw, osd, mon in that order (safe to call twice)
# rgw_stop/rgw_start stop/start only radosgw (fault tests)
# ceph_have          0 if the Ceph daemons are installed
# s3_curl METHOD PATH [curl args]  signed request to the endpoint (path style)
# s3_mkbucket NAME   create a bucket
# ceph_rgw_requests  number of requests radosgw has logged so far
#
# The packages (ceph-mon ceph-osd radosgw ceph-common ceph-base) come from
# packaging/deps/check.txt; this file installs nothing.

CEPH_DIR=
CEPH_CONF=
CEPH_BUCKET=${CEPH_BUCKET:-snapkeep}

ceph_have() {
  command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && command -v radosgw >/dev/null &&
    command -v monmaptool >/dev/null && command -v radosgw-admin >/dev/null && command -v ceph >/dev/null
}

# A port nothing listens on, below the kernel's ephemeral range: a port in
# that range can be the local end of some outgoing connection (an S3 client
# of an earlier test, say), which a connect() probe does not see but which
# makes bind() fail (seen: "unable to bind monitor ... Address already in use").
ceph__free_port() {
  local p lo hi
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
  [ "${lo:-0}" -gt 12000 ] || lo=32768   # odd range: stay below the default one
  for _ in $(seq 1 50); do
    p=$((10000 + RANDOM % (lo - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
       ! grep -qi ":$(printf '%04X' "$p") " /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  return 1
}

ceph__wait() { # SECONDS CMD...: poll CMD every 0.2 s
  local n=$(($1 * 5)); shift
  while [ "$n" -gt 0 ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2; n=$((n - 1))
  done
  return 1
}

ceph__kill() { # PIDFILE
  local pid i
  [ -f "$1" ] || return 0
  pid=$(cat "$1" 2>/dev/null)
  rm -f "$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  return 0
}

ceph_cli() { timeout 60 ceph -c "$CEPH_CONF" --connect-timeout 20 "$@"; }

ceph_start() {
  local d=$1 fsid monport
  ceph_have || { echo "ceph_start: ceph-mon/ceph-osd/radosgw not installed" >&2; return 1; }
  mkdir -p "$d"
  CEPH_DIR=$(cd "$d" && pwd)
  CEPH_CONF=$CEPH_DIR/ceph.conf
  mkdir -p "$CEPH_DIR"/{mon,osd.0,run,log,rgw}
  fsid=$(cat /proc/sys/kernel/random/uuid)
  monport=$(ceph__free_port) || return 1
  CEPH_RGW_PORT=$(ceph__free_port) || return 1
  cat > "$CEPH_CONF" <<EOF
[global]
fsid = $fsid
mon_host = v2:127.0.0.1:$monport
public_network = 127.0.0.0/8
ms_bind_msgr1 = false
ms_bind_ipv6 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc secure
client_mount_timeout = 30
run_dir = $CEPH_DIR/run
admin_socket = $CEPH_DIR/run/\$name.asok
log_file = $CEPH_DIR/log/\$name.log
pid_file = $CEPH_DIR/run/\$name.pid
keyring = $CEPH_DIR/keyring
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
paxos_propose_interval = 0.1
[mon]
mon_data = $CEPH_DIR/mon
[osd]
osd_data = $CEPH_DIR/osd.0
osd_objectstore = bluestore
bluestore_block_path = $CEPH_DIR/osd.0.block
bluestore_block_create = true
bluestore_block_size = 21474836480
bluestore_cache_size = 134217728
osd_memory_target = 939524096
[client.rgw]
rgw_frontends = beast endpoint=127.0.0.1:$CEPH_RGW_PORT
rgw_dns_name = localhost
rgw_thread_pool_size = 64
rgw_data = $CEPH_DIR/rgw
debug_rgw = 1
EOF
  ceph-authtool --create-keyring "$CEPH_DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null || return 1
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$monport]" "$CEPH_DIR/monmap" >/dev/null || return 1
  ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" || { echo "ceph_start: mon mkfs failed" >&2; return 1; }
  ceph-mon -c "$CEPH_CONF" -i a || { echo "ceph_start: mon did not start" >&2; return 1; }
  local uuid
  uuid=$(cat /proc/sys/kernel/random/uuid)
  ceph_cli osd new "$uuid" >/dev/null || { echo "ceph_start: osd new failed" >&2; return 1; }
  ceph-osd -c "$CEPH_CONF" -i 0 --mkfs --osd-uuid "$uuid" >"$CEPH_DIR/log/osd-mkfs.out" 2>&1 ||
    { echo "ceph_start: osd mkfs failed" >&2; tail -5 "$CEPH_DIR/log/osd-mkfs.out" >&2; return 1; }
  ceph-osd -c "$CEPH_CONF" -i 0 2>>"$CEPH_DIR/log/osd-start.err" || { echo "ceph_start: osd did not start" >&2; return 1; }
  # the OSD must be active before radosgw can create its pools
  ceph__wait 60 ceph__osd_active || { echo "ceph_start: osd not active" >&2; return 1; }
  rgw_start || return 1
  radosgw-admin -c "$CEPH_CONF" -n client.rgw user create --uid=snapkeep-test --display-name=snapkeep-test \
    --access-key=SKTESTACCESSKEY000001 --secret-key=sktestsecret/0123456789abcdefghijklmnopqrstuv \
    >/dev/null 2>"$CEPH_DIR/log/user-create.err" || { echo "ceph_start: user create failed" >&2; return 1; }
  export AWS_ACCESS_KEY_ID=SKTESTACCESSKEY000001
  export AWS_SECRET_ACCESS_KEY=sktestsecret/0123456789abcdefghijklmnopqrstuv
  export SNAPKEEP_S3_ENDPOINT=http://127.0.0.1:$CEPH_RGW_PORT
  export CEPH_RGW_PORT CEPH_RGW_LOG=$CEPH_DIR/log/client.rgw.log
  unset AWS_SESSION_TOKEN AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE
  s3_mkbucket "$CEPH_BUCKET" || { echo "ceph_start: cannot create bucket $CEPH_BUCKET" >&2; return 1; }
}

ceph__osd_active() {
  ceph --admin-daemon "$CEPH_DIR/run/osd.0.asok" status 2>/dev/null | grep -q '"state": "active"'
}

ceph__rgw_up() {
  curl -s -o /dev/null "http://127.0.0.1:$CEPH_RGW_PORT/"
}

rgw_start() {
  radosgw -c "$CEPH_CONF" -n client.rgw || { echo "rgw_start: radosgw did not start" >&2; return 1; }
  ceph__wait 60 ceph__rgw_up || { echo "rgw_start: radosgw not answering on 127.0.0.1:$CEPH_RGW_PORT" >&2; return 1; }
}

rgw_stop() { [ -n "$CEPH_DIR" ] && ceph__kill "$CEPH_DIR/run/client.rgw.pid"; }

ceph_stop() {
  [ -n "$CEPH_DIR" ] || return 0
  rgw_stop
  ceph__kill "$CEPH_DIR/run/osd.0.pid"
  ceph__kill "$CEPH_DIR/run/mon.a.pid"
  return 0
}

s3_curl() { # METHOD PATH [curl args...]; PATH starts with /bucket
  local m=$1 p=$2; shift 2
  curl -sS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X "$m" "$@" "$SNAPKEEP_S3_ENDPOINT$p"
}

s3_mkbucket() {
  local code
  code=$(s3_curl PUT "/$1" -H 'Content-Length: 0' -o /dev/null -w '%{http_code}') || return 1
  [ "$code" = 200 ] || { echo "s3_mkbucket $1: HTTP $code" >&2; return 1; }
}

ceph_rgw_requests() {
  grep -c 'beast: .* "\(GET\|PUT\|POST\|HEAD\|DELETE\) ' "$CEPH_RGW_LOG" 2>/dev/null || echo 0
}

# s3_test_setup: for tests/integration/test-s3-*.sh. Needs tests/lib/repo.sh
# sourced first. Skips (77) without root/builds/Ceph; creates $T, starts the
# cluster under $T/ceph (stopped on exit), and points SNAPKEEP_REPO at a fresh
# prefix of the bucket. SKOBJ is the raw object tool.
s3_test_setup() {
  SKOBJ=${SKOBJ:-$BUILD_DIR/tools/skobj}
  ceph_have || { echo "SKIP: Ceph (ceph-mon ceph-osd radosgw) not installed: run make deps"; exit 77; }
  [ -x "$SKOBJ" ] || { echo "SKIP: $SKOBJ not built"; exit 77; }
  command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
  sk_repo_setup
  trap 'ceph_stop; sk_cleanup' EXIT
  ceph_start "$T/ceph" || { ceph_stop; echo "FAIL: cannot start the Ceph cluster (logs in $T/ceph/log)"; \
    tail -20 "$T"/ceph/log/*.log 2>/dev/null; exit 1; }
  echo "case: radosgw on $SNAPKEEP_S3_ENDPOINT, bucket $CEPH_BUCKET"
  export SNAPKEEP_REPO
  SNAPKEEP_REPO=$(s3_repo_url main)
  export SNAPKEEP_CACHE_DIR=$T/cache
}

# s3_repo_url NAME: a fresh, unused repository URL in the test bucket.
s3_repo_url() { echo "s3://$CEPH_BUCKET/$1-$$-$RANDOM"; }

# s3_objects URL PREFIX/: "name size" lines of the objects below PREFIX.
s3_objects() { "$SKOBJ" "$1" ls "$2"; }
