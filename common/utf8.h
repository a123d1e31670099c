/* UTF-8 validation, shared by the gRPC edge (proto3 strings must be UTF-8)
 * and the CLI's JSON output (which escapes bytes that are not). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes at s do
 * not start one (overlong forms, surrogates and code points above U+10FFFF
 * are invalid). n is the number of bytes available. */
size_t sk_utf8_seq_len(const unsigned char *s, size_t n);
/* Whether the n bytes at s are well-formed UTF-8. */
bool sk_utf8_valid(const void *s, size_t n);
