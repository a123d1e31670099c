/* containerd's filter language over snapshot infos (used by List/Walk).
 *
 * A filter is a comma-separated AND of selectors; several filters are ORed.
 * Selectors: FIELD (present), FIELD==VALUE, FIELD!=VALUE, FIELD~=REGEXP.
 * Fields: name, parent, kind ("view", "active", "committed"), labels.KEY, where
 * KEY may be quoted ("labels.\"containerd.io/gc.root\"") and values may be
 * quoted with "…" (after ~= also /…/ or |…|) and use Go-style escapes, as in
 * containerd's filters package. ~= is a POSIX extended regex, searched
 * unanchored, limited to what RE2 (containerd's syntax) accepts and means the
 * same: back-references, unknown or GNU-only escapes, nested repetition,
 * counts over 1000 and patterns over 4096 bytes are parse errors. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "snapshot/snapshotter.h"

typedef struct sk_filter sk_filter;

/* Parse filters[0..n) (ORed). n == 0, or any empty string among them (as in
 * containerd's ParseAll), matches everything. On a syntax error (or an invalid
 * regex) returns -EINVAL and, if ret_error is not NULL, an owned message naming
 * the 1-based filter and byte column ("filter 1, column 5: expected an operator
 * (...) (in \"name@x\")"). The filter is immutable after parsing and may be
 * matched from several threads. */
int sk_filter_parse(const char *const *filters, size_t n, sk_filter **ret, char **ret_error);
bool sk_filter_match(const sk_filter *f, const sk_info *info);
void sk_filter_free(sk_filter *f);
