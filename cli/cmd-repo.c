/* snapkeep repo init, key add|list|remove|passwd, index rebuild, version. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "repo/lock.h"
#include "repo/repo.h"
#include "cli/cli.h"
#include "common/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(sk_secret *, sk_secret_free);

enum {
        OPT_CHUNK_MIN = SK_OPT_FIRST_COMMAND_OPTION,
        OPT_CHUNK_AVG,
        OPT_CHUNK_MAX,
        OPT_COMPRESSION,
        OPT_PACK_SIZE,
        OPT_SCRYPT,
        OPT_FORMAT_VERSION,
        OPT_NEW_PASSWORD_FILE,
        OPT_NEW_KEY_FILE,
        OPT_LOCK_WAIT,
};

static int parse_u32_size(sk_cli *cli, const char *what, const char *arg, uint32_t *ret) {
        uint64_t v;
        if (sk_cli_parse_size(arg, &v) < 0 || v > UINT32_MAX)
                return sk_cli_usage_error(cli, "invalid %s: %s", what, arg);
        *ret = (uint32_t) v;
        return 0;
}

static int repo_init(sk_cli *cli, int argc, char **argv) {
        static const struct option opts[] = {
                { "chunk-min", required_argument, NULL, OPT_CHUNK_MIN },
                { "chunk-avg", required_argument, NULL, OPT_CHUNK_AVG },
                { "chunk-max", required_argument, NULL, OPT_CHUNK_MAX },
                { "compression", required_argument, NULL, OPT_COMPRESSION },
                { "pack-size", required_argument, NULL, OPT_PACK_SIZE },
                { "scrypt-log2n", required_argument, NULL, OPT_SCRYPT },
                { "format-version", required_argument, NULL, OPT_FORMAT_VERSION },
                {}
        };
        sk_repo_init_opts io = { .store = &cli->store };
        int c;
        cli->command = "repo init";
        while ((c = sk_cli_getopt(cli, argc, argv, "", opts, sk_help_for("repo init"))) != -1) {
                uint64_t v;
                switch (c) {
                case 'h': return SK_EXIT_OK;
                case OPT_CHUNK_MIN:
                        if (parse_u32_size(cli, "--chunk-min", optarg, &io.chunk_min))
                                return SK_EXIT_USAGE;
                        break;
                case OPT_CHUNK_AVG:
                        if (parse_u32_size(cli, "--chunk-avg", optarg, &io.chunk_avg))
                                return SK_EXIT_USAGE;
                        break;
                case OPT_CHUNK_MAX:
                        if (parse_u32_size(cli, "--chunk-max", optarg, &io.chunk_max))
                                return SK_EXIT_USAGE;
                        break;
                case OPT_PACK_SIZE:
                        if (parse_u32_size(cli, "--pack-size", optarg, &io.pack_size))
                                return SK_EXIT_USAGE;
                        break;
                case OPT_COMPRESSION:
                        if (sk_cli_parse_u64(optarg, &v) < 0 || v < 1 || v > 19)
                                return sk_cli_usage_error(cli, "--compression wants a zstd level 1..19, not %s",
                                                          optarg);
                        io.zstd_level = (int) v;
                        break;
                case OPT_SCRYPT:
                        if (sk_cli_parse_u64(optarg, &v) < 0 || v < 10 || v > 20)
                                return sk_cli_usage_error(cli, "--scrypt-log2n wants 10..20, not %s", optarg);
                        io.scrypt_log2n = (uint8_t) v;
                        break;
                case OPT_FORMAT_VERSION:
                        if (sk_cli_parse_u64(optarg, &v) < 0 || v < 1 || v > SK_REPO_FORMAT_VERSION)
                                return sk_cli_usage_error(cli, "--format-version wants 1..%d, not %s",
                                                          SK_REPO_FORMAT_VERSION, optarg);
                        io.format_version = (uint16_t) v;
                        break;
                default: return SK_EXIT_USAGE;
                }
        }
        if (optind != argc)
                return sk_cli_usage_error(cli, "unexpected argument: %s", argv[optind]);
        if ((io.chunk_min || io.chunk_avg || io.chunk_max) && !(io.chunk_min && io.chunk_avg && io.chunk_max))
                return sk_cli_usage_error(cli, "give --chunk-min, --chunk-avg and --chunk-max together");
        sk_cli_setup(cli);
        if (!cli->repo_url)
                return sk_cli_usage_error(cli, "no repository given: use --repo URL or set SNAPKEEP_REPO");

        _cleanup_(sk_secret_freep) sk_secret *secret = NULL;
        int e = sk_cli_get_new_secret(cli, cli->password_file, cli->key_file, &secret);
        if (e != SK_EXIT_OK)
                return e;
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        int r = sk_repo_init(cli->repo_url, &io, secret, &repo);
        if (r == -EEXIST) {
                fprintf(stderr, "%s repo init: error: a repository already exists at %s\n", cli->prog,
                        cli->repo_url);
                return SK_EXIT_ERROR;
        }
        if (r == -EINVAL)
                return sk_cli_fail(cli, r, "invalid repository parameters for %s", cli->repo_url);
        if (r < 0)
                return sk_cli_fail(cli, r, "cannot create repository at %s", cli->repo_url);
        sk_repo_config cfg = {};
        r = sk_repo_get_config(repo, &cfg);
        if (r < 0)
                return sk_cli_fail(cli, r, "cannot read the new repository's configuration");
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_begin_object(j);
                sk_json_kv_str(j, "repository", cli->repo_url);
                sk_json_kv_str(j, "id", cfg.repo_id);
                sk_json_kv_u64(j, "version", cfg.version);
                sk_json_kv_u64(j, "chunk_min", cfg.chunk_min);
                sk_json_kv_u64(j, "chunk_avg", cfg.chunk_avg);
                sk_json_kv_u64(j, "chunk_max", cfg.chunk_max);
                sk_json_kv_i64(j, "compression", cfg.zstd_level);
                sk_json_kv_u64(j, "pack_size", cfg.pack_size);
                sk_json_end_object(j);
        } else if (!cli->quiet) {
                char a[32], b[32], d[32], p[32];
                printf("created repository %s at %s\n", cfg.repo_id, cli->repo_url);
                printf("  format version %u, chunks %s / %s / %s (min/avg/max), zstd level %d, packs %s\n",
                       cfg.version, sk_cli_format_size(cfg.chunk_min, a, sizeof(a)),
                       sk_cli_format_size(cfg.chunk_avg, b, sizeof(b)), sk_cli_format_size(cfg.chunk_max, d, sizeof(d)),
                       cfg.zstd_level, sk_cli_format_size(cfg.pack_size, p, sizeof(p)));
                printf("Keep the passphrase or key file safe: without it the data cannot be read.\n");
        }
        return SK_EXIT_OK;
}

int sk_cmd_repo(sk_cli *cli, int argc, char **argv) {
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                fputs(sk_help_for("repo"), argc < 2 ? stderr : stdout);
                return argc < 2 ? SK_EXIT_USAGE : SK_EXIT_OK;
        }
        if (strcmp(argv[1], "init") == 0)
                return repo_init(cli, argc - 1, argv + 1);
        cli->command = "repo";
        return sk_cli_usage_error(cli, "unknown subcommand '%s' (known: init)", argv[1]);
}

/* --- key ---------------------------------------------------------------------- */

