#!/usr/bin/env bash
# Deep and wide trees (hardening acceptance): a 100,000-deep directory chain
# and one directory of many entries back up and restore through the CLI under
# the default limit of 1024 descriptors, every reader walks them (ls, diff,
# stats, check, prune), and the restored trees are identical (treecmp). The
# walks used to recurse once per level: a 40,000-deep chain crashed
# `snapkeep backup` with SIGSEGV, and held a descriptor per level.
#
# SK_DEEP_LEVELS (default 100000) and SK_WIDE_ENTRIES (default 100000) size
# the trees. The acceptance figure of 1,000,000 entries takes several minutes
# on the 2-core test machine (creating them ~20-75 s, backup ~50 s, restore
# ~100 s): run it by hand with SK_WIDE_ENTRIES=1000000.
#
# The restore half needs the explicit-stack restore (branch hard-restore);
# without it the restore of the deep tree fails with EMFILE.
set -u
. "$(dirname "$0")/../lib/repo.sh"
sk_repo_setup
command -v perl >/dev/null || { echo "SKIP: perl missing"; exit 77; }
DEPTH=${SK_DEEP_LEVELS:-100000}
WIDE=${SK_WIDE_ENTRIES:-100000}
ulimit -n 1024

# Paths that deep exceed PATH_MAX: build and probe them one level at a time.
mkchain() { # DIR DEPTH LEAF
  perl -e 'my ($d, $n, $leaf) = @ARGV; mkdir $d or die "$d: $!"; chdir $d or die;
           for (1 .. $n) { mkdir "d" or die "mkdir: $!"; chdir "d" or die "chdir: $!" }
           open my $f, ">", $leaf or die "$leaf: $!"; print $f "bottom\n"; close $f' "$@"
}
levels() { # DIR: how many "d" levels below it
  perl -e 'chdir $ARGV[0] or die; my $n = 0; $n++ while chdir "d"; print "$n\n"' "$1"
}

expect_rc 0 "repo init" sk_init

# ---- a 100,000-deep chain ----------------------------------------------------------------
start=$SECONDS
mkchain "$T/deep" "$DEPTH" leaf
echo "figure: created a $DEPTH-deep chain in $((SECONDS - start)) s"
start=$SECONDS
sk backup --json "$T/deep" >"$T/d1.json" 2>"$T/d1.err"; rc=$?
if [ $rc -eq 0 ] && [ "$(jq .summary.dirs "$T/d1.json")" = $((DEPTH + 1)) ]; then
  ok "backup of a $DEPTH-deep chain with 1024 descriptors ($((SECONDS - start)) s)"
else
  notok "backup of a $DEPTH-deep chain (exit $rc)"; tail -5 "$T/d1.err"; head -c 600 "$T/d1.json"
fi
id1=$(jq -r .id "$T/d1.json")
# A change at the bottom: the incremental backup reads only that.
perl -e 'chdir $ARGV[0] or die; chdir "d" or die for 1 .. $ARGV[1]; open my $f, ">", "leaf2" or die' "$T/deep" "$DEPTH"
start=$SECONDS
sk backup --json "$T/deep" >"$T/d2.json" 2>"$T/d2.err"; rc=$?
echo "figure: incremental backup of the chain took $((SECONDS - start)) s"
id2=$(jq -r .id "$T/d2.json" 2>/dev/null)
[ $rc -eq 0 ] && [ "$(jq -r .parent "$T/d2.json")" = "$id1" ] && ok "incremental backup of the chain" ||
  { notok "incremental backup of the chain (exit $rc)"; tail -5 "$T/d2.err"; }
sk diff --json "$id1" "$id2" >"$T/diff.json" 2>"$T/diff.err"; rc=$?
[ $rc -eq 0 ] && [ "$(jq '[.changes[] | select(.kind == "added" and (.path | endswith("/leaf2")))] | length' \
  "$T/diff.json")" = 1 ] && [ "$(jq .added "$T/diff.json")" = 1 ] && ok "diff finds the file added at the bottom" ||
  { notok "diff of the two chain backups (exit $rc)"; tail -3 "$T/diff.err"; head -c 300 "$T/diff.json"; }
start=$SECONDS
expect_rc 0 "check walks the chain" sk check
echo "figure: check took $((SECONDS - start)) s"
sk stats --json >"$T/stats.json" 2>"$T/stats.err" && ok "stats walks the chain" ||
  { notok "stats walks the chain"; tail -3 "$T/stats.err"; }
expect_rc 0 "forget the first backup" sk forget "$id1"
expect_rc 0 "prune marks the chain" sk prune
expect_rc 0 "check after prune" sk check

start=$SECONDS
sk restore "$id2" --target "$T/out-deep" >"$T/rd.out" 2>&1; rc=$?
if [ $rc -eq 0 ]; then
  ok "restore of the $DEPTH-deep chain ($((SECONDS - start)) s)"
  [ "$(levels "$T/out-deep/deep")" = "$DEPTH" ] && ok "restored chain has $DEPTH levels" ||
    notok "restored chain has $(levels "$T/out-deep/deep") levels"
  "$TREECMP" "$T/deep" "$T/out-deep/deep" >"$T/cmp-deep" 2>&1 && ok "restored chain is identical (treecmp)" ||
    { notok "restored chain is identical"; head -c 600 "$T/cmp-deep"; }
else
  notok "restore of the $DEPTH-deep chain (exit $rc; needs the hard-restore branch)"; tail -c 400 "$T/rd.out"
fi
rm -rf "$T/out-deep"

# ---- a directory of $WIDE entries ------------------------------------------------------
start=$SECONDS
mkdir "$T/wide"
perl -e 'chdir $ARGV[0] or die; for (1 .. $ARGV[1]) { open my $f, ">", "f$_" or die "f$_: $!"; close $f }' \
  "$T/wide" "$WIDE"
echo "figure: created $WIDE entries in $((SECONDS - start)) s"
start=$SECONDS
sk backup --json "$T/wide" >"$T/w.json" 2>"$T/w.err"; rc=$?
[ $rc -eq 0 ] && ok "backup of a directory of $WIDE entries ($((SECONDS - start)) s)" ||
  { notok "backup of a directory of $WIDE entries (exit $rc)"; tail -5 "$T/w.err"; }
idw=$(jq -r .id "$T/w.json" 2>/dev/null)
n=$(sk ls "$idw" wide | wc -l)
[ "$n" = $((WIDE + 1)) ] && ok "ls lists all $WIDE entries" || notok "ls lists $n lines, want $((WIDE + 1))"
expect_rc 0 "check walks the wide directory" sk check
start=$SECONDS
sk restore "$idw" --target "$T/out-wide" >"$T/rw.out" 2>&1; rc=$?
if [ $rc -eq 0 ]; then
  ok "restore of the wide directory ($((SECONDS - start)) s)"
  "$TREECMP" "$T/wide" "$T/out-wide/wide" >"$T/cmp-wide" 2>&1 && ok "restored wide directory is identical (treecmp)" ||
    { notok "restored wide directory is identical"; head -c 600 "$T/cmp-wide"; }
else
  notok "restore of the wide directory (exit $rc)"; tail -c 400 "$T/rw.out"
fi
sk_finish
