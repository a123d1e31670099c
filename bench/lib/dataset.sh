# The setup the repository benchmarks share (repository.sh, io.sh, s3.sh),
# sourced at their top. Why one file: they compare their figures across runs
# and with each other, so they must find the binary the same way and measure
# the very same data set, built by one recipe into one cache.
#
# Sets SK_SRC, BUILD_DIR, SNAPKEEP (an absolute path: the benches change
# directory, and a relative path given by the caller must still work), DATA
# and SOURCES, and sources restore-target.sh (fresh_fs, file_bytes).
#
# bench_need_snapkeep [time]  exit 77 (SKIP) unless $SNAPKEEP is built and,
#                             with "time", /usr/bin/time is installed
# bench_need_tools TOOL...    exit 77 unless restic / borg are installed for
#                             the TOOLs that name them (others need nothing)
# bench_dataset               build the data set once (cached; the marker
#                             $DATA.done records the sources and total size;
#                             delete $DATA to rebuild), set data_bytes,
#                             data_file_bytes, data_files and print its
#                             "figure: data set" line
_bench_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$_bench_lib/restore-target.sh"
SK_SRC=${SK_SRC:-$(cd "$_bench_lib/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
SNAPKEEP=${SNAPKEEP:-$BUILD_DIR/snapkeep}
SNAPKEEP=$(realpath -m "$SNAPKEEP")
DATA=${SK_BENCH_DATA:-/var/tmp/snapkeep-bench-data}
SOURCES=(/usr/lib/x86_64-linux-gnu /usr/share/doc /usr/share/locale)

bench_need_snapkeep() {
  [ -x "$SNAPKEEP" ] || { echo "SKIP: $SNAPKEEP not built"; exit 77; }
  if [ "${1:-}" = time ]; then
    [ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time missing (Debian package time)"; exit 77; }
  fi
}

bench_need_tools() {
  local t
  for t in "$@"; do
    case $t in
      restic) command -v restic >/dev/null || { echo "SKIP: restic missing"; exit 77; } ;;
      borg) command -v borg >/dev/null || { echo "SKIP: borg missing"; exit 77; } ;;
    esac
  done
}

bench_dataset() {
  local s
  if [ ! -f "$DATA.done" ]; then
    echo "building the data set in $DATA from ${SOURCES[*]}"
    rm -rf "$DATA"; mkdir -p "$DATA"
    for s in "${SOURCES[@]}"; do
      cp -a "$s" "$DATA/$(echo "${s#/}" | tr / _)" || { echo "copying $s failed"; exit 1; }
    done
    { printf 'sources: %s\n' "${SOURCES[*]}"; du -sb --apparent-size "$DATA" | cut -f1; } >"$DATA.done"
  fi
  data_bytes=$(du -sb --apparent-size "$DATA" | cut -f1)
  data_file_bytes=$(file_bytes "$DATA")   # hardlinks counted per name, as in a restore
  data_files=$(find "$DATA" -type f | wc -l)
  echo "figure: data set $DATA: $data_bytes bytes in $data_files files ($(head -1 "$DATA.done"))"
}
