/* The manifest store: the backups/<id> objects of a repository, each naming
 * one backup's root tree. Listing, resolving an id (or prefix, or "latest"),
 * loading and deleting manifests live here because every operation that
 * writes or walks backups (backup, restore, check, forget, prune, browse)
 * starts from them. Nothing here takes a lock: the callers hold it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/engine.h"
#include "repo/tree.h"

/* Every readable manifest, sorted by time (oldest first, ties by id). Manifests
 * that fail to load are reported through problem (may be NULL) and skipped.
 * *ret_list is owned: release with sk_backup_list_free(list, n). */
int sk_backup_list(sk_repo *repo, sk_problem_fn problem, void *userdata,
                   sk_manifest ***ret_list, size_t *ret_n);
void sk_backup_list_free(sk_manifest **list, size_t n);

/* Resolve "latest", a full id or a unique prefix (>= 4 hex digits) to a full
 * id. -ENOENT: no match; -ENOTUNIQ: ambiguous prefix; -EINVAL: not hex. */
int sk_backup_resolve(sk_repo *repo, const char *id_or_prefix, char ret_id[SK_BACKUP_ID_HEX + 1]);

/* Load and decode one manifest (id as for sk_backup_resolve()). Owned result. */
int sk_backup_load(sk_repo *repo, const char *id_or_prefix, sk_manifest **ret);

/* Delete manifest backups/<id> (full id). Data stays until prune. Takes no
 * lock itself; sk_forget_run() does. */
int sk_backup_delete(sk_repo *repo, const char *id);

/* Every manifest id (hex) under backups/, in no order. Owned array of owned
 * strings; free with sk_strv_free (common/fsutil.h). */
int sk_backup_ids(sk_repo *repo, char ***ret, size_t *ret_n);

/* Encode m and write it as backups/<m->id>. The caller holds the
 * repository's shared lock (see sk_backup_run()). */
int sk_backup_store(sk_repo *repo, const sk_manifest *m);
