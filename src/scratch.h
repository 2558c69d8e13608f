/*
 * scratch.h - per-call scratch memory that survives the call: a bump allocator over a block
 * taken from the index's small cache and handed back at the end.
 *
 * A one-query search of a fast index takes about 30 us and needs a dozen buffers (probe scores,
 * candidates, tables, reservoirs, rerank rows) whose sizes depend on nq, nprobe, k and the
 * thread count. Taking them all from one cached block makes a steady stream of calls
 * allocation-free. Why a per-index cache and not thread-local buffers: the memory stays
 * bounded and owned by the index (scann_index_memory counts it, scann_index_free releases it),
 * and it needs no global key or thread-exit hook. Why atomics and not a lock: take and give are
 * one exchange or compare-exchange per slot, so concurrent searches never wait for each other.
 *
 * Invariants: a block is in at most one slot or in one call's hands; a call that finds every
 * slot empty starts with no block, and one that finds every slot full frees its block. A call
 * that asks for more than its block holds gets the rest from malloc (freed at scratch_end) and
 * then leaves a block sized to what it asked for, up to SCRATCH_KEEP_MAX bytes, so memory is
 * bounded by SCRATCH_SLOTS * SCRATCH_KEEP_MAX plus the blocks of calls in flight.
 */
#ifndef SCANN_SCRATCH_H
#define SCANN_SCRATCH_H

#include <stdatomic.h>
#include <stddef.h>

#define SCRATCH_SLOTS 4                      /* concurrent callers served without malloc */
#define SCRATCH_KEEP_MAX ((size_t)256 << 10) /* larger calls amortise a malloc anyway */

typedef struct scratch_block scratch_block;

typedef struct scratch_cache {
    _Atomic(scratch_block *) slot[SCRATCH_SLOTS];
    atomic_size_t held; /* bytes of the cache's blocks, cached or in a call's hands */
} scratch_cache;

/* One call's allocator. Not shared between threads: the caller allocates, workers use slices. */
typedef struct scratch {
    scratch_cache *cache; /* NULL: every allocation comes from malloc */
    scratch_block *block;
    size_t used;  /* bytes of block handed out */
    size_t asked; /* bytes asked for since scratch_begin: the block size the next call needs */
    void *spill;  /* malloc'ed allocations beyond the block, a list freed by scratch_end */
} scratch;

typedef struct scratch_mark {
    size_t used;
    void *spill;
} scratch_mark;

void scratch_begin(scratch *s, scratch_cache *c);
/* bytes of 64-byte aligned memory valid until scratch_end (or a reset below it); NULL when
 * out of memory. */
void *scratch_alloc(scratch *s, size_t bytes);
/* Give back everything allocated after the mark (a loop of calls reuses the same bytes). */
static inline scratch_mark scratch_save(const scratch *s)
{
    return (scratch_mark){s->used, s->spill};
}
void scratch_reset(scratch *s, scratch_mark m);
void scratch_end(scratch *s);

size_t scratch_cache_memory(const scratch_cache *c);
/* Frees the cached blocks; no call may be using the cache. */
void scratch_cache_free(scratch_cache *c);

#endif
