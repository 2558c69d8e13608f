/*
 * idset.h - a set of external ids (open addressing, linear probing), built once per remove or
 * upsert call: it rejects ids repeated within the call and lists the ids to look up in the
 * kind's id map (idmap.h).
 */
#ifndef SCANN_IDSET_H
#define SCANN_IDSET_H

#include <stdint.h>

#include "scann.h"

typedef struct idset {
    int64_t *slot; /* cap slots; -1 = empty (ids are >= 0) */
    int64_t cap;   /* power of two, at least twice the count */
    int64_t count;
} idset;

/* Build from n ids (>= 0). *dup gets the index of the first id repeated within the input, or -1. */
scann_status idset_build(idset *s, const int64_t *ids, int64_t n, int64_t *dup);
void idset_free(idset *s);

static inline uint64_t idset_hash(int64_t id)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

static inline int idset_has(const idset *s, int64_t id)
{
    if (s->count == 0) return 0;
    uint64_t mask = (uint64_t)s->cap - 1;
    for (uint64_t i = idset_hash(id) & mask;; i = (i + 1) & mask) {
        if (s->slot[i] == id) return 1;
        if (s->slot[i] < 0) return 0;
    }
}

#endif
