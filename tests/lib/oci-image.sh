# shellcheck shell=bash
# tests/lib/oci-image.sh: build OCI image archives offline (no registry, no
# network) for `ctr images import`. Source it from bash. Needs tar, gzip,
# sha256sum, and /bin/busybox from Debian's busybox-static for a userland.
#
# An image is built in a work dir W:
#   oci_new W                       start a new image (W/blobs/sha256, empty layer list)
#   oci_add_layer W SRCDIR [gzip|tar]
#                                   tar SRCDIR's contents (sorted, uid 0, fixed
#                                   mtime) into a layer blob. OCI whiteouts are
#                                   plain files in SRCDIR: ".wh.NAME" deletes NAME
#                                   of a lower layer, ".wh..wh..opq" inside a
#                                   directory hides the lower directory's content.
#   oci_annotate_layer W KEY VALUE  annotate the layer added last (KEY, VALUE: no
#                                   quotes, backslashes or spaces)
#   oci_finish W REF ARCHIVE [CMD...]
#                                   write config (rootfs.diff_ids), manifest,
#                                   index.json (annotations io.containerd.image.name
#                                   = REF and org.opencontainers.image.ref.name =
#                                   REF's tag) and oci-layout, then tar W into ARCHIVE.
#                                   REF should be fully qualified (docker.io/x/y:tag).
#
# Helpers:
#   oci_busybox_rootfs DIR          put /bin/busybox plus applet symlinks (sh, ls,
#                                   cat, echo, test, ...) and /etc, /tmp into DIR
#   oci_build_test_image ARCHIVE REF [EXTRA_DIR [KEY=VALUE]]
#                                   the 4-layer image the integration tests use
#                                   (with EXTRA_DIR: a 5th layer of its content,
#                                   annotated KEY=VALUE if given):
#     layer 1: busybox, /etc/sk-base, /data/gone.txt, /data/kept.txt,
#              /app/old1.txt, /app/sub/old2.txt
#     layer 2: /data/.wh.gone.txt (deletes gone.txt), /etc/sk-layer2
#     layer 3: /app/.wh..wh..opq + /app/new.txt (replaces /app)
#     layer 4: /etc/sk-top (uncompressed tar layer, to cover both media types)
#     CMD: cat /etc/sk-top
#   oci_build_chain_image ARCHIVE REF N
#                                   busybox base + N-1 tiny layers (/layers/L<i>),
#                                   N layers in total
#   oci_build_bench_image ARCHIVE REF TOTAL_MB [LAYERS]
#                                   LAYERS (default 4) gzip layers totalling about
#                                   TOTAL_MB of content: per layer one third random
#                                   (incompressible) files of 1-8 MB, the rest
#                                   text-like files and ~500 small files.

OCI_BUSYBOX=${OCI_BUSYBOX:-/bin/busybox}
# Scratch files go under $OCI_TMPDIR, else $SK_TMP (tests/lib/containerd.sh),
# else $TMPDIR, else /tmp; each builder removes its own scratch dir.

# Scratch space: inside the test's $SK_TMP when there is one, so an interrupted
# build leaves nothing behind after the test's cleanup.
_oci_tmpbase() { echo "${OCI_TMPDIR:-${SK_TMP:-${TMPDIR:-/tmp}}}"; }
_oci_sha() { sha256sum "$1" | cut -d' ' -f1; }
_oci_size() { stat -c %s "$1"; }

oci_new() {
  local w=$1
  rm -rf "$w"
  mkdir -p "$w/blobs/sha256" || return 1
  : >"$w/.layers"
}

# Moves FILE into W's blob store; prints its digest (hex).
_oci_store_blob() {
  local w=$1 f=$2 d
  d=$(_oci_sha "$f") || return 1
  mv -f "$f" "$w/blobs/sha256/$d" || return 1
  echo "$d"
}

