#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "repo/repo.h"
#include "common/macro.h"

volatile int sk_cli_interrupted;

const struct option sk_cli_global_options[] = {
        { "repo", required_argument, NULL, SK_OPT_REPO },
        { "json", no_argument, NULL, SK_OPT_JSON },
        { "quiet", no_argument, NULL, SK_OPT_QUIET },
        { "verbose", no_argument, NULL, SK_OPT_VERBOSE },
        { "password-file", required_argument, NULL, SK_OPT_PASSWORD_FILE },
        { "key-file", required_argument, NULL, SK_OPT_KEY_FILE },
        { "no-progress", no_argument, NULL, SK_OPT_NO_PROGRESS },
        { "s3-endpoint", required_argument, NULL, SK_OPT_S3_ENDPOINT },
        { "help", no_argument, NULL, SK_OPT_HELP },
        /* Exact names win over getopt's prefix matching, so "--password X"
         * is refused instead of being taken as "--password-file X". */
        { "password", required_argument, NULL, SK_OPT_PASSWORD_ARGV },
        { "passphrase", required_argument, NULL, SK_OPT_PASSWORD_ARGV },
        {}
};

int sk_cli_refuse_argv_secret(sk_cli *cli) {
        fprintf(stderr,
                "%s%s%s: error: passphrases are never taken from the command line (other users can read it); "
                "use --password-file FILE, SNAPKEEP_PASSWORD_FILE, --key-file FILE or the terminal prompt\n",
                cli->prog, cli->command ? " " : "", cli->command ? cli->command : "");
        return SK_EXIT_USAGE;
}

/* The storage settings the CLI gives a repository: its own flags first,
 * then the environment variable of the same name (store/backend-s3.h lists
 * them). */
static const char *cli_setting(const char *name, void *userdata) {
        sk_cli *cli = userdata;
        if (cli->s3_endpoint && strcmp(name, "SNAPKEEP_S3_ENDPOINT") == 0)
                return cli->s3_endpoint;
        if (cli->no_cache && strcmp(name, "SNAPKEEP_CACHE_DIR") == 0)
                return "off";
        return getenv(name);
}

void sk_cli_init(sk_cli *cli, const char *prog) {
        *cli = (sk_cli){ .prog = prog };
        cli->store = (sk_store_options){ .setting = cli_setting, .userdata = cli };
        cli->repo_url = getenv("SNAPKEEP_REPO");
        cli->password_file = getenv("SNAPKEEP_PASSWORD_FILE");
        cli->key_file = getenv("SNAPKEEP_KEY_FILE");
        if (cli->repo_url && !*cli->repo_url)
                cli->repo_url = NULL;
        if (cli->password_file && !*cli->password_file)
                cli->password_file = NULL;
        if (cli->key_file && !*cli->key_file)
                cli->key_file = NULL;
        cli->js = SK_JSON_INIT(stdout);
        cli->progress = true;
}

void sk_cli_setup(sk_cli *cli) {
        cli->progress = cli->progress && !cli->quiet && isatty(STDERR_FILENO);
}

/* Merge cmd_opts and the global table into one array (cached per table). */
static const struct option *merged_options(const struct option *cmd_opts) {
        static const struct option *cached_for;
        static struct option merged[128];
        if (cached_for == cmd_opts && cmd_opts)
                return merged;
        size_t n = 0;
        for (const struct option *o = cmd_opts; o && o->name && n < ARRAY_SIZE(merged) - 1; o++)
                merged[n++] = *o;
        for (const struct option *o = sk_cli_global_options; o->name && n < ARRAY_SIZE(merged) - 1; o++)
                merged[n++] = *o;
        merged[n] = (struct option){};
        cached_for = cmd_opts;
        return merged;
}

