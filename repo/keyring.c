/* Secrets and key slots; see keyring.h and docs/FORMAT.md section 3. */
#include "repo/keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/backend.h"
#include "repo/crypto.h"
#include "repo/index.h"
#include "common/le.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "common/array.h"

#define SECRET_MAX (64u * 1024)
#define SLOT_SIZE SK_KEYSLOT_SIZE
#define SLOT_AAD_SIZE 152

static __thread char last_skipped[256];

const char *sk_keyring_last_skipped(void) {
        return last_skipped;
}

static const char slot_magic[8] = { 'S', 'K', 'K', 'E', 'Y', 'S', 'L', 'T' };

struct sk_secret {
        sk_secret_kind kind;
        size_t len;
        uint8_t *bytes;
};

int sk_secret_new(sk_secret_kind kind, const void *bytes, size_t len, sk_secret **ret) {
        if ((kind != SK_SECRET_PASSPHRASE && kind != SK_SECRET_KEYFILE) || len == 0 || len > SECRET_MAX)
                return -EINVAL;
        sk_secret *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->bytes = malloc(len);
        if (!s->bytes) {
                free(s);
                return -ENOMEM;
        }
        memcpy(s->bytes, bytes, len);
        s->len = len;
        s->kind = kind;
        *ret = s;
        return 0;
}

int sk_secret_from_file(sk_secret_kind kind, const char *path, sk_secret **ret) {
        void *buf = NULL;
        size_t len = 0;
        int r = sk_read_file(AT_FDCWD, path, SECRET_MAX, &buf, &len);
        if (r < 0)
                return r;
        if (kind == SK_SECRET_PASSPHRASE && len > 0 && ((char *) buf)[len - 1] == '\n') {
                len--;
                if (len > 0 && ((char *) buf)[len - 1] == '\r')
                        len--;
        }
        r = sk_secret_new(kind, buf, len, ret);
        sk_wipe(buf, len + 1);
        free(buf);
        return r;
}

void sk_secret_free(sk_secret *s) {
        if (!s)
                return;
        sk_wipe(s->bytes, s->len);
        free(s->bytes);
        free(s);
}

sk_secret_kind sk_secret_get_kind(const sk_secret *s) {
        return s->kind;
}

static int slot_key(const sk_secret *secret, const uint8_t *slot, uint8_t key[SK_KEY_SIZE]) {
        return sk_scrypt(secret->bytes, secret->len, slot + 120, 32, slot[42], slot[43], slot[44], key, SK_KEY_SIZE);
}

static bool slot_id_valid(const char *id) {
        if (strlen(id) != SK_SLOT_ID_HEX)
                return false;
        uint8_t b[SK_SLOT_ID_HEX / 2];
        return sk_hex_decode(id, b, sizeof(b)) == 0;
}

