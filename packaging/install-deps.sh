#!/usr/bin/env bash
# Install the Debian 12 packages listed in packaging/deps/<set>.txt.
# Idempotent: packages already installed are skipped without touching apt.
# Usage: packaging/install-deps.sh SET...   (SET is build, check or bench)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
want=()
for set in "$@"; do
  f="$here/deps/$set.txt"
  [ -f "$f" ] || { echo "install-deps: no package list $f" >&2; exit 2; }
  while read -r pkg _; do
    case "$pkg" in ''|'#'*) continue ;; esac
    want+=("$pkg")
  done < "$f"
done
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run 'make deps' as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Refresh the lists once if a package is unknown or the lists are empty.
if ! apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/snapkeep-apt.log 2>&1; then
  apt-get update >>/tmp/snapkeep-apt.log 2>&1
  apt-get install -y --no-install-recommends "${missing[@]}" >>/tmp/snapkeep-apt.log 2>&1 || {
    tail -20 /tmp/snapkeep-apt.log >&2; echo "install-deps: apt-get failed" >&2; exit 1; }
fi