int sk_cli_getopt(sk_cli *cli, int argc, char **argv, const char *shortopts, const struct option *cmd_opts,
                  const char *help_text) {
        const struct option *opts = merged_options(cmd_opts);
        char so[128];
        /* Leading ':' is not used: getopt prints its own clear message. 'h'
         * is --help everywhere; 'q' is --quiet, 'v' --verbose, 'r' --repo. */
        snprintf(so, sizeof(so), "%shqvr:", shortopts ? shortopts : "");
        for (;;) {
                int c = getopt_long(argc, argv, so, opts, NULL);
                switch (c) {
                case 'r':
                case SK_OPT_REPO: cli->repo_url = optarg; continue;
                case SK_OPT_JSON: cli->json = true; continue;
                case 'q':
                case SK_OPT_QUIET: cli->quiet = true; continue;
                case 'v':
                case SK_OPT_VERBOSE: cli->verbose++; continue;
                case SK_OPT_PASSWORD_FILE: cli->password_file = optarg; continue;
                case SK_OPT_KEY_FILE: cli->key_file = optarg; continue;
                case SK_OPT_NO_PROGRESS: cli->progress = false; continue;
                case SK_OPT_S3_ENDPOINT: cli->s3_endpoint = optarg; continue;
                case SK_OPT_PASSWORD_ARGV:
                        if (optarg)
                                explicit_bzero(optarg, strlen(optarg));
                        sk_cli_refuse_argv_secret(cli);
                        return '?';
                case 'h':
                case SK_OPT_HELP:
                        fputs(help_text ? help_text : sk_help_main, stdout);
                        return 'h';
                case '?':
                        fprintf(stderr, "Try '%s%s%s --help'.\n", cli->prog, cli->command ? " " : "",
                                cli->command ? cli->command : "");
                        return '?';
                default: return c;
                }
        }
}

int sk_cli_usage_error(sk_cli *cli, const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "%s%s%s: ", cli->prog, cli->command ? " " : "", cli->command ? cli->command : "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry '%s%s%s --help'.\n", cli->prog, cli->command ? " " : "", cli->command ? cli->command : "");
        return SK_EXIT_USAGE;
}

int sk_cli_exit_code(int r) {
        if (r >= 0)
                return SK_EXIT_OK;
        switch (-r) {
        case EKEYREJECTED: return SK_EXIT_KEY;
        case EBADMSG: return SK_EXIT_INTEGRITY;
        case EBUSY: return SK_EXIT_LOCKED;
        case ENOENT: return SK_EXIT_NOT_FOUND;
        case ECANCELED:
        case EINTR: return SK_EXIT_INTERRUPTED;
        case EINVAL: return SK_EXIT_USAGE;
        default: return SK_EXIT_ERROR;
        }
}

static const char *errno_text(int r) {
        switch (-r) {
        case EKEYREJECTED: return "wrong passphrase or key file";
        case EBADMSG: return "corrupt data";
        case EBUSY: return "repository is locked";
        case EPROTO: return "unsupported repository format version or feature";
        case ENOTUNIQ: return "ambiguous backup id prefix";
        case ECANCELED: return "interrupted";
        case ESTALE: return "repository lock lost";
        default: return strerror(-r);
        }
}

