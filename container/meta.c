#include "container/meta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/utf8.h"

static void json_str_n(FILE *f, const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s, *end = p + n;
        fputc('"', f);
        while (p < end) {
                size_t l = *p >= 0x80 ? sk_utf8_seq_len(p, (size_t) (end - p)) : 1;
                if (l == 0) {
                        fprintf(f, "\\u%04x", *p++);
                        continue;
                }
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\u%04x", *p);
                else
                        fwrite(p, 1, l, f);
                p += l;
        }
        fputc('"', f);
}

static void json_str(FILE *f, const char *s) {
        json_str_n(f, s ? s : "", s ? strlen(s) : 0);
}

int sk_container_meta_json(const sk_container_meta *m, char **ret_buf, size_t *ret_len) {
        const sk_container_record *rec = m->record;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        /* A containerd key is "<namespace>/<n>/<name>". */
        const char *key = rec->snapshot;
        const char *s1 = strchr(key, '/');
        const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        fprintf(f, "{\n  \"version\": 1,\n  \"kind\": ");
        json_str(f, rec->committed ? "committed" : "active");
        fprintf(f, ",\n  \"snapshot\": ");
        json_str(f, key);
        fprintf(f, ",\n  \"namespace\": ");
        json_str_n(f, key, s1 ? (size_t) (s1 - key) : 0);
        fprintf(f, ",\n  \"name\": ");
        json_str(f, s2 ? s2 + 1 : key);
        fprintf(f, ",\n  \"parent\": ");
        json_str(f, m->parent);
        fprintf(f, ",\n  \"chain_id\": ");
        json_str(f, rec->chain_id);
        fprintf(f, ",\n  \"time\": ");
        json_str(f, m->time);
        fprintf(f, ",\n  \"labels\": {");
        for (size_t i = 0; i < m->n_labels; i++) {
                fprintf(f, "%s\n    ", i ? "," : "");
                json_str(f, m->labels[2 * i]);
                fputs(": ", f);
                json_str(f, m->labels[2 * i + 1]);
        }
        fprintf(f, "%s},\n  \"layers\": [", m->n_labels ? "\n  " : "");
        for (size_t i = 0; i < rec->n_layers; i++) {
                fprintf(f, "%s\n    {\"chain_id\": ", i ? "," : "");
                json_str(f, rec->layers[i].chain_id);
                fputs(", \"backup_id\": ", f);
                json_str(f, rec->layers[i].backup_id);
                fputs(", \"snapshot\": ", f);
                json_str(f, m->layer_snapshots ? m->layer_snapshots[i] : NULL);
                fputc('}', f);
        }
        fprintf(f, "%s]\n}\n", rec->n_layers ? "\n  " : "");
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret_len = len;
        *ret_buf = TAKE_PTR(buf);
        return 0;
}
