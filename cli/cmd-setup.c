/* snapkeep setup containerd: wire snapkeepd into containerd's config.
 *
 * Edits the version 2 config with cli/tomledit.h (every other byte kept),
 * has containerd itself parse the result (`containerd --config NEW config
 * dump`) and checks that it lists snapkeep, and only then keeps a copy of the
 * old file beside it and replaces the config (temp file, fsync, rename).
 * Idempotent: a config already set up is left alone, without a copy. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/tomledit.h"
#include "common/fsutil.h"
#include "common/macro.h"

#define DEFAULT_CONFIG "/etc/containerd/config.toml"
#define DEFAULT_SOCKET "/run/snapkeep/snapkeep.sock"
#define DUMP_MAX (8u << 20)

enum { OPT_CONFIG = SK_OPT_FIRST_COMMAND_OPTION, OPT_CRI, OPT_SOCKET, OPT_DRY_RUN, OPT_CONTAINERD, OPT_NO_CHECK };

static const struct option setup_options[] = {
        { "config", required_argument, NULL, OPT_CONFIG },
        { "cri", no_argument, NULL, OPT_CRI },
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "dry-run", no_argument, NULL, OPT_DRY_RUN },
        { "containerd", required_argument, NULL, OPT_CONTAINERD },
        { "no-check", no_argument, NULL, OPT_NO_CHECK },
        {},
};

/* Run `containerd --config path config dump`; its output (stdout and
 * stderr, at most DUMP_MAX bytes) in *ret. Returns its exit status, or
 * -errno if it could not be run (-ENOENT: no such program). */
