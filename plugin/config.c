#include "plugin/config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "plugin/labelpolicy.h"
#include "plugin/metrics.h"

#define CONFIG_SECTION "snapkeepd"
#define CONFIG_MAX (64 * 1024) /* bytes; a longer file is not a config file */

static unsigned default_workers(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 2)
                return 2;
        return n > 4 ? 4 : (unsigned) n;
}

int sk_config_init(sk_config *c) {
        *c = (sk_config) { .log_level = SK_LOG_INFO, .workers = default_workers(), .remote_layers = true,
                           .restores = SK_RESTORES_DEFAULT };
        c->root = strdup(SK_DEFAULT_ROOT);
        c->socket = strdup(SK_DEFAULT_SOCKET);
        c->admin_socket = strdup(SK_DEFAULT_ADMIN_SOCKET);
        c->repo = strdup(SK_DEFAULT_REPO);
        c->containerd_socket = strdup(SK_DEFAULT_CONTAINERD_SOCKET);
        sk_automation_init(&c->automation);
        if (!c->root || !c->socket || !c->admin_socket || !c->repo || !c->containerd_socket) {
                sk_config_clear(c);
                return -ENOMEM;
        }
        return 0;
}

/* Every owned string of sk_config, so that copying and clearing cannot
 * forget one when a key is added. */
static const size_t string_fields[] = {
        offsetof(sk_config, root),          offsetof(sk_config, socket),
        offsetof(sk_config, config_path),   offsetof(sk_config, admin_socket),
        offsetof(sk_config, repo),          offsetof(sk_config, password_file),
        offsetof(sk_config, key_file),      offsetof(sk_config, s3_endpoint),
        offsetof(sk_config, s3_region),     offsetof(sk_config, s3_style),
        offsetof(sk_config, s3_credentials_file), offsetof(sk_config, s3_profile),
        offsetof(sk_config, cache_dir),     offsetof(sk_config, containerd_socket),
        offsetof(sk_config, metrics_address),
};

static char **string_field(sk_config *c, size_t i) {
        return (char **) ((char *) c + string_fields[i]);
}

void sk_config_clear(sk_config *c) {
        for (size_t i = 0; i < ARRAY_SIZE(string_fields); i++)
                free(*string_field(c, i));
        sk_automation_clear(&c->automation);
        *c = (sk_config) {};
}

/* A deep copy of src into *ret. */
static int config_copy(const sk_config *src, sk_config *ret) {
        int r = 0;
        *ret = *src;
        /* Policies come only from the one file being read: the copy starts
         * without them and takes the file's. */
        sk_automation_init(&ret->automation);
        for (size_t i = 0; i < ARRAY_SIZE(string_fields); i++) {
                char **f = string_field(ret, i);
                if (*f && r == 0 && !(*f = strdup(*f)))
                        r = -ENOMEM;
                else if (r < 0)
                        *f = NULL;      /* not copied: must not be freed */
        }
        if (r < 0)
                sk_config_clear(ret);
        return r;
}

/* Storage settings: the file's key for each name the store understands. */
static const struct {
        const char *name;
        size_t field;
} store_settings[] = {
        { "SNAPKEEP_S3_ENDPOINT", offsetof(sk_config, s3_endpoint) },
        { "SNAPKEEP_S3_REGION", offsetof(sk_config, s3_region) },
        { "SNAPKEEP_S3_STYLE", offsetof(sk_config, s3_style) },
        { "AWS_SHARED_CREDENTIALS_FILE", offsetof(sk_config, s3_credentials_file) },
        { "AWS_PROFILE", offsetof(sk_config, s3_profile) },
        { "SNAPKEEP_CACHE_DIR", offsetof(sk_config, cache_dir) },
};

const char *sk_config_store_setting(const sk_config *c, const char *name) {
        for (size_t i = 0; i < ARRAY_SIZE(store_settings); i++)
                if (strcmp(store_settings[i].name, name) == 0)
                        return *(char *const *) ((const char *) c + store_settings[i].field);
        return NULL;
}

/* --- values: shared by the file and the flags ------------------------------ */

/* Each setter validates value and returns 0 or -EINVAL/-ENOMEM, with a reason
 * in *why (static text) on -EINVAL. */

static int set_string(char **field, const char *value) {
        char *p = strdup(value);
        if (!p)
                return -ENOMEM;
        free(*field);
        *field = p;
        return 0;
}

