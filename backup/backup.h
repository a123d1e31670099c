/* The backup run: walks source trees and stores them as a new backup.
 *
 * DESIGN: one thread walks each source depth-first with openat()/fstatat()
 * relative to directory fds (paths longer than PATH_MAX work; no full path is
 * ever passed to a syscall). Per directory it captures every entry's metadata
 * (fsmeta.h); a regular file whose (dev, ino, size, mtime, ctime) equal the
 * parent backup's entry at the same path reuses that entry's chunk list and
 * content hash without reading the file. Other files are read through the
 * I/O engine (io/ioengine.h; io_uring or its thread pool, opts->io_backend):
 * small files (<= 256 KiB) are opened and read whole ahead of the walker, up
 * to 32 files / 8 MiB in flight, so a cold cache sees many requests at once;
 * larger data extents (found with SEEK_DATA/SEEK_HOLE) are read in order with
 * 2 x 2 MiB reads in flight (io/ioreader.h) while the walker hashes and
 * chunks them with the repository's keyed FastCDC; chunks go to a bounded
 * pool of worker threads that compress, seal and pack them. Memory is
 * bounded: read-ahead 8 MiB + reader 6 MiB + chunk buffer (max chunk + 2 MiB)
 * + queued chunks (workers x 2 + workers + 1, each <= max chunk) + the pack
 * being filled and those being written (16 MiB each by default, at most one
 * per worker). `workers` sets the bound; with the
 * defaults (2 workers, 1 MiB average / 8 MiB max chunks) the bench data set
 * peaks at about 75 MiB RSS. Each
 * directory becomes a tree blob (tree.h) once its children are done; the
 * manifest is written last, so a crashed backup leaves only unreferenced packs
 * that prune removes. The repository's shared lock is held, and refreshed,
 * for the whole run. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/engine.h"
#include "repo/tree.h"
#include "io/ioengine.h"

typedef struct sk_backup_options {
        /* Paths to back up (files or directories), raw bytes. Relative paths are
         * made absolute against the current directory for the manifest. The root
         * tree gets one entry per source, named after its last component
         * ("/" becomes "root"); clashing names get "~2", "~3"... appended. */
        const char *const *sources;
        size_t n_sources;
        const char *const *tags;        /* may be NULL/0 */
        size_t n_tags;
        const char *hostname;           /* NULL: gethostname() */
        /* Parent for change detection: NULL picks the newest backup with the same
         * hostname and the same set of sources; a backup id or unique prefix
         * forces one. no_parent reads every file. */
        const char *parent;
        bool no_parent;
        unsigned workers;               /* compress/seal threads; 0 = 2 */
        /* File reads go through an sk_io engine of this backend (SK_IO_AUTO:
         * io_uring when the kernel allows it, else threads). A forced backend
         * that is unavailable fails the run with its error. */
        sk_io_backend io_backend;
        /* Read every file even when its metadata says unchanged. */
        bool force_read;
        /* Do not descend into directories on another filesystem than their
         * source (mount points are recorded as empty directories). */
        bool one_file_system;
        /* Wait this long for the shared lock if prune holds the exclusive one
         * (0: fail at once with -EBUSY). */
        unsigned lock_wait_seconds;
        sk_progress_fn progress;        /* may be NULL */
        sk_problem_fn problem;          /* may be NULL: unreadable files, skipped sockets... */
        void *userdata;
} sk_backup_options;

typedef struct sk_backup_result {
        char id[SK_BACKUP_ID_HEX + 1];          /* the new backup */
        char parent_id[SK_BACKUP_ID_HEX + 1];   /* "" if none */
        sk_backup_summary summary;              /* as stored in the manifest */
        uint64_t bytes_read;    /* content bytes actually read from the source (0 for an unchanged tree) */
        uint64_t blobs_added;   /* data + tree blobs new to the repository */
        uint64_t warnings;      /* problems reported with SK_PROBLEM_WARNING */
} sk_backup_result;

/* Run one backup. Entries that cannot be read (EACCES, vanished files) are
 * reported through opts->problem as SK_PROBLEM_ERROR, counted in
 * summary.errors and left out; the backup still completes and returns 0 (the
 * CLI should exit non-zero when summary.errors > 0). A source that does not
 * exist or a repository failure aborts with -errno and writes no manifest.
 * -ECANCELED if the progress callback asked to stop. */
int sk_backup_run(sk_repo *repo, const sk_backup_options *opts, sk_backup_result *ret_result);
