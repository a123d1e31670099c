/* errno -> gRPC status (see status.h): one switch, so that Snapshots, Control
 * and the server's fallback cannot drift apart again. */
#include "plugin/status.h"

#include <errno.h>

grpc_status_code sk_status_from_errno(int err) {
        switch (-err) {
        case ENOENT:
                return GRPC_STATUS_NOT_FOUND;
        case EEXIST:
                return GRPC_STATUS_ALREADY_EXISTS;
        case EINVAL:
                return GRPC_STATUS_INVALID_ARGUMENT;
        case EBUSY:
        case ENOTEMPTY:
        case EPERM:
        case EROFS:
        case EXDEV:       /* the image's chain differs from the backup's */
        case EMEDIUMTYPE: /* the parent is not an image layer chain */
        case ENOMEDIUM:   /* no repository */
        case ENOKEY:
        case EKEYREJECTED:
        case ENOTUNIQ:    /* a backup prefix that names several backups */
                return GRPC_STATUS_FAILED_PRECONDITION;
        case EAGAIN: /* e.g. every restore slot is busy */
                return GRPC_STATUS_RESOURCE_EXHAUSTED;
        default:
                return GRPC_STATUS_UNKNOWN;
        }
}
