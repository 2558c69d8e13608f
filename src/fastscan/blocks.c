/* blocks.c - a list's growable array of code blocks; see fastscan.h. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fastscan.h"

scann_status fs_list_reserve(fs_list *L, int m, int64_t n)
{
    int64_t need = fs_blocks_for(n);
    if (need <= L->cap) return SCANN_OK;
    size_t bb = fs_block_bytes(m);
    int64_t cap = L->cap + L->cap / 2 > need ? L->cap + L->cap / 2 : need;
    uint8_t *data = L->in_slab ? malloc((size_t)cap * bb) : realloc(L->data, (size_t)cap * bb);
    if (!data) return err_nomem("FastScan code blocks", (size_t)cap * bb);
    if (L->in_slab) memcpy(data, L->data, (size_t)L->cap * bb);
    memset(data + (size_t)L->cap * bb, 0, (size_t)(cap - L->cap) * bb);
    L->data = data;
    L->cap = cap;
    L->in_slab = 0;
    return SCANN_OK;
}

void fs_list_move(fs_list *L, int m, int64_t from, int64_t to)
{
    fs_move_one(fs_list_block(L, m, to), (int)(to % FS_BLOCK), fs_list_block(L, m, from),
                (int)(from % FS_BLOCK), m);
}

void fs_list_free(fs_list *L)
{
    if (L->cap && !L->in_slab) free(L->data);
    L->data = NULL;
    L->cap = 0;
    L->in_slab = 0;
}