int sk_cli_fail(sk_cli *cli, int r, const char *fmt, ...) {
        va_list ap;
        const char *detail = sk_repo_last_error(NULL);
        sk_cli_progress_done(cli);
        fprintf(stderr, "%s%s%s: error: ", cli->prog, cli->command ? " " : "", cli->command ? cli->command : "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, ": %s", errno_text(r));
        if (detail && *detail)
                fprintf(stderr, " (%s)", detail);
        fputc('\n', stderr);
        return sk_cli_exit_code(r);
}

/* --- secrets --------------------------------------------------------------- */

/* Read one line from the controlling terminal with echo off. buf is wiped by
 * the caller. Returns length, or -errno (-ENOTTY if there is no terminal). */
static ssize_t tty_read_secret(const char *prompt, char *buf, size_t size) {
        _cleanup_close_ int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return -ENOTTY;
        struct termios old, raw;
        if (tcgetattr(fd, &old) < 0)
                return -ENOTTY;
        raw = old;
        raw.c_lflag &= ~(tcflag_t) (ECHO | ECHONL);
        raw.c_lflag |= ICANON;
        if (write(fd, prompt, strlen(prompt)) < 0)
                return -errno;
        if (tcsetattr(fd, TCSAFLUSH, &raw) < 0)
                return -errno;
        size_t n = 0;
        ssize_t r = 0;
        for (;;) {
                char c;
                r = read(fd, &c, 1);
                if (r < 0 && errno == EINTR && !sk_cli_interrupted)
                        continue;
                if (r <= 0 || c == '\n' || c == '\r')
                        break;
                if (n + 1 < size)
                        buf[n++] = c;
        }
        int saved = errno;
        (void) tcsetattr(fd, TCSAFLUSH, &old);
        (void) !write(fd, "\n", 1);
        if (r < 0)
                return sk_cli_interrupted ? -ECANCELED : -saved;
        buf[n] = 0;
        return (ssize_t) n;
}

static int secret_from_file(sk_cli *cli, sk_secret_kind kind, const char *path, sk_secret **ret) {
        int r = sk_secret_from_file(kind, path, ret);
        if (r < 0) {
                const char *what = kind == SK_SECRET_KEYFILE ? "key file" : "password file";
                if (r == -EINVAL)
                        fprintf(stderr, "%s %s: error: %s %s is empty or larger than 64 KiB\n", cli->prog,
                                cli->command ? cli->command : "", what, path);
                else
                        fprintf(stderr, "%s %s: error: cannot read %s %s: %s\n", cli->prog,
                                cli->command ? cli->command : "", what, path, strerror(-r));
                return r == -EINVAL ? SK_EXIT_USAGE : SK_EXIT_ERROR;
        }
        return SK_EXIT_OK;
}

static int prompt_secret(sk_cli *cli, const char *prompt, bool confirm, sk_secret **ret) {
        char a[4096], b[4096];
        ssize_t la = tty_read_secret(prompt, a, sizeof(a));
        if (la < 0) {
                explicit_bzero(a, sizeof(a));
                if (la == -ECANCELED)
                        return SK_EXIT_INTERRUPTED;
                fprintf(stderr,
                        "%s %s: error: no passphrase given: use --password-file FILE, "
                        "SNAPKEEP_PASSWORD_FILE, --key-file FILE, or run on a terminal\n",
                        cli->prog, cli->command ? cli->command : "");
                return SK_EXIT_KEY;
        }
        if (la == 0) {
                explicit_bzero(a, sizeof(a));
                fprintf(stderr, "%s %s: error: empty passphrase\n", cli->prog, cli->command ? cli->command : "");
                return SK_EXIT_KEY;
        }
        if (confirm) {
                ssize_t lb = tty_read_secret("Repeat the passphrase: ", b, sizeof(b));
                bool same = lb == la && memcmp(a, b, (size_t) la) == 0;
                explicit_bzero(b, sizeof(b));
                if (!same) {
                        explicit_bzero(a, sizeof(a));
                        fprintf(stderr, "%s %s: error: the passphrases do not match\n", cli->prog,
                                cli->command ? cli->command : "");
                        return SK_EXIT_KEY;
                }
        }
        int r = sk_secret_new(SK_SECRET_PASSPHRASE, a, (size_t) la, ret);
        explicit_bzero(a, sizeof(a));
        if (r < 0)
                return sk_cli_fail(cli, r, "cannot use the passphrase");
        return SK_EXIT_OK;
}

int sk_cli_get_secret(sk_cli *cli, sk_secret **ret) {
        if (cli->key_file)
                return secret_from_file(cli, SK_SECRET_KEYFILE, cli->key_file, ret);
        if (cli->password_file)
                return secret_from_file(cli, SK_SECRET_PASSPHRASE, cli->password_file, ret);
        char prompt[512];
        snprintf(prompt, sizeof(prompt), "Passphrase for repository %s: ", cli->repo_url ? cli->repo_url : "");
        return prompt_secret(cli, prompt, false, ret);
}

int sk_cli_get_new_secret(sk_cli *cli, const char *new_password_file, const char *new_key_file,
                          sk_secret **ret) {
        if (new_key_file)
                return secret_from_file(cli, SK_SECRET_KEYFILE, new_key_file, ret);
        if (new_password_file)
                return secret_from_file(cli, SK_SECRET_PASSPHRASE, new_password_file, ret);
        return prompt_secret(cli, "New passphrase: ", true, ret);
}

/* Test knob (docs/man ENVIRONMENT): a short lock stale time makes
 * stalled-writer races reproducible in seconds. Takes repo. */
static int set_lock_stale(sk_cli *cli, sk_repo *repo, sk_repo **ret) {
        const char *st = getenv("SNAPKEEP_LOCK_STALE_SECONDS");
        uint64_t sv;
        if (st && *st &&
            (sk_cli_parse_u64(st, &sv) < 0 || sv > 86400 || sk_repo_set_lock_stale(repo, (unsigned) sv) < 0)) {
                sk_repo_free(repo);
                return sk_cli_usage_error(cli, "invalid SNAPKEEP_LOCK_STALE_SECONDS: %s (2..86400)", st);
        }
        *ret = repo;
        return SK_EXIT_OK;
}

int sk_cli_open_repo(sk_cli *cli, sk_repo **ret) {
        if (cli->opened_repo)
                return set_lock_stale(cli, TAKE_PTR(cli->opened_repo), ret);
        if (!cli->repo_url)
                return sk_cli_usage_error(cli, "no repository given: use --repo URL or set SNAPKEEP_REPO");
        sk_secret *secret = NULL;
        int e = sk_cli_get_secret(cli, &secret);
        if (e != SK_EXIT_OK)
                return e;
        sk_repo *repo = NULL;
        int r = sk_repo_open_store(cli->repo_url, &cli->store, secret, &repo);
        sk_secret_free(secret);
        if (r == -EKEYREJECTED) {
                fprintf(stderr, "%s %s: error: wrong passphrase or key file for repository %s\n", cli->prog,
                        cli->command ? cli->command : "", cli->repo_url);
                return SK_EXIT_KEY;
        }
        if (r == -ENOENT) {
                const char *d = sk_repo_last_error(NULL);
                fprintf(stderr, "%s %s: error: no repository at %s%s%s%s (create one with 'snapkeep repo init')\n",
                        cli->prog, cli->command ? cli->command : "", cli->repo_url, d && *d ? " (" : "",
                        d && *d ? d : "", d && *d ? ")" : "");
                return SK_EXIT_NOT_FOUND;
        }
        if (r < 0)
                return sk_cli_fail(cli, r, "cannot open repository %s", cli->repo_url);
        return set_lock_stale(cli, repo, ret);
        return SK_EXIT_OK;
}

/* --- progress and problems ------------------------------------------------------ */

static struct timespec last_progress;
static bool progress_shown;

static const char *phase_name(sk_phase p) {
        switch (p) {
        case SK_PHASE_SCAN: return "scanning";
        case SK_PHASE_BACKUP: return "backing up";
        case SK_PHASE_RESTORE: return "restoring";
        case SK_PHASE_METADATA: return "metadata";
        case SK_PHASE_CHECK_TREES: return "checking trees";
        case SK_PHASE_CHECK_DATA: return "reading packs";
        case SK_PHASE_PRUNE: return "pruning";
        default: return "working";
        }
}

const char *sk_cli_format_size(uint64_t v, char *buf, size_t size) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        double d = (double) v;
        size_t u = 0;
        while (d >= 1024 && u + 1 < ARRAY_SIZE(units)) {
                d /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, size, "%llu B", (unsigned long long) v);
        else
                snprintf(buf, size, "%.1f %s", d, units[u]);
        return buf;
}

