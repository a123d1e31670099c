/* libFuzzer harness for snapkeepd's config file: the input is the file's
 * text, fed through sk_config_load_stream(), the parse that
 * sk_config_load_file() (and so snapkeepd) uses. A refused file must come
 * with a message and leave the configuration untouched; an accepted one must
 * hold only values the setters allow. Seeds in tests/fuzz/corpus/fuzz-config/. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/log.h"
#include "plugin/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool path_ok(const char *p, size_t max) {
        return p && p[0] == '/' && (!max || strlen(p) < max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0 || size > 64 * 1024)
                return 0;
        const size_t sun_max = sizeof(((struct sockaddr_un *) NULL)->sun_path);
        sk_config c, before;
        if (sk_config_init(&c) < 0)
                return 0;
        if (sk_config_init(&before) < 0) {
                sk_config_clear(&c);
                return 0;
        }
        FILE *f = fmemopen((void *) data, size, "r");
        if (!f)
                goto out;
        char *error = NULL;
        int r = sk_config_load_stream(&c, f, "fuzz.conf", &error);
        fclose(f);
        if (r == 0) {
                if (error || !c.config_path || strcmp(c.config_path, "fuzz.conf") != 0 || !path_ok(c.root, 0) ||
                    !path_ok(c.socket, sun_max) || !path_ok(c.admin_socket, sun_max) || !c.repo || !c.repo[0] ||
                    (c.password_file && !path_ok(c.password_file, 0)) || (c.key_file && !path_ok(c.key_file, 0)) ||
                    c.workers < 1 || c.workers > SK_WORKERS_MAX || c.log_level < SK_LOG_ERROR ||
                    c.log_level > SK_LOG_DEBUG)
                        __builtin_trap();
        } else if (r == -EINVAL) {
                if (!error || strncmp(error, "fuzz.conf:", 10) != 0)
                        __builtin_trap(); /* a refusal names the file and line */
                if (strcmp(c.root, before.root) != 0 || strcmp(c.socket, before.socket) != 0 ||
                    strcmp(c.repo, before.repo) != 0 || c.workers != before.workers || c.password_file ||
                    c.key_file || c.config_path || c.remote_layers != before.remote_layers ||
                    c.log_level != before.log_level)
                        __builtin_trap(); /* a bad file leaves the configuration untouched */
        } else if (r != -ENOMEM)
                __builtin_trap();
        free(error);
out:
        sk_config_clear(&c);
        sk_config_clear(&before);
        return 0;
}
