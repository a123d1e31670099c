/* Content-defined chunking: FastCDC (normalised) with a keyed gear table.
 *
 * DESIGN: the chunker is a small hot value kept on the caller's stack. It is
 * streaming: feed it consecutive buffers of a file with sk_chunker_scan(); it
 * remembers how far into the current chunk it is and the rolling hash, so a
 * cut point is found no matter how the input is split into reads. It does not
 * copy data: the caller keeps the bytes of the current chunk until a cut. The
 * gear table is derived from the repository's chunker key (docs/FORMAT.md
 * section 10) and is borrowed, not owned.
 *
 * Typical loop:
 *     sk_chunker c = SK_CHUNKER_INIT;
 *     sk_repo_chunker_init(repo, &c);
 *     for each buffer (p, n) read from the file:
 *             while (n > 0) {
 *                     size_t k = sk_chunker_scan(&c, p, n);
 *                     if (k == SK_CHUNKER_NO_CUT) { append p[0..n) to chunk; break; }
 *                     append p[0..k) to chunk; emit chunk; p += k; n -= k;
 *             }
 *     at EOF: emit the remaining bytes (if any) as the last chunk, then
 *     sk_chunker_reset(&c) before the next file. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct sk_gear_table {
        uint64_t g[256];
} sk_gear_table;

typedef struct sk_chunker {
        const uint64_t *gear;   /* borrowed: 256 entries */
        uint64_t mask_s;        /* harder mask, before avg */
        uint64_t mask_l;        /* easier mask, after avg */
        uint64_t hash;
        size_t pos;             /* bytes of the current chunk already seen */
        uint32_t min, avg, max;
} sk_chunker;

#define SK_CHUNKER_INIT { .gear = NULL }
#define SK_CHUNKER_NO_CUT ((size_t) -1)

/* Derive the gear table from a 32-byte chunker key (AES-256-CTR keystream).
 * Returns 0 or -errno (OpenSSL failure -> -EIO). */
int sk_gear_table_derive(const uint8_t key[32], sk_gear_table *ret);

/* Set up c. Requires 64 <= min < avg < max (-EINVAL otherwise). The table is
 * borrowed for the life of c. */
int sk_chunker_init(sk_chunker *c, const sk_gear_table *gear, uint32_t min, uint32_t avg, uint32_t max);

/* Scan len bytes that continue the current chunk. Returns the number of bytes
 * of buf (1..len) that complete the current chunk, after which the chunker
 * is already reset for the next chunk; or SK_CHUNKER_NO_CUT if all of buf
 * belongs to the current chunk (which is then still open). */
size_t sk_chunker_scan(sk_chunker *c, const void *buf, size_t len);

/* Forget the current chunk (start of a new file). */
void sk_chunker_reset(sk_chunker *c);
