#!/bin/bash
# Deep and wide trees in a container (hardening acceptance, daemon side): a
# container writes a 100,000-deep directory chain and a directory of many
# entries; snapkeepd then backs the container up (`snapkeep backup
# --container`), reports its usage, commits it (the usage walk at Commit) and
# removes it, and stays up throughout. Each of these walked the tree with one
# level of C recursion and one descriptor per level: a container could crash
# the daemon (SIGSEGV) or make it fail with EMFILE.
#
# The tree is written from the host through /proc/PID/root of the
# container's task (the same files, without 100,000 processes inside).
# SK_DEEP_LEVELS (default 100000) and SK_WIDE_ENTRIES (default 100000).
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SK_SRC/tests/lib/nodes.sh"
nodes_setup
command -v perl >/dev/null || sk_skip "perl missing"
DEPTH=${SK_DEEP_LEVELS:-100000}
WIDE=${SK_WIDE_ENTRIES:-100000}

node_up_with a deep1
pid=$(sk_ctr a task ls | awk '$1 == "deep1" {print $2}')
[ -n "$pid" ] && [ -d "/proc/$pid/root" ] || { sk_notok "A: task pid of deep1 ($pid)"; sk_finish; }
dpid=$(sk_snapkeepd_pid a)

start=$SECONDS
perl -e 'my ($root, $n, $w) = @ARGV;
  chdir $root or die "$root: $!"; mkdir "wide" or die; chdir "wide" or die;
  for (1 .. $w) { open my $f, ">", "f$_" or die "f$_: $!"; close $f }
  chdir $root or die; mkdir "deep" or die; chdir "deep" or die;
  for (1 .. $n) { mkdir "d" or die "mkdir: $!"; chdir "d" or die "chdir: $!" }
  open my $f, ">", "leaf" or die; print $f "bottom\n"; close $f' "/proc/$pid/root" "$DEPTH" "$WIDE" ||
  { sk_notok "A: write the trees in deep1"; sk_finish; }
echo "figure: wrote a $DEPTH-deep chain and $WIDE entries in $((SECONDS - start)) s"

alive() { kill -0 "$dpid" 2>/dev/null; }

start=$SECONDS
out=$(skc a backup --container deep1 --namespace "$SK_NAMESPACE" --json 2>&1); rc=$?
if [ $rc -eq 0 ]; then
  sk_ok "A: backup --container of the deep and wide trees ($((SECONDS - start)) s)"
else
  sk_notok "A: backup --container of the deep and wide trees (exit $rc)" "$(echo "$out" | tail -c 400)"
fi
alive && sk_ok "A: snapkeepd is up after the backup" || sk_notok "A: snapkeepd died during the backup"

# The backup holds the whole chain: the repository's check walks it.
out=$(SNAPKEEP_REPO=$NODES_REPO SNAPKEEP_PASSWORD_FILE=$NODES_PASS "$SNAPKEEP" --no-progress check 2>&1) &&
  sk_ok "check of the repository" || sk_notok "check of the repository" "$(echo "$out" | tail -3)"

# Usage of the active snapshot walks the tree (the usage walk).
out=$(sk_ctr a snapshots --snapshotter snapkeep usage deep1 2>&1); rc=$?
inodes=$(echo "$out" | awk 'NR > 1 {print $NF}')
if [ $rc -eq 0 ] && [ "${inodes:-0}" -ge $((DEPTH + WIDE)) ]; then
  sk_ok "A: usage of the active snapshot counts $inodes inodes"
else
  sk_notok "A: usage of the active snapshot (exit $rc)" "$out"
fi
alive && sk_ok "A: snapkeepd is up after Usage" || sk_notok "A: snapkeepd died during Usage"

sk_ctr a task kill -s KILL deep1 >/dev/null 2>&1
sk_retry 20 sh -c "! ctr --address '$SK_TMP/a/containerd.sock' --namespace '$SK_NAMESPACE' task ls | grep -q '^deep1 .*RUNNING'" >/dev/null 2>&1
sk_ctr a task rm -f deep1 >/dev/null 2>&1
# Commit walks the tree for its usage; removing it walks it again (sk_rm_rf).
out=$(sk_ctr a snapshots --snapshotter snapkeep commit deep-committed deep1 2>&1); rc=$?
[ $rc -eq 0 ] && sk_ok "A: commit of the snapshot" || sk_notok "A: commit of the snapshot (exit $rc)" "$out"
alive && sk_ok "A: snapkeepd is up after Commit" || sk_notok "A: snapkeepd died during Commit"
sk_ctr a containers rm deep1 >/dev/null 2>&1
out=$(sk_ctr a snapshots --snapshotter snapkeep rm deep-committed 2>&1); rc=$?
[ $rc -eq 0 ] && sk_ok "A: remove of the snapshot" || sk_notok "A: remove of the snapshot (exit $rc)" "$out"
alive && sk_ok "A: snapkeepd is up after Remove" || sk_notok "A: snapkeepd died during Remove"
# containerd removes the backend's snapshot in its garbage collection, just after.
deep_left() { # prints the snapshot directories that still hold the deep tree
  local d
  for d in "$(sk_root a)"/snapshots/*/fs; do [ -d "$d/deep" ] && echo "$d"; done
  return 0
}
gone() { [ -z "$(deep_left)" ]; }
sk_retry 120 gone && sk_ok "A: the removed snapshot's tree is gone" || sk_notok "A: tree left behind" "$(deep_left)"
alive && sk_ok "A: snapkeepd is up after the removal" || sk_notok "A: snapkeepd died removing the tree"
nodes_finish
