#!/bin/bash
# Who may restore what: snapkeep's labels sent by clients and by image authors.
#
#  - An image whose top layer carries the annotation
#    containerd.io/snapshot/snapkeep.restore=<another container's backup id>,
#    pulled through containerd's pull unpacker (which copies such annotations
#    into the layer's Prepare labels), must not receive that container's files:
#    the pull is refused (InvalidArgument) and no snapshot holds them.
#  - An image layer annotated containerd.io/snapshot/snapkeep.restoring is
#    refused too (the daemon deletes snapshots so marked at its next start).
#  - A client that labels a container's snapshot snapkeep.restoring (ctr
#    snapshots label, an Update) is refused, and after a snapkeepd restart the
#    snapshot still exists; a harmless label still works, and an Update
#    replacing every label keeps the daemon's snapkeep.backup label.
#  - A client's Prepare labelled containerd.io/snapshot.ref=<chain id> (not an
#    unpack key) is not answered with a layer built from the repository.
#  - A restore by "latest" or by a short id prefix is refused by default and
#    works with --restore-selectors=latest,prefix; a full id always works.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
[ -n "${SNAPKEEPD_ASAN:-}" ] && [ -x "$SNAPKEEPD_ASAN" ] && SNAPKEEPD=$SNAPKEEPD_ASAN
. "$SK_SRC/tests/lib/nodes.sh"
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
STOREPULL=${STOREPULL:-$BUILD_DIR/go-bin/storepull}
SKPREPARE=${SKPREPARE:-$BUILD_DIR/go-bin/skprepare}
nodes_setup
BUILD_DIR=$BUILD_DIR bash "$SK_SRC/tests/go/build.sh" storepull skprepare >/dev/null 2>&1
[ -x "$STOREPULL" ] && [ -x "$SKPREPARE" ] ||
  sk_skip "tests/go/storepull or skprepare could not be built (golang-go, containerd Go sources)"

