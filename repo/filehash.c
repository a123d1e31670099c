/* The file content hash (filehash.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repo/crypto.h"
#include "repo/filehash.h"
#include "common/le.h"

struct sk_filehash {
        sk_sha256_ctx *sha;
};

int sk_filehash_new(sk_filehash **ret) {
        sk_filehash *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        int r = sk_sha256_new(&h->sha);
        if (r < 0) {
                free(h);
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

int sk_filehash_reset(sk_filehash *h) {
        return sk_sha256_reset(h->sha);
}

int sk_filehash_update(sk_filehash *h, const void *data, size_t len) {
        return sk_sha256_update(h->sha, data, len);
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
