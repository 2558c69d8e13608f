/*
 * scanscan.c - ORDER BY emb <op> $1: probe the query's best lists, FastScan every block of
 * their pages straight from shared buffers (the bound is the current reorder_k-th best
 * approximate score, so most blocks are rejected inside the SIMD kernel), keep the best
 * reorder_k candidates, and hand them out.
 *
 * Order. With reorder = 'heap' (the default) each candidate goes out with xs_recheckorderby
 * and -infinity as its distance lower bound: the executor computes the true distance from the
 * heap tuple and returns the candidates in exact order once the scan ends (nodeIndexscan's
 * reorder queue). With reorder = 'int8' / 'bf16' the candidates are re-scored from the rerank
 * rows beside their codes (RerankInIndex: each page read once more, no heap access) and that
 * order is final: no recheck, the executor streams rows as they come. With reorder = 'none' the
 * 4-bit order is final (no recheck; approximate). An untrained index (scann_am.h) hands out
 * every TID for the executor to order exactly.
 * Probes and reorder_k default to what the build learned (meta page); scann.probes and
 * scann.reorder_k override them.
 */
#include "scann_am.h"

#include <math.h>

#include "access/relscan.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

typedef struct ScannCand {
    float score;
    ItemPointerData tid;
    /* where its code (and rerank row) sits: for reorder = 'int8' / 'bf16' */
    OffsetNumber off;
    BlockNumber blk;
    int32 list;
    int32 slot;
} ScannCand;

typedef struct ScannScanOpaqueData {
    bool first;
    bool untrained;  /* every TID of the raw list, ordered by the executor's recheck */
    int ncand, next; /* candidates of this batch sorted best first; next to return */
    ScannCand *cand;
    MemoryContext ctx; /* per rescan */
    /* Iterative scan: batch b >= 1 rescans the best min(nlist, probes << b) lists and keeps
     * the best reorder_k << b candidates not returned before (the TIDs in `returned`). */
    int batch, probes, cap, max_lists;
    bool heap_order; /* the executor orders by the heap tuples' distances (recheck) */
    bool more;       /* lists remain, or the last batch was full: another batch may find rows */
    HTAB *returned;  /* ItemPointerData set, iterative batches only */
    void *qmem;      /* the prepared query (lives in ctx) */
    scann_codec_query *Q;
    int32 *lists; /* all lists in probe order, and their centre scores */
    float *cscores;
} ScannScanOpaqueData;
typedef ScannScanOpaqueData *ScannScanOpaque;

/* A bounded max-heap of candidates (root = worst kept = the scan bound). */
static void HeapPush(ScannCand *h, int *n, int cap, const ScannCand *c)
{
    int i;
    float s = c->score;
    if (*n == cap) {
        if (!(s < h[0].score)) return;
        /* replace the root and sift down */
        i = 0;
        for (;;) {
            int a = 2 * i + 1, b = a + 1, w = i;
            float ws = s;
            if (a < cap && h[a].score > ws) w = a, ws = h[a].score;
            if (b < cap && h[b].score > ws) w = b;
            if (w == i) break;
            h[i] = h[w];
            i = w;
        }
        h[i] = *c;
        return;
    }
    i = (*n)++;
    while (i > 0 && h[(i - 1) / 2].score < s) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = *c;
}

static int CompareCand(const void *a, const void *b)
{
    float x = ((const ScannCand *)a)->score, y = ((const ScannCand *)b)->score;
    return x < y ? -1 : x > y;
}

