/* Checks on unpacked protobuf-c messages that protobuf-c itself skips.
 *
 * proto3 requires string fields to hold UTF-8. protobuf-c does not check, but
 * Go's protobuf runtime (which newer containerd uses) refuses to decode a
 * message with a bad string, so one stored key with invalid UTF-8 would
 * break every later List reply that includes it, containerd's GC among
 * them. Rejecting such requests at the edge keeps them out of the store. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

/* Whether s[0..len) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF). */
bool sk_utf8_valid(const char *s, size_t len);

/* Whether every string field of m, including repeated ones, map entries and
 * nested messages, is well-formed UTF-8. On false, *ret_field (if not NULL)
 * names the first offending field (borrowed from the descriptor). */
bool sk_pb_strings_valid(const ProtobufCMessage *m, const char **ret_field);
