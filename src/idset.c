/* idset.c - see idset.h. */
#include "idset.h"

#include <stdlib.h>

#include "error.h"

scann_status idset_build(idset *s, const int64_t *ids, int64_t n, int64_t *dup)
{
    s->count = 0;
    s->cap = 16;
    while (s->cap < 2 * n) s->cap *= 2;
    s->slot = malloc((size_t)s->cap * sizeof(int64_t));
    if (!s->slot) return err_nomem("id set", (size_t)s->cap * 8);
    for (int64_t i = 0; i < s->cap; i++) s->slot[i] = -1;
    *dup = -1;
    uint64_t mask = (uint64_t)s->cap - 1;
    for (int64_t k = 0; k < n; k++) {
        uint64_t i = idset_hash(ids[k]) & mask;
        while (s->slot[i] >= 0 && s->slot[i] != ids[k]) i = (i + 1) & mask;
        if (s->slot[i] == ids[k]) {
            if (*dup < 0) *dup = k;
            continue;
        }
        s->slot[i] = ids[k];
        s->count++;
    }
    return SCANN_OK;
}

void idset_free(idset *s)
{
    free(s->slot);
    s->slot = NULL;
    s->count = s->cap = 0;
}
