/* S3-compatible object store backend (AWS S3, Ceph radosgw, ...).
 *
 * URL: s3://BUCKET[/PREFIX]. Every repository object NAME is stored under the
 * key PREFIX/NAME. Configuration comes from the store options' settings
 * (backend.h: the shells answer them from flags, config file and
 * environment), by these names; secrets never come from argv:
 *   SNAPKEEP_S3_ENDPOINT     http(s)://host[:port] (default https://s3.amazonaws.com)
 *   SNAPKEEP_S3_REGION       signing region (default us-east-1, else $AWS_REGION)
 *   SNAPKEEP_S3_STYLE        "path" or "virtual" (default: path with an explicit
 *                            endpoint, virtual for AWS)
 *   SNAPKEEP_S3_CONNECTIONS  parallel requests / kept connections (default 8)
 *   SNAPKEEP_S3_RETRY_SECONDS how long to keep retrying 5xx/network errors
 *                            (default 120)
 *   SNAPKEEP_S3_MULTIPART_THRESHOLD / SNAPKEEP_S3_PART_SIZE  bytes (defaults
 *                            64 MiB / 16 MiB; parts >= 5 MiB)
 *   SNAPKEEP_S3_READAHEAD    how far a read outside a planned restore reads
 *                            ahead (16 MiB; 0 = off): the backend's
 *                            read_ahead, which the repository's cache applies
 *   SNAPKEEP_CACHE_DIR       metadata cache root ("off" disables; s3-cache.h)
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else the
 *   credentials file AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
 *   profile AWS_PROFILE or "default".
 *
 * Errors: 403 -> -EACCES, 404 (NoSuchKey, NoSuchBucket) -> -ENOENT, anything
 * else after retries -> -EIO. The calling thread's last failure is described
 * by sk_store_last_detail() (object, HTTP status, S3 error code). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "store/backend.h"

typedef struct sk_s3_config {
        char *endpoint;                 /* "http://127.0.0.1:7480" */
        char *region;
        bool virtual_host;
        unsigned connections;
        unsigned retry_seconds;
        uint64_t multipart_threshold;
        uint64_t part_size;
        uint64_t readahead;             /* read-ahead window, 0 = off */
        char *access_key;
        char *secret_key;               /* wiped by sk_s3_config_done */
        char *session_token;            /* NULL if none */
        unsigned list_page;             /* max-keys of a listing page, 0 = the server's (tests) */
} sk_s3_config;

/* Fill *ret from o's settings and the credentials file as described above.
 * No credentials -> -EACCES (detail in sk_store_last_detail()); a bad value
 * -> -EINVAL. *ret owned: sk_s3_config_done(). */
int sk_s3_config_load(const sk_store_options *o, sk_s3_config *ret);

/* Free and wipe. Accepts a zeroed struct. */
void sk_s3_config_done(sk_s3_config *c);

/* Open s3://BUCKET[/PREFIX] with cfg (copied). With create, one
 * ListObjectsV2 request checks the bucket and the credentials first: missing
 * bucket -> -ENOENT ("bucket X does not exist"), bad credentials -> -EACCES
 * naming the S3 code; buckets are never created implicitly, so a typo cannot
 * scatter repositories. *ret owned: sk_backend_free(). */
int sk_backend_s3_open_config(const char *url, const sk_s3_config *cfg, int create, sk_backend **ret);

/* sk_backend_open() for s3:// URLs: sk_s3_config_load + open_config,
 * wrapped in the metadata cache (s3-cache.h) unless SNAPKEEP_CACHE_DIR=off
 * or layout names nothing to cache. */
int sk_backend_s3_open(const char *url, int create, const sk_store_options *opts, const sk_store_layout *layout,
                       sk_backend **ret);

/* Request counters (for stats and the benchmark); b must be an S3 backend,
 * possibly inside the cache wrapper, else -EINVAL. */
typedef struct sk_s3_stats {
        uint64_t requests;              /* HTTP requests sent, retries included */
        uint64_t retries;
        uint64_t bytes_up, bytes_down;
} sk_s3_stats;
int sk_backend_s3_stats(sk_backend *b, sk_s3_stats *ret);
