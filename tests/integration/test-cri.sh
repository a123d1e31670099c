#!/bin/bash
# Issue 14 acceptance: the Kubernetes path, end to end, from a real registry.
#
# Two nodes, each containerd with its CRI plugin set to snapshotter "snapkeep"
# with snapshot annotations on (what `snapkeep setup containerd --cri` writes),
# share one repository. Images are built offline and pushed with skopeo into a
# docker-registry on 127.0.0.1, whose access log counts blob downloads. A CRI
# client (tests/go/cri, runtime.v1 over containerd's socket, as kubelet)
# drives everything:
#   A: PullImage of the 4-layer test image (whiteouts, an opaque dir; every
#      layer downloaded once and labelled with CRI's remote-snapshotter
#      labels); a host-network pod whose container writes files; ExecSync sees
#      the merged view; `snapkeep backup --container` takes the layers too.
#   B: a fresh node pulls the same image through CRI: zero downloads of the
#      layers the repository holds (the sandbox image, not in the repository,
#      is downloaded: the count is not blind), and a pod there lists the same
#      files as a pod on A.
#   A: removing the pods and the images lets containerd's GC remove every
#      backend snapshot.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SK_SRC/tests/lib/nodes.sh"
. "$SK_SRC/tests/lib/registry.sh"
. "$SK_SRC/tests/lib/cri.sh"
nodes_setup
reg_require
cri_setup
CRI_POD_NS=team-a

reg_start || { sk_notok "registry starts"; sk_finish; }
reg_push "$NODES_IMG_TAR" sk/ctbase:1 || { sk_notok "skopeo push of the test image"; sk_finish; }
IMG=$REG/sk/ctbase:1
cri_push_pause || { sk_notok "skopeo push of the sandbox image"; sk_finish; }
# The test image's layer digests as the registry has them (skopeo compresses
# the uncompressed layer on push, so they are not all the archive's).
LAYERS=$(skopeo inspect --raw --tls-verify=false "docker://$IMG" | jq -r '.layers[].digest')
[ "$(wc -w <<<"$LAYERS")" = 4 ] || { sk_notok "test image has 4 layers" "$LAYERS"; sk_finish; }
sk_ok "registry $REG serves the test image and the sandbox image (pushed with skopeo)"

# A's automation: one policy for the containers of pods labelled app=pod1 in
# Kubernetes namespace team-a (no other policy: nothing else is scheduled).
cat >"$SK_TMP/a.conf" <<CONF
[automation]
scan_interval = 1s
maintenance = false
[policy pod1]
k8s_namespaces = team-a
pod_label = app=pod1
interval = 3s
keep_last = 2
CONF
node_start a --config "$SK_TMP/a.conf" || { sk_notok "node A starts (containerd with CRI)"; sk_finish; }
node_start b || { sk_notok "node B starts (containerd with CRI)"; sk_finish; }
node_start c || { sk_notok "node C starts (containerd with CRI)"; sk_finish; }
v=$(cri a version 2>&1) && sk_ok "A: CRI runtime.v1 answers ($v)" || { sk_notok "A: CRI Version" "$v"; sk_finish; }

# ---- A: pull from the registry ----------------------------------------------------
mark=$(reg_mark)
id=$(cri a pull "$IMG" 2>&1) && sk_ok "A: PullImage $IMG -> $id" || { sk_notok "A: PullImage" "$id"; sk_finish; }
n=$(reg_blob_gets "$mark" $LAYERS)
[ "$n" = 4 ] && sk_ok "A: registry log: each of the 4 layers downloaded once" || sk_notok "A: layer downloads" "$n, want 4"
# CRI's remote-snapshotter labels reach snapkeep (disable_snapshot_annotations = false).
nlab=0
for k in $(sk_backend_ctr a ls | awk 'NR > 1 && $1 ~ /\/sha256:/ {print $1}'); do
  sk_backend_ctr a info "$k" | jq -e '.Labels["containerd.io/snapshot/cri.layer-digest"] // empty' >/dev/null && nlab=$((nlab + 1))
done
[ "$nlab" -ge 4 ] && sk_ok "A: $nlab layer snapshots carry containerd.io/snapshot/cri.layer-digest" ||
  sk_notok "A: CRI labels on layer snapshots" "$nlab"

