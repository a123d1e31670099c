/* Problem reports (report.c): how the engine's operations (backup, restore,
 * check, forget, prune, browse) and container/'s OCI export report through
 * the caller's sk_problem_fn, with the repository's detail attached. The
 * room's other shared pieces have headers of their own: dir.h, held.h,
 * pathbuf.h, idmap.h, pack-table.h, legacy-blobs.h. */
#pragma once

#include "backup/engine.h"
#include "repo/repo.h"
#include "repo/tree.h"

/* The repository's last error detail, after the formatted prefix, in an
 * owned string, or NULL on OOM. */
char *sk_engine_detail(sk_repo *repo, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report a problem (no-op if fn is NULL). */
void sk_engine_problem(sk_problem_fn fn, void *ud, sk_problem_kind kind, int error, const char *backup_id,
                       const char *path, const char *pack, const char *blob, const char *detail);
