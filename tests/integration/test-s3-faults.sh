#!/usr/bin/env bash
# Faults (issue 6 acceptance): radosgw is stopped in the middle of a backup
# and restarted a few seconds later. The backup either completes through
# retries or fails with a clear error; the repository then checks clean with
# --read-data, the next backup completes, and it restores identically. With a
# short retry budget and the server down, a backup fails within that bound
# and says why.
set -u
. "$(dirname "$0")/../lib/repo.sh"
. "$(dirname "$0")/../lib/ceph.sh"
s3_test_setup
MiB=$((1024 * 1024))

mkdir -p "$T/src"
for i in 1 2 3 4; do sk_rand "$T/src/f$i" $((40 * MiB)) "fault-$i"; done
expect_rc 0 "init" sk_init

# 1. stop radosgw mid-backup, restart after 4 s
sk backup --json "$T/src" >"$T/b1.json" 2>"$T/b1.err" & pb=$!
sleep 1
if kill -0 $pb 2>/dev/null; then
  rgw_stop; echo "case: radosgw stopped while the backup runs"
  sleep 4
  rgw_start && echo "case: radosgw restarted"
  wait $pb; rc=$?
  if [ $rc -eq 0 ]; then ok "backup completed through retries ($(jq -c '{id, added_bytes: .summary.added_bytes}' "$T/b1.json"))"
  elif grep -qi 'gave up\|connect\|S3\|HTTP' "$T/b1.err"; then ok "backup failed with a clear error (exit $rc): $(head -c 200 "$T/b1.err")"
  else notok "backup exit $rc without a clear error: $(head -c 300 "$T/b1.err")"; fi
else
  wait $pb; notok "timing: the backup finished before radosgw could be stopped"
fi
expect_rc 0 "the repository checks clean (--read-data)" sk check --read-data -q
echo "more" > "$T/src/after"
expect_rc 0 "the next backup completes" sk backup -q "$T/src"
sk restore latest -q --target "$T/out" && "$TREECMP" "$T/src" "$T/out/src" >"$T/cmp" 2>&1 \
  && ok "it restores identically" || { notok "restore"; head -5 "$T/cmp"; }

# 2. server down for longer than the retry budget: bounded, clear failure
echo "even more" > "$T/src/later"
rgw_stop
start=$SECONDS
SNAPKEEP_S3_RETRY_SECONDS=3 sk backup -q "$T/src" >/dev/null 2>"$T/b2.err"; rc=$?
took=$((SECONDS - start))
[ $rc -ne 0 ] && [ $took -le 30 ] && grep -qi 'connect' "$T/b2.err" && grep -q 'gave up' "$T/b2.err" \
  && ok "server down: backup fails after ${took}s saying: $(head -c 220 "$T/b2.err")" \
  || notok "server down: exit $rc after ${took}s: $(head -c 300 "$T/b2.err")"
rgw_start
expect_rc 0 "after the outage: check clean" sk check -q
expect_rc 0 "after the outage: backup completes" sk backup -q "$T/src"
sk_finish
