/* Checks on request bytes that protobuf-c itself skips.
 *
 * proto3 requires string fields to hold UTF-8. protobuf-c does not check, and
 * it unpacks a string into a NUL-terminated C string, so "base\0x" silently
 * becomes "base" (two keys would name one snapshot). Go's protobuf runtime
 * (newer containerd) refuses to decode a message with a bad string, so one
 * stored key with invalid UTF-8 would break every later List reply that
 * includes it, containerd's GC among them. So the raw request is walked
 * before unpacking and any string field holding invalid UTF-8 or a NUL byte
 * is rejected at the edge. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

/* Whether every string field in the serialized message data[0..len) of type d,
 * including repeated ones, map entries and nested messages, is well-formed
 * UTF-8 without NUL bytes. Malformed wire data is left to protobuf-c's unpack
 * (returns true). On false, *ret_field (if not NULL) names the first
 * offending field (borrowed from the descriptor). */
bool sk_pb_wire_strings_valid(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                              const char **ret_field);
