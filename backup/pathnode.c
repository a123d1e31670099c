/* Shared path chains (pathnode.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/pathnode.h"
#include "common/macro.h"

struct sk_pathnode {
        sk_pathnode *parent;    /* referenced; NULL for the root */
        size_t refs;
        size_t depth;           /* 0 for the root */
        size_t len;             /* length of the path from the root */
        char name[];
};

int sk_pathnode_new(sk_pathnode *parent, const char *name, sk_pathnode **ret) {
        size_t nl = parent ? strlen(name) : 0;
        sk_pathnode *p = malloc(sizeof(*p) + nl + 1);
        if (!p)
                return -ENOMEM;
        p->parent = parent ? sk_pathnode_ref(parent) : NULL;
        p->refs = 1;
        p->depth = parent ? parent->depth + 1 : 0;
        /* The root's path is "": its children's paths carry no slash before them. */
        p->len = !parent ? 0 : parent->len + (parent->len ? 1 : 0) + nl;
        memcpy(p->name, parent ? name : "", nl + 1);
        *ret = p;
        return 0;
}

sk_pathnode *sk_pathnode_ref(sk_pathnode *p) {
        if (p)
                p->refs++;
        return p;
}

void sk_pathnode_unref(sk_pathnode *p) {
        while (p && --p->refs == 0) {
                sk_pathnode *up = p->parent;
                free(p);
                p = up;
        }
}

char *sk_pathnode_join(const sk_pathnode *dir, const char *name) {
        size_t nl = name ? strlen(name) : 0;
        size_t len = dir->len + (name && dir->len ? 1 : 0) + nl;
        char *s = malloc(len + 1);
        if (!s)
                return NULL;
        s[len] = 0;
        size_t at = dir->len;
        if (name) {
                memcpy(s + len - nl, name, nl);
                if (dir->len)
                        s[dir->len] = '/';
        }
        /* Fill from the end: each name ends where its child's slash is. */
        for (const sk_pathnode *p = dir; p && p->parent; p = p->parent) {
                size_t l = strlen(p->name);
                at -= l;
                memcpy(s + at, p->name, l);
                if (at > 0)
                        s[--at] = '/';
        }
        return s;
}

int sk_pathnode_open(int rootfd, const sk_pathnode *dir) {
        /* The chain runs upwards: collect it, then walk it down. */
        _cleanup_free_ const sk_pathnode **up = malloc((dir->depth + 1) * sizeof(*up));
        if (!up)
                return -ENOMEM;
        size_t n = 0;
        for (const sk_pathnode *p = dir; p->parent; p = p->parent)
                up[n++] = p;
        int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return negative_errno();
        while (n > 0) {
                int nfd = openat(fd, up[--n]->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int r = negative_errno();
                close(fd);
                if (nfd < 0)
                        return r;
                fd = nfd;
        }
        return fd;
}
