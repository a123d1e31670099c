/* The --help texts. Kept in one place so they stay consistent with each other
 * and with docs/man/snapkeep.1. */
#include <string.h>

#include "cli/cli.h"

#define GLOBAL_OPTIONS \
        "Global options (accepted by every command, before or after its name):\n" \
        "  -r, --repo URL           repository: a directory path, file:///path or\n" \
        "                           s3://BUCKET/PREFIX (default: $SNAPKEEP_REPO)\n" \
        "      --s3-endpoint URL    S3 endpoint for s3://BUCKET/PREFIX repositories\n" \
        "                           (default: $SNAPKEEP_S3_ENDPOINT)\n" \
        "      --password-file FILE read the passphrase from FILE (one trailing newline\n" \
        "                           is ignored; default: $SNAPKEEP_PASSWORD_FILE)\n" \
        "      --key-file FILE      open with a key file slot instead of a passphrase\n" \
        "                           (default: $SNAPKEEP_KEY_FILE)\n" \
        "      --json               machine-readable output on stdout (see snapkeep(1))\n" \
        "  -q, --quiet              print only errors; no progress\n" \
        "      --no-progress        no progress line even on a terminal\n" \
        "  -v, --verbose            more detail\n" \
        "  -h, --help               show help for the tool or the command\n" \
        "Without --password-file or --key-file the passphrase is asked for on the\n" \
        "terminal, without echo. Secrets are never taken from the command line.\n"

#define EXIT_CODES \
        "Exit status:\n" \
        "  0  success\n" \
        "  1  usage error (bad option or argument)\n" \
        "  2  repository or I/O error; the operation was not done\n" \
        "  3  wrong passphrase or key file, or no secret available\n" \
        "  4  integrity problem: corruption found, or some files failed (partial result)\n" \
        "  5  repository locked by another process (a backup, prune or index rebuild)\n" \
        "  6  not found: no repository, backup or path of that name\n" \
        "  130 interrupted (SIGINT/SIGTERM)\n"

const char sk_help_main[] =
        "Usage: snapkeep [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n"
        "\n"
        "Back up directory trees into a deduplicating, compressing, encrypted and\n"
        "verified repository, and restore them exactly (owners, modes, nanosecond\n"
        "times, xattrs and ACLs, hardlinks, devices, overlay whiteouts, sparse files).\n"
        "\n"
        "Commands:\n"
        "  repo init                 create a repository\n"
        "  backup DIR... [--tag T]   back up files and directories\n"
        "  backups                   list the backups\n"
        "  ls ID [PATH]              list the contents of a backup\n"
        "  restore ID --target DIR   restore a backup (or --include parts of it)\n"
        "  diff ID1 ID2              show what changed between two backups\n"
        "  check [--read-data | --read-data-subset N%]\n"
        "                            verify the repository's structure (and data)\n"
        "  forget --keep-... [--prune]\n"
        "                            remove backups by a retention policy\n"
        "  prune                     delete data no backup references\n"
        "  stats [ID]                sizes, deduplication and compression figures\n"
        "  key add|list|remove|passwd\n"
        "                            manage the key slots (passphrases, key files)\n"
        "  index rebuild             recreate the index from the packs\n"
        "  backup --container ID | --snapshot KEY | --all\n"
        "                            back up live containers through snapkeepd\n"
        "  export ID --oci-archive FILE --ref NAME\n"
        "                            write a container backup as an OCI image\n"
        "  daemon status|backups|events|restore\n"
        "                            ask snapkeepd (status, progress events, ...)\n"
        "  setup containerd [--cri]  add snapkeep to containerd's config\n"
        "  version                   print the version\n"
        "  help [COMMAND]            show help ('snapkeep COMMAND --help' too)\n"
        "\n"
        "ID is a backup id, any unique prefix of at least 4 hex digits, or 'latest'.\n"
        "\n" GLOBAL_OPTIONS "\n" EXIT_CODES "\n"
        "Example:\n"
        "  export SNAPKEEP_REPO=/srv/backup SNAPKEEP_PASSWORD_FILE=/root/.snapkeep-pass\n"
        "  snapkeep repo init\n"
        "  snapkeep backup /etc /home --tag nightly\n"
        "  snapkeep backups\n"
        "  snapkeep restore latest --target /tmp/restore --include etc\n"
        "  snapkeep check --read-data\n"
        "\n"
        "See snapkeep(1) for the full manual.\n";