int sk_cli_progress_cb(const sk_progress *p, void *userdata) {
        sk_cli *cli = userdata;
        if (sk_cli_interrupted)
                return -ECANCELED;
        if (!cli->progress)
                return 0;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t ms = (now.tv_sec - last_progress.tv_sec) * 1000 + (now.tv_nsec - last_progress.tv_nsec) / 1000000;
        if (progress_shown && ms < 200)
                return 0;
        last_progress = now;
        char line[512], a[32], b[32];
        int n = snprintf(line, sizeof(line), "%s: %llu", phase_name(p->phase), (unsigned long long) p->files_done);
        if (p->files_total)
                n += snprintf(line + n, sizeof(line) - n, "/%llu", (unsigned long long) p->files_total);
        n += snprintf(line + n, sizeof(line) - n, " items, %s", sk_cli_format_size(p->bytes_done, a, sizeof(a)));
        if (p->bytes_total && n < (int) sizeof(line))
                n += snprintf(line + n, sizeof(line) - n, " / %s (%.0f%%)",
                              sk_cli_format_size(p->bytes_total, b, sizeof(b)),
                              100.0 * (double) p->bytes_done / (double) p->bytes_total);
        /* Fit the line to 79 columns: the current path is shown by its tail. */
        fprintf(stderr, "\r\033[K%s", line);
        if (p->current && n < 70) {
                size_t room = 76 - (size_t) n, len = strlen(p->current);
                const char *cur = len > room ? p->current + (len - room) : p->current;
                fputs(" ", stderr);
                for (const unsigned char *c = (const unsigned char *) cur; *c; c++)
                        fputc(*c < 0x20 || *c == 0x7f ? '?' : *c, stderr);
        }
        fflush(stderr);
        progress_shown = true;
        return 0;
}

