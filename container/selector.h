/* Restore selectors that name a container rather than a backup:
 *
 *     latest:[HOST:][NAMESPACE/]NAME
 *
 * is the newest container backup (tag snapkeep:container) of container NAME
 * (tag snapkeep:name=NAME), in NAMESPACE if given, made on HOST if given.
 * Anything else is handed to sk_backup_resolve() (a full id, a unique
 * prefix, "latest"). Whether a client may use a selector at all is the
 * daemon's decision (plugin/labelpolicy.h), not this module's. */
#pragma once

#include <stdbool.h>

#include "repo/repo.h"
#include "repo/manifest-codec.h"

#define SK_SELECTOR_LATEST_PREFIX "latest:"
#define SK_SELECTOR_MAX 512

/* Whether s has the "latest:" form and parses (bounded length, a name of
 * [A-Za-z0-9._-], a namespace without '/', a host without ':' or '/'). */
bool sk_selector_is_container(const char *s);

/* Resolve s to a full backup id. -ENOENT: no such backup; -EINVAL: a
 * malformed "latest:" selector; other -errno from listing backups. */
int sk_selector_resolve(sk_repo *repo, const char *s, char ret_id[SK_BACKUP_ID_HEX + 1]);
