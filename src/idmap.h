/*
 * idmap.h - external id -> location, so that remove and upsert cost time in proportion to their
 * batch rather than a pass over every stored id.
 *
 * Open addressing with linear probing over slots that hold only a location (what the kind calls
 * a location: a row for FLAT, ivf_loc for the IVF kinds); the id behind a slot is read back from
 * the index's own id arrays through id_of. The map therefore costs 8 bytes a slot, and with the
 * load kept in (0.35, 0.7] that is 11 to 23 bytes a vector. Kinds build it lazily, at the first
 * remove or upsert (idmap_built tells), so an index that is only added to and searched, such as
 * a codes-only SCANN index of ~35 bytes a vector, never pays for it.
 *
 * Invariant once built: every stored vector's location is in exactly one slot. The kind keeps
 * it on every append (idmap_insert, after idmap_reserve made room, so appending cannot fail),
 * every move (idmap_relocate) and every removal (idmap_erase, called while the index's id
 * arrays still hold the ids of the other slots, which the deletion rehashes).
 */
#ifndef SCANN_IDMAP_H
#define SCANN_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "scann.h"

/* The external id stored at loc. */
typedef int64_t (*idmap_id_fn)(const void *ctx, int64_t loc);

typedef struct idmap {
    int64_t *slot; /* cap slots; -1 = empty (locations are >= 0) */
    uint64_t cap;  /* power of two; 0 = not built */
    int64_t count; /* occupied slots */
} idmap;

static inline int idmap_built(const idmap *m) { return m->cap > 0; }

/* Room for count entries in all (growing and rehashing through id_of); builds an empty map
 * when none is built. On failure the map is unchanged. */
scann_status idmap_reserve(idmap *m, int64_t count, idmap_id_fn id_of, const void *ctx);
/* Add id at loc. The id must not be in the map and idmap_reserve must have made room. */
void idmap_insert(idmap *m, int64_t id, int64_t loc);
/* Location of id, or -1. */
int64_t idmap_find(const idmap *m, int64_t id, idmap_id_fn id_of, const void *ctx);
/* The vector with this id moved from location `from` to `to`. */
void idmap_relocate(idmap *m, int64_t id, int64_t from, int64_t to);
/* Remove id (stored at loc). id_of must still answer for every other stored location. */
void idmap_erase(idmap *m, int64_t id, int64_t loc, idmap_id_fn id_of, const void *ctx);
/* Back to "not built". */
void idmap_free(idmap *m);
static inline size_t idmap_memory(const idmap *m) { return (size_t)m->cap * sizeof(int64_t); }

#endif
