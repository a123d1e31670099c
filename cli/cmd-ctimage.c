/* snapkeep restore (container backups) and snapkeep export; see ctimage.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/manifest.h"
#include "container/oci-export.h"
#include "container/overlay-merge.h"
#include "repo/repo.h"
#include "backup/restore.h"
#include "cli/cli.h"
#include "cli/ctimage.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "container/record.h"
#include "container/selector.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(sk_manifest *, sk_manifest_free);

enum {
        OPT_TARGET = SK_OPT_FIRST_COMMAND_OPTION,
        OPT_LOCK_WAIT,
        OPT_INCLUDE,
        OPT_OVERWRITE,
        OPT_NO_OWNER,
        OPT_IO,
        OPT_LAYER,
        OPT_OCI_ARCHIVE,
        OPT_REF,
        OPT_CMD,
        OPT_TMPDIR,
        OPT_COMPRESS,
        OPT_KEEP_PRIVS,
        OPT_DROP_PRIVS,
        OPT_AS_IMAGE,
        OPT_NAMESPACE,
        OPT_CONTAINERD_SOCKET,
        OPT_SNAPSHOTTER,
};

/* ---- container metadata (object containers/<id>) -------------------------- */

/* The backups to restore, bottom first. */
typedef struct ct_meta {
        char **layers;
        size_t n_layers;
} ct_meta;

static void ct_meta_done(ct_meta *m) {
        for (size_t i = 0; i < m->n_layers; i++)
                free(m->layers[i]);
        free(m->layers);
        *m = (ct_meta) { 0 };
}

/* The layer backups of container/layer backup id (full id), bottom first,
 * ending with id itself. Returns an exit code. */
static int load_chain(sk_cli *cli, sk_repo *repo, const char *id, ct_meta *ret) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = sk_repo_get_object(repo, SK_CONTAINER_OBJ_DIR, id, (void **) &buf, &len);
        if (r < 0)
                return sk_cli_fail(cli, r, "container metadata of backup %s (object %s/%s) unreadable", id,
                                   SK_CONTAINER_OBJ_DIR, id);
        sk_container_record rec = { 0 };
        char why[256];
        r = sk_container_record_decode(buf, len, &rec, why, sizeof(why));
        if (r == -EBADMSG || r == -EPROTONOSUPPORT)
                return sk_cli_fail(cli, r, "container metadata of backup %s is malformed: %s", id, why);
        if (r < 0)
                return sk_cli_fail(cli, r, "container metadata of backup %s", id);
        /* The layers, without a self-reference (a layer backup may list
         * itself), then id on top. Layer ids are full ids (the codec checked). */
        ct_meta m = { .layers = calloc(rec.n_layers + 1, sizeof(char *)) };
        bool oom = !m.layers;
        for (size_t i = 0; !oom && i < rec.n_layers; i++)
                if (strcmp(rec.layers[i].backup_id, id) != 0)
                        oom = !(m.layers[m.n_layers++] = strdup(rec.layers[i].backup_id));
        if (!oom)
                oom = !(m.layers[m.n_layers++] = strdup(id));
        sk_container_record_clear(&rec);
        if (oom) {
                ct_meta_done(&m);
                return sk_cli_fail(cli, -ENOMEM, "out of memory");
        }
        *ret = m;
        return SK_EXIT_OK;
}

/* The manifest of backup `arg`: an id, a prefix, "latest" or a container
 * selector "latest:[HOST:][NS/]NAME" (container/selector.h). */
static int load_selected(sk_repo *repo, const char *arg, sk_manifest **ret) {
        char id[SK_BACKUP_ID_HEX + 1];
        int r = sk_selector_resolve(repo, arg, id);
        return r < 0 ? r : sk_backup_load(repo, id, ret);
}

/* Open the repository and load backup `arg`'s manifest. *ret_is_ct tells
 * whether it is a snapkeep container or layer backup. */
