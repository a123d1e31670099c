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

/* What a node remembers of the lease between two tries: the last lease it
 * read and when it first read it. Any node with the key can write the lease,
 * so its `expires` is not trusted: a lease that has not changed for one
 * lease time (the reader's) since it was first seen counts as expired, so a
 * far-future expiry that nobody renews blocks the others for one lease time
 * at most. Zero-initialise; keep one per repository and lease name. */
typedef struct sk_lease_watch {
        sk_lease seen;
        int64_t since; /* unix seconds when `seen` was first read; 0: nothing seen */
} sk_lease_watch;

/* Take or renew lease `name` (an object name under maint/) for holder
 * (printable ASCII, no spaces, 1..200 bytes) until now + ttl_seconds, waiting
 * settle_ms before re-reading it. watch (may be NULL: then `expires` alone
 * decides) bounds how long another holder's unchanged lease is honoured.
 * 1: taken (*ret says until when); 0: another node holds it (*ret names it,
 * with the expiry this node honours); -errno. */
int sk_lease_take(sk_repo *repo, const char *name, const char *holder, uint32_t ttl_seconds, unsigned settle_ms,
                  sk_lease_watch *watch, sk_lease *ret);

/* Read lease `name`: 0 with *ret (holder "" if none, or if it does not
 * parse: then it counts as expired), or -errno. */
int sk_lease_read(sk_repo *repo, const char *name, sk_lease *ret);
