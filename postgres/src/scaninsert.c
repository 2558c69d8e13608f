/*
 * scaninsert.c - adding one vector after the build: encode it with the build's codec, then
 * append its code and heap TID to the last group of its list's last page, or to a new group,
 * or to a new page linked at the end of the chain. The build adds its rows the same way.
 */
#include "scann_am.h"

#include "utils/memutils.h"
#include "utils/rel.h"

/* Put (code, tid) into a new group on page; false when the page has no room for one. */
static bool AddGroup(const ScannCache *cache, Page page, const uint8 *code, ItemPointer tid)
{
    Size size = SCANN_GROUP_SIZE(cache->info.block_bytes);
    ScannGroup g;
    if (PageGetFreeSpace(page) < MAXALIGN(size)) return false;
    g = palloc0(size);
    g->count = 1;
    g->tids[0] = *tid;
    ScannCheckStatus(scann_codec_block_set(cache->codec, g->block, 0, code), "packing a code");
    if (PageAddItem(page, (Item)g, size, InvalidOffsetNumber, false, false) == InvalidOffsetNumber)
        elog(ERROR, "scann: failed to add a group to an index page");
    pfree(g);
    return true;
}

void ScannAppend(Relation index, const ScannCache *cache, int list, const uint8 *code,
                 ItemPointer tid)
{
    ScannListEntry e;
    BlockNumber blk;
    ScannReadListEntry(index, &cache->meta, list, &e);
    blk = e.insert;
    for (;;) {
        Buffer buf = ReadBuffer(index, blk);
        GenericXLogState *state;
        Page page;
        OffsetNumber maxoff;
        LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
        /* Only the chain's last page takes new vectors: the directory's hint may lag. */
        if (BlockNumberIsValid(ScannPageGetOpaque(BufferGetPage(buf))->nextblkno)) {
            blk = ScannPageGetOpaque(BufferGetPage(buf))->nextblkno;
            UnlockReleaseBuffer(buf);
            continue;
        }
        state = GenericXLogStart(index);
        page = GenericXLogRegisterBuffer(state, buf, 0);
        maxoff = PageGetMaxOffsetNumber(page);
        if (maxoff >= FirstOffsetNumber) {
            ScannGroup g = (ScannGroup)PageGetItem(page, PageGetItemId(page, maxoff));
            if (g->count < SCANN_CODEC_BLOCK) {
                g->tids[g->count] = *tid;
                ScannCheckStatus(scann_codec_block_set(cache->codec, g->block, g->count, code),
                                 "packing a code");
                g->count++;
                GenericXLogFinish(state);
                UnlockReleaseBuffer(buf);
                return;
            }
        }
        if (AddGroup(cache, page, code, tid)) {
            GenericXLogFinish(state);
            UnlockReleaseBuffer(buf);
            return;
        } else {
            Buffer nbuf = ScannNewBuffer(index, MAIN_FORKNUM);
            Page npage = GenericXLogRegisterBuffer(state, nbuf, GENERIC_XLOG_FULL_IMAGE);
            BlockNumber nblk = BufferGetBlockNumber(nbuf);
            ScannInitPage(npage);
            if (!AddGroup(cache, npage, code, tid))
                elog(ERROR, "scann: a group does not fit a page");
            ScannPageGetOpaque(page)->nextblkno = nblk;
            GenericXLogFinish(state);
            UnlockReleaseBuffer(nbuf);
            UnlockReleaseBuffer(buf);
            ScannUpdateInsertPage(index, &cache->meta, list, nblk);
            return;
        }
    }
}

/* Encode value and append it; NULLs are not indexed (no ORDER BY distance can use them). */
static void InsertValue(Relation index, Datum value, ItemPointer tid)
{
    ScannCache *cache = ScannGetCache(index);
    int dims;
    float *x = ScannDatumToFloats(index, value, &dims);
    void *scratch;
    uint8 *code;
    int32 list;
    if (dims != cache->meta.dims)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("scann: expected %d dimensions, not %d", cache->meta.dims, dims)));
    scratch = palloc(cache->info.encode_bytes);
    code = palloc(cache->info.m);
    ScannCheckStatus(scann_codec_encode(cache->codec, dims, x, scratch, &list, code, NULL),
                     "encoding a vector");
    ScannAppend(index, cache, list, code, tid);
    pfree(scratch);
    pfree(code);
}

bool scanninsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid, Relation heap,
                 IndexUniqueCheck checkUnique, bool indexUnchanged, IndexInfo *indexInfo)
{
    MemoryContext ctx, old;
    if (isnull[0]) return false;
    ctx = AllocSetContextCreate(CurrentMemoryContext, "scann insert", ALLOCSET_DEFAULT_SIZES);
    old = MemoryContextSwitchTo(ctx);
    InsertValue(index, values[0], heap_tid);
    MemoryContextSwitchTo(old);
    MemoryContextDelete(ctx);
    return false;
}
