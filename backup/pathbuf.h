/* The path of the entry a walk is at, inside the backup, grown and shrunk
 * one component at a time as the walk descends and climbs. It names entries
 * in reports and progress; it is never passed to a syscall (the walks work
 * relative to directory fds). */
#pragma once

#include <stddef.h>

typedef struct sk_pathbuf {
        char *p;
        size_t len, cap;
} sk_pathbuf;

/* Append "/name" (or "name" at the root); returns the old length to restore. */
int sk_pathbuf_push(sk_pathbuf *b, const char *name, size_t *ret_old);
void sk_pathbuf_pop(sk_pathbuf *b, size_t old);
