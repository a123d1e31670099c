# The restore matrix of bench/io.sh (issue 15), sourced after its helpers
# (timed, run_step's tools, ratio/ge/median/rotated, fresh_fs): full restores of two
# data sets into two kinds of target, every tool side by side, RUNS runs in
# alternating tool order, medians reported.
#
#   data sets: "large", the shared-library directory of the data set (large
#              files), and "small", usr_share_doc + usr_share_locale (many
#              small files); each backed up on its own by every tool.
#   targets:   "own", a new directory on the filesystem that holds the work
#              directory (the machine's own, in use: what users restore into;
#              a run's output is deleted before the next run), and "fresh", a
#              new ext4 on a loop device for each restore (isolates the tool
#              from the state of the filesystem; see restore-target.sh).
#
# Every restore's output is checked complete (file count and bytes) in the
# first run. Targets (issue 15): own >= 1.5x restic's throughput and faster
# than borg; fresh >= 1.5x restic's.
#
# Beside the tools, "bound" restores each set with tar -x of an uncompressed
# tar that is in the page cache: the cost of creating the files and writing
# their bytes into the target, which every restore pays, with no reading of a
# repository, decompression, decryption or checking (SK_BENCH_MATRIX_BOUND=0
# leaves it out).

matrix_restore_cmd() { # TOOL SET OUT: the command line (borg extracts into the current directory)
  local tool=$1 repo=$W/m-$1-$2
  case $tool in
    sk-*) echo "$SNAPKEEP --repo $repo --no-progress restore -q --io=${tool#sk-} latest --target $3" ;;
    restic) echo "restic -r $repo restore latest --target $3" ;;
    borg) echo "borg extract $repo::first" ;;
    bound) echo "tar -xf $repo/data.tar" ;;
  esac
}

matrix_backup() { # TOOL SET PATH...
  local tool=$1 set=$2 repo=$W/m-$1-$2; shift 2
  case $tool in
    sk-*) "$SNAPKEEP" --repo "$repo" repo init -q && "$SNAPKEEP" --repo "$repo" --no-progress backup -q "$@" ;;
    restic) restic -q -r "$repo" init --repository-version 2 && restic -q -r "$repo" backup --compression auto "$@" ;;
    borg) borg init -e repokey "$repo" && borg create --compression zstd,3 "$repo::first" "$@" ;;
    bound) # the paths share their parent (the data set's directory)
      local names=() p
      for p; do names+=("$(basename "$p")"); done
      mkdir -p "$repo" && tar -cf "$repo/data.tar" -C "$(dirname "$1")" "${names[@]}" ;;
  esac >"$W/m-backup.log" 2>&1
}

# The restored copy of the set's first source directory under OUT.
matrix_restored() { # TOOL OUT SRC
  case $1 in sk-*|bound) echo "$2/$(basename "$3")" ;; *) echo "$2$3" ;; esac
}

restore_matrix() {
  local tools=() t set target run out key order
  local -A paths=([large]="$DATA/usr_lib_x86_64-linux-gnu" [small]="${SMALL[*]}")
  for t in $TOOLS; do [ -n "${ok_tool[$t]:-}" ] && tools+=("$t"); done
  [ "${SK_BENCH_MATRIX_BOUND:-1}" = 1 ] && tools+=(bound)
  for set in large small; do
    # shellcheck disable=SC2086 # paths without spaces
    for t in "${tools[@]}"; do matrix_backup "$t" "$set" ${paths[$set]} || { echo "matrix: $t backup of $set failed"; tail -5 "$W/m-backup.log"; failed=1; }; done
    local want_files want_bytes
    # shellcheck disable=SC2086
    want_files=$(find ${paths[$set]} -type f | wc -l)
    want_bytes=$(for p in ${paths[$set]}; do file_bytes "$p"; done | awk '{ s += $1 } END { printf "%.0f", s }')
    echo "figure: matrix data set $set: $want_bytes bytes in $want_files files"
    R[m-$set,bytes]=$want_bytes
    for run in $(seq 1 "$RUNS"); do
      # rotate the order, so that no tool always restores right after another's output was deleted
      read -ra order <<<"$(rotated "$run" "${tools[@]}")"
      for target in own fresh; do
        for t in "${order[@]}"; do
          out=$W/m-$t-restore
          fresh_fs_release "$out"; sync
          if [ $target = fresh ]; then fresh_fs "$out"; else mkdir -p "$out"; fi
          cache warm "$W/m-$t-$set"
          key=m-$t-$set-$target-$run
          cd "$out" || exit 1
          # shellcheck disable=SC2046 # a command line without spaces in paths
          timed "$key" $(matrix_restore_cmd "$t" "$set" "$out") || failed=1
          cd "$W" || exit 1
          if [ "$run" = 1 ]; then
            local nf nb
            nf=0 nb=0
            for p in ${paths[$set]}; do
              nf=$((nf + $(find "$(matrix_restored "$t" "$out" "$p")" -type f 2>/dev/null | wc -l)))
              nb=$((nb + $(file_bytes "$(matrix_restored "$t" "$out" "$p")")))
            done
            if [ "$nf" != "$want_files" ] || [ "$nb" != "$want_bytes" ]; then
              echo "figure: $key INCOMPLETE ($nf files, $nb bytes)"; failed=1; R[$key]=""
            fi
          fi
        done
      done
    done
  done
  for t in "${tools[@]}"; do fresh_fs_release "$W/m-$t-restore"; done

  echo
  printf '%-11s %-6s %-6s %10s %10s %10s\n' tool set target "median s" "MiB/s" "runs"
  for set in large small; do
    for target in own fresh; do
      for t in "${tools[@]}"; do
        local all m
        all=$(for run in $(seq 1 "$RUNS"); do echo "${R[m-$t-$set-$target-$run]:-}"; done | grep . | tr '\n' ' ')
        m=$(echo "$all" | tr ' ' '\n' | grep . | median)
        R[m-$t-$set-$target]=$m
        printf '%-11s %-6s %-6s %10s %10s %10s\n' "$t" "$set" "$target" "$m" "$(mibs "${R[m-$set,bytes]}" "$m")" "$all"
      done
    done
  done
  for set in large small; do
    for target in own fresh; do
      for t in "${tools[@]}"; do
        case $t in sk-*) ;; *) continue ;; esac
        if [ -n "${ok_tool[restic]:-}" ]; then
          r=$(ratio "${R[m-restic-$set-$target]:-0}" "${R[m-$t-$set-$target]:-0}")
          echo "result: $t restore, $set files, $target filesystem: throughput / restic = $r (target >= 1.5: $(ge "$r" 1.5))"
        fi
        if [ -n "${ok_tool[borg]:-}" ]; then
          r=$(ratio "${R[m-borg-$set-$target]:-0}" "${R[m-$t-$set-$target]:-0}")
          echo "result: $t restore, $set files, $target filesystem: throughput / borg = $r ($([ $target = own ] && echo "target > 1.0: $(ge "$r" 1.0001)" || echo "for information"))"
        fi
        if [ -n "${R[m-bound-$set-$target]:-}" ]; then
          r=$(ratio "${R[m-bound-$set-$target]}" "${R[m-$t-$set-$target]:-0}")
          echo "result: $t restore, $set files, $target filesystem: throughput / the write bound (tar -x) = $r (for information)"
        fi
      done
    done
  done
}