int sk_keyring_add(sk_backend *b, const uint8_t repo_id[16], const uint8_t master[SK_MASTER_KEY_SIZE],
                   const sk_secret *secret, uint8_t log2n, char **ret_slot) {
        uint8_t slot[SLOT_SIZE], key[SK_KEY_SIZE], idb[SK_SLOT_ID_HEX / 2];
        char id[SK_SLOT_ID_HEX + 1], name[64];
        int r;

        if (log2n == 0)
                log2n = secret->kind == SK_SECRET_PASSPHRASE ? 15 : 10;
        if (log2n < SK_SCRYPT_LOG2N_MIN || log2n > SK_SCRYPT_LOG2N_MAX)
                return -EINVAL;
        memset(slot, 0, sizeof(slot));
        sk_file_header_encode(slot_magic, slot);
        memcpy(slot + 24, repo_id, 16);
        slot[40] = 1;
        slot[41] = (uint8_t) secret->kind;
        slot[42] = log2n;
        slot[43] = 8;
        slot[44] = 1;
        sk_put_le64(slot + 48, (uint64_t) time(NULL));
        char host[65] = "";
        if (gethostname(host, sizeof(host) - 1) < 0)
                host[0] = 0;
        memcpy(slot + 56, host, strnlen(host, 64));
        if ((r = sk_random_bytes(slot + 120, 32)) < 0 || (r = sk_random_bytes(slot + 152, 12)) < 0 ||
            (r = sk_random_bytes(idb, sizeof(idb))) < 0)
                return r;
        r = slot_key(secret, slot, key);
        if (r < 0)
                return r;
        r = sk_aead_seal(key, slot + 152, slot, SLOT_AAD_SIZE, master, SK_MASTER_KEY_SIZE, slot + 164, slot + 196);
        sk_wipe(key, sizeof(key));
        if (r < 0)
                return r;
        sk_hex_encode(idb, sizeof(idb), id);
        snprintf(name, sizeof(name), "keys/%s", id);
        r = sk_backend_put(b, name, slot, sizeof(slot));
        if (r < 0)
                return r;
        if (ret_slot) {
                char *s = strdup(id);
                if (!s)
                        return -ENOMEM;
                *ret_slot = s;
        }
        return 0;
}

typedef struct name_list {
        char **names;
        size_t n, cap;
} name_list;

static void name_list_done(name_list *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->names[i]);
        free(l->names);
}

static int collect_slot(const char *name, uint64_t size, void *userdata) {
        name_list *l = userdata;
        const char *id = name + strlen("keys/");
        (void) size;
        if (!slot_id_valid(id))
                return 0;
        if (SK_GROW(l->names, l->cap, l->n + 1) < 0)
                return -ENOMEM;
        l->names[l->n] = strdup(id);
        if (!l->names[l->n])
                return -ENOMEM;
        l->n++;
        return 0;
}

static int list_slots(sk_backend *b, name_list *l) {
        *l = (name_list) { 0 };
        int r = sk_backend_list(b, "keys/", collect_slot, l);
        if (r < 0)
                name_list_done(l);
        return r;
}

int sk_keyslot_parse(const void *buf, size_t len, sk_keyslot *ret) {
        const uint8_t *p = buf;
        int r = sk_file_header_parse(buf, len, slot_magic);
        if (r < 0)
                return r;
        if (len != SLOT_SIZE)
                return -EBADMSG;
        if (p[40] != 1 || (p[41] != SK_SECRET_PASSPHRASE && p[41] != SK_SECRET_KEYFILE))
                return -EPROTO;
        uint8_t log2n = p[42], sr = p[43], sp = p[44];
        if (log2n < 1 || sr < 1 || sp < 1)
                return -EBADMSG;
        /* log2n is bounded first, so the products below stay under 2^43 */
        if (log2n > SK_SCRYPT_LOG2N_MAX)
                return -EFBIG;
        uint64_t mem = (UINT64_C(128) * sr) << log2n;
        if (mem > SK_SCRYPT_MAX_MEM || mem * sp > SK_SCRYPT_MAX_WORK)
                return -EFBIG;
        sk_keyslot k = { .kind = (sk_secret_kind) p[41], .log2n = log2n, .r = sr, .p = sp,
                         .created = sk_get_le64(p + 48) };
        memcpy(k.repo_id, p + 24, 16);
        memcpy(k.host, p + 56, 64);
        k.host[64] = 0;
        *ret = k;
        return 0;
}

/* Reads at most one byte more than a slot: the file's size is not trusted. */
static int read_slot(sk_backend *b, const char *id, uint8_t slot[SLOT_SIZE], sk_keyslot *ret) {
        char name[64];
        _cleanup_free_ void *buf = NULL;
        size_t len;
        snprintf(name, sizeof(name), "keys/%s", id);
        int r = sk_backend_get_whole(b, name, SLOT_SIZE, &buf, &len);
        if (r < 0)
                return r;
        r = sk_keyslot_parse(buf, len, ret);
        if (r < 0)
                return r;
        memcpy(slot, buf, SLOT_SIZE);
        return 0;
}

