/*
 * scann.c - the extension's entry: the index AM handler, reloptions (lists, dims_per_block,
 * reorder), the GUCs scann.probes and scann.reorder_k, the cost estimate, and the real[]
 * distance functions behind <->, <#> and <=> (pgvector's meanings: L2 distance, negative
 * inner product, cosine distance), computed in double.
 */
#include "scann_am.h"

#include <math.h>

#include "access/amapi.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "fmgr.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "utils/spccache.h"

PG_MODULE_MAGIC;

int scann_probes = 0;
int scann_reorder_k = 0;
bool scann_iterative_scan = true;
int scann_max_probes = 0;
static relopt_kind scann_relopt_kind;

static void ValidateReorder(const char *value)
{
    if (value == NULL || strcmp(value, "heap") == 0 || strcmp(value, "none") == 0 ||
        strcmp(value, "int8") == 0 || strcmp(value, "bf16") == 0)
        return;
    if (strcmp(value, "float") == 0)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("scann: reorder = '%s' (a rerank copy in the index) is not "
                               "supported yet",
                               value),
                        errhint("Use 'heap' (exact, from the table: the default), 'int8', "
                                "'bf16' or 'none'.")));
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("scann: invalid reorder '%s': heap, int8, bf16 or none", value)));
}

void _PG_init(void);
void _PG_init(void)
{
    scann_relopt_kind = add_reloption_kind();
    add_int_reloption(scann_relopt_kind, "lists", "Number of partitions (0 = about sqrt(rows))", 0,
                      0, 1 << 20, AccessExclusiveLock);
    add_int_reloption(scann_relopt_kind, "dims_per_block",
                      "Dimensions per 4-bit sub-space (0 = 2, or what fits a page)", 0, 0, 65536,
                      AccessExclusiveLock);
    add_string_reloption(scann_relopt_kind, "reorder",
                         "Rerank: heap (exact, from the table), int8 or bf16 (a copy in the "
                         "index), or none (4-bit order)",
                         "heap", ValidateReorder, AccessExclusiveLock);
    DefineCustomIntVariable("scann.probes", "Lists a scan visits (0 = the index's default)",
                            "The default is learned at build time for recall@10 of about 0.95.",
                            &scann_probes, 0, 0, 1 << 20, PGC_USERSET, 0, NULL, NULL, NULL);
    DefineCustomIntVariable("scann.reorder_k",
                            "Candidates re-ranked exactly (0 = the index's default)", NULL,
                            &scann_reorder_k, 0, 0, 1 << 20, PGC_USERSET, 0, NULL, NULL, NULL);
    DefineCustomBoolVariable(
        "scann.iterative_scan", "Go on to further lists when a filter rejected the candidates",
        "When the executor asks for more rows than the first probes lists gave, the scan "
        "searches twice the lists for twice the candidates, and so on (rows come in exact order "
        "within each batch).",
        &scann_iterative_scan, true, PGC_USERSET, 0, NULL, NULL, NULL);
    DefineCustomIntVariable("scann.max_probes",
                            "Most lists an iterative scan visits (0 = all of them)", NULL,
                            &scann_max_probes, 0, 0, 1 << 20, PGC_USERSET, 0, NULL, NULL, NULL);
    MarkGUCPrefixReserved("scann");
}

static bytea *scannoptions(Datum reloptions, bool validate)
{
    static const relopt_parse_elt tab[] = {
        {"lists", RELOPT_TYPE_INT, offsetof(ScannOptions, lists)},
        {"dims_per_block", RELOPT_TYPE_INT, offsetof(ScannOptions, dims_per_block)},
        {"reorder", RELOPT_TYPE_STRING, offsetof(ScannOptions, reorder_offset)},
    };
    return (bytea *)build_reloptions(reloptions, validate, scann_relopt_kind, sizeof(ScannOptions),
                                     tab, lengthof(tab));
}

int ScannOptionLists(Relation index)
{
    ScannOptions *o = (ScannOptions *)index->rd_options;
    return o ? o->lists : 0;
}

int ScannOptionDimsPerBlock(Relation index)
{
    ScannOptions *o = (ScannOptions *)index->rd_options;
    return o ? o->dims_per_block : 0;
}

int ScannOptionReorder(Relation index)
{
    ScannOptions *o = (ScannOptions *)index->rd_options;
    const char *v = o && o->reorder_offset ? (const char *)o + o->reorder_offset : "heap";
    return strcmp(v, "none") == 0   ? SCANN_REORDER_CODES
           : strcmp(v, "int8") == 0 ? SCANN_PG_REORDER_INT8
           : strcmp(v, "bf16") == 0 ? SCANN_PG_REORDER_BF16
                                    : SCANN_REORDER_HEAP;
}

/* As pgvector's ivfflat: usable only for ORDER BY; the share of lists visited scales the cost. */
static void scanncostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
                              Cost *indexStartupCost, Cost *indexTotalCost,
                              Selectivity *indexSelectivity, double *indexCorrelation,
                              double *indexPages)
{
    GenericCosts costs;
    double ratio = 0.1;
    Relation index;
    if (path->indexorderbys == NIL) {
        *indexStartupCost = *indexTotalCost = get_float8_infinity();
        *indexSelectivity = 0;
        *indexCorrelation = 0;
        *indexPages = 0;
        return;
    }
    MemSet(&costs, 0, sizeof costs);
    genericcostestimate(root, path, loop_count, &costs);
    index = index_open(path->indexinfo->indexoid, NoLock);
    if (RelationGetNumberOfBlocks(index) > 0) {
        ScannMetaPageData meta;
        ScannReadMeta(index, &meta);
        if (meta.nlist == 0) /* untrained: every TID, ordered from the heap */
            ratio = 1.0;
        else
            ratio = Min(1.0, (double)(scann_probes > 0 ? scann_probes : meta.default_probes) /
                                 meta.nlist);
    }
    index_close(index, NoLock);
    /* Everything is read before the first row comes out. */
    costs.indexStartupCost = costs.indexTotalCost * ratio;
    *indexStartupCost = costs.indexStartupCost;
    *indexTotalCost = costs.indexTotalCost * ratio;
    *indexSelectivity = costs.indexSelectivity;
    *indexCorrelation = costs.indexCorrelation;
    *indexPages = costs.numIndexPages * ratio;
}

