/* DESIGN
 * A port of containerd's filters package (scanner.go, parser.go, quote.go) so
 * that every filter containerd or ctr sends parses and matches the same way:
 *
 *   selectors := selector ("," selector)*
 *   selector  := fieldpath [operator value]
 *   fieldpath := field ("." field)*
 *   field     := quoted | [A-Za-z0-9_]+
 *   operator  := "==" | "!=" | "~="
 *   value     := quoted | [^\s,]+
 *
 * Quotes are "..." with Go escapes; after ~= also /.../ and |...|. Several
 * filter strings are ORed, and an empty one matches everything (as
 * containerd's ParseAll). The scanner keeps containerd's quirks: whitespace is
 * skipped before a token but not tolerated after a value, so "name==a ,b" is an
 * error there and here.
 *
 * Differences: ~= uses POSIX extended regular expressions (regcomp) instead of
 * Go's RE2 syntax, searched unanchored like Go's MatchString; an invalid
 * pattern is a parse error here (containerd silently never matches), and so
 * is what RE2 would reject or read differently (see regex_check). Unquoted
 * strings containing a NUL byte are rejected. */
#include "snapshot/filter.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"

enum {
        TOK_EOF = -1,
        TOK_QUOTED = -2,
        TOK_VALUE = -3,
        TOK_FIELD = -4,
        TOK_SEPARATOR = -5,
        TOK_OPERATOR = -6,
        TOK_ILLEGAL = -7,
};

typedef enum op { OP_PRESENT, OP_EQ, OP_NE, OP_MATCH } op;

typedef struct selector {
        char **path;
        size_t n_path;
        op op;
        char *value;
        regex_t re;
        bool has_re;
} selector;

typedef struct conj {
        selector *sel;
        size_t n;
} conj;

struct sk_filter {
        bool always;
        conj *alts;
        size_t n;
};

typedef struct scanner {
        const char *input;
        size_t len;
        size_t pos;  /* start of the current rune */
        size_t ppos; /* end of the current rune */
        bool value;
        const char *err;
} scanner;

typedef struct parser {
        scanner sc;
        char *err; /* owned message of the first error */
        size_t err_pos;
} parser;

/* Decode one UTF-8 rune at s[0..n): returns the rune and its width, or -2 with
 * width 1 for an invalid sequence (Go's RuneError). */
