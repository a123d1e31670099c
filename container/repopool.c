#include "container/repopool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct sk_repo_pool {
        pthread_mutex_t lock;
        unsigned max, busy;
        sk_repo_pool_open_fn open;
        void *userdata;
        size_t n_idle;
        sk_repo *idle[]; /* max entries */
};

int sk_repo_pool_new(unsigned max, sk_repo_pool_open_fn open, void *userdata, sk_repo_pool **ret) {
        if (max < 1 || !open)
                return -EINVAL;
        sk_repo_pool *p = calloc(1, sizeof(*p) + max * sizeof(sk_repo *));
        if (!p)
                return -ENOMEM;
        pthread_mutex_init(&p->lock, NULL);
        p->max = max;
        p->open = open;
        p->userdata = userdata;
        *ret = p;
        return 0;
}

void sk_repo_pool_free(sk_repo_pool *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_idle; i++)
                sk_repo_free(p->idle[i]);
        pthread_mutex_destroy(&p->lock);
        free(p);
}

int sk_repo_pool_begin(sk_repo_pool *p, sk_repo **ret, char **ret_error) {
        pthread_mutex_lock(&p->lock);
        if (p->busy >= p->max) {
                unsigned n = p->busy;
                pthread_mutex_unlock(&p->lock);
                if (ret_error && !*ret_error &&
                    asprintf(ret_error, "%u restores are running already (restores = %u in snapkeepd.conf); retry later",
                             n, p->max) < 0)
                        *ret_error = NULL;
                return -EAGAIN;
        }
        p->busy++;
        sk_repo *repo = p->n_idle ? p->idle[--p->n_idle] : NULL;
        pthread_mutex_unlock(&p->lock);
        if (!repo) {
                /* Outside the lock: opening derives keys and loads the index. */
                int r = p->open(p->userdata, &repo, ret_error);
                if (r < 0) {
                        pthread_mutex_lock(&p->lock);
                        p->busy--;
                        pthread_mutex_unlock(&p->lock);
                        return r;
                }
        }
        *ret = repo;
        return 0;
}

void sk_repo_pool_end(sk_repo_pool *p, sk_repo *repo) {
        if (repo)
                sk_repo_trim(repo);     /* an idle handle keeps no read-ahead spans */
        pthread_mutex_lock(&p->lock);
        p->busy--;
        if (repo && p->n_idle < p->max) {
                p->idle[p->n_idle++] = repo;
                repo = NULL;
        }
        pthread_mutex_unlock(&p->lock);
        sk_repo_free(repo);
}

unsigned sk_repo_pool_busy(sk_repo_pool *p) {
        pthread_mutex_lock(&p->lock);
        unsigned n = p->busy;
        pthread_mutex_unlock(&p->lock);
        return n;
}
