/* The maintenance lease (docs/FORMAT.md section 7b): which one of the nodes
 * sharing a repository runs automatic maintenance now. Advisory: prune's
 * exclusive lock is what keeps two prunes apart; the lease keeps the other
 * nodes from trying, and lets them say who holds it. */
#pragma once

#include <stdint.h>

#include "repo/repo.h"

#define SK_LEASE_HOLDER_MAX 200

typedef struct sk_lease {
        char holder[SK_LEASE_HOLDER_MAX + 1]; /* "" if there was none */
        int64_t expires;                      /* unix seconds */
} sk_lease;

/* Take or renew lease `name` (an object name under maint/) for holder
 * (printable ASCII, no spaces, 1..200 bytes) until now + ttl_seconds, waiting
 * settle_ms before re-reading it. 1: taken (*ret says until when); 0: another
 * node holds it (*ret names it and its expiry); -errno. */
int sk_lease_take(sk_repo *repo, const char *name, const char *holder, uint32_t ttl_seconds, unsigned settle_ms,
                  sk_lease *ret);

/* Read lease `name`: 0 with *ret (holder "" if none, or if it does not
 * parse: then it counts as expired), or -errno. */
int sk_lease_read(sk_repo *repo, const char *name, sk_lease *ret);
