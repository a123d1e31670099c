#include "tests/lib/testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

char *sk_test_mkdtemp(const char *prefix) {
        const char *tmp = getenv("TMPDIR");
        char *path = NULL;
        if (asprintf(&path, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix) < 0)
                return NULL;
        if (!mkdtemp(path)) {
                free(path);
                return NULL;
        }
        return path;
}

int sk_test_count_fds(void) {
        int n = 0;
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return -1;
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

int sk_test_chain(const char *dir, int depth, int create) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        for (int i = 0; fd >= 0 && i < depth; i++) {
                if (create && mkdirat(fd, "d", 0755) < 0) {
                        close(fd);
                        return -errno;
                }
                int c = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                close(fd);
                fd = c;
        }
        return fd < 0 ? -errno : fd;
}
