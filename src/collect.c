/* collect.c - the range list's growth; see collect.h. */
#include "collect.h"

#include <stdlib.h>

void range_list_push_slow(range_list *l, float s, int64_t key)
{
    if (l->nomem) return;
    int64_t cap = l->cap ? 2 * l->cap : 64;
    float *sc = realloc(l->score, (size_t)cap * sizeof(float));
    if (sc) l->score = sc;
    int64_t *k = sc ? realloc(l->key, (size_t)cap * sizeof(int64_t)) : NULL;
    if (!k) {
        l->nomem = 1;
        return;
    }
    l->key = k;
    l->cap = cap;
    l->score[l->n] = s;
    l->key[l->n++] = key;
}

void range_list_free(range_list *l)
{
    free(l->score);
    free(l->key);
    l->score = NULL;
    l->key = NULL;
    l->n = l->cap = 0;
}