static int open_and_classify(sk_cli *cli, const char *arg, sk_repo **ret_repo, char ret_id[SK_BACKUP_ID_HEX + 1],
                             bool *ret_is_ct) {
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        int e = sk_cli_open_repo(cli, &repo);
        if (e != SK_EXIT_OK)
                return e;
        _cleanup_(sk_manifest_freep) sk_manifest *m = NULL;
        int r = load_selected(repo, arg, &m);
        if (r < 0)
                return sk_cli_fail(cli, r, "backup %s", arg);
        memcpy(ret_id, m->id, SK_BACKUP_ID_HEX + 1);
        *ret_is_ct = sk_container_tagged(m->tags, m->n_tags);
        *ret_repo = TAKE_PTR(repo);
        return SK_EXIT_OK;
}

/* sk_cli_setup, then open_and_classify() of a backup that must be a
 * container or layer backup. Returns an exit code. */
static int open_ct_backup(sk_cli *cli, const char *arg, sk_repo **ret_repo, char id[SK_BACKUP_ID_HEX + 1]) {
        sk_cli_setup(cli);
        bool is_ct = false;
        int e = open_and_classify(cli, arg, ret_repo, id, &is_ct);
        if (e == SK_EXIT_OK && !is_ct)
                e = sk_cli_fail(cli, -EINVAL,
                                "backup %s is not a container backup (no tag " SK_TAG_CONTAINER " or " SK_TAG_LAYER ")",
                                id);
        return e;
}

/* Like open_and_classify(), but prints nothing when the repository or the
 * manifest cannot be read: then *ret_is_ct is false and *ret_repo NULL. */
static int classify_quiet(sk_cli *cli, const char *arg, sk_repo **ret_repo, char ret_id[SK_BACKUP_ID_HEX + 1],
                          bool *ret_is_ct) {
        *ret_is_ct = false;
        *ret_repo = NULL;
        if (!cli->repo_url)
                return SK_EXIT_OK;
        sk_secret *secret = NULL;
        if (sk_cli_get_secret(cli, &secret) != SK_EXIT_OK)
                return SK_EXIT_OK;
        sk_repo *repo = NULL;
        int r = sk_repo_open_store(cli->repo_url, &cli->store, secret, &repo);
        sk_secret_free(secret);
        if (r < 0)
                return SK_EXIT_OK;
        sk_manifest *m = NULL;
        if (load_selected(repo, arg, &m) < 0) {
                sk_repo_free(repo);
                return SK_EXIT_OK;
        }
        memcpy(ret_id, m->id, SK_BACKUP_ID_HEX + 1);
        *ret_is_ct = sk_container_tagged(m->tags, m->n_tags);
        sk_manifest_free(m);
        *ret_repo = repo;
        return SK_EXIT_OK;
}

/* ---- restore --------------------------------------------------------------- */

static const char ct_restore_help[] =
        "\nContainer backups (made by `snapkeep backup --container/--snapshot/--all`):\n"
        "  The target gets the container's root filesystem as it looked when backed\n"
        "  up: every image layer and the writable layer merged the way overlayfs\n"
        "  shows them (whiteouts applied, opaque directories honoured). With --layer,\n"
        "  only the writable layer, exactly as overlayfs stores it (whiteouts are\n"
        "  char devices 0:0, opaque directories carry trusted.overlay.opaque=y).\n"
        "  DIR must not exist or be empty; it is filled through a temporary\n"
        "  directory next to it and appears only when complete. No daemon needed.\n"
        "  --layer                  restore only the writable layer (the diff)\n"
        "\n"
        "  --as-image REF           instead of a directory, make the backup an image\n"
        "                           REF in containerd's store: its image layers and its\n"
        "                           writable layer as a new top layer, rehydrated by\n"
        "                           snapkeepd from the repository (nothing downloaded\n"
        "                           or unpacked); a pod runs it by reference\n"
        "                           (imagePullPolicy: Never). Needs snapkeepd on this\n"
        "                           node with the same repository, and a backup that\n"
        "                           recorded its container's image (all but older\n"
        "                           snapkeepd's backups).\n"
        "                           The new layer's blob is not stored: to move the\n"
        "                           image elsewhere use `snapkeep export`. REF must not\n"
        "                           exist; on any error nothing is left behind.\n"
        "  --namespace NS           containerd namespace of the image (default k8s.io,\n"
        "                           where Kubernetes' CRI looks)\n"
        "  --containerd-socket P    containerd's socket (default "
        SK_DEFAULT_CONTAINERD_SOCKET ")\n"
        "  --snapshotter NAME       containerd's name for snapkeep (default snapkeep)\n";