static int set_path(char **field, const char *value, size_t max, const char **why) {
        if (value[0] != '/') {
                *why = "must be an absolute path";
                return -EINVAL;
        }
        if (max && strlen(value) >= max) {
                *why = "is too long for a unix socket path";
                return -EINVAL;
        }
        return set_string(field, value);
}

/* A decimal count from 1 to max into *field. */
static int set_count(unsigned *field, const char *value, unsigned long max, const char *range, const char **why) {
        char *end;
        errno = 0;
        unsigned long n = strtoul(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || n < 1 || n > max) {
                *why = range;
                return -EINVAL;
        }
        *field = (unsigned) n;
        return 0;
}

static int set_value(sk_config *c, const char *key, const char *value, const char **why) {
        if (strcmp(key, "root") == 0)
                return set_path(&c->root, value, 0, why);
        if (strcmp(key, "socket") == 0)
                return set_path(&c->socket, value, sizeof(((struct sockaddr_un *) NULL)->sun_path), why);
        if (strcmp(key, "admin_socket") == 0) {
                c->admin_socket_set = true;
                return set_path(&c->admin_socket, value, sizeof(((struct sockaddr_un *) NULL)->sun_path), why);
        }
        if (strcmp(key, "password_file") == 0)
                return set_path(&c->password_file, value, 0, why);
        if (strcmp(key, "containerd_socket") == 0)
                return set_path(&c->containerd_socket, value, sizeof(((struct sockaddr_un *) NULL)->sun_path), why);
        if (strcmp(key, "key_file") == 0)
                return set_path(&c->key_file, value, 0, why);
        if (strcmp(key, "s3_endpoint") == 0) {
                if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
                        *why = "must be an http:// or https:// URL";
                        return -EINVAL;
                }
                return set_string(&c->s3_endpoint, value);
        }
        if (strcmp(key, "s3_region") == 0 || strcmp(key, "s3_profile") == 0) {
                if (!value[0] || strpbrk(value, " \t/")) {
                        *why = "must be a name without spaces or slashes";
                        return -EINVAL;
                }
                return set_string(key[3] == 'r' ? &c->s3_region : &c->s3_profile, value);
        }
        if (strcmp(key, "s3_style") == 0) {
                if (strcmp(value, "path") != 0 && strcmp(value, "virtual") != 0) {
                        *why = "must be path or virtual";
                        return -EINVAL;
                }
                return set_string(&c->s3_style, value);
        }
        if (strcmp(key, "s3_credentials_file") == 0)
                return set_path(&c->s3_credentials_file, value, 0, why);
        if (strcmp(key, "cache_dir") == 0)
                return strcmp(value, "off") == 0 ? set_string(&c->cache_dir, value)
                                                 : set_path(&c->cache_dir, value, 0, why);
        if (strcmp(key, "repo") == 0) {
                if (value[0] == '\0') {
                        *why = "must not be empty";
                        return -EINVAL;
                }
                c->repo_set = true;
                return set_string(&c->repo, value);
        }
        if (strcmp(key, "remote_layers") == 0) {
                if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0)
                        c->remote_layers = true;
                else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 || strcmp(value, "0") == 0)
                        c->remote_layers = false;
                else {
                        *why = "must be true or false";
                        return -EINVAL;
                }
                return 0;
        }
        if (strcmp(key, "restore_selectors") == 0) {
                if (sk_restore_selectors_parse(value, &c->restore_selectors) < 0) {
                        *why = "must list latest and/or prefix (or be none)";
                        return -EINVAL;
                }
                return 0;
        }
        if (strcmp(key, "metrics_address") == 0) {
                if (strcmp(value, "off") == 0 || value[0] == '\0') {
                        free(c->metrics_address);
                        c->metrics_address = NULL;
                        return 0;
                }
                if (sk_metrics_address_check(value, why) < 0)
                        return -EINVAL;
                return set_string(&c->metrics_address, value);
        }
        if (strcmp(key, "restores") == 0)
                return set_count(&c->restores, value, SK_RESTORES_MAX, "must be a number from 1 to 16", why);
        if (strcmp(key, "log_level") == 0) {
                int l = sk_log_parse_level(value);
                if (l < 0) {
                        *why = "must be error, warn, info or debug";
                        return -EINVAL;
                }
                c->log_level = l;
                return 0;
        }
        if (strcmp(key, "workers") == 0)
                return set_count(&c->workers, value, SK_WORKERS_MAX, "must be a number from 1 to 64", why);
        *why = "is not a known key";
        return -EINVAL;
}

/* --- the file ------------------------------------------------------------------ */

