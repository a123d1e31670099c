#!/bin/bash
# Issue 14 acceptance, nerdctl: the containerd client calls nerdctl makes for
# `pull` (no remote-snapshotter labels: nerdctl adds them only for stargz,
# nydus, overlaybd, soci and cvmfs), `run` and `commit` (tests/go/nerdcalls:
# containerd's Go client, as nerdctl uses it; nerdctl itself is not in Debian
# 12) through snapkeep give the same container view as through containerd's
# built-in overlayfs snapshotter: the test image pulled from a real registry,
# a container changing files (new, modified, deleted, a replaced directory, a
# symlink, a hardlink, modes and owners), committed with the diff service,
# and the committed image run again. Its listing (path, type, mode, owner,
# size, sha256, link target, hardlink group) must be identical on both.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SK_SRC/tests/lib/nodes.sh"
. "$SK_SRC/tests/lib/registry.sh"
nodes_setup
reg_require
BUILD_DIR=$BUILD_DIR bash "$SK_SRC/tests/go/build.sh" nerdcalls >/dev/null 2>&1
NERD=$BUILD_DIR/go-bin/nerdcalls
[ -x "$NERD" ] || sk_skip "tests/go/nerdcalls could not be built"

reg_start || { sk_notok "registry starts"; sk_finish; }
reg_push "$NODES_IMG_TAR" sk/ctbase:1 || { sk_notok "push the test image"; sk_finish; }
IMG=$REG/sk/ctbase:1
node_start a || { sk_notok "node A starts"; sk_finish; }

changes='set -e
echo "new file" > /new.txt
echo "modified base" > /etc/sk-base
rm /etc/sk-layer2
rm -rf /app && mkdir /app && echo replaced > /app/only.txt
mkdir -p /srv/d && echo hl > /srv/h1 && ln /srv/h1 /srv/d/h2 && ln -s ../etc/sk-base /srv/link
chown 123:456 /srv/d/h2 && chmod 4750 /srv/h1 && chmod 0700 /srv/d
head -c 8388608 /dev/zero | tr "\\0" x > /srv/big.bin'

run_nerd() { # SNAPSHOTTER NAMESPACE OUT
  "$NERD" -address "$(sk_csock a)" -namespace "$2" -snapshotter "$1" -ref "$IMG" -changes "$changes" \
    -script "$_CT_LIST_SCRIPT" 2>"$3.err" | ct_listing_groups >"$3"
}
run_nerd snapkeep nerd-sk "$SK_TMP/list-sk" && [ -s "$SK_TMP/list-sk" ] &&
  sk_ok "snapkeep: pull, run, commit, run the committed image ($(wc -l <"$SK_TMP/list-sk") entries)" ||
  { sk_notok "snapkeep: nerdctl's calls" "$(tail -5 "$SK_TMP/list-sk.err")"; sk_finish; }
run_nerd overlayfs nerd-ov "$SK_TMP/list-ov" && [ -s "$SK_TMP/list-ov" ] &&
  sk_ok "overlayfs: the same calls ($(wc -l <"$SK_TMP/list-ov") entries)" ||
  { sk_notok "overlayfs: nerdctl's calls" "$(tail -5 "$SK_TMP/list-ov.err")"; sk_finish; }

grep -q "^labels-with-cri 0$" "$SK_TMP/list-sk.err" &&
  sk_ok "pull as nerdctl does: no cri.* remote-snapshotter labels reach snapkeep" ||
  sk_notok "pull labels" "$(cat "$SK_TMP/list-sk.err")"
if cmp -s "$SK_TMP/list-sk" "$SK_TMP/list-ov"; then
  sk_ok "the committed image's container lists the same files through snapkeep and overlayfs"
else
  sk_notok "listings differ" "$(diff "$SK_TMP/list-ov" "$SK_TMP/list-sk" | head -8 | tr '\n' ' ')"
fi
grep -q '^/new.txt|file|' "$SK_TMP/list-sk" && grep -q '^/app/only.txt|' "$SK_TMP/list-sk" &&
  ! grep -q '^/etc/sk-layer2|\|^/app/new.txt|' "$SK_TMP/list-sk" && grep -q '^/srv/h1|file|4750|' "$SK_TMP/list-sk" &&
  sk_ok "the committed image holds the changes (new, deleted, replaced dir, setuid mode)" ||
  sk_notok "the committed image lacks changes" "$(grep -E '^/(new|app|srv|etc/sk)' "$SK_TMP/list-sk" | head)"
# The committed layer is a snapshot of snapkeep's (5 image layers + the commit).
n=$(sk_backend_ctr a ls | awk 'NR > 1 && $1 ~ /^nerd-sk\// && / Committed/' | wc -l)
[ "$n" -ge 5 ] && sk_ok "snapkeep holds the pulled and the committed layers ($n committed snapshots)" ||
  sk_notok "snapkeep's committed snapshots" "$(sk_backend_ctr a ls | head)"
nodes_finish
