#include "container/record.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/crypto.h"
#include "common/macro.h"

#define HEADER_KEY "snapkeep-container"

static bool is_hex_lower(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool sk_container_tagged(char *const *tags, size_t n_tags) {
        for (size_t i = 0; i < n_tags; i++)
                if (strcmp(tags[i], SK_TAG_CONTAINER) == 0 || strcmp(tags[i], SK_TAG_LAYER) == 0)
                        return true;
        return false;
}

bool sk_chain_id_valid(const char *s) {
        if (!s)
                return false;
        size_t i = 0;
        while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))
                if (++i > SK_CHAIN_ALGO_MAX)
                        return false;
        if (i == 0 || s[i] != ':')
                return false;
        size_t algo = i++;
        while (is_hex_lower(s[i]))
                if (++i > SK_CHAIN_ID_MAX)
                        return false;
        return s[i] == '\0' && i > algo + 1;
}

bool sk_backup_id_valid(const char *s) {
        if (!s)
                return false;
        size_t i = 0;
        while (i < SK_BACKUP_ID_HEX && is_hex_lower(s[i]))
                i++;
        return i == SK_BACKUP_ID_HEX && s[i] == '\0';
}

int sk_layer_object_name(const char *chain_id, char out[SK_CHAIN_ID_MAX + 1]) {
        if (!sk_chain_id_valid(chain_id))
                return -EINVAL;
        const char *colon = strchr(chain_id, ':');
        snprintf(out, SK_CHAIN_ID_MAX + 1, "%.*s-%s", (int) (colon - chain_id), chain_id, colon + 1);
        return 0;
}

/* --- containers/<id>: encode ------------------------------------------------ */

/* The bytes a snapshot key may hold unescaped in its line. */
static bool key_byte_plain(unsigned char c) {
        return c > ' ' && c < 0x7f && c != '%';
}

int sk_container_record_encode(const sk_container_record *rec, char **ret_buf, size_t *ret_len) {
        bool has_chain = rec->chain_id && *rec->chain_id;
        if (!rec->snapshot || !*rec->snapshot || strlen(rec->snapshot) > SK_CONTAINER_KEY_MAX ||
            (has_chain && !sk_chain_id_valid(rec->chain_id)) || rec->n_layers > SK_CONTAINER_MAX_LAYERS)
                return -EINVAL;
        for (size_t i = 0; i < rec->n_layers; i++)
                if (!sk_chain_id_valid(rec->layers[i].chain_id) || !sk_backup_id_valid(rec->layers[i].backup_id))
                        return -EINVAL;

        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, HEADER_KEY " %d\nkind %s\nsnapshot ", SK_CONTAINER_RECORD_VERSION,
                rec->committed ? "committed" : "active");
        for (const unsigned char *p = (const unsigned char *) rec->snapshot; *p; p++) {
                if (key_byte_plain(*p))
                        fputc(*p, f);
                else
                        fprintf(f, "%%%02x", *p);
        }
        fprintf(f, "\nchain-id %s\n", has_chain ? rec->chain_id : "-");
        for (size_t i = 0; i < rec->n_layers; i++)
                fprintf(f, "layer %s %s\n", rec->layers[i].chain_id, rec->layers[i].backup_id);
        if (fclose(f) != 0)
                return -ENOMEM;
        /* 1024 layers of 128 + 64 bytes and a 4096-byte key escaped thrice
         * stay far below the decoder's bound. */
        *ret_len = len;
        *ret_buf = TAKE_PTR(buf);
        return 0;
}

/* --- containers/<id>: decode ------------------------------------------------ */

typedef struct decoder {
        char *why;
        size_t why_size;
        unsigned line;
} decoder;

static int bad(decoder *d, int r, const char *fmt, ...) _printf_(3, 4);
static int bad(decoder *d, int r, const char *fmt, ...) {
        if (d->why && d->why_size) {
                int n = d->line ? snprintf(d->why, d->why_size, "line %u: ", d->line) : 0;
                if (n >= 0 && (size_t) n < d->why_size) {
                        va_list ap;
                        va_start(ap, fmt);
                        vsnprintf(d->why + n, d->why_size - (size_t) n, fmt, ap);
                        va_end(ap);
                }
        }
        return r;
}

