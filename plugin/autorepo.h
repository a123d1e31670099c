/* Zero configuration: the repository a node gets when none is configured
 * (sk_config.repo_auto). */
#pragma once

#include "store/backend.h"

/* If the repository at repo does not exist, create it: first a random key
 * written durably to key_file (mode 0400; an existing key file is reused, so
 * a repository removed by hand comes back under the same key), then the
 * repository for that key. Logs once where the key is. An existing
 * repository is never touched. 0 if it exists or was created, -errno (and a
 * logged reason) otherwise. */
int sk_autorepo_ensure(const char *repo, const char *key_file, const sk_store_options *store);

/* This daemon's identity: 32 lowercase hex digits kept in <root>/node-id
 * (created at the first start, durably), so that it survives restarts and
 * renames of the host and differs between nodes and between roots. Scheduled
 * backups are tagged with it (auto/scheduler.h). */
int sk_node_id(const char *root, char out[33]);
