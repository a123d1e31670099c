#!/usr/bin/env bash
# tests/lib/mktree.sh DIR: build the round-trip test tree of issue 3 in DIR
# (created; must not exist or be empty). Needs root (devices, chown, trusted.*
# xattrs), setfattr (attr) and setfacl (acl).
#
# The tree holds every case of issue 3 item 6:
#   files/      regular files of sizes 0 .. 5 MiB (random and compressible),
#               non-UTF-8 names (\xff\xfe, \x80), a name with a newline
#   empty/      empty directories (one nested)
#   links/      symlinks: relative, absolute, dangling, to a directory, with a
#               non-UTF-8 target
#   hard/       hardlink groups across directories (a group of 3 and one of 2)
#   dev/        char 1:3, block 7:0, an overlay whiteout (char 0:0), a FIFO
#   modes/      setuid, setgid, setuid+setgid files, setgid and sticky dirs,
#               mode 0000, various uid/gid
#   xattr/      user.* (text, binary, empty value), trusted.overlay.opaque="y"
#               on a dir, security.capability (valid v2 blob), ACLs
#               (system.posix_acl_access, system.posix_acl_default)
#   sparse      1 GiB + 4 KiB with 64 KiB of data at each end (MKTREE_SPARSE_SIZE)
#   many/       10,000 small files in 10 dirs (MKTREE_MANY)
#   long/       a chain of nested dirs whose full path exceeds 4096 bytes, with
#               a file, a symlink and an xattr at the bottom
# Every entry then gets a distinct nanosecond mtime and atime (directories
# last, deepest first, so creating children does not change them again).
#
# Environment: MKTREE_MANY (default 10000), MKTREE_SPARSE_SIZE (default
# 1073745920), MKTREE_SEED (default 1; content is deterministic per seed).
set -euo pipefail
dir=${1:?usage: mktree.sh DIR}
many=${MKTREE_MANY:-10000}
sparse_size=${MKTREE_SPARSE_SIZE:-1073745920}
seed=${MKTREE_SEED:-1}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cd "$dir"

# Deterministic pseudo-random bytes: openssl's AES-CTR keystream of the seed.
rnd() { # rnd BYTES [salt]
  openssl enc -aes-128-ctr -nosalt -pass "pass:mktree-$seed-${2:-x}" -pbkdf2 -iter 1 \
    -in <(head -c "$1" /dev/zero) 2>/dev/null
}

# --- regular files ---------------------------------------------------------
mkdir files
: > files/empty
printf 'x' > files/one-byte
rnd 4095 a > files/4095
rnd 4096 b > files/4096
rnd 65537 c > files/65537
rnd $((1024 * 1024 + 3)) d > files/1mib-plus-3
rnd $((5 * 1024 * 1024)) e > files/5mib-random
yes 'compressible line of text for zstd' | head -c $((3 * 1024 * 1024)) > files/3mib-text || true
printf 'latin-1 name\n' > files/$'\xff\xfe'
printf 'lone continuation byte\n' > files/$'bad\x80name'
printf 'newline in name\n' > files/$'new\nline'
printf 'backslash and space\n' > files/'back\slash and space'
printf 'utf-8 name\n' > files/'ünïcödé-名前'
mkdir files/$'dir-\xff'
printf 'inside a non-UTF-8 dir\n' > files/$'dir-\xff'/inner

# --- empty directories -------------------------------------------------------
mkdir -p empty/a empty/b/c

# --- symlinks ----------------------------------------------------------------
mkdir links
ln -s ../files/4096 links/relative
ln -s /etc/hostname links/absolute
ln -s does/not/exist links/dangling
ln -s ../files links/to-dir
ln -s $'target-\xff\xfe' links/non-utf8-target
ln -s "$(printf 'x%.0s' $(seq 1 1000))" links/long-target

# --- hardlinks across directories -------------------------------------------
mkdir -p hard/a hard/b/deep hard/c
rnd 10000 h > hard/a/group3
ln hard/a/group3 hard/b/deep/group3-link
ln hard/a/group3 hard/c/group3-link2
printf 'two links\n' > hard/a/group2
ln hard/a/group2 hard/c/group2-link
printf 'same content, not linked\n' > hard/a/single1
printf 'same content, not linked\n' > hard/b/single2
mkfifo hard/a/fifo-linked
ln hard/a/fifo-linked hard/c/fifo-link
ln -s hard-symlink-target hard/a/sym
ln hard/a/sym hard/b/sym-link

# --- devices, whiteouts, FIFOs ------------------------------------------------
mkdir dev
mknod dev/null-like c 1 3
mknod dev/loop-like b 7 0
mknod dev/whiteout c 0 0
mknod dev/big-numbers c 511 1048575
mkfifo dev/fifo
mkdir dev/opaque-overlay-dir
mknod dev/opaque-overlay-dir/.wh-style-whiteout c 0 0

