/* A stack of open directories for walks of trees whose depth someone else
 * chooses (a container's files): no C recursion, and a bounded number of
 * descriptors however deep the tree is.
 *
 * Only the SK_DIRSTACK_FDS newest levels keep their descriptor open. An older
 * one is closed when a deeper level is pushed, and re-opened as ".." of its
 * child when the walk pops back to it, which must give the same (dev, ino):
 * a directory moved meanwhile is -ESTALE, never some other directory. The
 * caller keeps whatever else it needs per level in its own array indexed by
 * depth (sk_dirstack_depth() - 1 is the top). */
#pragma once

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define SK_DIRSTACK_FDS 16

typedef struct sk_dirstack_level {
        int fd;                 /* -1 while closed */
        dev_t dev;
        ino_t ino;
} sk_dirstack_level;

typedef struct sk_dirstack {
        sk_dirstack_level *l;
        size_t n, cap;
        size_t lowest_open;     /* levels below this one are closed */
} sk_dirstack;

#define SK_DIRSTACK_INIT { .l = NULL }

/* Push directory fd (taken over, also on failure). */
int sk_dirstack_push(sk_dirstack *s, int fd);
/* The top level's descriptor (open), or -1 if the stack is empty. */
int sk_dirstack_top(const sk_dirstack *s);
static inline size_t sk_dirstack_depth(const sk_dirstack *s) { return s->n; }
/* Close the top level and make its parent the top, re-opening it if needed.
 * -ESTALE: the parent is no longer the child's ".." (it was moved); the top
 * is popped anyway and the parent stays closed (pop it too). */
int sk_dirstack_pop(sk_dirstack *s);
void sk_dirstack_free(sk_dirstack *s);

/* Called for every entry of a directory walked, with that directory open as
 * dirfd and the entry's lstat (borrowed). Return 1 to enter it (only for a
 * directory), 0 not to, < 0 to stop the walk with that error. */
typedef int (*sk_dirwalk_entry_fn)(int dirfd, const char *name, const struct stat *st, void *userdata);
/* Called when every entry below an entered directory was seen, with its
 * parent open as dirfd (e.g. to remove it). < 0 stops the walk. */
typedef int (*sk_dirwalk_leave_fn)(int dirfd, const char *name, void *userdata);

/* Walk the tree below directory fd (taken over) depth-first on a heap stack
 * (sk_dirstack: bounded descriptors). A directory's entries are read whole
 * before any is entered; entries that vanish meanwhile (ENOENT) are skipped.
 * A directory moved away during the walk is not finished: the walk goes on
 * and returns -ESTALE at the end. leave may be NULL. */
int sk_dirwalk(int fd, sk_dirwalk_entry_fn entry, sk_dirwalk_leave_fn leave, void *userdata);
