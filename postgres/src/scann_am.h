/*
 * scann_am.h - the SCANN index access method for PostgreSQL: page layout, options, and the
 * entry points of each phase (scannbuild.c, scaninsert.c, scanscan.c, scanvacuum.c,
 * scanutils.c; scann.c holds the handler, options, GUCs and the real[] distance functions).
 *
 * The index is libscann's codec (include/scann_codec.h) over PostgreSQL pages:
 *
 *   block 0           meta page: dimensions, lists, metric, the build's default probes and
 *                     reorder_k, where the codec bytes and the list directory start
 *   codec pages       the saved codec (centres + codebooks), raw bytes in a chain of pages
 *   directory pages   one ScannListEntry per list (first page, insert page hint), contiguous
 *   data pages        per list, a chain (special space: next block) of items, each item one
 *                     ScannGroup: up to 32 heap TIDs and their 32-vector FastScan block, so the
 *                     kernel scans straight from shared buffers
 *
 *
 * Untrained state (meta nlist = 0). The codec needs at least 16 rows (and one per list) to
 * train, so CREATE INDEX on an empty or tiny table, TRUNCATE (which rebuilds the index on an
 * empty heap) and an unlogged table's init fork all make an untrained index instead of failing:
 *
 *   block 0           meta page, nlist = 0, dims = the first vector's (0 while empty),
 *                     raw_start / raw_insert: the first and (a hint of) the last raw page
 *   raw pages         a chain of pages whose items are bare heap TIDs (ItemPointerData)
 *
 * Inserts append their TID to the chain's last page (dims is set under the meta page's lock by
 * the first one); VACUUM deletes dead TIDs' items (PageIndexMultiDelete); a scan returns every
 * TID with xs_recheckorderby and a lower bound of -infinity, so the executor computes each
 * distance from the heap tuple and the answer is exact (brute force: fine for the few rows it
 * is meant for). The index stays untrained until REINDEX (or VACUUM FULL, CLUSTER) rebuilds it
 * from a table with enough rows; training in place on some insert would have to rewrite every
 * page under concurrent scans in one WAL-logged step, which GenericXLog (4 pages a record)
 * cannot do atomically. Every change is one GenericXLog record, as for trained indexes.
 *
 * Every page change goes through GenericXLog. The default rerank (reorder = 'heap') is exact
 * and needs no copy in the index: the scan returns its best reorder_k candidates with
 * xs_recheckorderby and a lower bound of -infinity, so the executor re-computes the ORDER BY
 * distance from each heap tuple and returns them in exact order (its reorder queue, as for
 * GiST's lossy distances). reorder = 'int8' / 'bf16' keeps the codec's rerank row of each
 * vector in its group instead (after the block, group_cap rows): the scan re-ranks from the
 * index pages and its order is final.
 * Invariants: groups only grow at the end of a list's last page; a group's live slots are
 * 0..count-1 (VACUUM fills holes from the group's last slot); slots >= count hold code 0.
 */
#ifndef SCANN_AM_H
#define SCANN_AM_H

#include "postgres.h"

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/reloptions.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "utils/relcache.h"

#include "scann_codec.h"

#define SCANN_MAGIC 0x5343414e /* "SCAN" */
#define SCANN_VERSION 1
#define SCANN_METAPAGE_BLKNO 0
#define SCANN_PAGE_ID 0x5343 /* in the special space, for pg_filedump and sanity checks */

#define SCANN_REORDER_HEAP 0  /* exact rerank by the executor from the heap (default) */
#define SCANN_REORDER_CODES 1 /* 'none': approximate order from the 4-bit codes */
/* 'int8' / 'bf16': each group also holds a rerank row per slot (the codec's INT8 / BF16 row of
 * the code's error); the scan re-ranks its candidates from the index pages and the order it
 * returns is final (no heap fetch for ordering; the executor does no recheck). */
#define SCANN_PG_REORDER_INT8 2
#define SCANN_PG_REORDER_BF16 3
#define ScannReorderInIndex(r) ((r) == SCANN_PG_REORDER_INT8 || (r) == SCANN_PG_REORDER_BF16)

/* reloptions */
typedef struct ScannOptions {
    int32 vl_len_;
    int lists;          /* 0 = about sqrt(rows) */
    int dims_per_block; /* 0 = 2, or more when a block would not fit a page */
    int reorder_offset; /* string: heap | none */
} ScannOptions;

typedef struct ScannPageOpaqueData {
    BlockNumber nextblkno; /* next page of this chain, InvalidBlockNumber at the end */
    uint16 unused;
    uint16 page_id; /* SCANN_PAGE_ID */
} ScannPageOpaqueData;
typedef ScannPageOpaqueData *ScannPageOpaque;

#define ScannPageGetOpaque(page) ((ScannPageOpaque)PageGetSpecialPointer(page))

