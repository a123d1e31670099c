/* Retention for the scheduler (auto/): forget, among one snapshot's
 * container backups made under one policy on this host, those the policy
 * no longer keeps. Layer backups are never touched here: container backups
 * of every node refer to them by chain id. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "backup/manifest.h"
#include "container/capture-internal.h"

typedef struct retain_match {
        const sk_manifest *like; /* the backup just made */
        const char *tag;
} retain_match;

static bool has_tag(const sk_manifest *m, const char *tag) {
        for (size_t i = 0; i < m->n_tags; i++)
                if (strcmp(m->tags[i], tag) == 0)
                        return true;
        return false;
}

static bool same_source(const sk_manifest *m, void *userdata) {
        const retain_match *x = userdata;
        if (!m->hostname || !x->like->hostname || strcmp(m->hostname, x->like->hostname) != 0)
                return false;
        if (!has_tag(m, SK_TAG_CONTAINER) || !has_tag(m, x->tag) || m->n_sources != x->like->n_sources)
                return false;
        for (size_t i = 0; i < m->n_sources; i++)
                if (strcmp(m->sources[i], x->like->sources[i]) != 0)
                        return false;
        return true;
}

int sk_capture_retain(sk_capture *c, const char *backup_id, const char *tag, const sk_forget_policy *policy,
                      unsigned lock_wait_seconds, sk_forget_result *ret, char **ret_error) {
        sk_manifest *like = NULL;
        pthread_mutex_lock(&c->repo_mutex);
        int r = sk_cap_open_repo(c, ret_error);
        if (r >= 0) {
                r = sk_backup_load(c->repo, backup_id, &like);
                if (r < 0)
                        sk_cap_errorf(ret_error, "retention: backup %s: %s", backup_id, strerror(-r));
        }
        if (r >= 0 && !has_tag(like, SK_TAG_CONTAINER)) {
                sk_cap_errorf(ret_error, "retention: backup %s is not a container backup", backup_id);
                r = -EINVAL;
        }
        if (r >= 0) {
                retain_match x = { like, tag };
                sk_forget_policy p = *policy;
                p.select = same_source;
                p.select_userdata = &x;
                r = sk_forget_run(c->repo, &p, false, lock_wait_seconds, NULL, NULL, ret);
                if (r < 0)
                        sk_cap_errorf(ret_error, "retention: %s", r == -EBUSY ? "the repository is locked by "
                                      "another operation" : strerror(-r));
        }
        pthread_mutex_unlock(&c->repo_mutex);
        sk_manifest_free(like);
        return r;
}
