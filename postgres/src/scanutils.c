/*
 * scanutils.c - what every phase shares: page set-up, the meta page and list directory, the
 * per-backend codec cache (rd_amcache), and turning a real[] datum into floats.
 */
#include "scann_am.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

void ScannInitPage(Page page)
{
    PageInit(page, BLCKSZ, sizeof(ScannPageOpaqueData));
    ScannPageGetOpaque(page)->nextblkno = InvalidBlockNumber;
    ScannPageGetOpaque(page)->page_id = SCANN_PAGE_ID;
}

/* A new page at the end of the relation, pinned and exclusively locked. */
Buffer ScannNewBuffer(Relation index, ForkNumber fork)
{
    Buffer buf;
    /* Only one backend may extend the relation at a time (PG 15 has no ExtendBufferedRel). */
    LockRelationForExtension(index, ExclusiveLock);
    buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    UnlockRelationForExtension(index, ExclusiveLock);
    return buf;
}

/* Start a GenericXLog record for a freshly extended buffer and initialise its page. */
void ScannInitRegisterPage(Relation index, Buffer *buf, Page *page, GenericXLogState **state)
{
    *state = GenericXLogStart(index);
    *page = GenericXLogRegisterBuffer(*state, *buf, GENERIC_XLOG_FULL_IMAGE);
    ScannInitPage(*page);
}

/* The metric of the index's operator class: support function 1 returns it. */
int ScannGetMetric(Relation index)
{
    FmgrInfo *proc = index_getprocinfo(index, 1, 1);
    return DatumGetInt32(FunctionCall1(proc, PointerGetDatum(NULL)));
}

/* pgvector's vector (src/vector.h of pgvector 0.8): varlena header, dim, unused, floats. */
typedef struct PgvectorVector {
    int32 vl_len_;
    int16 dim;
    int16 unused;
    float x[FLEXIBLE_ARRAY_MEMBER];
} PgvectorVector;

/* The type of the index's column: real[] or pgvector's vector (by its type name; pgvector
 * may live in any schema and need not be installed at all). */
static bool IsPgvectorType(Oid typid)
{
    static Oid known = InvalidOid;
    HeapTuple tup;
    bool yes;
    if (typid == known) return true;
    tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
    if (!HeapTupleIsValid(tup)) return false;
    yes = strcmp(NameStr(((Form_pg_type)GETSTRUCT(tup))->typname), "vector") == 0 &&
          ((Form_pg_type)GETSTRUCT(tup))->typlen == -1;
    ReleaseSysCache(tup);
    if (yes) known = typid;
    return yes;
}

/*
 * A real[] or pgvector vector datum of the index's column type as floats (palloc'ed when the
 * datum was toasted, else pointing into it): one dimension, no NULL elements, every value
 * finite.
 */
float *ScannDatumToFloats(Relation index, Datum value, int *dims)
{
    Oid typid = TupleDescAttr(RelationGetDescr(index), 0)->atttypid;
    float *x;
    if (typid == FLOAT4ARRAYOID) {
        ArrayType *a = DatumGetArrayTypeP(value);
        if (ARR_ELEMTYPE(a) != FLOAT4OID)
            ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("scann: expected real[]")));
        if (ARR_NDIM(a) != 1)
            ereport(ERROR,
                    (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                     errmsg("scann: vectors must be one-dimensional arrays, got %d dimensions",
                            ARR_NDIM(a))));
        if (ARR_HASNULL(a) && array_contains_nulls(a))
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("scann: vectors must not contain NULL elements")));
        *dims = ARR_DIMS(a)[0];
        x = (float *)ARR_DATA_PTR(a);
    } else if (IsPgvectorType(typid)) {
        PgvectorVector *v = (PgvectorVector *)PG_DETOAST_DATUM(value);
        *dims = v->dim;
        x = v->x;
    } else
        ereport(ERROR,
                (errcode(ERRCODE_DATATYPE_MISMATCH),
                 errmsg("scann: columns of type %s cannot be indexed", format_type_be(typid)),
                 errhint("Use real[] or pgvector's vector.")));
    for (int i = 0; i < *dims; i++)
        if (!isfinite(x[i]))
            ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                            errmsg("scann: NaN or infinity in a vector (element %d)", i + 1)));
    return x;
}

/* A library failure as a PostgreSQL error with the library's message. */
void ScannCheckStatus(scann_status st, const char *what)
{
    if (st == SCANN_OK) return;
    ereport(ERROR, (errcode(st == SCANN_ERR_OUT_OF_MEMORY  ? ERRCODE_OUT_OF_MEMORY
                            : st == SCANN_ERR_DIMENSION    ? ERRCODE_DATA_EXCEPTION
                            : st == SCANN_ERR_INVALID_DATA ? ERRCODE_DATA_EXCEPTION
                                                           : ERRCODE_INTERNAL_ERROR),
                    errmsg("scann: %s: %s (%s)", what, scann_last_error(), scann_status_name(st))));
}

