#include "plugin/socket.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/fsutil.h"
#include "common/macro.h"

static int probe_live(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, path); /* length checked by the caller */

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                return 1;
        /* ECONNREFUSED: nobody listens; ENOENT: gone meanwhile. */
        return 0;
}

int sk_socket_prepare(const char *path) {
        struct sockaddr_un sa;
        if (!path || path[0] != '/')
                return -EINVAL;
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;

        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (slash == dir)
                slash[1] = '\0';
        else
                *slash = '\0';
        struct stat st;
        if (stat(dir, &st) < 0) {
                if (errno != ENOENT)
                        return negative_errno();
                int r = sk_mkdir_p(dir, 0711);
                if (r < 0)
                        return r;
                /* umask may have narrowed it; the socket's own mode decides
                 * who can connect, the directory only needs to be traversable. */
                if (chmod(dir, 0711) < 0)
                        return negative_errno();
        } else if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        int r = probe_live(path);
        if (r < 0)
                return r;
        if (r > 0)
                return -EADDRINUSE;
        if (unlink(path) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}
