#!/usr/bin/env bash
# Both I/O paths (issue 4 acceptance): the repository round-trip, corruption
# and crash tests (tests/integration/test-repo-{roundtrip,corruption,crash}.sh)
# run once with SNAPKEEP_IO=uring and once with SNAPKEEP_IO=threads; the CLI
# honours the variable like --io, and says which engine runs on stderr.
#
# Forced unavailability: the round-trip test runs a third time under
# tests/tools/no-uring (a seccomp filter that makes io_uring_setup fail with
# EPERM, inherited by every process the test starts) with SNAPKEEP_IO unset:
# the engine must fall back to threads by itself, every snapkeep backup and
# restore must print exactly one line saying why, and --io=uring must fail
# clearly instead of silently using threads.
#
# Env: SK_IO_PATHS_TESTS overrides the list (e.g. "roundtrip" for a quick run).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/repo.sh"
sk_repo_setup
NOURING=${NOURING:-$BUILD_DIR/tools/no-uring}
[ -x "$NOURING" ] || { echo "SKIP: $NOURING not built"; exit 77; }

mkdir -p "$T/src"
echo data > "$T/src/f"
sk_init >/dev/null 2>&1 || { echo "not ok repo init"; exit 1; }
if ! "$SNAPKEEP" --no-progress backup --io=uring "$T/src" >/dev/null 2>"$T/probe.err"; then
  echo "SKIP: io_uring is not available on this machine: $(tail -1 "$T/probe.err")"
  exit 77
fi

# The variable picks the engine (checked here directly, since some of the
# scripts below run snapkeep with -q, which keeps the engine line quiet).
for io in uring threads; do
  SNAPKEEP_IO=$io "$SNAPKEEP" --no-progress backup "$T/src" >/dev/null 2>"$T/env-$io.err"
  want="I/O engine: io_uring"
  [ "$io" = threads ] && want="I/O engine: threads (selected by option)"
  if grep -q "$want" "$T/env-$io.err"; then ok "SNAPKEEP_IO=$io selects it: $(grep 'I/O engine' "$T/env-$io.err")"
  else notok "SNAPKEEP_IO=$io not honoured:"; sed 's/^/    /' "$T/env-$io.err"; fi
done

tests=${SK_IO_PATHS_TESTS:-roundtrip corruption crash}
for io in uring threads; do
  for t in $tests; do
    log=$T/$io-$t.log
    SNAPKEEP_IO=$io bash "$here/test-repo-$t.sh" >"$log" 2>&1
    rc=$?
    # The engine named on stderr must be the one asked for, in every run.
    want="I/O engine: io_uring"
    [ "$io" = threads ] && want="I/O engine: threads"
    n_runs=$(grep -c 'I/O engine:' "$log")
    n_want=$(grep -c "$want" "$log")
    if [ "$rc" -eq 0 ] && [ "$n_runs" -eq "$n_want" ]; then
      ok "$io: test-repo-$t passes ($(grep -c '^ok ' "$log") sub-cases; $n_runs runs named their engine, all $io)"
    else
      notok "$io: test-repo-$t (exit $rc, $n_want of $n_runs runs on $io); failing lines:"
      grep -E '^not ok|error|differ' "$log" | head -20 | sed 's/^/    /'
    fi
  done
done

# --- forced unavailability ------------------------------------------------------
log=$T/nouring-roundtrip.log
env -u SNAPKEEP_IO "$NOURING" bash "$here/test-repo-roundtrip.sh" >"$log" 2>&1
rc=$?
n_runs=$(grep -c 'I/O engine:' "$log")
n_fallback=$(grep -c 'I/O engine: io_uring unavailable (io_uring_setup: Operation not permitted); using threads' "$log")
if [ "$rc" -eq 0 ] && [ "$n_runs" -gt 0 ] && [ "$n_runs" -eq "$n_fallback" ]; then
  ok "seccomp without io_uring: round trip passes on the automatic fallback ($n_runs runs, each saying why)"
else
  notok "seccomp without io_uring: round trip (exit $rc, $n_fallback of $n_runs runs fell back with a reason)"
  grep -E '^not ok|I/O engine' "$log" | sort | uniq -c | head -20 | sed 's/^/    /'
fi

