/*
 * scaninsert.c - adding one vector after the build: encode it with the build's codec, then
 * append its code and heap TID to the last group of its list's last page, or to a new group,
 * or to a new page linked at the end of the chain. The build adds its rows the same way.
 */
#include "scann_am.h"

#include "access/itup.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/* Put (code, tid) into a new group on page; false when the page has no room for one. */
static bool AddGroup(const ScannCache *cache, Page page, const uint8 *code, const uint8 *row,
                     ItemPointer tid)
{
    Size size = cache->group_size;
    ScannGroup g;
    if (PageGetFreeSpace(page) < MAXALIGN(size)) return false;
    g = palloc0(size);
    g->count = 1;
    g->tids[0] = *tid;
    ScannCheckStatus(scann_codec_block_set(cache->codec, g->block, 0, code), "packing a code");
    if (row) memcpy(ScannGroupRow(cache, g, 0), row, cache->info.row_bytes);
    if (PageAddItem(page, (Item)g, size, InvalidOffsetNumber, false, false) == InvalidOffsetNumber)
        elog(ERROR, "scann: failed to add a group to an index page");
    pfree(g);
    return true;
}

/* The last page of the chain that page blk belongs to, exclusively locked: only a chain's last
 * page takes new entries, and the insert hint that gives blk may lag behind the chain. */
static Buffer LockLastPage(Relation index, BlockNumber blk)
{
    for (;;) {
        Buffer buf = ReadBuffer(index, blk);
        LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
        blk = ScannPageGetOpaque(BufferGetPage(buf))->nextblkno;
        if (!BlockNumberIsValid(blk)) return buf;
        UnlockReleaseBuffer(buf);
    }
}

