/* snapkeep: the command line tool. Dispatch only; see cli/cli.h. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/crypto.h"
#include "repo/repo.h"
#include "cli/cli.h"
#include "cli/daemon-client.h"
#include "cli/ctimage.h"
#include "common/macro.h"

static const struct {
        const char *name;
        int (*fn)(sk_cli *cli, int argc, char **argv);
} commands[] = {
        { "repo", sk_cmd_repo },         { "backup", sk_cmd_backup },   { "backups", sk_cmd_backups },
        { "snapshots", sk_cmd_backups }, { "ls", sk_cmd_ls },           { "restore", sk_cmd_restore },
        { "diff", sk_cmd_diff },         { "check", sk_cmd_check },     { "forget", sk_cmd_forget },
        { "prune", sk_cmd_prune },       { "stats", sk_cmd_stats },     { "key", sk_cmd_key },
        { "index", sk_cmd_index },       { "version", sk_cmd_version }, { "help", sk_cmd_help },
        { "export", sk_cmd_export },     { "daemon", sk_cmd_daemon },   { "setup", sk_cmd_setup },
};

int main(int argc, char **argv) {
        sk_cli cli;

        /* Peak RSS: the backup's worker threads each get a glibc arena, and
         * chunk-sized buffers (up to 8 MiB) freed back to an arena stay
         * resident. Serving large buffers by mmap and capping the arenas
         * took a first backup from ~133 MB to ~60 MB peak RSS (restic: 125).
         * The threshold is 2 MiB, not lower: buffers of a typical (1 MiB)
         * chunk then come from the arenas and are reused, instead of being
         * fresh mappings whose pages the kernel faults in and zeroes every
         * time (measured: sys time -20% for a first backup and -20% for a
         * restore, for +8 MB peak RSS).
         * Setting the threshold also stops glibc's dynamic trim threshold,
         * leaving it at 128 KiB: an arena then gave its free top back to the
         * kernel after nearly every chunk and faulted it in again for the
         * next (a restore of 1.2 GB: 377,000 page faults, and 6.6 s of system
         * time against restic's 2.3 s). 8 MiB (four times the largest
         * arena allocation, since larger ones are mapped) keeps what the next
         * chunks and their decrypted copies need now that read-ahead spans
         * reuse their buffers: a 1.2 GB restore took 44,000-51,000 faults
         * and 89-99 MiB peak RSS, against 62,000 and 108-109 MiB with 16 MiB
         * and full-pack spans, in the same time (4 MiB: 100,000 faults and
         * 5-15% slower; docs/PERFORMANCE.md). */
        mallopt(M_MMAP_THRESHOLD, 2 << 20);
        mallopt(M_TRIM_THRESHOLD, 8 << 20);
        mallopt(M_ARENA_MAX, 2);
        /* Before anything allocates through OpenSSL: scrypt's working memory
         * in huge pages (repo/crypto.h), about 90 ms of every command that
         * opens a repository with a passphrase. */
        (void) sk_crypto_use_huge_pages();

        sk_cli_init(&cli, "snapkeep");
        sk_cli_install_signals();

        /* Global options before the command name ('+': stop at the first
         * non-option, which is the command); the same parser as every
         * command's, so the two cannot drift apart. */
        opterr = 1;
        int c = sk_cli_getopt(&cli, argc, argv, "+", NULL, NULL);
        if (c == 'h')
                return SK_EXIT_OK;
        if (c != -1)
                return SK_EXIT_USAGE;
        if (optind >= argc) {
                fputs(sk_help_main, stderr);
                return SK_EXIT_USAGE;
        }
        const char *name = argv[optind];
        int rc = -1;
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(commands[i].name, name) == 0) {
                        int base = optind;
                        optind = 0;     /* re-initialise getopt for the command's own argv */
                        rc = commands[i].fn(&cli, argc - base, argv + base);
                        break;
                }
        sk_repo_free(TAKE_PTR(cli.opened_repo)); /* not taken: the command failed before opening */
        if (rc < 0) {
                fprintf(stderr, "snapkeep: unknown command '%s'\nTry 'snapkeep --help'.\n", name);
                return SK_EXIT_USAGE;
        }
        if (cli.js.error < 0) {
                fprintf(stderr, "snapkeep: writing JSON output: %s\n", strerror(-cli.js.error));
                return rc ? rc : SK_EXIT_ERROR;
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
                perror("snapkeep: writing output");
                return rc ? rc : SK_EXIT_ERROR;
        }
        return rc;
}
