/* A per-call bump allocator.
 *
 * DESIGN
 * Every RPC unpacks its request, builds its reply and converts between
 * protobuf and snapshot structs with many small allocations that all die when
 * the call ends. An arena makes that one free, and lets protobuf-c unpack into
 * it (sk_arena_protobuf_allocator), so nobody has to pair *_free_unpacked
 * with hand-built messages. Not thread-safe: one call is handled by one thread
 * at a time. Out of memory is reported as NULL (callers turn it into -ENOMEM).
 */
#pragma once

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "common/macro.h"

typedef struct sk_arena sk_arena;

/* A new, empty arena; NULL when out of memory. */
sk_arena *sk_arena_new(void);
/* Free every block; accepts NULL. */
void sk_arena_free(sk_arena *a);
/* Forget every allocation but keep the first block for reuse. Pointers handed
 * out before are invalid afterwards. */
void sk_arena_reset(sk_arena *a);

/* Zeroed memory aligned for any type, valid until reset/free; NULL on OOM or
 * overflow. */
void *sk_arena_alloc(sk_arena *a, size_t size);
/* n * size bytes, zeroed, with overflow checking. */
void *sk_arena_alloc_array(sk_arena *a, size_t n, size_t size);
/* Copies of s (NULL gives NULL, which is not an error). */
char *sk_arena_strdup(sk_arena *a, const char *s);

/* Fill *ret with a protobuf-c allocator drawing from a (its free is a no-op). */
void sk_arena_protobuf_allocator(sk_arena *a, ProtobufCAllocator *ret);

/* Bytes handed out so far (for tests and debug logs). */
size_t sk_arena_used(const sk_arena *a);

DEFINE_TRIVIAL_CLEANUP_FUNC(sk_arena *, sk_arena_free);
