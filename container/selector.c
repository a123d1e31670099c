#include "container/selector.h"

#include <errno.h>
#include <string.h>

#include "backup/manifest.h"
#include "container/record.h"

typedef struct selector {
        char host[256], ns[256], name[256];
} selector;

static bool name_chars(const char *s, size_t n) {
        if (n == 0 || n >= 256)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
                      (s[i] && strchr("._-", s[i]))))
                        return false;
        return true;
}

static int parse(const char *s, selector *ret) {
        size_t plen = strlen(SK_SELECTOR_LATEST_PREFIX);
        if (strncmp(s, SK_SELECTOR_LATEST_PREFIX, plen) != 0 || strlen(s) > SK_SELECTOR_MAX)
                return -EINVAL;
        *ret = (selector) {};
        const char *p = s + plen;
        /* The optional parts, in order: "HOST:" then "NAMESPACE/". */
        const struct {
                char sep;
                char *out;
        } parts[] = { { ':', ret->host }, { '/', ret->ns } };
        for (size_t i = 0; i < 2; i++) {
                const char *end = strchr(p, parts[i].sep);
                if (!end)
                        continue;
                if (!name_chars(p, (size_t) (end - p)))
                        return -EINVAL;
                memcpy(parts[i].out, p, (size_t) (end - p));
                p = end + 1;
        }
        if (!name_chars(p, strlen(p)))
                return -EINVAL;
        strcpy(ret->name, p);
        return 0;
}

bool sk_selector_is_container(const char *s) {
        selector sel;
        return parse(s, &sel) == 0;
}

static bool tag_is(const sk_manifest *m, const char *prefix, const char *value) {
        size_t pl = strlen(prefix);
        for (size_t i = 0; i < m->n_tags; i++)
                if (strncmp(m->tags[i], prefix, pl) == 0 && strcmp(m->tags[i] + pl, value) == 0)
                        return true;
        return false;
}

int sk_selector_resolve(sk_repo *repo, const char *s, char ret_id[SK_BACKUP_ID_HEX + 1]) {
        if (strncmp(s, SK_SELECTOR_LATEST_PREFIX, strlen(SK_SELECTOR_LATEST_PREFIX)) != 0)
                return sk_backup_resolve(repo, s, ret_id);
        selector sel;
        if (parse(s, &sel) < 0)
                return -EINVAL;
        sk_manifest **list = NULL;
        size_t n = 0;
        int r = sk_backup_list(repo, NULL, NULL, &list, &n);
        if (r < 0)
                return r;
        r = -ENOENT;
        /* The list is oldest first: the first match from the end is the newest. */
        for (size_t i = n; i-- > 0;) {
                const sk_manifest *m = list[i];
                if (!tag_is(m, SK_TAG_CONTAINER, "") || !tag_is(m, SK_TAG_NAME_PREFIX, sel.name) ||
                    (sel.ns[0] && !tag_is(m, SK_TAG_NAMESPACE_PREFIX, sel.ns)) ||
                    (sel.host[0] && (!m->hostname || strcmp(m->hostname, sel.host) != 0)))
                        continue;
                memcpy(ret_id, m->id, SK_BACKUP_ID_HEX + 1);
                r = 0;
                break;
        }
        sk_backup_list_free(list, n);
        return r;
}