static bool scannvalidate(Oid opclassoid) { return true; }

PG_FUNCTION_INFO_V1(scannhandler);
Datum scannhandler(PG_FUNCTION_ARGS)
{
    IndexAmRoutine *am = makeNode(IndexAmRoutine);
    am->amstrategies = 0;
    am->amsupport = 1;
    am->amoptsprocnum = 0;
    am->amcanorder = false;
    am->amcanorderbyop = true;
    am->amcanbackward = false;
    am->amcanunique = false;
    am->amcanmulticol = false;
    am->amoptionalkey = true;
    am->amsearcharray = false;
    am->amsearchnulls = false;
    am->amstorage = false;
    am->amclusterable = false;
    am->ampredlocks = false;
    am->amcanparallel = false;
    am->amcaninclude = false;
    am->amusemaintenanceworkmem = false;
    am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
    am->amkeytype = InvalidOid;
    am->ambuild = scannbuild;
    am->ambuildempty = scannbuildempty;
    am->aminsert = scanninsert;
    am->ambulkdelete = scannbulkdelete;
    am->amvacuumcleanup = scannvacuumcleanup;
    am->amcanreturn = NULL;
    am->amcostestimate = scanncostestimate;
    am->amoptions = scannoptions;
    am->amproperty = NULL;
    am->ambuildphasename = NULL;
    am->amvalidate = scannvalidate;
    am->amadjustmembers = NULL;
    am->ambeginscan = scannbeginscan;
    am->amrescan = scannrescan;
    am->amgettuple = scanngettuple;
    am->amgetbitmap = NULL;
    am->amendscan = scannendscan;
    am->ammarkpos = NULL;
    am->amrestrpos = NULL;
    am->amestimateparallelscan = NULL;
    am->aminitparallelscan = NULL;
    am->amparallelrescan = NULL;
    PG_RETURN_POINTER(am);
}

/* ---- opclass support: the metric of each operator class ----------------------------------- */

PG_FUNCTION_INFO_V1(scann_support_l2);
Datum scann_support_l2(PG_FUNCTION_ARGS) { PG_RETURN_INT32(SCANN_METRIC_L2); }
PG_FUNCTION_INFO_V1(scann_support_ip);
Datum scann_support_ip(PG_FUNCTION_ARGS) { PG_RETURN_INT32(SCANN_METRIC_IP); }
PG_FUNCTION_INFO_V1(scann_support_cosine);
Datum scann_support_cosine(PG_FUNCTION_ARGS) { PG_RETURN_INT32(SCANN_METRIC_COSINE); }

/* ---- real[] distances --------------------------------------------------------------------- */

/* Both arguments as float arrays of one length (errors otherwise). NaN is allowed here: the
 * distance is NaN, as for pgvector; only the index refuses to store or search with it. */
static int Operands(FunctionCallInfo fcinfo, const float **a, const float **b)
{
    ArrayType *x = PG_GETARG_ARRAYTYPE_P(0), *y = PG_GETARG_ARRAYTYPE_P(1);
    ArrayType *both[2] = {x, y};
    for (int i = 0; i < 2; i++) {
        if (ARR_NDIM(both[i]) != 1)
            ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                            errmsg("scann: vectors must be one-dimensional arrays")));
        if (ARR_HASNULL(both[i]) && array_contains_nulls(both[i]))
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("scann: vectors must not contain NULL elements")));
    }
    if (ARR_DIMS(x)[0] != ARR_DIMS(y)[0])
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("scann: different vector dimensions %d and %d", ARR_DIMS(x)[0],
                               ARR_DIMS(y)[0])));
    *a = (const float *)ARR_DATA_PTR(x);
    *b = (const float *)ARR_DATA_PTR(y);
    return ARR_DIMS(x)[0];
}

PG_FUNCTION_INFO_V1(scann_real_l2_distance);
Datum scann_real_l2_distance(PG_FUNCTION_ARGS)
{
    const float *a, *b;
    int n = Operands(fcinfo, &a, &b);
    double s = 0;
    for (int i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    PG_RETURN_FLOAT8(sqrt(s));
}

PG_FUNCTION_INFO_V1(scann_real_negative_inner_product);
Datum scann_real_negative_inner_product(PG_FUNCTION_ARGS)
{
    const float *a, *b;
    int n = Operands(fcinfo, &a, &b);
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    PG_RETURN_FLOAT8(-s);
}

PG_FUNCTION_INFO_V1(scann_real_cosine_distance);
Datum scann_real_cosine_distance(PG_FUNCTION_ARGS)
{
    const float *a, *b;
    int n = Operands(fcinfo, &a, &b);
    double ab = 0, aa = 0, bb = 0, sim;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    if (aa == 0 || bb == 0) PG_RETURN_FLOAT8(get_float8_nan()); /* as pgvector */
    sim = ab / sqrt(aa * bb);
    sim = sim > 1 ? 1 : sim < -1 ? -1 : sim;
    PG_RETURN_FLOAT8(1 - sim);
}