void ScannReadMeta(Relation index, ScannMetaPageData *meta)
{
    Buffer buf = ReadBuffer(index, SCANN_METAPAGE_BLKNO);
    LockBuffer(buf, BUFFER_LOCK_SHARE);
    memcpy(meta, PageGetContents(BufferGetPage(buf)), sizeof *meta);
    UnlockReleaseBuffer(buf);
    if (meta->magic != SCANN_MAGIC || meta->version != SCANN_VERSION)
        elog(ERROR, "scann: index \"%s\" has a bad meta page (magic %x, version %u)",
             RelationGetRelationName(index), meta->magic, meta->version);
}

/*
 * The codec, read once per backend and index from the codec pages and kept in rd_amcache (one
 * allocation in the index's relcache context, so a relcache flush - REINDEX, TRUNCATE - frees
 * it all and the next call reads the new codec).
 */
ScannCache *ScannGetCache(Relation index)
{
    ScannMetaPageData meta;
    char *bytes;
    uint32 off = 0;
    BlockNumber blk;
    size_t need;
    ScannCache *cache;
    scann_status st;

    if (index->rd_amcache) return (ScannCache *)index->rd_amcache;
    ScannReadMeta(index, &meta);
    if (meta.nlist == 0)
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("scann: index \"%s\" is not trained", RelationGetRelationName(index)),
                 errhint("REINDEX it once the table has rows.")));
    bytes = palloc(meta.codec_len);
    for (blk = meta.codec_start; off < meta.codec_len && BlockNumberIsValid(blk);) {
        Buffer buf = ReadBuffer(index, blk);
        Page page;
        uint32 n = Min(meta.codec_len - off, SCANN_PAGE_CONTENT);
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        page = BufferGetPage(buf);
        memcpy(bytes + off, PageGetContents(page), n);
        off += n;
        blk = ScannPageGetOpaque(page)->nextblkno;
        UnlockReleaseBuffer(buf);
    }
    if (off != meta.codec_len)
        elog(ERROR, "scann: codec pages end early (%u of %u bytes)", off, meta.codec_len);
    ScannCheckStatus(scann_codec_load_size(bytes, meta.codec_len, &need), "reading the codec");
    cache = MemoryContextAllocZero(index->rd_indexcxt, MAXALIGN(sizeof(ScannCache)) + need);
    cache->meta = meta;
    st = scann_codec_load_into(bytes, meta.codec_len, (char *)cache + MAXALIGN(sizeof(ScannCache)),
                               need, &cache->codec);
    if (st != SCANN_OK) pfree(cache);
    ScannCheckStatus(st, "reading the codec");
    scann_codec_get_info(cache->codec, &cache->info);
    ScannCacheSetGroup(cache);
    pfree(bytes);
    index->rd_amcache = cache;
    return cache;
}

void ScannCacheSetGroup(ScannCache *cache)
{
    cache->group_cap = cache->meta.group_cap > 0 ? cache->meta.group_cap : SCANN_CODEC_BLOCK;
    cache->group_size = SCANN_GROUP_SIZE_ROWS(
        cache->info.block_bytes, ScannReorderInIndex(cache->meta.reorder) ? cache->group_cap : 0,
        cache->info.row_bytes);
}

void ScannReadListEntry(Relation index, const ScannMetaPageData *meta, int list, ScannListEntry *e)
{
    Buffer buf = ReadBuffer(index, meta->dir_start + list / meta->dir_per_page);
    LockBuffer(buf, BUFFER_LOCK_SHARE);
    *e = ((ScannListEntry *)PageGetContents(BufferGetPage(buf)))[list % meta->dir_per_page];
    UnlockReleaseBuffer(buf);
}

void ScannUpdateInsertPage(Relation index, const ScannMetaPageData *meta, int list,
                           BlockNumber insert)
{
    Buffer buf = ReadBuffer(index, meta->dir_start + list / meta->dir_per_page);
    GenericXLogState *state;
    Page page;
    ScannListEntry *e;
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    state = GenericXLogStart(index);
    page = GenericXLogRegisterBuffer(state, buf, 0);
    e = &((ScannListEntry *)PageGetContents(page))[list % meta->dir_per_page];
    e->insert = insert;
    GenericXLogFinish(state);
    UnlockReleaseBuffer(buf);
}
