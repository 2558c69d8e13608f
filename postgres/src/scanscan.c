/*
 * scanscan.c - ORDER BY emb <op> $1: probe the query's best lists, FastScan every block of
 * their pages straight from shared buffers (the bound is the current reorder_k-th best
 * approximate score, so most blocks are rejected inside the SIMD kernel), keep the best
 * reorder_k candidates, and hand them out.
 *
 * Order. With reorder = 'heap' (the default) each candidate goes out with xs_recheckorderby
 * and -infinity as its distance lower bound: the executor computes the true distance from the
 * heap tuple and returns the candidates in exact order once the scan ends (nodeIndexscan's
 * reorder queue). With reorder = 'none' the 4-bit order is final (no recheck; approximate).
 * Probes and reorder_k default to what the build learned (meta page); scann.probes and
 * scann.reorder_k override them.
 */
#include "scann_am.h"

#include <math.h>

#include "access/relscan.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

typedef struct ScannCand {
    float score;
    ItemPointerData tid;
} ScannCand;

typedef struct ScannScanOpaqueData {
    bool first;
    int ncand, next; /* candidates sorted best first; next to return */
    ScannCand *cand;
    MemoryContext ctx; /* per rescan */
} ScannScanOpaqueData;
typedef ScannScanOpaqueData *ScannScanOpaque;

/* A bounded max-heap of candidates (root = worst kept = the scan bound). */
static void HeapPush(ScannCand *h, int *n, int cap, float s, ItemPointer tid)
{
    int i;
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
        h[i].score = s, h[i].tid = *tid;
        return;
    }
    i = (*n)++;
    while (i > 0 && h[(i - 1) / 2].score < s) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i].score = s, h[i].tid = *tid;
}

static int CompareCand(const void *a, const void *b)
{
    float x = ((const ScannCand *)a)->score, y = ((const ScannCand *)b)->score;
    return x < y ? -1 : x > y;
}

/* Scan one list's chain of pages into the candidate heap. */
static void ScanList(IndexScanDesc scan, const ScannCache *cache, const scann_codec_query *Q,
                     int list, float cscore, ScannCand *h, int *n, int cap)
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
                mask &= mask - 1;
                HeapPush(h, n, cap, sc[i], &g->tids[i]);
            }
        }
        blk = ScannPageGetOpaque(page)->nextblkno;
        UnlockReleaseBuffer(buf);
        CHECK_FOR_INTERRUPTS();
    }
}

static void RunScan(IndexScanDesc scan)
{
    ScannScanOpaque so = (ScannScanOpaque)scan->opaque;
    ScannCache *cache = ScannGetCache(scan->indexRelation);
    const ScannMetaPageData *meta = &cache->meta;
    int probes = scann_probes > 0 ? scann_probes : meta->default_probes;
    int cap = scann_reorder_k > 0 ? scann_reorder_k : meta->default_reorder_k;
    int dims, n = 0;
    float *q, *cs;
    int32 *lists;
    void *qmem;
    scann_codec_query *Q;
    MemoryContext old = MemoryContextSwitchTo(so->ctx);

    so->ncand = so->next = 0;
    if (scan->orderByData->sk_flags & SK_ISNULL) { /* ORDER BY emb <-> NULL: nothing to order */
        MemoryContextSwitchTo(old);
        return;
    }
    q = ScannDatumToFloats(scan->orderByData->sk_argument, &dims);
    if (dims != meta->dims)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("scann: expected %d dimensions, not %d", meta->dims, dims)));
    probes = Min(Max(probes, 1), meta->nlist);
    cap = Max(cap, 1);
    qmem = palloc(cache->info.query_bytes);
    ScannCheckStatus(
        scann_codec_query_init(cache->codec, dims, q, qmem, cache->info.query_bytes, &Q),
        "preparing the query");
    lists = palloc(sizeof(int32) * probes);
    cs = palloc(sizeof(float) * probes);
    ScannCheckStatus(scann_codec_probe(cache->codec, Q, probes, lists, cs), "probing");
    so->cand = palloc(sizeof(ScannCand) * cap);
    for (int p = 0; p < probes; p++) ScanList(scan, cache, Q, lists[p], cs[p], so->cand, &n, cap);
    qsort(so->cand, n, sizeof(ScannCand), CompareCand);
    so->ncand = n;
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
    MemoryContextReset(so->ctx);
    if (keys && scan->numberOfKeys > 0)
        memmove(scan->keyData, keys, sizeof(ScanKeyData) * scan->numberOfKeys);
    if (orderbys && scan->numberOfOrderBys > 0)
        memmove(scan->orderByData, orderbys, sizeof(ScanKeyData) * scan->numberOfOrderBys);
}

bool scanngettuple(IndexScanDesc scan, ScanDirection dir)
{
    ScannScanOpaque so = (ScannScanOpaque)scan->opaque;
    bool heap = ScannOptionReorder(scan->indexRelation) == SCANN_REORDER_HEAP;
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
    if (so->next >= so->ncand) return false;
    scan->xs_heaptid = so->cand[so->next++].tid;
    scan->xs_recheck = false;
    scan->xs_recheckorderby = heap;
    if (heap) {
        scan->xs_orderbyvals[0] = Float8GetDatum(-get_float8_infinity());
        scan->xs_orderbynulls[0] = false;
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
