/*
 * spec.c - index parameters: defaults, range checks, spec strings
 * ("SCANN,nlist=1024,reorder=int8") and enum names. Kind-specific choices come from the kind
 * table (kinds.h).
 *
 * The spec is the short form users type on the command line and store in configs; it maps
 * one-to-one onto scann_index_params, and scann_index_describe writes it back, so a spec
 * survives a round trip.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "kinds.h"
#include "spec.h"

#define MAX_DIM 65536
#define MAX_THREADS 4096

static const char *reorder_names[] = {"float", "bf16", "int8", "none"};

const char *scann_index_kind_name(scann_index_kind k)
{
    return kind_get(k) ? kind_get(k)->name : "UNKNOWN";
}

scann_status scann_index_params_init(scann_index_params *p, scann_index_kind kind,
                                     scann_metric metric, int dim)
{
    if (!p) return err_set(SCANN_ERR_INVALID_ARGUMENT, "params is NULL");
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->metric = metric;
    p->dim = dim;
    p->seed = 1234;
    /* Inner products: chosen at train time from the data (avq_tune.c); L2: off. */
    p->aq_threshold = metric == SCANN_METRIC_L2 ? 0.0f : -1.0f;
    p->reorder = kind_default_reorder(kind, dim);
    return SCANN_OK;
}

scann_status params_check(const scann_index_params *p)
{
    if (!kind_get(p->kind))
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.kind=%d is not an index kind", p->kind);
    if ((unsigned)p->metric > SCANN_METRIC_COSINE)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.metric=%d is not a metric", p->metric);
    if (p->dim < 1 || p->dim > MAX_DIM)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.dim=%d is outside [1, %d]", p->dim,
                       MAX_DIM);
    if (p->num_threads < 0 || p->num_threads > MAX_THREADS)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.num_threads=%d is outside [0, %d]",
                       p->num_threads, MAX_THREADS);
    if (p->nlist < 0 || p->nprobe < 0 || p->train_size < 0 || p->kmeans_iters < 0 || p->pq_m < 0 ||
        p->dims_per_block < 0)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "params: nlist=%d, train_size=%lld, kmeans_iters=%d, pq_m=%d, "
                       "dims_per_block=%d must not be negative",
                       p->nlist, (long long)p->train_size, p->kmeans_iters, p->pq_m,
                       p->dims_per_block);
    if (p->reorder_k < 0 || p->reorder_k > 1 << 30)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.reorder_k=%d is outside [0, 2^30]",
                       p->reorder_k);
    if ((unsigned)p->reorder > SCANN_REORDER_NONE)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.reorder=%d is not a reorder store",
                       p->reorder);
    if (p->nlist > 0 && p->nprobe > p->nlist)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.nprobe=%d is larger than nlist=%d",
                       p->nprobe, p->nlist);
    return SCANN_OK;
}

const char *scann_metric_name(scann_metric m)
{
    switch (m) {
    case SCANN_METRIC_L2: return "l2";
    case SCANN_METRIC_IP: return "ip";
    case SCANN_METRIC_COSINE: return "cosine";
    }
    return "unknown";
}

scann_status scann_metric_parse(const char *name, scann_metric *out)
{
    if (!name || !out) return err_set(SCANN_ERR_INVALID_ARGUMENT, "metric name is NULL");
    /* The names faiss, ScaNN, ann-benchmarks and pgvector users write, in any case. */
    static const struct {
        const char *name;
        scann_metric m;
    } names[] = {{"l2", SCANN_METRIC_L2},
                 {"squared_l2", SCANN_METRIC_L2},
                 {"euclidean", SCANN_METRIC_L2},
                 {"ip", SCANN_METRIC_IP},
                 {"dot", SCANN_METRIC_IP},
                 {"dot_product", SCANN_METRIC_IP},
                 {"inner_product", SCANN_METRIC_IP},
                 {"cosine", SCANN_METRIC_COSINE},
                 {"angular", SCANN_METRIC_COSINE}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(name, names[i].name)) {
            *out = names[i].m;
            return SCANN_OK;
        }
    return err_set(SCANN_ERR_INVALID_ARGUMENT,
                   "unknown metric '%s' (expected l2, squared_l2, euclidean, ip, dot, "
                   "dot_product, inner_product, cosine or angular)",
                   name);
}

const char *spec_reorder_name(scann_reorder r)
{
    return (unsigned)r < 4 ? reorder_names[r] : "unknown";
}

static scann_status parse_int(const char *key, const char *v, long long lo, long long hi,
                              long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    /* Digits only (a leading '-' aside): strtoll would also skip spaces and take a '+'. */
    int plain = (v[0] >= '0' && v[0] <= '9') || (v[0] == '-' && v[1] >= '0' && v[1] <= '9');
    if (!plain || errno || end == v || *end || x < lo || x > hi)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "spec: %s=%s is not an integer in [%lld, %lld]",
                       key, v, lo, hi);
    *out = x;
    return SCANN_OK;
}

