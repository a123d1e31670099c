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
#include "common/macro.h"

typedef struct inode_set {
        struct { dev_t dev; ino_t ino; } *slots; /* ino == 0 marks an empty slot */
        size_t cap, n;
} inode_set;

static size_t hash_inode(dev_t dev, ino_t ino) {
        uint64_t h = (uint64_t) ino * 0x9E3779B97F4A7C15ull ^ (uint64_t) dev * 0xC2B2AE3D27D4EB4Full;
        return (size_t) (h ^ (h >> 29));
}

/* 1 if newly added, 0 if present, -ENOMEM. */
static int inode_set_add(inode_set *s, dev_t dev, ino_t ino) {
        if (ino == 0)
                ino = (ino_t) -1; /* keep 0 as the empty marker; no real fs hands out both */
        if ((s->n + 1) * 2 > s->cap) {
                size_t ncap = s->cap ? s->cap * 2 : 64;
                __typeof__(s->slots) ns = calloc(ncap, sizeof(*ns));
                if (!ns)
                        return -ENOMEM;
                for (size_t i = 0; i < s->cap; i++) {
                        if (s->slots[i].ino == 0)
                                continue;
                        size_t j = hash_inode(s->slots[i].dev, s->slots[i].ino) & (ncap - 1);
                        while (ns[j].ino != 0)
                                j = (j + 1) & (ncap - 1);
                        ns[j] = s->slots[i];
                }
                free(s->slots);
                s->slots = ns;
                s->cap = ncap;
        }
        size_t j = hash_inode(dev, ino) & (s->cap - 1);
        while (s->slots[j].ino != 0) {
                if (s->slots[j].ino == ino && s->slots[j].dev == dev)
                        return 0;
                j = (j + 1) & (s->cap - 1);
        }
        s->slots[j].dev = dev;
        s->slots[j].ino = ino;
        s->n++;
        return 1;
}

typedef struct du_state {
        inode_set seen;
        int64_t size, inodes;
} du_state;

static int account(du_state *st, const struct stat *sb) {
        if (!S_ISDIR(sb->st_mode) && sb->st_nlink > 1) {
                int r = inode_set_add(&st->seen, sb->st_dev, sb->st_ino);
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
        free(st.seen.slots);
        return r;
}
