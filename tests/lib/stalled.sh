# shellcheck shell=bash
# tests/lib/stalled.sh: the "stalled writers" acceptance cases, run on the
# repository $SNAPKEEP_REPO (a local directory or S3) by
# tests/integration/test-stalled-writers.sh and test-s3-stalled-writers.sh.
# Needs tests/lib/repo.sh sourced and set up first.
#
# The lock stale time is shortened to 6 s (SNAPKEEP_LOCK_STALE_SECONDS, read by
# the CLI): refreshes every 1 s, a holder counts its lock lost after 3 s
# without a refresh.
#   backup stall   a backup is stopped (SIGSTOP) after writing packs, for
#                  longer than the stale time; a prune runs meanwhile (it
#                  judges the lock stale). Continued, the backup must fail
#                  naming the lost lock, and write no manifest. Round 2 also
#                  backdates the lock object (a clock jump) and prunes with
#                  --grace 0, the worst case: deletion at once.
#   restore        a restore of one 300 MiB file, slowed to outlive the stale
#                  time (stopped 0.98 s of every second until the prune
#                  ran: shorter than the freshness limit), keeps its lock alive by the timer: a
#                  prune meanwhile refuses (exit 5) and the restore succeeds.
# After each: every backup that said "saved" restores identically, and
# check --read-data is clean.

MiB=$((1024 * 1024))
export SNAPKEEP_LOCK_STALE_SECONDS=6
saved=()        # "id dir" of every backup that reported success

stalled_backup() { # SRC OUTJSON: background backup; sets bpid
  # not through sk(): the signals must reach snapkeep itself, not a subshell
  "$SNAPKEEP" --no-progress backup --json "$1" >"$2" 2>"$2.err" & bpid=$!
}

