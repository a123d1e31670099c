/* The restore's worker pool (internal to backup/restore*.c).
 *
 * The walking thread queues one sk_rjob per regular file; RESTORE_WORKERS
 * threads each take a job, fetch its blobs through a prefetch window shared
 * with idle workers (so one large file is decrypted on every core), write
 * the data extents through the worker's own sk_io engine, check the content
 * hash and apply the file's metadata through its descriptor. Finished jobs
 * wait on the done list for the walking thread, which alone reports. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"
#include "repo/tree.h"
#include "io/ioengine.h"

#define RESTORE_WORKERS 2
#define RESTORE_QUEUE 64

typedef struct sk_rjob {
        int dirfd;              /* borrowed: the directory stays open until drained */
        const sk_node *node;    /* borrowed: its sk_dir lives until drained */
        struct sk_pathnode *dir; /* referenced: where the file goes (for reports) */
        unsigned flags;
        bool overwrite;
        /* results */
        int err;                /* data failure: file removed */
        int meta_err;           /* metadata failure: file kept */
        const char *meta_what;
        char *detail;
        char blob[SK_TREE_ID_BYTES * 2 + 1];
        uint64_t bytes;
        struct sk_rjob *next;
} sk_rjob;

/* One blob fetch of a file's prefetch window. The file's worker consumes
 * them in order; idle workers take pending ones, so a single large file is
 * decrypted and decompressed on every core. */
typedef struct sk_rfetch {
        sk_blob_id id;
        int state;              /* FETCH_* */
        void *buf;
        size_t len;
        int err;
        char *detail;
        bool writing;           /* buf is in flight in a write: keep it until reaped */
        bool owner_only;        /* pending for its file's own worker only (it waits for it next) */
        struct sk_rfetch *prev, *next;     /* in the pool's pending list */
} sk_rfetch;

enum { FETCH_IDLE, FETCH_PENDING, FETCH_TAKEN, FETCH_DONE };
#define FETCH_WINDOW 6

struct sk_rpool;
typedef struct sk_rworker_slot {
        struct sk_rpool *p;
        sk_io *io;
} sk_rworker_slot;

typedef struct sk_rpool {
        pthread_mutex_t mu;
        pthread_cond_t cv_work, cv_done, cv_fetch;
        sk_rfetch *pend_head, *pend_tail;
        sk_rjob *queue_head, *queue_tail, *done_head, *done_tail;
        size_t queued, in_flight;       /* in_flight: queued + running */
        bool stop;
        pthread_t threads[RESTORE_WORKERS];
        sk_rworker_slot slots[RESTORE_WORKERS];
        unsigned n_threads;
        sk_repo *repo;
} sk_rpool;

/* Worker thread body; arg is its sk_rworker_slot. Runs until p->stop and
 * no work is left. */
void *sk_rpool_worker(void *arg);