static const char *kind_name(sk_secret_kind k) {
        return k == SK_SECRET_KEYFILE ? "keyfile" : k == SK_SECRET_PASSPHRASE ? "passphrase" : "unknown";
}

static int key_list_cb(const sk_key_info *ki, void *userdata) {
        sk_cli *cli = userdata;
        if (cli->json) {
                sk_json *j = &cli->js;
                struct timespec ts = { .tv_sec = (time_t) ki->created };
                sk_json_begin_object(j);
                sk_json_kv_str(j, "slot", ki->slot);
                sk_json_kv_str(j, "kind", kind_name(ki->kind));
                sk_json_key(j, "created");
                sk_json_time(j, &ts);
                sk_json_kv_str(j, "host", ki->host);
                sk_json_kv_u64(j, "scrypt_log2n", ki->scrypt_log2n);
                sk_json_kv_bool(j, "current", ki->current);
                sk_json_end_object(j);
        } else {
                char t[64];
                struct timespec ts = { .tv_sec = (time_t) ki->created };
                sk_format_time(t, sizeof(t), &ts);
                printf("%c %-16s  %-10s  %.19sZ  %2u  ", ki->current ? '*' : ' ', ki->slot, kind_name(ki->kind), t,
                       ki->scrypt_log2n);
                sk_cli_put_name(stdout, ki->host ? ki->host : "");
                putchar('\n');
        }
        return 0;
}

