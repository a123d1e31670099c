/* Commands on container backups that only read the repository (no daemon):
 *   snapkeep restore ID --target DIR [--layer]   (container/layer backups;
 *        any other backup is handed to the plain restore command)
 *   snapkeep export ID --oci-archive FILE --ref NAME[:TAG]
 * A container backup (tag snapkeep:container, or snapkeep:layer for an image
 * layer) holds the upper directory as overlayfs stores it under "fs/"; the
 * sealed object containers/<id> lists the layer backups below it, bottom
 * first (docs/FORMAT.md, "Container objects"). Both are read through
 * container/record.h, the one codec snapkeepd uses too: nothing here parses
 * or checks that format a second time. */
#pragma once

#include "cli/cli.h"
#include "container/capture.h" /* SK_DEFAULT_CONTAINERD_SOCKET */

int sk_cmd_restore(sk_cli *cli, int argc, char **argv);

/* restore ID --as-image REF (cmd-asimage.c). */
typedef struct sk_as_image_options {
        const char *ref;              /* NAME[:TAG], normalised like docker does */
        const char *namespace_;       /* containerd namespace (default k8s.io) */
        const char *containerd_socket;
        const char *snapshotter;      /* containerd's name for snapkeep (default "snapkeep") */
} sk_as_image_options;
int sk_ct_restore_as_image(sk_cli *cli, sk_repo *repo, const char *id, const sk_as_image_options *o);
int sk_cmd_export(sk_cli *cli, int argc, char **argv);
