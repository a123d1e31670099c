/* DESIGN
 * An openat()/fdopendir() walk: thread-safe (no chdir, no nftw global state).
 * The tree is a container's, so its depth is the container's choice: the walk
 * (sk_dirwalk) keeps its stack on the heap, not in C recursion that a deep
 * tree would overflow in snapkeepd, and holds a bounded number of open
 * directories. A directory moved away meanwhile is not counted, like one
 * removed. Only inodes that
 * could be seen twice (non-directories with st_nlink > 1) go into the hash set
 * that removes duplicates; everything else is counted directly. */
#include "snapshot/usage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/dirstack.h"
#include "common/inomap.h"
#include "common/macro.h"

typedef struct du_state {
        sk_inomap *seen;        /* inodes already counted; made on first use */
        int64_t size, inodes;
} du_state;

static int account(du_state *st, const struct stat *sb) {
        if (!S_ISDIR(sb->st_mode) && sb->st_nlink > 1) {
                if (!st->seen) {
                        int r = sk_inomap_new(0, 0, &st->seen);
                        if (r < 0)
                                return r;
                }
                int r = sk_inomap_get(st->seen, sb->st_dev, sb->st_ino, NULL);
                if (r <= 0)
                        return r;
        }
        st->size += (int64_t) sb->st_blocks * 512;
        st->inodes++;
        return 0;
}

typedef struct du_walk {
        du_state *st;
        dev_t dev;
} du_walk;

static int du_entry(int dirfd, const char *name, const struct stat *sb, void *ud) {
        du_walk *w = ud;
        (void) dirfd;
        (void) name;
        int r = account(w->st, sb);
        if (r < 0)
                return r;
        return S_ISDIR(sb->st_mode) && sb->st_dev == w->dev;
}

/* Takes ownership of fd. */
static int walk_dir(du_state *st, int fd, dev_t dev) {
        du_walk w = { .st = st, .dev = dev };
        int r = sk_dirwalk(fd, du_entry, NULL, &w);
        return r == -ESTALE ? 0 : r;
}

int sk_disk_usage(const char *path, sk_usage *ret) {
        du_state st = {};
        struct stat sb;
        int r;

        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &sb) < 0) {
                r = negative_errno();
                close(fd);
                return r;
        }
        r = account(&st, &sb);
        if (r < 0) {
                close(fd);
                goto out;
        }
        r = walk_dir(&st, fd, sb.st_dev);
        if (r < 0)
                goto out;
        ret->size = st.size;
        ret->inodes = st.inodes;
out:
        sk_inomap_free(st.seen);
        return r;
}
