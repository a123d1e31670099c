/* Room cli/: the snapkeep command's shell: option parsing, commands
 * (cmd-*.c), output (JSON through jansson) and the client of snapkeepd's admin
 * socket. It reads flags and the environment and prints; the rooms below it
 * return -errno and details. Uses every room but plugin/ (Makefile DEPS_cli). */
/* The snapkeep command line: shared context, option parsing, repository
 * opening, exit codes and output helpers.
 *
 * DESIGN: the CLI is thin. Every command parses its arguments (getopt_long
 * with the global options merged into its own table, so --repo, --json...
 * work before or after the command name), opens the repository through
 * repo/repo.h, calls one engine function and renders its result structs and
 * callbacks as text or --json. No backup logic lives here. Errors are reported
 * once, at the point where we know the most (naming the repository, backup,
 * pack or file), and mapped to the documented exit codes below. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "backup/engine.h"
#include "repo/keyring.h"
#include "store/backend.h"
#include "cli/json.h"

/* Exit codes (documented in `snapkeep --help` and snapkeep(1)). */
enum {
        SK_EXIT_OK = 0,
        SK_EXIT_USAGE = 1,      /* bad command line */
        SK_EXIT_ERROR = 2,      /* repository or I/O error, operation not done */
        SK_EXIT_KEY = 3,        /* wrong passphrase or key file / no secret given */
        SK_EXIT_INTEGRITY = 4,  /* corruption found, or some files failed (partial result) */
        SK_EXIT_LOCKED = 5,     /* repository locked by another process */
        SK_EXIT_NOT_FOUND = 6,  /* repository, backup or path does not exist */
        SK_EXIT_INTERRUPTED = 130,
};

typedef struct sk_cli {
        const char *prog;
        const char *command;    /* "backup", "key add", ... for messages */
        char *repo_url;         /* --repo or $SNAPKEEP_REPO (borrowed) */
        const char *password_file;
        const char *key_file;
        bool json;
        bool quiet;
        int verbose;
        bool progress;          /* stderr is a TTY and not --quiet */
        uint8_t scrypt_log2n;   /* repo init / key add / passwd: 0 = default */
        unsigned lock_wait;     /* --lock-wait SECONDS (prune, forget, index rebuild, restore, check) */
        sk_json js;
        bool json_problems;     /* problem callback also writes a JSON object into the open array */
        uint64_t problems;      /* SK_PROBLEM_ERROR reports seen */
        uint64_t warnings;
        uint64_t exists;        /* problems that were -EEXIST (restore: hint at --overwrite) */
        /* A repository a dispatching command already opened (restore looks
         * at the backup before choosing the container or the plain path):
         * the next sk_cli_open_repo() takes it instead of opening again, so
         * the passphrase is asked once and the metadata read once. */
        sk_repo *opened_repo;
        /* Storage settings (S3, metadata cache): --s3-endpoint and a command's
         * choice to bypass the cache win over the environment; see
         * sk_cli_setting(). store points back at this sk_cli. */
        const char *s3_endpoint;
        bool no_cache;
        sk_store_options store;
} sk_cli;

/* Global option ids (values above any short option char). */
enum {
        SK_OPT_REPO = 0x1000,
        SK_OPT_JSON,
        SK_OPT_QUIET,
        SK_OPT_VERBOSE,
        SK_OPT_PASSWORD_FILE,
        SK_OPT_KEY_FILE,
        SK_OPT_HELP,
        SK_OPT_NO_PROGRESS,
        SK_OPT_PASSWORD_ARGV,   /* --password/--passphrase: refused (secrets never in argv) */
        SK_OPT_S3_ENDPOINT,     /* --s3-endpoint URL: the S3 backend's SNAPKEEP_S3_ENDPOINT setting */
        SK_OPT_FIRST_COMMAND_OPTION,
};

/* The global options, terminated; merged into each command's table by
 * sk_cli_getopt(). */
extern const struct option sk_cli_global_options[];

/* getopt_long over argv with cmd_opts + the global options. Returns the
 * option id like getopt_long; global options are handled inside (and
 * skipped); --help prints help_text and returns 'h'. -1 at the end, '?' on a
 * usage error (message already printed). */
int sk_cli_getopt(sk_cli *cli, int argc, char **argv, const char *shortopts, const struct option *cmd_opts,
                  const char *help_text);

/* The message for --password/--passphrase; returns SK_EXIT_USAGE. */
int sk_cli_refuse_argv_secret(sk_cli *cli);

/* Set up from the environment before option parsing. */
void sk_cli_init(sk_cli *cli, const char *prog);
/* Final setup after option parsing (progress on a TTY, JSON writer). */
void sk_cli_setup(sk_cli *cli);

/* Print "snapkeep COMMAND: message" (or "snapkeep: ..." if no command), a
 * usage hint, and return SK_EXIT_USAGE. */
