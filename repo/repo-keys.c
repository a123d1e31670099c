/* Keys of the repository object: the keys derived from the master key, the
 * per-session key and nonces of this writer, the cache of other sessions'
 * keys (resolve_key), and the key slots (add, list, remove, passwd) over
 * keyring.c. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "repo/keyring.h"
#include "common/le.h"

/* --- keys --- */

static int resolve_key(void *userdata, const uint8_t salt[SK_SALT_SIZE], uint8_t ret_key[SK_KEY_SIZE]) {
        sk_repo *repo = userdata;
        if (memcmp(salt, repo->salt, SK_SALT_SIZE) == 0) {
                memcpy(ret_key, repo->session_key, SK_KEY_SIZE);
                return 0;
        }
        pthread_mutex_lock(&repo->key_lock);
        for (unsigned i = 0; i < KEY_CACHE; i++)
                if (repo->kcache[i].used && memcmp(repo->kcache[i].salt, salt, SK_SALT_SIZE) == 0) {
                        memcpy(ret_key, repo->kcache[i].key, SK_KEY_SIZE);
                        pthread_mutex_unlock(&repo->key_lock);
                        return 0;
                }
        pthread_mutex_unlock(&repo->key_lock);
        uint8_t key[SK_KEY_SIZE];
        int r = sk_hkdf(repo->data_key, SK_KEY_SIZE, salt, SK_SALT_SIZE, "snapkeep v1 session", key, SK_KEY_SIZE);
        if (r < 0)
                return r;
        pthread_mutex_lock(&repo->key_lock);
        unsigned i = repo->kc_next++ % KEY_CACHE;
        repo->kcache[i].used = true;
        memcpy(repo->kcache[i].salt, salt, SK_SALT_SIZE);
        memcpy(repo->kcache[i].key, key, SK_KEY_SIZE);
        pthread_mutex_unlock(&repo->key_lock);
        memcpy(ret_key, key, SK_KEY_SIZE);
        sk_wipe(key, sizeof(key));
        return 0;
}

void sk_repo_next_nonce(sk_repo *repo, uint8_t nonce[SK_NONCE_SIZE]) {
        uint64_t n = atomic_fetch_add(&repo->nonce_ctr, 1);
        memset(nonce, 0, SK_NONCE_SIZE);
        sk_put_le64(nonce, n);
}

int sk_repo_derive_keys(sk_repo *repo) {
        uint8_t id_key[SK_KEY_SIZE], chunk_key[SK_KEY_SIZE];
        int r;
        if ((r = sk_hkdf(repo->master, SK_MASTER_KEY_SIZE, repo->repo_id, 16, "snapkeep v1 data", repo->data_key,
                         SK_KEY_SIZE)) < 0 ||
            (r = sk_hkdf(repo->master, SK_MASTER_KEY_SIZE, repo->repo_id, 16, "snapkeep v1 id", id_key,
                         SK_KEY_SIZE)) < 0 ||
            (r = sk_hkdf(repo->master, SK_MASTER_KEY_SIZE, repo->repo_id, 16, "snapkeep v1 chunker", chunk_key,
                         SK_KEY_SIZE)) < 0)
                goto out;
        r = sk_hmac_new(id_key, SK_KEY_SIZE, &repo->id_hmac);
        if (r < 0)
                goto out;
        r = sk_gear_table_derive(chunk_key, &repo->gear);
        if (r < 0)
                goto out;
        r = sk_random_bytes(repo->salt, SK_SALT_SIZE);
        if (r < 0)
                goto out;
        r = sk_hkdf(repo->data_key, SK_KEY_SIZE, repo->salt, SK_SALT_SIZE, "snapkeep v1 session", repo->session_key,
                    SK_KEY_SIZE);
        repo->keys = (sk_pack_keys) { .resolve = resolve_key, .userdata = repo, .id_hmac = repo->id_hmac };
out:
        sk_wipe(id_key, sizeof(id_key));
        sk_wipe(chunk_key, sizeof(chunk_key));
        return r;
}

/* --- keys --- */

int sk_repo_key_add(sk_repo *repo, const sk_secret *secret, char **ret_slot) {
        int r = sk_keyring_add(repo->b, repo->repo_id, repo->master, secret, repo->scrypt_log2n, ret_slot);
        if (r < 0)
                return sk_repo_fail(r, "adding key slot: %s", strerror(-r));
        return 0;
}

typedef struct key_list_ctx {
        sk_repo *repo;
        sk_repo_key_fn cb;
        void *userdata;
} key_list_ctx;

static int key_list_one(const sk_key_info *info, void *userdata) {
        key_list_ctx *c = userdata;
        sk_key_info i = *info;
        i.current = c->repo->slot && strcmp(c->repo->slot, info->slot) == 0;
        return c->cb(&i, c->userdata);
}

int sk_repo_key_list(sk_repo *repo, sk_repo_key_fn cb, void *userdata) {
        key_list_ctx c = { .repo = repo, .cb = cb, .userdata = userdata };
        int r = sk_keyring_list(repo->b, key_list_one, &c);
        if (r < 0)
                return sk_repo_fail(r, "listing key slots: %s", strerror(-r));
        return 0;
}

int sk_repo_key_remove(sk_repo *repo, const char *slot) {
        if (repo->slot && strcmp(repo->slot, slot) == 0)
                return sk_repo_fail(-EBUSY, "key slot %s is the one in use; open with another key to remove it", slot);
        int r = sk_keyring_remove(repo->b, slot);
        if (r == -EBUSY)
                return sk_repo_fail(r, "key slot %s is the last one", slot);
        if (r < 0)
                return sk_repo_fail(r, "removing key slot %s: %s", slot, r == -ENOENT ? "no such slot" : strerror(-r));
        return 0;
}

int sk_repo_key_passwd(sk_repo *repo, const sk_secret *new_secret, char **ret_slot) {
        char *slot = NULL;
        int r = sk_keyring_add(repo->b, repo->repo_id, repo->master, new_secret, repo->scrypt_log2n, &slot);
        if (r < 0)
                return sk_repo_fail(r, "adding key slot: %s", strerror(-r));
        if (repo->slot) {
                r = sk_keyring_remove(repo->b, repo->slot);
                if (r < 0) {
                        free(slot);
                        return sk_repo_fail(r, "new slot written, but removing old slot %s failed: %s", repo->slot,
                                    strerror(-r));
                }
        }
        free(repo->slot);
        repo->slot = slot;
        if (ret_slot) {
                *ret_slot = strdup(slot);
                if (!*ret_slot)
                        return -ENOMEM;
        }
        return 0;
}