# ---- A: a pod whose container writes files -------------------------------------------
writes='echo written > /written.txt; mkdir -p /srv/d; echo deep > /srv/d/f; rm /etc/sk-base; echo changed >> /data/kept.txt; touch /tmp/ready; exec sleep 100000'
cri_pod a pod1 c1 "$IMG" sh -c "$writes" || sk_finish
POD_A=$POD CID_A=$CID
sk_retry 20 cri a exec "$CID_A" test -e /tmp/ready || sk_notok "A: container c1 did not get ready"
view=$(cri a exec "$CID_A" sh -c 'cat /etc/sk-top; ls /app; ls /data; cat /data/kept.txt; cat /written.txt /srv/d/f; test -e /etc/sk-base || echo no-base; cat /etc/sk-layer2' 2>&1)
want='hello from snapkeep top layer
new.txt
kept.txt
kept from layer 1
changed
written
deep
no-base
layer two'
[ "$view" = "$want" ] && sk_ok "A: ExecSync sees the merged view (whiteout, opaque dir, top layer, the container's writes)" ||
  sk_notok "A: merged view" "$(diff <(echo "$want") <(echo "$view") | tr '\n' ' ')"
st=$(cri a status "$CID_A") && [ "${st%% *}" = CONTAINER_RUNNING ] && sk_ok "A: ContainerStatus RUNNING" || sk_notok "A: ContainerStatus" "$st"

# A second container in the pod, unchanged, to compare with node B's.
cri_container a "$POD_A" pod1 c0 "$IMG" sleep 100000 || sk_finish
CID_A0=$CID
LIST_A=$SK_TMP/list-a
cri_listing a "$CID_A0" >"$LIST_A"
[ "$(wc -l <"$LIST_A")" -gt 40 ] && sk_ok "A: listing of c0 ($(wc -l <"$LIST_A") entries)" || sk_notok "A: listing of c0" "$(head -3 "$LIST_A")"

LIST_C1=$SK_TMP/list-c1
cri_listing a "$CID_A" >"$LIST_C1"

# ---- A: back the pod container up (its layers go to the repository too) ------------
out=$(skc a backup --container "$CID_A" --namespace k8s.io --json 2>&1) &&
  BID=$(jq -r .backup_id <<<"$out") && [ -n "$BID" ] && [ "$BID" != null ] &&
  sk_ok "A: snapkeep backup --container $CID_A --namespace k8s.io -> $BID" ||
  { sk_notok "A: backup of the pod container" "$out"; sk_finish; }

# ---- Policies on Kubernetes identity: pod1's containers, not pod2's or sandboxes ---
cri_pod a pod2 c2 "$IMG" sleep 100000 || sk_finish
POD_A2=$POD CID_A2=$CID
sched() { "$SNAPKEEP" --no-progress daemon schedule --json --admin-socket "$(node_admin a)"; }
src_of() { sched | jq -r --arg id "$1" '.sources[] | select(.source | endswith("/" + $id))'; }
done_of() { [ "$(src_of "$1" | jq -r .last_success)" -gt 0 ] 2>/dev/null; }
if sk_retry 30 done_of "$CID_A" && sk_retry 30 done_of "$CID_A0"; then
  sk_ok "policy pod1 (k8s_namespaces = team-a, pod_label = app=pod1) backed up c1 and c0 of pod1"
else
  sk_notok "policy pod1: pod1's containers not backed up" "$(sched 2>&1 | head -c 1500)"
fi
n_src=$(sched | jq '.sources | length')
[ -z "$(src_of "$CID_A2")" ] && [ -z "$(src_of "$POD_A")" ] && [ -z "$(src_of "$POD_A2")" ] && [ "$n_src" = 2 ] &&
  sk_ok "policy pod1: pod2's container (app=pod2) and the two sandboxes are not scheduled (2 sources in all)" ||
  sk_notok "policy pod1 covers too much" "$(sched | jq -c '[.sources[].source]')"
cri a stopp "$POD_A2" && cri a rmp "$POD_A2" || sk_notok "A: removal of pod2"

# ---- Tags: the pod container's backup names its pod ---------------------------------
bj=$("$SNAPKEEP" --no-progress backups --json 2>&1)
k=$(jq -c --arg id "$BID" '.[] | select(.id == $id) | .kubernetes' <<<"$bj")
[ "$k" = '{"namespace":"team-a","pod":"pod1","container":"c1"}' ] &&
  sk_ok "tags: the backup carries pod namespace team-a, pod pod1, container c1" || sk_notok "tags" "$k"
