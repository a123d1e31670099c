/* Room store/: where a repository's bytes live. Backends (local directory,
 * S3 with SigV4 and a verified metadata cache) store opaque named objects; the
 * URL dispatcher, the settings lookup and the failure detail are in store.c.
 * The repository tells a store its layout (sk_store_layout); the store knows
 * nothing else about it. Uses common/ only (Makefile DEPS_store). */
/* Storage backends: where repository objects live.
 *
 * DESIGN: the repository engine addresses storage only through these five
 * operations on flat names (config, keys/0123…, data/ab/ab12…); it never
 * knows whether a directory or an object store is behind them. A backend is a
 * struct whose first member is struct sk_backend (the ops table), so an
 * implementation embeds it and casts back (the local directory in
 * backend-local.c, the S3 store in backend-s3.c, the metadata cache over it
 * in s3-cache.c). Every operation must be safe to call from several threads
 * at once. Names use '/' as separator, never start with '/', and contain no
 * "." or ".." components; names containing ".tmp-" are reserved for
 * in-flight writes and never listed.
 *
 * Names are opaque to the backends: what a name means (which objects never
 * change, which are read piecewise) is the repository's knowledge, and it
 * tells the store through an sk_store_layout at open. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct sk_backend sk_backend;

/* Called once per object; name borrowed for the call. A negative return
 * stops the listing and is returned by list. */
typedef int (*sk_backend_list_fn)(const char *name, uint64_t size, void *userdata);

typedef struct sk_backend_ops {
        /* Store name atomically and durably: when put returns 0 the complete
         * object is stored and survives a crash; readers never see a partial
         * object. Replaces an existing object. Intermediate "directories" are
         * implicit. */
        int (*put)(sk_backend *b, const char *name, const void *buf, size_t len);
        /* Read len bytes at offset (len SIZE_MAX = to the end). A range beyond
         * the end returns what exists (possibly 0 bytes). *ret_buf owned by the
         * caller (free()), with a NUL byte after *ret_len. Missing -> -ENOENT. */
        int (*get)(sk_backend *b, const char *name, uint64_t offset, size_t len, void **ret_buf,
                   size_t *ret_len);
        /* Size of name. Missing -> -ENOENT. */
        int (*head)(sk_backend *b, const char *name, uint64_t *ret_size);
        /* Every object whose name starts with prefix, which ends in '/'
         * (a prefix lists the objects of every directory below it). A missing
         * prefix is an empty listing. Order unspecified. */
        int (*list)(sk_backend *b, const char *prefix, sk_backend_list_fn cb, void *userdata);
        /* Remove name. Missing -> -ENOENT. */
        int (*del)(sk_backend *b, const char *name);
        /* Free the backend. */
        void (*free)(sk_backend *b);
        /* Optional (may be NULL): remove leftovers of interrupted puts (temp
         * files, unfinished multipart uploads) older than min_age seconds;
         * *ret_removed counts them. Only call it when no writer is active
         * (under an exclusive lock). */
        int (*cleanup)(sk_backend *b, uint64_t min_age, uint64_t *ret_removed);
        /* Optional (may be NULL; then get of max + 1 bytes stands in): the
         * whole object if it has at most max bytes, else -EFBIG, for a
         * backend that knows the size before reading (sk_backend_get_whole). */
        int (*get_whole)(sk_backend *b, const char *name, size_t max, void **ret_buf, size_t *ret_len);
        /* Optional (may be NULL): get of len bytes (< SIZE_MAX) into the
         * caller's buf of at least len bytes, no NUL added. */
        int (*get_into)(sk_backend *b, const char *name, uint64_t offset, size_t len, void *buf, size_t *ret_len);
} sk_backend_ops;

struct sk_backend {
        const sk_backend_ops *ops;
        const char *scheme;     /* "file" or "s3" */
        /* How far its user should read ahead of a ranged read that is not
         * part of a planned sequence (bytes; 0: none). The store only says
         * what a request costs it: on an object store every GET is a round
         * trip, so reading a window in one pays; a local read is a pread,
         * where it does not. The repository keeps the one cache of what was
         * read ahead (repo/packcache.h). */
        size_t read_ahead;
};

