/*
 * scannbuild.c - CREATE INDEX / REINDEX: sample the table, train the codec, learn default
 * probes and reorder_k from held-out sample rows, lay out the meta, codec and directory pages,
 * then encode every row into its list.
 *
 * Two passes over the heap: the first keeps a uniform reservoir sample (training needs it
 * whole in memory, so it is bounded by maintenance_work_mem), the second encodes and appends.
 * Rows are appended in heap order, as inserts are (one GenericXLog record per row): simple and
 * crash-safe; writing whole list chains from a sort would make the build faster (later).
 */
#include "scann_am.h"

#include <math.h>

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#define SCANN_SAMPLE_MAX 50000 /* k-means and codebooks train on at most this many rows */
#define SCANN_TUNE_QUERIES 100 /* held-out sample rows that act as queries */
#define SCANN_TUNE_BASE 20000  /* sample rows they search */
#define SCANN_TUNE_K 10
/* Share of the held-out rows' 10 neighbours in the probed lists: 0.95 when the sample is the
 * whole table, down to 0.90 for a sparse sample (a sample's neighbours are farther away than
 * the table's, so they spread over more lists: on GloVe-100, 331k rows, 0.90 on a 20k sample
 * asks for 38 probes and the table then reaches recall 0.94; 0.96 asked for 83). */
#define SCANN_TUNE_TARGET_DENSE 0.95
#define SCANN_TUNE_TARGET_SPARSE 0.90
#define SCANN_MIN_REORDER_K 100
#define SCANN_MAX_REORDER_K 1000

typedef struct BuildState {
    Relation index;
    int dims;
    float *sample; /* cap x dims */
    int64 nsample, cap;
    double seen; /* rows offered so far (pass 1), indexed (pass 2) */
    pg_prng_state prng;
    ScannCache *cache; /* pass 2 */
    void *scratch;
    uint8 *code, *row; /* row: reorder int8 / bf16 only */
    MemoryContext tmpctx;
} BuildState;

static void SampleCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
                           bool tupleIsAlive, void *state)
{
    BuildState *bs = state;
    int dims;
    float *x;
    int64 slot;
    MemoryContext old;
    if (isnull[0]) return;
    old = MemoryContextSwitchTo(bs->tmpctx);
    x = ScannDatumToFloats(index, values[0], &dims);
    if (bs->dims == 0) {
        bs->dims = dims;
        bs->cap = Min(SCANN_SAMPLE_MAX, (int64)maintenance_work_mem * 1024 / 2 / (dims * 4));
        bs->cap = Max(bs->cap, 64);
        MemoryContextSwitchTo(old);
        bs->sample = MemoryContextAllocHuge(CurrentMemoryContext, (Size)bs->cap * dims * 4);
        MemoryContextSwitchTo(bs->tmpctx);
    }
    if (dims != bs->dims)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("scann: expected %d dimensions, not %d", bs->dims, dims)));
    /* Reservoir sampling (Vitter's algorithm R): every row is kept with probability cap/seen. */
    bs->seen += 1;
    if (bs->nsample < bs->cap)
        slot = bs->nsample++;
    else {
        slot = (int64)pg_prng_uint64_range(&bs->prng, 0, (uint64)bs->seen - 1);
        if (slot >= bs->cap) slot = -1;
    }
    if (slot >= 0) memcpy(bs->sample + slot * bs->dims, x, sizeof(float) * dims);
    MemoryContextSwitchTo(old);
    MemoryContextReset(bs->tmpctx);
}

static void RawCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
                        bool tupleIsAlive, void *state)
{
    BuildState *bs = state;
    if (isnull[0]) return;
    ScannRawAppend(index, tid);
    bs->seen += 1;
}

static void EncodeCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
                           bool tupleIsAlive, void *state)
{
    BuildState *bs = state;
    int dims;
    int32 list;
    float *x;
    MemoryContext old;
    if (isnull[0]) return;
    old = MemoryContextSwitchTo(bs->tmpctx);
    x = ScannDatumToFloats(index, values[0], &dims);
    if (dims != bs->dims)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("scann: expected %d dimensions, not %d", bs->dims, dims)));
    ScannCheckStatus(
        scann_codec_encode(bs->cache->codec, dims, x, bs->scratch, &list, bs->code, bs->row),
        "encoding a vector");
    ScannAppend(index, bs->cache, list, bs->code, bs->row, tid);
    bs->seen += 1;
    MemoryContextSwitchTo(old);
    MemoryContextReset(bs->tmpctx);
}

