/* Which snapkeep labels a Snapshots client may send, and when a restore label
 * is honoured.
 *
 * DESIGN
 * Labels reach Prepare, View, Commit and Update from anyone who can talk to
 * containerd, and also from image authors: containerd's pull unpacker copies
 * every layer annotation starting with "containerd.io/snapshot/" into the
 * labels of the layer's Prepare and Commit. So:
 *   - labels the daemon itself sets (restoring, backup, backup-time,
 *     layer-backup) are refused on every RPC: a client that could set
 *     "restoring" would make the next start delete the snapshot, and a forged
 *     layer-backup or backup label would claim a backup that never happened;
 *   - the restore label is acted on only in Prepare of what can be a
 *     container's active snapshot, never of an unpack key ("extract-<nanos>-
 *     <random> <chainid>", containerd 1.6 snapshots.UnpackKeyFormat), and only
 *     with a full backup id unless the node's configuration allows "latest" or
 *     short prefixes (restore_selectors). A full id is 256 bits that only
 *     someone who can list the repository, or was told it, knows; "latest" or
 *     a 4-digit prefix would let anyone name someone else's backup. Anywhere
 *     else it is inert (containerd replays a container's labels in Update);
 *   - an Update replacing every label (containerd's metadata store sends
 *     one with all its own labels on every `ctr snapshots label`) keeps the
 *     daemon-owned ones, which containerd never knew about;
 *   - a request carries at most SK_LABELS_MAX labels, so that the label
 *     handling (quadratic in the count) stays cheap.
 * Pure functions: no I/O, no state. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "snapshot/key.h" /* sk_key_is_unpack */
#include "snapshot/snapshotter.h"

#define SK_LABELS_MAX 1024

/* Selectors besides a full id that restore_selectors may allow. */
enum {
        SK_RESTORE_ALLOW_LATEST = 1 << 0, /* "latest": the newest backup in the repository */
        SK_RESTORE_ALLOW_PREFIX = 1 << 1, /* a unique prefix of >= 4 hex digits */
};

/* Parse a restore_selectors value: a comma- or space-separated list of
 * "latest" and "prefix", or "" / "none". -EINVAL on anything else. */
int sk_restore_selectors_parse(const char *value, unsigned *ret);

/* The first daemon-owned label in l[0..n) (its key, borrowed), or NULL. */
const char *sk_labels_daemon_owned(const sk_label *l, size_t n);

/* The keys of the daemon-owned labels (static), for an Update that replaces
 * every label to keep (sk_snapshotter_update_keep). */
const char *const *sk_labels_daemon_keys(size_t *ret_n);

/* Whether a Prepare of key may restore selector under the allowed set
 * (SK_RESTORE_ALLOW_*). 0 if so; -EINVAL with *ret_why (static) otherwise. */
int sk_restore_request_check(const char *key, const char *selector, unsigned allowed, const char **ret_why);
