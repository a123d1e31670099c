#include "plugin/autorepo.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/macro.h"
#include "repo/crypto.h"
#include "repo/keyring.h"
#include "repo/repo.h"

#define KEY_BYTES 32

/* Write a new key file, or keep the one there. 1 if written, 0 if kept. */
static int ensure_key(const char *key_file) {
        struct stat st;
        if (stat(key_file, &st) == 0) {
                if (!S_ISREG(st.st_mode))
                        return log_error_errno(-EINVAL, "key file %s is not a regular file", key_file);
                return 0;
        }
        if (errno != ENOENT)
                return log_error_errno(-errno, "cannot look at key file %s", key_file);

        uint8_t raw[KEY_BYTES];
        char hex[2 * KEY_BYTES + 1];
        int r = sk_random_bytes(raw, sizeof(raw));
        if (r < 0)
                return log_error_errno(r, "cannot draw a random key");
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        sk_wipe(raw, sizeof(raw));

        _cleanup_free_ char *dir_copy = strdup(key_file), *name_copy = strdup(key_file);
        if (!dir_copy || !name_copy)
                return -ENOMEM;
        const char *dir = dirname(dir_copy), *name = basename(name_copy);
        r = sk_mkdir_p(dir, 0700);
        if (r < 0)
                return log_error_errno(r, "cannot create %s for the repository key", dir);
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return log_error_errno(-errno, "cannot open %s", dir);
        /* The key is on disk, synced, before any repository depends on it. */
        r = sk_write_file_atomic(dfd, name, hex, strlen(hex), 0400);
        sk_wipe(hex, sizeof(hex));
        if (r < 0)
                return log_error_errno(r, "cannot write the repository key %s", key_file);
        return 1;
}

int sk_autorepo_ensure(const char *repo, const char *key_file, const sk_store_options *store) {
        int wrote = ensure_key(key_file);
        if (wrote < 0)
                return wrote;
        sk_secret *secret = NULL;
        int r = sk_secret_from_file(SK_SECRET_KEYFILE, key_file, &secret);
        if (r < 0)
                return log_error_errno(r, "cannot read the repository key %s", key_file);
        sk_repo_init_opts opts = { .store = store };
        sk_repo *h = NULL;
        r = sk_repo_init(repo, &opts, secret, &h);
        sk_secret_free(secret);
        if (r == -EEXIST) {
                /* There already: never touched. A key we just made for it
                 * cannot be its key; leave no file that suggests it is. */
                if (wrote > 0)
                        (void) unlink(key_file);
                return 0;
        }
        if (r < 0) {
                if (wrote > 0)
                        (void) unlink(key_file);
                return log_error_errno(r, "cannot create the default repository %s", repo);
        }
        sk_repo_free(h);
        log_warning("created the repository %s for automatic backups; its key is %s%s. Keep a copy of the key "
                    "somewhere safe, off this node: without it no backup can be read.",
                    repo, key_file, wrote > 0 ? " (new)" : " (reused)");
        return 0;
}

int sk_node_id(const char *root, char out[33]) {
        _cleanup_close_ int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return log_error_errno(-errno, "cannot open %s", root);
        void *buf = NULL;
        size_t len = 0;
        int r = sk_read_file(dfd, "node-id", 64, &buf, &len);
        if (r >= 0) {
                size_t n = strspn(buf, "0123456789abcdef");
                bool ok = n == 32 && (len == 32 || (len == 33 && ((char *) buf)[32] == '\n'));
                if (ok)
                        memcpy(out, buf, 32);
                free(buf);
                if (ok) {
                        out[32] = '\0';
                        return 0;
                }
                return log_error_errno(-EBADMSG, "%s/node-id is not 32 hex digits: remove it to get a new "
                                       "identity (scheduled backups of this node are tagged with it)", root);
        }
        if (r != -ENOENT)
                return log_error_errno(r, "cannot read %s/node-id", root);
        uint8_t raw[16];
        r = sk_random_bytes(raw, sizeof(raw));
        if (r < 0)
                return log_error_errno(r, "cannot draw a node id");
        char hex[34];
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        hex[32] = '\n';
        r = sk_write_file_atomic(dfd, "node-id", hex, 33, 0644);
        if (r < 0)
                return log_error_errno(r, "cannot write %s/node-id", root);
        memcpy(out, hex, 32);
        out[32] = '\0';
        return 0;
}
