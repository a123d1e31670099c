/* S3 backend configuration; see backend-s3.h for the settings and
 * s3-internal.h for how the backend is split.
 *
 * Owns turning the store options' settings and the AWS shared credentials
 * file into an sk_s3_config, and the parsing of s3:// URLs: everything that
 * is decided before the first request, so that a bad value fails with a
 * detail naming it and no I/O beyond reading the credentials file. */
#include "store/s3-internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/macro.h"

static int setting_u64(const sk_store_options *o, const char *name, uint64_t def, uint64_t min, uint64_t max,
                       uint64_t *ret) {
        const char *v = sk_store_setting(o, name);
        if (!v) {
                *ret = def;
                return 0;
        }
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v)
                goto bad;
        if (*end == 'K' || *end == 'k')
                x <<= 10, end++;
        else if (*end == 'M' || *end == 'm')
                x <<= 20, end++;
        else if (*end == 'G' || *end == 'g')
                x <<= 30, end++;
        if (*end || x < min || x > max)
                goto bad;
        *ret = x;
        return 0;
bad:
        sk_store_set_detail("%s=%s: not a number in %llu..%llu", name, v, (unsigned long long) min, (unsigned long long) max);
        return -EINVAL;
}

char *sk_s3_trim(char *s) {
        while (isspace((unsigned char) *s))
                s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = 0;
        return s;
}

/* AWS shared credentials file: INI, [profile] sections, key = value. */
static int read_credentials_file(const sk_store_options *o, sk_s3_config *c) {
        const char *path = sk_store_setting(o, "AWS_SHARED_CREDENTIALS_FILE");
        const char *profile = sk_store_setting(o, "AWS_PROFILE");
        _cleanup_free_ char *def = NULL;
        if (!profile || !*profile)
                profile = "default";
        if (!path || !*path) {
                const char *home = sk_store_setting(o, "HOME");
                if (!home)
                        return -ENOENT;
                if (asprintf(&def, "%s/.aws/credentials", home) < 0) {
                        def = NULL;
                        return -ENOMEM;
                }
                path = def;
        }
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        char line[1024];
        bool in = false;
        int r = -ENOENT;
        while (fgets(line, sizeof(line), f)) {
                char *l = sk_s3_trim(line);
                if (*l == '#' || *l == ';' || !*l)
                        continue;
                if (*l == '[') {
                        char *e = strchr(l, ']');
                        if (e)
                                *e = 0;
                        char *name = sk_s3_trim(l + 1);
                        if (strncmp(name, "profile ", 8) == 0)
                                name = sk_s3_trim(name + 8);
                        in = strcmp(name, profile) == 0;
                        continue;
                }
                char *eq = strchr(l, '=');
                if (!in || !eq)
                        continue;
                *eq = 0;
                char *k = sk_s3_trim(l), *v = sk_s3_trim(eq + 1);
                char **dst = strcmp(k, "aws_access_key_id") == 0       ? &c->access_key
                             : strcmp(k, "aws_secret_access_key") == 0 ? &c->secret_key
                             : strcmp(k, "aws_session_token") == 0     ? &c->session_token
                                                                       : NULL;
                if (!dst)
                        continue;
                free(*dst);
                *dst = strdup(v);
                if (!*dst) {
                        OPENSSL_cleanse(line, sizeof(line));
                        return -ENOMEM;
                }
                r = 0;
        }
        OPENSSL_cleanse(line, sizeof(line));
        return r;
}

void sk_s3_config_done(sk_s3_config *c) {
        if (!c)
                return;
        if (c->secret_key)
                OPENSSL_cleanse(c->secret_key, strlen(c->secret_key));
        if (c->session_token)
                OPENSSL_cleanse(c->session_token, strlen(c->session_token));
        free(c->endpoint);
        free(c->region);
        free(c->access_key);
        free(c->secret_key);
        free(c->session_token);
        memset(c, 0, sizeof(*c));
}

