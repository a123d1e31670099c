# The setup the repository benchmarks share (repository.sh, io.sh, s3.sh),
# sourced at their top. Why one file: they compare their figures across runs
# and with each other, so they must find the binary the same way, measure
# the very same data set, built by one recipe into one cache, and run the
# peer tools (restic, borg) with the same settings.
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
# bench_workdir, peer_step_cmd, bench_init_tools: below, with their comments
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

# peer_step_cmd TOOL STEP REPO OUT INCR-ARCHIVE RESTORE-ARCHIVE prints the
# command line (no spaces in paths) of one step (init, first, incr, restore)
# of the peer tools, restic or borg, with the settings every bench compares
# against: restic 0.14 repository v2, --compression auto; borg 1.2 repokey,
# zstd,3. borg names its archives: INCR-ARCHIVE for the incremental backup,
# RESTORE-ARCHIVE is the one extracted (into the current directory).
peer_step_cmd() {
  local tool=$1 step=$2 repo=$3 out=$4
  case $tool/$step in
    restic/init) echo "restic -r $repo init --repository-version 2" ;;
    restic/first|restic/incr) echo "restic -r $repo backup --compression auto $DATA" ;;
    restic/restore) echo "restic -r $repo restore latest --target $out" ;;
    borg/init) echo "borg init -e repokey $repo" ;;
    borg/first) echo "borg create --compression zstd,3 $repo::first $DATA" ;;
    borg/incr) echo "borg create --compression zstd,3 $repo::$5 $DATA" ;;
    borg/restore) echo "borg extract $repo::$6" ;;
  esac
}

# bench_init_tools TOOL...: `init` for each tool (step_cmd TOOL init, the
# bench's own); sets ok_tool[TOOL]=1 for those that worked, failed=1 if any
# did not.
bench_init_tools() {
  local tool
  for tool in "$@"; do
    # shellcheck disable=SC2046,SC2091 # step_cmd prints a command line (paths without spaces)
    if $(step_cmd "$tool" init) >"$W/$tool-init.log" 2>&1; then ok_tool[$tool]=1
    else echo "$tool init failed:"; tail -5 "$W/$tool-init.log"; failed=1; fi
  done
}

# bench_workdir NAME: a scratch directory W (under $SK_BENCH_WORK, default
# /var/tmp) removed at exit with the restore filesystems in it (W/*-restore),
# and the passphrase every tool's repository is made with, in the
# environment of snapkeep, restic and borg.
bench_workdir() {
  W=$(mktemp -d "${SK_BENCH_WORK:-/var/tmp}/sk-bench-$1.XXXXXX")
  trap 'for o in "$W"/*-restore; do fresh_fs_release "$o"; done; rm -rf "$W"' EXIT
  printf 'bench passphrase\n' >"$W/pass"
  export RESTIC_PASSWORD_FILE=$W/pass RESTIC_CACHE_DIR=$W/restic-cache
  export BORG_PASSPHRASE="bench passphrase" BORG_BASE_DIR=$W/borg-base BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
  export SNAPKEEP_PASSWORD_FILE=$W/pass
}