int sk_keyring_unlock(sk_backend *b, const uint8_t repo_id[16], const sk_secret *secret,
                      uint8_t ret_master[SK_MASTER_KEY_SIZE], char **ret_slot) {
        name_list l;
        int r = list_slots(b, &l), result = -ENOENT;
        if (r < 0)
                return r;
        last_skipped[0] = 0;
        for (size_t i = 0; i < l.n; i++) {
                uint8_t slot[SLOT_SIZE], key[SK_KEY_SIZE], master[SK_MASTER_KEY_SIZE];
                sk_keyslot ks;
                r = read_slot(b, l.names[i], slot, &ks);
                if (r == -EPROTO || r == -EFBIG) {
                        if (r == -EFBIG)
                                snprintf(last_skipped, sizeof(last_skipped),
                                         "key slot %s skipped: larger than %d bytes, or its scrypt parameters "
                                         "exceed the bounds (log2 N <= %d, 128*r*N <= 1 GiB, 128*r*N*p <= 2 GiB)",
                                         l.names[i], SLOT_SIZE, SK_SCRYPT_LOG2N_MAX);
                        if (result == -ENOENT || result == -EPROTO)
                                result = r;
                        continue;
                }
                /* a readable slot (or a damaged one, which may have been
                 * ours) that does not open means: wrong secret */
                result = -EKEYREJECTED;
                if (r < 0)
                        continue;
                if (memcmp(ks.repo_id, repo_id, 16) != 0 || ks.kind != secret->kind)
                        continue;
                r = slot_key(secret, slot, key);
                if (r < 0) {
                        name_list_done(&l);
                        return r;
                }
                r = sk_aead_open(key, slot + 152, slot, SLOT_AAD_SIZE, slot + 164, SK_MASTER_KEY_SIZE, master,
                                 slot + 196);
                sk_wipe(key, sizeof(key));
                if (r == -EBADMSG)
                        continue;
                if (r < 0) {
                        sk_wipe(master, sizeof(master));
                        name_list_done(&l);
                        return r;
                }
                if (ret_slot) {
                        *ret_slot = strdup(l.names[i]);
                        if (!*ret_slot) {
                                sk_wipe(master, sizeof(master));
                                name_list_done(&l);
                                return -ENOMEM;
                        }
                }
                memcpy(ret_master, master, SK_MASTER_KEY_SIZE);
                sk_wipe(master, sizeof(master));
                name_list_done(&l);
                return 0;
        }
        name_list_done(&l);
        return result;
}

int sk_keyring_list(sk_backend *b, sk_keyring_fn cb, void *userdata) {
        name_list l;
        int r = list_slots(b, &l);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l.n && r >= 0; i++) {
                uint8_t slot[SLOT_SIZE];
                sk_keyslot ks;
                if (read_slot(b, l.names[i], slot, &ks) < 0)
                        continue;
                sk_key_info info = {
                        .slot = l.names[i],
                        .kind = ks.kind,
                        .created = ks.created,
                        .host = ks.host,
                        .scrypt_log2n = ks.log2n,
                };
                r = cb(&info, userdata);
        }
        name_list_done(&l);
        return r < 0 ? r : 0;
}

int sk_keyring_remove(sk_backend *b, const char *slot) {
        char name[64];
        uint64_t size;
        if (!slot_id_valid(slot))
                return -EINVAL;
        snprintf(name, sizeof(name), "keys/%s", slot);
        int r = sk_backend_head(b, name, &size);
        if (r < 0)
                return r;
        name_list l;
        r = list_slots(b, &l);
        if (r < 0)
                return r;
        size_t n = l.n;
        name_list_done(&l);
        if (n <= 1)
                return -EBUSY;
        return sk_backend_del(b, name);
}
