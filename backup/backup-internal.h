/* What the pieces of one backup run share (private to backup*.c): the run's
 * context, the walk's directory frames, the small-file read-ahead's slots,
 * and the functions one piece calls in another.
 *
 *   backup.c            the walk (explicit stack of directory frames) and
 *                       the driver, sk_backup_run()
 *   backup-read.c       one file: change detection, reading through the I/O
 *                       engine, content hash, chunking
 *   backup-readahead.c  small files opened and read ahead of the walker
 *   backup-manifest.c   the new manifest's fields and the parent backup
 *
 * See backup.h for the design of the whole. */
#pragma once

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "backup/backup.h"
#include "backup/backup-pool.h"
#include "backup/dir.h"
#include "backup/hardlinks.h"
#include "backup/pathbuf.h"
#include "io/ioengine.h"
#include "repo/chunker.h"
#include "repo/filehash.h"
#include "repo/lock.h"
#include "repo/repo.h"
#include "repo/tree.h"

#define READ_SIZE (2u << 20)
#define PROGRESS_BYTES (64u << 20)
#define READ_DEPTH 2            /* reads in flight per large file */
#define IO_QUEUE_DEPTH 8
enum { IO_TAG_SMALL = 1, IO_TAG_READER = 2 };
#define PF_FILES 32                     /* small files read ahead at once (whole tree) */
#define PF_MAX_FILE (256u << 10)        /* files up to this size are read ahead whole */
#define PF_BYTES (8u << 20)             /* read-ahead data held at once */

enum { PF_OPENING = 1, PF_READING, PF_DONE };
typedef struct pf_slot {
        size_t entry;           /* index in the directory's names */
        int state;              /* PF_* */
        int fd;                 /* -1 until opened; owned until taken */
        int err;                /* first error, 0 if none */
        uint8_t *buf;
        size_t size;            /* bytes asked: st_size at the pre-open stat */
        size_t len;             /* bytes read */
} pf_slot;

/* A directory's read-ahead: a FIFO of slots in entry order. */
typedef struct pf_dir {
        pf_slot ring[PF_FILES];
        size_t head, count;
} pf_dir;

/* One directory being walked (see "the walk" in backup.c). */
typedef struct wframe {
        int fd;                 /* -1 while closed (an older frame of a deep walk) or lost */
        dev_t dev;              /* identity, checked when the fd is re-opened */
        ino_t ino;
        char **names;           /* entries, sorted, stat'ed up front */
        size_t n_names, next;   /* next: the entry the walk does next */
        struct stat *sts;
        int *errs;
        pf_dir *pf;             /* read-ahead; NULL until the first candidate */
        size_t pf_next;         /* next entry to consider for read-ahead */
        sk_dir *pdir;           /* this directory in the parent backup, or NULL */
        sk_tree_builder *b;     /* its entries done so far */
        sk_node node;           /* its own entry; subtree set when it is done */
        size_t path_old;        /* c->path length to restore when it is done */
} wframe;

/* Flags of every open of a file to back up. O_NONBLOCK: a FIFO (or a device)
 * swapped in for the regular file seen by the stat must not block the open,
 * which would hang the backup holding the repository lock; the type is then
 * checked on the descriptor (sk_backup_open_regular). */
#define OPEN_FILE_FLAGS (O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

/* The run. */
typedef struct bctx {
        sk_repo *repo;
        const sk_backup_options *o;
        sk_lock *lock;
        sk_chunker chunker;
        sk_filehash *fh;        /* the content hash of the file being read */
        int hash_rule;          /* the rule fh follows: the repository's format version decides,
                                 * so a version-1 repository keeps getting version-1 trees */
        uint8_t *buf;
        size_t buf_cap;
        sk_io *io;              /* the walker's file reads */
        sk_io *pf_io;           /* read-ahead of small files */
        size_t pf_bytes, pf_files;
        sk_chunk_pool pool;
        sk_pathbuf path;
        sk_backup_summary sum;
        uint64_t bytes_read, warnings, tree_blobs_added, tree_bytes_added;
        uint64_t last_progress_bytes;
        sk_progress prog;
        sk_hl_map hl;
        size_t pdir_held;       /* footprint of the frames' parent listings */
        dev_t source_dev;
        /* Chunk list being built for the current file. */
        sk_chunk_ref *chunks;
        size_t n_chunks, cap_chunks;
} bctx;


/* fd was opened with OPEN_FILE_FLAGS: -EAGAIN if it is not a regular file
 * (anymore), else 0 with O_NONBLOCK cleared again. */
int sk_backup_open_regular(int fd);

/* Report a problem at the current path; counts it as a warning or an error. */
void sk_backup_problem(bctx *c, sk_problem_kind kind, int err, const char *detail);
/* An SK_PROBLEM_ERROR "cannot back up <what>: <strerror(-err)>". */
void sk_backup_problem_errno(bctx *c, int err, const char *what);
/* Stop if the lock is known lost; call the progress callback (at least every
 * PROGRESS_BYTES, or now if force). */
int sk_backup_tick(bctx *c, bool force);
/* Errors the walker reports per entry and survives (the source's problem,
 * not the repository's). */
bool sk_backup_is_entry_error(int r);
/* p, the parent backup's entry, can stand for the file stat'ed as st. */
bool sk_backup_unchanged(bctx *c, const sk_node *p, const struct stat *st);
/* 0: *ret filled; 1: entry skipped (problem reported); < 0: fatal. pf: the
 * file's read-ahead slot or NULL; its fd is taken over. */
int sk_backup_file(bctx *c, int dirfd, const char *name, const struct stat *st, const sk_node *pnode,
                   pf_slot *pf, sk_node *ret);

/* Start read-ahead for frame f's next candidates after entry cur (the one
 * the walker is at), within the budget. */
void sk_readahead_top_up(bctx *c, wframe *f, size_t cur);
/* The slot for entry i, waited for, or NULL if i was not read ahead. */
pf_slot *sk_readahead_take(bctx *c, pf_dir *d, size_t i);
/* Drop the slot the walker took (the oldest). */
void sk_readahead_pop(bctx *c, pf_dir *d);
/* Wait for the directory's outstanding read-ahead and drop it. */
void sk_readahead_finish(bctx *c, pf_dir *d);

/* The new manifest's id, time, host, program, sources and tags from o. */
int sk_backup_fill_manifest(const sk_backup_options *o, sk_manifest *m);
/* The parent backup for change detection (NULL: none), as o asks. */
int sk_backup_pick_parent(bctx *c, sk_manifest *m, sk_manifest **ret);
/* Root tree names: last component, "root" for "/", "~N" on clashes with
 * names[0..i). */
int sk_backup_root_name(char **names, size_t i, const char *src, char **ret);
