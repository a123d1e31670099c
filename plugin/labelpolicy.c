#include "plugin/labelpolicy.h"

#include <errno.h>
#include <string.h>

#include "common/macro.h"
#include "container/capture.h"
#include "container/selector.h"

static const char *const daemon_owned[] = {
        SK_LABEL_RESTORING,
        SK_LABEL_RESTORED,
        SK_LABEL_BACKUP,
        SK_LABEL_BACKUP_TIME,
        SK_LABEL_LAYER_BACKUP,
};

const char *sk_labels_daemon_owned(const sk_label *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < ARRAY_SIZE(daemon_owned); j++)
                        if (l[i].key && strcmp(l[i].key, daemon_owned[j]) == 0)
                                return daemon_owned[j];
        return NULL;
}

const char *const *sk_labels_daemon_keys(size_t *ret_n) {
        *ret_n = ARRAY_SIZE(daemon_owned);
        return daemon_owned;
}

int sk_restore_selectors_parse(const char *value, unsigned *ret) {
        unsigned allowed = 0;
        const char *p = value;
        while (*p) {
                size_t n = strcspn(p, ", \t");
                if (n == 4 && memcmp(p, "none", 4) == 0)
                        ;
                else if (n == 6 && memcmp(p, "latest", 6) == 0)
                        allowed |= SK_RESTORE_ALLOW_LATEST;
                else if (n == 6 && memcmp(p, "prefix", 6) == 0)
                        allowed |= SK_RESTORE_ALLOW_PREFIX;
                else if (n > 0)
                        return -EINVAL;
                p += n;
                p += strspn(p, ", \t");
        }
        *ret = allowed;
        return 0;
}

static bool is_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

int sk_restore_request_check(const char *key, const char *selector, unsigned allowed, const char **ret_why) {
        if (sk_key_is_unpack(key)) {
                *ret_why = "a restore label is honoured only on a container's snapshot, not on an image layer's "
                           "(an image cannot restore a backup)";
                return -EINVAL;
        }
        size_t n = strlen(selector);
        if (n == 64 && is_hex(selector, n))
                return 0;
        if (strcmp(selector, "latest") == 0 || strncmp(selector, SK_SELECTOR_LATEST_PREFIX,
                                                        strlen(SK_SELECTOR_LATEST_PREFIX)) == 0) {
                if (!(allowed & SK_RESTORE_ALLOW_LATEST)) {
                        *ret_why = "restore by \"latest\" is not allowed on this node (restore_selectors in "
                                   "snapkeepd.conf); give the full 64-digit backup id";
                        return -EINVAL;
                }
                if (selector[6] == ':' && !sk_selector_is_container(selector)) {
                        *ret_why = "a container selector is latest:[HOST:][NAMESPACE/]NAME, each part letters, "
                                   "digits, '.', '_' or '-'";
                        return -EINVAL;
                }
                return 0;
        }
        if (n >= 4 && n < 64 && is_hex(selector, n)) {
                if (allowed & SK_RESTORE_ALLOW_PREFIX)
                        return 0;
                *ret_why = "restore by a backup id prefix is not allowed on this node (restore_selectors in "
                           "snapkeepd.conf); give the full 64-digit backup id";
                return -EINVAL;
        }
        *ret_why = "the restore label must be a full 64-digit lowercase hex backup id";
        return -EINVAL;
}
