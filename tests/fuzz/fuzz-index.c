/* libFuzzer harness for the index file parser (header, sealed envelope,
 * pack sections, entries) feeding the in-memory hash table. Fixed keys as in
 * tests/unit/test-index.c, which writes the seed corpus (SK_WRITE_CORPUS). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t session_key[32] = { 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                         0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                         0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42 };

static int resolve(void *ud, const uint8_t salt[SK_SALT_SIZE], uint8_t key[SK_KEY_SIZE]) {
        (void) ud;
        for (size_t i = 0; i < SK_KEY_SIZE; i++)
                key[i] = session_key[i] ^ salt[i];
        return 0;
}

static int add(const uint8_t pack[32], const sk_pack_record *r, void *userdata) {
        sk_index *idx = userdata;
        sk_index_entry e = {
                .id = r->id, .offset = r->offset, .stored_len = r->stored_len, .raw_len = r->raw_len,
                .type = r->type, .flags = r->flags,
        };
        int q = sk_index_pack_add(idx, pack, &e.pack);
        if (q < 0)
                return q;
        q = sk_index_insert(idx, &e, false);
        if (q < 0)
                return q;
        if (sk_index_lookup(idx, &r->id, (sk_blob_type) r->type, NULL) != 1)
                __builtin_trap();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        sk_pack_keys keys = { .resolve = resolve };
        sk_index *idx = NULL;
        if (sk_index_new(&idx) < 0)
                return 0;
        (void) sk_index_file_decode(&keys, data, size, add, idx);
        sk_index_free(idx);
        return 0;
}
