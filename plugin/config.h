/* snapkeepd's configuration: built-in defaults, then the config file, then
 * command-line flags (flags win).
 *
 * The file is INI, parsed by libinih, with one section:
 *
 *     [snapkeepd]
 *     root = /var/lib/snapkeep
 *     socket = /run/snapkeep/snapkeep.sock
 *     log_level = info
 *     workers = 2
 *     admin_socket = /run/snapkeep/admin.sock
 *     repo = /var/lib/snapkeep-repo
 *     password_file = /etc/snapkeep/repo.pass   (or key_file = ...)
 *     remote_layers = true
 *     restore_selectors = none
 *     restores = 2
 *
 * admin_socket serves the control API (root only, mode 0600). repo is the
 * backup repository URL (opened on first use, so it may be created after the
 * daemon started); its secret comes only from password_file or key_file,
 * never from argv. remote_layers (true/false) lets Prepare rehydrate image
 * layers found in the repository instead of letting containerd unpack them.
 * restore_selectors lists what a restore label may name besides a full
 * backup id: "latest" and/or "prefix" (a short id), default none (see
 * labelpolicy.h for why). restores (1..16) bounds concurrent restores in
 * Prepare; the Snapshots server gets that many workers on top of `workers`,
 * so that restores never take the workers other calls need.
 *
 * Backup policies and the scheduler are configured in "[policy NAME]" and
 * "[automation]" sections (auto/policy.h lists the keys); with none, the
 * built-in default policy applies. A policy that cannot be used stops the
 * daemon with a message naming the file, the line and the key.
 *
 * log_level is one of error, warn, info, debug; workers is 1..64. Lines
 * starting with # or ; are comments. Unknown sections or keys and bad values
 * are errors that name the file and line, so a typo never silently falls
 * back to a default; so are lines longer than 198 bytes and NUL bytes, which
 * libinih would misread. The default file
 * (/etc/snapkeep/snapkeepd.conf) may be missing; one named with --config must
 * exist. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "auto/policy.h"
#include "container/capture.h" /* SK_DEFAULT_CONTAINERD_SOCKET */

#define SK_DEFAULT_ROOT "/var/lib/snapkeep"
#define SK_DEFAULT_SOCKET "/run/snapkeep/snapkeep.sock"
#define SK_DEFAULT_CONFIG "/etc/snapkeep/snapkeepd.conf"
#define SK_DEFAULT_ADMIN_SOCKET "/run/snapkeep/admin.sock"
#define SK_DEFAULT_REPO "/var/lib/snapkeep-repo"
#define SK_WORKERS_MAX 64
#define SK_RESTORES_MAX 16
#define SK_RESTORES_DEFAULT 2

typedef enum sk_config_action {
        SK_CONFIG_RUN,
        SK_CONFIG_HELP,
        SK_CONFIG_VERSION,
} sk_config_action;

/* A plain value: every string is owned; release with sk_config_clear(). */
typedef struct sk_config {
        char *root;
        char *socket;
        char *config_path; /* the file that was read, or NULL if none */
        int log_level;     /* enum sk_log_level */
        unsigned workers;
        char *admin_socket;
        bool admin_socket_set; /* given by file or flag; otherwise it follows socket */
        char *repo;
        char *password_file; /* NULL if unset */
        char *key_file;      /* NULL if unset */
        bool remote_layers;
        unsigned restore_selectors; /* SK_RESTORE_ALLOW_* (plugin/labelpolicy.h) */
        unsigned restores;          /* concurrent restores, 1..SK_RESTORES_MAX */
        /* How the repository's storage is reached (NULL if unset; then the
         * environment variable of the same meaning applies): */
        char *s3_endpoint;          /* SNAPKEEP_S3_ENDPOINT */
        char *s3_region;            /* SNAPKEEP_S3_REGION */
        char *s3_style;             /* SNAPKEEP_S3_STYLE: path or virtual */
        char *s3_credentials_file;  /* AWS_SHARED_CREDENTIALS_FILE */
        char *s3_profile;           /* AWS_PROFILE */
        char *cache_dir;            /* SNAPKEEP_CACHE_DIR: a directory or "off" */
        /* Zero configuration: no repo, password_file or key_file was given,
         * so repo is "<root>-repo" and key_file "<root>/repo.key", and the
         * daemon creates both at start if the repository does not exist.
         * A configured repository is never created. */
        bool repo_auto;
        char *containerd_socket;    /* containerd's own socket (Tasks API: consistency = pause) */
        char *metrics_address;      /* HOST:PORT of the metrics endpoint (plugin/metrics.h), NULL: off */
        bool repo_set;              /* repo given by file or flag */
        /* [automation] and [policy NAME] sections (auto/policy.h); checked
         * and completed (the built-in default policy) by sk_config_from_args. */
        sk_automation automation;
} sk_config;

/* The config file's value for a storage setting named as store/backend-s3.h
 * names them ("SNAPKEEP_S3_ENDPOINT", ...), NULL if the file does not set it
 * (the daemon then looks in its environment). Borrowed from c. */
const char *sk_config_store_setting(const sk_config *c, const char *name);

/* Defaults: the embedded root and socket, log level info, and workers = the
 * number of CPUs clamped to 2..4. */
int sk_config_init(sk_config *c);
void sk_config_clear(sk_config *c);

/* Apply an INI file on top of c. -ENOENT if it is missing, -EINVAL on a
 * syntax error, unknown key or bad value; in that case, if ret_error is not
 * NULL, it receives an owned message naming the file and line. */
int sk_config_load_file(sk_config *c, const char *path, char **ret_error);

/* The same on an open stream (the config fuzzer feeds one from memory); path
 * names it in messages and becomes c->config_path. */
int sk_config_load_stream(sk_config *c, FILE *f, const char *path, char **ret_error);

/* Build the whole configuration from argv: defaults, the config file (from
 * --config, or the default file if it exists), then the flags. On success
 * *ret is filled (clear it with sk_config_clear()) and *ret_action says
 * whether to run or to print help or the version. On a usage error returns
 * -EINVAL and *ret_error (if not NULL) is an owned message. Resets getopt's
 * state, so it may be called more than once. */
int sk_config_from_args(int argc, char *argv[], sk_config *ret, sk_config_action *ret_action, char **ret_error);

/* Print the --help text for program name prog. */
void sk_config_print_help(FILE *f, const char *prog);