/* Scan one list's chain of pages into the candidate heap. */
static void ScanList(IndexScanDesc scan, const ScannCache *cache, const scann_codec_query *Q,
                     int list, float cscore, ScannCand *h, int *n, int cap, HTAB *skip)
{
    ScannListEntry e;
    BlockNumber blk;
    ScannReadListEntry(scan->indexRelation, &cache->meta, list, &e);
    for (blk = e.start; BlockNumberIsValid(blk);) {
        Buffer buf = ReadBuffer(scan->indexRelation, blk);
        Page page;
        OffsetNumber maxoff;
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        page = BufferGetPage(buf);
        maxoff = PageGetMaxOffsetNumber(page);
        for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off = OffsetNumberNext(off)) {
            ScannGroup g = (ScannGroup)PageGetItem(page, PageGetItemId(page, off));
            float sc[SCANN_CODEC_BLOCK];
            uint32 mask;
            if (g->count == 0) continue;
            ScannCheckStatus(scann_codec_scan_block(cache->codec, Q, cscore, g->block, g->count,
                                                    *n == cap ? h[0].score : INFINITY, sc, &mask),
                             "scanning a block");
            while (mask) {
                int i = __builtin_ctz(mask);
                ScannCand c;
                mask &= mask - 1;
                if (skip && hash_search(skip, &g->tids[i], HASH_FIND, NULL)) continue;
                c.score = sc[i], c.tid = g->tids[i];
                c.blk = blk, c.off = off, c.list = list, c.slot = i;
                HeapPush(h, n, cap, &c);
            }
        }
        blk = ScannPageGetOpaque(page)->nextblkno;
        UnlockReleaseBuffer(buf);
        CHECK_FOR_INTERRUPTS();
    }
}

static int CompareLocation(const void *a, const void *b)
{
    const ScannCand *x = a, *y = b;
    if (x->blk != y->blk) return x->blk < y->blk ? -1 : 1;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    return x->slot - y->slot;
}

/*
 * reorder = 'int8' / 'bf16': re-score the candidates from the rerank rows next to their codes,
 * page by page (each page read once), and drop those VACUUM removed meanwhile. VACUUM may have
 * moved a slot within its group since the scan (it fills holes from the group's end; groups
 * never leave their page): the TID says which slot is the candidate's now.
 */
static int RerankInIndex(IndexScanDesc scan, const ScannCache *cache, ScannCand *cand, int n)
{
    ScannScanOpaque so = (ScannScanOpaque)scan->opaque;
    int kept = 0;
    qsort(cand, n, sizeof(ScannCand), CompareLocation);
    for (int i = 0; i < n;) {
        BlockNumber blk = cand[i].blk;
        Buffer buf = ReadBuffer(scan->indexRelation, blk);
        Page page;
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        page = BufferGetPage(buf);
        for (; i < n && cand[i].blk == blk; i++) {
            ScannCand c = cand[i];
            ScannGroup g;
            int slot = -1;
            if (c.off > PageGetMaxOffsetNumber(page)) continue;
            g = (ScannGroup)PageGetItem(page, PageGetItemId(page, c.off));
            if (c.slot < g->count && ItemPointerEquals(&g->tids[c.slot], &c.tid))
                slot = c.slot;
            else
                for (int s = 0; s < g->count && slot < 0; s++)
                    if (ItemPointerEquals(&g->tids[s], &c.tid)) slot = s;
            if (slot < 0) continue;
            ScannCheckStatus(scann_codec_score_row(cache->codec, so->Q, c.list, g->block, slot,
                                                   ScannGroupRow(cache, g, slot), &c.score),
                             "re-ranking a candidate");
            cand[kept++] = c;
        }
        UnlockReleaseBuffer(buf);
    }
    return kept;
}

/* One batch of candidates: the best `cap` of the best `nlists` lists, not returned before. */
static void ScanBatch(IndexScanDesc scan, const ScannCache *cache, int nlists, int cap, HTAB *skip)
{
    ScannScanOpaque so = (ScannScanOpaque)scan->opaque;
    int n = 0;
    so->cand = palloc(sizeof(ScannCand) * cap);
    for (int p = 0; p < nlists; p++)
        ScanList(scan, cache, so->Q, so->lists[p], so->cscores[p], so->cand, &n, cap, skip);
    so->more = nlists < so->max_lists || n == cap;
    if (ScannReorderInIndex(cache->meta.reorder)) n = RerankInIndex(scan, cache, so->cand, n);
    qsort(so->cand, n, sizeof(ScannCand), CompareCand);
    so->ncand = n;
    so->next = 0;
}