oci_add_layer() {
  local w=$1 src=$2 comp=${3:-gzip}
  local tmp=$w/.layer.tar diffid blob media
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1600000000 \
    -C "$src" -cf "$tmp" . || return 1
  diffid=$(_oci_sha "$tmp") || return 1
  if [ "$comp" = gzip ]; then
    gzip -n -1 -f "$tmp" || return 1
    tmp=$tmp.gz
    media=application/vnd.oci.image.layer.v1.tar+gzip
  else
    media=application/vnd.oci.image.layer.v1.tar
  fi
  local size
  size=$(_oci_size "$tmp")
  blob=$(_oci_store_blob "$w" "$tmp") || return 1
  echo "$media $blob $size $diffid" >>"$w/.layers"
}

oci_annotate_layer() {
  local w=$1 key=$2 value=$3 last
  last=$(tail -n 1 "$w/.layers") && [ -n "$last" ] || return 1
  sed -i '$d' "$w/.layers"
  echo "$last \"$key\":\"$value\"" >>"$w/.layers"
}

oci_finish() {
  local w=$1 ref=$2 archive=$3; shift 3
  local media blob size diffid diffids="" layers="" sep="" cmd="" c
  local ann
  while read -r media blob size diffid ann; do
    diffids+="$sep\"sha256:$diffid\""
    layers+="$sep{\"mediaType\":\"$media\",\"digest\":\"sha256:$blob\",\"size\":$size${ann:+,\"annotations\":{$ann\}}}"
    sep=,
  done <"$w/.layers"
  sep=""
  for c in "$@"; do cmd+="$sep\"$c\""; sep=,; done
  [ -n "$cmd" ] || cmd='"/bin/sh"'
  local cfg=$w/.config.json
  # $OCI_IMAGE_CONFIG, if set, is the image config's "config" object (JSON
  # text, e.g. packaging/kubernetes/image.json); CMD is then ignored.
  local conf=${OCI_IMAGE_CONFIG:-"{\"Env\":[\"PATH=/usr/sbin:/usr/bin:/sbin:/bin\"],\"Cmd\":[$cmd],\"WorkingDir\":\"/\"}"}
  printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$conf" "$diffids" >"$cfg"
  local cfgsize cfgd
  cfgsize=$(_oci_size "$cfg")
  cfgd=$(_oci_store_blob "$w" "$cfg") || return 1
  local man=$w/.manifest.json
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$cfgd" "$cfgsize" "$layers" >"$man"
  local mansize mand
  mansize=$(_oci_size "$man")
  mand=$(_oci_store_blob "$w" "$man") || return 1
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$mand" "$mansize" "$ref" "${ref##*:}" >"$w/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$w/oci-layout"
  tar --owner=0 --group=0 --numeric-owner -C "$w" -cf "$archive" oci-layout index.json blobs
}

oci_busybox_rootfs() {
  local d=$1 a
  [ -x "$OCI_BUSYBOX" ] || { echo "oci-image: $OCI_BUSYBOX missing (install busybox-static)" >&2; return 1; }
  mkdir -p "$d/bin" "$d/etc" "$d/tmp" "$d/proc" "$d/sys" "$d/dev" "$d/root" || return 1
  chmod 1777 "$d/tmp"
  cp "$OCI_BUSYBOX" "$d/bin/busybox" || return 1
  for a in sh ls cat echo test '[' find stat mkdir rm cp mv touch sleep wc head tail grep sed \
    readlink du df mount true false id env sort uniq sha256sum md5sum tr dd ln printf; do
    ln -sf busybox "$d/bin/$a"
  done
  echo "root:x:0:0:root:/root:/bin/sh" >"$d/etc/passwd"
  echo "root:x:0:" >"$d/etc/group"
}

oci_build_test_image() {
  local archive=$1 ref=$2
  local w
  w=$(mktemp -d "$(_oci_tmpbase)/oci.XXXXXX") || return 1
  local r=$w/rootfs
  oci_new "$w/img" || return 1

  mkdir -p "$r/1/data" "$r/1/app/sub"
  oci_busybox_rootfs "$r/1" || return 1
  echo "base layer" >"$r/1/etc/sk-base"
  echo "this file is deleted by layer 2" >"$r/1/data/gone.txt"
  echo "kept from layer 1" >"$r/1/data/kept.txt"
  echo "old app content 1" >"$r/1/app/old1.txt"
  echo "old app content 2" >"$r/1/app/sub/old2.txt"
  oci_add_layer "$w/img" "$r/1" gzip || return 1

  mkdir -p "$r/2/data" "$r/2/etc"
  : >"$r/2/data/.wh.gone.txt"
  echo "layer two" >"$r/2/etc/sk-layer2"
  oci_add_layer "$w/img" "$r/2" gzip || return 1

  mkdir -p "$r/3/app"
  : >"$r/3/app/.wh..wh..opq"
  echo "new app content" >"$r/3/app/new.txt"
  oci_add_layer "$w/img" "$r/3" gzip || return 1

  mkdir -p "$r/4/etc"
  echo "hello from snapkeep top layer" >"$r/4/etc/sk-top"
  oci_add_layer "$w/img" "$r/4" tar || return 1

  if [ -n "${3:-}" ]; then
    oci_add_layer "$w/img" "$3" gzip || return 1
    [ -z "${4:-}" ] || oci_annotate_layer "$w/img" "${4%%=*}" "${4#*=}" || return 1
  fi

  oci_finish "$w/img" "$ref" "$archive" cat /etc/sk-top
  local rc=$?
  rm -rf "$w"
  return $rc
}

oci_build_chain_image() {
  local archive=$1 ref=$2 n=$3 i
  local w
  w=$(mktemp -d "$(_oci_tmpbase)/oci.XXXXXX") || return 1
  oci_new "$w/img" || return 1
  oci_busybox_rootfs "$w/base" || return 1
  mkdir -p "$w/base/layers"
  oci_add_layer "$w/img" "$w/base" gzip || return 1
  for ((i = 2; i <= n; i++)); do
    mkdir -p "$w/l$i/layers"
    echo "$i" >"$w/l$i/layers/L$i"
    oci_add_layer "$w/img" "$w/l$i" tar || return 1
    rm -rf "$w/l$i"
  done
  oci_finish "$w/img" "$ref" "$archive" ls /layers
  local rc=$?
  rm -rf "$w"
  return $rc
}

oci_build_bench_image() {
  local archive=$1 ref=$2 total=$3 nl=${4:-4}
  local per=$((total / nl)) i w d mb left j
  w=$(mktemp -d "$(_oci_tmpbase)/oci.XXXXXX") || return 1
  oci_new "$w/img" || return 1
  for ((i = 1; i <= nl; i++)); do
    d=$w/l$i
    mkdir -p "$d/opt/l$i/bin" "$d/opt/l$i/share" "$d/opt/l$i/small"
    [ $i -eq 1 ] && { oci_busybox_rootfs "$d" || return 1; }
    # One third incompressible: files of 1-8 MB of random bytes.
    left=$((per / 3)); j=0
    while [ $left -gt 0 ]; do
      mb=$((1 + (j * 5 + i) % 8)); [ $mb -gt $left ] && mb=$left
      head -c $((mb << 20)) /dev/urandom >"$d/opt/l$i/bin/blob$j" || return 1
      left=$((left - mb)); j=$((j + 1))
    done
    # The rest compresses like text/code: base64 of random data (~4:3 ratio).
    left=$((per - per / 3)); j=0
    while [ $left -gt 0 ]; do
      mb=$((1 + (j * 3 + i) % 4)); [ $mb -gt $left ] && mb=$left
      head -c $((mb * 786432)) /dev/urandom | base64 >"$d/opt/l$i/share/text$j" || return 1
      left=$((left - mb)); j=$((j + 1))
    done
    # Many small files: the per-file metadata cost of unpacking.
    for ((j = 0; j < 500; j++)); do
      mkdir -p "$d/opt/l$i/small/d$((j / 50))"
      head -c $((200 + j * 13 % 4000)) /dev/urandom >"$d/opt/l$i/small/d$((j / 50))/f$j"
    done
    oci_add_layer "$w/img" "$d" gzip || return 1
    rm -rf "$d"
  done
  oci_finish "$w/img" "$ref" "$archive" /bin/sh
  local rc=$?
  rm -rf "$w"
  return $rc
}