# Each filter against the same selection made from the full listing.
for f in "--k8s-namespace team-a --pod pod1 --k8s-container c1" "--pod pod1 --k8s-container c0" \
  "--k8s-namespace team-a" "--pod pod2" "--k8s-namespace default" "--k8s-container nosuch"; do
  read -r -a fa <<<"$f"
  sel='.'
  for ((i = 0; i < ${#fa[@]}; i += 2)); do
    case ${fa[i]} in
      --k8s-namespace) sel+=" | select(.kubernetes.namespace == \"${fa[i + 1]}\")" ;;
      --pod) sel+=" | select(.kubernetes.pod == \"${fa[i + 1]}\")" ;;
      --k8s-container) sel+=" | select(.kubernetes.container == \"${fa[i + 1]}\")" ;;
    esac
  done
  want=$(jq -c "[.[] | $sel | .id] | sort" <<<"$bj")
  got=$("$SNAPKEEP" --no-progress backups --json "${fa[@]}" | jq -c '[.[].id] | sort')
  [ "$got" = "$want" ] && sk_ok "tags: backups --json $f: $(jq length <<<"$got") backup(s), as the listing says" ||
    sk_notok "tags: backups $f" "got $got want $want"
done
n=$(jq --arg id "$BID" '[.[] | select(.kubernetes.container == "c1") | .id] | index($id) != null' <<<"$bj")
m=$(jq '[.[] | select(.kubernetes.container == "c0")] | length' <<<"$bj")
[ "$n" = true ] && [ "$m" -ge 1 ] && sk_ok "tags: scheduled backups of c0 carry its pod too ($m)" ||
  sk_notok "tags: c0's scheduled backups" "$n $m"
"$SNAPKEEP" --no-progress backups | grep -q "(pod team-a/pod1 container c1)" &&
  sk_ok "tags: snapkeep backups names the pod in SOURCES" || sk_notok "tags: SOURCES" "$("$SNAPKEEP" --no-progress backups | tail -3)"

# ---- B: a fresh node pulls the same image: no layer download ------------------------
mark=$(reg_mark)
id_b=$(cri b pull "$IMG" 2>&1) && sk_ok "B: PullImage $IMG -> $id_b" || { sk_notok "B: PullImage" "$id_b"; sk_finish; }
[ "$id_b" = "$id" ] && sk_ok "B: same image id as A" || sk_notok "B: image id" "$id_b vs $id"
n=$(reg_blob_gets "$mark" $LAYERS)
[ "$n" = 0 ] && sk_ok "B: registry log: 0 downloads of the 4 layers the repository holds" || sk_notok "B: layer downloads" "$n, want 0"
st=$(skc b daemon status --json 2>/dev/null)
[ "$(jq -r .layers_rehydrated <<<"$st" 2>/dev/null)" = 4 ] && sk_ok "B: daemon status: layers_rehydrated = 4" ||
  sk_notok "B: layers_rehydrated" "$(jq -c . <<<"$st" 2>/dev/null | head -c 300)"
mark=$(reg_mark)
cri_pod b pod1 c0 "$IMG" sleep 100000 || sk_finish
POD_B=$POD CID_B0=$CID
n=$(reg_blob_gets "$mark")
[ "$n" -ge 1 ] && sk_ok "B: the sandbox image (not in the repository) was downloaded ($n blobs): the count sees downloads" ||
  sk_notok "B: sandbox image downloads" "$n"
LIST_B=$SK_TMP/list-b
cri_listing b "$CID_B0" >"$LIST_B"
if cmp -s "$LIST_A" "$LIST_B"; then
  sk_ok "B: a pod on B lists the same files as on A (path, type, mode, owner, size, sha256)"
else
  sk_notok "B: listings differ" "$(diff "$LIST_A" "$LIST_B" | head -5 | tr '\n' ' ')"
fi

# ---- C: the pod's state as an image, from the repository only ----------------------
RIMG=$REG/sk/restored:1
mark=$(reg_mark)
out=$("$SNAPKEEP" --no-progress restore "$BID" --as-image "$RIMG" --containerd-socket "$(sk_csock c)" --json 2>&1) &&
  [ "$(jq -r .image <<<"$out")" = "$RIMG" ] &&
  sk_ok "C: restore $BID --as-image $RIMG: $(jq -c '{layers, seconds}' <<<"$out")" ||
  { sk_notok "C: restore --as-image" "$out"; sk_finish; }
sk_retry 15 cri c image-id "$RIMG" >/dev/null && sk_ok "C: CRI sees image $RIMG without a pull" ||
  sk_notok "C: CRI does not see $RIMG"
cri_pod c podr cr "$RIMG" sleep 100000 || sk_finish
POD_C=$POD CID_C=$CID
n=$(reg_blob_gets "$mark" $LAYERS)
[ "$n" = 0 ] && sk_ok "C: registry log: 0 downloads of the image's layers (rehydrated from the repository)" ||
  sk_notok "C: layer downloads" "$n"