/* The library's default for this dimension, raised until a 32-vector block (plus TIDs) fits
 * one page. */
static int AutoDimsPerBlock(int dims)
{
    for (int dpb = Min(scann_codec_default_dims_per_block(dims), dims);; dpb++) {
        int m = (dims + dpb - 1) / dpb, m4 = (m + 3) & ~3;
        Size fit = BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - sizeof(ItemIdData) -
                   MAXALIGN(sizeof(ScannPageOpaqueData));
        if (MAXALIGN(SCANN_GROUP_SIZE((Size)16 * m4)) <= fit && (m - 1) * dpb < dims) return dpb;
        if (dpb >= dims) return dims;
    }
}

/* Slots per group with rerank rows: the count (<= 32) that puts the most vectors on a page
 * (GloVe-100 int8: 58 in two groups of 29, where groups of 32 fit only one a page). */
static int GroupCap(Size block_bytes, Size row_bytes)
{
    Size fit = BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(ScannPageOpaqueData));
    int best = 0, best_per_page = 0;
    for (int c = 1; c <= SCANN_CODEC_BLOCK; c++) {
        int per_page = c * (int)(fit / (MAXALIGN(SCANN_GROUP_SIZE_ROWS(block_bytes, c, row_bytes)) +
                                        sizeof(ItemIdData)));
        if (per_page >= best_per_page && per_page > 0) best = c, best_per_page = per_page;
    }
    return best;
}

