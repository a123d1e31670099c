#!/usr/bin/env bash
# `make run`: start snapkeepd in the foreground on the embedded defaults
# (root /var/lib/snapkeep, socket /run/snapkeep/snapkeep.sock), ignoring any
# installed config file so that what runs is what was just built.
#
#   tests/lib/run-daemon.sh BUILD/snapkeepd [extra snapkeepd flags...]
#
# Extra flags (e.g. --log-level=debug) are passed on. Stop it with Ctrl-C.
set -eu
bin=${1:?usage: run-daemon.sh path/to/snapkeepd [flags...]}
shift
root=/var/lib/snapkeep
sock=/run/snapkeep/snapkeep.sock

if [ ! -x "$bin" ]; then
  echo "run-daemon: $bin is not built (run make all)" >&2; exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "run-daemon: snapkeepd needs root (it creates overlay mounts' directories under $root and the socket in /run)" >&2
  exit 1
fi

cat >&2 <<EOT
snapkeepd: root $root, socket $sock. Point containerd at it (config version 2):

  [proxy_plugins.snapkeep]
    type = "snapshot"
    address = "$sock"

then, e.g.: ctr images pull --snapshotter snapkeep docker.io/library/busybox:latest
            ctr snapshots --snapshotter snapkeep ls
Stop with Ctrl-C.
EOT
exec "$bin" --config= --root="$root" --socket="$sock" "$@"
