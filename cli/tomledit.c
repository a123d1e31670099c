#include "cli/tomledit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"

typedef enum { ENTRY_TABLE, ENTRY_KEY } entry_kind;

typedef struct entry {
        entry_kind kind;
        /* Table: its header's path. Key: its own (dotted) parts only; its
         * full path is its table's then these, and is never copied (a long
         * header over many keys would otherwise cost header x keys bytes). */
        char *path[SK_TOML_MAX_PATH];
        size_t n;
        size_t table;                 /* key: its table's header entry, SIZE_MAX for the root table */
        size_t line0, line1;          /* first and last line */
        size_t eq;                    /* key: column of '=' on line0 */
        char *value;                  /* key: the value's text, comment and outer blanks removed */
} entry;

struct sk_toml {
        char **lines;
        size_t n_lines;
        entry *e;
        size_t n_e;
        char **edits;
        size_t n_edits;
};

/* --- parsing -------------------------------------------------------------------- */

typedef struct parser {
        sk_toml *t;
        char *err;
        size_t err_size;
} parser;

static int fail(parser *p, size_t line, const char *fmt, ...) _printf_(3, 4);
static int fail(parser *p, size_t line, const char *fmt, ...) {
        va_list ap;
        int n = snprintf(p->err, p->err_size, "line %zu: ", line + 1);
        va_start(ap, fmt);
        if (n >= 0 && (size_t) n < p->err_size)
                vsnprintf(p->err + n, p->err_size - (size_t) n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static const char *skip_ws(const char *s) {
        while (*s == ' ' || *s == '\t' || *s == '\r')
                s++;
        return s;
}

static bool is_bare(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Append the UTF-8 encoding of code point cp to out[*o] (room checked by the
 * caller: 4 bytes). NUL is refused: decoded into a C string it would cut a
 * key short, and "snapkeep\u0000" would then read as "snapkeep". */
static bool put_utf8(char *out, size_t *o, uint32_t cp) {
        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
                return false;
        if (cp < 0x80)
                out[(*o)++] = (char) cp;
        else if (cp < 0x800) {
                out[(*o)++] = (char) (0xc0 | cp >> 6);
                out[(*o)++] = (char) (0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
                out[(*o)++] = (char) (0xe0 | cp >> 12);
                out[(*o)++] = (char) (0x80 | ((cp >> 6) & 0x3f));
                out[(*o)++] = (char) (0x80 | (cp & 0x3f));
        } else if (cp < 0x110000) {
                out[(*o)++] = (char) (0xf0 | cp >> 18);
                out[(*o)++] = (char) (0x80 | ((cp >> 12) & 0x3f));
                out[(*o)++] = (char) (0x80 | ((cp >> 6) & 0x3f));
                out[(*o)++] = (char) (0x80 | (cp & 0x3f));
        } else
                return false;
        return true;
}

/* A one-line string at *s ("basic" or 'literal'), decoded into a new string;
 * *s moves past it. NULL (with why) if malformed. */
static char *read_string(const char **s, const char **why) {
        char q = **s;
        const char *p = *s + 1;
        size_t cap = strlen(p) * 1 + 8, o = 0;
        char *out = malloc(cap + 4);
        if (!out) {
                *why = "out of memory";
                return NULL;
        }
        for (;; p++) {
                unsigned char c = (unsigned char) *p;
                if (!c) {
                        *why = "unterminated string";
                        break;
                }
                if ((char) c == q) {
                        out[o] = '\0';
                        *s = p + 1;
                        return out;
                }
                if (c < 0x20 && c != '\t') {
                        *why = "control character in a string";
                        break;
                }
                if (q == '\'' || c != '\\') {
                        out[o++] = (char) c;
                        continue;
                }
                c = (unsigned char) *++p;
                static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
                const char *k = c ? strchr(from, c) : NULL;
                if (k) {
                        out[o++] = to[k - from];
                        continue;
                }
                if (c != 'u' && c != 'U') {
                        *why = "unknown escape in a string";
                        break;
                }
                int digits = c == 'u' ? 4 : 8;
                uint32_t cp = 0;
                int d = 0;
                for (; d < digits && p[1]; d++) {
                        char h = *++p;
                        int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                                       : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                        if (v < 0)
                                break;
                        cp = cp << 4 | (uint32_t) v;
                }
                /* Escapes only shrink: \uXXXX (6 bytes) gives at most 4. */
                if (d != digits || !put_utf8(out, &o, cp)) {
                        *why = "bad unicode escape in a string (or a NUL)";
                        break;
                }
        }
        free(out);
        return NULL;
}

/* A key path ending at stop ('=' for a key, ']' for a header) into path[*n..];
 * *s moves to the stop character. */
static int read_path(parser *p, size_t line, const char **s, char stop, char **path, size_t *n) {
        const char *c = skip_ws(*s);
        for (;;) {
                if (*n == SK_TOML_MAX_PATH)
                        return fail(p, line, "a key path longer than %d parts", SK_TOML_MAX_PATH);
                char *part = NULL;
                const char *why = NULL;
                if (*c == '"' || *c == '\'') {
                        part = read_string(&c, &why);
                        if (!part)
                                return fail(p, line, "%s", why);
                } else {
                        const char *b = c;
                        while (is_bare(*c))
                                c++;
                        if (c == b)
                                return fail(p, line, "expected a key, found '%.20s'", b);
                        part = strndup(b, (size_t) (c - b));
                        if (!part)
                                return -ENOMEM;
                }
                path[(*n)++] = part;
                c = skip_ws(c);
                if (*c == '.') {
                        c = skip_ws(c + 1);
                        continue;
                }
                if (*c != stop)
                        return fail(p, line, "expected '%c' after the key, found '%.20s'", stop, c);
                *s = c;
                return 0;
        }
}

typedef enum { V_NORMAL, V_BASIC, V_LITERAL, V_ML_BASIC, V_ML_LITERAL } vstate;

typedef struct vscan {
        vstate st;
        size_t depth;
} vscan;

/* Scan one line's worth of a value from s; *end is where its text ends (a
 * comment or the line's end). Returns 1 if the value is complete at the end
 * of the line, 0 if it goes on, -EINVAL (with why) if malformed. */
static int scan_value(vscan *v, const char *s, const char **end, const char **why) {
        const char *c = s;
        *end = s; /* valid on every return, errors included */
        for (; *c; c++) {
                switch (v->st) {
                case V_NORMAL:
                        if (*c == '#')
                                goto eol;
                        if (*c == '"' || *c == '\'') {
                                bool ml = c[1] == *c && c[2] == *c;
                                v->st = *c == '"' ? (ml ? V_ML_BASIC : V_BASIC) : (ml ? V_ML_LITERAL : V_LITERAL);
                                if (ml)
                                        c += 2;
                        } else if (*c == '[' || *c == '{')
                                v->depth++;
                        else if (*c == ']' || *c == '}') {
                                if (v->depth == 0) {
                                        *why = "unbalanced ] or }";
                                        return -EINVAL;
                                }
                                v->depth--;
                        }
                        break;
                case V_BASIC:
                case V_ML_BASIC:
                        if (*c == '\\' && c[1])
                                c++;
                        else if (*c == '"' && (v->st == V_BASIC || (c[1] == '"' && c[2] == '"'))) {
                                if (v->st == V_ML_BASIC) {
                                        c += 2;
                                        while (c[1] == '"') /* up to two quotes may end the content */
                                                c++;
                                }
                                v->st = V_NORMAL;
                        }
                        break;
                case V_LITERAL:
                case V_ML_LITERAL:
                        if (*c == '\'' && (v->st == V_LITERAL || (c[1] == '\'' && c[2] == '\''))) {
                                if (v->st == V_ML_LITERAL) {
                                        c += 2;
                                        while (c[1] == '\'')
                                                c++;
                                }
                                v->st = V_NORMAL;
                        }
                        break;
                }
        }
eol:
        *end = c;
        if (v->st == V_BASIC || v->st == V_LITERAL) {
                *why = "unterminated string";
                return -EINVAL;
        }
        return v->st == V_NORMAL && v->depth == 0;
}

static char *trimmed(const char *b, const char *e) {
        while (b < e && (*b == ' ' || *b == '\t' || *b == '\r'))
                b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                e--;
        return strndup(b, (size_t) (e - b));
}

static void entries_clear(sk_toml *t) {
        for (size_t i = 0; i < t->n_e; i++) {
                for (size_t j = 0; j < t->e[i].n; j++)
                        free(t->e[i].path[j]);
                free(t->e[i].value);
        }
        free(t->e);
        t->e = NULL;
        t->n_e = 0;
}

static entry *new_entry(sk_toml *t, size_t *cap) {
        if (t->n_e == *cap) {
                size_t nc = *cap ? *cap * 2 : 32;
                entry *ne = realloc(t->e, nc * sizeof(*ne));
                if (!ne)
                        return NULL;
                t->e = ne;
                *cap = nc;
        }
        entry *e = &t->e[t->n_e++];
        *e = (entry) {};
        return e;
}

/* (Re)build the entries from the lines. */
static int index_lines(sk_toml *t, char *err, size_t err_size) {
        parser p = { .t = t, .err = err, .err_size = err_size };
        size_t cap = 0, table = SIZE_MAX; /* index of the current table's entry */
        entries_clear(t);
        for (size_t i = 0; i < t->n_lines; i++) {
                const char *s = skip_ws(t->lines[i]);
                if (!*s || *s == '#')
                        continue;
                entry *e = new_entry(t, &cap);
                if (!e)
                        return -ENOMEM;
                e->line0 = e->line1 = i;
                int r;
                if (*s == '[') {
                        bool array = s[1] == '[';
                        const char *c = s + (array ? 2 : 1);
                        e->kind = ENTRY_TABLE;
                        r = read_path(&p, i, &c, ']', e->path, &e->n);
                        if (r < 0)
                                return r;
                        if (array && c[1] != ']')
                                return fail(&p, i, "expected ']]' after an array of tables' name");
                        c = skip_ws(c + (array ? 2 : 1));
                        if (*c && *c != '#')
                                return fail(&p, i, "unexpected '%.20s' after a table header", c);
                        table = t->n_e - 1;
                        continue;
                }
                e->kind = ENTRY_KEY;
                e->table = table;
                const char *c = s;
                r = read_path(&p, i, &c, '=', e->path, &e->n);
                if (r < 0)
                        return r;
                e->eq = (size_t) (c - t->lines[i]);
                const char *v0 = skip_ws(c + 1), *end = NULL, *why = NULL;
                if (!*v0 || *v0 == '#')
                        return fail(&p, i, "a key without a value");
                vscan vs = {};
                size_t j = i;
                r = scan_value(&vs, v0, &end, &why);
                /* A value spanning lines: its text is kept whole, joined
                 * (appended as it goes: linear in the value's size). */
                char *text = NULL;
                size_t text_len = 0;
                FILE *f = open_memstream(&text, &text_len);
                if (!f)
                        return -ENOMEM;
                _cleanup_free_ char *first = r < 0 ? strdup("") : trimmed(v0, end);
                if (first)
                        fputs(first, f);
                while (r == 0) {
                        if (++j == t->n_lines) {
                                r = -ERANGE;
                                break;
                        }
                        const char *l = t->lines[j];
                        r = scan_value(&vs, l, &end, &why);
                        if (r < 0)
                                break;
                        fputc('\n', f);
                        fwrite(l, 1, (size_t) (end - l), f);
                }
                bool bad = !first || ferror(f);
                if (fclose(f) != 0)
                        bad = true;
                if (r < 0 || bad) {
                        free(text);
                        if (r == -ERANGE)
                                return fail(&p, i, "a value that never ends");
                        return r < 0 ? fail(&p, j, "%s", why) : -ENOMEM;
                }
                e->value = text;
                e->line1 = j;
                i = j;
        }
        return 0;
}

static int split_lines(sk_toml *t, const char *text, size_t len) {
        size_t cap = 0;
        for (size_t at = 0; at < len;) {
                const char *nl = memchr(text + at, '\n', len - at);
                size_t l = nl ? (size_t) (nl - (text + at)) : len - at;
                if (t->n_lines == cap) {
                        size_t nc = cap ? cap * 2 : 64;
                        char **nlines = realloc(t->lines, nc * sizeof(*nlines));
                        if (!nlines)
                                return -ENOMEM;
                        t->lines = nlines;
                        cap = nc;
                }
                if (!(t->lines[t->n_lines] = strndup(text + at, l)))
                        return -ENOMEM;
                t->n_lines++;
                at += l + 1;
        }
        return 0;
}

int sk_toml_parse(const char *text, size_t len, sk_toml **ret, char *err, size_t err_size) {
        if (len > SK_TOML_MAX_BYTES) {
                snprintf(err, err_size, "larger than %u bytes", SK_TOML_MAX_BYTES);
                return -EFBIG;
        }
        const char *nul = memchr(text, '\0', len);
        if (nul) {
                size_t line = 1;
                for (const char *c = text; c < nul; c++)
                        line += *c == '\n';
                snprintf(err, err_size, "line %zu: a NUL byte", line);
                return -EINVAL;
        }
        sk_toml *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        int r = split_lines(t, text, len);
        if (r >= 0)
                r = index_lines(t, err, err_size);
        if (r < 0) {
                if (r == -ENOMEM)
                        snprintf(err, err_size, "out of memory");
                sk_toml_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

void sk_toml_free(sk_toml *t) {
        if (!t)
                return;
        entries_clear(t);
        for (size_t i = 0; i < t->n_lines; i++)
                free(t->lines[i]);
        free(t->lines);
        for (size_t i = 0; i < t->n_edits; i++)
                free(t->edits[i]);
        free(t->edits);
        free(t);
}

/* --- queries -------------------------------------------------------------------- */

/* A key's table's part count (0: the root), and the i-th part of an
 * entry's full path. */
static size_t table_n(const sk_toml *t, const entry *e) {
        return e->kind == ENTRY_KEY && e->table != SIZE_MAX ? t->e[e->table].n : 0;
}

static size_t full_n(const sk_toml *t, const entry *e) {
        return table_n(t, e) + e->n;
}

static const char *part(const sk_toml *t, const entry *e, size_t i) {
        size_t tn = table_n(t, e);
        return i < tn ? t->e[e->table].path[i] : e->path[i - tn];
}

/* Whether the first m parts of e's full path are path's. */
static bool prefix_is(const sk_toml *t, const entry *e, const char *const *path, size_t m) {
        if (full_n(t, e) < m)
                return false;
        for (size_t i = 0; i < m; i++)
                if (strcmp(part(t, e, i), path[i]) != 0)
                        return false;
        return true;
}

static entry *find_key(const sk_toml *t, const char *const *path, size_t n, const char *key) {
        for (size_t i = 0; i < t->n_e; i++) {
                entry *e = &t->e[i];
                if (e->kind == ENTRY_KEY && table_n(t, e) == n && e->n == 1 && prefix_is(t, e, path, n) &&
                    strcmp(e->path[0], key) == 0)
                        return e;
        }
        return NULL;
}

static size_t find_table(const sk_toml *t, const char *const *path, size_t n) {
        for (size_t i = 0; i < t->n_e; i++)
                if (t->e[i].kind == ENTRY_TABLE && t->e[i].n == n && prefix_is(t, &t->e[i], path, n))
                        return i;
        return SIZE_MAX;
}

const char *sk_toml_get(const sk_toml *t, const char *const *path, size_t n, const char *key) {
        const entry *e = find_key(t, path, n, key);
        return e ? e->value : NULL;
}

bool sk_toml_has_table(const sk_toml *t, const char *const *path, size_t n) {
        return find_table(t, path, n) != SIZE_MAX;
}

bool sk_toml_path_taken(const sk_toml *t, const char *const *path, size_t n) {
        for (size_t i = 0; i < t->n_e; i++) {
                const entry *e = &t->e[i];
                if (e->kind != ENTRY_KEY)
                        continue;
                /* A value at path or above it: `proxy_plugins = {...}`. */
                size_t fn = full_n(t, e), m = fn < n ? fn : n;
                bool common = prefix_is(t, e, path, m);
                if (common && fn <= n)
                        return true;
                /* Dotted keys through path from a table above it. */
                if (common && table_n(t, e) < n && fn > n)
                        return true;
        }
        return false;
}

/* --- edits ------------------------------------------------------------------------ */

static int log_edit(sk_toml *t, const char *fmt, ...) _printf_(2, 3);
static int log_edit(sk_toml *t, const char *fmt, ...) {
        char **ne = realloc(t->edits, (t->n_edits + 1) * sizeof(*ne));
        if (!ne)
                return -ENOMEM;
        t->edits = ne;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&t->edits[t->n_edits], fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        t->n_edits++;
        return 0;
}

const char *const *sk_toml_edits(const sk_toml *t, size_t *ret_n) {
        *ret_n = t->n_edits;
        return (const char *const *) t->edits;
}

/* Replace lines [at, at + n_old) by n_new new ones (taken over). */
static int splice(sk_toml *t, size_t at, size_t n_old, char **new_lines, size_t n_new) {
        size_t total = t->n_lines - n_old + n_new;
        if (n_new > n_old) {
                char **nl = realloc(t->lines, (total ? total : 1) * sizeof(*nl));
                if (!nl)
                        return -ENOMEM;
                t->lines = nl;
        }
        for (size_t i = 0; i < n_old; i++)
                free(t->lines[at + i]);
        memmove(t->lines + at + n_new, t->lines + at + n_old, (t->n_lines - at - n_old) * sizeof(char *));
        memcpy(t->lines + at, new_lines, n_new * sizeof(char *));
        t->n_lines = total;
        return 0;
}

/* A path part as a key: bare if it may be, else "quoted". */
static char *key_text(const char *k) {
        bool bare = *k != '\0';
        for (const char *c = k; *c && bare; c++)
                bare = is_bare(*c);
        if (bare)
                return strdup(k);
        size_t n = strlen(k);
        char *out = malloc(2 * n + 3), *o = out;
        if (!out)
                return NULL;
        *o++ = '"';
        for (const char *c = k; *c; c++) {
                if (*c == '"' || *c == '\\')
                        *o++ = '\\';
                *o++ = *c;
        }
        *o++ = '"';
        *o = '\0';
        return out;
}

static char *header_text(const char *const *path, size_t n) {
        char *out = strdup("[");
        for (size_t i = 0; out && i < n; i++) {
                _cleanup_free_ char *k = key_text(path[i]);
                char *more = NULL;
                if (!k || asprintf(&more, "%s%s%s", out, i ? "." : "", k) < 0)
                        more = NULL;
                free(out);
                out = more;
        }
        char *done = NULL;
        if (out && asprintf(&done, "%s]", out) < 0)
                done = NULL;
        free(out);
        return done;
}

/* Both plain one-line strings with the same content, or the same text. */
static bool same_value(const char *a, const char *b) {
        if (strcmp(a, b) == 0)
                return true;
        if ((*a != '"' && *a != '\'') || (*b != '"' && *b != '\''))
                return false;
        const char *pa = a, *pb = b, *why;
        _cleanup_free_ char *da = read_string(&pa, &why), *db = read_string(&pb, &why);
        return da && db && !*skip_ws(pa) && !*skip_ws(pb) && strcmp(da, db) == 0;
}

static size_t indent_of(const char *line) {
        size_t i = 0;
        while (line[i] == ' ' || line[i] == '\t')
                i++;
        return i;
}

int sk_toml_set(sk_toml *t, const char *const *path, size_t n, const char *key, const char *value) {
        char err[256];
        _cleanup_free_ char *k = key_text(key);
        if (!k)
                return -ENOMEM;
        entry *e = find_key(t, path, n, key);
        if (e) {
                if (same_value(e->value, value))
                        return 0;
                /* The key's own spelling up to '=' stays; the value and any
                 * comment after a one-line value are replaced. */
                const char *l0 = t->lines[e->line0];
                size_t kl = e->eq;
                while (kl > 0 && (l0[kl - 1] == ' ' || l0[kl - 1] == '\t'))
                        kl--;
                char *line = NULL;
                if (asprintf(&line, "%.*s = %s", (int) kl, l0, value) < 0)
                        return -ENOMEM;
                _cleanup_free_ char *old = trimmed(l0, l0 + strlen(l0));
                size_t at = e->line0, n_old = e->line1 - e->line0 + 1;
                int r = log_edit(t, "line %zu: %s%s -> %s", at + 1, old ? old : "", n_old > 1 ? " ..." : "",
                                 skip_ws(line));
                if (r >= 0)
                        r = splice(t, at, n_old, &line, 1);
                if (r < 0) {
                        free(line);
                        return r;
                }
                return index_lines(t, err, sizeof(err)) < 0 ? -EINVAL : 1;
        }
        size_t h = find_table(t, path, n);
        if (h == SIZE_MAX && n > 0 && sk_toml_path_taken(t, path, n))
                return -EEXIST;
        char *lines[3] = {};
        size_t n_new = 0, at;
        int r = -ENOMEM;
        if (h != SIZE_MAX || n == 0) {
                /* After the table's last line of its own (its header, or its
                 * last key before the next header), indented like that key;
                 * in an empty table two spaces deeper than its header; in
                 * the root table, at the top. */
                size_t last = SIZE_MAX;
                const char *like = NULL;
                for (size_t i = h == SIZE_MAX ? 0 : h + 1; i < t->n_e && t->e[i].kind == ENTRY_KEY; i++) {
                        last = t->e[i].line1;
                        like = t->lines[t->e[i].line0];
                }
                const char *extra = "";
                if (last != SIZE_MAX)
                        at = last + 1;
                else if (h != SIZE_MAX) {
                        at = t->e[h].line0 + 1;
                        like = t->lines[t->e[h].line0];
                        extra = "  ";
                } else {
                        at = 0;
                        like = "";
                }
                if (asprintf(&lines[0], "%.*s%s%s = %s", (int) indent_of(like), like, extra, k, value) < 0)
                        return -ENOMEM;
                n_new = 1;
                r = log_edit(t, "line %zu: + %s", at + 1, skip_ws(lines[0]));
        } else {
                at = t->n_lines;
                _cleanup_free_ char *hdr = header_text(path, n);
                if (!hdr)
                        return -ENOMEM;
                if (t->n_lines && *skip_ws(t->lines[t->n_lines - 1]))
                        lines[n_new++] = strdup("");
                lines[n_new++] = strdup(hdr);
                if (asprintf(&lines[n_new], "  %s = %s", k, value) >= 0)
                        n_new++;
                bool ok = true;
                for (size_t i = 0; i < n_new; i++)
                        ok = ok && lines[i];
                if (ok && n_new == (t->n_lines && *skip_ws(t->lines[t->n_lines - 1]) ? 3u : 2u))
                        r = log_edit(t, "end: + %s, + %s = %s", hdr, k, value);
        }
        if (r >= 0)
                r = splice(t, at, 0, lines, n_new);
        if (r < 0) {
                for (size_t i = 0; i < n_new; i++)
                        free(lines[i]);
                return r;
        }
        return index_lines(t, err, sizeof(err)) < 0 ? -EINVAL : 1;
}

char *sk_toml_render(const sk_toml *t, size_t *ret_len) {
        size_t len = 0;
        for (size_t i = 0; i < t->n_lines; i++)
                len += strlen(t->lines[i]) + 1;
        char *out = malloc(len + 1), *o = out;
        if (!out)
                return NULL;
        for (size_t i = 0; i < t->n_lines; i++) {
                size_t l = strlen(t->lines[i]);
                memcpy(o, t->lines[i], l);
                o += l;
                *o++ = '\n';
        }
        *o = '\0';
        *ret_len = len;
        return out;
}
