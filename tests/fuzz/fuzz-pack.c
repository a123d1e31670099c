/* libFuzzer harness for the pack parsers: pack header, blob table/footer,
 * forward scan with resynchronisation, and record opening (AEAD, zstd, id
 * check). Keys are fixed (the same as tests/unit/test-pack.c, which writes
 * the seed corpus with SK_WRITE_CORPUS), so seeds get past the tag checks
 * and mutations explore the parsers behind them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t session_key[32] = { 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                         0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                         0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42 };
static const uint8_t id_key[32] = { 7 };
static sk_hmac *hmac;

static int resolve(void *ud, const uint8_t salt[SK_SALT_SIZE], uint8_t key[SK_KEY_SIZE]) {
        (void) ud;
        for (size_t i = 0; i < SK_KEY_SIZE; i++)
                key[i] = session_key[i] ^ salt[i];
        return 0;
}

typedef struct ctx {
        const sk_pack_keys *keys;
        const uint8_t *data;
        size_t size;
} ctx;

static int open_one(const sk_pack_record *r, void *userdata) {
        ctx *c = userdata;
        void *p = NULL;
        size_t pl;
        char detail[128];
        if (r->offset >= c->size)
                __builtin_trap();
        if (sk_record_open(c->keys, c->data + r->offset, c->size - r->offset, &r->id, NULL, &p, &pl, detail,
                           sizeof(detail)) == 0) {
                if (pl != r->raw_len)
                        __builtin_trap();
                free(p);
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!hmac && sk_hmac_new(id_key, sizeof(id_key), &hmac) < 0)
                return 0;
        sk_pack_keys keys = { .resolve = resolve, .id_hmac = hmac };
        uint8_t salt[SK_SALT_SIZE];
        (void) sk_pack_header_parse(data, size, salt);

        sk_pack_record *t = NULL;
        size_t n = 0;
        if (sk_pack_table_read(&keys, data, size, &t, &n) == 0) {
                ctx c = { .keys = &keys, .data = data, .size = size };
                for (size_t i = 0; i < n; i++) {
                        if ((uint64_t) t[i].offset + sk_record_length(&t[i]) > size)
                                __builtin_trap(); /* table_read promised plausibility */
                        open_one(&t[i], &c);
                }
                free(t);
        }
        ctx c = { .keys = &keys, .data = data, .size = size };
        (void) sk_pack_scan(data, size, open_one, &c);

        /* the input as a lone record */
        void *p = NULL;
        size_t pl;
        sk_pack_record r;
        if (sk_record_open(&keys, data, size, NULL, &r, &p, &pl, NULL, 0) == 0)
                free(p);
        return 0;
}