static int CompareInt(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

/*
 * Default probes and reorder_k, learned on the sample: the last rows act as queries against
 * the first ones. probes: the fewest lists holding a target share (0.90-0.95, above) of the queries' true 10
 * neighbours (a sparser sample spreads neighbours over more lists, so this errs on the safe
 * side). reorder_k: how deep in the 4-bit order the neighbours found there sit (80th
 * percentile of the deepest per query), scaled by the square root of table rows / sample rows.
 */
static void TuneDefaults(const scann_codec *codec, const scann_codec_info *in, const float *x,
                         int64 ns, double nrows, ScannMetaPageData *meta)
{
    int nq = (int)Min(SCANN_TUNE_QUERIES, ns / 10), nl = in->nlist, d = in->dim;
    int64 nb = Min(ns - nq, SCANN_TUNE_BASE);
    int32 *list_of = palloc(sizeof(int32) * nb), *cnt = palloc0(sizeof(int32) * nl);
    int64 *start = palloc0(sizeof(int64) * (nl + 1));
    int64 *ids;
    uint8 *codes = palloc((Size)nb * in->m), *blocks;
    void *scratch = palloc(in->encode_bytes), *qmem = palloc(in->query_bytes);
    int *rank_of = palloc(sizeof(int) * nl), *nbr_rank = palloc(sizeof(int) * nq * SCANN_TUNE_K);
    int *deepest = palloc(sizeof(int) * nq);
    int32 *pl = palloc(sizeof(int32) * nl);
    float *pc = palloc(sizeof(float) * nl), *approx = palloc(sizeof(float) * nb);
    int64 *nbr = palloc(sizeof(int64) * nq * SCANN_TUNE_K);
    int probes, found = 0, total = nq * SCANN_TUNE_K, rk;
    double target;

    if (nq < 10 || nb < SCANN_TUNE_K) {
        meta->default_probes = Max(1, nl / 10);
        meta->default_reorder_k = SCANN_MIN_REORDER_K;
        meta->build_recall = -1;
        return;
    }
    for (int64 i = 0; i < nb; i++) {
        ScannCheckStatus(
            scann_codec_encode(codec, d, x + i * d, scratch, &list_of[i], codes + i * in->m, NULL),
            "encoding the sample");
        cnt[list_of[i]]++;
    }
    for (int l = 0; l < nl; l++) start[l + 1] = start[l] + (cnt[l] + 31) / 32;
    ids = palloc(sizeof(int64) * start[nl] * 32); /* by slot: lists are padded to blocks */
    blocks =
        palloc_extended((Size)start[nl] * in->block_bytes + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
    memset(cnt, 0, sizeof(int32) * nl);
    for (int64 i = 0; i < nb; i++) {
        int l = list_of[i], s = cnt[l]++;
        ids[start[l] * 32 + s] = i;
        scann_codec_block_set(codec, blocks + (start[l] + s / 32) * in->block_bytes, s % 32,
                              codes + i * in->m);
    }
    /* Exact neighbours and each neighbour's list rank in the query's probe order. */
    for (int q = 0; q < nq; q++) {
        scann_codec_query *Q;
        float best[SCANN_TUNE_K];
        int64 *nq_ids = nbr + q * SCANN_TUNE_K;
        ScannCheckStatus(
            scann_codec_query_init(codec, d, x + (ns - nq + q) * d, qmem, in->query_bytes, &Q),
            "tuning query");
        for (int j = 0; j < SCANN_TUNE_K; j++) best[j] = INFINITY, nq_ids[j] = -1;
        for (int64 i = 0; i < nb; i++) {
            float s;
            int j;
            scann_codec_score_vector(codec, Q, d, x + i * d, &s);
            if (!(s < best[SCANN_TUNE_K - 1])) continue;
            for (j = SCANN_TUNE_K - 1; j > 0 && best[j - 1] > s; j--)
                best[j] = best[j - 1], nq_ids[j] = nq_ids[j - 1];
            best[j] = s, nq_ids[j] = i;
        }
        scann_codec_probe(codec, Q, nl, pl, pc);
        for (int r = 0; r < nl; r++) rank_of[pl[r]] = r;
        for (int j = 0; j < SCANN_TUNE_K; j++)
            nbr_rank[q * SCANN_TUNE_K + j] = rank_of[list_of[nq_ids[j]]];
    }
    qsort(nbr_rank, total, sizeof(int), CompareInt);
    target = SCANN_TUNE_TARGET_SPARSE +
             (SCANN_TUNE_TARGET_DENSE - SCANN_TUNE_TARGET_SPARSE) * Min(1.0, nb / Max(nrows, 1));
    probes = nbr_rank[(int)ceil(target * total) - 1] + 1;
    /* How deep the neighbours inside those lists sit in the 4-bit order. */
    for (int q = 0; q < nq; q++) {
        scann_codec_query *Q;
        scann_codec_query_init(codec, d, x + (ns - nq + q) * d, qmem, in->query_bytes, &Q);
        scann_codec_probe(codec, Q, nl, pl, pc);
        for (int r = 0; r < nl; r++) rank_of[pl[r]] = r;
        for (int r = 0; r < probes; r++) {
            int l = pl[r];
            for (int64 b = start[l]; b < start[l + 1]; b++) {
                int count = Min(32, cnt[l] - (int)(b - start[l]) * 32);
                float sc[32];
                uint32 mask;
                scann_codec_scan_block(codec, Q, pc[r], blocks + b * in->block_bytes, count,
                                       INFINITY, sc, &mask);
                for (int i = 0; i < count; i++) approx[ids[b * 32 + i]] = sc[i];
            }
        }
        deepest[q] = 0;
        for (int j = 0; j < SCANN_TUNE_K; j++) {
            int64 id = nbr[q * SCANN_TUNE_K + j];
            int depth = 0;
            if (rank_of[list_of[id]] >= probes) continue;
            found++;
            for (int r = 0; r < probes; r++) {
                int l = pl[r];
                for (int64 s = start[l] * 32; s < start[l] * 32 + cnt[l]; s++)
                    depth += approx[ids[s]] < approx[id];
            }
            deepest[q] = Max(deepest[q], depth + 1);
        }
    }
    qsort(deepest, nq, sizeof(int), CompareInt);
    /* The table has nrows / nb times the candidates per list, but its neighbours are closer
     * too: scaling the depth by the square root matched GloVe-100 (331k rows: the 80th
     * percentile scaled linearly asked for 620 candidates; 150 reach the same recall). */
    rk = (int)ceil(deepest[(int)ceil(0.8 * nq) - 1] * sqrt(Max(1.0, nrows / nb)));
    meta->default_probes = probes;
    meta->default_reorder_k = Min(Max(rk, SCANN_MIN_REORDER_K), SCANN_MAX_REORDER_K);
    meta->build_recall = (float)found / total;
}

/* Write bytes over a chain of fresh pages; returns the first block. */
static BlockNumber WriteBytePages(Relation index, ForkNumber fork, const char *bytes, Size len,
                                  Size per_page)
{
    BlockNumber first = InvalidBlockNumber;
    Buffer prev = InvalidBuffer;
    for (Size off = 0; off < len || first == InvalidBlockNumber; off += per_page) {
        Buffer buf = ScannNewBuffer(index, fork);
        GenericXLogState *state;
        Page page;
        Size n = Min(len - off, per_page);
        ScannInitRegisterPage(index, &buf, &page, &state);
        memcpy(PageGetContents(page), bytes + off, n);
        ((PageHeader)page)->pd_lower = (PageGetContents(page) + n) - (char *)page;
        GenericXLogFinish(state);
        if (first == InvalidBlockNumber) first = BufferGetBlockNumber(buf);
        if (BufferIsValid(prev)) { /* link the previous page to this one */
            GenericXLogState *ps = GenericXLogStart(index);
            Page pp = GenericXLogRegisterBuffer(ps, prev, 0);
            ScannPageGetOpaque(pp)->nextblkno = BufferGetBlockNumber(buf);
            GenericXLogFinish(ps);
            UnlockReleaseBuffer(prev);
        }
        prev = buf;
        if (len == 0) break;
    }
    UnlockReleaseBuffer(prev);
    return first;
}

/* Meta page, codec pages, directory pages, and one empty data page per list; or, untrained
 * (nlist = 0), the meta page and the first raw page. */
static void WriteLayout(Relation index, ForkNumber fork, ScannMetaPageData *meta,
                        const char *codec_bytes)
{
    Buffer metabuf = ScannNewBuffer(index, fork);
    ScannListEntry *dir;
    GenericXLogState *state;
    Page page;
    Assert(BufferGetBlockNumber(metabuf) == SCANN_METAPAGE_BLKNO);
    meta->dir_per_page = SCANN_PAGE_CONTENT / sizeof(ScannListEntry);
    if (meta->nlist > 0) {
        BlockNumber ndir = (meta->nlist + meta->dir_per_page - 1) / meta->dir_per_page;
        meta->codec_start =
            WriteBytePages(index, fork, codec_bytes, meta->codec_len, SCANN_PAGE_CONTENT);
        /* The directory's blocks come next; the list pages after them. */
        meta->dir_start = RelationGetNumberOfBlocksInFork(index, fork);
        dir = palloc(sizeof(ScannListEntry) * meta->nlist);
        for (int l = 0; l < meta->nlist; l++)
            dir[l].start = dir[l].insert = meta->dir_start + ndir + l;
        WriteBytePages(index, fork, (const char *)dir, sizeof(ScannListEntry) * meta->nlist,
                       sizeof(ScannListEntry) * meta->dir_per_page);
        for (int l = 0; l < meta->nlist; l++) {
            Buffer buf = ScannNewBuffer(index, fork);
            Page p;
            if (BufferGetBlockNumber(buf) != dir[l].start) elog(ERROR, "scann: unexpected block");
            ScannInitRegisterPage(index, &buf, &p, &state);
            GenericXLogFinish(state);
            UnlockReleaseBuffer(buf);
        }
        pfree(dir);
    } else {
        Buffer buf = ScannNewBuffer(index, fork);
        Page p;
        ScannInitRegisterPage(index, &buf, &p, &state);
        GenericXLogFinish(state);
        meta->raw_start = meta->raw_insert = BufferGetBlockNumber(buf);
        UnlockReleaseBuffer(buf);
    }
    ScannInitRegisterPage(index, &metabuf, &page, &state);
    memcpy(PageGetContents(page), meta, sizeof *meta);
    ((PageHeader)page)->pd_lower = (PageGetContents(page) + sizeof *meta) - (char *)page;
    GenericXLogFinish(state);
    UnlockReleaseBuffer(metabuf);
}

IndexBuildResult *scannbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
    IndexBuildResult *result = palloc0(sizeof *result);
    BuildState bs = {0};
    ScannMetaPageData meta = {0};
    scann_codec_params p;
    scann_codec *volatile codec = NULL;
    int nlist;

    if (RelationGetNumberOfBlocks(index) != 0)
        elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
    bs.index = index;
    bs.tmpctx = AllocSetContextCreate(CurrentMemoryContext, "scann build", ALLOCSET_DEFAULT_SIZES);
    pg_prng_seed(&bs.prng, 42);
    table_index_build_scan(heap, index, indexInfo, true, true, SampleCallback, &bs, NULL);
    nlist = ScannOptionLists(index);
    if (nlist == 0) nlist = (int)Max(1, Min(sqrt(bs.seen), bs.nsample / 16));
    meta.magic = SCANN_MAGIC;
    meta.version = SCANN_VERSION;
    meta.dims = bs.dims;
    if (bs.nsample < Max(16, nlist)) {
        /* Too few rows to train (an empty table, TRUNCATE, a tiny table): an untrained index
         * whose scans are exact over a raw list of TIDs (scann_am.h), as pgvector's IVFFlat
         * builds on an empty table; REINDEX trains it once the table has rows. */
        ereport(NOTICE,
                (errmsg("scann: index \"%s\" created untrained on %.0f rows (%d needed for %d "
                        "lists)",
                        RelationGetRelationName(index), bs.seen, Max(16, nlist), nlist),
                 errdetail("Scans compute exact distances from the table rows until the index "
                           "is trained, which is slow for many rows."),
                 errhint("REINDEX the index once the table has its data.")));
        WriteLayout(index, MAIN_FORKNUM, &meta, NULL);
        if (bs.sample) pfree(bs.sample);
        bs.seen = 0;
        table_index_build_scan(heap, index, indexInfo, true, true, RawCallback, &bs, NULL);
        MemoryContextDelete(bs.tmpctx);
        result->heap_tuples = bs.seen;
        result->index_tuples = bs.seen;
        return result;
    }
    meta.nlist = nlist;
    meta.metric = ScannGetMetric(index);
    meta.reorder = ScannOptionReorder(index);
    scann_codec_params_init(&p, (scann_metric)meta.metric, bs.dims);
    p.nlist = nlist;
    p.dims_per_block = ScannOptionDimsPerBlock(index);
    if (p.dims_per_block == 0) p.dims_per_block = AutoDimsPerBlock(bs.dims);
    p.seed = 42;
    if (meta.reorder == SCANN_PG_REORDER_INT8) p.reorder = SCANN_REORDER_INT8;
    if (meta.reorder == SCANN_PG_REORDER_BF16) p.reorder = SCANN_REORDER_BF16;
    PG_TRY();
    {
        scann_codec_info info;
        size_t len;
        char *bytes;
        ScannCache cache;
        ScannCheckStatus(scann_codec_create(&p, (scann_codec **)&codec), "creating the codec");
        ScannCheckStatus(scann_codec_train(codec, bs.nsample, bs.dims, bs.sample), "training");
        scann_codec_get_info(codec, &info);
        if (MAXALIGN(SCANN_GROUP_SIZE(info.block_bytes)) >
            BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(ScannPageOpaqueData)) -
                sizeof(ItemIdData))
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("scann: dims_per_block=%d makes a block of %zu bytes, more "
                                   "than a page holds",
                                   p.dims_per_block, info.block_bytes)));
        meta.group_cap = SCANN_CODEC_BLOCK;
        if (ScannReorderInIndex(meta.reorder)) {
            meta.group_cap = GroupCap(info.block_bytes, info.row_bytes);
            if (meta.group_cap == 0)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("scann: a block of %zu bytes and a rerank row of %zu do not "
                                       "fit a page",
                                       info.block_bytes, info.row_bytes),
                                errhint("Raise dims_per_block, or use reorder = 'heap'.")));
        }
        TuneDefaults(codec, &info, bs.sample, bs.nsample, bs.seen, &meta);
        scann_codec_save(codec, NULL, 0, &len);
        bytes = palloc(len);
        ScannCheckStatus(scann_codec_save(codec, bytes, len, &len), "saving the codec");
        meta.codec_len = (uint32)len;
        WriteLayout(index, MAIN_FORKNUM, &meta, bytes);
        cache.meta = meta;
        cache.info = info;
        cache.codec = codec;
        ScannCacheSetGroup(&cache);
        bs.cache = &cache;
        if (ScannReorderInIndex(meta.reorder)) bs.row = palloc(info.row_bytes);
        bs.scratch = palloc(info.encode_bytes);
        bs.code = palloc(info.m);
        bs.seen = 0;
        pfree(bs.sample);
        bs.sample = NULL;
        table_index_build_scan(heap, index, indexInfo, true, true, EncodeCallback, &bs, NULL);
    }
    PG_FINALLY();
    {
        scann_codec_free(codec);
    }
    PG_END_TRY();
    elog(DEBUG1, "scann: %d lists, default probes %d, reorder_k %d (build recall %.3f)", nlist,
         meta.default_probes, meta.default_reorder_k, meta.build_recall);
    MemoryContextDelete(bs.tmpctx);
    result->heap_tuples = bs.seen;
    result->index_tuples = bs.seen;
    return result;
}

/* An unlogged table's init fork: an untrained index (meta page and one raw page). */
void scannbuildempty(Relation index)
{
    ScannMetaPageData meta = {0};
    meta.magic = SCANN_MAGIC;
    meta.version = SCANN_VERSION;
    WriteLayout(index, INIT_FORKNUM, &meta, NULL);
    /* GenericXLog writes no WAL for an unlogged relation; the init fork must survive a crash. */
    log_newpage_range(index, INIT_FORKNUM, 0, RelationGetNumberOfBlocksInFork(index, INIT_FORKNUM),
                      true);
}
