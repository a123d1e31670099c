/* Secrets and key slots.
 *
 * DESIGN: the repository's 32-byte master key is random (RAND_bytes) and never
 * stored in clear. Each key slot (keys/<slot>) wraps it with AES-256-GCM under
 * a slot key derived by scrypt from a secret: a passphrase, or the bytes of a
 * key file (docs/FORMAT.md "Keys"). Opening tries every slot; a slot whose tag
 * does not verify is simply not ours, so a wrong secret is -EKEYREJECTED and
 * is detected before anything is written. Secrets and keys are wiped with
 * OPENSSL_cleanse when freed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sk_backend;

typedef enum sk_secret_kind {
        SK_SECRET_PASSPHRASE = 1,       /* scrypt with the slot's (high) cost */
        SK_SECRET_KEYFILE = 2,          /* the file's bytes; scrypt with low cost */
} sk_secret_kind;

typedef struct sk_secret sk_secret;

/* Copy len bytes of secret material (len 1..64 KiB, else -EINVAL). *ret owned:
 * sk_secret_free(). */
int sk_secret_new(sk_secret_kind kind, const void *bytes, size_t len, sk_secret **ret);

/* Read secret material from a file (a password file or a key file, at most
 * 64 KiB). For SK_SECRET_PASSPHRASE one trailing "\n" (or "\r\n") is
 * stripped, as password files usually end with one; an empty result is
 * -EINVAL. */
int sk_secret_from_file(sk_secret_kind kind, const char *path, sk_secret **ret);

/* Wipe and free. Accepts NULL. */
void sk_secret_free(sk_secret *s);

sk_secret_kind sk_secret_get_kind(const sk_secret *s);

#define SK_MASTER_KEY_SIZE 32
#define SK_SLOT_ID_HEX 16
#define SK_KEYSLOT_SIZE 212

/* scrypt cost bounds (FORMAT.md section 3). Writers use r = 8, p = 1 and log2
 * N in SK_SCRYPT_LOG2N_MIN..MAX, i.e. at most 1 GiB and ~3 s. A slot is
 * opened only if 128 * r * N <= SK_SCRYPT_MAX_MEM and 128 * r * N * p <=
 * SK_SCRYPT_MAX_WORK (twice the costliest slot a writer makes): key slots
 * live in storage others may write, and a slot asking for N = 2^22, r = 32,
 * p = 16 would otherwise make open allocate 16 GiB. */
#define SK_SCRYPT_LOG2N_MIN 10
#define SK_SCRYPT_LOG2N_MAX 20
#define SK_SCRYPT_MAX_MEM (UINT64_C(1) << 30)
#define SK_SCRYPT_MAX_WORK (UINT64_C(1) << 31)

/* A key slot's public fields, as parsed by sk_keyslot_parse. */
typedef struct sk_keyslot {
        uint8_t repo_id[16];
        sk_secret_kind kind;
        uint8_t log2n, r, p;
        uint64_t created;
        char host[65];
} sk_keyslot;

/* Parse the bytes of a key slot file without any cryptography: anything but
 * exactly SK_KEYSLOT_SIZE bytes, or a bad magic, is -EBADMSG; an unknown
 * version, kdf or secret kind is -EPROTO; scrypt parameters beyond the
 * bounds above are -EFBIG. The one parser of slot files (fuzz-keyslot). */
int sk_keyslot_parse(const void *buf, size_t len, sk_keyslot *ret);

/* What `key list` shows of a slot. Strings borrowed for the callback. */
typedef struct sk_key_info {
        const char *slot;               /* SK_SLOT_ID_HEX hex digits */
        sk_secret_kind kind;
        uint64_t created;               /* unix seconds */
        const char *host;               /* host that created the slot */
        uint8_t scrypt_log2n;
        bool current;                   /* the slot the repo was opened with */
} sk_key_info;

/* Low level, used by repo.c (the CLI uses the sk_repo_key_* wrappers).
 * repo_id is the 16-byte repository id bound into every slot. */

/* Write a new slot for secret wrapping master. log2n 0 = default (15 for a
 * passphrase, 10 for a key file), else SK_SCRYPT_LOG2N_MIN..MAX (-EINVAL). *ret_slot (may be NULL) gets the slot id,
 * owned by the caller. */
int sk_keyring_add(struct sk_backend *b, const uint8_t repo_id[16], const uint8_t master[SK_MASTER_KEY_SIZE],
                   const sk_secret *secret, uint8_t log2n, char **ret_slot);

/* Try every slot; on success copy the master key into ret_master and
 * (ret_slot may be NULL) the slot id (owned). No slot -> -ENOENT; none
 * accepts secret -> -EKEYREJECTED; a slot of an unknown version is skipped
 * (if no other slot opens, -EPROTO); so is a slot larger than
 * SK_KEYSLOT_SIZE or with scrypt parameters beyond the bounds, without
 * running scrypt (if no other slot is a candidate, -EFBIG). What was skipped
 * for exceeding a bound: sk_keyring_last_skipped(). */
int sk_keyring_unlock(struct sk_backend *b, const uint8_t repo_id[16], const sk_secret *secret,
                      uint8_t ret_master[SK_MASTER_KEY_SIZE], char **ret_slot);

/* The calling thread's last slot skipped by sk_keyring_unlock for exceeding
 * a bound ("key slot <id>: ..."), or "" if none. Borrowed. */
const char *sk_keyring_last_skipped(void);

typedef int (*sk_keyring_fn)(const sk_key_info *info, void *userdata);
/* List slots (info.current is false; the repo layer sets it). Unreadable
 * slots are skipped. */
int sk_keyring_list(struct sk_backend *b, sk_keyring_fn cb, void *userdata);

/* Delete slot; -ENOENT if missing, -EINVAL for a malformed id. Refuses to
 * delete the last remaining slot (-EBUSY). */
int sk_keyring_remove(struct sk_backend *b, const char *slot);
