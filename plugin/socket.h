/* Preparing a unix-socket path for the server.
 *
 * gRPC unlinks whatever sits at a unix-socket path before it binds, which
 * would silently take the socket away from a daemon that is still running.
 * This check runs first: a stale socket (nobody accepts on it) is removed, a
 * live one is an error, and so is any other kind of file. */
#pragma once

/* Create the parent directory of path if missing (mode 0711; an existing
 * directory is left as it is) and clear a stale socket at path.
 * -ENAMETOOLONG if path does not fit sockaddr_un, -EADDRINUSE if a server
 * answers on it, -EEXIST if it is not a socket. */
int sk_socket_prepare(const char *path);