static int restore_layer_into(sk_cli *cli, sk_repo *repo, const char *id, const char *dir, bool no_owner,
                              int privileges, uint64_t *files, uint64_t *bytes) {
        const char *inc[] = { SK_CONTAINER_FS_DIR };
        sk_restore_options ro = {
                .target = dir,
                .includes = inc,
                .n_includes = 1,
                .no_owner = no_owner,
                .privileges = privileges,
                .lock_wait_seconds = cli->lock_wait,
                .progress = sk_cli_progress_cb,
                .problem = sk_cli_problem_cb,
                .userdata = cli,
        };
        sk_restore_result res = {};
        int r = sk_restore_run(repo, id, &ro, &res);
        sk_cli_progress_done(cli);
        *files += res.files;
        *bytes += res.bytes;
        if (r < 0)
                return sk_cli_fail(cli, r, "restoring layer backup %s failed%s", id,
                                   r == -EIO ? " (some files could not be restored, see above)" : "");
        return SK_EXIT_OK;
}

/* DIR must be absent or an empty directory; it is removed if empty so the
 * result can be renamed into place. */
static int prepare_target(sk_cli *cli, const char *target) {
        struct stat st;
        if (lstat(target, &st) < 0)
                return errno == ENOENT ? SK_EXIT_OK : sk_cli_fail(cli, negative_errno(), "target %s", target);
        if (!S_ISDIR(st.st_mode))
                return sk_cli_usage_error(cli, "target %s exists and is not a directory", target);
        if (rmdir(target) < 0)
                return sk_cli_fail(cli, errno == ENOTEMPTY || errno == EEXIST ? -EEXIST : negative_errno(),
                                   "target %s must be absent or an empty directory", target);
        return SK_EXIT_OK;
}