static int containerd_dump(const char *containerd, const char *path, char **ret) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return negative_errno();
        pid_t pid = fork();
        if (pid < 0) {
                int r = negative_errno();
                close(fds[0]);
                close(fds[1]);
                return r;
        }
        if (pid == 0) {
                dup2(fds[1], STDOUT_FILENO);
                dup2(fds[1], STDERR_FILENO);
                execlp(containerd, containerd, "--config", path, "config", "dump", (char *) NULL);
                _exit(errno == ENOENT ? 127 : 126);
        }
        close(fds[1]);
        size_t len = 0, cap = 65536;
        char *buf = malloc(cap + 1);
        for (ssize_t n; buf;) {
                if (len == cap && cap < DUMP_MAX) {
                        char *nb = realloc(buf, cap * 2 + 1);
                        if (nb) {
                                buf = nb;
                                cap *= 2;
                        }
                }
                /* Past the cap, read on and drop: containerd must not die of
                 * SIGPIPE and look like it rejected the config. */
                char drop[4096];
                bool full = len == cap;
                n = full ? read(fds[0], drop, sizeof(drop)) : read(fds[0], buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                if (!full)
                        len += (size_t) n;
        }
        close(fds[0]);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (!buf)
                return -ENOMEM;
        buf[len] = '\0';
        *ret = buf;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                return -ENOENT;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void print_tail(const char *text, size_t lines) {
        const char *p = text + strlen(text);
        while (p > text && lines > 0)
                if (*--p == '\n' && p[1])
                        lines--;
        fprintf(stderr, "%s%s", p == text ? "" : "  ...\n", p == text ? text : p + 1);
}

typedef struct setup {
        const char *config, *socket, *containerd;
        bool cri, dry_run, no_check;
} setup;

/* The edits: returns how many changed (>= 0) or an exit code (< 0, negated). */
static const char *const PROXY[] = { "proxy_plugins", "snapkeep" };
static const char *const CRI[] = { "plugins", "io.containerd.grpc.v1.cri", "containerd" };

/* Whether containerd's dump of the edited config (TOML it wrote) holds our
 * settings, read as TOML rather than searched as text. */
static bool dump_has_ours(const char *dump, const setup *o, const char *addr) {
        char err[128];
        _cleanup_(sk_toml_freep) sk_toml *d = NULL;
        if (sk_toml_parse(dump, strlen(dump), &d, err, sizeof(err)) < 0)
                return false;
        const char *type = sk_toml_get(d, PROXY, 2, "type"), *a = sk_toml_get(d, PROXY, 2, "address");
        if (!type || !a || strcmp(type, "\"snapshot\"") != 0 || strcmp(a, addr) != 0)
                return false;
        if (!o->cri)
                return true;
        const char *sn = sk_toml_get(d, CRI, 3, "snapshotter"), *an = sk_toml_get(d, CRI, 3, "disable_snapshot_annotations");
        return sn && an && strcmp(sn, "\"snapkeep\"") == 0 && strcmp(an, "false") == 0;
}

static int apply(sk_cli *cli, const setup *o, sk_toml *t, bool fresh, const char *addr) {

        const char *version = sk_toml_get(t, NULL, 0, "version");
        if (!version && fresh) {
                if (sk_toml_set(t, NULL, 0, "version", "2") < 0)
                        return -sk_cli_fail(cli, -ENOMEM, "out of memory");
        } else if (!version || strcmp(version, "2") != 0) {
                fprintf(stderr,
                        "snapkeep setup: %s is a containerd config of version %s; only version 2 configs are "
                        "edited (containerd 1.6 writes one with 'containerd config default'). Add to it by hand:\n"
                        "  [proxy_plugins.snapkeep]\n    type = \"snapshot\"\n    address = %s\n",
                        o->config, version ? version : "1 (no 'version' key)", addr);
                return -SK_EXIT_ERROR;
        }
        int changed = 0;
        const struct {
                const char *const *path;
                size_t n;
                const char *key, *value;
                bool cri;
        } sets[] = {
                { PROXY, 2, "type", "\"snapshot\"", false },
                { PROXY, 2, "address", addr, false },
                { CRI, 3, "snapshotter", "\"snapkeep\"", true },
                /* The remote-snapshotter labels on pull, which snapkeepd's
                 * layer rehydration needs (CRI's default is true). */
                { CRI, 3, "disable_snapshot_annotations", "false", true },
        };
        for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
                if (sets[i].cri && !o->cri)
                        continue;
                int r = sk_toml_set(t, sets[i].path, sets[i].n, sets[i].key, sets[i].value);
                if (r == -EEXIST) {
                        fprintf(stderr,
                                "snapkeep setup: %s defines %s in a form this command does not edit (an inline "
                                "table or dotted keys); set %s = %s there by hand\n",
                                o->config, sets[i].cri ? "plugins.\"io.containerd.grpc.v1.cri\".containerd"
                                                       : "proxy_plugins.snapkeep",
                                sets[i].key, sets[i].value);
                        return -SK_EXIT_ERROR;
                }
                if (r < 0)
                        return -sk_cli_fail(cli, r, "editing %s", o->config);
                changed += r;
        }
        return changed;
}

