#!/usr/bin/env bash
# Concurrency (issue 3 acceptance): two backups of different trees run into
# one repository at once; a prune attempted while they run refuses clearly
# (exit 5, message naming the lock) without changing anything, and a prune
# with --lock-wait waits until they are done and then succeeds. Both backups
# restore identically and the repository checks clean.
set -u
. "$(dirname "$0")/../lib/repo.sh"
sk_repo_setup

sk_two_trees 4 40 300
expect_rc 0 "repo init" sk_init

sk backup --json "$T/a" >"$T/a.json" 2>"$T/a.err" & pa=$!
sk backup --json "$T/b" >"$T/b.json" 2>"$T/b.err" & pb=$!
sleep 0.5
running=0
kill -0 $pa 2>/dev/null && kill -0 $pb 2>/dev/null && running=1
before=$(sk_obj_names | grep -E '^(data|index|backups)/')
sk prune >"$T/prune1.out" 2>"$T/prune1.err"; rc=$?
still=0
kill -0 $pa 2>/dev/null && kill -0 $pb 2>/dev/null && still=1
if [ $running -eq 1 ] && [ $still -eq 1 ]; then
  [ $rc -eq 5 ] && ok "prune during two backups refuses with exit 5" || notok "prune during backups exits $rc (want 5)"
  grep -qi 'lock\|in use' "$T/prune1.err" && ok "prune says why: $(head -1 "$T/prune1.err" | cut -c1-160)" \
    || { notok "prune message names the lock"; cat "$T/prune1.err"; }
else
  notok "timing: the backups were not both running around the prune attempt (machine too slow or too fast?)"
fi
# Prune did not delete anything the backups wrote.
after=$(sk_obj_names | grep -E '^(data|index|backups)/')
missing=$(comm -23 <(echo "$before") <(echo "$after") | grep -v "\.tmp" | grep -c .); comm -23 <(echo "$before") <(echo "$after") | grep . | sed "s/^/    gone: /"
[ "$missing" -eq 0 ] && ok "the refused prune deleted nothing" || notok "the refused prune deleted $missing files"

# A waiting prune: starts now, must block until the backups finish.
sk prune --lock-wait 300 --json >"$T/prune2.json" 2>"$T/prune2.err" & pp=$!
sleep 0.3
kill -0 $pp 2>/dev/null && { kill -0 $pa 2>/dev/null || kill -0 $pb 2>/dev/null; } && ok "prune --lock-wait is waiting while backups run" \
  || echo "note: backups finished before the waiting prune could be observed"
wait $pa; ra=$?
wait $pb; rb=$?
[ $ra -eq 0 ] && ok "backup a completed" || { notok "backup a exits $ra"; cat "$T/a.err"; }
[ $rb -eq 0 ] && ok "backup b completed" || { notok "backup b exits $rb"; cat "$T/b.err"; }
wait $pp; rp=$?
[ $rp -eq 0 ] && ok "prune --lock-wait succeeded after the backups" || { notok "prune --lock-wait exits $rp"; cat "$T/prune2.err"; }

[ "$(sk backups --json | jq length)" = 2 ] && ok "both backups are listed" || notok "backups listed: $(sk backups --json | jq length)"
sk_two_restored "" " after the prune"
expect_rc 0 "check --read-data clean" sk check --read-data -q

# Readers wait for a prune (snapkeepd prunes on its own schedule): a live
# exclusive lock, as a prune on this host would hold it (a live pid, fresh
# time), planted in the repository. restore and check with --lock-wait 0 fail
# with exit 5 naming it; by default they wait, and go on once it is gone
# (its pid dies, so the lock turns stale).
sleep 300 & holder=$!
printf 'snapkeep-lock 1\nexclusive 1\nhost %s\npid %d\ncreated %d\ntime %d\nboot %s\npidns %s\n' \
  "$(hostname)" $holder "$(date +%s)" "$(date +%s)" "$(cat /proc/sys/kernel/random/boot_id)" \
  "$(readlink /proc/self/ns/pid)" >"$T/lock"
sk_obj_put locks/deadbeefdeadbeef <"$T/lock"
id=$(jq -r .id "$T/a.json")
sk restore "$id" --target "$T/rl0" --lock-wait 0 >/dev/null 2>"$T/rl0.err"; rc=$?
[ $rc -eq 5 ] && grep -q 'locked' "$T/rl0.err" && ok "restore --lock-wait 0 during a prune: exit 5, $(grep -m1 error "$T/rl0.err" | cut -c1-160)" ||
  notok "restore --lock-wait 0 during a prune exits $rc (want 5)" "$(cat "$T/rl0.err")"
sk check --lock-wait 0 -q >/dev/null 2>&1; rc=$?
[ $rc -eq 5 ] && ok "check --lock-wait 0 during a prune: exit 5" || notok "check --lock-wait 0 during a prune exits $rc (want 5)"
sk restore "$id" --target "$T/rlw" -q >/dev/null 2>"$T/rlw.err" & pr=$!
sk check -q >/dev/null 2>"$T/ckw.err" & pc=$!
sleep 2
kill -0 $pr 2>/dev/null && kill -0 $pc 2>/dev/null && ok "restore and check wait for the prune by default" ||
  notok "restore or check did not wait for the lock"
kill $holder; wait $holder 2>/dev/null
wait $pr; rr=$?; wait $pc; rc=$?
[ $rr -eq 0 ] && [ -d "$T/rlw" ] && ok "the waiting restore completed once the lock was gone" ||
  notok "the waiting restore exits $rr" "$(cat "$T/rlw.err")"
[ $rc -eq 0 ] && ok "the waiting check completed once the lock was gone" || notok "the waiting check exits $rc" "$(cat "$T/ckw.err")"
sk_finish
