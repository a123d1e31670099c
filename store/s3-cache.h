/* Local cache of a remote store's immutable objects.
 *
 * DESIGN: a backend over a backend. The layout (backend.h) names the
 * prefixes whose objects are written once under content-addressed or random
 * names and never modified (for a repository: its index files and manifests,
 * docs/FORMAT.md section 2), so a local copy can never be stale, only
 * superfluous: opening a repository and listing backups then costs one LIST
 * per prefix instead of one GET per object, and incremental backups reuse the
 * parent's manifest without downloading it.
 *
 * Safety: the cache is a disposable copy. Each cached file carries the
 * SHA-256 of its content and is verified on every read (a mismatch deletes the
 * file and falls back to the remote object); the repository layer's own AEAD
 * verification happens on top. Listings always go to the remote store, and
 * files whose objects are no longer listed are removed, so objects deleted by
 * another node's prune disappear from the cache too. The cache directory is
 * <dir>/<id>/, with the store's id taken from the layout's id object (the
 * repository's config) as it is read or written; until then nothing is
 * cached. Deleting the directory at any time is safe. Writes are not
 * fsynced: a cache file lost in a crash is just a miss. */
#pragma once

#include "store/backend.h"

/* Wrap inner (ownership passes to the wrapper, also on failure) with a cache
 * rooted at dir (created on first use, mode 0700) of layout's immutable
 * objects (layout borrowed, backend.h; NULL caches nothing). *ret owned:
 * sk_backend_free(). */
int sk_backend_cache_wrap(sk_backend *inner, const char *dir, const sk_store_layout *layout, sk_backend **ret);

/* The default cache root from o's settings: SNAPKEEP_CACHE_DIR, else
 * XDG_CACHE_HOME/snapkeep, else HOME/.cache/snapkeep. NULL (no cache) if
 * SNAPKEEP_CACHE_DIR is "off" or no home is known. Owned string (free()). */
char *sk_backend_cache_default_dir(const sk_store_options *o);

/* The backend a cache wraps (borrowed), or b itself if b is no cache. */
sk_backend *sk_backend_cache_inner(sk_backend *b);

