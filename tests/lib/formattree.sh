# shellcheck shell=bash
# tests/lib/formattree.sh: sk_format_tree DIR makes the small tree that the
# repository-format fixtures hold (tests/data/repo-v1, made by
# tests/data/make-repo-v1.sh) byte for byte the same on every run, so a test
# can restore a fixture and compare it with treecmp: a multi-chunk file, a
# sparse file with two extents, an empty file, a hardlink pair across
# directories, a symlink, an xattr and fixed modes and mtimes.
# Needs sk_rand (tests/lib/repo.sh).

sk_format_tree() { # DIR
  local d=$1
  rm -rf "$d"
  mkdir -p "$d/sub" "$d/deep/er"
  printf 'hello, format\n' >"$d/small.txt"
  sk_rand "$d/multi.bin" 100000 format-multi
  : >"$d/empty"
  truncate -s 1048576 "$d/sparse"
  sk_rand "$d/.x1" 5000 format-x1
  sk_rand "$d/.x2" 3000 format-x2
  dd if="$d/.x1" of="$d/sparse" bs=4096 seek=1 conv=notrunc status=none
  dd if="$d/.x2" of="$d/sparse" bs=1 seek=700000 conv=notrunc status=none
  rm -f "$d/.x1" "$d/.x2"
  sk_rand "$d/sub/hard1" 20000 format-hard
  ln "$d/sub/hard1" "$d/deep/er/hard2"
  ln -s ../small.txt "$d/sub/link"
  printf 'x%.0s' $(seq 1 300) >"$d/deep/er/three-hundred"
  setfattr -n user.format -v fixture "$d/small.txt" 2>/dev/null || true
  chmod 0640 "$d/small.txt"
  chmod 0755 "$d/multi.bin"
  chmod 0700 "$d/deep"
  find "$d" -depth -exec touch -h -d @1700000000.123456789 {} +
}
