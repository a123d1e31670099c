/* Trash records of prune's delayed deletion (docs/FORMAT.md section 9b).
 *
 * A record is a sealed object trash/<16 hex digits> naming packs that a prune
 * found unreferenced and took out of the index at a given time; a later prune
 * deletes them once the record is older than the grace period and they are
 * still unreferenced. Sealed, so nobody without the key can make a prune
 * delete a pack by writing a record. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"

#define SK_TRASH_DIR "trash"

typedef struct sk_trash_record {
        char name[17];
        uint64_t time;                  /* unix seconds when the packs were trashed */
        char **packs;                   /* pack names (hex) */
        size_t n_packs;
} sk_trash_record;

/* Write a record of packs[0..n) trashed at time t. */
int sk_trash_write(sk_repo *repo, uint64_t t, char *const *packs, size_t n);

/* Read every record. Unreadable ones are skipped and counted in
 * *ret_bad (their packs stay where they are: in storage, out of the index,
 * and are trashed again by the next prune). Owned array: sk_trash_free. */
int sk_trash_load(sk_repo *repo, sk_trash_record **ret, size_t *ret_n, size_t *ret_bad);
void sk_trash_free(sk_trash_record *v, size_t n);

int sk_trash_remove(sk_repo *repo, const char *name);
