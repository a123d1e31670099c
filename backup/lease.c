#include "backup/lease.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEASE_DIR "maint"
#define LEASE_MAGIC "snapkeep-lease 1\n"

static bool valid_holder(const char *h) {
        size_t n = strlen(h);
        if (n == 0 || n > SK_LEASE_HOLDER_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (h[i] <= ' ' || h[i] > '~')
                        return false;
        return true;
}

/* Parse the payload; a lease that breaks any rule is "none". */
static void parse(const char *buf, size_t len, sk_lease *ret) {
        *ret = (sk_lease) {};
        char holder[SK_LEASE_HOLDER_MAX + 2];
        long long expires;
        int used = 0;
        if (len > 512 || memchr(buf, '\0', len) || strncmp(buf, LEASE_MAGIC, strlen(LEASE_MAGIC)) != 0)
                return;
        const char *p = buf + strlen(LEASE_MAGIC);
        if (sscanf(p, "holder %201[!-~]\nexpires %lld\n%n", holder, &expires, &used) != 2 || used == 0 ||
            p + used != buf + len || !valid_holder(holder) || expires <= 0)
                return;
        strcpy(ret->holder, holder);
        ret->expires = expires;
}

int sk_lease_read(sk_repo *repo, const char *name, sk_lease *ret) {
        void *buf = NULL;
        size_t len = 0;
        int r = sk_repo_get_object(repo, LEASE_DIR, name, &buf, &len);
        if (r == -ENOENT || r == -EBADMSG) { /* none, or not ours to trust: expired */
                *ret = (sk_lease) {};
                return 0;
        }
        if (r < 0)
                return r;
        parse(buf, len, ret);
        free(buf);
        return 0;
}

/* The expiry this node honours for the lease it just read at `now`: the
 * lease's own, but no later than one lease time after this exact lease (holder
 * and expiry) was first seen. */
static void bound_expiry(sk_lease_watch *w, sk_lease *l, int64_t now, uint32_t ttl) {
        if (!w)
                return;
        if (w->since == 0 || strcmp(w->seen.holder, l->holder) != 0 || w->seen.expires != l->expires) {
                w->seen = *l;
                w->since = now;
        }
        if (l->expires > w->since + (int64_t) ttl)
                l->expires = w->since + (int64_t) ttl;
}

int sk_lease_take(sk_repo *repo, const char *name, const char *holder, uint32_t ttl_seconds, unsigned settle_ms,
                  sk_lease_watch *watch, sk_lease *ret) {
        if (!valid_holder(holder) || ttl_seconds == 0)
                return -EINVAL;
        int64_t now = (int64_t) time(NULL);
        int r = sk_lease_read(repo, name, ret);
        if (r < 0)
                return r;
        if (ret->holder[0])
                bound_expiry(watch, ret, now, ttl_seconds);
        if (ret->holder[0] && strcmp(ret->holder, holder) != 0 && ret->expires > now)
                return 0;
        char body[SK_LEASE_HOLDER_MAX + 64];
        int n = snprintf(body, sizeof(body), LEASE_MAGIC "holder %s\nexpires %lld\n", holder,
                         (long long) (now + ttl_seconds));
        r = sk_repo_put_object(repo, LEASE_DIR, name, body, (size_t) n);
        if (r < 0)
                return r;
        /* Two nodes that both found the lease free have both written it by
         * now, or the later one will find it taken; the last writer wins. */
        struct timespec t = { .tv_sec = settle_ms / 1000, .tv_nsec = (long) (settle_ms % 1000) * 1000000L };
        while (nanosleep(&t, &t) < 0 && errno == EINTR)
                ;
        r = sk_lease_read(repo, name, ret);
        if (r < 0)
                return r;
        if (strcmp(ret->holder, holder) == 0)
                return 1;
        if (ret->holder[0]) /* lost the race: that writer's lease is new */
                bound_expiry(watch, ret, (int64_t) time(NULL), ttl_seconds);
        return 0;
}
