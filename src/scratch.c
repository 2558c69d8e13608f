/* scratch.c - per-call scratch from a per-index block cache; see scratch.h. */
#include "scratch.h"

#include <stdint.h>
#include <stdlib.h>

#define SCRATCH_ALIGN 64 /* what the SIMD tables and per-worker slices want */

struct scratch_block {
    size_t cap; /* usable bytes, after the SCRATCH_ALIGN-byte header */
};

static size_t round_up(size_t n) { return (n + SCRATCH_ALIGN - 1) & ~(size_t)(SCRATCH_ALIGN - 1); }
static uint8_t *block_data(scratch_block *b) { return (uint8_t *)b + SCRATCH_ALIGN; }

static void block_free(scratch_cache *c, scratch_block *b)
{
    if (!b) return;
    atomic_fetch_sub(&c->held, SCRATCH_ALIGN + b->cap);
    free(b);
}

void scratch_begin(scratch *s, scratch_cache *c)
{
    *s = (scratch){.cache = c};
    for (int i = 0; c && i < SCRATCH_SLOTS && !s->block; i++)
        if (atomic_load_explicit(&c->slot[i], memory_order_relaxed))
            s->block = atomic_exchange(&c->slot[i], NULL);
}

void *scratch_alloc(scratch *s, size_t bytes)
{
    bytes = round_up(bytes ? bytes : 1);
    s->asked += bytes;
    if (s->block && bytes <= s->block->cap - s->used) {
        void *p = block_data(s->block) + s->used;
        s->used += bytes;
        return p;
    }
    /* The spill list's link sits in the header, so the memory handed out stays aligned. */
    void **p = aligned_alloc(SCRATCH_ALIGN, SCRATCH_ALIGN + bytes);
    if (!p) return NULL;
    *p = s->spill;
    s->spill = p;
    return (uint8_t *)p + SCRATCH_ALIGN;
}

void scratch_reset(scratch *s, scratch_mark m)
{
    while (s->spill != m.spill) {
        void **p = s->spill;
        s->spill = *p;
        free(p);
    }
    s->used = m.used;
}

void scratch_end(scratch *s)
{
    scratch_cache *c = s->cache;
    scratch_reset(s, (scratch_mark){0, NULL});
    if (!c) return;
    scratch_block *b = s->block;
    /* Too small for this call: replace it, so the next call like it allocates nothing. */
    if (s->asked <= SCRATCH_KEEP_MAX && (!b || b->cap < s->asked)) {
        scratch_block *nb = aligned_alloc(SCRATCH_ALIGN, SCRATCH_ALIGN + s->asked);
        if (nb) {
            nb->cap = s->asked;
            atomic_fetch_add(&c->held, SCRATCH_ALIGN + nb->cap);
            block_free(c, b);
            b = nb;
        }
    }
    for (int i = 0; b && i < SCRATCH_SLOTS; i++) {
        scratch_block *empty = NULL;
        if (atomic_compare_exchange_strong(&c->slot[i], &empty, b)) b = NULL;
    }
    block_free(c, b); /* every slot full: more concurrent callers than slots */
    s->block = NULL;
}

size_t scratch_cache_memory(const scratch_cache *c) { return atomic_load(&c->held); }

void scratch_cache_free(scratch_cache *c)
{
    for (int i = 0; i < SCRATCH_SLOTS; i++) block_free(c, atomic_exchange(&c->slot[i], NULL));
}