static const struct {
        const char *name;
        const char *text;
} helps[] = {
        { "repo",
          "Usage: snapkeep repo init [OPTIONS]\n"
          "\n"
          "Repository commands. See 'snapkeep repo init --help'.\n" },
        { "repo init",
          "Usage: snapkeep repo init --repo URL [OPTIONS]\n"
          "\n"
          "Create a new repository at URL (a directory, which may exist but must not\n"
          "hold a repository yet). A random master key is generated and wrapped in a\n"
          "first key slot for the secret given with --password-file or --key-file, or\n"
          "a passphrase asked for twice on the terminal.\n"
          "\n"
          "Options:\n"
          "      --chunk-min SIZE     smallest chunk (default 256K)\n"
          "      --chunk-avg SIZE     average chunk (default 1M)\n"
          "      --chunk-max SIZE     largest chunk (default 8M); give all three or none\n"
          "      --compression LEVEL  default zstd level, 1..19 (default 3)\n"
          "      --pack-size SIZE     target pack file size (default 16M)\n"
          "      --scrypt-log2n N     scrypt cost of the first key slot, 10..20\n"
          "                           (default 15; lower only for tests)\n"
          "      --format-version N   repository format, 1 or 2 (default 2). Version 2\n"
          "                           hashes each byte once (a file's content hash is\n"
          "                           derived from its chunk ids); choose 1 only for a\n"
          "                           repository that older snapkeep binaries (format\n"
          "                           1 only) must read\n"
          "SIZE takes a K, M or G suffix (powers of 1024).\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "backup",
          "Usage: snapkeep backup [OPTIONS] PATH...\n"
          "       snapkeep backup --container ID [--namespace NS] | --snapshot KEY | --all\n"
          "\n"
          "With --container, --snapshot or --all, live snapshots are backed up through\n"
          "snapkeepd's control API (see `snapkeep backup --all --help`).\n"
          "\n"
          "Back up the given files and directories as one new backup. Each PATH\n"
          "becomes an entry of the backup's root named after its last component.\n"
          "Everything is kept: content (sparse files keep their holes), type, mode\n"
          "including setuid/setgid/sticky, owner, nanosecond mtime and atime, every\n"
          "xattr (user.*, trusted.*, security.*, POSIX ACLs), hardlink groups,\n"
          "devices, FIFOs and overlayfs whiteouts, names that are not UTF-8 and paths\n"
          "longer than PATH_MAX. Files unchanged since the parent backup (same device,\n"
          "inode, size, mtime and ctime) are not read again. Data is split into\n"
          "content-defined chunks, deduplicated against the whole repository,\n"
          "compressed with zstd and encrypted with AES-256-GCM.\n"
          "\n"
          "Entries that cannot be read are reported and left out; the backup is\n"
          "still saved and the exit status is 4. Several backups may run into one\n"
          "repository at once; a running prune makes backup fail with status 5.\n"
          "\n"
          "Options:\n"
          "  -t, --tag TAG            add TAG to the backup (repeatable)\n"
          "      --host NAME          record NAME as the host (default: hostname)\n"
          "      --parent ID          compare against this backup to skip unchanged\n"
          "                           files (default: the newest backup of the same\n"
          "                           host and sources)\n"
          "      --no-parent          read every file\n"
          "      --force              read every file even if its metadata is unchanged\n"
          "      --workers N          compression/encryption threads (default 2)\n"
          "      --compression LEVEL  zstd level for this run, 1..19\n"
          "      --lock-wait SECONDS  wait this long if a prune holds the lock\n"
          "      --io MODE            I/O engine: uring, threads or auto (default:\n"
          "                           $SNAPKEEP_IO, else auto: io_uring when the kernel\n"
          "                           allows it, else a thread pool; the choice and why\n"
          "                           is printed once)\n"
          "\n"
          "Output: the new backup's id and counts; with --json an object with id,\n"
          "parent, summary, bytes_read, blobs_added and problems.\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "backups",
          "Usage: snapkeep backups [OPTIONS]\n"
          "\n"
          "List the backups, oldest first: id, time (UTC), host, number of entries,\n"
          "size, tags and sources. With --quiet only the full ids are printed.\n"
          "With --json: an array of objects with id, time (RFC 3339, nanoseconds,\n"
          "UTC), hostname, sources, tags, parent, program_version, summary and,\n"
          "for a Kubernetes pod's container, kubernetes {namespace, pod, container}.\n"
          "\n"
          "Backups that snapkeepd made of a pod's container (through containerd's CRI\n"
          "plugin) carry the pod's namespace, the pod's name and the container's name\n"
          "as tags (snapkeep:k8s-namespace=, snapkeep:k8s-pod=, snapkeep:k8s-container=),\n"
          "shown in SOURCES as \"(pod NAMESPACE/POD container NAME)\".\n"
          "\n"
          "Options:\n"
          "  -l, --long               show full 64-digit ids\n"
          "      --tag TAG            only backups carrying TAG\n"
          "      --host NAME          only backups from host NAME\n"
          "      --k8s-namespace NS   only backups of containers of pods in Kubernetes\n"
          "                           namespace NS\n"
          "      --pod NAME           only backups of containers of pod NAME\n"
          "      --k8s-container NAME only backups of pod containers named NAME\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "ls",
          "Usage: snapkeep ls [OPTIONS] ID [PATH]\n"
          "\n"
          "List the entry PATH of backup ID (default: the root) and, if it is a\n"
          "directory, its children. PATH is relative to the backup root, whose\n"
          "entries are named after the backed-up sources (e.g. 'etc/passwd').\n"
          "Bytes that are not printable UTF-8 are shown as \\xNN.\n"
          "\n"
          "Options:\n"
          "  -R, --recursive          list everything below PATH\n"
          "  -l, --long               show mode, uid, gid, size (or device numbers),\n"
          "                           mtime and symlink targets\n"
          "With --json: an array of objects with path, name, type, mode, uid, gid,\n"
          "size, mtime, atime, target, rdev_major/rdev_minor, content_hash,\n"
          "content_hash_rule (1: over the data, 2: over the chunk ids), nlink and\n"
          "xattrs (name, value_base64).\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "restore",
          "Usage: snapkeep restore [OPTIONS] ID --target DIR\n"
          "\n"
          "Restore backup ID into DIR (created if missing; its parent must exist).\n"
          "Entries keep their path below DIR: a backup of /srv/data restores to\n"
          "DIR/data. Every blob is verified when read and every file's content hash\n"
          "is checked end to end. A file whose data is missing or corrupt is\n"
          "reported with the pack and blob concerned and left out; everything else\n"
          "is restored and the exit status is 4. Owners are restored when running\n"
          "as root. Only then are device nodes, setuid/setgid bits and file\n"
          "capabilities restored: each entry gets back the owner it had, so the\n"
          "backup grants nothing its owners did not have. Otherwise devices are\n"
          "skipped with a warning (overlayfs whiteouts excepted) and the bits and\n"
          "capabilities are cleared, as GNU tar does. Nothing is ever created or\n"
          "changed outside DIR: DIR itself must not be a symbolic link, and no\n"
          "symbolic link is followed below it.\n"
          "\n"
          "Options:\n"
          "  -t, --target DIR         where to restore (required)\n"
          "  -i, --include PATH       restore only PATH (and what is below it);\n"
          "                           repeatable\n"
          "      --overwrite          replace existing files in DIR (default: fail)\n"
          "      --no-owner           do not chown (clears setuid/setgid and\n"
          "                           capabilities, skips devices)\n"
          "      --drop-privileges    skip device nodes, clear setuid/setgid and\n"
          "                           capabilities even when owners are restored\n"
          "      --keep-privileges    restore device nodes even with --no-owner\n"
          "      --io MODE            I/O engine: uring, threads or auto (default:\n"
          "                           $SNAPKEEP_IO, else auto: io_uring when the kernel\n"
          "                           allows it, else a thread pool; the choice and why\n"
          "                           is printed once)\n"
          "      --lock-wait SECONDS  wait this long if a prune holds the lock\n"
          "                           (default 60; 0: fail at once with status 5)\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "diff",
          "Usage: snapkeep diff [OPTIONS] ID1 ID2\n"
          "\n"
          "Show what changed from backup ID1 to ID2, one line per path:\n"
          "  +  added      -  removed\n"
          "  M  content, type, symlink target or device changed\n"
          "  U  only metadata (mode, owner, mtime, xattrs) changed\n"
          "Unchanged subtrees are skipped without being read.\n"
          "With --json: an object with old, new, changes (kind, path, type) and the\n"
          "counts.\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "check",
          "Usage: snapkeep check [OPTIONS]\n"
          "\n"
          "Verify the repository: every backup manifest and every tree is loaded,\n"
          "every referenced blob must be in the index, and the index must agree with\n"
          "the packs. With --read-data every blob of every pack is also decrypted and\n"
          "verified. Every problem is printed naming the pack, the blob, and the\n"
          "backups and files that use it. Unreferenced packs (left by an interrupted\n"
          "backup) are warnings; 'snapkeep prune' removes them.\n"
          "\n"
          "Options:\n"
          "      --read-data          read and verify all data\n"
          "      --read-data-subset N%\n"
          "                           read only N percent of the packs\n"
          "      --seed N             choose the subset (same seed, same packs)\n"
          "      --lock-wait SECONDS  wait this long if a prune holds the lock\n"
          "                           (default 60; 0: fail at once with status 5)\n"
          "\n"
          "Exit status 4 when any error was found.\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "forget",
          "Usage: snapkeep forget [OPTIONS] --keep-... | ID...\n"
          "\n"
          "Remove backups, either those given by ID or those a retention policy\n"
          "does not keep. The policy applies per group of backups with the same host\n"
          "and sources; within a group a backup is kept if any rule keeps it:\n"
          "\n"
          "Options:\n"
          "      --keep-last N        the N newest backups\n"
          "      --keep-hourly N      the newest backup of each of the last N hours\n"
          "      --keep-daily N       ... days\n"
          "      --keep-weekly N      ... ISO weeks\n"
          "      --keep-monthly N     ... months\n"
          "      --keep-yearly N      ... years (periods in local time, as restic)\n"
          "      --keep-tag TAG       every backup carrying TAG (repeatable)\n"
          "      --prune              run 'snapkeep prune' afterwards\n"
          "      --grace DURATION     with --prune: as prune --grace\n"
          "  -n, --dry-run            only show what would be removed\n"
          "      --lock-wait SECONDS  wait this long for the exclusive lock\n"
          "\n"
          "Forgetting removes only the backup's manifest; prune reclaims the data.\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "prune",
          "Usage: snapkeep prune [OPTIONS]\n"
          "\n"
          "Delete data that no backup references: packs without live blobs, packs\n"
          "left by interrupted backups, and (by repacking) packs that are mostly\n"
          "garbage. Deletion is delayed: a prune marks such packs and takes them out\n"
          "of the index; a prune run after the grace period deletes those still\n"
          "unreferenced (and keeps any a backup needs again). So a backup that was\n"
          "stopped or suspended past its lock's stale time never loses data. Prune\n"
          "takes the repository's exclusive lock: while a backup runs it refuses\n"
          "with exit status 5 and changes nothing (or waits, with --lock-wait). A\n"
          "backup that cannot be read stops prune before anything is marked.\n"
          "\n"
          "Options:\n"
          "  -n, --dry-run            only compute and report\n"
          "      --repack-below PCT   repack packs less than PCT% live (default 50)\n"
          "      --lock-wait SECONDS  wait up to SECONDS for running backups to end\n"
          "      --grace DURATION     delete marked packs this long after marking\n"
          "                           (s, m, h, d; default 1h or twice the lock stale\n"
          "                           time). 0 deletes at once: only when no other\n"
          "                           process can be writing to the repository\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "stats",
          "Usage: snapkeep stats [OPTIONS] [ID]\n"
          "\n"
          "Show figures over all backups (or backup ID): entries and their total\n"
          "size, unique data referenced, bytes stored in packs, deduplication and\n"
          "compression ratios, and index counts. With --json an object with backups,\n"
          "files, total_size, trees, blobs, unique_size, stored_size, packs,\n"
          "dedup_ratio, compression_ratio and repository (pack_bytes, ...).\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "key",
          "Usage: snapkeep key add|list|remove|passwd [OPTIONS]\n"
          "\n"
          "Manage key slots. The master key is wrapped once per slot; each slot is\n"
          "opened by a passphrase or by a key file.\n"
          "  key list                  list the slots ('*' marks the one you used)\n"
          "  key add                   add a slot for a new passphrase or key file\n"
          "  key remove SLOT           remove a slot (not the one you opened with,\n"
          "                            never the last one)\n"
          "  key passwd                replace the secret of the slot you opened with\n"
          "See 'snapkeep key add --help'.\n" },
        { "key add",
          "Usage: snapkeep key add [--new-password-file FILE | --new-key-file FILE]\n"
          "\n"
          "Open the repository with the current secret (--password-file, --key-file\n"
          "or the terminal) and add a key slot for a new secret: a passphrase read\n"
          "from FILE, the bytes of a key file (e.g. 64 random bytes), or a new\n"
          "passphrase asked for twice on the terminal.\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "key list",
          "Usage: snapkeep key list\n"
          "\n"
          "List the key slots: id, kind (passphrase or keyfile), creation time,\n"
          "scrypt cost (log2 N) and host. '*' marks the slot used to open.\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "key remove",
          "Usage: snapkeep key remove SLOT\n"
          "\n"
          "Remove key slot SLOT. The slot used to open the repository and the last\n"
          "slot cannot be removed.\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "key passwd",
          "Usage: snapkeep key passwd [--new-password-file FILE | --new-key-file FILE]\n"
          "\n"
          "Replace the secret of the slot used to open the repository: a new slot is\n"
          "written, then the old one removed.\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "index",
          "Usage: snapkeep index rebuild\n"
          "\n"
          "Index commands. See 'snapkeep index rebuild --help'.\n" },
        { "index rebuild",
          "Usage: snapkeep index rebuild [--lock-wait SECONDS]\n"
          "\n"
          "Recreate the index from the packs alone (every pack describes its blobs)\n"
          "and replace all index files. Use it when check reports a damaged index.\n"
          "Blobs that fail verification are left out and counted. Takes the\n"
          "exclusive lock.\n"
          "\n" GLOBAL_OPTIONS "\n" EXIT_CODES },
        { "setup",
          "Usage: snapkeep setup containerd [--config PATH] [--cri] [--socket PATH]\n"
          "                                 [--dry-run] [--containerd BIN | --no-check] [--json]\n"
          "\n"
          "Add snapkeepd to containerd's config (version 2): the proxy_plugins entry\n"
          "  [proxy_plugins.snapkeep]\n"
          "    type = \"snapshot\"\n"
          "    address = \"/run/snapkeep/snapkeep.sock\"\n"
          "and, with --cri, the CRI plugin's snapshotter = \"snapkeep\" and\n"
          "disable_snapshot_annotations = false (so that pulls carry the layer labels\n"
          "snapkeepd rehydrates layers from). Everything else in the file stays as it\n"
          "is, comments included. containerd itself parses the result first\n"
          "('containerd --config NEW config dump') and must list snapkeep; only then\n"
          "is the old file kept beside it as PATH.snapkeep-backup-TIME and replaced.\n"
          "A config that already has all of it is left alone (exit 0). A missing\n"
          "config is created. Restart containerd afterwards.\n"
          "\n"
          "  --config PATH      containerd's config (default /etc/containerd/config.toml)\n"
          "  --cri              also make the CRI plugin (Kubernetes) use snapkeep\n"
          "  --socket PATH      snapkeepd's socket (default /run/snapkeep/snapkeep.sock)\n"
          "  --dry-run          print the edits and check them, write nothing\n"
          "  --containerd BIN   the containerd binary that checks the result\n"
          "                     (default: containerd in PATH; missing: exit 2)\n"
          "  --no-check         write without containerd's check (no containerd here)\n"
          "  --json             {config, changed, dry_run, created, validated, backup, edits}\n"
          "\n"
          "Exit status: 0 done or nothing to do; 1 usage; 2 the config cannot be read,\n"
          "is version 1, defines snapkeep's entry in a form not edited here, or\n"
          "containerd rejects the result (nothing is changed then).\n"
          "\n"
          "Example:\n"
          "  snapkeep setup containerd --cri --dry-run\n"
          "  snapkeep setup containerd --cri && systemctl restart containerd\n" },
        { "version",
          "Usage: snapkeep version [--json]\n"
          "\n"
          "Print the program version and the repository format version it writes.\n" },
        { "help",
          "Usage: snapkeep help [COMMAND]\n"
          "\n"
          "Show the help of the tool or of COMMAND.\n" },
};

const char *sk_help_for(const char *command) {
        for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
                if (strcmp(helps[i].name, command) == 0)
                        return helps[i].text;
        return sk_help_main;
}

int sk_cmd_help(sk_cli *cli, int argc, char **argv) {
        (void) cli;
        if (argc < 2) {
                fputs(sk_help_main, stdout);
                return SK_EXIT_OK;
        }
        char name[64];
        snprintf(name, sizeof(name), "%s%s%s", argv[1], argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
        for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
                if (strcmp(helps[i].name, name) == 0) {
                        fputs(helps[i].text, stdout);
                        return SK_EXIT_OK;
                }
        fprintf(stderr, "snapkeep help: no command '%s'\n", name);
        return SK_EXIT_USAGE;
}
