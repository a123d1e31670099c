#!/usr/bin/env bash
# Stalled writers (hardening defect 1) on a local repository: a backup
# stopped past its lock's stale time while a prune runs fails instead of
# saving a backup that names deleted packs; a long restore keeps its lock
# alive. See tests/lib/stalled.sh for the cases.
set -u
. "$(dirname "$0")/../lib/repo.sh"
. "$(dirname "$0")/../lib/stalled.sh"
sk_repo_setup
stalled_writers_cases
sk_finish