/* Settings for a store, by name ("SNAPKEEP_S3_ENDPOINT", "AWS_PROFILE",
 * "HOME", ...; store/backend-s3.h lists them). The library never reads the
 * environment: the shells (cli/, plugin/) answer these names from their flags,
 * config file and environment, in their own order. setting returns NULL for
 * "not set"; the string is borrowed until open returns. NULL options, or a
 * NULL setting, mean every setting has its default. */
typedef struct sk_store_options {
        const char *(*setting)(const char *name, void *userdata);
        void *userdata;
} sk_store_options;

/* The named setting of o, NULL if unset (also for NULL o). An empty value
 * counts as unset, as an empty environment variable always has. */
const char *sk_store_setting(const sk_store_options *o, const char *name);

/* What the user of a store (the repository, repo/store-names.h) tells it
 * about its names, so that no backend knows a layout of its own. Lists are
 * NULL-terminated; prefixes end in '/'. Borrowed for the backend's whole
 * life: pass a static constant. A NULL layout means none: nothing is
 * created or cached. */
typedef struct sk_store_layout {
        /* Directories a local store creates when created (a store on an
         * object store needs none: "directories" there are implicit). */
        const char *const *dirs;
        /* Prefixes of objects written once and never modified, so that a
         * metadata cache may keep a copy of the objects directly below them
         * and drop those a listing of the prefix no longer shows. */
        const char *const *immutable;
        /* The object that identifies the store's content: when it starts with
         * the id_magic string, its id_len bytes (at most 32) at id_offset name
         * the cache's directory. NULL id_object: no cache directory is ever
         * known, so nothing is cached. */
        const char *id_object;
        const char *id_magic;
        size_t id_offset, id_len;
} sk_store_layout;

/* Open the backend for a repository URL: "/path", "relative/path",
 * "file:///abs/path", "s3://BUCKET[/PREFIX]"; other schemes ->
 * -EPROTONOSUPPORT. With create, a missing local directory is created (mode
 * 0700) with layout's directories; without, a missing directory is -ENOENT.
 * opts and layout may be NULL. *ret owned: sk_backend_free(). */
int sk_backend_open(const char *url, int create, const sk_store_options *opts, const sk_store_layout *layout,
                    sk_backend **ret);

/* The calling thread's most recent storage failure in words (S3: "PUT
 * s3://b/p/data/ab/ab12…: HTTP 403 SignatureDoesNotMatch: …"), "" if none.
 * Backends are called from several threads at once, so the detail belongs to
 * the calling thread: it describes that thread's last failed call, whichever
 * backend it was. Borrowed, valid until the thread's next store call. */
const char *sk_store_last_detail(void);

/* Forget the calling thread's detail (after reporting it). */
void sk_store_clear_detail(void);

/* For backends: set the calling thread's detail (printf-style). */
void sk_store_set_detail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Local directory backend (backend-local.c). The dispatcher is store.c. */
int sk_backend_local_open(const char *path, int create, const sk_store_layout *layout, sk_backend **ret);

/* Accepts NULL. */
void sk_backend_free(sk_backend *b);

/* Thin dispatchers, so callers write sk_backend_put(b, ...). */
int sk_backend_put(sk_backend *b, const char *name, const void *buf, size_t len);
int sk_backend_get(sk_backend *b, const char *name, uint64_t offset, size_t len, void **ret_buf, size_t *ret_len);
/* get into buf (at least len bytes, len < SIZE_MAX): a reader that reuses
 * its buffers spares the page faults of a new one. -EOPNOTSUPP when the
 * backend cannot (then use sk_backend_get). */
int sk_backend_get_into(sk_backend *b, const char *name, uint64_t offset, size_t len, void *buf, size_t *ret_len);
int sk_backend_head(sk_backend *b, const char *name, uint64_t *ret_size);
/* Read a whole object of at most max bytes (max < SIZE_MAX). A larger one is
 * -EFBIG without reading or allocating more than max + 1 bytes: repository
 * files come from storage someone else may write, so no reader lets a file's
 * own size decide how much memory it takes. */
int sk_backend_get_whole(sk_backend *b, const char *name, size_t max, void **ret_buf, size_t *ret_len);
int sk_backend_list(sk_backend *b, const char *prefix, sk_backend_list_fn cb, void *userdata);
int sk_backend_del(sk_backend *b, const char *name);
/* Calls ops->cleanup, or reports 0 removed when the backend has none. */
int sk_backend_cleanup(sk_backend *b, uint64_t min_age, uint64_t *ret_removed);