static int32_t decode_rune(const unsigned char *s, size_t n, size_t *w) {
        uint32_t c = s[0];
        size_t need;
        uint32_t min;
        *w = 1;
        if (c < 0x80)
                return (int32_t) c;
        if ((c & 0xe0) == 0xc0)
                need = 1, c &= 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
                need = 2, c &= 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
                need = 3, c &= 0x07, min = 0x10000;
        else
                return -2;
        if (n < need + 1)
                return -2;
        for (size_t i = 1; i <= need; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return -2;
                c = (c << 6) | (s[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return -2;
        *w = need + 1;
        return (int32_t) c;
}

static bool is_space(int32_t r) {
        switch (r) {
        case '\t': case '\n': case '\v': case '\f': case '\r': case ' ': case 0x85: case 0xa0:
        case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000:
                return true;
        }
        return r >= 0x2000 && r <= 0x200a;
}
static bool is_alpha(int32_t r) { return (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z'); }
static bool is_digit(int32_t r) { return r >= '0' && r <= '9'; }
static bool is_field_rune(int32_t r) { return r == '_' || is_alpha(r) || is_digit(r); }
static bool is_operator_rune(int32_t r) { return r == '=' || r == '!' || r == '~'; }
static bool is_quote_rune(int32_t r) { return r == '/' || r == '|' || r == '"'; }
static bool is_separator_rune(int32_t r) { return r == ',' || r == '.'; }
static bool is_value_rune(int32_t r) {
        if (r == ',' || is_space(r) || r < 0)
                return false;
        if (r < 0x80)
                return r > 0x20 && r < 0x7f;
        /* Go's IsLetter/IsDigit/IsGraphic/IsPunct: all but C1 controls here */
        return r >= 0xa0;
}

static void sc_error(scanner *s, const char *msg) {
        if (!s->err)
                s->err = msg;
}

static int32_t sc_next(scanner *s) {
        if (s->ppos >= s->len) {
                s->pos = s->len;
                return TOK_EOF;
        }
        s->pos = s->ppos;
        size_t w;
        int32_t r = decode_rune((const unsigned char *) s->input + s->ppos, s->len - s->ppos, &w);
        s->ppos += w;
        if (r == -2) {
                sc_error(s, "rune error");
                return TOK_ILLEGAL;
        }
        if (r == 0) {
                sc_error(s, "unexpected null");
                return TOK_ILLEGAL;
        }
        return r;
}

static int32_t sc_peek(scanner *s) {
        size_t pos = s->pos, ppos = s->ppos;
        int32_t ch = sc_next(s);
        s->pos = pos;
        s->ppos = ppos;
        return ch;
}

static int digit_val(int32_t ch) {
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return 16;
}

static int32_t sc_digits(scanner *s, int32_t ch, int base, int n, bool *legal) {
        while (n > 0 && digit_val(ch) < base) {
                ch = sc_next(s);
                n--;
        }
        if (n > 0) {
                sc_error(s, "illegal numeric escape sequence");
                *legal = false;
                return ch;
        }
        *legal = true;
        return ch;
}

static int32_t sc_escape(scanner *s, int32_t quote, bool *legal) {
        int32_t ch = sc_next(s);
        *legal = false;
        switch (ch) {
        case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v': case '\\':
                *legal = true;
                return sc_next(s);
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
                return sc_digits(s, ch, 8, 3, legal);
        case 'x':
                return sc_digits(s, sc_next(s), 16, 2, legal);
        case 'u':
                return sc_digits(s, sc_next(s), 16, 4, legal);
        case 'U':
                return sc_digits(s, sc_next(s), 16, 8, legal);
        default:
                if (ch == quote) {
                        *legal = true;
                        return sc_next(s);
                }
                sc_error(s, "illegal escape sequence");
                return ch;
        }
}

static bool sc_quoted(scanner *s, int32_t quote) {
        bool illegal = false;
        int32_t ch = sc_next(s);
        while (ch != quote) {
                if (ch == '\n' || ch < 0) {
                        sc_error(s, "quoted literal not terminated");
                        return false;
                }
                if (ch == '\\') {
                        bool legal;
                        ch = sc_escape(s, quote, &legal);
                        if (!legal)
                                illegal = true;
                } else
                        ch = sc_next(s);
        }
        return !illegal;
}

/* One token: its kind (or a plain rune), start offset and text [*start, ppos). */
static int sc_scan(scanner *s, size_t *ret_pos) {
        int32_t ch = sc_next(s);
        for (;;) {
                size_t pos = s->pos;
                *ret_pos = pos;
                if (ch == TOK_EOF || ch == TOK_ILLEGAL)
                        return ch;
                if (is_quote_rune(ch))
                        return sc_quoted(s, ch) ? TOK_QUOTED : TOK_ILLEGAL;
                if (is_separator_rune(ch)) {
                        s->value = false;
                        return TOK_SEPARATOR;
                }
                if (is_operator_rune(ch)) {
                        while (is_operator_rune(sc_peek(s)))
                                sc_next(s);
                        s->value = true;
                        return TOK_OPERATOR;
                }
                if (is_space(ch)) {
                        ch = sc_next(s);
                        continue;
                }
                if (s->value) {
                        while (is_value_rune(sc_peek(s)))
                                sc_next(s);
                        s->value = false;
                        return TOK_VALUE;
                }
                if (is_field_rune(ch)) {
                        while (is_field_rune(sc_peek(s)))
                                sc_next(s);
                        return TOK_FIELD;
                }
                return ch;
        }
}

_printf_(3, 4) static int mkerr(parser *p, size_t pos, const char *fmt, ...) {
        if (!p->err) {
                va_list ap;
                va_start(ap, fmt);
                if (vasprintf(&p->err, fmt, ap) < 0)
                        p->err = NULL;
                va_end(ap);
                p->err_pos = pos;
        }
        return -EINVAL;
}

static int append_utf8(char *buf, size_t *n, uint32_t r) {
        if (r >= 0xd800 && r <= 0xdfff)
                r = 0xfffd; /* what Go's utf8.EncodeRune writes for a surrogate */
        if (r < 0x80)
                buf[(*n)++] = (char) r;
        else if (r < 0x800) {
                buf[(*n)++] = (char) (0xc0 | (r >> 6));
                buf[(*n)++] = (char) (0x80 | (r & 0x3f));
        } else if (r < 0x10000) {
                buf[(*n)++] = (char) (0xe0 | (r >> 12));
                buf[(*n)++] = (char) (0x80 | ((r >> 6) & 0x3f));
                buf[(*n)++] = (char) (0x80 | (r & 0x3f));
        } else {
                buf[(*n)++] = (char) (0xf0 | (r >> 18));
                buf[(*n)++] = (char) (0x80 | ((r >> 12) & 0x3f));
                buf[(*n)++] = (char) (0x80 | ((r >> 6) & 0x3f));
                buf[(*n)++] = (char) (0x80 | (r & 0x3f));
        }
        return 0;
}

/* quote.go's unquote for "…", /…/ and |…|: 0, -EINVAL (syntax) or -ENOMEM. */
static int unquote(const char *s, size_t n, char **ret) {
        if (n < 2)
                return -EINVAL;
        char quote = s[0];
        if (quote != s[n - 1] || (quote != '"' && quote != '/' && quote != '|'))
                return -EINVAL;
        s++;
        n -= 2;
        if (memchr(s, '\n', n))
                return -EINVAL;
        /* an escape never expands, so n + 1 bytes suffice */
        _cleanup_free_ char *buf = malloc(n + 1);
        size_t o = 0;
        if (!buf)
                return -ENOMEM;
        while (n > 0) {
                unsigned char c = (unsigned char) s[0];
                if (c == (unsigned char) quote)
                        return -EINVAL;
                if (c != '\\') {
                        buf[o++] = (char) c;
                        s++, n--;
                        continue;
                }
                if (n < 2)
                        return -EINVAL;
                c = (unsigned char) s[1];
                s += 2, n -= 2;
                uint32_t v = 0;
                switch (c) {
                case 'a': buf[o++] = '\a'; break;
                case 'b': buf[o++] = '\b'; break;
                case 'f': buf[o++] = '\f'; break;
                case 'n': buf[o++] = '\n'; break;
                case 'r': buf[o++] = '\r'; break;
                case 't': buf[o++] = '\t'; break;
                case 'v': buf[o++] = '\v'; break;
                case '\\': buf[o++] = '\\'; break;
                case 'x': case 'u': case 'U': {
                        size_t k = c == 'x' ? 2 : c == 'u' ? 4 : 8;
                        if (n < k)
                                return -EINVAL;
                        for (size_t j = 0; j < k; j++) {
                                int d = digit_val((unsigned char) s[j]);
                                if (d >= 16)
                                        return -EINVAL;
                                v = (v << 4) | (uint32_t) d;
                        }
                        s += k, n -= k;
                        if (c == 'x')
                                buf[o++] = (char) v; /* a single byte, maybe not UTF-8 */
                        else if (v > 0x10ffff)
                                return -EINVAL;
                        else
                                append_utf8(buf, &o, v);
                        break;
                }
                case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
                        v = c - '0';
                        if (n < 2)
                                return -EINVAL;
                        for (int j = 0; j < 2; j++) {
                                if (s[j] < '0' || s[j] > '7')
                                        return -EINVAL;
                                v = (v << 3) | (uint32_t) (s[j] - '0');
                        }
                        s += 2, n -= 2;
                        if (v > 255)
                                return -EINVAL;
                        buf[o++] = (char) v;
                        break;
                case '"': case '/': case '|':
                        if (c != (unsigned char) quote)
                                return -EINVAL;
                        buf[o++] = (char) c;
                        break;
                default:
                        return -EINVAL;
                }
        }
        if (memchr(buf, 0, o))
                return -EINVAL; /* our strings are C strings */
        buf[o] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int p_unquote(parser *p, size_t pos, bool allow_alts, char **ret) {
        const char *s = p->sc.input + pos;
        size_t n = p->sc.ppos - pos;
        if (!allow_alts && s[0] != '"')
                return mkerr(p, pos, "invalid quote encountered");
        int r = unquote(s, n, ret);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return mkerr(p, pos, "unquoting failed: quote syntax error");
        return 0;
}

static int p_token_text(parser *p, size_t pos, char **ret) {
        char *t = strndup(p->sc.input + pos, p->sc.ppos - pos);
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

/* The text of a field, or with value of a value (which may also be a bare
 * value token; allow_alts lets a quoted one hold regexp alternations), and
 * where it started. */
static int p_text(parser *p, bool value, bool allow_alts, char **ret, size_t *ret_pos) {
        size_t pos;
        int tok = sc_scan(&p->sc, &pos);
        *ret_pos = pos;
        switch (tok) {
        case TOK_VALUE:
                if (!value)
                        break;
                /* fall through */
        case TOK_FIELD:
                return p_token_text(p, pos, ret);
        case TOK_QUOTED:
                return p_unquote(p, pos, allow_alts, ret);
        case TOK_ILLEGAL:
                return mkerr(p, pos, "%s", p->sc.err ? p->sc.err : "illegal token");
        }
        return mkerr(p, pos, value ? "expected value or quoted" : "expected field or quoted");
}

static void selector_clear(selector *s) {
        for (size_t i = 0; i < s->n_path; i++)
                free(s->path[i]);
        free(s->path);
        free(s->value);
        if (s->has_re)
                regfree(&s->re);
        *s = (selector) {};
}

static int p_fieldpath(parser *p, selector *sel) {
        for (;;) {
                char *f = NULL;
                size_t fpos;
                int r = p_text(p, false, false, &f, &fpos);
                if (r < 0)
                        return r;
                char **np = realloc(sel->path, (sel->n_path + 1) * sizeof(char *));
                if (!np) {
                        free(f);
                        return -ENOMEM;
                }
                sel->path = np;
                sel->path[sel->n_path++] = f;
                if (sc_peek(&p->sc) != '.')
                        return 0;
                size_t pos;
                sc_scan(&p->sc, &pos); /* the '.' */
        }
}

static int p_operator(parser *p, op *ret) {
        size_t pos;
        int tok = sc_scan(&p->sc, &pos);
        if (tok == TOK_OPERATOR) {
                size_t n = p->sc.ppos - pos;
                const char *s = p->sc.input + pos;
                if (n == 2 && memcmp(s, "==", 2) == 0)
                        *ret = OP_EQ;
                else if (n == 2 && memcmp(s, "!=", 2) == 0)
                        *ret = OP_NE;
                else if (n == 2 && memcmp(s, "~=", 2) == 0)
                        *ret = OP_MATCH;
                else
                        return mkerr(p, pos, "unsupported operator \"%.*s\"", (int) n, s);
                return 0;
        }
        if (tok == TOK_ILLEGAL)
                return mkerr(p, pos, "%s", p->sc.err ? p->sc.err : "illegal token");
        return mkerr(p, pos, "expected an operator (\"==\"|\"!=\"|\"~=\")");
}

/* glibc's regcomp expands counted and stacked repetitions into copies of the
 * tree, so "x++++…" or "((a{1000}){1000})" exhaust memory, and its regexec
 * backtracks exponentially on back-references. Reject what Go's RE2 parser
 * rejects too (nested repetition operators, counts over 1000,
 * back-references, unknown escapes), over-long patterns, and anything whose
 * expansion estimate is too large, before calling regcomp.
 * Returns NULL or a static reason. */
#define RE_MAX_DEPTH 64
/* Without back-references glibc's regexec runs in time proportional to the
 * value's length times the expanded pattern's size (as RE2's NFA would):
 * about 0.3 s for a 4 KiB label value at this size, the worst one List call
 * pays per snapshot. */
#define RE_MAX_NODES 2000
#define RE_MAX_LEN 4096 /* as a label's key + value (containerd's limit) */
static const char *regex_check(const char *p) {
        if (strlen(p) > RE_MAX_LEN)
                return "regular expression too long (over 4096 bytes)";
        struct { size_t total, last; } lv[RE_MAX_DEPTH + 1] = {};
        size_t d = 0;
        bool quant = false; /* the previous token was a repetition operator */

        for (size_t i = 0; p[i]; i++) {
                size_t atom = 1;
                switch (p[i]) {
                case '(':
                        if (d == RE_MAX_DEPTH)
                                return "regular expression nested too deeply";
                        lv[++d] = (__typeof__(lv[0])) {};
                        quant = false;
                        continue;
                case ')':
                        if (d > 0) {
                                atom = lv[d].total + 1;
                                d--;
                        }
                        break;
                case '|':
                        lv[d].total++;
                        lv[d].last = 0;
                        quant = false;
                        continue;
                case '*': case '+': case '?':
                        if (quant)
                                return "invalid nested repetition operator";
                        if (lv[d].last) {
                                lv[d].total += lv[d].last;
                                quant = true;
                        }
                        goto check;
                case '{': {
                        /* an interval {n}, {n,} or {n,m}; anything else is left to regcomp */
                        size_t j = i + 1, n = 0, m = 0;
                        bool has_m = false, comma = false;
                        if (p[j] < '0' || p[j] > '9')
                                break;
                        while (p[j] >= '0' && p[j] <= '9' && n <= 1000)
                                n = n * 10 + (size_t) (p[j++] - '0');
                        if (p[j] == ',') {
                                comma = true;
                                j++;
                                while (p[j] >= '0' && p[j] <= '9' && m <= 1000) {
                                        m = m * 10 + (size_t) (p[j++] - '0');
                                        has_m = true;
                                }
                        }
                        if (p[j] != '}')
                                break;
                        if (quant)
                                return "invalid nested repetition operator";
                        if (n > 1000 || m > 1000)
                                return "invalid repeat count (over 1000)";
                        size_t k = has_m ? MAX(n, m) : comma ? n + 1 : n;
                        if (lv[d].last) {
                                if (k > 1 && lv[d].last > RE_MAX_NODES / (k - 1))
                                        return "regular expression too large";
                                lv[d].total += lv[d].last * (k ? k - 1 : 0);
                                quant = true;
                        }
                        i = j;
                        goto check;
                }
                case '[': {
                        size_t j = i + 1;
                        if (p[j] == '^')
                                j++;
                        if (p[j] == ']')
                                j++;
                        while (p[j] && p[j] != ']') {
                                if (p[j] == '[' && (p[j + 1] == ':' || p[j + 1] == '.' || p[j + 1] == '=')) {
                                        char c = p[j + 1];
                                        const char *e = p + j + 2;
                                        while (*e && !(e[0] == c && e[1] == ']'))
                                                e++;
                                        if (!*e)
                                                return NULL; /* unterminated: regcomp reports it */
                                        j = (size_t) (e - p) + 2;
                                } else
                                        j++;
                        }
                        if (!p[j])
                                return NULL;
                        i = j;
                        break;
                }
                case '\\': {
                        /* glibc gives \1..\9 the back-reference meaning RE2
                         * lacks, and matching them backtracks exponentially;
                         * other letter escapes (\d, \n, \q) and GNU's \< \> \` \'
                         * mean different things to the two, or RE2 rejects them.
                         * \w \W \s \S \b \B agree; punctuation is literal in both. */
                        char e = p[i + 1];
                        if (e >= '1' && e <= '9')
                                return "back-references (\\1..\\9) are not supported (containerd's RE2 syntax)";
                        if (e && (isalnum((unsigned char) e) || strchr("<>`'", e)) && !strchr("wWsSbB", e))
                                return "unsupported escape sequence (RE2 and POSIX regular expressions differ on it)";
                        if (e)
                                i++;
                        break;
                }
                }
                lv[d].total += atom;
                lv[d].last = atom;
                quant = false;
        check:
                if (lv[d].total > RE_MAX_NODES)
                        return "regular expression too large";
        }
        return NULL;
}

static int p_selector(parser *p, selector *sel) {
        int r = p_fieldpath(p, sel);
        if (r < 0)
                return r;
        int32_t ch = sc_peek(&p->sc);
        if (ch == ',' || ch == TOK_EOF) {
                sel->op = OP_PRESENT;
                return 0;
        }
        r = p_operator(p, &sel->op);
        if (r < 0)
                return r;
        size_t vpos;
        r = p_text(p, true, sel->op == OP_MATCH, &sel->value, &vpos);
        if (r < 0)
                return r;
        if (sel->op == OP_MATCH) {
                const char *why = regex_check(sel->value);
                if (why)
                        return mkerr(p, vpos, "invalid regular expression: %s", why);
                int q = regcomp(&sel->re, sel->value, REG_EXTENDED | REG_NOSUB);
                if (q != 0) {
                        char msg[128];
                        regerror(q, &sel->re, msg, sizeof(msg));
                        return mkerr(p, vpos, "invalid regular expression: %s", msg);
                }
                sel->has_re = true;
        }
        return 0;
}

static void conj_clear(conj *c) {
        for (size_t i = 0; i < c->n; i++)
                selector_clear(&c->sel[i]);
        free(c->sel);
        *c = (conj) {};
}

static int p_selectors(parser *p, conj *c) {
        for (;;) {
                selector *ns = realloc(c->sel, (c->n + 1) * sizeof(selector));
                if (!ns)
                        return -ENOMEM;
                c->sel = ns;
                c->sel[c->n] = (selector) {};
                int r = p_selector(p, &c->sel[c->n]);
                c->n++; /* counted even on failure so conj_clear frees it */
                if (r < 0)
                        return r;
                int32_t ch = sc_peek(&p->sc);
                if (ch == TOK_EOF)
                        return 0;
                if (ch != ',') {
                        if (ch >= 0x20 && ch < 0x7f)
                                return mkerr(p, p->sc.ppos, "unexpected input: '%c'", (char) ch);
                        return mkerr(p, p->sc.ppos, "unexpected input");
                }
                size_t pos;
                sc_scan(&p->sc, &pos); /* the ',' */
        }
}

void sk_filter_free(sk_filter *f) {
        if (!f)
                return;
        for (size_t i = 0; i < f->n; i++)
                conj_clear(&f->alts[i]);
        free(f->alts);
        free(f);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(sk_filter *, sk_filter_free)

int sk_filter_parse(const char *const *filters, size_t n, sk_filter **ret, char **ret_error) {
        _cleanup_(sk_filter_freep) sk_filter *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        if (n == 0)
                f->always = true;
        if (n > 0) {
                f->alts = calloc(n, sizeof(conj));
                if (!f->alts)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                const char *s = filters[i] ? filters[i] : "";
                if (!*s) {
                        f->always = true; /* containerd: "" is Always, and ORed */
                        continue;
                }
                parser p = { .sc = { .input = s, .len = strlen(s) } };
                int r = p_selectors(&p, &f->alts[f->n]);
                f->n++;
                if (r == -EINVAL && p.err) {
                        if (ret_error) {
                                char *msg;
                                if (asprintf(&msg, "filter %zu, column %zu: %s (in \"%s\")", i + 1, p.err_pos + 1,
                                             p.err, s) < 0)
                                        msg = NULL;
                                *ret_error = msg;
                        }
                        free(p.err);
                        return -EINVAL;
                }
                free(p.err);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(f);
        return 0;
}

static const char *kind_name(sk_kind k) {
        switch (k) {
        case SK_KIND_VIEW: return "view";
        case SK_KIND_ACTIVE: return "active";
        case SK_KIND_COMMITTED: return "committed";
        default: return NULL;
        }
}

/* containerd's adaptSnapshot: the value of a field path, or NULL if absent. */
static const char *field_value(const selector *s, const sk_info *info) {
        const char *f = s->path[0];
        if (strcmp(f, "kind") == 0)
                return kind_name(info->kind);
        if (strcmp(f, "name") == 0)
                return info->name ? info->name : "";
        if (strcmp(f, "parent") == 0)
                return info->parent ? info->parent : "";
        if (strcmp(f, "labels") != 0 || info->n_labels == 0)
                return NULL;
        /* the label key is the rest of the path joined with '.' */
        const char *found = NULL;
        for (size_t i = 0; i < info->n_labels; i++) {
                const char *k = info->labels[i].key;
                bool eq = true;
                for (size_t j = 1; j < s->n_path && eq; j++) {
                        size_t l = strlen(s->path[j]);
                        if (strncmp(k, s->path[j], l) != 0)
                                eq = false;
                        else {
                                k += l;
                                if (j + 1 < s->n_path) {
                                        if (*k != '.')
                                                eq = false;
                                        else
                                                k++;
                                }
                        }
                }
                if (eq && *k == 0)
                        found = info->labels[i].value;
        }
        return found;
}

static bool selector_match(const selector *s, const sk_info *info) {
        const char *v = field_value(s, info);
        switch (s->op) {
        case OP_PRESENT:
                return v != NULL;
        case OP_EQ:
                return v && strcmp(v, s->value) == 0;
        case OP_NE:
                return strcmp(v ? v : "", s->value) != 0;
        case OP_MATCH:
                return regexec(&s->re, v ? v : "", 0, NULL, 0) == 0;
        }
        return false;
}

bool sk_filter_match(const sk_filter *f, const sk_info *info) {
        if (f->always)
                return true;
        for (size_t i = 0; i < f->n; i++) {
                bool all = true;
                for (size_t j = 0; j < f->alts[i].n && all; j++)
                        all = selector_match(&f->alts[i].sel[j], info);
                if (all)
                        return true;
        }
        return false;
}