typedef struct ScannMetaPageData {
    uint32 magic;
    uint32 version;
    int32 dims;
    int32 nlist;          /* 0: an empty index from ambuildempty (not trained) */
    int32 metric;         /* scann_metric */
    int32 reorder;        /* SCANN_REORDER_* */
    int32 default_probes; /* learned at build: reach ~0.95 recall@10 on held-out rows */
    int32 default_reorder_k;
    uint32 codec_len; /* bytes of the saved codec */
    BlockNumber codec_start;
    BlockNumber dir_start;
    int32 dir_per_page;
    float4 build_recall; /* the recall the defaults reached on the build's held-out rows */
    /* untrained indexes (nlist = 0) only: the chain of raw TID pages */
    BlockNumber raw_start;
    BlockNumber raw_insert; /* at or before the chain's last page */
    /* slots a group fills (0 = 32): fewer when rerank rows make 32 a poor fit for a page */
    int32 group_cap;
} ScannMetaPageData;
typedef ScannMetaPageData *ScannMetaPage;

typedef struct ScannListEntry {
    BlockNumber start;  /* first data page of the list */
    BlockNumber insert; /* a page at or before the list's last page: inserts start there */
} ScannListEntry;

/* One item of a data page: up to 32 (group_cap) vectors, their heap TIDs and their FastScan
 * block, then (reorder int8 / bf16) group_cap rerank rows of row_bytes, slot by slot. */
typedef struct ScannGroupData {
    uint16 count; /* live slots 0..count-1 */
    uint16 unused;
    ItemPointerData tids[SCANN_CODEC_BLOCK];
    uint8 block[FLEXIBLE_ARRAY_MEMBER]; /* block_bytes */
} ScannGroupData;
typedef ScannGroupData *ScannGroup;

#define SCANN_GROUP_SIZE(bb) (offsetof(ScannGroupData, block) + (bb))
#define SCANN_GROUP_SIZE_ROWS(bb, cap, rb) (SCANN_GROUP_SIZE(bb) + (Size)(cap) * (rb))
/* Raw bytes a codec or directory page holds. */
#define SCANN_PAGE_CONTENT                                                                         \
    (BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(ScannPageOpaqueData)))

/* What a backend keeps per index in rd_amcache: one allocation, the codec placed inside. */
typedef struct ScannCache {
    ScannMetaPageData meta;
    scann_codec_info info;
    scann_codec *codec;
    int group_cap;   /* slots per group (meta group_cap, 32 when 0) */
    Size group_size; /* bytes of a group item */
    /* the codec's memory follows */
} ScannCache;

/* GUCs */
extern int scann_probes;
extern int scann_reorder_k;
extern bool scann_iterative_scan;
extern int scann_max_probes;

/* scann.c */
int ScannOptionReorder(Relation index);
int ScannOptionLists(Relation index);
int ScannOptionDimsPerBlock(Relation index);

/* scanutils.c */
void ScannInitPage(Page page);
void ScannInitRegisterPage(Relation index, Buffer *buf, Page *page, GenericXLogState **state);
Buffer ScannNewBuffer(Relation index, ForkNumber fork);
int ScannGetMetric(Relation index);
float *ScannDatumToFloats(Relation index, Datum value, int *dims);
void ScannCheckStatus(scann_status st, const char *what);
ScannCache *ScannGetCache(Relation index);
void ScannReadMeta(Relation index, ScannMetaPageData *meta);
void ScannReadListEntry(Relation index, const ScannMetaPageData *meta, int list, ScannListEntry *e);
void ScannUpdateInsertPage(Relation index, const ScannMetaPageData *meta, int list,
                           BlockNumber insert);

/* phases */
IndexBuildResult *scannbuild(Relation heap, Relation index, IndexInfo *indexInfo);
void scannbuildempty(Relation index);
bool scanninsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid, Relation heap,
                 IndexUniqueCheck checkUnique, bool indexUnchanged, IndexInfo *indexInfo);
IndexBulkDeleteResult *scannbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
                                       IndexBulkDeleteCallback callback, void *callback_state);
IndexBulkDeleteResult *scannvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats);
IndexScanDesc scannbeginscan(Relation index, int nkeys, int norderbys);
void scannrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys);
bool scanngettuple(IndexScanDesc scan, ScanDirection dir);
void scannendscan(IndexScanDesc scan);

/* Untrained indexes (scaninsert.c): append a heap TID to the raw chain; record the first
 * vector's dimension in the meta page (or check it). */
void ScannRawAppend(Relation index, ItemPointer tid);
void ScannRawCheckDims(Relation index, int dims);

/* Append one encoded vector to list `list` (scaninsert.c; also used by nothing else yet). */
void ScannAppend(Relation index, const ScannCache *cache, int list, const uint8 *code,
                 const uint8 *row, ItemPointer tid);
/* A group's rerank row of a slot. */
#define ScannGroupRow(cache, g, slot)                                                              \
    ((g)->block + (cache)->info.block_bytes + (Size)(slot) * (cache)->info.row_bytes)
void ScannCacheSetGroup(ScannCache *cache);

#endif
