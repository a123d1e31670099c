#!/usr/bin/env bash
# Acceptance "Real containerd and runc" (issue 2): an isolated containerd declares
# snapkeepd as [proxy_plugins.snapkeep]; an OCI image built offline (4 layers,
# one whiteout, one opaque directory) is imported and run with runc through
# snapkeep; `ctr snapshots` ls/tree/info/usage/label/mounts/commit/rm are checked
# against containerd and against snapkeepd's own view (its socket, its data
# dir); `ctr images rm --sync` must make containerd's GC empty the backend; a
# 128-layer image must unpack, mount and run.
#
# Env: SNAPKEEPD, SK_SRC. SK_ITEST_SNAPSHOTTER=overlayfs runs the same
# containerd-level checks against the built-in snapshotter (harness self-test;
# backend-only checks are skipped). SK_KEEP_TMP=1 keeps the temp dir.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../lib/containerd.sh
source "$SK_SRC/tests/lib/containerd.sh"
# shellcheck source=../lib/oci-image.sh
source "$SK_SRC/tests/lib/oci-image.sh"

SNAP=${SK_ITEST_SNAPSHOTTER:-snapkeep}
if [ "$SNAP" = snapkeep ]; then
  sk_require_env
else
  [ "$(id -u)" = 0 ] || sk_skip "needs root"
fi
[ -x "$OCI_BUSYBOX" ] || sk_skip "$OCI_BUSYBOX missing (Debian package busybox-static)"
command -v jq >/dev/null || sk_skip "jq missing"
sk_tmp_init || exit 1

fatal() { sk_notok "$1" "${2:-}"; echo "# fatal, stopping"; sk_finish; }
cs() { sk_ctr a snapshots --snapshotter "$SNAP" "$@"; }
# ctr_t SECS ARGS...: sk_ctr a with a time limit (timeout cannot run functions).
ctr_t() { local t=$1; shift; timeout "$t" ctr --address "$(sk_csock a)" --namespace "$SK_NAMESPACE" "$@"; }
is_snapkeep() { [ "$SNAP" = snapkeep ]; }

if is_snapkeep; then
  sk_stack_start a || fatal "start snapkeepd and containerd" "see $SK_TMP/a/*.log"
  SNAPDIR=$(sk_root a)/snapshots
  sk_ok "isolated containerd (config version 2, [proxy_plugins.snapkeep]) and snapkeepd started"
else
  sk_containerd_start a || fatal "start containerd"
  SNAPDIR=$SK_TMP/a/containerd/root/io.containerd.snapshotter.v1.$SNAP/snapshots
  sk_ok "isolated containerd started (self-test against $SNAP)"
fi

