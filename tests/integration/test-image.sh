#!/usr/bin/env bash
# The container image and the DaemonSet (issue 13):
#
#  - daemonset.yaml and image.json are what generate.py makes of
#    snapkeep.json (they cannot drift from the description, or each other);
#  - the manifest passes a structural check (Debian has no Kubernetes schema
#    validator): a DaemonSet whose selector matches its pod labels, whose
#    container runs the image `make image` built with that image's entrypoint,
#    privileged (Bidirectional propagation needs it), every volume mounted and
#    every mount a declared volume, probes on the metrics port the arguments
#    open, resource requests, and the Secret its env and volume name;
#  - `make image` builds the OCI archive offline;
#  - the image runs under containerd with exactly the manifest's command,
#    arguments, environment (Secret values substituted, as the kubelet does),
#    privileges, host network and host mounts (read from the manifest; the
#    containerd socket's host side is the test's containerd), and that same
#    containerd uses it as its proxy snapshotter to run a container from a
#    layered image; /livez and /readyz answer 200 on the manifest's port.
# It uses the real host paths the manifest names (/run/snapkeep,
# /var/lib/snapkeep) and is skipped if they are in use.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
SNAPKEEP=${SNAPKEEP:-$BUILD_DIR/snapkeep}
SK_NAMESPACE=${SK_NAMESPACE:-skimg$$}
. "$SK_SRC/tests/lib/containerd.sh"
. "$SK_SRC/tests/lib/oci-image.sh"
K=$SK_SRC/packaging/kubernetes
sk_require_env
python3 -c 'import yaml' 2>/dev/null || sk_skip "python3-yaml not installed"
[ -e /run/snapkeep/snapkeep.sock ] && sk_skip "/run/snapkeep/snapkeep.sock exists: a snapkeepd runs on this host"
[ -n "$(ls -A /var/lib/snapkeep 2>/dev/null)" ] && sk_skip "/var/lib/snapkeep is in use on this host"
sk_tmp_init
# What this test leaves must go, and only that: /var/lib/snapkeep was empty or
# missing; in /run/snapkeep only the daemon's two sockets are ours.
made_state=0 made_run=0
[ -e /var/lib/snapkeep ] || made_state=1
[ -e /run/snapkeep ] || made_run=1
cleanup_image() {
  local rc=$?
  ctr --address "$(sk_csock a)" -n "$SK_NAMESPACE" tasks kill -s KILL skd >/dev/null 2>&1
  sleep 1
  ctr --address "$(sk_csock a)" -n "$SK_NAMESPACE" containers rm skd >/dev/null 2>&1
  sk_umount_under /var/lib/snapkeep
  if [ $made_state = 1 ]; then rm -rf /var/lib/snapkeep; else find /var/lib/snapkeep -mindepth 1 -delete; fi
  rm -f /run/snapkeep/snapkeep.sock /run/snapkeep/admin.sock
  [ $made_run = 1 ] && rmdir /run/snapkeep 2>/dev/null
  (exit $rc) # sk_cleanup exits with the status it is called with
  sk_cleanup
}
trap cleanup_image EXIT

# --- generated, not edited ---------------------------------------------------------------------
mkdir -p "$SK_TMP/gen"
python3 "$K/generate.py" "$K/snapkeep.json" "$SK_TMP/gen" &&
  cmp -s "$SK_TMP/gen/daemonset.yaml" "$K/daemonset.yaml" && cmp -s "$SK_TMP/gen/image.json" "$K/image.json" &&
  sk_ok "daemonset.yaml and image.json are what generate.py makes of snapkeep.json" ||
  sk_notok "the checked-in manifest or image config differs from snapkeep.json's (run make manifests)"

# --- the image ------------------------------------------------------------------------------------
out=$(make --no-print-directory -C "$SK_SRC" image 2>&1); rc=$?
IMG_TAR=$BUILD_DIR/snapkeepd-image.tar
[ $rc = 0 ] && [ -f "$IMG_TAR" ] && sk_ok "make image: $(tail -1 <<<"$out" | cut -d';' -f1)" ||
  { sk_notok "make image (exit $rc)" "$out"; sk_finish; }
mkdir -p "$SK_TMP/img" && tar -xf "$IMG_TAR" -C "$SK_TMP/img"

# --- the manifest: structural check, and the plan to run it ------------------------------------------
cat >"$SK_TMP/check.py" <<'EOF'
# Structural check of the DaemonSet against the image; prints the run plan
# (JSON) the shell then follows, or the problems found (exit 1).
import json, os, re, sys
import yaml
manifest, imgdir = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(manifest)) if d]
bad = []
def need(cond, what):
    if not cond:
        bad.append(what)