typedef struct file_state {
        sk_config *config;
        const char *path;
        int line;  /* lines seen so far, for messages */
        int error; /* first error */
        char *message;
} file_state;

static void file_error(file_state *st, int r, const char *fmt, ...) _printf_(3, 4);
static void file_error(file_state *st, int r, const char *fmt, ...) {
        if (st->error)
                return;
        st->error = r;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&st->message, fmt, ap) < 0)
                st->message = NULL;
        va_end(ap);
}

static int on_ini_value(void *user, const char *section, const char *name, const char *value) {
        file_state *st = user;
        const char *why = NULL;

        int r;
        if (strcmp(section, CONFIG_SECTION) != 0) {
                r = sk_automation_set(&st->config->automation, section, 0, name, value, &why);
                if (r == -ENOENT) {
                        file_error(st, -EINVAL, "unknown section [%s] (expected [" CONFIG_SECTION
                                   "], [automation] or [policy NAME])", section);
                        return 0;
                }
                if (r == -EINVAL)
                        file_error(st, r, "[%s] %s = %s: %s", section, name, value, why);
                else if (r < 0)
                        file_error(st, r, "%s: %s", name, strerror(-r));
                return r >= 0;
        }
        r = set_value(st->config, name, value, &why);
        if (r == -EINVAL)
                file_error(st, r, "%s = %s: %s", name, value, why);
        else if (r < 0)
                file_error(st, r, "%s: %s", name, strerror(-r));
        return r >= 0;
}

/* The whole file, checked for what libinih would misread: it reads a line in
 * chunks of INI_MAX_LINE - 1 bytes and parses each chunk as a line of its own
 * (the tail of a long comment would become a setting), and a NUL ends its
 * line early. Returns 0, the number (> 0) of the first such line with the
 * reason in st, or -errno. */
static int read_text(FILE *f, file_state *st, char **ret_text) {
        _cleanup_free_ char *text = malloc(CONFIG_MAX + 1);
        if (!text)
                return -ENOMEM;
        size_t len = fread(text, 1, CONFIG_MAX + 1, f);
        if (ferror(f))
                return -EIO;
        if (len > CONFIG_MAX) {
                file_error(st, -EINVAL, "larger than %d bytes", CONFIG_MAX);
                return 1;
        }
        text[len] = '\0';
        int line = 1;
        for (const char *p = text, *end = text + len; p < end; line++) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
                if (memchr(p, '\0', n)) {
                        file_error(st, -EINVAL, "holds a NUL byte");
                        return line;
                }
                /* A chunk must hold the whole line and its newline. */
                if (n + 1 > INI_MAX_LINE - 1) {
                        file_error(st, -EINVAL, "line longer than %d bytes", INI_MAX_LINE - 2);
                        return line;
                }
                p += n + 1;
        }
        *ret_text = TAKE_PTR(text);
        return 0;
}

/* The line of each policy's "[policy NAME]" header, for messages about the
 * policy as a whole (libinih reports lines only for its own errors). A
 * second section of the same name would merge into the first: that is an
 * error, returned as its line (> 0) with *ret_name; 0 otherwise. */
static int locate_policies(const char *text, sk_automation *a, const char **ret_name) {
        unsigned line = 1;
        for (const char *p = text; *p; line++) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t) (nl - p) : strlen(p);
                size_t lead = strspn(p, " \t");
                if (lead < n && p[lead] == '[') {
                        for (size_t i = 0; i < a->n_policies; i++) {
                                sk_policy *pol = &a->policies[i];
                                size_t nn = strlen(pol->name);
                                const char *h = p + lead + 1;
                                if ((size_t) (p + n - h) >= 7 + nn + 1 && strncmp(h, "policy ", 7) == 0 &&
                                    strncmp(h + 7, pol->name, nn) == 0 && h[7 + nn] == ']') {
                                        if (pol->line) {
                                                *ret_name = pol->name;
                                                return (int) line;
                                        }
                                        pol->line = line;
                                }
                        }
                }
                if (!nl)
                        break;
                p = nl + 1;
        }
        return 0;
}

