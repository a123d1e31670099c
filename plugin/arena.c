#include "plugin/arena.h"

#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"

/* First block size: a typical Stat or Prepare fits in it, so most calls make
 * exactly one malloc for all their temporaries. */
#define ARENA_FIRST_BLOCK 4096
#define ARENA_ALIGN alignof(max_align_t)

typedef struct arena_block {
        struct arena_block *next;
        size_t size; /* usable bytes after the header */
        size_t used;
        alignas(max_align_t) unsigned char data[];
} arena_block;

struct sk_arena {
        arena_block *head; /* current block; older ones follow */
        size_t total_used;
};

static arena_block *block_new(size_t size) {
        if (size > SIZE_MAX - sizeof(arena_block))
                return NULL;
        arena_block *b = malloc(sizeof(arena_block) + size);
        if (!b)
                return NULL;
        b->next = NULL;
        b->size = size;
        b->used = 0;
        return b;
}

sk_arena *sk_arena_new(void) {
        sk_arena *a = calloc(1, sizeof(*a));
        if (!a)
                return NULL;
        a->head = block_new(ARENA_FIRST_BLOCK);
        if (!a->head) {
                free(a);
                return NULL;
        }
        return a;
}

void sk_arena_free(sk_arena *a) {
        if (!a)
                return;
        arena_block *b = a->head;
        while (b) {
                arena_block *next = b->next;
                free(b);
                b = next;
        }
        free(a);
}

void sk_arena_reset(sk_arena *a) {
        /* Keep the oldest block (the first-sized one) and free the rest. */
        arena_block *b = a->head, *keep = NULL;
        while (b) {
                arena_block *next = b->next;
                if (!next)
                        keep = b;
                else
                        free(b);
                b = next;
        }
        keep->used = 0;
        a->head = keep;
        a->total_used = 0;
}

void *sk_arena_alloc(sk_arena *a, size_t size) {
        if (size == 0)
                size = 1;
        if (size > SIZE_MAX - ARENA_ALIGN)
                return NULL;
        size_t need = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
        arena_block *b = a->head;
        if (b->size - b->used < need) {
                /* Grow geometrically so a large List costs O(log n) mallocs,
                 * and give oversized requests a block of their own. */
                size_t bsize = MAX(b->size * 2, need);
                arena_block *nb = block_new(bsize);
                if (!nb)
                        return NULL;
                nb->next = b;
                a->head = b = nb;
        }
        void *p = b->data + b->used;
        b->used += need;
        a->total_used += need;
        memset(p, 0, size);
        return p;
}

void *sk_arena_alloc_array(sk_arena *a, size_t n, size_t size) {
        if (size != 0 && n > SIZE_MAX / size)
                return NULL;
        return sk_arena_alloc(a, n * size);
}

char *sk_arena_strdup(sk_arena *a, const char *s) {
        if (!s)
                return NULL;
        size_t len = strlen(s);
        char *p = sk_arena_alloc(a, len + 1);
        if (!p)
                return NULL;
        memcpy(p, s, len + 1);
        return p;
}

static void *pb_alloc(void *data, size_t size) { return sk_arena_alloc(data, size); }

static void pb_free(void *data _unused_, void *p _unused_) {}

void sk_arena_protobuf_allocator(sk_arena *a, ProtobufCAllocator *ret) {
        ret->alloc = pb_alloc;
        ret->free = pb_free;
        ret->allocator_data = a;
}

size_t sk_arena_used(const sk_arena *a) { return a->total_used; }