# Helpers over `ctr snapshots ls` (columns KEY PARENT KIND; PARENT may be empty).
snap_count() { cs ls | awk 'NR > 1' | wc -l; }
snap_kind() { cs ls | awk -v k="$1" 'NR > 1 && $1 == k { print $NF }'; }
snap_parent() { cs ls | awk -v k="$1" 'NR > 1 && $1 == k { print (NF == 3 ? $2 : "") }'; }
backend_dirs() { find "$SNAPDIR" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# Backend key that containerd's metadata layer uses for KEY ("NS/N/KEY").
backend_key() { sk_backend_ctr a ls | awk -v k="$1" -v ns="$SK_NAMESPACE" 'NR > 1 { split($1, p, "/"); if (p[1] == ns && substr($1, length(p[1]) + length(p[2]) + 3) == k) print $1 }'; }
usage_bytes() { cs usage -b "$1" | awk -v k="$1" 'NR > 1 && $1 == k { print $2 }'; }
wait_until() { sk_retry "$@"; }

IMG=docker.io/sktest/layers:1
oci_build_test_image "$SK_TMP/img.tar" "$IMG" || fatal "build test OCI image offline"

# --- import ---------------------------------------------------------------------
if out=$(sk_ctr a images import --snapshotter "$SNAP" "$SK_TMP/img.tar" 2>&1) &&
  grep -q "unpacking $IMG" <<<"$out" && grep -q 'done' <<<"$out"; then
  sk_ok "ctr images import --snapshotter $SNAP unpacks the 4-layer image"
else
  fatal "ctr images import --snapshotter $SNAP" "$out"
fi

# The chain, base first: follow parents from the only parentless snapshot.
chain=()
base=$(cs ls | awk 'NR > 1 && NF == 2 { print $1 }')
cur=$base
while [ -n "$cur" ] && [ ${#chain[@]} -lt 10 ]; do
  chain+=("$cur")
  cur=$(cs ls | awk -v p="$cur" 'NR > 1 && NF == 3 && $2 == p { print $1 }')
done
if [ "$(snap_count)" = 4 ] && [ ${#chain[@]} = 4 ] &&
  [ "$(cs ls | awk 'NR > 1 && $NF == "Committed"' | wc -l)" = 4 ]; then
  sk_ok "ls: 4 Committed snapshots forming one parent chain"
else
  sk_notok "ls: 4 Committed snapshots forming one parent chain" "$(cs ls)"
fi
top=${chain[3]:-}
if [ "$(backend_dirs)" = 4 ] && [ -d "$(find "$SNAPDIR" -mindepth 1 -maxdepth 1 | head -1)/fs" ]; then
  sk_ok "backend holds 4 snapshot directories with fs/ under $SNAPDIR"
else
  sk_notok "backend holds 4 snapshot directories" "$(ls -la "$SNAPDIR" 2>&1)"
fi

# --- run --------------------------------------------------------------------------
out=$(ctr_t 60 run --rm --snapshotter "$SNAP" "$IMG" sk-c1 2>&1)
if [ "$out" = "hello from snapkeep top layer" ]; then
  sk_ok "ctr run --rm --snapshotter $SNAP prints the image's CMD output"
else
  sk_notok "ctr run --rm prints the expected output" "got: $out"
fi

script='test -e /data/gone.txt && echo GONE-PRESENT
cat /data/kept.txt
echo "app: $(ls -A /app | tr "\n" " ")"
test -e /app/sub && echo SUB-PRESENT
cat /etc/sk-base /etc/sk-layer2 /app/new.txt
echo written >/tmp/w && cat /tmp/w'
want='kept from layer 1
app: new.txt 
base layer
layer two
new app content
written'
out=$(ctr_t 60 run --rm --snapshotter "$SNAP" "$IMG" sk-c2 sh -c "$script" 2>&1)
if [ "$out" = "$want" ]; then
  sk_ok "container sees the merged view: whiteout hides /data/gone.txt, opaque /app holds only new.txt, rootfs writable"
else
  sk_notok "container sees the merged view" "got: $(printf '%s' "$out" | tr '\n' '|')"
fi
if wait_until 10 test "$(snap_count)" = 4; then
  sk_ok "containers' active snapshots are gone from ls after run --rm"
else
  sk_notok "containers' active snapshots gone after run --rm" "$(cs ls)"
fi

# --- tree -------------------------------------------------------------------------
tree=$(cs tree)
ok=1
[ "$(grep -c . <<<"$tree")" = 4 ] || ok=0
for i in 0 1 2 3; do
  line=$(sed -n "$((i + 1))p" <<<"$tree")
  [[ $line == *"${chain[$i]:-missing}"* ]] || ok=0
  # Each generation is indented deeper than its parent.
  ind=$(sed -E 's/[^ ].*//' <<<"$line" | wc -c)
  [ $i -gt 0 ] && [ "$ind" -le "$prev" ] && ok=0
  prev=$ind
done
if [ $ok = 1 ]; then sk_ok "tree shows the 4-layer chain base to top"; else sk_notok "tree" "$tree"; fi

# --- prepare + info -----------------------------------------------------------------
# GC may still be removing the containers' snapshots, so count new directories
# rather than comparing totals.
before=$(ls "$SNAPDIR" 2>/dev/null)
if cs prepare sk-act "$top" >/dev/null 2>&1 && [ "$(snap_kind sk-act)" = Active ] &&
  [ "$(snap_parent sk-act)" = "$top" ] &&
  [ "$(ls "$SNAPDIR" | grep -vxF -f <(printf '%s\n' "$before") | wc -l)" = 1 ]; then
  sk_ok "prepare creates an Active snapshot on the top layer (and one backend directory)"
else
  sk_notok "prepare sk-act" "$(cs ls; ls "$SNAPDIR")"
fi
info=$(cs info sk-act 2>&1)
if [ "$(jq -r .Kind <<<"$info")" = Active ] && [ "$(jq -r .Parent <<<"$info")" = "$top" ] &&
  [ "$(jq -r .Name <<<"$info")" = sk-act ] && [[ $(jq -r .Created <<<"$info") == "$(date -u +%Y)"* ]]; then
  sk_ok "info: kind Active, parent, name and a current creation time"
else
  sk_notok "info sk-act" "$info"
fi
info=$(cs info "${chain[0]}" 2>&1)
if [ "$(jq -r .Kind <<<"$info")" = Committed ] && [ "$(jq -r '.Parent // ""' <<<"$info")" = "" ]; then
  sk_ok "info: base layer is Committed without parent"
else
  sk_notok "info base layer" "$info"
fi
if is_snapkeep; then
  bkey=$(backend_key sk-act)
  binfo=$(sk_backend_ctr a info "$bkey" 2>&1)
  if [ -n "$bkey" ] && [ "$(jq -r .Kind <<<"$binfo")" = Active ] &&
    [[ $(jq -r .Created <<<"$binfo") == "$(date -u +%Y)"* ]] && [[ $(jq -r .Updated <<<"$binfo") == "$(date -u +%Y)"* ]]; then
    sk_ok "snapkeepd's own Stat of $bkey: Active, both timestamps set"
  else
    sk_notok "snapkeepd Stat of the backend key" "key '$bkey': $binfo"
  fi
fi

# --- mount shapes: the same as containerd's overlayfs snapshotter -------------------
# Paths differ; types, option names and the number of lowerdirs must not.
if is_snapkeep; then
  if ctr_t 120 images import --snapshotter overlayfs "$SK_TMP/img.tar" >/dev/null 2>&1; then
    os() { sk_ctr a snapshots --snapshotter overlayfs "$@"; }
    ochain=()
    cur=$(os ls | awk 'NR > 1 && NF == 2 { print $1 }')
    while [ -n "$cur" ] && [ ${#ochain[@]} -lt 10 ]; do
      ochain+=("$cur")
      cur=$(os ls | awk -v p="$cur" 'NR > 1 && NF == 3 && $2 == p { print $1 }')
    done
    shape() { sed -E 's#/[^ ,:]+#P#g' <<<"$1"; }
    ok=1 detail=""
    # --mounts prints the mounts of the new snapshot at once: ctr's view sets no
    # gc.root label, so containerd's GC may remove it before a later call.
    for c in "prepare shape-a" "view shape-v0 0" "prepare shape-a3 3" "view shape-v3 3"; do
      read -r verb key idx <<<"$c"
      a=$(shape "$(cs "$verb" --mounts "$key" ${idx:+"${chain[$idx]}"} 2>&1)")
      b=$(shape "$(os "$verb" --mounts "$key" ${idx:+"${ochain[$idx]}"} 2>&1)")
      [ "$a" = "$b" ] && [ -n "$a" ] || { ok=0; detail+="$verb $key: snapkeep '$a' vs overlayfs '$b'; "; }
      cs rm "$key" >/dev/null 2>&1; os rm "$key" >/dev/null 2>&1
    done
    if [ $ok = 1 ]; then
      sk_ok "mount shapes equal overlayfs's (parentless active, 1-parent view, active and view on 4 layers)"
    else
      sk_notok "mount shapes equal overlayfs's" "$detail"
    fi
  else
    sk_notok "import into overlayfs for the mount-shape comparison"
  fi
fi

# --- label --------------------------------------------------------------------------
L=containerd.io/snapshot/sk-test
if cs label sk-act "$L=hello" >/dev/null 2>&1 &&
  [ "$(cs info sk-act | jq -r --arg l "$L" '.Labels[$l]')" = hello ]; then
  sk_ok "label: $L=hello visible in info"
else
  sk_notok "label set" "$(cs info sk-act 2>&1)"
fi
if is_snapkeep; then
  if [ "$(sk_backend_ctr a info "$bkey" | jq -r --arg l "$L" '.Labels[$l]')" = hello ]; then
    sk_ok "label reached snapkeepd (backend Stat shows it)"
  else
    sk_notok "label reached snapkeepd" "$(sk_backend_ctr a info "$bkey" 2>&1)"
  fi
fi
if cs label sk-act "$L=" >/dev/null 2>&1 &&
  [ "$(cs info sk-act | jq -r --arg l "$L" '.Labels | has($l)')" = false ] &&
  { ! is_snapkeep || [ "$(sk_backend_ctr a info "$bkey" | jq -r --arg l "$L" '(.Labels // {}) | has($l)')" = false ]; }; then
  sk_ok "label with an empty value removes it (containerd and backend)"
else
  sk_notok "label removal" "$(cs info sk-act 2>&1)"
fi

# --- mounts: mount the active snapshot on the host, write, commit ----------------------
mnt=$SK_TMP/mnt
mkdir -p "$mnt"
mcmd=$(cs mounts "$mnt" sk-act 2>&1)
if [[ $mcmd == "mount -t overlay overlay $mnt -o "* ]] && [[ $mcmd == *lowerdir=* ]] && [[ $mcmd == *upperdir=* ]] &&
  sh -c "$mcmd" 2>&1 && [ "$(cat "$mnt/etc/sk-top")" = "hello from snapkeep top layer" ] &&
  [ ! -e "$mnt/data/gone.txt" ] && [ "$(ls -A "$mnt/app")" = new.txt ]; then
  sk_ok "mounts: overlay with lowerdir+upperdir; host mount shows the merged image"
else
  sk_notok "mounts of sk-act" "$mcmd"
fi
head -c 1048576 /dev/urandom >"$mnt/payload" 2>/dev/null && mkdir -p "$mnt/newdir" && echo x >"$mnt/newdir/f"
umount "$mnt" 2>/dev/null
if cs commit sk-layer sk-act >/dev/null 2>&1 && [ "$(snap_kind sk-layer)" = Committed ] &&
  [ "$(snap_parent sk-layer)" = "$top" ] && [ -z "$(snap_kind sk-act)" ]; then
  sk_ok "commit turns the active snapshot into Committed sk-layer"
else
  sk_notok "commit sk-layer" "$(cs ls 2>&1)"
fi

# --- usage --------------------------------------------------------------------------
u=$(usage_bytes sk-layer)
if [ -n "$u" ] && [ "$u" -ge 1048576 ] && [ "$u" -le $((1048576 + 65536)) ]; then
  sk_ok "usage of the committed layer holding a 1 MiB file: $u bytes"
else
  sk_notok "usage of sk-layer (want 1 MiB .. 1 MiB + 64 KiB)" "got '$u': $(cs usage -b 2>&1)"
fi
u=$(usage_bytes "${chain[0]}")
bb=$(stat -c %s "$OCI_BUSYBOX")
if [ -n "$u" ] && [ "$u" -ge "$bb" ] && [ "$u" -le $((bb + 1048576)) ]; then
  sk_ok "usage of the busybox base layer: $u bytes (busybox is $bb)"
else
  sk_notok "usage of the base layer" "got '$u', busybox $bb: $(cs usage -b 2>&1)"
fi
inodes=$(cs usage "${chain[1]}" | awk 'NR > 1 { print $NF }')
if [ -n "$inodes" ] && [ "$inodes" -ge 3 ] && [ "$inodes" -le 10 ]; then
  sk_ok "usage inodes of the whiteout layer: $inodes"
else
  sk_notok "usage inodes of layer 2" "$(cs usage 2>&1)"
fi

# --- rm -----------------------------------------------------------------------------
if ! cs rm "$top" >/dev/null 2>&1 && [ "$(snap_kind "$top")" = Committed ]; then
  sk_ok "rm of a snapshot with children is refused"
else
  sk_notok "rm of a parent must fail" "$(cs ls 2>&1)"
fi
cs prepare sk-rm "$top" >/dev/null 2>&1
if [ "$(snap_kind sk-rm)" = Active ] && cs rm sk-rm >/dev/null 2>&1 && [ -z "$(snap_kind sk-rm)" ] &&
  cs rm sk-layer >/dev/null 2>&1 && [ -z "$(snap_kind sk-layer)" ] && [ "$(snap_count)" = 4 ]; then
  sk_ok "rm removes a prepared and a committed snapshot from ls"
else
  sk_notok "rm sk-rm / sk-layer" "$(cs ls 2>&1)"
fi

# --- images rm --sync: containerd's GC removes the backend snapshots ------------------
if sk_ctr a images rm --sync "$IMG" >/dev/null 2>&1; then
  if wait_until 15 test "$(snap_count)" = 0; then
    sk_ok "images rm --sync: ctr snapshots ls is empty"
  else
    sk_notok "images rm --sync: ls empty" "$(cs ls)"
  fi
  if wait_until 15 test "$(backend_dirs)" = 0; then
    sk_ok "images rm --sync: GC removed every backend directory under $SNAPDIR"
  else
    sk_notok "images rm --sync: backend directories removed" "$(ls -la "$SNAPDIR")"
  fi
  if is_snapkeep; then
    if [ "$(sk_backend_ctr a ls | awk 'NR > 1' | wc -l)" = 0 ]; then
      sk_ok "images rm --sync: snapkeepd's List is empty"
    else
      sk_notok "snapkeepd's List empty after GC" "$(sk_backend_ctr a ls 2>&1)"
    fi
  fi
else
  sk_notok "ctr images rm --sync" "$(sk_ctr a images rm --sync "$IMG" 2>&1)"
fi

# --- 128-layer chain -------------------------------------------------------------------
CIMG=docker.io/sktest/chain:128
if oci_build_chain_image "$SK_TMP/chain.tar" "$CIMG" 128 &&
  out=$(ctr_t 300 images import --snapshotter "$SNAP" "$SK_TMP/chain.tar" 2>&1) &&
  [ "$(snap_count)" = 128 ]; then
  sk_ok "import of a 128-layer image: 128 committed snapshots"
else
  sk_notok "import of a 128-layer image" "$(tail -5 <<<"${out:-}"); $(snap_count) snapshots"
fi
out=$(ctr_t 120 run --rm --snapshotter "$SNAP" "$CIMG" sk-c128 sh -c 'ls /layers | wc -l; cat /layers/L2 /layers/L64 /layers/L128' 2>&1)
if [ "$(printf '%s' "$out" | tr '\n' ' ')" = "127 2 64 128" ]; then
  sk_ok "a container on the 128-layer chain mounts and sees every layer"
else
  sk_notok "run on the 128-layer chain" "got: $out"
fi
# The top of the chain: the one snapshot that is nobody's parent.
ctop=$(cs ls | awk 'NR > 1 { k[$1] = 1; if (NF == 3) p[$2] = 1 } END { for (x in k) if (!(x in p)) print x }')
mjson=$(cs view --mounts sk-view128 "$ctop" 2>&1)
nlower=$(jq -r '.[0].Options[]' <<<"$mjson" 2>/dev/null | grep '^lowerdir=' | tr ':' '\n' | wc -l)
if [ "$(jq -r '.[0].Type' <<<"$mjson" 2>/dev/null)" = overlay ] && [ "$nlower" = 128 ] &&
  [ "$(jq -r '.[0].Options[]' <<<"$mjson" | grep -c '^upperdir=')" = 0 ]; then
  sk_ok "view on the 128-layer chain: read-only overlay with 128 lowerdirs"
else
  sk_notok "view mounts on the 128-layer chain" "$nlower lowerdirs: ${mjson:0:300}"
fi
cs rm sk-view128 >/dev/null 2>&1
if sk_ctr a images rm --sync "$CIMG" >/dev/null 2>&1 && wait_until 20 test "$(backend_dirs)" = 0; then
  sk_ok "images rm --sync of the 128-layer image empties the backend"
else
  sk_notok "GC of the 128-layer image" "$(backend_dirs) directories left"
fi

if is_snapkeep; then
  if kill -0 "$(sk_snapkeepd_pid a)" 2>/dev/null; then
    sk_ok "snapkeepd still running"
  else
    sk_notok "snapkeepd died during the test" "$(tail -20 "$SK_TMP/a/snapkeepd.log")"
  fi
  if sk_snapkeepd_stop a; then
    sk_ok "snapkeepd stops cleanly on SIGTERM"
  else
    sk_notok "snapkeepd clean stop on SIGTERM" "$(tail -5 "$SK_TMP/a/snapkeepd.log")"
  fi
fi
sk_finish
