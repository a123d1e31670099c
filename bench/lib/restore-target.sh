# Restore targets on a fresh filesystem, and how a restore is checked
# complete; sourced by the benchmarks.
#
# Why: ext4 slows file creation down for a while after many files were
# deleted (it searches for inodes that were not recently freed:
# recently_deleted / find_inode_bit in a profile). A restore into the same
# filesystem right after another tool's output was removed measured up to
# 3x slower than the first, whichever tool ran. So every restore gets a new,
# empty ext4 filesystem of its own (a sparse image on a loop device), and
# every tool meets the same conditions.
#
# fresh_fs DIR [SIZE]  mount a new ext4 at DIR (image DIR.img, default 8G
#                      sparse); without root, losetup or mkfs.ext4, DIR is a
#                      plain new directory and a note says so
# fresh_fs_release DIR unmount and delete DIR and its image
# file_bytes DIR       total size of the regular files below DIR, each name
#                      counted (directory sizes differ between filesystems,
#                      so du's total of a correct restore need not match the
#                      source's)

fresh_fs_release() {
  local dir=$1
  if mountpoint -q "$dir" 2>/dev/null; then umount "$dir" || umount -l "$dir"; fi
  rm -f "$dir.img"
  rm -rf "$dir"
}

fresh_fs() {
  local dir=$1 size=${2:-8G}
  fresh_fs_release "$dir"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null && command -v losetup >/dev/null &&
     truncate -s "$size" "$dir.img" &&
     mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$dir.img" 2>/dev/null &&
     mount -o loop "$dir.img" "$dir" 2>/dev/null; then
    sync   # mkfs's writes must not be written back during the timed restore
    return 0
  fi
  rm -f "$dir.img"
  echo "note: $dir is a plain directory, not a fresh filesystem (needs root, losetup and mkfs.ext4)"
  return 0
}

file_bytes() {
  find "$1" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}