/* Unescape the snapshot key in place (the result is never longer). */
static int decode_key(decoder *d, char *s) {
        char *w = s;
        for (const char *p = s; *p; p++) {
                if (*p == '%') {
                        uint8_t b;
                        if (sk_hex_decode(p + 1, &b, 1) < 0) /* stops at a NUL */
                                return bad(d, -EBADMSG, "snapshot: '%%' not followed by two hex digits");
                        if (b == 0)
                                return bad(d, -EBADMSG, "snapshot: %%00 (a key cannot hold NUL)");
                        *w++ = (char) b;
                        p += 2;
                } else if (key_byte_plain((unsigned char) *p))
                        *w++ = *p;
                else
                        return bad(d, -EBADMSG, "snapshot: byte 0x%02x must be escaped", (unsigned char) *p);
        }
        *w = '\0';
        if (w == s)
                return bad(d, -EBADMSG, "snapshot: empty key");
        if ((size_t) (w - s) > SK_CONTAINER_KEY_MAX)
                return bad(d, -EBADMSG, "snapshot: key longer than %d bytes", SK_CONTAINER_KEY_MAX);
        return 0;
}

static int decode_version(decoder *d, const char *key, const char *val) {
        if (strcmp(key, HEADER_KEY) != 0)
                return bad(d, -EBADMSG, "no '" HEADER_KEY "' header");
        size_t n = val ? strlen(val) : 0;
        if (n == 0 || n > 9 || strspn(val, "0123456789") != n)
                return bad(d, -EBADMSG, "header: bad version '%.16s'", val ? val : "");
        if (strcmp(val, "1") != 0)
                return bad(d, -EPROTONOSUPPORT, "version %s is not supported (this reader knows %d)", val,
                           SK_CONTAINER_RECORD_VERSION);
        return 0;
}

static int add_layer(decoder *d, sk_container_record *rec, size_t *cap, char *val) {
        char *sp = val ? strchr(val, ' ') : NULL;
        if (!sp)
                return bad(d, -EBADMSG, "layer: expected '<chain id> <backup id>'");
        *sp = '\0';
        if (!sk_chain_id_valid(val))
                return bad(d, -EBADMSG, "layer: '%.140s' is not a chain id", val);
        if (!sk_backup_id_valid(sp + 1))
                return bad(d, -EBADMSG, "layer: '%.70s' is not a backup id", sp + 1);
        if (rec->n_layers >= SK_CONTAINER_MAX_LAYERS)
                return bad(d, -EBADMSG, "more than %d layers", SK_CONTAINER_MAX_LAYERS);
        if (rec->n_layers == *cap) {
                size_t ncap = *cap ? *cap * 2 : 8;
                sk_container_layer *nl = reallocarray(rec->layers, ncap, sizeof(*nl));
                if (!nl)
                        return -ENOMEM;
                rec->layers = nl;
                *cap = ncap;
        }
        rec->layers[rec->n_layers++] = (sk_container_layer) { .chain_id = val, .backup_id = sp + 1 };
        return 0;
}

static bool key_valid(const char *k) {
        return *k && strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(k);
}

