/* Room common/: what every room may use and that knows no snapkeep concept:
 * cleanup macros (this file), durable writes and the one directory-listing
 * helper (fsutil), the bounded descriptor stack for deep walks (dirstack), the
 * one (dev, ino) map (inomap), UTF-8 checks, and the logger, which only the
 * shells (plugin/, cli/) include. Uses no other room (Makefile DEPS_common). */
/* Small macros shared by every directory: cleanup attributes, ownership
 * transfer and array sizes. Nothing here allocates or prints. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)
#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Declare a cleanup function for a type whose free function accepts NULL:
 * DEFINE_TRIVIAL_CLEANUP_FUNC(sk_repo *, sk_repo_free) gives sk_repo_freep. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p) { if (*p) func(*p); }

/* Hand ownership out of a _cleanup_ variable: returns the value, leaves NULL. */
#define TAKE_PTR(ptr) ({ __typeof__(ptr) _p = (ptr); (ptr) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

/* errno as a negative return, never 0 (a libc call that failed without setting
 * errno must not look like success). */
static inline int negative_errno(void) { return errno > 0 ? -errno : -EIO; }

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
