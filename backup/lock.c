/* Repository locks; see lock.h and docs/FORMAT.md section 8. */
#include "backup/lock.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/backend.h"
#include "backup/crypto.h"
#include "common/macro.h"

struct sk_lock {
        sk_backend *b;
        bool exclusive;
        uint64_t created;
        char id[17];
        char name[32];
};

typedef struct lock_info {
        bool parsed;
        bool exclusive;
        char host[256];
        long pid;
        uint64_t created, time;
} lock_info;

static void our_host(char host[256]) {
        if (gethostname(host, 255) < 0)
                host[0] = 0;
        host[255] = 0;
}

static int lock_write(sk_lock *l) {
        char host[256], buf[512];
        our_host(host);
        int n = snprintf(buf, sizeof(buf), "snapkeep-lock 1\nexclusive %d\nhost %s\npid %ld\ncreated %llu\ntime %llu\n",
                         l->exclusive ? 1 : 0, host, (long) getpid(), (unsigned long long) l->created,
                         (unsigned long long) time(NULL));
        if (n < 0 || (size_t) n >= sizeof(buf))
                return -ENAMETOOLONG;
        return sk_backend_put(l->b, l->name, buf, (size_t) n);
}

static void lock_parse(const char *text, lock_info *li) {
        memset(li, 0, sizeof(*li));
        if (strncmp(text, "snapkeep-lock 1\n", 16) != 0)
                return;
        int have = 0;
        for (const char *line = text + 16; *line;) {
                const char *nl = strchrnul(line, '\n');
                char l[300];
                size_t n = MIN((size_t) (nl - line), sizeof(l) - 1);
                memcpy(l, line, n);
                l[n] = 0;
                unsigned long long v;
                int x;
                if (sscanf(l, "exclusive %d", &x) == 1) {
                        li->exclusive = x != 0;
                        have |= 1;
                } else if (strncmp(l, "host ", 5) == 0) {
                        size_t hl = strnlen(l + 5, sizeof(li->host) - 1);
                        memcpy(li->host, l + 5, hl);
                        li->host[hl] = 0;
                        have |= 2;
                } else if (sscanf(l, "pid %llu", &v) == 1) {
                        li->pid = (long) v;
                        have |= 4;
                } else if (sscanf(l, "created %llu", &v) == 1)
                        li->created = v;
                else if (sscanf(l, "time %llu", &v) == 1) {
                        li->time = v;
                        have |= 8;
                }
                line = *nl ? nl + 1 : nl;
        }
        li->parsed = have == 15;
}

static bool lock_stale(const lock_info *li, unsigned stale_seconds) {
        if (!li->parsed)
                return false;
        uint64_t now = (uint64_t) time(NULL);
        if (li->time + stale_seconds < now)
                return true;
        char host[256];
        our_host(host);
        if (strcmp(host, li->host) == 0 && li->pid > 0 && kill((pid_t) li->pid, 0) < 0 && errno == ESRCH)
                return true;
        return false;
}

typedef struct scan_ctx {
        sk_backend *b;
        const char *self;       /* our lock name, or NULL */
        bool exclusive;
        bool remove_stale;
        unsigned stale_seconds;
        char *holder;           /* first live conflicting lock */
        unsigned removed;
} scan_ctx;

static int scan_one(const char *name, uint64_t size, void *userdata) {
        scan_ctx *c = userdata;
        _cleanup_free_ char *buf = NULL;
        size_t len;
        (void) size;
        if (c->self && strcmp(name, c->self) == 0)
                return 0;
        int r = sk_backend_get(c->b, name, 0, 4096, (void **) &buf, &len);
        if (r == -ENOENT)
                return 0;       /* released meanwhile */
        if (r < 0)
                return r;
        lock_info li;
        lock_parse(buf, &li);
        if (lock_stale(&li, c->stale_seconds)) {
                if (c->remove_stale) {
                        r = sk_backend_del(c->b, name);
                        if (r < 0 && r != -ENOENT)
                                return r;
                        c->removed++;
                }
                return 0;
        }
        if (c->self && !c->exclusive && li.parsed && !li.exclusive)
                return 0;       /* shared + shared */
        if (!c->self && li.parsed)
                return 0;       /* remove_stale mode: live locks stay */
        if (!c->holder) {
                const char *id = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
                int n;
                if (li.parsed)
                        n = asprintf(&c->holder, "%s lock %s held by host %s pid %ld, refreshed %llds ago",
                                     li.exclusive ? "exclusive" : "shared", id, li.host, li.pid,
                                     (long long) time(NULL) - (long long) li.time);
                else
                        n = asprintf(&c->holder, "unreadable lock file %s (remove it with unlock if no one holds it)",
                                     name);
                if (n < 0) {
                        c->holder = NULL;
                        return -ENOMEM;
                }
        }
        return 0;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int sk_lock_acquire(sk_backend *b, bool exclusive, unsigned wait_seconds, unsigned stale_seconds, sk_lock **ret,
                    char **ret_holder) {
        uint8_t idb[8];
        int r;
        if (stale_seconds == 0)
                stale_seconds = SK_LOCK_STALE_SECONDS;
        sk_lock *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->b = b;
        l->exclusive = exclusive;
        l->created = (uint64_t) time(NULL);
        r = sk_random_bytes(idb, sizeof(idb));
        if (r < 0)
                goto fail;
        sk_hex_encode(idb, sizeof(idb), l->id);
        snprintf(l->name, sizeof(l->name), "locks/%s", l->id);

        time_t deadline = time(NULL) + (time_t) wait_seconds;
        for (;;) {
                r = lock_write(l);
                if (r < 0)
                        goto fail;
                scan_ctx c = {
                        .b = b, .self = l->name, .exclusive = exclusive, .remove_stale = exclusive,
                        .stale_seconds = stale_seconds,
                };
                r = sk_backend_list(b, "locks/", scan_one, &c);
                if (r < 0) {
                        free(c.holder);
                        sk_backend_del(b, l->name);
                        goto fail;
                }
                if (!c.holder) {
                        if (ret_holder)
                                *ret_holder = NULL;
                        *ret = l;
                        return 0;
                }
                /* conflict: step back so the other side can proceed */
                sk_backend_del(b, l->name);
                if (time(NULL) >= deadline) {
                        if (ret_holder)
                                *ret_holder = c.holder;
                        else
                                free(c.holder);
                        r = -EBUSY;
                        goto fail;
                }
                free(c.holder);
                uint8_t j = 0;
                (void) sk_random_bytes(&j, 1);
                sleep_ms(500 + (unsigned) j * 6);
        }
fail:
        free(l);
        return r;
}

int sk_lock_refresh(sk_lock *l) {
        uint64_t size;
        int r = sk_backend_head(l->b, l->name, &size);
        if (r < 0)
                return r;
        return lock_write(l);
}

const char *sk_lock_id(const sk_lock *l) {
        return l->id;
}

int sk_lock_release(sk_lock *l) {
        if (!l)
                return 0;
        int r = sk_backend_del(l->b, l->name);
        free(l);
        return r == -ENOENT ? 0 : r;
}

int sk_lock_remove_stale(sk_backend *b, unsigned stale_seconds, unsigned *ret_removed) {
        scan_ctx c = {
                .b = b, .remove_stale = true,
                .stale_seconds = stale_seconds ? stale_seconds : SK_LOCK_STALE_SECONDS,
        };
        int r = sk_backend_list(b, "locks/", scan_one, &c);
        free(c.holder);
        if (r < 0)
                return r;
        if (ret_removed)
                *ret_removed = c.removed;
        return 0;
}
