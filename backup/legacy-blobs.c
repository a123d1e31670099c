/* Repair of blobs stored under the wrong type (legacy-blobs.h). */
#include <string.h>

#include "backup/legacy-blobs.h"
#include "common/macro.h"

int sk_legacy_blob_is(sk_repo *repo, sk_blob_type type, const uint8_t id[SK_TREE_ID_BYTES]) {
        sk_blob_id bid;
        memcpy(bid.b, id, SK_TREE_ID_BYTES);
        return sk_repo_has_blob(repo, type, &bid) != 1 &&
               sk_repo_has_blob(repo, type == SK_BLOB_TREE ? SK_BLOB_DATA : SK_BLOB_TREE, &bid) == 1;
}

int sk_legacy_blob_repair(sk_repo *repo, sk_blob_type type, const uint8_t id[SK_TREE_ID_BYTES]) {
        sk_blob_id bid, got;
        _cleanup_free_ void *buf = NULL;
        size_t len;
        if (!sk_legacy_blob_is(repo, type, id))
                return 0;
        memcpy(bid.b, id, SK_TREE_ID_BYTES);
        /* get_blob's legacy fallback reads the other type's blob, verified */
        int r = sk_repo_get_blob(repo, type, &bid, &buf, &len);
        if (r < 0)
                return r;
        if (type == SK_BLOB_TREE) {
                sk_tree *t = NULL;
                r = sk_tree_decode(buf, len, &t);
                sk_tree_free(t);
                if (r < 0)
                        return r;
        }
        r = sk_repo_put_blob(repo, type, buf, len, &got, NULL);
        if (r < 0)
                return r;
        return memcmp(got.b, bid.b, SK_TREE_ID_BYTES) == 0 ? 1 : -EBADMSG;
}
