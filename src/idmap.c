/* idmap.c - see idmap.h. */
#include "idmap.h"

#include <stdlib.h>

#include "error.h"
#include "idset.h"

#define IDMAP_MIN_CAP 64

static void place(int64_t *slot, uint64_t mask, int64_t id, int64_t loc)
{
    uint64_t i = idset_hash(id) & mask;
    while (slot[i] >= 0) i = (i + 1) & mask;
    slot[i] = loc;
}

scann_status idmap_reserve(idmap *m, int64_t count, idmap_id_fn id_of, const void *ctx)
{
    /* The smallest power of two that holds count at a load of at most 0.7, so the load stays in
     * (0.35, 0.7]: probes stay short (about 2 for a hit at 0.7) and memory bounded. */
    if (m->cap && (uint64_t)count * 10 <= m->cap * 7) return SCANN_OK;
    uint64_t cap = IDMAP_MIN_CAP;
    while (cap * 7 < (uint64_t)count * 10) cap *= 2;
    int64_t *slot = malloc((size_t)cap * sizeof(int64_t));
    if (!slot) return err_nomem("id map", (size_t)cap * sizeof(int64_t));
    for (uint64_t i = 0; i < cap; i++) slot[i] = -1;
    for (uint64_t i = 0; i < m->cap; i++)
        if (m->slot[i] >= 0) place(slot, cap - 1, id_of(ctx, m->slot[i]), m->slot[i]);
    free(m->slot);
    m->slot = slot;
    m->cap = cap;
    return SCANN_OK;
}

void idmap_insert(idmap *m, int64_t id, int64_t loc)
{
    place(m->slot, m->cap - 1, id, loc);
    m->count++;
}

int64_t idmap_find(const idmap *m, int64_t id, idmap_id_fn id_of, const void *ctx)
{
    if (!m->cap) return -1;
    uint64_t mask = m->cap - 1;
    for (uint64_t i = idset_hash(id) & mask; m->slot[i] >= 0; i = (i + 1) & mask)
        if (id_of(ctx, m->slot[i]) == id) return m->slot[i];
    return -1;
}

/* The slot holding loc, found from id's home slot: locations are unique, so no id reads. */
static uint64_t slot_of(const idmap *m, int64_t id, int64_t loc)
{
    uint64_t mask = m->cap - 1, i = idset_hash(id) & mask;
    while (m->slot[i] != loc) i = (i + 1) & mask;
    return i;
}

void idmap_relocate(idmap *m, int64_t id, int64_t from, int64_t to)
{
    m->slot[slot_of(m, id, from)] = to;
}

void idmap_erase(idmap *m, int64_t id, int64_t loc, idmap_id_fn id_of, const void *ctx)
{
    /* Backward-shift deletion (no tombstones): pull later entries of the probe run into the
     * hole when their home slot does not lie cyclically in (hole, j]. */
    uint64_t mask = m->cap - 1, hole = slot_of(m, id, loc);
    for (uint64_t j = (hole + 1) & mask; m->slot[j] >= 0; j = (j + 1) & mask) {
        uint64_t home = idset_hash(id_of(ctx, m->slot[j])) & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            m->slot[hole] = m->slot[j];
            hole = j;
        }
    }
    m->slot[hole] = -1;
    m->count--;
}

void idmap_free(idmap *m)
{
    free(m->slot);
    m->slot = NULL;
    m->cap = 0;
    m->count = 0;
}
