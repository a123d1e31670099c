/* no-uring: run a command with io_uring made unavailable.
 *
 * Usage: no-uring [--no-fallocate] COMMAND [ARG...]
 *
 * --no-fallocate also makes fallocate(2) fail with EOPNOTSUPP, what a
 * filesystem without it answers (the restore then relies on the data to
 * give a file its size).
 *
 * Installs a seccomp filter that makes io_uring_setup(2), io_uring_enter(2)
 * and io_uring_register(2) fail with EPERM (what a container runtime's
 * default profile or kernel.io_uring_disabled=2 gives), then execs COMMAND.
 * The filter is inherited by every child, so whatever the command starts
 * sees no io_uring either. Tests use it to show that the I/O engine falls
 * back to its thread pool by itself. Exit 127 if the filter cannot be
 * installed or the command cannot be run. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define SK_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SK_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "no-uring: add this architecture's AUDIT_ARCH_*"
#endif

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#define __NR_io_uring_enter 426
#define __NR_io_uring_register 427
#endif

#define DENY(nr, err)                                                     \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                   \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((err) & SECCOMP_RET_DATA))

int main(int argc, char **argv) {
        int arg = 1;
        /* without the option, fallocate's rule names a number no call has */
        long fallocate_nr = -1;
        if (argc > 1 && strcmp(argv[1], "--no-fallocate") == 0) {
                fallocate_nr = __NR_fallocate;
                arg++;
        }
        if (argc <= arg) {
                fprintf(stderr, "usage: %s [--no-fallocate] COMMAND [ARG...]\n", argv[0]);
                return 127;
        }
        struct sock_filter filter[] = {
                /* A foreign architecture's numbers mean other calls: let them be. */
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SK_AUDIT_ARCH, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                DENY(__NR_io_uring_setup, EPERM),
                DENY(__NR_io_uring_enter, EPERM),
                DENY(__NR_io_uring_register, EPERM),
                DENY((__u32) fallocate_nr, EOPNOTSUPP),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = (unsigned short) (sizeof(filter) / sizeof(filter[0])), .filter = filter };

        /* Needed to install a filter without CAP_SYS_ADMIN; harmless as root. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                fprintf(stderr, "no-uring: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
                return 127;
        }
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
                fprintf(stderr, "no-uring: installing the seccomp filter: %s\n", strerror(errno));
                return 127;
        }
        execvp(argv[arg], argv + arg);
        fprintf(stderr, "no-uring: %s: %s\n", argv[arg], strerror(errno));
        return 127;
}