# wait until storage holds more than N packs (or the backup ended)
wait_packs() { # N
  local i
  for i in $(seq 1 600); do
    [ "$(sk_obj_ls data/ 2>/dev/null | wc -l)" -gt "$1" ] && return 0
    kill -0 "$bpid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

note_saved() { # JSON DIR
  local id; id=$(jq -r .id "$1" 2>/dev/null)
  [ -n "$id" ] && [ "$id" != null ] && saved+=("$id $2")
}

verify_saved() { # LABEL
  local e id dir n=0
  expect_rc 0 "$1: check --read-data clean" sk check --read-data -q
  for e in "${saved[@]}"; do
    id=${e%% *} dir=${e#* }
    rm -rf "$T/out"
    if sk restore "$id" -q --target "$T/out" 2>"$T/restore.err" &&
       "$TREECMP" "$dir" "$T/out/$(basename "$dir")" >"$T/cmp" 2>&1; then n=$((n + 1))
    else notok "$1: backup ${id:0:12} said saved but does not restore"; cat "$T/restore.err"; head -5 "$T/cmp"; fi
  done
  [ "$n" -eq "${#saved[@]}" ] && ok "$1: all $n backups that said saved restore identically"
}

stall_round() { # LABEL PRUNE-ARGS BACKDATE(0|1) N
  local label=$1 pargs=$2 backdate=$3 base rc lock i src=$T/big-$4
  # new content each round: nothing deduplicates away
  mkdir -p "$src"
  for i in 1 2 3 4 5 6; do sk_rand "$src/f$i" $((24 * MiB)) "big-$label-$i"; done
  base=$(sk_obj_ls data/ | wc -l)
  stalled_backup "$src" "$T/$label.json"
  if ! wait_packs $((base + 2)); then notok "$label: the backup ended before it could be stopped"; return; fi
  kill -STOP "$bpid"
  if [ "$backdate" = 1 ]; then
    # a clock jump: its lock looks an hour old to everyone
    for lock in $(sk_obj_ls locks/ | cut -d' ' -f1); do
      sk_obj_get "$lock" | sed "s/^time .*/time $(($(date +%s) - 3600))/" >"$T/lock"
      sk_obj_put "$lock" <"$T/lock"
    done
  fi
  sleep 8                                     # > stale time (6 s)
  # shellcheck disable=SC2086
  sk prune $pargs >"$T/$label.prune" 2>&1; rc=$?
  [ $rc -eq 0 ] && ok "$label: prune ran while the backup was stopped: $(grep -m1 marked "$T/$label.prune" | cut -c1-120)" \
    || { notok "$label: prune (exit $rc)"; cat "$T/$label.prune"; }
  kill -CONT "$bpid"
  wait "$bpid"; rc=$?
  if [ $rc -ne 0 ] && grep -q 'lock lost' "$T/$label.json.err"; then
    ok "$label: the continued backup fails (exit $rc): $(grep -m1 'lock lost' "$T/$label.json.err" | cut -c1-200)"
  else
    notok "$label: the continued backup exits $rc; stderr: $(head -3 "$T/$label.json.err")"
    [ $rc -eq 0 ] && note_saved "$T/$label.json" "$src"
  fi
  # the next backup must not deduplicate against what the prune took out
  sk backup --json "$src" >"$T/$label-next.json" 2>"$T/$label-next.err" \
    && ok "$label: the next backup succeeds" || { notok "$label: next backup"; cat "$T/$label-next.err"; }
  note_saved "$T/$label-next.json" "$src"
  verify_saved "$label"
}

stalled_writers_cases() {
  mkdir -p "$T/small"
  for i in 1 2 3; do sk_rand "$T/small/f$i" $((2 * MiB)) "small-$i"; done
  expect_rc 0 "init (1 MiB packs)" sk_init --pack-size 1M
  sk backup --json "$T/small" >"$T/small.json" && ok "first backup" || notok "first backup"
  note_saved "$T/small.json" "$T/small"

  stall_round "stall" "" 0 1
  stall_round "stall+clock-jump+grace0" "--grace 0" 1 2

  # delayed deletion: once the grace period is over, a prune deletes the
  # packs marked earlier that are still unreferenced, and nothing else
  sleep 2
  sk prune --grace 1s --json >"$T/final-prune.json" 2>"$T/final-prune.err" \
    && ok "prune after the grace period: $(jq -c '{packs_deleted,packs_undeleted,packs_trashed}' "$T/final-prune.json")" \
    || { notok "final prune"; cat "$T/final-prune.err"; }
  verify_saved "after the deleting prune"

  # --- a long restore of one large file ---------------------------------------
  mkdir -p "$T/one"
  sk_rand "$T/one/large" $((300 * MiB)) large
  sk backup --json "$T/one" >"$T/one.json" && note_saved "$T/one.json" "$T/one" || notok "backup of the large file"
  local id rpid start rc prc=-1 el
  id=$(jq -r .id "$T/one.json")
  rm -rf "$T/one-out"
  start=$SECONDS
  "$SNAPKEEP" --no-progress restore "$id" -q --target "$T/one-out" 2>"$T/one-restore.err" & rpid=$!
  # Slow it down until the prune has run: stopped 0.98 s of every second
  # (well under the 3 s freshness limit; the lock's timer thread needs only a
  # few ms to refresh), so that it outlives the 6 s stale time. At 2% the
  # first 7 s give it about 0.14 s of running time: a full-speed restore of
  # this file takes several times that (0.1 s slices were too many once the
  # restore got faster). Then it runs freely to the end.
  while kill -0 "$rpid" 2>/dev/null; do
    if [ $prc -lt 0 ]; then
      kill -STOP "$rpid" 2>/dev/null; sleep 0.98; kill -CONT "$rpid" 2>/dev/null; sleep 0.02
    else
      sleep 0.1
    fi
    if [ $prc -lt 0 ] && [ $((SECONDS - start)) -ge 7 ] && kill -0 "$rpid" 2>/dev/null; then
      sk prune --grace 0 >"$T/one-prune.out" 2>&1; prc=$?
    fi
  done
  wait "$rpid"; rc=$?
  el=$((SECONDS - start))
  if [ $prc -lt 0 ]; then notok "restore ended after ${el}s, before the stale time was past (machine too fast?)"
  else
    [ $prc -eq 5 ] && ok "prune during the ${el}s restore (past the stale time) refuses with exit 5" \
      || { notok "prune during the restore exits $prc (want 5)"; cat "$T/one-prune.out"; }
  fi
  [ $rc -eq 0 ] && cmp -s "$T/one/large" "$T/one-out/one/large" && ok "the long restore succeeds, file identical" \
    || { notok "long restore (exit $rc)"; cat "$T/one-restore.err"; }
  verify_saved "after the long restore"
}
