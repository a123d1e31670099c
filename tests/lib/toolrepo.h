/* What the test tools that write a repository with its key (skhostile,
 * skrelabel, skputobj) share: opening it with a passphrase file, storage
 * settings from the environment (toolenv.h), and reading a leaf tree. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repo/keyring.h"
#include "repo/repo.h"
#include "repo/tree.h"
#include "tests/lib/toolenv.h"

static inline int sk_tool_open(const char *url, const char *password_file, sk_repo **ret) {
        sk_secret *s = NULL;
        int r = sk_secret_from_file(SK_SECRET_PASSPHRASE, password_file, &s);
        if (r < 0)
                return r;
        r = sk_repo_open_store(url, &sk_tool_store, s, ret);
        sk_secret_free(s);
        return r;
}

/* The leaf tree id (a split tree is -EINVAL: the tools write leaves only). */
static inline int sk_tool_load_leaf(sk_repo *repo, const uint8_t id[SK_TREE_ID_BYTES], sk_tree **ret) {
        sk_blob_id b;
        void *buf = NULL;
        size_t len = 0;
        memcpy(b.b, id, SK_TREE_ID_BYTES);
        int r = sk_repo_get_blob(repo, SK_BLOB_TREE, &b, &buf, &len);
        if (r >= 0)
                r = sk_tree_decode(buf, len, ret);
        free(buf);
        if (r >= 0 && sk_tree_is_split(*ret)) {
                *ret = sk_tree_free(*ret);
                r = -EINVAL;
        }
        return r;
}
