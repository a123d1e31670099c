#!/usr/bin/env bash
# The Debian package (issue 13), built and used on this machine:
#
#  - `make deb` builds snapkeep_<version>_<arch>.deb with debhelper from a copy
#    of the tree, and lintian reports no error (make deb fails otherwise);
#  - the package holds the binaries, the man pages, the default config (a
#    conffile), and the systemd unit with ExecStart at the packaged binary;
#  - `dpkg -i` installs it without touching containerd's config;
#  - the daemon installed by the package passes containerd's conformance
#    suite (test-conformance.sh with SNAPKEEPD=/usr/bin/snapkeepd, no ASan
#    pass) and runs a container through a real containerd;
#  - `dpkg -r` while that daemon runs: the removal succeeds, the running
#    daemon keeps serving and then stops cleanly, and a running container
#    keeps its filesystem through the stop; the config stays until
#    `dpkg -P`, which removes it; the snapshots' data is never touched.
# The package is purged at the end whatever happens, so the machine is left
# as it was found. Skipped if a snapkeep package is already installed.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SK_NAMESPACE=${SK_NAMESPACE:-skdeb$$}
. "$SK_SRC/tests/lib/nodes.sh"
for c in dpkg-buildpackage lintian dpkg-deb; do
  command -v $c >/dev/null || sk_skip "$c not installed (make deps-deb)"
done
dpkg-query -W -f='${Status}' snapkeep 2>/dev/null | grep -q installed &&
  sk_skip "a snapkeep package is already installed on this machine"
nodes_setup

purge() { dpkg -P snapkeep >/dev/null 2>&1; }
trap 'purge; sk_cleanup' EXIT
ccfg=/etc/containerd/config.toml
csum() { [ -f "$ccfg" ] && sha256sum "$ccfg" | cut -d' ' -f1 || echo absent; }
before=$(csum)

# --- build ---------------------------------------------------------------------------------
out=$(make --no-print-directory -C "$SK_SRC" deb BUILD="$SK_TMP/b" 2>&1); rc=$?
deb=$(ls "$SK_TMP"/b/deb/snapkeep_*.deb 2>/dev/null | head -1)
[ $rc -eq 0 ] && [ -f "$deb" ] && sk_ok "make deb: $(basename "$deb"), lintian: no errors" ||
  { sk_notok "make deb (exit $rc)" "$(tail -30 <<<"$out")"; sk_finish; }
lint=$(lintian "$deb" 2>&1 | grep -c '^W:')
echo "# lintian: $lint warnings (make deb fails on any error)"
files=$(dpkg-deb -c "$deb" | awk '{ print $NF }' | sed 's#^\./#/#')
for f in /usr/bin/snapkeepd /usr/bin/snapkeep /usr/share/man/man8/snapkeepd.8.gz /usr/share/man/man1/snapkeep.1.gz \
         /etc/snapkeep/snapkeepd.conf /lib/systemd/system/snapkeepd.service; do
  grep -qx "$f" <<<"$files" || sk_notok "the package lacks $f"
done
sk_ok "the package holds the binaries, man pages, config and unit"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles 2>/dev/null | grep -qx /etc/snapkeep/snapkeepd.conf &&
  sk_ok "the config is a conffile" || sk_notok "the config is not a conffile"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/snapkeepd.service | grep -qx \
  'ExecStart=/usr/bin/snapkeepd --config=/etc/snapkeep/snapkeepd.conf' &&
  sk_ok "the unit starts the packaged binary" || sk_notok "the unit's ExecStart is not /usr/bin/snapkeepd"

# --- install ------------------------------------------------------------------------------------
out=$(dpkg -i "$deb" 2>&1) && sk_ok "dpkg -i" || { sk_notok "dpkg -i" "$out"; sk_finish; }
[ "$(csum)" = "$before" ] && sk_ok "containerd's config is untouched ($before)" || sk_notok "containerd's config changed"
v=$(/usr/bin/snapkeepd --version 2>&1)
sk_check "the installed snapkeepd runs ($v)" test -n "$v"