int sk_config_load_file(sk_config *c, const char *path, char **ret_error) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f) {
                int r = negative_errno();
                if (ret_error && asprintf(ret_error, "%s: %s", path, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        return sk_config_load_stream(c, f, path, ret_error);
}

int sk_config_load_stream(sk_config *c, FILE *f, const char *path, char **ret_error) {
        /* Parse into a copy so a bad file leaves c untouched. */
        sk_config tmp;
        file_state st = { .config = &tmp, .path = path };
        _cleanup_free_ char *text = NULL;
        int r = config_copy(c, &tmp);
        if (r < 0)
                return r;

        int line = read_text(f, &st, &text);
        if (line < 0) {
                r = line;
                if (ret_error && asprintf(ret_error, "%s: %s", path, strerror(-r)) < 0)
                        *ret_error = NULL;
                goto out;
        }
        if (line == 0)
                line = ini_parse_string(text, on_ini_value, &st);
        if (line == 0) {
                const char *why = NULL;
                unsigned pline = 0;
                const char *dup = NULL;
                int dline = locate_policies(text, &tmp.automation, &dup);
                r = dline > 0 ? -EINVAL : sk_automation_finish(&tmp.automation, &why, &pline);
                if (dline > 0) {
                        pline = (unsigned) dline;
                        why = "a second [policy] section of a name already used: each policy is one section";
                        (void) dup;
                }
                if (r == -EINVAL) {
                        st.error = r;
                        free(st.message);
                        st.message = strdup(why);
                        line = pline ? (int) pline : 1;
                } else if (r < 0)
                        line = -2;
        }
        if (line == -2)
                r = -ENOMEM;
        else if (line != 0) {
                r = st.error ? st.error : -EINVAL;
                if (ret_error && asprintf(ret_error, "%s:%d: %s", path, line,
                                          st.message ? st.message : "syntax error") < 0)
                        *ret_error = NULL;
        } else
                r = 0;
        if (r < 0)
                goto out;

        char *p = strdup(path);
        if (!p) {
                r = -ENOMEM;
                goto out;
        }
        free(tmp.config_path);
        tmp.config_path = p;
        sk_config_clear(c);
        *c = tmp;
        tmp = (sk_config) {};
out:
        free(st.message);
        sk_config_clear(&tmp);
        return r;
}

/* --- the command line ------------------------------------------------------------ */

static const struct option long_options[] = {
        { "root", required_argument, NULL, 'r' },
        { "socket", required_argument, NULL, 's' },
        { "config", required_argument, NULL, 'c' },
        { "log-level", required_argument, NULL, 'l' },
        { "workers", required_argument, NULL, 'w' },
        { "admin-socket", required_argument, NULL, 'A' },
        { "repo", required_argument, NULL, 'R' },
        { "password-file", required_argument, NULL, 'P' },
        { "key-file", required_argument, NULL, 'K' },
        { "remote-layers", no_argument, NULL, 'L' },
        { "no-remote-layers", no_argument, NULL, 'N' },
        { "restore-selectors", required_argument, NULL, 'S' },
        { "restores", required_argument, NULL, 'T' },
        { "containerd-socket", required_argument, NULL, 'C' },
        { "metrics-address", required_argument, NULL, 'M' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        {},
};

static int usage_error(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int usage_error(char **ret_error, const char *fmt, ...) {
        if (ret_error) {
                va_list ap;
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return -EINVAL;
}

/* Zero configuration (see sk_config.repo_auto), and the built-in policy
 * when no file gave one. */
static int finish_repo_and_policies(sk_config *c, char **ret_error) {
        /* Only with nothing configured: a repository named by its secret alone
         * keeps the default path it always had. */
        if (!c->repo_set && !c->password_file && !c->key_file) {
                char *repo = NULL;
                int len = (int) strlen(c->root);
                while (len > 1 && c->root[len - 1] == '/')
                        len--;
                if (asprintf(&repo, "%.*s-repo", len, c->root) < 0)
                        return -ENOMEM;
                free(c->repo);
                c->repo = repo;
                if (asprintf(&c->key_file, "%.*s/repo.key", len, c->root) < 0) {
                        c->key_file = NULL;
                        return -ENOMEM;
                }
                c->repo_auto = true;
        }
        const char *why = NULL;
        unsigned line = 0;
        int r = sk_automation_finish(&c->automation, &why, &line);
        if (r == -EINVAL)
                return usage_error(ret_error, "automation: %s", why);
        return r;
}

/* Flags in the order given; applied after the file. */
typedef struct flag {
        const char *key;
        const char *value;
        const char *spelling;
} flag;

int sk_config_from_args(int argc, char *argv[], sk_config *ret, sk_config_action *ret_action, char **ret_error) {
        _cleanup_free_ flag *flags = calloc(argc > 0 ? (size_t) argc : 1, sizeof(flag));
        size_t n_flags = 0;
        const char *config_path = NULL;
        sk_config_action action = SK_CONFIG_RUN;
        int opt;

        if (!flags)
                return -ENOMEM;

        /* glibc: optind = 0 forces a full re-initialisation of getopt. */
        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":r:s:c:l:w:hV", long_options, NULL)) != -1) {
                switch (opt) {
                case 'r':
                        flags[n_flags++] = (flag) { "root", optarg, "--root" };
                        break;
                case 's':
                        flags[n_flags++] = (flag) { "socket", optarg, "--socket" };
                        break;
                case 'l':
                        flags[n_flags++] = (flag) { "log_level", optarg, "--log-level" };
                        break;
                case 'w':
                        flags[n_flags++] = (flag) { "workers", optarg, "--workers" };
                        break;
                case 'A':
                        flags[n_flags++] = (flag) { "admin_socket", optarg, "--admin-socket" };
                        break;
                case 'R':
                        flags[n_flags++] = (flag) { "repo", optarg, "--repo" };
                        break;
                case 'P':
                        flags[n_flags++] = (flag) { "password_file", optarg, "--password-file" };
                        break;
                case 'K':
                        flags[n_flags++] = (flag) { "key_file", optarg, "--key-file" };
                        break;
                case 'S':
                        flags[n_flags++] = (flag) { "restore_selectors", optarg, "--restore-selectors" };
                        break;
                case 'T':
                        flags[n_flags++] = (flag) { "restores", optarg, "--restores" };
                        break;
                case 'C':
                        flags[n_flags++] = (flag) { "containerd_socket", optarg, "--containerd-socket" };
                        break;
                case 'M':
                        flags[n_flags++] = (flag) { "metrics_address", optarg, "--metrics-address" };
                        break;
                case 'L':
                        flags[n_flags++] = (flag) { "remote_layers", "true", "--remote-layers" };
                        break;
                case 'N':
                        flags[n_flags++] = (flag) { "remote_layers", "false", "--no-remote-layers" };
                        break;
                case 'c':
                        config_path = optarg;
                        break;
                case 'h':
                        action = SK_CONFIG_HELP;
                        break;
                case 'V':
                        if (action != SK_CONFIG_HELP)
                                action = SK_CONFIG_VERSION;
                        break;
                case ':':
                        return usage_error(ret_error, "option %s needs a value", argv[optind - 1]);
                default:
                        if (optopt)
                                return usage_error(ret_error, "unknown option -%c", optopt);
                        return usage_error(ret_error, "unknown option %s", argv[optind - 1]);
                }
        }
        if (optind < argc)
                return usage_error(ret_error, "unexpected argument '%s'", argv[optind]);

        sk_config c;
        int r = sk_config_init(&c);
        if (r < 0)
                return r;
        if (action == SK_CONFIG_RUN) {
                if (config_path && config_path[0] == '\0')
                        config_path = NULL; /* --config '' : no file at all */
                else {
                        const char *path = config_path ? config_path : SK_DEFAULT_CONFIG;
                        r = sk_config_load_file(&c, path, ret_error);
                        /* Only the implicit default file may be absent. */
                        if (r == -ENOENT && !config_path) {
                                if (ret_error) {
                                        free(*ret_error);
                                        *ret_error = NULL;
                                }
                                r = 0;
                        }
                        if (r < 0) {
                                sk_config_clear(&c);
                                return r;
                        }
                }
                for (size_t i = 0; i < n_flags; i++) {
                        const char *why = NULL;
                        r = set_value(&c, flags[i].key, flags[i].value, &why);
                        if (r < 0) {
                                sk_config_clear(&c);
                                if (r == -EINVAL)
                                        return usage_error(ret_error, "%s %s: %s", flags[i].spelling,
                                                           flags[i].value, why);
                                return r;
                        }
                }
        }
        if (action == SK_CONFIG_RUN) {
                r = finish_repo_and_policies(&c, ret_error);
                if (r < 0) {
                        sk_config_clear(&c);
                        return r;
                }
        }
        /* Unless given, the admin socket sits beside the snapshots socket, so two
         * daemons with different --socket never fight over one admin socket. */
        if (!c.admin_socket_set) {
                const char *slash = strrchr(c.socket, '/');
                char *derived = NULL;
                if (asprintf(&derived, "%.*sadmin.sock", slash ? (int) (slash - c.socket + 1) : 0, c.socket) < 0) {
                        sk_config_clear(&c);
                        return -ENOMEM;
                }
                if (strlen(derived) >= sizeof(((struct sockaddr_un *) NULL)->sun_path)) {
                        free(derived);
                        sk_config_clear(&c);
                        return usage_error(ret_error, "socket path too long to place admin.sock beside it");
                }
                free(c.admin_socket);
                c.admin_socket = derived;
        }
        *ret = c;
        *ret_action = action;
        return 0;
}

void sk_config_print_help(FILE *f, const char *prog) {
        fprintf(f,
                "Usage: %s [OPTIONS]\n"
                "\n"
                "snapkeepd serves containerd's Snapshots API (containerd.services.snapshots.v1)\n"
                "on a unix socket, as a proxy snapshotter. Snapshots live under the root\n"
                "directory: metadata in <root>/metadata, data in <root>/snapshots/<id>/{fs,work}.\n"
                "\n"
                "Options (they override the config file):\n"
                "  -r, --root=DIR         state directory (default " SK_DEFAULT_ROOT ")\n"
                "  -s, --socket=PATH      unix socket to listen on, created with mode 0660\n"
                "                         (default " SK_DEFAULT_SOCKET ")\n"
                "  -c, --config=FILE      config file (default " SK_DEFAULT_CONFIG ",\n"
                "                         which may be missing); --config='' reads none\n"
                "  -l, --log-level=LEVEL  error, warn, info or debug (default info)\n"
                "  -w, --workers=N        gRPC worker threads, 1..%d (default: CPUs, 2..4)\n"
                "      --admin-socket=PATH  control API socket, mode 0600 (default: admin.sock\n"
                "                         beside --socket, " SK_DEFAULT_ADMIN_SOCKET ")\n"
                "      --repo=URL         backup repository (default " SK_DEFAULT_REPO "),\n"
                "                         opened on first use\n"
                "      --password-file=F  repository passphrase file (secrets never on argv)\n"
                "      --key-file=F       repository key file\n"
                "      --[no-]remote-layers  rehydrate image layers held by the repository\n"
                "                         instead of unpacking them (default on)\n"
                "      --restore-selectors=LIST  what a restore label may name besides a full\n"
                "                         backup id: latest, prefix (default none)\n"
                "      --restores=N       concurrent restores in Prepare, 1..16 (default 2);\n"
                "                         each gets a gRPC worker on top of --workers\n"
                "      --containerd-socket=PATH  containerd's socket, to pause tasks for\n"
                "                         policies with consistency = pause\n"
                "                         (default " SK_DEFAULT_CONTAINERD_SOCKET ")\n"
                "      --metrics-address=HOST:PORT  serve Prometheus metrics at /metrics,\n"
                "                         liveness at /livez and readiness at /readyz\n"
                "                         (default off; :PORT for every address)\n"
                "  -h, --help             show this help and exit\n"
                "  -V, --version          show the version and exit\n"
                "\n"
                "Config file (INI):\n"
                "  [snapkeepd]\n"
                "  root = " SK_DEFAULT_ROOT "\n"
                "  socket = " SK_DEFAULT_SOCKET "\n"
                "  log_level = info\n"
                "  workers = 2\n"
                "  admin_socket = " SK_DEFAULT_ADMIN_SOCKET "\n"
                "  repo = " SK_DEFAULT_REPO "\n"
                "  password_file = /etc/snapkeep/repo.pass\n"
                "  remote_layers = true\n"
                "  restore_selectors = none   (or: latest, prefix)\n"
                "  restores = 2\n"
                "  containerd_socket = " SK_DEFAULT_CONTAINERD_SOCKET "\n"
                "  metrics_address = 127.0.0.1:9184   (default off)\n"
                "  # how the repository is reached (else the environment's SNAPKEEP_S3_*, AWS_*):\n"
                "  s3_endpoint = http://10.0.0.5:7480\n"
                "  s3_region = us-east-1\n"
                "  s3_style = path         (or: virtual)\n"
                "  s3_credentials_file = /etc/snapkeep/aws-credentials\n"
                "  s3_profile = default\n"
                "  cache_dir = /var/cache/snapkeep   (or: off)\n"
                "\n"
                "containerd (config version 2) uses it with:\n"
                "  [proxy_plugins.snapkeep]\n"
                "    type = \"snapshot\"\n"
                "    address = \"" SK_DEFAULT_SOCKET "\"\n"
                "\n"
                "Logs go to stderr. SIGTERM or SIGINT stops the daemon within a few seconds.\n"
                "See snapkeepd(8).\n",
                prog, SK_WORKERS_MAX);
}