int sk_cli_usage_error(sk_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report an error and return the exit code for -errno r (see table above).
 * The message names what failed; the repository's detail
 * (sk_repo_last_error) is appended when there is one. */
int sk_cli_fail(sk_cli *cli, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int sk_cli_exit_code(int r);

/* Obtain the secret for opening the repository: --key-file /
 * SNAPKEEP_KEY_FILE, --password-file / SNAPKEEP_PASSWORD_FILE, else a TTY
 * prompt without echo. Owned result (sk_secret_free() wipes it). Returns an
 * exit code (SK_EXIT_OK on success), having printed the reason otherwise. */
int sk_cli_get_secret(sk_cli *cli, sk_secret **ret);
/* A new secret (repo init, key add, key passwd): from new_key_file,
 * new_password_file, or prompted twice on the TTY. */
int sk_cli_get_new_secret(sk_cli *cli, const char *new_password_file, const char *new_key_file,
                          sk_secret **ret);

/* Open the repository named by --repo/SNAPKEEP_REPO with the secret; on
 * failure print a clear message ("wrong passphrase or key file for repository
 * X", "no repository at X") and return the exit code. */
int sk_cli_open_repo(sk_cli *cli, sk_repo **ret);

/* After a command's options: refuse any argument left (usage error), set up
 * (sk_cli_setup) and open the repository. Returns an exit code. */
int sk_cli_finish_and_open(sk_cli *cli, int argc, char **argv, sk_repo **ret);

/* With --json, open the command's result object and its "problems" array, into
 * which sk_cli_problem_cb then writes (key: the member the object is under, or
 * NULL at top level); _end closes the array, leaving the object open for the
 * command's counters. Both do nothing without --json. */
void sk_cli_json_problems_begin(sk_cli *cli, const char *key);
void sk_cli_json_problems_end(sk_cli *cli);

/* Append arg (borrowed from argv) to a growing list of option values; prints
 * and returns SK_EXIT_ERROR if out of memory, else SK_EXIT_OK. */
int sk_cli_list_add(sk_cli *cli, const char ***list, size_t *n, const char *arg);

/* --lock-wait SECONDS (0..86400) into cli->lock_wait; a usage error (printed,
 * SK_EXIT_USAGE) if it is not one. */
int sk_cli_parse_lock_wait(sk_cli *cli, const char *arg);

/* How long restore and check wait by default for a prune that holds the
 * repository's exclusive lock: snapkeepd prunes on its own schedule, and a
 * prune is short, so a reader waits for it rather than failing. */
#define SK_CLI_READ_LOCK_WAIT 60

/* A backup's summary as a JSON object (backup --json, backups --json). */
void sk_cli_summary_json(sk_json *j, const sk_backup_summary *s);

/* Engine callbacks that render through the CLI (userdata = sk_cli*). */
int sk_cli_progress_cb(const sk_progress *p, void *userdata);
void sk_cli_problem_cb(const sk_problem *p, void *userdata);
/* Clear the progress line (before printing ordinary output). */
void sk_cli_progress_done(sk_cli *cli);

/* Print a byte string for humans: printable bytes as they are, valid UTF-8 as
 * it is, everything else as \xNN (so names with newlines or invalid bytes are
 * unambiguous on one line). */
void sk_cli_put_name(FILE *f, const char *s);

/* Parse a decimal number / a size with optional K, M, G suffix (powers of
 * 1024; "KiB", "MB" accepted). -EINVAL otherwise. */
int sk_cli_parse_u64(const char *s, uint64_t *ret);
int sk_cli_parse_size(const char *s, uint64_t *ret);

/* Human sizes: "1.5 GiB". buf at least 32 bytes. */
const char *sk_cli_format_size(uint64_t v, char *buf, size_t size);

/* Set by SIGINT/SIGTERM; the progress callback then cancels the operation. */
extern volatile int sk_cli_interrupted;
void sk_cli_install_signals(void);

/* Commands: each returns an exit code. argv[0] is the command name. */
int sk_cmd_repo(sk_cli *cli, int argc, char **argv);
int sk_cmd_backup(sk_cli *cli, int argc, char **argv);
int sk_cmd_backups(sk_cli *cli, int argc, char **argv);
int sk_cmd_ls(sk_cli *cli, int argc, char **argv);
/* The restore of a directory-tree backup, after `snapkeep restore` parsed its
 * options once (cli/cmd-ctimage.c routes container backups elsewhere): opts
 * holds the target, includes and flags; io_arg is --io's value or NULL. Takes
 * cli->opened_repo if the router opened the repository already. */
struct sk_restore_options;
int sk_cli_restore_tree(sk_cli *cli, const char *id, struct sk_restore_options *opts, const char *io_arg);
int sk_cmd_diff(sk_cli *cli, int argc, char **argv);
int sk_cmd_check(sk_cli *cli, int argc, char **argv);
int sk_cmd_forget(sk_cli *cli, int argc, char **argv);
int sk_cmd_prune(sk_cli *cli, int argc, char **argv);
int sk_cmd_stats(sk_cli *cli, int argc, char **argv);
int sk_cmd_key(sk_cli *cli, int argc, char **argv);
int sk_cmd_index(sk_cli *cli, int argc, char **argv);
int sk_cmd_version(sk_cli *cli, int argc, char **argv);
int sk_cmd_help(sk_cli *cli, int argc, char **argv);
int sk_cmd_setup(sk_cli *cli, int argc, char **argv);

/* Help texts (help.c). */
extern const char sk_help_main[];
const char *sk_help_for(const char *command);

#define SNAPKEEP_VERSION "0.1.0"
