/* The one translation of a negative errno into a gRPC status code, for every
 * service snapkeepd serves (Snapshots, Control) and for the server's fallback
 * when a handler returns a plain -errno. Errors stay -errno everywhere below
 * plugin/ (DEVELOPERS.md: "Errors become gRPC status codes only at the RPC
 * edge"); this is that edge, kept in one place so the same failure ends with
 * the same code whichever RPC hit it. */
#pragma once

#include <grpc/status.h>

/* err is a negative errno:
 *   -ENOENT                          NOT_FOUND
 *   -EEXIST                          ALREADY_EXISTS
 *   -EINVAL                          INVALID_ARGUMENT
 *   -EBUSY, -ENOTEMPTY               FAILED_PRECONDITION (containerd: a parent
 *                                    with children cannot be removed)
 *   -EPERM, -EROFS                   FAILED_PRECONDITION (wrong snapshot kind)
 *   -EXDEV, -EMEDIUMTYPE             FAILED_PRECONDITION (a restore onto an
 *                                    image or chain other than the backup's)
 *   -ENOMEDIUM, -ENOKEY, -EKEYREJECTED FAILED_PRECONDITION (no repository, or
 *                                    its key is missing or wrong)
 *   -EAGAIN                          RESOURCE_EXHAUSTED (every slot of a bounded
 *                                    resource is busy: retry later)
 *   anything else                    UNKNOWN */
grpc_status_code sk_status_from_errno(int err);