/* An untrained index: every TID of the raw chain (the executor orders them exactly). */
static void RawScan(IndexScanDesc scan, const ScannMetaPageData *meta)
{
    ScannScanOpaque so = (ScannScanOpaque)scan->opaque;
    int dims, cap = 1024;
    ScannDatumToFloats(scan->indexRelation, scan->orderByData->sk_argument, &dims);
    if (meta->dims != 0 && dims != meta->dims)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("scann: expected %d dimensions, not %d", meta->dims, dims)));
    so->cand = palloc(sizeof(ScannCand) * cap);
    for (BlockNumber blk = meta->raw_start; BlockNumberIsValid(blk);) {
        Buffer buf = ReadBuffer(scan->indexRelation, blk);
        Page page;
        OffsetNumber maxoff;
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        page = BufferGetPage(buf);
        maxoff = PageGetMaxOffsetNumber(page);
        for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off = OffsetNumberNext(off)) {
            if (so->ncand == cap) {
                if ((Size)cap * 2 * sizeof(ScannCand) > MaxAllocHugeSize) elog(ERROR, "too many");
                cap *= 2;
                so->cand = repalloc_huge(so->cand, sizeof(ScannCand) * cap);
            }
            so->cand[so->ncand].score = 0;
            so->cand[so->ncand++].tid = *(ItemPointer)PageGetItem(page, PageGetItemId(page, off));
        }
        blk = ScannPageGetOpaque(page)->nextblkno;
        UnlockReleaseBuffer(buf);
        CHECK_FOR_INTERRUPTS();
    }
}

static void RunScan(IndexScanDesc scan)
{
    ScannScanOpaque so = (ScannScanOpaque)scan->opaque;
    ScannCache *cache;
    const ScannMetaPageData *meta;
    int probes, cap, dims, nprobe;
    float *q;
    MemoryContext old = MemoryContextSwitchTo(so->ctx);

    so->ncand = so->next = 0;
    so->more = false;
    so->untrained = false;
    so->heap_order = false;
    if (scan->orderByData->sk_flags & SK_ISNULL) { /* ORDER BY emb <-> NULL: nothing to order */
        MemoryContextSwitchTo(old);
        return;
    }
    if (scan->indexRelation->rd_amcache == NULL) { /* not read yet, or untrained */
        ScannMetaPageData m;
        ScannReadMeta(scan->indexRelation, &m);
        if (m.nlist == 0) {
            so->untrained = so->heap_order = true;
            RawScan(scan, &m);
            MemoryContextSwitchTo(old);
            return;
        }
    }
    cache = ScannGetCache(scan->indexRelation);
    meta = &cache->meta;
    /* the build's choice (meta page), not the reloption: ALTER INDEX SET (reorder) takes a
     * REINDEX to change the pages */
    so->heap_order = meta->reorder == SCANN_REORDER_HEAP;
    probes = scann_probes > 0 ? scann_probes : meta->default_probes;
    cap = scann_reorder_k > 0 ? scann_reorder_k : meta->default_reorder_k;
    q = ScannDatumToFloats(scan->indexRelation, scan->orderByData->sk_argument, &dims);
    if (dims != meta->dims)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("scann: expected %d dimensions, not %d", meta->dims, dims)));
    so->probes = probes = Min(Max(probes, 1), meta->nlist);
    so->cap = cap = Max(cap, 1);
    so->max_lists = meta->nlist;
    if (scann_iterative_scan && scann_max_probes > 0)
        so->max_lists = Max(probes, Min(scann_max_probes, meta->nlist));
    so->batch = 0;
    so->qmem = palloc(cache->info.query_bytes);
    ScannCheckStatus(
        scann_codec_query_init(cache->codec, dims, q, so->qmem, cache->info.query_bytes, &so->Q),
        "preparing the query");
    /* An iterative scan orders every list it may visit once, up front (cheap: nlist scores). */
    nprobe = scann_iterative_scan ? so->max_lists : probes;
    so->lists = palloc(sizeof(int32) * nprobe);
    so->cscores = palloc(sizeof(float) * nprobe);
    ScannCheckStatus(scann_codec_probe(cache->codec, so->Q, nprobe, so->lists, so->cscores),
                     "probing");
    ScanBatch(scan, cache, probes, cap, NULL);
    if (!scann_iterative_scan) so->more = false;
    MemoryContextSwitchTo(old);
}

/*
 * The executor asks for more than the batches so far gave (a filter rejected rows): the next
 * batch doubles the lists and the candidates and skips what was returned already, until every
 * list was searched and a batch came back short.
 */