static scann_status apply_kv(scann_index_params *p, const char *key, const char *v)
{
    long long x = 0;
    scann_status st = SCANN_OK;
    if (!strcmp(key, "nlist")) {
        if (!(st = parse_int(key, v, 0, 1 << 24, &x))) p->nlist = (int)x;
    } else if (!strcmp(key, "nprobe")) {
        if (!(st = parse_int(key, v, 1, 1 << 24, &x))) p->nprobe = (int)x;
    } else if (!strcmp(key, "reorder_k")) {
        if (!(st = parse_int(key, v, 1, 1 << 30, &x))) p->reorder_k = (int)x;
    } else if (!strcmp(key, "train_size")) {
        if (!(st = parse_int(key, v, 0, (long long)1 << 40, &x))) p->train_size = x;
    } else if (!strcmp(key, "iters")) {
        if (!(st = parse_int(key, v, 0, 1000, &x))) p->kmeans_iters = (int)x;
    } else if (!strcmp(key, "seed")) {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 10);
        if (errno || end == v || *end || *v == '-')
            return err_set(SCANN_ERR_INVALID_ARGUMENT,
                           "spec: seed=%s is not an integer in [0, 2^64 - 1]", v);
        p->seed = (uint64_t)u;
    } else if (!strcmp(key, "threads")) {
        if (!(st = parse_int(key, v, 0, 4096, &x))) p->num_threads = (int)x;
    } else if (!strcmp(key, "m")) {
        if (!(st = parse_int(key, v, 0, 1 << 16, &x))) p->pq_m = (int)x;
    } else if (!strcmp(key, "dims_per_block")) {
        if (!(st = parse_int(key, v, 0, 1 << 16, &x))) p->dims_per_block = (int)x;
    } else if (!strcmp(key, "aq_threshold")) {
        if (!strcasecmp(v, "auto")) {
            p->aq_threshold = -1.0f;
            return SCANN_OK;
        }
        char *end;
        errno = 0;
        float t = strtof(v, &end);
        if (end == v || *end || (errno == ERANGE && isinf(t)))
            return err_set(SCANN_ERR_INVALID_ARGUMENT,
                           "spec: aq_threshold=%s is not a number a float can hold", v);
        p->aq_threshold = t;
    } else if (!strcmp(key, "reorder")) {
        int found = 0;
        for (int i = 0; i < 4; i++)
            if (!strcasecmp(v, reorder_names[i])) p->reorder = (scann_reorder)i, found = 1;
        if (!found)
            return err_set(SCANN_ERR_INVALID_ARGUMENT,
                           "spec: reorder=%s (expected float, bf16, int8 or none)", v);
    } else {
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "spec: unknown key '%s'", key);
    }
    return st;
}

scann_status scann_index_params_parse(const char *spec, int dim, scann_metric metric,
                                      scann_index_params *p)
{
    if (!spec) return err_set(SCANN_ERR_INVALID_ARGUMENT, "spec is NULL");
    char buf[512];
    if (strlen(spec) >= sizeof buf)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "spec is longer than %zu bytes", sizeof buf - 1);
    strcpy(buf, spec);
    char *save = NULL, *tok = strtok_r(buf, ",", &save);
    if (!tok) return err_set(SCANN_ERR_INVALID_ARGUMENT, "spec '%s' names no index kind", spec);
    int kind = kind_find(tok);
    char names[128];
    if (kind < 0)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "spec: unknown index kind '%s' (expected %s)",
                       tok, kind_list(names, sizeof names));
    scann_status st = scann_index_params_init(p, (scann_index_kind)kind, metric, dim);
    if (st) return st;
    while ((tok = strtok_r(NULL, ",", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1])
            return err_set(SCANN_ERR_INVALID_ARGUMENT, "spec: '%s' is not key=value", tok);
        *eq = '\0';
        if ((st = apply_kv(p, tok, eq + 1))) return st;
    }
    return SCANN_OK;
}

/* Appends to buf at *w; a too-small buffer is reported once, by spec_describe. */
SCANN_PRINTF(4, 5) static void put(char *buf, size_t len, int *w, const char *fmt, ...)
{
    if (*w < 0 || (size_t)*w >= len) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *w, len - (size_t)*w, fmt, ap);
    va_end(ap);
    *w = n < 0 ? -1 : *w + n;
}

scann_status spec_describe(const scann_index_params *p, char *buf, size_t len)
{
    /* Every field that differs from what scann_index_params_parse would fill in, so that
     * parsing the result gives these parameters back (num_threads and the callbacks are
     * run-time settings, not part of the index). */
    scann_index_params def;
    scann_index_params_init(&def, p->kind, p->metric, p->dim);
    const kind_desc *k = kind_get(p->kind);
    int w = 0;
    put(buf, len, &w, "%s", k->name);
    if (k->keys & KEY_LISTS) {
        if (p->nlist) put(buf, len, &w, ",nlist=%d", p->nlist);
        if (p->nprobe) put(buf, len, &w, ",nprobe=%d", p->nprobe);
        if (p->reorder_k) put(buf, len, &w, ",reorder_k=%d", p->reorder_k);
        if (p->train_size) put(buf, len, &w, ",train_size=%lld", (long long)p->train_size);
        if (p->kmeans_iters) put(buf, len, &w, ",iters=%d", p->kmeans_iters);
        if (p->seed != def.seed) put(buf, len, &w, ",seed=%llu", (unsigned long long)p->seed);
    }
    if ((k->keys & KEY_PQ_M) && p->pq_m) put(buf, len, &w, ",m=%d", p->pq_m);
    if (k->keys & KEY_BLOCKS) {
        /* The shortest of %g and %.9g (always enough) that gives the same float back. */
        char t[32];
        snprintf(t, sizeof t, "%g", (double)p->aq_threshold);
        float back = strtof(t, NULL);
        if (p->aq_threshold < 0)
            snprintf(t, sizeof t, "auto");
        else if (memcmp(&back, &p->aq_threshold, sizeof back) != 0)
            snprintf(t, sizeof t, "%.9g", (double)p->aq_threshold);
        put(buf, len, &w, ",dims_per_block=%d,aq_threshold=%s", p->dims_per_block, t);
    }
    if ((k->keys & KEY_REORDER_SHOWN) || ((k->keys & KEY_REORDER) && p->reorder != def.reorder))
        put(buf, len, &w, ",reorder=%s", spec_reorder_name(p->reorder));
    if (w < 0 || (size_t)w >= len)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "describe: buffer of %zu bytes is too small",
                       len);
    return SCANN_OK;
}
