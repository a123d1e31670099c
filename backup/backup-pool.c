/* The backup's worker pool (backup-pool.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backup/backup-pool.h"
#include "backup/report.h"
#include "common/macro.h"
#include "common/pace.h"

static void *worker_main(void *arg) {
        sk_chunk_pool *p = arg;
        pthread_mutex_lock(&p->mu);
        for (;;) {
                while (p->count == 0 && !p->stop)
                        pthread_cond_wait(&p->not_empty, &p->mu);
                if (p->count == 0)
                        break;
                sk_chunk_job j = p->q[p->head];
                p->head = (p->head + 1) % p->cap;
                p->count--;
                p->busy++;
                pthread_cond_signal(&p->not_full);
                pthread_mutex_unlock(&p->mu);

                if (!p->err)
                        (void) sk_pace_background(); /* common/pace.h: per chunk compressed and sealed */
                bool was_new = false;
                int r = p->err ? 0 : sk_repo_put_blob_with_id(p->repo, SK_BLOB_DATA, &j.id, j.buf, j.len, &was_new);
                char *detail = r < 0 ? sk_engine_detail(p->repo, "storing a data chunk") : NULL;

                pthread_mutex_lock(&p->mu);
                if (p->n_spare < p->cap_spare)
                        p->spare[p->n_spare++] = j;
                else
                        free(j.buf);
                p->busy--;
                if (r < 0 && !p->err) {
                        p->err = r;
                        p->err_detail = detail;
                        detail = NULL;
                        pthread_cond_broadcast(&p->not_full);
                }
                free(detail);
                if (was_new) {
                        p->added_bytes += j.len;
                        p->blobs_added++;
                }
                if (p->count == 0 && p->busy == 0)
                        pthread_cond_broadcast(&p->idle);
        }
        pthread_mutex_unlock(&p->mu);
        return NULL;
}

int sk_chunk_pool_start(sk_chunk_pool *p, sk_repo *repo, unsigned n) {
        memset(p, 0, sizeof(*p));
        p->repo = repo;
        p->cap = (size_t) n * SK_CHUNK_QUEUE_PER_WORKER;
        p->q = calloc(p->cap, sizeof(sk_chunk_job));
        p->threads = calloc(n, sizeof(pthread_t));
        p->cap_spare = p->cap + n + 1;
        p->spare = calloc(p->cap_spare, sizeof(sk_chunk_job));
        if (!p->q || !p->threads || !p->spare) {
                free(p->q);
                free(p->threads);
                free(p->spare);
                return -ENOMEM;
        }
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->not_empty, NULL);
        pthread_cond_init(&p->not_full, NULL);
        pthread_cond_init(&p->idle, NULL);
        for (unsigned i = 0; i < n; i++) {
                int r = pthread_create(&p->threads[i], NULL, worker_main, p);
                if (r != 0) {
                        if (i == 0)
                                return -r;
                        break;
                }
                p->n_threads++;
        }
        return 0;
}

int sk_chunk_pool_submit(sk_chunk_pool *p, const sk_blob_id *id, const void *data, size_t len) {
        pthread_mutex_lock(&p->mu);
        while (p->count == p->cap && !p->err)
                pthread_cond_wait(&p->not_full, &p->mu);
        int r = p->err;
        sk_chunk_job j = {};
        if (!r && p->n_spare)
                j = p->spare[--p->n_spare];
        pthread_mutex_unlock(&p->mu);
        if (r)
                return r;
        if (j.cap < len || !j.buf) {
                free(j.buf);
                j.cap = MAX(len, (size_t) 1);
                j.buf = malloc(j.cap);
                if (!j.buf)
                        return -ENOMEM;
        }
        memcpy(j.buf, data, len);
        j.len = len;
        j.id = *id;
        pthread_mutex_lock(&p->mu);
        /* Only the walker submits, so the slot freed above is still ours. */
        p->q[(p->head + p->count) % p->cap] = j;
        p->count++;
        pthread_cond_signal(&p->not_empty);
        pthread_mutex_unlock(&p->mu);
        return 0;
}

int sk_chunk_pool_drain(sk_chunk_pool *p) {
        pthread_mutex_lock(&p->mu);
        while (p->count > 0 || p->busy > 0)
                pthread_cond_wait(&p->idle, &p->mu);
        int r = p->err;
        pthread_mutex_unlock(&p->mu);
        return r;
}

void sk_chunk_pool_cancel(sk_chunk_pool *p) {
        if (!p->q)
                return;
        pthread_mutex_lock(&p->mu);
        if (!p->err)
                p->err = -ECANCELED;
        pthread_cond_broadcast(&p->not_full);
        pthread_mutex_unlock(&p->mu);
}

void sk_chunk_pool_stop(sk_chunk_pool *p) {
        if (!p->q)
                return;
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->not_empty);
        pthread_mutex_unlock(&p->mu);
        for (unsigned i = 0; i < p->n_threads; i++)
                pthread_join(p->threads[i], NULL);
        for (size_t i = 0; i < p->count; i++)
                free(p->q[(p->head + i) % p->cap].buf);
        for (size_t i = 0; i < p->n_spare; i++)
                free(p->spare[i].buf);
        free(p->spare);
        free(p->q);
        free(p->threads);
        free(p->err_detail);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->not_empty);
        pthread_cond_destroy(&p->not_full);
        pthread_cond_destroy(&p->idle);
        p->q = NULL;
}