static void NextBatch(IndexScanDesc scan)
{
    ScannScanOpaque so = (ScannScanOpaque)scan->opaque;
    ScannCache *cache = ScannGetCache(scan->indexRelation);
    MemoryContext old = MemoryContextSwitchTo(so->ctx);
    int shift, nlists, cap;
    so->batch++;
    shift = Min(so->batch, 20);
    nlists = (int)Min((int64)so->probes << shift, (int64)so->max_lists);
    cap = (int)Min((int64)so->cap << shift, (int64)MaxAllocSize / sizeof(ScannCand) / 2);
    if (so->returned == NULL) {
        HASHCTL hc;
        memset(&hc, 0, sizeof hc);
        hc.keysize = hc.entrysize = sizeof(ItemPointerData);
        hc.hcxt = so->ctx;
        so->returned =
            hash_create("scann returned", 1024, &hc, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    }
    /* Every candidate of the batches so far was returned (scanngettuple got past them all). */
    for (int i = 0; i < so->ncand; i++)
        hash_search(so->returned, &so->cand[i].tid, HASH_ENTER, NULL);
    pfree(so->cand);
    ScanBatch(scan, cache, nlists, cap, so->returned);
    MemoryContextSwitchTo(old);
}

IndexScanDesc scannbeginscan(Relation index, int nkeys, int norderbys)
{
    IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
    ScannScanOpaque so = palloc0(sizeof(ScannScanOpaqueData));
    so->ctx = AllocSetContextCreate(CurrentMemoryContext, "scann scan", ALLOCSET_DEFAULT_SIZES);
    so->first = true;
    scan->opaque = so;
    /* The executor reads these when xs_recheckorderby is set. */
    scan->xs_orderbyvals = palloc0(sizeof(Datum) * Max(norderbys, 1));
    scan->xs_orderbynulls = palloc0(sizeof(bool) * Max(norderbys, 1));
    return scan;
}

void scannrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
    ScannScanOpaque so = (ScannScanOpaque)scan->opaque;
    so->first = true;
    so->ncand = so->next = 0;
    so->more = false;
    so->returned = NULL;
    MemoryContextReset(so->ctx);
    if (keys && scan->numberOfKeys > 0)
        memmove(scan->keyData, keys, sizeof(ScanKeyData) * scan->numberOfKeys);
    if (orderbys && scan->numberOfOrderBys > 0)
        memmove(scan->orderByData, orderbys, sizeof(ScanKeyData) * scan->numberOfOrderBys);
}

bool scanngettuple(IndexScanDesc scan, ScanDirection dir)
{
    ScannScanOpaque so = (ScannScanOpaque)scan->opaque;
    bool heap;
    if (so->first) {
        pgstat_count_index_scan(scan->indexRelation);
        if (scan->orderByData == NULL) elog(ERROR, "scann: an index scan needs ORDER BY");
        /* TIDs are copied out of the pages; an MVCC snapshot makes a TID recycled by VACUUM
         * meanwhile invisible (as in pgvector's ivfflat). */
        if (!IsMVCCSnapshot(scan->xs_snapshot))
            elog(ERROR, "scann: non-MVCC snapshots are not supported");
        RunScan(scan);
        so->first = false;
    }
    while (so->next >= so->ncand) {
        if (!so->more) return false;
        NextBatch(scan);
    }
    scan->xs_heaptid = so->cand[so->next++].tid;
    scan->xs_recheck = false;
    heap = so->heap_order;
    scan->xs_recheckorderby = heap;
    if (heap) {
        scan->xs_orderbyvals[0] = Float8GetDatum(-get_float8_infinity());
        scan->xs_orderbynulls[0] = false;
        /*
         * The last candidate of a batch that another batch may follow goes out as exact with
         * distance +infinity: the executor then returns the batch's reorder queue (every
         * candidate so far, in exact order) before it asks for the next batch, and this row
         * after them. Without it the lower bound -infinity would make the executor drain every
         * batch, i.e. the whole index, before returning its first row.
         */
        if (so->more && so->next == so->ncand) {
            scan->xs_recheckorderby = false;
            scan->xs_orderbyvals[0] = Float8GetDatum(get_float8_infinity());
        }
    }
    return true;
}

void scannendscan(IndexScanDesc scan)
{
    ScannScanOpaque so = (ScannScanOpaque)scan->opaque;
    MemoryContextDelete(so->ctx);
    pfree(so);
    scan->opaque = NULL;
}