need(len(docs) == 1, "one document")
ds = docs[0]
need(ds.get("apiVersion") == "apps/v1" and ds.get("kind") == "DaemonSet", "apps/v1 DaemonSet")
spec = ds["spec"]; tpl = spec["template"]; pod = tpl["spec"]
sel = spec["selector"]["matchLabels"]
need(sel and all(tpl["metadata"]["labels"].get(k) == v for k, v in sel.items()), "selector matches the pod's labels")
need(len(pod["containers"]) == 1, "one container")
c = pod["containers"][0]
index = json.load(open(os.path.join(imgdir, "index.json")))
ref = index["manifests"][0]["annotations"]["io.containerd.image.name"]
need(c["image"] == ref, "the container runs the built image %s (manifest: %s)" % (ref, c["image"]))
man = json.load(open(os.path.join(imgdir, "blobs/sha256", index["manifests"][0]["digest"].split(":")[1])))
cfg = json.load(open(os.path.join(imgdir, "blobs/sha256", man["config"]["digest"].split(":")[1])))["config"]
need(c["command"] == cfg["Entrypoint"], "command is the image's entrypoint")
priv = c.get("securityContext", {}).get("privileged") is True
vols = {v["name"]: v for v in pod["volumes"]}
mounts = c["volumeMounts"]
for m in mounts:
    need(m["name"] in vols, "mount %s has a volume" % m["name"])
    if m.get("mountPropagation") == "Bidirectional":
        need(priv, "Bidirectional propagation on %s needs privileged" % m["name"])
for name in vols:
    need(any(m["name"] == name for m in mounts), "volume %s is mounted" % name)
ports = [p["containerPort"] for p in c.get("ports", [])]
addr = [a for a in c["args"] if a.startswith("--metrics-address=")]
need(len(addr) == 1, "one --metrics-address argument")
mport = int(addr[0].rsplit(":", 1)[1]) if addr else -1
for probe in ("livenessProbe", "readinessProbe"):
    p = c.get(probe, {}).get("httpGet", {})
    need(p.get("port") == mport and mport in ports, "%s on the metrics port %d" % (probe, mport))
need(c["livenessProbe"]["httpGet"]["path"] == "/livez" and c["readinessProbe"]["httpGet"]["path"] == "/readyz",
     "probes on /livez and /readyz")
req = c.get("resources", {}).get("requests", {})
need("cpu" in req and "memory" in req, "cpu and memory requests")
secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", []) if "valueFrom" in e}
svols = [v["secret"]["secretName"] for v in vols.values() if "secret" in v]
need(len(secrets) == 1 and svols == list(secrets), "env and volume name one Secret")
need(pod.get("hostNetwork") is True, "host network (the probes and metrics on the node's address)")
for m in mounts:
    v = vols[m["name"]]
    if "hostPath" in v:
        need(v["hostPath"]["path"] == m["mountPath"], "host path %s mounted at the same path" % m["name"])
if bad:
    print("\n".join(bad)); sys.exit(1)
plan = {
    "privileged": priv, "host_network": pod.get("hostNetwork") is True,
    "command": c["command"], "args": c["args"], "port": mport,
    "env": [{"name": e["name"], "key": e["valueFrom"]["secretKeyRef"]["key"],
             "optional": e["valueFrom"]["secretKeyRef"].get("optional", False)} for e in c.get("env", [])],
    "mounts": [{"name": m["name"], "path": m["mountPath"], "propagation": m.get("mountPropagation", "None"),
                "read_only": m.get("readOnly", False),
                "host": vols[m["name"]].get("hostPath", {}).get("path"),
                "secret_items": [i["path"] for i in vols[m["name"]].get("secret", {}).get("items", [])]}
               for m in mounts],
}
print(json.dumps(plan))
EOF
plan=$(python3 "$SK_TMP/check.py" "$K/daemonset.yaml" "$SK_TMP/img" 2>&1) &&
  sk_ok "the DaemonSet passes the structural check" || { sk_notok "structural check" "$plan"; sk_finish; }

# --- the Secret's values, and the repository it names ---------------------------------------------------
mkdir -p /var/lib/snapkeep "$SK_TMP/secret"
head -c 64 /dev/urandom >"$SK_TMP/secret/key"
chmod 0400 "$SK_TMP/secret/key"
declare -A SECRET=([repo]=/var/lib/snapkeep/test-repo)
"$SNAPKEEP" --no-progress -q --repo "${SECRET[repo]}" --key-file "$SK_TMP/secret/key" repo init >/dev/null ||
  sk_notok "create the repository the Secret names"