void sk_cli_progress_done(sk_cli *cli) {
        (void) cli;
        if (progress_shown) {
                fputs("\r\033[K", stderr);
                fflush(stderr);
                progress_shown = false;
        }
}

void sk_cli_put_name(FILE *f, const char *s) {
        const unsigned char *c = (const unsigned char *) s;
        size_t n = strlen(s);
        while (n > 0) {
                size_t l = sk_utf8_seq_len(c, n);
                if (l == 0 || (l == 1 && (*c < 0x20 || *c == 0x7f || *c == '\\'))) {
                        fprintf(f, "\\x%02x", *c);
                        l = 1;
                } else
                        fwrite(c, 1, l, f);
                c += l;
                n -= l;
        }
}

void sk_cli_problem_cb(const sk_problem *p, void *userdata) {
        sk_cli *cli = userdata;
        if (p->error == -EEXIST)
                cli->exists++;
        if (p->kind == SK_PROBLEM_ERROR)
                cli->problems++;
        else
                cli->warnings++;
        if (cli->quiet && p->kind == SK_PROBLEM_WARNING)
                return;
        sk_cli_progress_done(cli);
        fprintf(stderr, "%s %s: %s: ", cli->prog, cli->command ? cli->command : "",
                p->kind == SK_PROBLEM_ERROR ? "error" : "warning");
        if (p->path) {
                sk_cli_put_name(stderr, *p->path ? p->path : "/");
                fputs(": ", stderr);
        }
        fputs(p->detail && *p->detail ? p->detail : errno_text(p->error ? p->error : -EIO), stderr);
        bool open = false;
        if (p->backup_id) {
                fprintf(stderr, " [backup %s", p->backup_id);
                open = true;
        }
        if (p->pack && (!p->detail || !strstr(p->detail, p->pack))) {
                fprintf(stderr, "%spack %s", open ? ", " : " [", p->pack);
                open = true;
        }
        if (p->blob && (!p->detail || !strstr(p->detail, p->blob))) {
                fprintf(stderr, "%sblob %s", open ? ", " : " [", p->blob);
                open = true;
        }
        if (open)
                fputc(']', stderr);
        fputc('\n', stderr);
        if (cli->json_problems) {
                sk_json *j = &cli->js;
                sk_json_begin_object(j);
                sk_json_kv_str(j, "kind", p->kind == SK_PROBLEM_ERROR ? "error" : "warning");
                sk_json_kv_i64(j, "errno", -p->error);
                sk_json_kv_str(j, "error", p->error ? errno_text(p->error) : NULL);
                sk_json_kv_str(j, "backup_id", p->backup_id);
                sk_json_path(j, "path", p->path);
                sk_json_kv_str(j, "pack", p->pack);
                sk_json_kv_str(j, "blob", p->blob);
                sk_json_kv_str(j, "detail", p->detail);
                sk_json_end_object(j);
        }
}

