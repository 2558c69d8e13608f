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

/* An untrained index: delete the items of dead TIDs from the raw chain's pages. */
static void RawBulkDelete(Relation index, const ScannMetaPageData *meta,
                          IndexBulkDeleteResult *stats, IndexBulkDeleteCallback callback,
                          void *callback_state, BufferAccessStrategy bas)
{
    OffsetNumber dead[MaxOffsetNumber];
    for (BlockNumber blk = meta->raw_start; BlockNumberIsValid(blk);) {
        Buffer buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, bas);
        GenericXLogState *state;
        Page page;
        OffsetNumber maxoff;
        int ndead = 0;
        vacuum_delay_point();
        LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
        state = GenericXLogStart(index);
        page = GenericXLogRegisterBuffer(state, buf, 0);
        maxoff = PageGetMaxOffsetNumber(page);
        for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off = OffsetNumberNext(off)) {
            if (callback((ItemPointer)PageGetItem(page, PageGetItemId(page, off)), callback_state))
                dead[ndead++] = off;
            else
                stats->num_index_tuples += 1;
        }
        stats->tuples_removed += ndead;
        blk = ScannPageGetOpaque(page)->nextblkno;
        if (ndead > 0) {
            PageIndexMultiDelete(page, dead, ndead);
            GenericXLogFinish(state);
        } else
            GenericXLogAbort(state);
        UnlockReleaseBuffer(buf);
    }
}

IndexBulkDeleteResult *scannbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
                                       IndexBulkDeleteCallback callback, void *callback_state)
{
    Relation index = info->index;
    ScannMetaPageData meta;
    ScannCache *cache;
    BufferAccessStrategy bas = GetAccessStrategy(BAS_BULKREAD);
    if (stats == NULL) stats = palloc0(sizeof(IndexBulkDeleteResult));
    ScannReadMeta(index, &meta);
    if (meta.nlist == 0) {
        RawBulkDelete(index, &meta, stats, callback, callback_state, bas);
        FreeAccessStrategy(bas);
        return stats;
    }
    cache = ScannGetCache(index);
    for (int l = 0; l < meta.nlist; l++) {
        ScannListEntry e;
        ScannReadListEntry(index, &meta, l, &e);
        for (BlockNumber blk = e.start; BlockNumberIsValid(blk);) {
            Buffer buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, bas);
            GenericXLogState *state;
            Page page;
            OffsetNumber maxoff;
            int removed = 0;
            vacuum_delay_point();
            LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
            state = GenericXLogStart(index);
            page = GenericXLogRegisterBuffer(state, buf, 0);
            maxoff = PageGetMaxOffsetNumber(page);
            for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off = OffsetNumberNext(off)) {
                ScannGroup g = (ScannGroup)PageGetItem(page, PageGetItemId(page, off));
                removed += CompactGroup(cache, g, callback, callback_state);
                stats->num_index_tuples += g->count;
            }
            stats->tuples_removed += removed;
            blk = ScannPageGetOpaque(page)->nextblkno;
            if (removed > 0)
                GenericXLogFinish(state);
            else
                GenericXLogAbort(state);
            UnlockReleaseBuffer(buf);
        }
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
