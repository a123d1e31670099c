/* Room backup/: the engine that turns directory trees into backups and back:
 * backup (backup*.c), restore (restore*.c), the manifest store (manifest),
 * browsing (ls, diff, stats: browse), check, forget, prune, tree walks and file
 * metadata (fsmeta). Knows nothing of containers or gRPC. Uses repo/, store/,
 * io/ and common/ (Makefile DEPS_backup). */
/* Types shared by the backup engine's long operations (backup, restore, ls,
 * diff, check, forget, prune, stats): progress reports, problem reports and
 * backup ids.
 *
 * The engine never prints. Long operations call a progress callback (the CLI
 * renders it, rate-limiting as it likes) and report every per-file or
 * per-blob problem through a problem callback, then return a result struct the
 * CLI turns into text or --json.
 *
 * Paths and names are byte strings: they are NUL-terminated (a name can never
 * hold NUL) but are NOT guaranteed to be UTF-8. Escaping them for JSON or a
 * terminal is the caller's job. Paths inside a backup are relative to the
 * backup root, '/'-separated, without a leading '/' ("" is the root). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/manifest-codec.h"

typedef struct sk_repo sk_repo;

/* A backup id is 32 random bytes, written as 64 lowercase hex digits. It names
 * the manifest object backups/<id>. Commands accept any unique prefix of at
 * least 4 digits, or "latest" (see sk_backup_resolve() in manifest.h). */

typedef enum sk_phase {
        SK_PHASE_SCAN,          /* walking the source / the trees */
        SK_PHASE_BACKUP,        /* reading and storing file content */
        SK_PHASE_RESTORE,       /* writing files */
        SK_PHASE_METADATA,      /* applying directory metadata (restore) */
        SK_PHASE_CHECK_TREES,   /* check: reading manifests and trees */
        SK_PHASE_CHECK_DATA,    /* check: reading packs */
        SK_PHASE_PRUNE,         /* prune: marking, repacking, deleting */
} sk_phase;

/* A progress snapshot. Counters only grow within one operation. *_total are
 * 0 when unknown. current is borrowed and valid only during the callback. */
typedef struct sk_progress {
        sk_phase phase;
        uint64_t files_done;    /* entries finished (files, dirs, links...) */
        uint64_t files_total;
        uint64_t bytes_done;    /* logical content bytes processed */
        uint64_t bytes_total;
        const char *current;    /* path being worked on, or a pack id (check/prune) */
} sk_progress;

/* Called from the thread that runs the operation (never concurrently). Return
 * a negative errno (e.g. -ECANCELED) to abort the operation cleanly; it then
 * returns that error. */
typedef int (*sk_progress_fn)(const sk_progress *p, void *userdata);

typedef enum sk_problem_kind {
        SK_PROBLEM_WARNING,     /* skipped something, result still valid (e.g. a socket) */
        SK_PROBLEM_ERROR,       /* this entry/blob failed; the operation went on */
} sk_problem_kind;

/* One problem. Every string is borrowed (valid during the callback only) and
 * may be NULL when it does not apply:
 *   backup_id  the backup concerned (check, restore)
 *   path       entry path inside the backup, or a source path during backup
 *   pack       pack id (hex) holding the bad blob
 *   blob       blob id (hex)
 *   detail     human-readable cause, including the repository's own detail
 *              (e.g. "pack 3fa1… blob 9c0e…: AEAD tag mismatch")
 * error is a negative errno (-EBADMSG for corrupt data, -ENOENT for missing). */
typedef struct sk_problem {
        sk_problem_kind kind;
        int error;
        const char *backup_id;
        const char *path;
        const char *pack;
        const char *blob;
        const char *detail;
} sk_problem;

/* Called from the operation's thread (never concurrently). */
typedef void (*sk_problem_fn)(const sk_problem *p, void *userdata);