int sk_cli_parse_u64(const char *s, uint64_t *ret) {
        char *end;
        if (!s || !*s || *s == '-')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int sk_cli_parse_size(const char *s, uint64_t *ret) {
        char *end;
        if (!s || !*s || *s == '-')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s)
                return -EINVAL;
        uint64_t mul = 1;
        if (*end) {
                switch (*end) {
                case 'k': case 'K': mul = 1024; break;
                case 'm': case 'M': mul = 1024 * 1024; break;
                case 'g': case 'G': mul = 1024ull * 1024 * 1024; break;
                default: return -EINVAL;
                }
                end++;
                if (*end == 'i' || *end == 'I')
                        end++;
                if (*end == 'b' || *end == 'B')
                        end++;
                if (*end)
                        return -EINVAL;
        }
        if (v > UINT64_MAX / mul)
                return -ERANGE;
        *ret = v * mul;
        return 0;
}

static void on_signal(int sig) {
        (void) sig;
        if (sk_cli_interrupted)
                _exit(SK_EXIT_INTERRUPTED);     /* second ^C: give up at once */
        sk_cli_interrupted = 1;
}

void sk_cli_install_signals(void) {
        struct sigaction sa = { .sa_handler = on_signal };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

int sk_cli_finish_and_open(sk_cli *cli, int argc, char **argv, sk_repo **ret) {
        if (optind != argc)
                return sk_cli_usage_error(cli, "unexpected argument: %s", argv[optind]);
        sk_cli_setup(cli);
        return sk_cli_open_repo(cli, ret);
}

void sk_cli_json_problems_begin(sk_cli *cli, const char *key) {
        if (!cli->json)
                return;
        if (key)
                sk_json_key(&cli->js, key);
        sk_json_begin_object(&cli->js);
        sk_json_key(&cli->js, "problems");
        sk_json_begin_array(&cli->js);
        cli->json_problems = true;
}

void sk_cli_json_problems_end(sk_cli *cli) {
        if (!cli->json)
                return;
        cli->json_problems = false;
        sk_json_end_array(&cli->js);
}

void sk_cli_summary_json(sk_json *j, const sk_backup_summary *s) {
        sk_json_begin_object(j);
        sk_json_kv_u64(j, "files", s->files);
        sk_json_kv_u64(j, "dirs", s->dirs);
        sk_json_kv_u64(j, "bytes", s->bytes);
        sk_json_kv_u64(j, "added_bytes", s->added_bytes);
        sk_json_kv_u64(j, "added_stored", s->added_stored);
        sk_json_kv_u64(j, "files_new", s->files_new);
        sk_json_kv_u64(j, "files_changed", s->files_changed);
        sk_json_kv_u64(j, "files_unmodified", s->files_unmodified);
        sk_json_kv_u64(j, "errors", s->errors);
        sk_json_kv_i64(j, "duration_ns", s->duration_ns);
        sk_json_end_object(j);
}

int sk_cli_list_add(sk_cli *cli, const char ***list, size_t *n, const char *arg) {
        const char **nl = realloc(*list, (*n + 1) * sizeof(**list));
        if (!nl)
                return sk_cli_fail(cli, -ENOMEM, "out of memory");
        *list = nl;
        nl[(*n)++] = arg;
        return SK_EXIT_OK;
}

int sk_cli_parse_lock_wait(sk_cli *cli, const char *arg) {
        uint64_t v;
        if (sk_cli_parse_u64(arg, &v) < 0 || v > 86400)
                return sk_cli_usage_error(cli, "invalid --lock-wait: %s (seconds, 0..86400)", arg);
        cli->lock_wait = (unsigned) v;
        return SK_EXIT_OK;
}
