/* The walk-memory budget (held.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "backup/held.h"
#include "repo/tree.h"

int sk_held_add_max(size_t *held, size_t footprint, size_t max) {
        if (*held > max || footprint > max - *held)
                return -E2BIG;
        *held += footprint;
        return 0;
}

int sk_held_add(size_t *held, size_t footprint) {
        return sk_held_add_max(held, footprint, SK_WALK_HELD_MAX);
}

char *sk_held_detail_max(size_t max) {
        char *d = NULL;
        bool mib = max % (1u << 20) == 0;
        if (asprintf(&d, "directory listings held along this path would exceed %zu %s (a listing repeated down a deep path?)",
                     mib ? max >> 20 : max >> 10, mib ? "MiB" : "KiB") < 0)
                d = NULL;
        return d;
}

char *sk_held_detail(void) {
        return sk_held_detail_max(SK_WALK_HELD_MAX);
}
