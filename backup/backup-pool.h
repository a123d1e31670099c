/* The backup's worker pool: threads that compress, seal and pack the data
 * chunks the walker cuts (sk_repo_put_blob_with_id: the walker has hashed
 * each chunk already, to look it up for dedup), with a bounded queue so that
 * memory stays bounded: the walker blocks while the queue is full. Internal
 * to backup.c (split out to keep files small). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"

#define SK_CHUNK_QUEUE_PER_WORKER 2

typedef struct sk_chunk_job {
        void *buf;
        size_t len, cap;
        sk_blob_id id;
} sk_chunk_job;

typedef struct sk_chunk_pool {
        pthread_mutex_t mu;
        pthread_cond_t not_empty, not_full, idle;
        sk_chunk_job *q;
        size_t cap, head, count;
        unsigned busy;
        bool stop;
        pthread_t *threads;
        unsigned n_threads;
        sk_repo *repo;
        int err;
        char *err_detail;
        uint64_t added_bytes, blobs_added;
        /* Recycled chunk buffers: a fixed set that the walker fills and the
         * workers hand back, instead of a malloc/free per chunk (which makes
         * glibc's per-thread arenas hoard memory). */
        sk_chunk_job *spare;
        size_t n_spare, cap_spare;
} sk_chunk_pool;

/* Start n worker threads on a zeroed pool. */
int sk_chunk_pool_start(sk_chunk_pool *p, sk_repo *repo, unsigned n);
/* Queue a copy of data, whose blob id (sk_repo_blob_id of these bytes) is
 * id (only one thread submits). Blocks while the queue is full; returns the
 * first worker error instead once there is one. */
int sk_chunk_pool_submit(sk_chunk_pool *p, const sk_blob_id *id, const void *data, size_t len);
/* Wait until every queued chunk is stored; the first worker error or 0. */
int sk_chunk_pool_drain(sk_chunk_pool *p);
/* Stop and join the threads, free everything (a pool never started is fine). */
void sk_chunk_pool_stop(sk_chunk_pool *p);
/* A failed backup: the chunks still queued are dropped, not stored (none is
 * in the index yet, so nothing refers to them), so that the stop does not
 * wait for their compression and writes (a cancelled scheduled backup). */
void sk_chunk_pool_cancel(sk_chunk_pool *p);
