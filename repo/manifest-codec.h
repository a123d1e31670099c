/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Backup manifests: what one backup is (its sources, tags, root tree, parent
 * and summary), and its codec. The manifest store (backup/manifest.c) seals
 * them into the repository's backups/ area. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "repo/tree.h"

/* A backup id: 32 random bytes, written as 64 lowercase hex digits. */
#define SK_BACKUP_ID_BYTES 32
#define SK_BACKUP_ID_HEX (SK_BACKUP_ID_BYTES * 2)

typedef struct sk_backup_summary {
        uint64_t files;         /* non-directory entries */
        uint64_t dirs;
        uint64_t bytes;         /* logical size of all regular files */
        uint64_t added_bytes;   /* plaintext bytes of blobs this backup added */
        uint64_t added_stored;  /* bytes this backup added to packs (compressed+sealed) */
        uint64_t files_new, files_changed, files_unmodified;
        uint64_t errors;        /* entries skipped because they could not be read */
        int64_t duration_ns;
} sk_backup_summary;

/* A backup manifest. All pointers owned (sk_manifest_free()). */
typedef struct sk_manifest {
        char id[SK_BACKUP_ID_HEX + 1];
        struct timespec time;   /* start of the backup, UTC */
        char *hostname;
        char **sources;         /* absolute source paths as given, raw bytes */
        size_t n_sources;
        char **tags;            /* sorted, unique */
        size_t n_tags;
        uint8_t root[SK_TREE_ID_BYTES];  /* tree id; its entries are the sources (see FORMAT-tree.md) */
        bool has_parent;
        char parent_id[SK_BACKUP_ID_HEX + 1];
        char *program_version;
        sk_backup_summary summary;
} sk_manifest;

sk_manifest *sk_manifest_free(sk_manifest *m);
int sk_manifest_encode(const sk_manifest *m, void **ret_buf, size_t *ret_len);
/* -EBADMSG: malformed; -EPROTONOSUPPORT: unknown version. */
int sk_manifest_decode(const void *buf, size_t len, sk_manifest **ret);
