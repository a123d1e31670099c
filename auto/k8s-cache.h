/* The Kubernetes identities of the active snapshots the scheduler sees, each
 * asked of containerd once (container/capture.h's sk_identify_fn) and kept
 * until the snapshot is gone: a container's pod and labels do not change
 * while it lives, and a scan every few seconds must not turn into a call per
 * container per scan. A failed lookup (containerd not reachable) is not
 * kept: the next scan asks again. Used by one thread at a time (the
 * scheduler's scan). */
#pragma once

#include "container/capture.h"
#include "container/k8s.h"

#include <stdbool.h>

typedef struct sk_k8s_cache sk_k8s_cache;

/* fn may be NULL: every lookup then answers "not known". */
int sk_k8s_cache_new(sk_identify_fn fn, void *userdata, sk_k8s_cache **ret);
void sk_k8s_cache_free(sk_k8s_cache *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_k8s_cache *, sk_k8s_cache_free);

/* Start a scan: entries not looked up again before sk_k8s_cache_sweep go. */
void sk_k8s_cache_begin(sk_k8s_cache *c);
void sk_k8s_cache_sweep(sk_k8s_cache *c);

/* The identity of active snapshot `key` (backend key "ns/N/name"), or NULL
 * when its container is not a pod's or it cannot be known now. Valid until
 * the next call (a new entry may move the others). Without ask, containerd
 * is not called: a key not known yet (or due for another look) sets
 * *ret_missing instead, so that the caller can ask outside its own
 * transaction. A snapshot with no container yet (containerd's client makes
 * the snapshot first) is asked about again after SK_K8S_CACHE_RECHECK
 * seconds. *ret_error (owned, may be NULL) says why a lookup failed. */
#define SK_K8S_CACHE_RECHECK 30
const sk_k8s_identity *sk_k8s_cache_get(sk_k8s_cache *c, const char *key, bool ask, bool *ret_missing,
                                        char **ret_error);
