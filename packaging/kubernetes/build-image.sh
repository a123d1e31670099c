#!/usr/bin/env bash
# make image: an OCI image archive of snapkeepd, built offline from the built
# binaries and the Debian packages' shared libraries on this machine (no
# registry, no base image, no download):
#
#   packaging/kubernetes/build-image.sh BUILD_DIR OUT.tar
#
# One layer: /usr/bin/snapkeepd and /usr/bin/snapkeep, every library they load
# (as ldd resolves it, copied from the installed Debian packages, with the
# merged-/usr layout Debian 12 has), the dynamic loader, /etc/snapkeep's
# default config, CA certificates for https S3 endpoints, and empty /tmp,
# /run and /var/lib. The image's config (entrypoint, default arguments,
# exposed metrics port, labels) is image.json, which generate.py writes from
# snapkeep.json, as it writes daemonset.yaml: the two cannot drift apart. The
# image reference is snapkeep.json's "image".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$1 out=$2
ref=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["image"])' "$here/snapkeep.json")
for b in snapkeepd snapkeep; do
  [ -x "$build/$b" ] || { echo "build-image: $build/$b missing (run make)" >&2; exit 1; }
done
# shellcheck source=../../tests/lib/oci-image.sh
. "$src/tests/lib/oci-image.sh"
w=$(mktemp -d "${TMPDIR:-/tmp}/sk-image.XXXXXX")
trap 'rm -rf "$w"' EXIT
r=$w/rootfs
mkdir -p "$r/usr/bin" "$r/usr/sbin" "$r/usr/lib/x86_64-linux-gnu" "$r/usr/lib64" "$r/etc/snapkeep" \
  "$r/etc/ssl/certs" "$r/tmp" "$r/run" "$r/var/lib" "$r/proc" "$r/sys" "$r/dev"
for l in bin sbin lib lib64; do ln -s "usr/$l" "$r/$l"; done
chmod 1777 "$r/tmp"
install -m 0755 "$build/snapkeepd" "$build/snapkeep" "$r/usr/bin/"
# Every library and the loader, as ldd resolves them: the path the binary asks
# for (a symlink, kept as one) and the file it leads to.
ldd "$build/snapkeepd" "$build/snapkeep" | grep -o '/[^ ]*' | sort -u | while read -r p; do
  [ -e "$p" ] || continue
  cp -P --parents "$p" "$r/"
  cp --parents "$(readlink -f "$p")" "$r/"
done
# The resolver's configuration and TLS roots, for S3 endpoints by name.
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$r/etc/nsswitch.conf"
printf 'root:x:0:0:root:/root:/bin/false\n' >"$r/etc/passwd"
printf 'root:x:0:\n' >"$r/etc/group"
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/"
install -m 0644 "$src/packaging/snapkeepd.conf" "$r/etc/snapkeep/snapkeepd.conf"
# The image must run: its snapkeepd finds every library in the rootfs alone.
if ! chroot "$r" /usr/bin/snapkeepd --version >/dev/null 2>&1; then
  echo "build-image: snapkeepd does not start inside the image's root filesystem:" >&2
  chroot "$r" /usr/bin/snapkeepd --version >&2 || true
  exit 1
fi
oci_new "$w/img"
oci_add_layer "$w/img" "$r" gzip
OCI_IMAGE_CONFIG=$(python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1])), separators=(",", ":")))' \
  "$here/image.json") oci_finish "$w/img" "$ref" "$out"
echo "image $ref: $out ($(du -h "$out" | cut -f1)); ctr images import $out"
