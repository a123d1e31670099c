/* Stack of open directories with a bounded number of descriptors (dirstack.h). */
#include "common/dirstack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/array.h"
#include "common/macro.h"

int sk_dirstack_push(sk_dirstack *s, int fd) {
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int r = negative_errno();
                close(fd);
                return r;
        }
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 64;
                sk_dirstack_level *nl = realloc(s->l, cap * sizeof(*nl));
                if (!nl) {
                        close(fd);
                        return -ENOMEM;
                }
                s->l = nl;
                s->cap = cap;
        }
        s->l[s->n++] = (sk_dirstack_level) { .fd = fd, .dev = st.st_dev, .ino = st.st_ino };
        if (s->n - s->lowest_open > SK_DIRSTACK_FDS) {
                sk_dirstack_level *old = &s->l[s->lowest_open++];
                close(old->fd);
                old->fd = -1;
        }
        return 0;
}

int sk_dirstack_top(const sk_dirstack *s) {
        return s->n ? s->l[s->n - 1].fd : -1;
}

int sk_dirstack_pop(sk_dirstack *s) {
        if (s->n == 0)
                return -EINVAL;
        sk_dirstack_level *t = &s->l[s->n - 1], *p = s->n > 1 ? &s->l[s->n - 2] : NULL;
        int r = 0;
        if (p && p->fd < 0) {
                struct stat st;
                int fd = t->fd < 0 ? -1 : openat(t->fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == p->dev && st.st_ino == p->ino) {
                        p->fd = fd;
                        s->lowest_open = s->n - 2;
                } else {
                        if (fd >= 0)
                                close(fd);
                        r = -ESTALE;
                }
        }
        if (t->fd >= 0)
                close(t->fd);
        s->n--;
        if (s->lowest_open > s->n)
                s->lowest_open = s->n;
        return r;
}

void sk_dirstack_free(sk_dirstack *s) {
        for (size_t i = 0; i < s->n; i++)
                if (s->l[i].fd >= 0)
                        close(s->l[i].fd);
        free(s->l);
        *s = (sk_dirstack) SK_DIRSTACK_INIT;
}

/* A directory being walked: its subdirectories to enter, in readdir order. */
typedef struct dlevel {
        char **subdirs;
        size_t n, cap, next;
        bool read;
} dlevel;

static void dlevel_clear(dlevel *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->subdirs[i]);
        free(l->subdirs);
        *l = (dlevel) {};
}

/* Read fd's entries one at a time, stat each and report it; keep only the
 * names of those entry() says to enter. Streaming on purpose: a directory the
 * walk serves may be a container's, with millions of (hardlinked) entries, and
 * holding every name at once would let it decide how much memory the walk
 * takes. Only subdirectories, which cost an inode each, are held. */
static int read_level(int fd, dlevel *l, sk_dirwalk_entry_fn entry, void *ud) {
        int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return negative_errno();
        DIR *d = fdopendir(dfd);
        if (!d) {
                int r = negative_errno();
                close(dfd);
                return r;
        }
        struct dirent *de;
        int r = 0;
        while ((errno = 0, de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                struct stat st;
                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT) /* vanished since readdir: not an error */
                                continue;
                        r = negative_errno();
                        break;
                }
                r = entry(fd, de->d_name, &st, ud);
                if (r <= 0) {
                        if (r < 0)
                                break;
                        continue;
                }
                r = SK_GROW(l->subdirs, l->cap, l->n + 1);
                if (r < 0)
                        break;
                if (!(l->subdirs[l->n] = strdup(de->d_name))) {
                        r = -ENOMEM;
                        break;
                }
                l->n++;
        }
        if (r == 0 && errno != 0)
                r = negative_errno();
        closedir(d);
        return r;
}

int sk_dirwalk(int fd, sk_dirwalk_entry_fn entry, sk_dirwalk_leave_fn leave, void *ud) {
        sk_dirstack s = SK_DIRSTACK_INIT;
        dlevel *lv = NULL;
        size_t cap = 0;
        bool stale = false;
        int r = sk_dirstack_push(&s, fd);
        while (r >= 0 && sk_dirstack_depth(&s) > 0) {
                size_t depth = sk_dirstack_depth(&s);
                if (depth > cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        dlevel *nl = realloc(lv, ncap * sizeof(*nl));
                        if (!nl) {
                                r = -ENOMEM;
                                break;
                        }
                        for (size_t i = cap; i < ncap; i++)
                                nl[i] = (dlevel) {};
                        lv = nl;
                        cap = ncap;
                }
                dlevel *l = &lv[depth - 1];
                int top = sk_dirstack_top(&s);
                if (!l->read && top >= 0) {
                        l->read = true;
                        r = read_level(top, l, entry, ud);
                        if (r < 0)
                                break;
                }
                /* top < 0: moved away (sk_dirstack_pop said -ESTALE). */
                if (top < 0 || l->next == l->n) {
                        dlevel_clear(l);
                        r = sk_dirstack_pop(&s);
                        if (r == -ESTALE) {
                                stale = true;
                                r = 0;
                        } else if (r >= 0 && depth > 1 && leave && (top = sk_dirstack_top(&s)) >= 0)
                                r = leave(top, lv[depth - 2].subdirs[lv[depth - 2].next - 1], ud);
                        continue;
                }
                int cfd = openat(top, l->subdirs[l->next++], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (cfd < 0) {
                        if (errno == ENOENT || errno == ENOTDIR)
                                continue; /* gone, or replaced since the stat */
                        r = negative_errno();
                        break;
                }
                r = sk_dirstack_push(&s, cfd);
        }
        for (size_t i = 0; i < cap; i++)
                dlevel_clear(&lv[i]);
        free(lv);
        sk_dirstack_free(&s);
        return r < 0 ? r : stale ? -ESTALE : 0;
}
