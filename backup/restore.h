/* Restore a backup (or parts of it) into a directory.
 *
 * DESIGN: the trees are walked depth-first, on an explicit stack (the backup
 * sets the depth: SK_RESTORE_MAX_DEPTH) that keeps a bounded number of
 * directory fds open however deep it goes; directories are created first,
 * then each file is written (ftruncate to its size, then only its data
 * extents, so holes stay holes), its content hash checked end to end, and its
 * metadata applied (owner, xattrs with security.capability after chown, mode,
 * times with nanoseconds). Directory metadata is applied deepest-first after
 * all their children exist, so mtimes stay exact. Hardlink groups are rebuilt
 * with linkat() to the first member restored. All syscalls are relative to
 * directory fds, so paths longer than PATH_MAX restore, and never follow a
 * symlink: not at the target, not on the way down (names in trees are single
 * components, checked by the decoder), not when applying metadata. Nothing
 * is ever created outside the target. Every blob is verified
 * by the repository on read. A file whose blob is missing or corrupt, or whose
 * content hash does not match, is reported (naming the file, the pack and the
 * blob), its partial data removed, and the restore goes on with other files. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/engine.h"
#include "repo/tree.h"
#include "io/ioengine.h"

typedef struct sk_restore_options {
        const char *target;             /* directory; created if missing (parent must exist) */
        /* Paths inside the backup to restore (with everything below them), e.g.
         * "data/etc" or "/data/etc/passwd". NULL/0: everything. The restored
         * entries keep their full path below target. */
        const char *const *includes;
        size_t n_includes;
        /* Do not chown (default: chown only when running as root, since an
         * unprivileged chown fails). */
        bool no_owner;
        /* Device nodes (except overlayfs whiteouts, char 0:0), setuid/setgid
         * bits (not setgid on directories) and security.capability grant
         * privileges. AUTO keeps them only where owners are restored (root,
         * no no_owner): each entry then gets back the owner it had, so the
         * backup grants nothing its owners did not have. DROP skips devices
         * (with a warning) and clears the rest; KEEP restores them even as
         * root with no_owner, except setuid/setgid and capabilities on
         * entries whose owner is not restored, which are always cleared. */
        enum { SK_RESTORE_PRIV_AUTO, SK_RESTORE_PRIV_KEEP, SK_RESTORE_PRIV_DROP } privileges;
        /* Existing files in target are replaced; default is to fail on them. */
        bool overwrite;
        /* File writes (and fallocate) go through sk_io engines of this backend,
         * one per restore worker (SK_IO_AUTO: io_uring when available). */
        sk_io_backend io_backend;
        /* The run holds the repository's shared lock (so prune cannot delete
         * packs meanwhile); wait this long if prune holds it (0: -EBUSY). */
        unsigned lock_wait_seconds;
        /* Decoded directory listings the walk may hold along one path; a
         * directory past it is reported (-E2BIG) and left empty. 0:
         * SK_WALK_HELD_MAX. A bound against hostile repositories (a listing
         * repeated down a deep chain); lower it where memory is tight. */
        size_t walk_memory_max;
        sk_progress_fn progress;
        sk_problem_fn problem;
        void *userdata;
} sk_restore_options;

/* The deepest tree level restored (the root tree is level 0); a deeper
 * tree is reported as malformed (-EBADMSG) and its directory stays empty.
 * It is the tree format's nesting limit (FORMAT-tree.md "Nesting"). The walk
 * holds each level's listing (and its name in the path), not a stack frame
 * or an fd. */
#define SK_RESTORE_MAX_DEPTH SK_TREE_MAX_DEPTH

typedef struct sk_restore_result {
        uint64_t files;         /* non-directory entries restored */
        uint64_t dirs;
        uint64_t bytes;         /* content bytes written */
        uint64_t errors;        /* entries that failed (each reported through problem) */
        uint64_t warnings;      /* e.g. sockets skipped, xattrs not permitted */
} sk_restore_result;

/* Restore backup `id` (full id, unique prefix or "latest"). Returns 0 if every
 * entry restored; -EIO if some failed (result filled, result->errors > 0, every
 * failure reported through problem); -ENOENT if an include path is not in the
 * backup; other -errno on fatal errors (bad id, unreadable manifest or root
 * tree, target not creatable). result is filled as far as the run got. */
int sk_restore_run(sk_repo *repo, const char *id, const sk_restore_options *opts, sk_restore_result *result);