void ScannAppend(Relation index, const ScannCache *cache, int list, const uint8 *code,
                 const uint8 *row, ItemPointer tid)
{
    ScannListEntry e;
    ScannReadListEntry(index, &cache->meta, list, &e);
    {
        Buffer buf = LockLastPage(index, e.insert);
        GenericXLogState *state;
        Page page;
        OffsetNumber maxoff;
        state = GenericXLogStart(index);
        page = GenericXLogRegisterBuffer(state, buf, 0);
        maxoff = PageGetMaxOffsetNumber(page);
        if (maxoff >= FirstOffsetNumber) {
            ScannGroup g = (ScannGroup)PageGetItem(page, PageGetItemId(page, maxoff));
            if (g->count < cache->group_cap) {
                g->tids[g->count] = *tid;
                ScannCheckStatus(scann_codec_block_set(cache->codec, g->block, g->count, code),
                                 "packing a code");
                if (row) memcpy(ScannGroupRow(cache, g, g->count), row, cache->info.row_bytes);
                g->count++;
                GenericXLogFinish(state);
                UnlockReleaseBuffer(buf);
                return;
            }
        }
        if (AddGroup(cache, page, code, row, tid)) {
            GenericXLogFinish(state);
            UnlockReleaseBuffer(buf);
            return;
        } else {
            Buffer nbuf = ScannNewBuffer(index, MAIN_FORKNUM);
            Page npage = GenericXLogRegisterBuffer(state, nbuf, GENERIC_XLOG_FULL_IMAGE);
            BlockNumber nblk = BufferGetBlockNumber(nbuf);
            ScannInitPage(npage);
            if (!AddGroup(cache, npage, code, row, tid))
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

/* The meta page, exclusively locked and registered in state (the caller finishes or aborts). */
static ScannMetaPage LockMeta(Relation index, Buffer *buf, GenericXLogState **state)
{
    Page page;
    *buf = ReadBuffer(index, SCANN_METAPAGE_BLKNO);
    LockBuffer(*buf, BUFFER_LOCK_EXCLUSIVE);
    *state = GenericXLogStart(index);
    page = GenericXLogRegisterBuffer(*state, *buf, 0);
    return (ScannMetaPage)PageGetContents(page);
}

void ScannRawCheckDims(Relation index, int dims)
{
    ScannMetaPageData meta;
    Buffer buf;
    GenericXLogState *state;
    ScannMetaPage m;
    ScannReadMeta(index, &meta);
    if (meta.dims == 0) { /* the first vector of an empty index: record its dimension */
        m = LockMeta(index, &buf, &state);
        if (m->dims == 0) {
            m->dims = dims;
            GenericXLogFinish(state);
        } else
            GenericXLogAbort(state);
        meta.dims = m->dims;
        UnlockReleaseBuffer(buf);
    }
    if (dims != meta.dims)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("scann: expected %d dimensions, not %d", meta.dims, dims)));
}

void ScannRawAppend(Relation index, ItemPointer tid)
{
    ScannMetaPageData meta;
    ScannReadMeta(index, &meta);
    {
        Buffer buf = LockLastPage(index, meta.raw_insert), nbuf, mbuf;
        GenericXLogState *state;
        Page page, npage;
        BlockNumber nblk;
        ScannMetaPage m;
        state = GenericXLogStart(index);
        page = GenericXLogRegisterBuffer(state, buf, 0);
        /* At most MaxIndexTuplesPerPage items: VACUUM's PageIndexMultiDelete assumes it. */
        if (PageGetMaxOffsetNumber(page) < MaxIndexTuplesPerPage &&
            PageAddItem(page, (Item)tid, sizeof(ItemPointerData), InvalidOffsetNumber, false,
                        false) != InvalidOffsetNumber) {
            GenericXLogFinish(state);
            UnlockReleaseBuffer(buf);
            return;
        }
        /* Full: a new last page, linked from this one in the same record. */
        nbuf = ScannNewBuffer(index, MAIN_FORKNUM);
        npage = GenericXLogRegisterBuffer(state, nbuf, GENERIC_XLOG_FULL_IMAGE);
        nblk = BufferGetBlockNumber(nbuf);
        ScannInitPage(npage);
        if (PageAddItem(npage, (Item)tid, sizeof(ItemPointerData), InvalidOffsetNumber, false,
                        false) == InvalidOffsetNumber)
            elog(ERROR, "scann: failed to add a TID to a new page");
        ScannPageGetOpaque(page)->nextblkno = nblk;
        GenericXLogFinish(state);
        UnlockReleaseBuffer(nbuf);
        UnlockReleaseBuffer(buf);
        /* Move the insert hint forward (a hint: a crash before this only costs a walk). */
        m = LockMeta(index, &mbuf, &state);
        m->raw_insert = nblk;
        GenericXLogFinish(state);
        UnlockReleaseBuffer(mbuf);
        return;
    }
}

/* Encode value and append it; NULLs are not indexed (no ORDER BY distance can use them). */
static void InsertValue(Relation index, Datum value, ItemPointer tid)
{
    ScannCache *cache;
    int dims;
    float *x = ScannDatumToFloats(index, value, &dims);
    void *scratch;
    uint8 *code, *row = NULL;
    int32 list;
    if (index->rd_amcache == NULL) { /* not read yet, or untrained */
        ScannMetaPageData meta;
        ScannReadMeta(index, &meta);
        if (meta.nlist == 0) {
            ScannRawCheckDims(index, dims);
            ScannRawAppend(index, tid);
            return;
        }
    }
    cache = ScannGetCache(index);
    if (dims != cache->meta.dims)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("scann: expected %d dimensions, not %d", cache->meta.dims, dims)));
    scratch = palloc(cache->info.encode_bytes);
    code = palloc(cache->info.m);
    if (ScannReorderInIndex(cache->meta.reorder)) row = palloc(cache->info.row_bytes);
    ScannCheckStatus(scann_codec_encode(cache->codec, dims, x, scratch, &list, code, row),
                     "encoding a vector");
    ScannAppend(index, cache, list, code, row, tid);
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