# --- modes and owners (chown before chmod: chown clears setuid) --------------
mkdir modes
printf '#!/bin/sh\n' > modes/setuid
printf '#!/bin/sh\n' > modes/setgid
printf '#!/bin/sh\n' > modes/setuid-setgid
printf 'nobody may read\n' > modes/mode-0000
mkdir modes/setgid-dir modes/sticky-dir modes/all-bits-dir
chown 1234:5678 modes/setuid
chown 0:42 modes/setgid
chown 65534:65534 modes/setuid-setgid
chown 4000000000:3000000000 modes/mode-0000
chown 1000:1000 modes/setgid-dir
chown -h 2222:3333 links/relative
chmod 4755 modes/setuid
chmod 2711 modes/setgid
chmod 6750 modes/setuid-setgid
chmod 0000 modes/mode-0000
chmod 2775 modes/setgid-dir
chmod 1777 modes/sticky-dir
chmod 7777 modes/all-bits-dir
chown 7:7 dev/null-like
chmod 0620 dev/null-like

# --- xattrs -------------------------------------------------------------------
mkdir -p xattr/opaque xattr/acl-dir
printf 'has xattrs\n' > xattr/file
setfattr -n user.text -v 'hello world' xattr/file
setfattr -n user.binary -v 0x00ff10fe7f80 xattr/file
setfattr -n user.empty xattr/file
setfattr -n trusted.overlay.opaque -v y xattr/opaque
setfattr -n trusted.test -v 0x0102030405 xattr/opaque
printf 'in opaque dir\n' > xattr/opaque/kept
setfattr -n user.on-dir -v dirvalue xattr
setfattr -n user.on-fifo-dir -v x dev
# security.capability: VFS_CAP_REVISION_2 | EFFECTIVE, permitted = CAP_NET_RAW
# (bit 13) and CAP_NET_BIND_SERVICE (bit 10), as little-endian u32s.
printf '#!/bin/sh\n' > xattr/capable
chmod 0755 xattr/capable
setfattr -n security.capability -v 0x0100000200240000000000000000000000000000 xattr/capable
printf 'acl\n' > xattr/acl-file
chmod 0640 xattr/acl-file
setfacl -m u:1001:r-x,g:2002:rw-,m::rwx xattr/acl-file
setfacl -d -m u:1001:rwx,g::r-x xattr/acl-dir
setfacl -m u:1003:r-x xattr/acl-dir

# --- sparse file: data only at its two ends -----------------------------------
truncate -s "$sparse_size" sparse
rnd 65536 s1 | dd of=sparse conv=notrunc bs=65536 count=1 iflag=fullblock status=none
rnd 65536 s2 | dd of=sparse conv=notrunc bs=65536 count=1 iflag=fullblock seek=$((sparse_size - 65536)) oflag=seek_bytes status=none
truncate -s "$sparse_size" sparse

# --- many small files ----------------------------------------------------------
mkdir many
per=1000
for ((d = 0; d * per < many; d++)); do
  mkdir many/d$d
  for ((i = d * per; i < (d + 1) * per && i < many; i++)); do
    printf 'small file %d seed %s\n' "$i" "$seed" > many/d$d/f$i
  done
  # One fixed time per directory keeps two runs with one seed identical.
  touch -h -d "@$((1300000000 + d)).$((100000000 + d))" many/d$d/*
done

# --- long paths (> 4096 bytes), built relative to stay under PATH_MAX ---------
mkdir long
(
  cd long
  comp=$(printf 'L%.0s' $(seq 1 200))
  for i in $(seq -w 1 24); do
    mkdir "$i$comp"
    cd "$i$comp"
  done
  printf 'at the bottom of a long path\n' > bottom-file
  ln -s bottom-file bottom-link
  setfattr -n user.deep -v yes bottom-file
  mkdir bottom-empty-dir
)

# --- timestamps: distinct ns mtimes/atimes; dirs deepest first ------------------
# touch -h sets symlinks' own times; -d accepts @SECONDS.NANOSECONDS.
n=0
stamp() { # stamp PATH (relative, may be long: done from inside its dir)
  local mns ans
  n=$((n + 1))
  printf -v mns '%09d' $(( (n * 987654321) % 1000000000 ))
  printf -v ans '%09d' $(( (n * 123456789 + 1) % 1000000000 ))
  touch -h -m -d "@$((1500000000 + n * 7)).$mns" -- "$1"
  touch -h -a -d "@$((1400000000 + n * 11)).$ans" -- "$1"
}
# Non-directories outside many/ and long/ (those keep their creation times,
# directories below get fixed later), then directories bottom-up.
while IFS= read -r -d '' p; do
  stamp "$p"
done < <(find . -path ./many -prune -o -path ./long -prune -o ! -type d -print0)
# Long chain: walk down from inside, set times bottom-up.
(
  cd long
  depth=0
  while d=$(find . -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' -print -quit) && [ -n "$d" ]; do
    cd "$d"; depth=$((depth + 1))
  done
  stamp bottom-file; stamp bottom-link; stamp bottom-empty-dir
  for ((k = 0; k < depth; k++)); do
    here=$(basename "$PWD"); cd ..; stamp "$here"
  done
)
# Reverse byte order lists children before their parents; find has read
# every directory before the first stamp, so no later read moves an atime.
while IFS= read -r -d '' p; do
  stamp "$p"
done < <(find . -path ./long -prune -o -mindepth 1 -type d -print0 | LC_ALL=C sort -z -r)
stamp long
stamp .