int sk_s3_config_load(const sk_store_options *o, sk_s3_config *ret) {
        sk_s3_config c = { 0 };
        uint64_t v;
        int r;
        const char *ep = sk_store_setting(o, "SNAPKEEP_S3_ENDPOINT");
        const char *region = sk_store_setting(o, "SNAPKEEP_S3_REGION");
        const char *style = sk_store_setting(o, "SNAPKEEP_S3_STYLE");
        if (!region)
                region = sk_store_setting(o, "AWS_REGION");
        if (!region)
                region = "us-east-1";
        c.endpoint = strdup(ep ? ep : "https://s3.amazonaws.com");
        c.region = strdup(region);
        if (!c.endpoint || !c.region) {
                r = -ENOMEM;
                goto fail;
        }
        if (!style)
                c.virtual_host = !ep;
        else if (strcmp(style, "path") == 0)
                c.virtual_host = false;
        else if (strcmp(style, "virtual") == 0)
                c.virtual_host = true;
        else {
                sk_store_set_detail("SNAPKEEP_S3_STYLE=%s: expected \"path\" or \"virtual\"", style);
                r = -EINVAL;
                goto fail;
        }
        if ((r = setting_u64(o, "SNAPKEEP_S3_CONNECTIONS", 8, 1, 256, &v)) < 0)
                goto fail;
        c.connections = (unsigned) v;
        if ((r = setting_u64(o, "SNAPKEEP_S3_RETRY_SECONDS", 120, 0, 86400, &v)) < 0)
                goto fail;
        c.retry_seconds = (unsigned) v;
        if ((r = setting_u64(o, "SNAPKEEP_S3_MULTIPART_THRESHOLD", 64ull << 20, SK_S3_MIN_PART_SIZE, 5ull << 30,
                         &c.multipart_threshold)) < 0)
                goto fail;
        if ((r = setting_u64(o, "SNAPKEEP_S3_PART_SIZE", 16ull << 20, SK_S3_MIN_PART_SIZE, 5ull << 30, &c.part_size)) < 0)
                goto fail;
        if ((r = setting_u64(o, "SNAPKEEP_S3_READAHEAD", 16ull << 20, 0, 256ull << 20, &c.readahead)) < 0)
                goto fail;

        if ((r = setting_u64(o, "SNAPKEEP_S3_LIST_PAGE", 0, 0, 1000, &v)) < 0)
                goto fail;
        c.list_page = (unsigned) v;

        const char *ak = sk_store_setting(o, "AWS_ACCESS_KEY_ID"), *sk = sk_store_setting(o, "AWS_SECRET_ACCESS_KEY");
        if (ak && sk) {
                const char *tok = sk_store_setting(o, "AWS_SESSION_TOKEN");
                c.access_key = strdup(ak);
                c.secret_key = strdup(sk);
                c.session_token = tok ? strdup(tok) : NULL;
                if (!c.access_key || !c.secret_key || (tok && !c.session_token)) {
                        r = -ENOMEM;
                        goto fail;
                }
        } else {
                r = read_credentials_file(o, &c);
                if (r == -ENOMEM)
                        goto fail;
                if (r < 0 || !c.access_key || !c.secret_key) {
                        sk_store_set_detail("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put them "
                                  "in ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE, profile AWS_PROFILE)");
                        r = -EACCES;
                        goto fail;
                }
        }
        *ret = c;
        return 0;
fail:
        sk_s3_config_done(&c);
        return r;
}


static bool valid_bucket(const char *s) {
        size_t n = strlen(s);
        if (n < 3 || n > 63)
                return false;
        for (const char *c = s; *c; c++)
                if (!(('a' <= *c && *c <= 'z') || ('0' <= *c && *c <= '9') || *c == '-' || *c == '.' ||
                      ('A' <= *c && *c <= 'Z') || *c == '_'))
                        return false;
        return true;
}

int sk_s3_parse_url(const char *url, char **ret_bucket, char **ret_prefix) {
        if (!url || strncmp(url, "s3://", 5) != 0)
                return -EINVAL;
        const char *bs = url + 5, *slash = strchr(bs, '/');
        _cleanup_free_ char *bucket = slash ? strndup(bs, (size_t) (slash - bs)) : strdup(bs);
        if (!bucket)
                return -ENOMEM;
        if (!valid_bucket(bucket)) {
                sk_store_set_detail("%s: \"%s\" is not a valid bucket name", url, bucket);
                return -EINVAL;
        }
        /* prefix: collapse to "a/b/" with no empty, "." or ".." components */
        const char *p = slash ? slash + 1 : "";
        size_t pl = strlen(p);
        _cleanup_free_ char *prefix = malloc(pl + 2);
        if (!prefix)
                return -ENOMEM;
        char *o = prefix;
        while (*p) {
                const char *e = strchrnul(p, '/');
                size_t n = (size_t) (e - p);
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
                        sk_store_set_detail("%s: \".\" and \"..\" are not allowed in the prefix", url);
                        return -EINVAL;
                }
                if (n) {
                        memcpy(o, p, n);
                        o += n;
                        *o++ = '/';
                }
                p = *e ? e + 1 : e;
        }
        *o = 0;
        *ret_bucket = TAKE_PTR(bucket);
        *ret_prefix = TAKE_PTR(prefix);
        return 0;
}