LIST_CR=$SK_TMP/list-cr
cri_listing c "$CID_C" >"$LIST_CR"
if [ -s "$LIST_CR" ] && cmp -s "$LIST_C1" "$LIST_CR"; then
  sk_ok "C: a pod running the restored image sees c1's files as backed up on A ($(wc -l <"$LIST_CR") entries: path, type, mode, owner, size, sha256, link, hardlinks)"
else
  sk_notok "C: restored pod's listing differs" "$(diff "$LIST_C1" "$LIST_CR" | head -6 | tr '\n' ' ')"
fi
cri c exec "$CID_C" cat /written.txt | grep -q written && sk_ok "C: the container's own write (/written.txt) is there" ||
  sk_notok "C: /written.txt missing"

# Bad input: nothing is left behind.
c_snaps() { sk_backend_ctr c ls | awk 'NR > 1' | wc -l; }
before=$(c_snaps)
out=$("$SNAPKEEP" --no-progress restore "$BID" --as-image "$RIMG" --containerd-socket "$(sk_csock c)" 2>&1) &&
  sk_notok "C: --as-image onto an existing name succeeded" "$out" ||
  { grep -q "already exists" <<<"$out" && sk_ok "C: --as-image onto an existing name: $(head -1 <<<"$out")" ||
    sk_notok "C: existing name: message" "$out"; }
out=$("$SNAPKEEP" --no-progress restore 0123456789abcdef --as-image "$REG/sk/nosuch:1" --containerd-socket "$(sk_csock c)" 2>&1) &&
  sk_notok "C: --as-image of a wrong id succeeded" "$out" ||
  { grep -qi "0123456789abcdef" <<<"$out" && sk_ok "C: --as-image of a wrong id: $(head -1 <<<"$out")" ||
    sk_notok "C: wrong id: message" "$out"; }
# A failure half-way (after the lease and a first snapshot): overlayfs cannot
# rehydrate a layer, so the first Prepare makes an empty snapshot; it and the
# lease must go.
out=$("$SNAPKEEP" --no-progress restore "$BID" --as-image "$REG/sk/half:1" --snapshotter overlayfs \
  --containerd-socket "$(sk_csock c)" 2>&1) && sk_notok "C: --as-image through overlayfs succeeded" "$out" ||
  { grep -q "was not rehydrated" <<<"$out" && sk_ok "C: --as-image through a snapshotter that cannot rehydrate: $(head -c 160 <<<"$out")" ||
    sk_notok "C: half-way failure: message" "$out"; }
ov=$(ctr --address "$(sk_csock c)" --namespace k8s.io snapshots --snapshotter overlayfs ls | awk 'NR > 1' | wc -l)
leases=$(ctr --address "$(sk_csock c)" --namespace k8s.io leases ls -q | grep -c snapkeep-as-image)
[ "$ov" = 0 ] && [ "$leases" = 0 ] && sk_ok "C: the half-way failure left no snapshot and no lease" ||
  sk_notok "C: half-way leftovers" "$ov overlayfs snapshots, $leases leases"
[ "$(c_snaps)" = "$before" ] && ! cri c image-id "$REG/sk/nosuch:1" >/dev/null 2>&1 &&
  sk_ok "C: the refused restores left no snapshot ($before before and after) and no image" ||
  sk_notok "C: leftovers" "$(c_snaps) snapshots vs $before"
cri c stopp "$POD_C" && cri c rmp "$POD_C" || sk_notok "C: pod removal"

# ---- A: remove pods and images, containerd's GC removes the backend snapshots -------
cri a stopp "$POD_A" && cri a rmp "$POD_A" && sk_ok "A: StopPodSandbox + RemovePodSandbox" || sk_notok "A: pod removal"
cri a rmi "$IMG" && cri a rmi "$SK_CRI_SANDBOX_IMAGE" && sk_ok "A: RemoveImage of both images" || sk_notok "A: RemoveImage"
backend_k8s() { sk_backend_ctr a ls | awk 'NR > 1 && $1 ~ /^k8s\.io\//' | wc -l; }
if sk_retry 30 test "$(backend_k8s)" = 0; then
  sk_ok "A: containerd's GC removed every k8s.io snapshot in snapkeep"
else
  sk_notok "A: snapshots left in snapkeep" "$(sk_backend_ctr a ls | head -5 | tr '\n' ' ')"
fi
ls "$(sk_root a)/snapshots" | grep -q . && sk_notok "A: snapshot directories left" "$(ls "$(sk_root a)/snapshots" | head)" ||
  sk_ok "A: no snapshot directory left under snapkeepd's root"

cri b stopp "$POD_B" && cri b rmp "$POD_B" || sk_notok "B: pod removal"
nodes_finish