# --- the packaged daemon: conformance, then a container through containerd ----------------------------
SNAPKEEPD=/usr/bin/snapkeepd SK_CONFORMANCE_ASAN=0 SK_CONFORMANCE_PARALLEL=2 \
  bash "$SK_SRC/tests/integration/test-conformance.sh" >"$SK_TMP/conformance.log" 2>&1; rc=$?
n=$(grep -c '^ok' "$SK_TMP/conformance.log")
[ $rc -eq 0 ] && sk_ok "the packaged snapkeepd passes containerd's conformance suite ($n cases)" ||
  sk_notok "conformance with the packaged snapkeepd (exit $rc)" "$(grep -v '^ok' "$SK_TMP/conformance.log" | tail -20)"

SNAPKEEPD=/usr/bin/snapkeepd
node_start a --config /etc/snapkeep/snapkeepd.conf || { sk_notok "the packaged snapkeepd starts with its config"; sk_finish; }
sk_check "import an image into it" sk_ctr a images import --snapshotter snapkeep "$NODES_IMG_TAR" || sk_finish
got=$(sk_ctr a run --rm --snapshotter snapkeep "$NODES_IMG" hello sh -c 'echo hello from $(cat /etc/hostname 2>/dev/null || echo it)' 2>&1)
grep -q "^hello from" <<<"$got" && sk_ok "a container runs on the packaged snapkeepd ($got)" ||
  sk_notok "a container on the packaged snapkeepd" "$got"

# --- removal while it runs ------------------------------------------------------------------------------
root=$(sk_root a)
node_run_bg a keep || sk_notok "start a long-running container"
node_exec a keep "echo before > /mark" || sk_notok "write in the running container"
out=$(dpkg -r snapkeep 2>&1) && sk_ok "dpkg -r while the daemon runs" || sk_notok "dpkg -r" "$out"
[ ! -e /usr/bin/snapkeepd ] && [ -f /etc/snapkeep/snapkeepd.conf ] &&
  sk_ok "removed: the binary is gone, the config stays" || sk_notok "after dpkg -r: $(ls -l /usr/bin/snapkeepd /etc/snapkeep 2>&1)"
sk_ctr a snapshots --snapshotter snapkeep ls >/dev/null 2>&1 && sk_ok "the running daemon still serves containerd" ||
  sk_notok "the running daemon stopped serving after dpkg -r"
[ "$(node_exec a keep 'cat /mark; echo after >> /mark; cat /mark' | tr '\n' ' ')" = "before before after " ] &&
  sk_ok "a running container's filesystem is untouched and writable after dpkg -r" ||
  sk_notok "the running container after dpkg -r: $(node_exec a keep 'cat /mark' 2>&1)"
sk_snapkeepd_stop a && sk_ok "and it stops cleanly (exit 0)" || sk_notok "the daemon's stop after dpkg -r"
# A stop never unmounts a running container's snapshot (containerd mounted it).
[ "$(node_exec a keep 'echo stopped >> /mark; tail -1 /mark')" = stopped ] &&
  sk_ok "with snapkeepd stopped, the running container still reads and writes its filesystem" ||
  sk_notok "the running container after snapkeepd stopped: $(node_exec a keep 'cat /mark' 2>&1)"
sk_ctr a tasks kill -s KILL keep >/dev/null 2>&1
out=$(dpkg -P snapkeep 2>&1) && [ ! -e /etc/snapkeep/snapkeepd.conf ] && sk_ok "dpkg -P removes the config" ||
  sk_notok "dpkg -P" "$out $(ls /etc/snapkeep 2>&1)"
[ "$(csum)" = "$before" ] && sk_ok "containerd's config is still untouched" || sk_notok "containerd's config changed"
[ -d "$root/snapshots" ] && sk_ok "the snapshots' data survives the purge" || sk_notok "the purge removed $root"
nodes_finish
