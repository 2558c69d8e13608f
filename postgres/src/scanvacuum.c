/*
 * scanvacuum.c - VACUUM: drop the TIDs of dead heap tuples from every list. A group stays
 * dense: a dead slot is filled with the group's last live slot (its TID and its code, through
 * the codec's block_move), so scans never see holes. Groups emptied this way keep their place
 * and are filled again only if they are the last of their list; REINDEX compacts everything.
 * An untrained index's raw pages lose their dead TIDs' items (the chain keeps its pages).
 */
#include "scann_am.h"

#include "commands/vacuum.h"
#include "miscadmin.h"
#include "utils/rel.h"

/* Remove dead TIDs from one group; returns how many. */
static int CompactGroup(const ScannCache *cache, ScannGroup g, IndexBulkDeleteCallback callback,
                        void *state)
{
    int removed = 0;
    for (int i = 0; i < g->count;) {
        if (!callback(&g->tids[i], state)) {
            i++;
            continue;
        }
        g->count--;
        g->tids[i] = g->tids[g->count];
        ItemPointerSetInvalid(&g->tids[g->count]);
        ScannCheckStatus(scann_codec_block_move(cache->codec, g->block, i, g->block, g->count),
                         "moving a code");
        if (ScannReorderInIndex(cache->meta.reorder)) { /* its rerank row goes with it */
            memmove(ScannGroupRow(cache, g, i), ScannGroupRow(cache, g, g->count),
                    cache->info.row_bytes);
            memset(ScannGroupRow(cache, g, g->count), 0, cache->info.row_bytes);
        }
        removed++;
    }
    return removed;
}

typedef struct BulkDelete {
    const ScannCache *cache; /* NULL for an untrained index's raw chain */
    IndexBulkDeleteResult *stats;
    IndexBulkDeleteCallback callback;
    void *callback_state;
} BulkDelete;

/* One page: drop its dead TIDs, count the live ones; true when the page changed. A list page
 * holds groups (compacted in place); a raw page holds bare TIDs (their items deleted). */
static bool BulkDeletePage(Page page, BulkDelete *b)
{
    OffsetNumber dead[MaxOffsetNumber];
    OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
    int removed = 0;
    for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off = OffsetNumberNext(off)) {
        Item item = PageGetItem(page, PageGetItemId(page, off));
        if (b->cache) {
            ScannGroup g = (ScannGroup)item;
            removed += CompactGroup(b->cache, g, b->callback, b->callback_state);
            b->stats->num_index_tuples += g->count;
        } else if (b->callback((ItemPointer)item, b->callback_state)) {
            dead[removed++] = off;
        } else {
            b->stats->num_index_tuples += 1;
        }
    }
    b->stats->tuples_removed += removed;
    if (!b->cache && removed > 0) PageIndexMultiDelete(page, dead, removed);
    return removed > 0;
}

/* Every page of the chain from blk, each under an exclusive lock in its own GenericXLog record
 * (written only when the page changed). */
static void BulkDeleteChain(Relation index, BlockNumber blk, BufferAccessStrategy bas,
                            BulkDelete *b)
{
    while (BlockNumberIsValid(blk)) {
        Buffer buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, bas);
        GenericXLogState *state;
        Page page;
        vacuum_delay_point();
        LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
        state = GenericXLogStart(index);
        page = GenericXLogRegisterBuffer(state, buf, 0);
        blk = ScannPageGetOpaque(page)->nextblkno;
        if (BulkDeletePage(page, b))
            GenericXLogFinish(state);
        else
            GenericXLogAbort(state);
        UnlockReleaseBuffer(buf);
    }
}

IndexBulkDeleteResult *scannbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
                                       IndexBulkDeleteCallback callback, void *callback_state)
{
    Relation index = info->index;
    ScannMetaPageData meta;
    BufferAccessStrategy bas = GetAccessStrategy(BAS_BULKREAD);
    BulkDelete b;
    if (stats == NULL) stats = palloc0(sizeof(IndexBulkDeleteResult));
    ScannReadMeta(index, &meta);
    b.cache = meta.nlist == 0 ? NULL : ScannGetCache(index);
    b.stats = stats;
    b.callback = callback;
    b.callback_state = callback_state;
    if (meta.nlist == 0) /* untrained: the raw chain */
        BulkDeleteChain(index, meta.raw_start, bas, &b);
    for (int l = 0; l < meta.nlist; l++) {
        ScannListEntry e;
        ScannReadListEntry(index, &meta, l, &e);
        BulkDeleteChain(index, e.start, bas, &b);
    }
    FreeAccessStrategy(bas);
    return stats;
}

IndexBulkDeleteResult *scannvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
    if (info->analyze_only) return stats;
    if (stats == NULL) { /* no bulkdelete ran: nothing was removed, so count nothing */
        stats = palloc0(sizeof(IndexBulkDeleteResult));
        stats->estimated_count = true;
        stats->num_index_tuples = info->num_heap_tuples;
    }
    stats->num_pages = RelationGetNumberOfBlocks(info->index);
    return stats;
}
