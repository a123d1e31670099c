/* Slots for repository work that must not queue behind other work: each
 * holder gets a repository handle of its own, at most `max` at once.
 *
 * DESIGN
 * Restores inside Prepare run for as long as their data takes. On one shared
 * handle they would serialise (and sk_repo_lock's index reload may not run
 * concurrently on one handle), and waiting for a slot would hold the gRPC
 * worker the caller runs on. So a slot is taken or refused at once (-EAGAIN),
 * and its handle is opened on first need and kept idle for the next holder
 * (each holds the repository's index in memory, so at most `max` exist).
 * Holders only read: idle handles have nothing to flush. */
#pragma once

#include "repo/repo.h"
#include "common/macro.h"

typedef struct sk_repo_pool sk_repo_pool;

/* Opens a new handle; *ret_error (may be NULL) an owned message on failure. */
typedef int (*sk_repo_pool_open_fn)(void *userdata, sk_repo **ret, char **ret_error);

/* max >= 1 slots; open(userdata) makes handles (userdata must outlive the pool). */
int sk_repo_pool_new(unsigned max, sk_repo_pool_open_fn open, void *userdata, sk_repo_pool **ret);
/* Frees the idle handles; no slot may be held. Accepts NULL. */
void sk_repo_pool_free(sk_repo_pool *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_repo_pool *, sk_repo_pool_free);

/* Take a slot and a handle for it: -EAGAIN (with *ret_error) when all max are
 * taken, or open's error. Give both back with sk_repo_pool_end(). */
int sk_repo_pool_begin(sk_repo_pool *p, sk_repo **ret, char **ret_error);
void sk_repo_pool_end(sk_repo_pool *p, sk_repo *repo);

/* Slots taken now. */
unsigned sk_repo_pool_busy(sk_repo_pool *p);
