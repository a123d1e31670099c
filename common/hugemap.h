/* Anonymous memory asked for in transparent huge pages.
 *
 * Most systems (Debian's among them) give huge pages only where a mapping
 * asks with MADV_HUGEPAGE, and only to the 2 MiB-aligned parts of it. A
 * large block read at random in 4 KiB pages costs a TLB miss for nearly
 * every read, and each miss a long page walk under a hypervisor; in huge
 * pages the TLB covers it. Used for scrypt's working memory (repo/crypto.c)
 * and the index runs' directories (repo/index-run.c). */
#pragma once

#include <stddef.h>

/* A zeroed mapping of at least n bytes (whole 4 KiB pages: a tail short of
 * a huge page stays in small ones), aligned to 2 MiB and advised for huge
 * pages; *ret_len is the length to give sk_huge_unmap. The advice is a
 * hint: a system that refuses it gives 4 KiB pages. NULL and errno on
 * failure (ENOTSUP where pages are not 4 KiB: use plain memory there). */
void *sk_huge_map(size_t n, size_t *ret_len);

/* Unmap a block from sk_huge_map (NULL: nothing). */
void sk_huge_unmap(void *p, size_t len);
