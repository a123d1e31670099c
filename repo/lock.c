/* Repository locks; see lock.h and docs/FORMAT.md section 8. */
#include "repo/lock.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/backend.h"
#include "repo/crypto.h"
#include "common/macro.h"

#define TOMB_PREFIX "lockgone/"

struct sk_lock {
        sk_backend *b;
        bool exclusive;
        uint64_t created;
        unsigned stale_seconds, refresh_seconds;
        char id[17];
        char name[32];
        char tomb[32];

        pthread_mutex_t mu;             /* guards everything below */
        pthread_cond_t cv;
        bool stop, thread_started;
        pthread_t thread;
        int64_t last_ok;                /* CLOCK_BOOTTIME ns of the last successful write */
        bool lost;
        char lost_reason[512];
        sk_lock_release_fn on_release;
        void *on_release_ud;

        pthread_mutex_t io_mu;          /* one refresh at a time (timer vs sk_lock_refresh) */
};

typedef struct lock_info {
        bool parsed;
        bool exclusive;
        char host[256];
        char boot[64];
        char pidns[64];
        long pid;
        uint64_t created, time;
} lock_info;

static int64_t boot_ns(void) {
        struct timespec ts;
        /* BOOTTIME keeps counting while the machine is suspended, so a
         * suspended holder sees the whole gap when it wakes up. */
        clock_gettime(CLOCK_BOOTTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void our_host(char host[256]) {
        if (gethostname(host, 255) < 0)
                host[0] = 0;
        host[255] = 0;
}

/* Boot id and pid namespace: a pid means something only within one boot of
 * one kernel and one pid namespace (two containers on one host may share a
 * hostname yet not see each other's pids: kill() says ESRCH for a live
 * holder). Reading /proc is not configuration, so the library may. "" when
 * unknown, which disables the dead-pid rule. */
static void read_line_file(const char *path, char *out, size_t size) {
        out[0] = 0;
        FILE *f = fopen(path, "re");
        if (!f)
                return;
        if (fgets(out, (int) size, f))
                out[strcspn(out, "\n")] = 0;
        else
                out[0] = 0;
        fclose(f);
}

static void our_boot(char boot[64]) {
        read_line_file("/proc/sys/kernel/random/boot_id", boot, 64);
}

static void our_pidns(char ns[64]) {
        ssize_t n = readlink("/proc/self/ns/pid", ns, 63);
        ns[n > 0 ? n : 0] = 0;
        if (strchr(ns, ' ') || strchr(ns, '\n'))
                ns[0] = 0;
}

static int lock_write(sk_lock *l) {
        char host[256], boot[64], ns[64], buf[768];
        our_host(host);
        our_boot(boot);
        our_pidns(ns);
        int n = snprintf(buf, sizeof(buf),
                         "snapkeep-lock 1\nexclusive %d\nhost %s\npid %ld\ncreated %llu\ntime %llu\n%s%s%s%s%s%s",
                         l->exclusive ? 1 : 0, host, (long) getpid(), (unsigned long long) l->created,
                         (unsigned long long) time(NULL), boot[0] ? "boot " : "", boot, boot[0] ? "\n" : "",
                         ns[0] ? "pidns " : "", ns, ns[0] ? "\n" : "");
        if (n < 0 || (size_t) n >= sizeof(buf))
                return -ENAMETOOLONG;
        return sk_backend_put(l->b, l->name, buf, (size_t) n);
}

/* Copy the rest of a "key value" line into out (truncated, NUL-terminated). */
static void copy_value(const char *v, char *out, size_t size) {
        size_t n = strnlen(v, size - 1);
        memcpy(out, v, n);
        out[n] = 0;
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
                        copy_value(l + 5, li->host, sizeof(li->host));
                        have |= 2;
                } else if (strncmp(l, "pid ", 4) == 0 && sscanf(l + 4, "%llu", &v) == 1) {
                        li->pid = (long) v;
                        have |= 4;
                } else if (sscanf(l, "created %llu", &v) == 1)
                        li->created = v;
                else if (sscanf(l, "time %llu", &v) == 1) {
                        li->time = v;
                        have |= 8;
                } else if (strncmp(l, "boot ", 5) == 0)
                        copy_value(l + 5, li->boot, sizeof(li->boot));
                else if (strncmp(l, "pidns ", 6) == 0)
                        copy_value(l + 6, li->pidns, sizeof(li->pidns));
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
        /* The dead-pid rule only where the pid is meaningful to us: same host,
         * same boot, same pid namespace (lock files without boot/pidns, from
         * older versions, never qualify). */
        char host[256], boot[64], ns[64];
        our_host(host);
        our_boot(boot);
        our_pidns(ns);
        if (!boot[0] || !ns[0] || strcmp(host, li->host) != 0 || strcmp(boot, li->boot) != 0 ||
            strcmp(ns, li->pidns) != 0)
                return false;
        return li->pid > 0 && kill((pid_t) li->pid, 0) < 0 && errno == ESRCH;
}

/* A small text object (lock or tombstone): 1 and *ret (owned,
 * NUL-terminated) if it exists, 0 if not, or a storage error. */
static int get_text(sk_backend *b, const char *name, char **ret) {
        size_t len;
        int r = sk_backend_get(b, name, 0, 4096, (void **) ret, &len);
        if (r == -ENOENT)
                return 0;
        return r < 0 ? r : 1;
}

static const char *name_id(const char *name) {
        const char *s = strrchr(name, '/');
        return s ? s + 1 : name;
}

/* Tombstone first, then delete: a holder that refreshes between the two
 * finds the tombstone after its write and takes its lock back out. */
static int remove_lock(sk_backend *b, const char *name, const lock_info *li) {
        char host[256], tomb[64], buf[512];
        our_host(host);
        snprintf(tomb, sizeof(tomb), TOMB_PREFIX "%s", name_id(name));
        int n = snprintf(buf, sizeof(buf),
                         "snapkeep-lock-gone 1\nhost %s\npid %ld\ntime %llu\nlock-host %s\nlock-pid %ld\n"
                         "lock-time %llu\n",
                         host, (long) getpid(), (unsigned long long) time(NULL), li->host, li->pid,
                         (unsigned long long) li->time);
        if (n < 0 || (size_t) n >= sizeof(buf))
                return -ENAMETOOLONG;
        int r = sk_backend_put(b, tomb, buf, (size_t) n);
        if (r < 0)
                return r;
        r = sk_backend_del(b, name);
        return r == -ENOENT ? 0 : r;
}

typedef struct scan_ctx {
        sk_backend *b;
        const char *self;       /* our lock name, or NULL */
        bool exclusive;
        unsigned stale_seconds;
        char *holder;           /* first live conflicting lock */
        unsigned removed;
} scan_ctx;

static int scan_one(const char *name, uint64_t size, void *userdata) {
        scan_ctx *c = userdata;
        _cleanup_free_ char *buf = NULL;
        (void) size;
        if (c->self && strcmp(name, c->self) == 0)
                return 0;
        int r = get_text(c->b, name, &buf);
        if (r <= 0)
                return r;       /* 0: released meanwhile */
        lock_info li;
        lock_parse(buf, &li);
        if (lock_stale(&li, c->stale_seconds)) {
                /* Never merely ignored: its holder, if it still runs, must
                 * learn that others went ahead without it (the tombstone). */
                r = remove_lock(c->b, name, &li);
                if (r < 0)
                        return r;
                c->removed++;
                return 0;
        }
        if (c->self && !c->exclusive && li.parsed && !li.exclusive)
                return 0;       /* shared + shared */
        if (!c->self && li.parsed)
                return 0;       /* remove_stale mode: live locks stay */
        if (!c->holder) {
                int n;
                if (li.parsed)
                        n = asprintf(&c->holder, "%s lock %s held by host %s pid %ld, refreshed %llds ago",
                                     li.exclusive ? "exclusive" : "shared", name_id(name), li.host, li.pid,
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

unsigned sk_lock_refresh_interval(unsigned stale_seconds) {
        if (stale_seconds == 0)
                stale_seconds = SK_LOCK_STALE_SECONDS;
        return MAX(1u, MIN((unsigned) SK_LOCK_REFRESH_SECONDS, stale_seconds / 6));
}

/* --- loss -------------------------------------------------------------------- */

/* Called with l->mu held. The first reason wins. */
_printf_(2, 3) static void set_lost_locked(sk_lock *l, const char *fmt, ...) {
        if (l->lost)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(l->lost_reason, sizeof(l->lost_reason), fmt, ap);
        va_end(ap);
        l->lost = true;
}

/* Called with l->mu held: the freshness rule. */
static void check_fresh_locked(sk_lock *l, int64_t now) {
        int64_t gap = (now - l->last_ok) / 1000000000LL;
        if (!l->lost && gap * 2 > (int64_t) l->stale_seconds)
                set_lost_locked(l,
                                "not refreshed for %llds (process stopped, machine suspended or storage "
                                "unreachable), more than half the stale time of %us: others may have removed it",
                                (long long) gap, l->stale_seconds);
}

/* Look at storage: our lock file must exist and no tombstone may name it.
 * 0, -ESTALE (now lost), or a storage error. */
static int check_remote(sk_lock *l) {
        uint64_t size;
        _cleanup_free_ char *buf = NULL;
        int r = get_text(l->b, l->tomb, &buf);
        if (r > 0) {
                char host[256] = "?";
                unsigned long long t = 0;
                long pid = 0;
                for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                        if (strncmp(line, "host ", 5) == 0)
                                sscanf(line + 5, "%255s", host);
                        else if (strncmp(line, "pid ", 4) == 0)
                                pid = atol(line + 4);
                        else if (strncmp(line, "time ", 5) == 0)
                                t = strtoull(line + 5, NULL, 10);
                }
                pthread_mutex_lock(&l->mu);
                set_lost_locked(l, "removed as stale by host %s pid %ld %llds ago (by a prune, unlock or another "
                                "request); our last successful refresh was %llds ago",
                                host, pid, (long long) time(NULL) - (long long) t,
                                (long long) ((boot_ns() - l->last_ok) / 1000000000LL));
                pthread_mutex_unlock(&l->mu);
                return -ESTALE;
        }
        if (r < 0)
                return r;
        r = sk_backend_head(l->b, l->name, &size);
        if (r == -ENOENT) {
                pthread_mutex_lock(&l->mu);
                set_lost_locked(l, "lock file %s was deleted (by hand or by an older snapkeep)", l->name);
                pthread_mutex_unlock(&l->mu);
                return -ESTALE;
        }
        return r < 0 ? r : 0;
}

int sk_lock_check(sk_lock *l, bool remote) {
        pthread_mutex_lock(&l->mu);
        check_fresh_locked(l, boot_ns());
        bool lost = l->lost;
        pthread_mutex_unlock(&l->mu);
        if (lost)
                return -ESTALE;
        return remote ? check_remote(l) : 0;
}

const char *sk_lock_lost_reason(sk_lock *l) {
        pthread_mutex_lock(&l->mu);
        const char *s = l->lost ? l->lost_reason : "";
        pthread_mutex_unlock(&l->mu);
        return s;
}

int sk_lock_refresh(sk_lock *l) {
        pthread_mutex_lock(&l->io_mu);
        int64_t t0 = boot_ns();
        int r = sk_lock_check(l, true);
        if (r >= 0)
                r = lock_write(l);
        if (r >= 0) {
                /* Our write may have recreated a lock removed between the
                 * check and the write: the tombstone written before that
                 * removal tells, and what we wrote goes again. */
                r = check_remote(l);
                if (r == -ESTALE)
                        (void) sk_backend_del(l->b, l->name);
        }
        if (r >= 0) {
                pthread_mutex_lock(&l->mu);
                /* A stall inside this refresh counts as a gap too. */
                check_fresh_locked(l, t0);
                if (!l->lost)
                        l->last_ok = t0;
                r = l->lost ? -ESTALE : 0;
                pthread_mutex_unlock(&l->mu);
        }
        pthread_mutex_unlock(&l->io_mu);
        return r;
}

static void *refresher(void *userdata) {
        sk_lock *l = userdata;
        pthread_mutex_lock(&l->mu);
        while (!l->stop && !l->lost) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += l->refresh_seconds;
                while (!l->stop && pthread_cond_timedwait(&l->cv, &l->mu, &ts) != ETIMEDOUT)
                        ;
                if (l->stop)
                        break;
                pthread_mutex_unlock(&l->mu);
                /* storage errors: try again next time; the freshness rule
                 * turns persistent ones into a loss */
                (void) sk_lock_refresh(l);
                pthread_mutex_lock(&l->mu);
        }
        pthread_mutex_unlock(&l->mu);
        return NULL;
}

/* --- acquire / release --------------------------------------------------------- */

static void lock_free(sk_lock *l) {
        pthread_mutex_destroy(&l->mu);
        pthread_mutex_destroy(&l->io_mu);
        pthread_cond_destroy(&l->cv);
        free(l);
}

static int lock_new(sk_backend *b, bool exclusive, unsigned stale_seconds, sk_lock **ret) {
        uint8_t idb[8];
        pthread_condattr_t ca;
        sk_lock *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        int r = sk_random_bytes(idb, sizeof(idb));
        if (r < 0) {
                free(l);
                return r;
        }
        l->b = b;
        l->exclusive = exclusive;
        l->created = (uint64_t) time(NULL);
        l->stale_seconds = stale_seconds ? stale_seconds : SK_LOCK_STALE_SECONDS;
        l->refresh_seconds = sk_lock_refresh_interval(l->stale_seconds);
        sk_hex_encode(idb, sizeof(idb), l->id);
        snprintf(l->name, sizeof(l->name), "locks/%s", l->id);
        snprintf(l->tomb, sizeof(l->tomb), TOMB_PREFIX "%s", l->id);
        pthread_mutex_init(&l->mu, NULL);
        pthread_mutex_init(&l->io_mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&l->cv, &ca);
        pthread_condattr_destroy(&ca);
        *ret = l;
        return 0;
}

int sk_lock_acquire(sk_backend *b, bool exclusive, unsigned wait_seconds, unsigned stale_seconds, sk_lock **ret,
                    char **ret_holder) {
        sk_lock *l = NULL;
        int r = lock_new(b, exclusive, stale_seconds, &l);
        if (r < 0)
                return r;

        time_t deadline = time(NULL) + (time_t) wait_seconds;
        for (;;) {
                l->last_ok = boot_ns();
                r = lock_write(l);
                if (r < 0)
                        goto fail;
                scan_ctx c = {
                        .b = b, .self = l->name, .exclusive = exclusive, .stale_seconds = l->stale_seconds,
                };
                r = sk_backend_list(b, "locks/", scan_one, &c);
                if (r < 0) {
                        free(c.holder);
                        sk_backend_del(b, l->name);
                        goto fail;
                }
                if (!c.holder)
                        break;
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
        r = -pthread_create(&l->thread, NULL, refresher, l);
        if (r < 0) {
                sk_backend_del(b, l->name);
                goto fail;
        }
        l->thread_started = true;
        if (ret_holder)
                *ret_holder = NULL;
        *ret = l;
        return 0;
fail:
        lock_free(l);
        return r;
}

const char *sk_lock_id(const sk_lock *l) {
        return l->id;
}

void sk_lock_on_release(sk_lock *l, sk_lock_release_fn fn, void *userdata) {
        pthread_mutex_lock(&l->mu);
        l->on_release = fn;
        l->on_release_ud = userdata;
        pthread_mutex_unlock(&l->mu);
}

int sk_lock_release(sk_lock *l) {
        if (!l)
                return 0;
        if (l->on_release)
                l->on_release(l, l->on_release_ud);
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        if (l->thread_started)
                pthread_join(l->thread, NULL);
        int r = sk_backend_del(l->b, l->name);
        lock_free(l);
        return r == -ENOENT ? 0 : r;
}

int sk_lock_remove_stale(sk_backend *b, unsigned stale_seconds, unsigned *ret_removed) {
        scan_ctx c = {
                .b = b, .stale_seconds = stale_seconds ? stale_seconds : SK_LOCK_STALE_SECONDS,
        };
        int r = sk_backend_list(b, "locks/", scan_one, &c);
        free(c.holder);
        if (r < 0)
                return r;
        if (ret_removed)
                *ret_removed = c.removed;
        return 0;
}

typedef struct tomb_ctx {
        sk_backend *b;
        uint64_t max_age;
        unsigned removed;
} tomb_ctx;

static int tomb_one(const char *name, uint64_t size, void *userdata) {
        tomb_ctx *c = userdata;
        _cleanup_free_ char *buf = NULL;
        (void) size;
        int r = get_text(c->b, name, &buf);
        if (r <= 0)
                return r;
        if (strncmp(buf, "snapkeep-lock-gone 1\n", 21) != 0)
                return 0;
        const char *t = strstr(buf, "\ntime ");
        if (!t)
                return 0;
        uint64_t when = strtoull(t + 6, NULL, 10), now = (uint64_t) time(NULL);
        if (when > now || now - when <= c->max_age)
                return 0;
        r = sk_backend_del(c->b, name);
        if (r < 0 && r != -ENOENT)
                return r;
        c->removed++;
        return 0;
}

int sk_lock_remove_tombstones(sk_backend *b, uint64_t max_age, unsigned *ret_removed) {
        tomb_ctx c = { .b = b, .max_age = max_age };
        int r = sk_backend_list(b, TOMB_PREFIX, tomb_one, &c);
        if (r < 0)
                return r;
        if (ret_removed)
                *ret_removed = c.removed;
        return 0;
}