node_up_with a victim
node_exec a victim 'mkdir -p /work && echo "victim secret 7c1d" > /work/secret' || sk_notok "A: write the victim's file"
node_backup a victim
[ ${#ID} -eq 64 ] && sk_ok "A: victim backed up as $ID" || { sk_notok "A: backup id" "$out"; sk_finish; }

# Snapshot directories holding the victim's file (the victim's own is one).
secret_copies() { grep -rls "victim secret 7c1d" "$(sk_root a)/snapshots" 2>/dev/null | wc -l; }
[ "$(secret_copies)" -eq 1 ] || sk_notok "the victim's file is in $(secret_copies) snapshot directories before the attack"

# ---- an image asks for the victim's backup --------------------------------------
mkdir -p "$SK_TMP/extra/etc" && echo "attacker layer" >"$SK_TMP/extra/etc/attacker"
oci_build_test_image "$SK_TMP/attack.tar" docker.io/snapkeep/attack:1 "$SK_TMP/extra" \
  "containerd.io/snapshot/snapkeep.restore=$ID" >/dev/null || { sk_notok "build the attacking image"; sk_finish; }
sk_check "A: import the attacking image (content only)" sk_ctr a images import --no-unpack "$SK_TMP/attack.tar"
out=$("$STOREPULL" -address "$(sk_csock a)" -namespace "$SK_NAMESPACE" -snapshotter snapkeep docker.io/snapkeep/attack:1 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -qi "invalidargument\|invalid argument" <<<"$out" && grep -q "not on an image layer" <<<"$out"; then
  sk_ok "pull-unpack of an image whose layer asks for snapkeep.restore=<id> is refused: $(grep -o 'a restore label[^(]*' <<<"$out" | head -1)"
else
  sk_notok "pull-unpack of the attacking image (exit $rc)" "$(tail -3 <<<"$out")"
fi
n=$(secret_copies)
[ "$n" -eq 1 ] && sk_ok "no snapshot but the victim's holds the victim's file" ||
  sk_notok "the victim's file is in $n snapshot directories after the attacking pull"
if [ $rc -eq 0 ]; then # the old behaviour: show what a container of that image sees
  NODE_RUN_IMG=docker.io/snapkeep/attack:1 node_run_bg a attacker &&
    node_exec a attacker 'cat /work/secret' 2>/dev/null | grep -q "victim secret" &&
    sk_notok "a container of the attacking image reads the victim's /work/secret"
fi

# ---- an image marks a layer "restoring" ----------------------------------------------
oci_build_test_image "$SK_TMP/mark.tar" docker.io/snapkeep/mark:1 "$SK_TMP/extra" \
  "containerd.io/snapshot/snapkeep.restoring=1" >/dev/null || sk_notok "build the marking image"
sk_ctr a images import --no-unpack "$SK_TMP/mark.tar" >/dev/null 2>&1
out=$("$STOREPULL" -address "$(sk_csock a)" -namespace "$SK_NAMESPACE" -snapshotter snapkeep docker.io/snapkeep/mark:1 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "set by snapkeepd only" <<<"$out"; then
  sk_ok "pull-unpack of an image whose layer carries snapkeep.restoring is refused"
else
  sk_notok "pull-unpack of the marking image (exit $rc)" "$(tail -3 <<<"$out")"
fi

# ---- a client marks a container's snapshot "restoring" -----------------------------
out=$(sk_ctr a snapshots --snapshotter snapkeep label victim "containerd.io/snapshot/snapkeep.restoring=1" 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "set by snapkeepd only" <<<"$out" &&
  sk_ok "ctr snapshots label victim snapkeep.restoring=1 is refused" ||
  sk_notok "labelling the victim's snapshot snapkeep.restoring (exit $rc)" "$out"
sk_check "a harmless label still works" sk_ctr a snapshots --snapshotter snapkeep label victim "containerd.io/snapshot/x=1"
# An Update without field paths replaces every label (containerd forwards one
# so when its client names no paths, with only the labels it knows): the
# daemon's backup labels must survive it.
"$SKPREPARE" -socket "$(sk_sock a)" -update -key "$(node_backend_key a victim)" -label "containerd.io/snapshot/x=1" >/dev/null ||
  sk_notok "Update replacing every label"
binfo=$(sk_backend_ctr a info "$(node_backend_key a victim)")
[ "$(jq -r '.Labels["containerd.io/snapshot/snapkeep.backup"] // empty' <<<"$binfo")" = "$ID" ] &&
  [ "$(jq -r '.Labels["containerd.io/snapshot/x"] // empty' <<<"$binfo")" = 1 ] &&
  sk_ok "after an Update replacing every label, the snapshot keeps snapkeep.backup=$ID and has the new label" ||
  sk_notok "labels after an Update replacing every label" "$(jq -c .Labels <<<"$binfo")"
# An Update naming one of snapkeepd's labels with no value deletes it: refused.
out=$(sk_ctr a snapshots --snapshotter snapkeep label victim "containerd.io/snapshot/snapkeep.backup=" 2>&1); rc=$?
binfo=$(sk_backend_ctr a info "$(node_backend_key a victim)")
[ $rc -ne 0 ] && grep -q "set by snapkeepd only" <<<"$out" &&
  [ "$(jq -r '.Labels["containerd.io/snapshot/snapkeep.backup"] // empty' <<<"$binfo")" = "$ID" ] &&
  sk_ok "deleting snapkeep.backup through an Update path is refused; the label stays" ||
  sk_notok "deleting snapkeep.backup through an Update path (exit $rc)" "$out $(jq -c .Labels <<<"$binfo")"
# (not through sk_check: its subshell would lose the new daemon's pid)
node_snapkeepd_restart a >/dev/null 2>&1 && sk_ok "snapkeepd restarts" || sk_notok "snapkeepd restarts"
if [ -n "$(node_backend_key a victim)" ] && node_exec a victim 'cat /work/secret' >/dev/null 2>&1; then
  sk_ok "after the restart the victim's snapshot is still there and its task still reads it"
else
  sk_notok "the victim's snapshot is gone after the restart" "$(grep -i 'half-restored' "$(sk_dir a)/snapkeepd.log" | tail -2)"
fi

# ---- a client asks for a layer by snapshot.ref ------------------------------------------
# The remote-snapshotter answer (build the layer from the repository) is for
# containerd's unpacker only; a client's own key gets a plain snapshot.
top=$(sk_backend_ctr a info "$(node_backend_key a victim)" | jq -r .Parent)
below=$(sk_backend_ctr a info "$top" | jq -r .Parent)
chain=${top##*/}
out=$("$SKPREPARE" -socket "$(sk_sock a)" -key "$SK_NAMESPACE/777/mine" -parent "$below" \
  -label "containerd.io/snapshot.ref=$chain" 2>&1); rc=$?
if [ $rc -eq 0 ] && [ -z "$(sk_backend_ctr a ls | awk -v k="$SK_NAMESPACE/777/$chain" '$1 == k')" ]; then
  sk_ok "Prepare of a client's key with snapshot.ref=$chain is a plain Prepare (no layer built from the repository)"
else
  sk_notok "Prepare of a client's key with snapshot.ref (exit $rc)" "$out"
fi

# ---- selectors ------------------------------------------------------------------------
out=$(node_run_bg a r-latest --snapshotter-label "containerd.io/snapshot/snapkeep.restore=latest" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "not allowed on this node" <<<"$out" && sk_ok "restore=latest is refused by default" ||
  sk_notok "restore=latest by default (exit $rc)" "$out"
out=$(node_run_bg a r-prefix --snapshotter-label "containerd.io/snapshot/snapkeep.restore=${ID:0:8}" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "not allowed on this node" <<<"$out" && sk_ok "restore=<8-digit prefix> is refused by default" ||
  sk_notok "restore by prefix by default (exit $rc)" "$out"
if node_run_bg a r-full --snapshotter-label "containerd.io/snapshot/snapkeep.restore=$ID" 2>"$SK_TMP/err" &&
  [ "$(node_exec a r-full 'cat /work/secret')" = "victim secret 7c1d" ]; then
  sk_ok "restore by the full id works"
else
  sk_notok "restore by the full id" "$(cat "$SK_TMP/err")"
fi
NODE_ARGS[a]="--restore-selectors=latest,prefix"
node_snapkeepd_restart a >/dev/null 2>&1 && sk_ok "snapkeepd restarts with --restore-selectors=latest,prefix" ||
  sk_notok "snapkeepd restarts with --restore-selectors=latest,prefix"
if node_run_bg a r-prefix2 --snapshotter-label "containerd.io/snapshot/snapkeep.restore=${ID:0:8}" 2>"$SK_TMP/err" &&
  [ "$(node_exec a r-prefix2 'cat /work/secret')" = "victim secret 7c1d" ]; then
  sk_ok "with restore_selectors = prefix, a prefix restores"
else
  sk_notok "restore by prefix when allowed" "$(cat "$SK_TMP/err")"
fi

nodes_finish