static int key_cmd(sk_cli *cli, const char *sub, int argc, char **argv) {
        static const struct option opts[] = {
                { "new-password-file", required_argument, NULL, OPT_NEW_PASSWORD_FILE },
                { "new-key-file", required_argument, NULL, OPT_NEW_KEY_FILE },
                {}
        };
        static char cmdname[32];
        const char *new_pw = NULL, *new_key = NULL;
        int c;
        snprintf(cmdname, sizeof(cmdname), "key %s", sub);
        cli->command = cmdname;
        bool wants_new = strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0;
        while ((c = sk_cli_getopt(cli, argc, argv, "", wants_new ? opts : NULL, sk_help_for(cmdname))) != -1) {
                switch (c) {
                case 'h': return SK_EXIT_OK;
                case OPT_NEW_PASSWORD_FILE: new_pw = optarg; break;
                case OPT_NEW_KEY_FILE: new_key = optarg; break;
                default: return SK_EXIT_USAGE;
                }
        }
        if (new_pw && new_key)
                return sk_cli_usage_error(cli, "give --new-password-file or --new-key-file, not both");
        int nargs = argc - optind;
        if (strcmp(sub, "remove") == 0 ? nargs != 1 : nargs != 0)
                return sk_cli_usage_error(cli, strcmp(sub, "remove") == 0 ? "expects one SLOT argument"
                                                                          : "takes no arguments");
        sk_cli_setup(cli);
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        int e = sk_cli_open_repo(cli, &repo);
        if (e != SK_EXIT_OK)
                return e;
        int r;
        if (strcmp(sub, "list") == 0) {
                if (cli->json)
                        sk_json_begin_array(&cli->js);
                else
                        printf("  %-16s  %-10s  %-20s  %2s  %s\n", "SLOT", "KIND", "CREATED", "N", "HOST");
                r = sk_repo_key_list(repo, key_list_cb, cli);
                if (cli->json)
                        sk_json_end_array(&cli->js);
                if (r < 0)
                        return sk_cli_fail(cli, r, "cannot list the key slots of %s", cli->repo_url);
                return SK_EXIT_OK;
        }
        if (strcmp(sub, "remove") == 0) {
                const char *slot = argv[optind];
                r = sk_repo_key_remove(repo, slot);
                if (r == -EBUSY) {
                        fprintf(stderr,
                                "%s key remove: error: refusing to remove slot %s: it is the slot you opened the "
                                "repository with, or the last one (open with another key to remove it)\n",
                                cli->prog, slot);
                        return SK_EXIT_ERROR;
                }
                if (r == -ENOENT || r == -EINVAL) {
                        fprintf(stderr, "%s key remove: error: no key slot %s in %s\n", cli->prog, slot,
                                cli->repo_url);
                        return SK_EXIT_NOT_FOUND;
                }
                if (r < 0)
                        return sk_cli_fail(cli, r, "cannot remove key slot %s", slot);
                if (cli->json) {
                        sk_json_begin_object(&cli->js);
                        sk_json_kv_str(&cli->js, "removed", slot);
                        sk_json_end_object(&cli->js);
                } else if (!cli->quiet)
                        printf("removed key slot %s\n", slot);
                return SK_EXIT_OK;
        }
        /* add / passwd */
        _cleanup_(sk_secret_freep) sk_secret *secret = NULL;
        e = sk_cli_get_new_secret(cli, new_pw, new_key, &secret);
        if (e != SK_EXIT_OK)
                return e;
        _cleanup_free_ char *slot = NULL;
        if (strcmp(sub, "add") == 0)
                r = sk_repo_key_add(repo, secret, &slot);
        else
                r = sk_repo_key_passwd(repo, secret, &slot);
        if (r < 0)
                return sk_cli_fail(cli, r, "cannot write a new key slot to %s", cli->repo_url);
        if (cli->json) {
                sk_json_begin_object(&cli->js);
                sk_json_kv_str(&cli->js, strcmp(sub, "add") == 0 ? "added" : "replaced_by", slot);
                sk_json_kv_str(&cli->js, "kind", kind_name(sk_secret_get_kind(secret)));
                sk_json_end_object(&cli->js);
        } else if (!cli->quiet)
                printf("%s key slot %s (%s)\n", strcmp(sub, "add") == 0 ? "added" : "changed the secret; new",
                       slot, kind_name(sk_secret_get_kind(secret)));
        return SK_EXIT_OK;
}