static int decode_lines(decoder *d, sk_container_record *rec, char *buf, const char *end) {
        bool seen_kind = false, seen_snapshot = false, seen_chain = false;
        size_t cap = 0;
        int r;
        for (char *p = buf; p < end;) {
                char *nl = memchr(p, '\n', (size_t) (end - p)); /* the caller checked the last byte */
                *nl = '\0';
                char *key = p, *val = strchr(p, ' ');
                p = nl + 1;
                d->line++;
                if (val)
                        *val++ = '\0';
                if (!key_valid(key))
                        return bad(d, -EBADMSG, "%s", *key || val ? "bad key" : "empty line");
                if (d->line == 1) {
                        r = decode_version(d, key, val);
                        if (r < 0)
                                return r;
                        continue;
                }
                bool *seen = strcmp(key, "kind") == 0       ? &seen_kind
                             : strcmp(key, "snapshot") == 0 ? &seen_snapshot
                             : strcmp(key, "chain-id") == 0 ? &seen_chain
                                                            : NULL;
                if (seen) {
                        if (*seen)
                                return bad(d, -EBADMSG, "'%s' given twice", key);
                        if (!val)
                                return bad(d, -EBADMSG, "'%s' without a value", key);
                        *seen = true;
                }
                if (strcmp(key, "kind") == 0) {
                        if (strcmp(val, "committed") != 0 && strcmp(val, "active") != 0)
                                return bad(d, -EBADMSG, "kind: '%.32s' is neither active nor committed", val);
                        rec->committed = val[0] == 'c';
                } else if (strcmp(key, "snapshot") == 0) {
                        r = decode_key(d, val);
                        if (r < 0)
                                return r;
                        rec->snapshot = val;
                } else if (strcmp(key, "chain-id") == 0) {
                        if (strcmp(val, "-") != 0 && !sk_chain_id_valid(val))
                                return bad(d, -EBADMSG, "chain-id: '%.140s' is not a chain id", val);
                        rec->chain_id = strcmp(val, "-") == 0 ? NULL : val;
                } else if (strcmp(key, "layer") == 0) {
                        r = add_layer(d, rec, &cap, val);
                        if (r < 0)
                                return r;
                } else if (strcmp(key, HEADER_KEY) == 0)
                        return bad(d, -EBADMSG, "header given twice");
                /* Any other key is a later version's addition: ignored. */
        }
        d->line = 0;
        if (!seen_kind || !seen_snapshot || !seen_chain)
                return bad(d, -EBADMSG, "no '%s' line", !seen_kind ? "kind" : !seen_snapshot ? "snapshot" : "chain-id");
        return 0;
}

int sk_container_record_decode(const void *data, size_t len, sk_container_record *ret, char *why,
                               size_t why_size) {
        decoder d = { .why = why, .why_size = why_size };
        if (len > SK_CONTAINER_RECORD_MAX)
                return bad(&d, -EBADMSG, "%zu bytes, more than %d", len, SK_CONTAINER_RECORD_MAX);
        if (len == 0)
                return bad(&d, -EBADMSG, "empty");
        if (memchr(data, '\0', len))
                return bad(&d, -EBADMSG, "holds a NUL byte");
        if (((const char *) data)[len - 1] != '\n')
                return bad(&d, -EBADMSG, "does not end with a newline (truncated?)");

        sk_container_record rec = {};
        rec.storage_ = malloc(len + 1);
        if (!rec.storage_)
                return -ENOMEM;
        memcpy(rec.storage_, data, len);
        rec.storage_[len] = '\0';
        int r = decode_lines(&d, &rec, rec.storage_, rec.storage_ + len);
        if (r < 0) {
                sk_container_record_clear(&rec);
                return r;
        }
        *ret = rec;
        return 0;
}

void sk_container_record_clear(sk_container_record *rec) {
        free(rec->storage_);
        free(rec->layers);
        *rec = (sk_container_record) {};
}

bool sk_container_record_same_chain(const sk_container_record *rec, char *const *ids, size_t n) {
        if (rec->n_layers != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (strcmp(rec->layers[i].chain_id, ids[i]) != 0)
                        return false;
        return true;
}

/* --- layers/<algo>-<hex> ----------------------------------------------------- */

int sk_layer_object_encode(const char *backup_id, char out[SK_BACKUP_ID_HEX + 2]) {
        if (!sk_backup_id_valid(backup_id))
                return -EINVAL;
        memcpy(out, backup_id, SK_BACKUP_ID_HEX);
        out[SK_BACKUP_ID_HEX] = '\n';
        out[SK_BACKUP_ID_HEX + 1] = '\0';
        return SK_BACKUP_ID_HEX + 1;
}

int sk_layer_object_decode(const void *data, size_t len, char ret_id[SK_BACKUP_ID_HEX + 1]) {
        const char *s = data;
        if (len != SK_BACKUP_ID_HEX + 1 || s[SK_BACKUP_ID_HEX] != '\n')
                return -EBADMSG;
        char id[SK_BACKUP_ID_HEX + 1];
        memcpy(id, s, SK_BACKUP_ID_HEX);
        id[SK_BACKUP_ID_HEX] = '\0';
        if (!sk_backup_id_valid(id))
                return -EBADMSG;
        memcpy(ret_id, id, sizeof(id));
        return 0;
}