static int setup_containerd(sk_cli *cli, const setup *o) {
        /* Edit what a symlink points at, not the link. */
        char real[PATH_MAX];
        const char *path = realpath(o->config, real) ? real : o->config;
        _cleanup_free_ char *dir_buf = strdup(path), *base_buf = strdup(path);
        if (!dir_buf || !base_buf)
                return sk_cli_fail(cli, -ENOMEM, "out of memory");
        const char *dir = dirname(dir_buf), *base = basename(base_buf);

        _cleanup_free_ void *old = NULL;
        size_t old_len = 0;
        mode_t mode = 0644;
        bool fresh = false;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat st = {};
        if (dfd < 0 && errno != ENOENT)
                return sk_cli_fail(cli, negative_errno(), "cannot open %s", dir);
        if (dfd >= 0 && fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                /* realpath() resolved every link that leads somewhere: a link
                 * left here is dangling, and would be replaced by a file. */
                if (S_ISLNK(st.st_mode))
                        return sk_cli_fail(cli, -ENOENT, "%s is a symbolic link to nothing; fix or remove it first",
                                           path);
                if (!S_ISREG(st.st_mode))
                        return sk_cli_fail(cli, -EINVAL, "%s is not a regular file", path);
                mode = st.st_mode & 07777;
                int r = sk_read_file(dfd, base, SK_TOML_MAX_BYTES, &old, &old_len);
                if (r < 0)
                        return sk_cli_fail(cli, r, "cannot read containerd's config %s", path);
        } else if (dfd >= 0 && errno != ENOENT)
                return sk_cli_fail(cli, negative_errno(), "cannot look at %s", path);
        else
                fresh = true;

        char err[256] = "";
        _cleanup_(sk_toml_freep) sk_toml *t = NULL;
        int r = sk_toml_parse(old ? old : "", old_len, &t, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "snapkeep setup: cannot read containerd's config %s: %s; nothing was changed\n", path,
                        err);
                return SK_EXIT_ERROR;
        }
        /* The socket path as a TOML basic string (sk_cmd_setup allows no
         * quote, backslash or control character in it). */
        _cleanup_free_ char *addr = NULL;
        if (asprintf(&addr, "\"%s\"", o->socket) < 0)
                return sk_cli_fail(cli, -ENOMEM, "out of memory");
        r = apply(cli, o, t, fresh || old_len == 0, addr);
        if (r < 0)
                return -r;
        size_t n_edits = 0;
        const char *const *edits = sk_toml_edits(t, &n_edits);
        size_t new_len = 0;
        _cleanup_free_ char *text = sk_toml_render(t, &new_len);
        if (!text)
                return sk_cli_fail(cli, -ENOMEM, "out of memory");

        /* containerd's own parser is the judge: a temp file beside the
         * config (so that relative imports resolve alike), dumped. */
        bool validated = false;
        char tmp[PATH_MAX] = "";
        if (r > 0) {
                if (dfd < 0) {
                        if (o->dry_run) {
                                dfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                dir = "/tmp";
                        } else if (mkdir(dir, 0755) == 0 || errno == EEXIST)
                                dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (dfd < 0)
                                return sk_cli_fail(cli, negative_errno(), "cannot create %s", dir);
                }
        }
        if (r > 0 && !o->no_check) {
                snprintf(tmp, sizeof(tmp), "%s/.%s.snapkeep-check-%d", dir, base, (int) getpid());
                int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0)
                        return sk_cli_fail(cli, negative_errno(), "cannot write %s", tmp);
                int q = sk_write_all(fd, text, new_len);
                close(fd);
                _cleanup_free_ char *dump = NULL;
                int rc = q < 0 ? q : containerd_dump(o->containerd, tmp, &dump);
                unlink(tmp);
                if (q < 0)
                        return sk_cli_fail(cli, q, "cannot write %s", tmp);
                if (rc == -ENOENT) {
                        fprintf(stderr, "snapkeep setup: %s not found, so the edited config cannot be checked; "
                                        "nothing was changed (--containerd BIN names it; --no-check writes "
                                        "unchecked)\n", o->containerd);
                        return SK_EXIT_ERROR;
                }
                if (rc != 0) {
                        fprintf(stderr, "snapkeep setup: containerd rejects the edited config (exit %d); nothing was "
                                        "changed. containerd said:\n", rc);
                        print_tail(dump ? dump : "", 8);
                        return SK_EXIT_ERROR;
                }
                if (!dump_has_ours(dump, o, addr)) {
                        fprintf(stderr, "snapkeep setup: containerd reads the edited config but does not show "
                                        "snapkeep's settings in it; nothing was changed\n");
                        return SK_EXIT_ERROR;
                }
                validated = true;
        }

        char backup[PATH_MAX] = "";
        if (r > 0 && !o->dry_run) {
                if (!fresh) {
                        char stamp[32];
                        time_t now = time(NULL);
                        struct tm tm;
                        gmtime_r(&now, &tm);
                        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
                        snprintf(backup, sizeof(backup), "%s.snapkeep-backup-%s", base, stamp);
                        int q = sk_write_file_atomic(dfd, backup, old, old_len, mode);
                        if (q < 0)
                                return sk_cli_fail(cli, q, "cannot keep a copy of %s as %s/%s", path, dir, backup);
                }
                int q = sk_write_file_atomic(dfd, base, text, new_len, mode);
                if (q < 0)
                        return sk_cli_fail(cli, q, "cannot write %s", path);
                /* The new file is root's: give it the old one's owner back. */
                if (!fresh && fchownat(dfd, base, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                        fprintf(stderr, "snapkeep setup: warning: cannot give %s its owner back: %s\n", path,
                                strerror(errno));
        }

        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_begin_object(j);
                sk_json_kv_str(j, "config", path);
                sk_json_kv_bool(j, "changed", r > 0 && !o->dry_run);
                sk_json_kv_bool(j, "dry_run", o->dry_run);
                sk_json_kv_bool(j, "created", r > 0 && fresh);
                sk_json_kv_bool(j, "validated", validated);
                if (backup[0]) {
                        char full[PATH_MAX * 2];
                        snprintf(full, sizeof(full), "%s/%s", dir, backup);
                        sk_json_kv_str(j, "backup", full);
                } else {
                        sk_json_key(j, "backup");
                        sk_json_null(j);
                }
                sk_json_key(j, "edits");
                sk_json_begin_array(j);
                for (size_t i = 0; i < n_edits; i++)
                        sk_json_string(j, edits[i]);
                sk_json_end_array(j);
                sk_json_end_object(j);
                return SK_EXIT_OK;
        }
        if (r == 0) {
                printf("%s already uses snapkeep%s: nothing to change\n", path, o->cri ? " (and CRI uses it)" : "");
                return SK_EXIT_OK;
        }
        printf("%s %s:\n", o->dry_run ? "would edit" : fresh ? "created" : "edited", path);
        for (size_t i = 0; i < n_edits; i++)
                printf("  %s\n", edits[i]);
        if (validated)
                printf("containerd reads the result and lists snapkeep\n");
        if (o->dry_run)
                printf("(dry run: nothing was written)\n");
        else {
                if (backup[0])
                        printf("the previous config is kept as %s/%s\n", dir, backup);
                printf("restart containerd to use it (systemctl restart containerd)\n");
        }
        return SK_EXIT_OK;
}

