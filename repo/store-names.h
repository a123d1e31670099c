/* The repository's object names, as its store sees them (docs/FORMAT.md
 * section 2), and the layout the repository hands its store.
 *
 * DESIGN: backends promise opaque names (store/backend.h), so what a name
 * means is the repository's knowledge alone: which directories a new local
 * repository starts with, which objects never change once written (the S3
 * metadata cache may keep them), which are read a blob at a time (packs: read
 * ahead), and which object identifies the repository (the cache's directory).
 * It lives here and reaches the store as an sk_store_layout at open, so a
 * change of layout touches repo/ only. Prefixes end in '/'. The trash's
 * prefix is its module's (repo/trash.h, SK_TRASH_DIR). */
#pragma once

#include "repo/index.h"
#include "store/backend.h"

#define SK_REPO_CONFIG "config"                 /* section 4 */
#define SK_REPO_CONFIG_MAGIC "SKCONFIG"         /* its file header's magic */
#define SK_REPO_ID_SIZE 16                      /* config: the repository id after the header */
#define SK_REPO_KEYS "keys/"                    /* key slots (section 3) */
#define SK_REPO_DATA "data/"                    /* packs, data/<xx>/<pack> (section 5) */
#define SK_REPO_INDEX "index/"                  /* index files (section 6) */
#define SK_REPO_BACKUPS "backups/"              /* manifests (section 7) */
#define SK_REPO_LOCKS "locks/"                  /* lock files (section 8) */
#define SK_REPO_LOCKGONE "lockgone/"            /* lock tombstones (section 8) */

/* The layout of every repository: a static constant, as sk_backend_open
 * wants it. */
static inline const sk_store_layout *sk_repo_store_layout(void) {
        /* what a new local repository has always started with */
        static const char *const dirs[] = { SK_REPO_KEYS, SK_REPO_DATA, SK_REPO_INDEX, SK_REPO_BACKUPS, SK_REPO_LOCKS,
                                            NULL };
        /* written once under content-addressed or random names, never modified */
        static const char *const immutable[] = { SK_REPO_INDEX, SK_REPO_BACKUPS, NULL };
        static const sk_store_layout layout = {
                .dirs = dirs,
                .immutable = immutable,
                .id_object = SK_REPO_CONFIG,
                .id_magic = SK_REPO_CONFIG_MAGIC,
                .id_offset = SK_FILE_HEADER_SIZE,
                .id_len = SK_REPO_ID_SIZE,
        };
        return &layout;
}