static int ct_restore(sk_cli *cli, sk_repo *repo, const char *id, const char *target, bool layer_only,
                      bool no_owner, int privileges) {
        int e = prepare_target(cli, target);
        if (e != SK_EXIT_OK)
                return e;
        ct_meta m = { 0 };
        if (layer_only) {
                m.layers = calloc(1, sizeof(char *));
                if (!m.layers || !(m.layers[0] = strdup(id))) {
                        ct_meta_done(&m);
                        return sk_cli_fail(cli, -ENOMEM, "out of memory");
                }
                m.n_layers = 1;
        } else {
                e = load_chain(cli, repo, id, &m);
                if (e != SK_EXIT_OK)
                        return e;
        }
        /* Work next to the target so rename() moves things into place. */
        _cleanup_free_ char *work = NULL;
        if (asprintf(&work, "%s.snapkeep-restore-XXXXXX", target) < 0 || !mkdtemp(work)) {
                ct_meta_done(&m);
                return sk_cli_fail(cli, -errno ?: -ENOMEM, "cannot create a work directory next to %s", target);
        }
        uint64_t files = 0, bytes = 0;
        char *sub = NULL;
        e = SK_EXIT_OK;
        int r = 0;
        _cleanup_close_ int merged_fd = -1;
        if (!layer_only) {
                if (asprintf(&sub, "%s/merged", work) < 0 || mkdir(sub, 0700) < 0 ||
                    (merged_fd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
                        e = sk_cli_fail(cli, -errno ?: -ENOMEM, "work directory %s", work);
                        goto out;
                }
                free(sub);
                sub = NULL;
        }
        for (size_t i = 0; i < m.n_layers; i++) {
                char name[PATH_MAX];
                snprintf(name, sizeof(name), "%s/%zu", work, i);
                e = restore_layer_into(cli, repo, m.layers[i], name, no_owner, privileges, &files, &bytes);
                if (e != SK_EXIT_OK)
                        goto out;
                free(sub);
                if (asprintf(&sub, "%s/%zu/" SK_CONTAINER_FS_DIR, work, i) < 0) {
                        sub = NULL;
                        e = sk_cli_fail(cli, -ENOMEM, "out of memory");
                        goto out;
                }
                /* A layer's fs comes from the repository: it must be a
                 * directory itself, never a symlink to one (the merge would
                 * move the entries of whatever it names, anywhere). */
                _cleanup_close_ int lfd = open(sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (lfd < 0) {
                        r = negative_errno();
                        struct stat st;
                        bool link = lstat(sub, &st) == 0 && S_ISLNK(st.st_mode);
                        e = sk_cli_fail(cli, r, "layer backup %s: %s/ is %s", m.layers[i], SK_CONTAINER_FS_DIR,
                                        r == -ENOENT ? "missing" : link ? "a symbolic link, not a directory"
                                                                        : "not a directory");
                        goto out;
                }
                if (layer_only) {
                        if (rename(sub, target) < 0) {
                                e = sk_cli_fail(cli, negative_errno(), "moving the restored layer to %s", target);
                                goto out;
                        }
                        break;
                }
                _cleanup_free_ char *detail = NULL;
                r = sk_overlay_apply(merged_fd, lfd, &detail);
                if (r < 0) {
                        e = sk_cli_fail(cli, r, "merging layer backup %s: %s", m.layers[i], detail ?: "failed");
                        goto out;
                }
                /* Free the space of this layer's leftovers (its directories) now. */
                snprintf(name, sizeof(name), "%s/%zu", work, i);
                (void) sk_rm_rf(name);
        }
        if (!layer_only) {
                free(sub);
                if (asprintf(&sub, "%s/merged", work) < 0) {
                        sub = NULL;
                        e = sk_cli_fail(cli, -ENOMEM, "out of memory");
                        goto out;
                }
                if (rename(sub, target) < 0) {
                        e = sk_cli_fail(cli, negative_errno(), "moving the merged root filesystem to %s", target);
                        goto out;
                }
        }
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_begin_object(j);
                sk_json_kv_str(j, "backup", id);
                sk_json_path(j, "target", target);
                sk_json_kv_str(j, "mode", layer_only ? "layer" : "merged");
                sk_json_kv_u64(j, "layers", layer_only ? 1 : m.n_layers);
                sk_json_kv_u64(j, "files", files);
                sk_json_kv_u64(j, "bytes", bytes);
                sk_json_end_object(j);
                fputc('\n', stdout);
        } else if (!cli->quiet) {
                printf("restored %s of container backup %s (%zu layer%s, %llu files, %llu bytes) to ",
                       layer_only ? "the writable layer" : "the merged root filesystem", id,
                       layer_only ? (size_t) 1 : m.n_layers, (layer_only || m.n_layers == 1) ? "" : "s",
                       (unsigned long long) files, (unsigned long long) bytes);
                sk_cli_put_name(stdout, target);
                putchar('\n');
        }
out:
        free(sub);
        (void) sk_rm_rf(work);
        ct_meta_done(&m);
        return e;
}

int sk_cmd_restore(sk_cli *cli, int argc, char **argv) {
        static const struct option opts[] = {
                { "target", required_argument, NULL, OPT_TARGET },
                { "include", required_argument, NULL, OPT_INCLUDE },
                { "overwrite", no_argument, NULL, OPT_OVERWRITE },
                { "no-owner", no_argument, NULL, OPT_NO_OWNER },
                { "io", required_argument, NULL, OPT_IO },
                { "layer", no_argument, NULL, OPT_LAYER },
                { "keep-privileges", no_argument, NULL, OPT_KEEP_PRIVS },
                { "drop-privileges", no_argument, NULL, OPT_DROP_PRIVS },
                { "lock-wait", required_argument, NULL, OPT_LOCK_WAIT },
                { "as-image", required_argument, NULL, OPT_AS_IMAGE },
                { "namespace", required_argument, NULL, OPT_NAMESPACE },
                { "containerd-socket", required_argument, NULL, OPT_CONTAINERD_SOCKET },
                { "snapshotter", required_argument, NULL, OPT_SNAPSHOTTER },
                {}
        };
        sk_as_image_options ai = { .namespace_ = "k8s.io", .containerd_socket = SK_DEFAULT_CONTAINERD_SOCKET,
                                   .snapshotter = "snapkeep" };
        bool ai_opts = false;
        _cleanup_free_ char *help = NULL;
        if (asprintf(&help, "%s%s", sk_help_for("restore") ?: "", ct_restore_help) < 0)
                help = NULL;
        /* Parsed once, for both kinds of backup: the plain restore gets these
         * options as they are; a container restore takes target, owners and
         * privileges and refuses the rest. */
        sk_restore_options ro = { .privileges = SK_RESTORE_PRIV_AUTO };
        _cleanup_free_ const char **incl = NULL;
        size_t n_incl = 0;
        const char *io_arg = NULL;
        bool layer = false;
        int c;
        cli->command = "restore";
        cli->lock_wait = SK_CLI_READ_LOCK_WAIT;
        while ((c = sk_cli_getopt(cli, argc, argv, "t:i:", opts, help ?: ct_restore_help)) != -1) {
                switch (c) {
                case 'h': return SK_EXIT_OK;
                case 't':
                case OPT_TARGET: ro.target = optarg; break;
                case OPT_LAYER: layer = true; break;
                case OPT_NO_OWNER: ro.no_owner = true; break;
                case OPT_KEEP_PRIVS: ro.privileges = SK_RESTORE_PRIV_KEEP; break;
                case OPT_DROP_PRIVS: ro.privileges = SK_RESTORE_PRIV_DROP; break;
                case 'i':
                case OPT_INCLUDE: {
                        int e = sk_cli_list_add(cli, &incl, &n_incl, optarg);
                        if (e != SK_EXIT_OK)
                                return e;
                        break;
                }
                case OPT_OVERWRITE: ro.overwrite = true; break;
                case OPT_IO: io_arg = optarg; break;
                case OPT_AS_IMAGE: ai.ref = optarg; break;
                case OPT_NAMESPACE: ai.namespace_ = optarg, ai_opts = true; break;
                case OPT_CONTAINERD_SOCKET: ai.containerd_socket = optarg, ai_opts = true; break;
                case OPT_SNAPSHOTTER: ai.snapshotter = optarg, ai_opts = true; break;
                case OPT_LOCK_WAIT:
                        if (sk_cli_parse_lock_wait(cli, optarg) != SK_EXIT_OK)
                                return SK_EXIT_USAGE;
                        break;
                default: return SK_EXIT_USAGE;
                }
        }
        ro.lock_wait_seconds = cli->lock_wait;
        if (argc - optind != 1)
                return sk_cli_usage_error(cli, "expects exactly one backup ID (or 'latest')");
        if (ai.ref) {
                if (ro.target || layer || n_incl || ro.overwrite || io_arg)
                        return sk_cli_usage_error(cli, "--as-image makes an image in containerd: --target, --layer, "
                                                       "--include, --overwrite and --io do not go with it");
                _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
                char id[SK_BACKUP_ID_HEX + 1];
                int e = open_ct_backup(cli, argv[optind], &repo, id);
                return e != SK_EXIT_OK ? e : sk_ct_restore_as_image(cli, repo, id, &ai);
        }
        if (ai_opts)
                return sk_cli_usage_error(cli, "--namespace, --containerd-socket and --snapshotter go with --as-image");
        if (!ro.target)
                return sk_cli_usage_error(cli, "--target DIR (or --as-image REF) is required");
        const char *arg = argv[optind];
        sk_cli_setup(cli);
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        char id[SK_BACKUP_ID_HEX + 1];
        bool is_ct = false;
        /* Without --layer, anything that is not clearly a container backup
         * (including a repository or backup that cannot be opened) goes to the
         * plain restore command, which reports errors its own way. */
        int e = layer ? open_and_classify(cli, arg, &repo, id, &is_ct) : classify_quiet(cli, arg, &repo, id, &is_ct);
        if (e != SK_EXIT_OK)
                return e;
        if (!is_ct) {
                if (layer)
                        return sk_cli_usage_error(cli, "--layer applies only to container backups; %s is not one",
                                                  arg);
                /* A plain directory backup: the ordinary restore command,
                 * on the repository opened here (NULL if it could not be). */
                cli->opened_repo = TAKE_PTR(repo);
                ro.includes = incl;
                ro.n_includes = n_incl;
                return sk_cli_restore_tree(cli, arg, &ro, io_arg);
        }
        if (n_incl || ro.overwrite || io_arg)
                return sk_cli_usage_error(cli, "--include, --overwrite and --io do not apply to container backups");
        return ct_restore(cli, repo, id, ro.target, layer, ro.no_owner, ro.privileges);
}

/* ---- export ---------------------------------------------------------------- */

static const char export_help[] =
        "Usage: snapkeep export [OPTIONS] ID --oci-archive FILE --ref NAME[:TAG]\n"
        "\n"
        "Write a container backup as an OCI image archive: the image layers it was\n"
        "taken on, then its writable layer as a new top layer. Overlayfs whiteouts\n"
        "and opaque directories become OCI \".wh.\" entries; xattrs (except\n"
        "trusted.overlay.*), owners, modes, nanosecond mtimes and hardlinks are\n"
        "kept (containerd itself drops trusted.* xattrs when it imports). The\n"
        "archive holds oci-layout, index.json (io.containerd.image.name =\n"
        "NAME:TAG), the manifest, the config (rootfs.diff_ids) and the layers\n"
        "under blobs/sha256/. Import it anywhere, with any snapshotter:\n"
        "  ctr images import FILE\n"
        "Every chunk is verified; on any error no archive is left behind. Needs\n"
        "only the repository, no daemon.\n"
        "\n"
        "Options:\n"
        "  --oci-archive FILE       the archive to write (replaced atomically)\n"
        "  --ref NAME[:TAG]         image name; normalised like docker does\n"
        "                           (\"app\" -> docker.io/library/app:latest)\n"
        "  --cmd ARG                the image's default command (repeatable;\n"
        "                           default /bin/sh)\n"
        "  --tmpdir DIR             where layer tars are staged (default: the\n"
        "                           archive's directory)\n"
        "  --compress none|zstd     layer compression (default none: plain tar\n"
        "                           layers, readable everywhere; zstd needs\n"
        "                           containerd >= 1.5, podman or Docker >= 23)\n"
        "  --json                   print the result as JSON\n"
        "\n"
        "Exit status: 0 ok, 1 usage, 2 error, 3 wrong key, 4 corrupt or missing\n"
        "data, 6 backup not found.\n";

int sk_cmd_export(sk_cli *cli, int argc, char **argv) {
        static const struct option opts[] = {
                { "oci-archive", required_argument, NULL, OPT_OCI_ARCHIVE },
                { "ref", required_argument, NULL, OPT_REF },
                { "cmd", required_argument, NULL, OPT_CMD },
                { "tmpdir", required_argument, NULL, OPT_TMPDIR },
                { "compress", required_argument, NULL, OPT_COMPRESS },
                {}
        };
        const char *out = NULL, *ref = NULL, *tmpdir = NULL;
        int zstd_level = 0;
        _cleanup_free_ const char **cmd = NULL;
        size_t n_cmd = 0;
        int c;
        cli->command = "export";
        while ((c = sk_cli_getopt(cli, argc, argv, "", opts, export_help)) != -1) {
                switch (c) {
                case 'h': return SK_EXIT_OK;
                case OPT_OCI_ARCHIVE: out = optarg; break;
                case OPT_REF: ref = optarg; break;
                case OPT_TMPDIR: tmpdir = optarg; break;
                case OPT_COMPRESS:
                        if (strcmp(optarg, "none") == 0)
                                zstd_level = 0;
                        else if (strcmp(optarg, "zstd") == 0)
                                zstd_level = 3;
                        else
                                return sk_cli_usage_error(cli, "--compress takes none or zstd, not '%s'", optarg);
                        break;
                case OPT_CMD: {
                        const char **nc = realloc(cmd, (n_cmd + 1) * sizeof(*cmd));
                        if (!nc)
                                return sk_cli_fail(cli, -ENOMEM, "out of memory");
                        cmd = nc;
                        cmd[n_cmd++] = optarg;
                        break;
                }
                default: return SK_EXIT_USAGE;
                }
        }
        if (argc - optind != 1)
                return sk_cli_usage_error(cli, "expects exactly one backup ID (or 'latest')");
        if (!out)
                return sk_cli_usage_error(cli, "--oci-archive FILE is required");
        if (!ref)
                return sk_cli_usage_error(cli, "--ref NAME[:TAG] is required");
        char norm[512];
        if (sk_oci_normalize_ref(ref, norm, sizeof(norm)) < 0)
                return sk_cli_usage_error(cli, "'%s' is not a valid image reference", ref);
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        char id[SK_BACKUP_ID_HEX + 1];
        int e = open_ct_backup(cli, argv[optind], &repo, id);
        if (e != SK_EXIT_OK)
                return e;
        ct_meta m = { 0 };
        e = load_chain(cli, repo, id, &m);
        if (e != SK_EXIT_OK)
                return e;
        sk_oci_layer_src *src = calloc(m.n_layers, sizeof(*src));
        if (!src) {
                ct_meta_done(&m);
                return sk_cli_fail(cli, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < m.n_layers; i++)
                src[i] = (sk_oci_layer_src) { .backup_id = m.layers[i], .path = SK_CONTAINER_FS_DIR };
        sk_oci_export_options o = {
                .layers = src,
                .n_layers = m.n_layers,
                .ref = ref,
                .output = out,
                .tmpdir = tmpdir,
                .zstd_level = zstd_level,
                .cmd = cmd,
                .n_cmd = n_cmd,
                .progress = sk_cli_progress_cb,
                .problem = sk_cli_problem_cb,
                .userdata = cli,
        };
        sk_oci_export_result res = {};
        int r = sk_oci_export_run(repo, &o, &res);
        sk_cli_progress_done(cli);
        free(src);
        ct_meta_done(&m);
        if (r < 0)
                return sk_cli_fail(cli, r, "export of backup %s failed; no archive written", id);
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_begin_object(j);
                sk_json_kv_str(j, "backup", id);
                sk_json_path(j, "archive", out);
                sk_json_kv_str(j, "ref", res.ref);
                sk_json_kv_str(j, "manifest_digest", res.manifest_digest);
                sk_json_kv_u64(j, "layers", res.layers);
                sk_json_kv_u64(j, "entries", res.entries);
                sk_json_kv_u64(j, "bytes", res.bytes);
                sk_json_kv_u64(j, "archive_size", res.archive_size);
                sk_json_end_object(j);
                fputc('\n', stdout);
        } else if (!cli->quiet) {
                char sz[32];
                printf("exported container backup %s as %s (%llu layers, %s) to ", id, res.ref,
                       (unsigned long long) res.layers, sk_cli_format_size(res.archive_size, sz, sizeof(sz)));
                sk_cli_put_name(stdout, out);
                putchar('\n');
        }
        return SK_EXIT_OK;
}
