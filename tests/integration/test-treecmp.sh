#!/usr/bin/env bash
# treecmp must be able to fail: generate the round-trip tree twice from one
# seed (tests/lib/mktree.sh is deterministic, so the two trees are identical
# down to nanosecond times, xattrs and hole layout) and check treecmp says so;
# then, one kind at a time, change one thing in the second tree and check
# that treecmp exits 1 and names exactly that difference. Also shows that
# `cp -a --sparse=always` is an exact copy apart from atime and long paths.
set -u
here=$(cd "$(dirname "$0")" && pwd)
SK_SRC=${SK_SRC:-$(cd "$here/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
TREECMP=${TREECMP:-$BUILD_DIR/tools/treecmp}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (devices, owners, trusted.* xattrs)"; exit 77; }
[ -x "$TREECMP" ] || { echo "SKIP: $TREECMP not built"; exit 77; }
command -v setfattr >/dev/null && command -v setfacl >/dev/null || { echo "SKIP: attr/acl tools missing"; exit 77; }

T=$(mktemp -d /tmp/sk-treecmp.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok $*"; }
notok() { echo "not ok $*"; fails=$((fails + 1)); }

# Small variant: 300 small files and a 64 MiB sparse file keep this fast; the
# round-trip test uses the full tree.
export MKTREE_MANY=300 MKTREE_SPARSE_SIZE=$((64 * 1024 * 1024 + 4096))
mk() { rm -rf "$1"; bash "$SK_SRC/tests/lib/mktree.sh" "$1" >/dev/null; }
mk "$T/a" || { echo "mktree failed"; exit 1; }

if mk "$T/b" && "$TREECMP" "$T/a" "$T/b" >"$T/out" 2>&1; then
  ok "two trees generated from one seed are identical"
else
  notok "two trees generated from one seed are identical"; sed 's/^/    /' "$T/out" | head -20
fi
if "$TREECMP" --atime "$T/a" "$T/b" >"$T/out" 2>&1; then ok "identical including atime"
else notok "identical including atime"; head -5 "$T/out"; fi

# cp -a --sparse=always (except long/, which cp cannot copy) is exact too, but
# reading the source updates its atimes: compare without --atime.
mkdir "$T/c"
(cd "$T/a" && find . -mindepth 1 -maxdepth 1 ! -name long -exec cp -a --sparse=always {} "$T/c/" \;)
if "$TREECMP" --skip-root -x long "$T/b" "$T/c" >"$T/out" 2>&1; then ok "cp -a --sparse=always copy is identical (long/ excluded)"
else notok "cp -a --sparse=always copy is identical"; head -5 "$T/out"; fi
rm -rf "$T/c"

# All mutations go into one fresh copy of the tree, each on its own path
# (times of the touched entry and its parent are put back from tree a, so
# only the intended difference remains). Then treecmp must exit 1 and print
# one line per mutation, matching its pattern.
# case_ NAME PATTERN SNIPPET: SNIPPET runs inside b.
names=() patterns=()
case_() {
  local name=$1 pattern=$2 snippet=$3
  names+=("$name"); patterns+=("$pattern")
  (cd "$T/b" && eval "$snippet") || notok "$name (mutation failed)"
}
fix() { touch -h -r "$T/a/$1" "$1"; local d; d=$(dirname "$1"); touch -h -r "$T/a/$d" "$d"; }
export T
mk "$T/b"
keep_times=:
case_ "a changed content byte" '^files/4096: content differs at offset 100$' \
  "$keep_times; printf '\\x00' | dd of=files/4096 bs=1 seek=100 conv=notrunc status=none; cmp -s files/4096 \$T/a/files/4096 && printf '\\x01' | dd of=files/4096 bs=1 seek=100 conv=notrunc status=none; fix files/4096"
case_ "a changed type (fifo -> file)" '^dev/fifo: type differs: A=fifo B=regular file$' \
  "$keep_times; rm dev/fifo; : > dev/fifo; chmod 644 dev/fifo; fix dev/fifo"
case_ "a cleared setuid bit" '^modes/setuid: mode differs: A=4755 B=0755$' \
  "chmod u-s modes/setuid"
case_ "a cleared sticky bit" '^modes/sticky-dir: mode differs: A=1777 B=0777$' \
  "chmod -t modes/sticky-dir"
case_ "a changed owner" '^files/4095: owner differs: A=0:0 B=1:0$' \
  "chown -h 1 files/4095"
case_ "a changed group" '^files/1mib-plus-3: owner differs: A=0:0 B=0:5$' \
  "chgrp -h 5 files/1mib-plus-3"
case_ "an mtime 1 ns off" '^files/65537: mtime differs: A=[0-9]+\.[0-9]{9} B=' \
  "s=\$(stat -c %Y files/65537); ns=\$(stat -c %y files/65537 | sed -E 's/.*\\.([0-9]{9}).*/\\1/'); touch -h -m -d \"@\$s.\$(printf %09d \$(( (10#\$ns + 1) % 1000000000 )))\" files/65537"
case_ "an atime change (with --atime)" '^files/3mib-text: atime differs' \
  "touch -h -a -d @1000000000.5 files/3mib-text"
case_ "a changed user xattr value" '^xattr/file: xattr user.text value differs' \
  "setfattr -n user.text -v 'hello World' xattr/file"
case_ "a missing trusted.overlay.opaque" '^xattr/opaque: xattr trusted.overlay.opaque only in A$' \
  "setfattr -x trusted.overlay.opaque xattr/opaque"
case_ "an extra xattr" '^xattr/file: xattr user.extra only in B$' \
  "setfattr -n user.extra -v 1 xattr/file"
case_ "a missing security.capability" '^xattr/capable: xattr security.capability only in A$' \
  "setfattr -x security.capability xattr/capable"
case_ "a changed ACL" '^xattr/acl-file: xattr system.posix_acl_access value differs' \
  "setfacl -n -m u:1001:r-- xattr/acl-file"
case_ "a split hardlink group" '^hard/c/group3-link2: hardlink group differs' \
  "$keep_times; cp -p hard/c/group3-link2 hard/c/tmp && mv hard/c/tmp hard/c/group3-link2 && fix hard/c/group3-link2"
case_ "a joined hardlink group" '^hard/b/single2: hardlink group differs' \
  "$keep_times; rm hard/b/single2 && ln hard/a/single1 hard/b/single2 && touch -h -r \$T/a/hard/b hard/b"
case_ "a filled hole" '^sparse: hole layout differs' \
  "$keep_times; dd if=/dev/zero of=sparse bs=65536 seek=100 count=1 conv=notrunc status=none; fix sparse"
case_ "a changed symlink target" '^links/relative: symlink target differs' \
  "$keep_times; rm links/relative; ln -s ../files/4095 links/relative; chown -h 2222:3333 links/relative; fix links/relative"
case_ "a changed device number" '^dev/null-like: device number differs: A=1:3 B=1:5$' \
  "$keep_times; rm dev/null-like; mknod dev/null-like c 1 5; chown 7:7 dev/null-like; chmod 0620 dev/null-like; fix dev/null-like"
case_ "a whiteout turned into a fifo" '^dev/whiteout: type differs: A=char device B=fifo$' \
  "$keep_times; rm dev/whiteout; mkfifo dev/whiteout; fix dev/whiteout"
case_ "a missing file" '^many/d0/f5: only in A$' \
  "$keep_times; rm many/d0/f5; touch -h -r \$T/a/many/d0 many/d0"
case_ "a missing empty directory" '^empty/b/c: only in A$' \
  "$keep_times; rmdir empty/b/c; touch -h -r \$T/a/empty/b empty/b"
case_ "a renamed non-UTF-8 name" '^files/\\xff\\xfd: only in B$' \
  "$keep_times; mv files/\$'\\xff\\xfe' files/\$'\\xff\\xfd'; touch -h -r \$T/a/files files"
case_ "a truncated file" '^files/5mib-random: size differs: A=5242880 B=5242879$' \
  "$keep_times; truncate -s -1 files/5mib-random; fix files/5mib-random"
case_ "content changed below a path longer than 4096 bytes" 'long/01L+.*\[[0-9]{4} bytes\].*bottom-file: content differs at offset 0$' \
  "cd long; while d=\$(find . -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' -print -quit) && [ -n \"\$d\" ]; do cd \"\$d\"; done; s=\$(stat -c %Y bottom-file).\$(stat -c %y bottom-file | sed -E 's/.*\\.([0-9]{9}).*/\\1/'); a=\$(stat -c %X bottom-file).\$(stat -c %x bottom-file | sed -E 's/.*\\.([0-9]{9}).*/\\1/'); printf 'At' | dd of=bottom-file conv=notrunc status=none; touch -h -m -d @\$s bottom-file; touch -h -a -d @\$a bottom-file"


"$TREECMP" "$T/a" "$T/b" >"$T/out" 2>&1; rc=$?
"$TREECMP" --atime "$T/a" "$T/b" >"$T/out-atime" 2>&1; rc_atime=$?
[ $rc -eq 1 ] && ok "treecmp exits 1 on a changed tree" || notok "treecmp exits 1 on a changed tree (exit $rc)"
for i in "${!names[@]}"; do
  out=$T/out
  [[ ${names[$i]} == *atime* ]] && out=$T/out-atime
  if grep -qE -- "${patterns[$i]}" "$out"; then ok "detects ${names[$i]}"
  else notok "detects ${names[$i]} (no line matching /${patterns[$i]}/)"; fi
done
grep -q 'atime differs' "$T/out" && notok "atime is ignored without --atime" || ok "atime is ignored without --atime"
[ $rc_atime -eq 1 ] || notok "--atime run exits 1 (got $rc_atime)"
# Nothing but the mutations: every difference line matches one pattern.
# Inherent side effects: a truncated file also differs in content and hole
# layout; a renamed entry is only in A under its old name; a joined hardlink
# takes the other member's times.
side='^files/5mib-random: (hole layout|content) differs|^files/\\xff\\xfe: only in A$|^hard/b/single2: mtime differs'
extra=$(grep -vE '^(    |treecmp: )' "$T/out" | grep -vE "$(IFS='|'; echo "${patterns[*]}")" | grep -vE "$side" || true)
[ -z "$extra" ] && ok "no differences beyond the mutations" || { notok "no differences beyond the mutations"; echo "$extra" | head -5; }

# Error handling: a missing tree is exit 2, not 0 or 1.
"$TREECMP" "$T/a" "$T/does-not-exist" >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] && ok "a missing tree is an error (exit 2)" || notok "a missing tree is an error (exit $rc)"

# --exclude hides exactly the excluded difference.
"$TREECMP" -x files/4096 "$T/a" "$T/b" >"$T/out" 2>&1
if [ $? -eq 1 ] && ! grep -q '^files/4096:' "$T/out" && grep -q '^files/4095:' "$T/out"; then
  ok "--exclude skips the excluded path only"
else notok "--exclude skips the excluded path only"; fi

[ $fails -eq 0 ]
