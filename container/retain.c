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
        const char *const *tags; /* all of them, and SK_TAG_CONTAINER */
        size_t n_tags;
} retain_match;

static bool has_tag(const sk_manifest *m, const char *tag) {
        for (size_t i = 0; i < m->n_tags; i++)
                if (strcmp(m->tags[i], tag) == 0)
                        return true;
        return false;
}

static bool tagged(const sk_manifest *m, void *userdata) {
        const retain_match *x = userdata;
        if (!has_tag(m, SK_TAG_CONTAINER))
                return false;
        for (size_t i = 0; i < x->n_tags; i++)
                if (!has_tag(m, x->tags[i]))
                        return false;
        return true;
}

/* Retention never runs when a backup it would judge is newer than the one
 * just made: the clock went back, and "newest first" would forget the new
 * backup's elders by the wrong order. */
typedef struct retain_ctx {
        retain_match match;
        const sk_manifest *like;
} retain_ctx;

static bool select_tagged(const sk_manifest *m, void *userdata) {
        return tagged(m, &((retain_ctx *) userdata)->match);
}

static int approve(sk_manifest *const *sel, size_t n, void *userdata) {
        const sk_manifest *like = ((retain_ctx *) userdata)->like;
        for (size_t i = 0; i < n; i++)
                if (sel[i]->time.tv_sec > like->time.tv_sec ||
                    (sel[i]->time.tv_sec == like->time.tv_sec && sel[i]->time.tv_nsec > like->time.tv_nsec))
                        return -ESTALE;
        return 0;
}

int sk_capture_retain(sk_capture *c, const char *backup_id, const char *const *tags, size_t n_tags,
                      const sk_forget_policy *policy, unsigned lock_wait_seconds, sk_forget_result *ret,
                      char **ret_error) {
        sk_manifest *like = NULL;
        if (n_tags == 0)
                return -EINVAL; /* never every container backup in the repository */
        pthread_mutex_lock(&c->repo_mutex);
        int r = sk_cap_open_repo(c, ret_error);
        if (r >= 0) {
                r = sk_backup_load(c->repo, backup_id, &like);
                if (r < 0)
                        sk_cap_errorf(ret_error, "retention: backup %s: %s", backup_id, strerror(-r));
        }
        retain_ctx x = { .match = { tags, n_tags }, .like = like };
        if (r >= 0 && !tagged(like, &x.match)) {
                sk_cap_errorf(ret_error, "retention: backup %s lacks the tags it selects by", backup_id);
                r = -EINVAL;
        }
        if (r >= 0) {
                /* One source of this node: no other writer forgets from it, so a
                 * shared lock does (backup/forget.h), and backups of other nodes
                 * go on meanwhile. */
                sk_forget_policy p = *policy;
                p.select = select_tagged;
                p.select_userdata = &x;
                p.approve = approve;
                p.keep_id = backup_id;
                p.shared_lock = true;
                r = sk_forget_run(c->repo, &p, false, lock_wait_seconds, NULL, NULL, ret);
                if (r == -ESTALE)
                        sk_cap_errorf(ret_error, "retention skipped: a backup of this source is newer than the one "
                                      "just made (%s): has the clock gone back?", backup_id);
                else if (r < 0)
                        sk_cap_errorf(ret_error, "retention: %s", r == -EBUSY ? "the repository is locked by "
                                      "a prune" : strerror(-r));
        }
        pthread_mutex_unlock(&c->repo_mutex);
        sk_manifest_free(like);
        return r;
}