# One backup by hand: exactly one line names the fallback and its cause.
echo more > "$T/src/g"
env -u SNAPKEEP_IO "$NOURING" "$SNAPKEEP" --no-progress backup "$T/src" >"$T/nb.out" 2>"$T/nb.err"
rc=$?
lines=$(grep -c 'io_uring' "$T/nb.err")
if [ $rc -eq 0 ] && [ "$lines" -eq 1 ] && grep -q 'io_uring unavailable (io_uring_setup: Operation not permitted); using threads' "$T/nb.err"; then
  ok "auto under seccomp: backup succeeds, one log line: $(grep io_uring "$T/nb.err")"
else
  notok "auto under seccomp: backup exit $rc, $lines io_uring lines:"; sed 's/^/    /' "$T/nb.err"
fi
env -u SNAPKEEP_IO "$NOURING" "$SNAPKEEP" --no-progress restore latest --target "$T/nout" >/dev/null 2>"$T/nr.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c 'using threads' "$T/nr.err")" -eq 1 ] && cmp -s "$T/src/g" "$T/nout/src/g"; then
  ok "auto under seccomp: restore succeeds on threads, one log line"
else
  notok "auto under seccomp: restore exit $rc:"; sed 's/^/    /' "$T/nr.err"
fi

# Forcing io_uring where it cannot run is an error, never a silent fallback.
"$NOURING" "$SNAPKEEP" --no-progress backup --io=uring "$T/src" >/dev/null 2>"$T/fu.err"
rc=$?
if [ $rc -ne 0 ] && grep -q 'io_uring is not available' "$T/fu.err" && ! grep -q 'using threads' "$T/fu.err"; then
  ok "--io=uring under seccomp fails clearly (exit $rc): $(tail -1 "$T/fu.err")"
else
  notok "--io=uring under seccomp: exit $rc:"; sed 's/^/    /' "$T/fu.err"
fi
SNAPKEEP_IO=uring "$NOURING" "$SNAPKEEP" --no-progress backup "$T/src" >/dev/null 2>"$T/fe.err"
rc=$?
if [ $rc -ne 0 ] && grep -q 'io_uring is not available' "$T/fe.err"; then
  ok "SNAPKEEP_IO=uring under seccomp fails clearly (exit $rc)"
else
  notok "SNAPKEEP_IO=uring under seccomp: exit $rc:"; sed 's/^/    /' "$T/fe.err"
fi
# A filesystem without fallocate (the seccomp filter answers EOPNOTSUPP, as
# such a filesystem does): dense files get no fallocate and no ftruncate
# before their data, so their data alone must give them their size; sparse
# ones keep their holes and size.
mkdir -p "$T/fa"
sk_rand "$T/fa/big" $((5 * 1024 * 1024 + 7)) fa-big
printf 'x' > "$T/fa/one"
: > "$T/fa/empty"
truncate -s $((3 * 1024 * 1024)) "$T/fa/holes"
printf 'tail' | dd of="$T/fa/holes" bs=1 seek=$((3 * 1024 * 1024 - 4)) conv=notrunc status=none
"$SNAPKEEP" --no-progress backup -q "$T/fa" >/dev/null 2>"$T/fab.err" || { notok "backup for the fallocate case"; sed 's/^/    /' "$T/fab.err"; }
if "$NOURING" --no-fallocate fallocate -l 4096 "$T/fa-probe" 2>/dev/null; then
  notok "no-uring --no-fallocate did not refuse fallocate"
fi
env -u SNAPKEEP_IO "$NOURING" --no-fallocate "$SNAPKEEP" --no-progress restore latest --target "$T/faout" >/dev/null 2>"$T/far.err"
rc=$?
bad=""
for f in big one empty holes; do
  [ "$(stat -c %s "$T/faout/fa/$f" 2>/dev/null)" = "$(stat -c %s "$T/fa/$f")" ] && cmp -s "$T/faout/fa/$f" "$T/fa/$f" || bad="$bad $f"
done
if [ $rc -eq 0 ] && [ -z "$bad" ]; then
  ok "without fallocate: every file restored whole, at its size (dense, one byte, empty, sparse)"
else
  notok "without fallocate: restore exit $rc, wrong:$bad"; sed 's/^/    /' "$T/far.err"
fi

# A bad value is a usage error.
"$SNAPKEEP" --no-progress backup --io=bogus "$T/src" >/dev/null 2>"$T/bad.err"
rc=$?
if [ $rc -ne 0 ] && grep -q 'uring, threads or auto' "$T/bad.err"; then
  ok "--io=bogus is a usage error (exit $rc)"
else
  notok "--io=bogus: exit $rc"; sed 's/^/    /' "$T/bad.err"
fi
sk_finish
