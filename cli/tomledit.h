/* A line-preserving editor for the few TOML settings `snapkeep setup
 * containerd` writes into containerd's config.
 *
 * DESIGN
 * Debian 12 has no TOML library for C, and a parse-and-reprint library would
 * lose the user's comments and layout anyway. This keeps the file as lines
 * and understands only as much TOML as it must not misread: comments, table
 * headers ([a."b.c".d], [[array]]), keys (bare, "basic" with escapes,
 * 'literal', dotted), and where a value ends (strings of all four kinds,
 * multi-line ones included, and arrays or inline tables spanning lines).
 * It can then find a table, find a key set directly in it, and set a key:
 * replace its line(s), insert it after the table's header, or append the
 * table at the end. Everything else stays byte for byte. Whatever it does
 * not understand is an error naming the line, never a guess; the caller has
 * containerd itself parse the result before it replaces anything.
 *
 * Bounds: at most SK_TOML_MAX_BYTES of input, SK_TOML_MAX_PATH keys in a
 * path; nesting depth of arrays/inline tables is counted, not recursed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/macro.h"

#define SK_TOML_MAX_BYTES (4u << 20)
#define SK_TOML_MAX_PATH 16

typedef struct sk_toml sk_toml;

/* Parse text. -EINVAL with a message ("line 12: ...") in err on a line it
 * cannot read; -EFBIG past SK_TOML_MAX_BYTES; -ENOMEM. */
int sk_toml_parse(const char *text, size_t len, sk_toml **ret, char *err, size_t err_size);
void sk_toml_free(sk_toml *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_toml *, sk_toml_free);

/* The raw text of key's value in the table at path (n keys; n = 0: the root
 * table), set directly there (not by a dotted key or a sub-table), without
 * its comment and surrounding blanks; NULL if absent. Borrowed until the
 * next edit. */
const char *sk_toml_get(const sk_toml *t, const char *const *path, size_t n, const char *key);

/* Whether a header [path] (or [[path]]) exists. */
bool sk_toml_has_table(const sk_toml *t, const char *const *path, size_t n);

/* Whether anything defines path other than a header of its own or keys under
 * it: a key in a parent table, or a dotted key, whose first components are
 * path. Setting a key then would clash with that definition. */
bool sk_toml_path_taken(const sk_toml *t, const char *const *path, size_t n);

/* Set key = value (value is TOML text, e.g. "\"snapshot\"" or "false") in
 * the table at path, creating the table at the end if missing. Returns 1 if
 * the text changed, 0 if the key already had that value (compared as
 * strings when both are strings, else as text), -errno. A line describing
 * the change ("line 12: a = 1 -> a = 2", "line 30: + a = 1", "end: + [t]")
 * is appended to the edit log (sk_toml_edits). */
int sk_toml_set(sk_toml *t, const char *const *path, size_t n, const char *key, const char *value);

/* The edits made so far, one line each (borrowed). */
const char *const *sk_toml_edits(const sk_toml *t, size_t *ret_n);

/* The document as text (owned), ending in a newline. */
char *sk_toml_render(const sk_toml *t, size_t *ret_len);
