/* containerd's backend keys as the snapshotter receives them: containerd's
 * metadata store names every snapshot "<namespace>/<N>/<name>" (N its own
 * counter; the name may itself contain '/'), and unpacks image layers under
 * names "extract-<nanos>-<random> <chainID>" (containerd 1.6
 * snapshots.UnpackKeyFormat). Pure functions over the string: no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The namespace part of key (borrowed, not NUL-terminated: *ret_len bytes),
 * or NULL if key is not of the form "ns/N/name". */
const char *sk_key_namespace(const char *key, size_t *ret_len);

/* The name part of key (what follows "ns/N/"), or key itself if it has no
 * such prefix. Borrowed. */
const char *sk_key_name(const char *key);

/* Whether key is containerd's key for unpacking a layer rather than a
 * snapshot a client names (a container's, say). */
bool sk_key_is_unpack(const char *key);