# --- run the image as the manifest says ---------------------------------------------------------------------
# containerd dials the DaemonSet's socket (the test's containerd config names
# <dir>/sk.sock: a link to it).
mkdir -p "$(sk_dir a)"
ln -s /run/snapkeep/snapkeep.sock "$(sk_sock a)"
sk_containerd_start a || { sk_notok "containerd starts"; sk_finish; }
sk_ctr a images import "$IMG_TAR" >/dev/null || { sk_notok "import the image"; sk_finish; }
args=()
[ "$(jq -r .privileged <<<"$plan")" = true ] && args+=(--privileged)
[ "$(jq -r .host_network <<<"$plan")" = true ] && args+=(--net-host)
while read -r m; do
  path=$(jq -r .path <<<"$m"); prop=$(jq -r .propagation <<<"$m"); ro=$(jq -r .read_only <<<"$m")
  host=$(jq -r '.host // empty' <<<"$m")
  case $prop in Bidirectional) opt=rshared ;; HostToContainer) opt=rslave ;; *) opt=rprivate ;; esac
  [ "$ro" = true ] && opt+=":ro"
  if [ -z "$host" ]; then
    host=$SK_TMP/secret                                  # the Secret's volume: its items
    [ "$(jq -r '.secret_items | join(",")' <<<"$m")" = key ] || sk_notok "unexpected Secret items in $m"
  elif [ "$path" = /run/containerd/containerd.sock ]; then
    host=$(sk_csock a)                                   # this test's containerd
  else
    mkdir -p "$host"
  fi
  args+=(--mount "type=bind,src=$host,dst=$path,options=rbind:$opt")
done < <(jq -c '.mounts[]' <<<"$plan")
while read -r e; do
  name=$(jq -r .name <<<"$e"); key=$(jq -r .key <<<"$e")
  [ -n "${SECRET[$key]:-}" ] && args+=(--env "$name=${SECRET[$key]}")
done < <(jq -c '.env[]' <<<"$plan")
# The kubelet's $(VAR) expansion of the arguments.
cmd=()
while read -r a; do
  while [[ $a =~ \$\(([A-Z_]+)\) ]]; do
    var=${BASH_REMATCH[1]}
    key=$(jq -r --arg v "$var" '.env[] | select(.name == $v) | .key' <<<"$plan")
    a=${a//\$($var)/${SECRET[$key]:-}}
  done
  cmd+=("$a")
done < <(jq -r '.command[], .args[]' <<<"$plan")
REF=$(jq -r '.manifests[0].annotations["io.containerd.image.name"]' "$SK_TMP/img/index.json")
echo "# ctr run ${args[*]} $REF skd ${cmd[*]}"
sk_ctr a run -d "${args[@]}" "$REF" skd "${cmd[@]}" >/dev/null ||
  { sk_notok "run the image as the manifest says"; sk_finish; }
PORT=$(jq -r .port <<<"$plan")
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ]; }
if sk_retry 30 ready; then
  sk_ok "the image's snapkeepd is ready on the manifest's port $PORT (/readyz 200)"
else
  sk_notok "/readyz: $(curl -s "http://127.0.0.1:$PORT/readyz")"
  sk_ctr a tasks ls
  sk_finish
fi
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/livez")" = 200 ] && sk_ok "/livez 200" ||
  sk_notok "/livez"
[ -S /run/snapkeep/snapkeep.sock ] && sk_ok "its socket is on the host at /run/snapkeep/snapkeep.sock" ||
  sk_notok "no socket on the host"

# --- the host's containerd uses it ------------------------------------------------------------------------------
oci_build_test_image "$SK_TMP/test.tar" docker.io/snapkeep/ctbase:1 || sk_notok "build the test image"
sk_retry 20 sk_ctr a images import --snapshotter snapkeep "$SK_TMP/test.tar" >/dev/null 2>&1 &&
  sk_ok "containerd unpacks a layered image into the image's snapkeepd" || sk_notok "import through snapkeep"
out=$(sk_ctr a run --rm --snapshotter snapkeep docker.io/snapkeep/ctbase:1 t1 sh -c \
      'cat /etc/sk-top; ls /app; test -e /data/gone.txt && echo whiteout-missed' 2>&1)
[ "$(tr '\n' ' ' <<<"$out")" = "hello from snapkeep top layer new.txt " ] &&
  sk_ok "a container runs on it with the merged view (whiteouts, opaque dir)" || sk_notok "container on it" "$out"
ls /var/lib/snapkeep/snapshots >/dev/null 2>&1 && sk_ok "its snapshots are on the host under /var/lib/snapkeep" ||
  sk_notok "no snapshots under /var/lib/snapkeep"
sk_finish