int sk_cmd_key(sk_cli *cli, int argc, char **argv) {
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                fputs(sk_help_for("key"), argc < 2 ? stderr : stdout);
                return argc < 2 ? SK_EXIT_USAGE : SK_EXIT_OK;
        }
        const char *sub = argv[1];
        if (strcmp(sub, "add") && strcmp(sub, "list") && strcmp(sub, "remove") && strcmp(sub, "passwd")) {
                cli->command = "key";
                return sk_cli_usage_error(cli, "unknown subcommand '%s' (known: add, list, remove, passwd)", sub);
        }
        return key_cmd(cli, sub, argc - 1, argv + 1);
}

/* --- index rebuild --------------------------------------------------------------- */

static int index_rebuild(sk_cli *cli, int argc, char **argv) {
        static const struct option opts[] = {
                { "lock-wait", required_argument, NULL, OPT_LOCK_WAIT },
                {}
        };
        int c;
        cli->command = "index rebuild";
        while ((c = sk_cli_getopt(cli, argc, argv, "", opts, sk_help_for("index rebuild"))) != -1) {
                switch (c) {
                case 'h': return SK_EXIT_OK;
                case OPT_LOCK_WAIT:
                        if (sk_cli_parse_lock_wait(cli, optarg) != SK_EXIT_OK)
                                return SK_EXIT_USAGE;
                        break;
                default: return SK_EXIT_USAGE;
                }
        }
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        int e = sk_cli_finish_and_open(cli, argc, argv, &repo);
        if (e != SK_EXIT_OK)
                return e;
        sk_lock *lock = NULL;
        int r = sk_repo_lock(repo, true, cli->lock_wait, &lock);
        if (r < 0)
                return sk_cli_fail(cli, r, "cannot lock %s exclusively for the index rebuild", cli->repo_url);
        uint64_t packs = 0, blobs = 0, bad = 0;
        r = sk_repo_rebuild_index(repo, &packs, &blobs, &bad);
        sk_lock_release(lock);
        if (r < 0)
                return sk_cli_fail(cli, r, "index rebuild of %s failed", cli->repo_url);
        if (cli->json) {
                sk_json_begin_object(&cli->js);
                sk_json_kv_u64(&cli->js, "packs", packs);
                sk_json_kv_u64(&cli->js, "blobs", blobs);
                sk_json_kv_u64(&cli->js, "bad", bad);
                sk_json_end_object(&cli->js);
        } else if (!cli->quiet)
                printf("rebuilt the index from %llu packs: %llu blobs indexed, %llu corrupt packs or blobs left "
                       "out\n",
                       (unsigned long long) packs, (unsigned long long) blobs, (unsigned long long) bad);
        if (bad > 0 && !cli->quiet)
                fprintf(stderr,
                        "%s index rebuild: warning: %llu corrupt packs or blobs were left out; run 'snapkeep "
                        "check' to see which backups are affected\n",
                        cli->prog, (unsigned long long) bad);
        return SK_EXIT_OK;
}

int sk_cmd_index(sk_cli *cli, int argc, char **argv) {
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                fputs(sk_help_for("index"), argc < 2 ? stderr : stdout);
                return argc < 2 ? SK_EXIT_USAGE : SK_EXIT_OK;
        }
        if (strcmp(argv[1], "rebuild") == 0)
                return index_rebuild(cli, argc - 1, argv + 1);
        cli->command = "index";
        return sk_cli_usage_error(cli, "unknown subcommand '%s' (known: rebuild)", argv[1]);
}

/* --- version ---------------------------------------------------------------------- */

int sk_cmd_version(sk_cli *cli, int argc, char **argv) {
        int c;
        cli->command = "version";
        while ((c = sk_cli_getopt(cli, argc, argv, "", NULL, sk_help_for("version"))) != -1) {
                if (c == 'h')
                        return SK_EXIT_OK;
                return SK_EXIT_USAGE;
        }
        if (cli->json) {
                sk_json_begin_object(&cli->js);
                sk_json_kv_str(&cli->js, "version", SNAPKEEP_VERSION);
                sk_json_kv_u64(&cli->js, "repository_format", 1);
                sk_json_end_object(&cli->js);
        } else
                printf("snapkeep %s (repository format 1)\n", SNAPKEEP_VERSION);
        return SK_EXIT_OK;
}