int sk_cmd_setup(sk_cli *cli, int argc, char **argv) {
        setup o = { .config = DEFAULT_CONFIG, .socket = DEFAULT_SOCKET, .containerd = "containerd" };
        int c;
        cli->command = "setup";
        while ((c = sk_cli_getopt(cli, argc, argv, "", setup_options, sk_help_for("setup"))) != -1) {
                switch (c) {
                case 'h':
                        return SK_EXIT_OK;
                case OPT_CONFIG:
                        o.config = optarg;
                        break;
                case OPT_CRI:
                        o.cri = true;
                        break;
                case OPT_SOCKET:
                        if (optarg[0] != '/')
                                return sk_cli_usage_error(cli, "--socket must be an absolute path");
                        for (const char *p = optarg; *p; p++)
                                if ((unsigned char) *p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
                                        return sk_cli_usage_error(cli, "--socket must not hold quotes, backslashes "
                                                                       "or control characters");
                        o.socket = optarg;
                        break;
                case OPT_NO_CHECK:
                        o.no_check = true;
                        break;
                case OPT_DRY_RUN:
                        o.dry_run = true;
                        break;
                case OPT_CONTAINERD:
                        o.containerd = optarg;
                        break;
                default:
                        return SK_EXIT_USAGE;
                }
        }
        if (optind >= argc)
                return sk_cli_usage_error(cli, "what to set up? (known: containerd)");
        if (strcmp(argv[optind], "containerd") != 0)
                return sk_cli_usage_error(cli, "unknown target '%s' (known: containerd)", argv[optind]);
        if (optind + 1 < argc)
                return sk_cli_usage_error(cli, "unexpected argument '%s'", argv[optind + 1]);
        sk_cli_setup(cli);
        return setup_containerd(cli, &o);
}
