/* Sorted index runs; see index-run.h. */
#include "repo/index-run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/hugemap.h"
#include "common/macro.h"

/* A directory bucket: the records whose ids start with its dir_bits bits
 * (about 8; they end where the next bucket starts) and a 64-bit Bloom filter
 * of their ids, so that one cache line answers most absent lookups and
 * locates present ones. */
typedef struct bucket {
        uint32_t start;
        uint32_t unused;
        uint64_t bloom;
} bucket;

struct sk_index_run {
        sk_recbuf recs;
        bucket *dir;            /* 2^dir_bits + 1 buckets */
        size_t dir_maplen;      /* dir is an sk_huge_map block of this length; 0: calloc */
        unsigned dir_bits;
};

#define INITIAL_CAP 1024
#define BLOOM_PROBES 4
#define DIR_MAX_BITS 24
#define INSERTION_SORT_MAX 16
#define DIR_HUGE_MIN ((size_t) 2 << 20)
#define WALK_MAX 32     /* a bucket holds about 8 records; more: binary search */

/* --- record buffers --------------------------------------------------------- */

static int map_anon(sk_recbuf *b, size_t cap) {
        void *p = mmap(NULL, cap * sizeof(sk_run_rec), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return -errno;
        b->v = p;
        b->cap = cap;
        return 0;
}

int sk_recbuf_init(sk_recbuf *b, const sk_spill *spill) {
        *b = (sk_recbuf) { .fd = -1, .dirfd = spill ? spill->dirfd : -1, .spill_min = spill ? spill->min_bytes : 0 };
        return map_anon(b, INITIAL_CAP);
}

void sk_recbuf_done(sk_recbuf *b) {
        if (b->v)
                munmap(b->v, b->cap * sizeof(sk_run_rec));
        if (b->fd >= 0)
                close(b->fd);
        *b = (sk_recbuf) { .fd = -1, .dirfd = -1 };
}

/* Move the records to a new spill file of nlen bytes. Any failure (no
 * O_TMPFILE support, no space, no permission) leaves them in memory, and
 * later growth does not try again: the spill only saves memory. */
static void move_to_file(sk_recbuf *b, size_t nlen) {
        int fd = openat(b->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        b->dirfd = -1;
        if (fd < 0)
                return;
        /* allocated now, so that a full disk is an error here, not a SIGBUS on a store */
        void *p = posix_fallocate(fd, 0, (off_t) nlen) == 0
                          ? mmap(NULL, nlen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                          : MAP_FAILED;
        if (p == MAP_FAILED) {
                close(fd);
                return;
        }
        memcpy(p, b->v, b->n * sizeof(sk_run_rec));
        munmap(b->v, b->cap * sizeof(sk_run_rec));
        b->v = p;
        b->cap = nlen / sizeof(sk_run_rec);
        b->fd = fd;
        b->file = true;
}

static int recbuf_reserve(sk_recbuf *b, size_t want) {
        if (want <= b->cap)
                return 0;
        size_t ncap = b->cap * 2;
        while (ncap < want)
                ncap *= 2;
        if (ncap > SIZE_MAX / sizeof(sk_run_rec))
                return -ENOMEM;
        size_t olen = b->cap * sizeof(sk_run_rec), nlen = ncap * sizeof(sk_run_rec);
        if (!b->file && b->dirfd >= 0 && nlen >= b->spill_min) {
                move_to_file(b, nlen);
                if (b->file)
                        return 0;
        }
        if (b->file) {
                int r = posix_fallocate(b->fd, 0, (off_t) nlen);
                if (r != 0)
                        return -r;
        }
        void *p = mremap(b->v, olen, nlen, MREMAP_MAYMOVE);
        if (p == MAP_FAILED)
                return -errno;
        b->v = p;
        b->cap = ncap;
        return 0;
}

/* MADV_DONTNEED on the whole pages between from and to: anonymous pages
 * are discarded, a spill file's are unmapped from this process only (the
 * page cache keeps them). Returns the first page dropped (to if none). */
static uintptr_t drop_pages(const void *from, const void *to) {
        uintptr_t page = (uintptr_t) sysconf(_SC_PAGESIZE);
        uintptr_t s = ((uintptr_t) from + page - 1) / page * page, e = (uintptr_t) to / page * page;
        if (e <= s || madvise((void *) s, e - s, MADV_DONTNEED) < 0)
                return (uintptr_t) to;
        return s;
}

/* A spilled buffer's records from..to are done with for now, so that a long
 * sequential pass holds a window, not the whole buffer, in its RSS. */
static void recbuf_release(const sk_recbuf *b, size_t from, size_t to) {
        if (b->file)
                (void) drop_pages(b->v + from, b->v + to);
}

#define RELEASE_EVERY ((16u << 20) / sizeof(sk_run_rec))

int sk_recbuf_push(sk_recbuf *b, const sk_run_rec *r) {
        int q = recbuf_reserve(b, b->n + 1);
        if (q < 0)
                return q;
        b->v[b->n++] = *r;
        if (b->n % RELEASE_EVERY == 0)
                recbuf_release(b, b->n - RELEASE_EVERY, b->n);
        return 0;
}

/* Give back what lies past n (the sort's dedup shrinks a buffer): memory,
 * and a spill file's blocks. */
static void recbuf_trim(sk_recbuf *b) {
        uintptr_t end = (uintptr_t) (b->v + b->cap), s = drop_pages(b->v + MAX(b->n, (size_t) 1), b->v + b->cap);
        if (s < end && b->fd >= 0)
                (void) fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) (s - (uintptr_t) b->v),
                                 (off_t) (end - s));
}

/* A run never grows: its mapping keeps the file, and the descriptor goes
 * (a process with many runs over its life must not hold a descriptor each). */
static void recbuf_seal(sk_recbuf *b) {
        if (b->fd >= 0) {
                close(b->fd);
                b->fd = -1;
        }
}

/* --- sorting ------------------------------------------------------------------ */

static int cmp_full(const void *x, const void *y) {
        const sk_run_rec *a = x, *b = y;
        int c = sk_run_rec_cmp_key(a, b->id, b->type);
        if (c)
                return c;
        return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static unsigned bits_for(size_t n, unsigned per_bucket_log2) {
        unsigned b = 0;
        while (b < DIR_MAX_BITS && ((size_t) 1 << (b + per_bucket_log2)) < n)
                b++;
        return b;
}

static inline uint32_t prefix(const uint8_t *id, unsigned bits) {
        if (!bits)
                return 0;
        uint32_t p = (uint32_t) id[0] << 24 | (uint32_t) id[1] << 16 | (uint32_t) id[2] << 8 | id[3];
        return p >> (32 - bits);
}

/* Counting sort by the first bits of the id (stable), then each bucket by
 * the whole key; the comparison includes seq, so the order is total. */
static int sort_records(sk_recbuf *in, const sk_spill *spill, sk_recbuf *out) {
        *out = (sk_recbuf) { .fd = -1, .dirfd = -1 };   /* freeable whatever fails */
        size_t n = in->n;
        unsigned bits = bits_for(n, 2);
        size_t nb = (size_t) 1 << bits;
        _cleanup_free_ size_t *pos = calloc(nb + 1, sizeof(size_t));
        if (!pos)
                return -ENOMEM;
        int r = sk_recbuf_init(out, spill);
        if (r < 0)
                return r;
        if ((r = recbuf_reserve(out, n)) < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                pos[prefix(in->v[i].id, bits) + 1]++;
                if ((i + 1) % RELEASE_EVERY == 0)
                        recbuf_release(in, i + 1 - RELEASE_EVERY, i + 1);
        }
        for (size_t k = 0; k < nb; k++)
                pos[k + 1] += pos[k];
        for (size_t i = 0; i < n; i++) {
                out->v[pos[prefix(in->v[i].id, bits)]++] = in->v[i];
                if ((i + 1) % RELEASE_EVERY == 0)
                        recbuf_release(in, i + 1 - RELEASE_EVERY, i + 1);
        }
        out->n = n;
        /* pos[k] is now the end of bucket k */
        size_t start = 0;
        for (size_t k = 0; k < nb; k++) {
                size_t end = pos[k], len = end - start;
                sk_run_rec *v = out->v + start;
                if (len > INSERTION_SORT_MAX) {
                        qsort(v, len, sizeof(*v), cmp_full);
                } else {
                        for (size_t i = 1; i < len; i++) {
                                sk_run_rec t = v[i];
                                size_t j = i;
                                for (; j > 0 && cmp_full(&v[j - 1], &t) > 0; j--)
                                        v[j] = v[j - 1];
                                v[j] = t;
                        }
                }
                start = end;
        }
        return 0;
}

/* --- building ------------------------------------------------------------------ */

static inline uint64_t be64_at(const uint8_t *p) {
        uint64_t v;
        memcpy(&v, p, 8);
        return __builtin_bswap64(v);
}

/* Four 6-bit positions from bytes 8..15 of the id (the directory uses the
 * first bytes; ids are uniform, so no further hashing is needed). */
static inline uint64_t bloom_mask(const uint8_t *id) {
        uint64_t h = be64_at(id + 8), m = 0;
        for (unsigned i = 0; i < BLOOM_PROBES; i++, h >>= 6)
                m |= 1ULL << (h & 63);
        return m;
}

static size_t dir_bytes(const sk_index_run *run) {
        return (((size_t) 1 << run->dir_bits) + 1) * sizeof(bucket);
}

/* Every lookup reads one bucket at random: a directory of 2 MiB or more
 * (a run of a million records or more) is asked for huge pages, so that
 * the bucket's cache miss comes without a page walk (a few per cent on
 * lookups at 16 million blobs: PERFORMANCE.md). Smaller ones fit the TLB's
 * reach anyway. Zeroed either way. */
static int dir_alloc(sk_index_run *run) {
        size_t len = dir_bytes(run);
        if (len >= DIR_HUGE_MIN)
                run->dir = sk_huge_map(len, &run->dir_maplen);
        if (!run->dir) {
                run->dir_maplen = 0;
                run->dir = calloc(1, len);      /* small, or no huge pages here */
        }
        return run->dir ? 0 : -ENOMEM;
}

static void dir_free(sk_index_run *run) {
        if (run->dir_maplen)
                sk_huge_unmap(run->dir, run->dir_maplen);
        else
                free(run->dir);
}

static int index_run(sk_index_run *run) {
        size_t n = run->recs.n;
        run->dir_bits = bits_for(n, 3);
        size_t nb = (size_t) 1 << run->dir_bits;
        if (dir_alloc(run) < 0)
                return -ENOMEM;
        size_t i = 0;
        for (size_t k = 0; k <= nb; k++) {
                run->dir[k].start = (uint32_t) i;
                for (; i < n && prefix(run->recs.v[i].id, run->dir_bits) == k; i++)
                        run->dir[k].bloom |= bloom_mask(run->recs.v[i].id);
        }
        return 0;
}

void sk_index_run_release(const sk_index_run *run) {
        if (!run->recs.file)
                return;
        (void) drop_pages(run->recs.v, run->recs.v + run->recs.cap);
        (void) madvise(run->recs.v, run->recs.cap * sizeof(sk_run_rec), MADV_RANDOM);
}

int sk_index_run_from_sorted(sk_recbuf *b, sk_index_run **ret) {
        sk_index_run *run = calloc(1, sizeof(*run));
        if (!run) {
                sk_recbuf_done(b);
                return -ENOMEM;
        }
        run->recs = *b;
        *b = (sk_recbuf) { .fd = -1, .dirfd = -1 };
        if (run->recs.n >= UINT32_MAX) {
                sk_index_run_free(run);
                return -E2BIG;
        }
        recbuf_trim(&run->recs);
        recbuf_seal(&run->recs);
        int r = index_run(run);
        if (r < 0) {
                sk_index_run_free(run);
                return r;
        }
        *ret = run;
        return 0;
}

int sk_index_run_build(sk_recbuf *b, const sk_spill *spill, sk_index_run **ret) {
        sk_recbuf sorted;
        int r = sort_records(b, spill, &sorted);
        sk_recbuf_done(b);
        if (r < 0) {
                sk_recbuf_done(&sorted);
                return r;
        }
        /* keep the first (lowest seq) record of each key */
        size_t w = 0;
        for (size_t i = 0; i < sorted.n; i++) {
                if (w > 0 && sk_run_rec_cmp_key(&sorted.v[w - 1], sorted.v[i].id, sorted.v[i].type) == 0)
                        continue;
                sorted.v[w++] = sorted.v[i];
        }
        sorted.n = w;
        return sk_index_run_from_sorted(&sorted, ret);
}

void sk_index_run_free(sk_index_run *run) {
        if (!run)
                return;
        sk_recbuf_done(&run->recs);
        dir_free(run);
        free(run);
}

/* --- reading ------------------------------------------------------------------ */

size_t sk_index_run_count(const sk_index_run *run) {
        return run->recs.n;
}

const sk_run_rec *sk_index_run_at(const sk_index_run *run, size_t i) {
        return &run->recs.v[i];
}

const sk_run_rec *sk_index_run_find(const sk_index_run *run, const uint8_t id[SK_BLOB_ID_SIZE], uint8_t type) {
        uint32_t k = prefix(id, run->dir_bits);
        const bucket *b = &run->dir[k];
        uint64_t m = bloom_mask(id);
        if ((b->bloom & m) != m)
                return NULL;
        size_t lo = b->start, hi = b[1].start;
        if (lo == hi)
                return NULL;
        if (hi - lo <= WALK_MAX) {
                /* Ids are uniform within the bucket too: start where the
                 * next 16 bits of the id say, and walk (one or two records,
                 * typically; at most WALK_MAX). */
                uint64_t frac = (be64_at(id) << run->dir_bits) >> 48;
                size_t i = lo + (size_t) ((frac * (hi - lo)) >> 16);
                int c = sk_run_rec_cmp_key(&run->recs.v[i], id, type);
                if (c < 0) {
                        while (++i < hi && (c = sk_run_rec_cmp_key(&run->recs.v[i], id, type)) < 0)
                                ;
                } else {
                        while (c > 0 && i > lo && (c = sk_run_rec_cmp_key(&run->recs.v[i - 1], id, type)) >= 0)
                                i--;
                }
                return i < hi && c == 0 ? &run->recs.v[i] : NULL;
        }
        /* A crowded bucket (crafted ids share their first bytes): binary search. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (sk_run_rec_cmp_key(&run->recs.v[mid], id, type) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo < b[1].start && sk_run_rec_cmp_key(&run->recs.v[lo], id, type) == 0)
                return &run->recs.v[lo];
        return NULL;
}

size_t sk_index_run_heap_bytes(const sk_index_run *run) {
        size_t b = dir_bytes(run);
        if (!run->recs.file)
                b += run->recs.n * sizeof(sk_run_rec);
        return b;
}

bool sk_index_run_spilled(const sk_index_run *run) {
        return run->recs.file;
}
