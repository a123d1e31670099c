/* The file content hash (filehash.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repo/crypto.h"
#include "repo/filehash.h"
#include "common/le.h"

struct sk_filehash {
        sk_sha256_ctx *sha;
        int rule;
};

/* Rule 2's first bytes: a digest of one rule is never taken for the other's. */
static const char rule2_tag[8] = "SKFHASH2";

int sk_filehash_reset(sk_filehash *h, int rule) {
        if (rule != SK_FILEHASH_RULE_DATA && rule != SK_FILEHASH_RULE_CHUNKS)
                return -EINVAL;
        h->rule = rule;
        int r = sk_sha256_reset(h->sha);
        if (r < 0 || rule == SK_FILEHASH_RULE_DATA)
                return r;
        return sk_sha256_update(h->sha, rule2_tag, sizeof(rule2_tag));
}

int sk_filehash_new(int rule, sk_filehash **ret) {
        sk_filehash *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        int r = sk_sha256_new(&h->sha);
        if (r >= 0)
                r = sk_filehash_reset(h, rule);
        if (r < 0) {
                sk_filehash_free(h);
                return r;
        }
        *ret = h;
        return 0;
}

sk_filehash *sk_filehash_free(sk_filehash *h) {
        if (h) {
                sk_sha256_free(h->sha);
                free(h);
        }
        return NULL;
}

int sk_filehash_update(sk_filehash *h, const void *data, size_t len) {
        if (h->rule != SK_FILEHASH_RULE_DATA)
                return 0;
        return sk_sha256_update(h->sha, data, len);
}

int sk_filehash_chunk(sk_filehash *h, const uint8_t id[SK_FILEHASH_ID_SIZE], uint32_t len) {
        if (h->rule != SK_FILEHASH_RULE_CHUNKS)
                return 0;
        uint8_t rec[SK_FILEHASH_ID_SIZE + 4];
        memcpy(rec, id, SK_FILEHASH_ID_SIZE);
        sk_put_le32(rec + SK_FILEHASH_ID_SIZE, len);
        return sk_sha256_update(h->sha, rec, sizeof(rec));
}

int sk_filehash_extent(sk_filehash *h, uint64_t offset, uint64_t length) {
        uint8_t tail[16];
        sk_put_le64(tail, offset);
        sk_put_le64(tail + 8, length);
        return sk_sha256_update(h->sha, tail, sizeof(tail));
}

int sk_filehash_final(sk_filehash *h, uint64_t size, uint8_t out[SK_FILEHASH_SIZE]) {
        uint8_t tail[8];
        sk_put_le64(tail, size);
        int r = sk_sha256_update(h->sha, tail, sizeof(tail));
        if (r < 0)
                return r;
        return sk_sha256_final(h->sha, out);
}

int sk_filehash_verify(sk_filehash *h, uint64_t size, const uint8_t expected[SK_FILEHASH_SIZE]) {
        uint8_t got[SK_FILEHASH_SIZE];
        int r = sk_filehash_final(h, size, got);
        if (r < 0)
                return r;
        return memcmp(got, expected, sizeof(got)) == 0 ? 0 : -EBADMSG;
}
