/*
 * bench.c - the measurement harness behind `scann bench` and `scann-peers` (see bench.h).
 *
 * Method, identical for every backend:
 * - build_s: wall time of build (train + add) with the run's thread count;
 * - recall: mean recall@k of the batch search against the ground truth's first k columns;
 * - qps: nq / wall time of one search call over all queries on `threads` threads; the call is
 *   repeated (3 runs, and up to 7 while they add up to under a second; one when it takes over
 *   2 s) and the best run counts, as ann-benchmarks does, to damp noise on shared machines
 *   (a 0.2 s run's best of 3 still swung 10% between identical SIFT-1M runs);
 * - p50/p99: one thread, one query per call, over up to latency_queries queries taken at an
 *   even stride across the whole query file.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "progress.h"

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void bench_normalize_rows(float *x, int64_t n, int dim)
{
    for (int64_t i = 0; i < n; i++) {
        float *r = x + (size_t)i * dim;
        double s = 0;
        for (int j = 0; j < dim; j++) s += (double)r[j] * r[j];
        float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
        for (int j = 0; j < dim; j++) r[j] *= inv;
    }
}

const char *bench_point_get(const bench_point *p, const char *key)
{
    for (int i = 0; i < p->nkv; i++)
        if (!strcmp(p->kv[i].key, key)) return p->kv[i].value;
    return NULL;
}

int bench_data_load(const bench_opts *o, bench_data *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->metric = o->metric;
    int qdim = 0, gdim = 0;
    int64_t ngt = 0;
    if (scann_vecs_read_limit(o->base_path, o->limit, &d->base, &d->n, &d->dim) ||
        scann_vecs_read(o->query_path, &d->query, &d->nq, &qdim) ||
        scann_ivecs_read(o->gt_path, &d->gt, &ngt, &gdim)) {
        snprintf(err, errlen, "%s", scann_last_error());
        bench_data_free(d);
        return 1;
    }
    d->gt_k = gdim;
    const char *bad = NULL;
    if (qdim != d->dim)
        bad = "queries and base have different dimensions";
    else if (ngt != d->nq)
        bad = "ground truth has a different number of rows than the queries";
    else if (gdim < o->k)
        bad = "ground truth has fewer columns than k";
    if (bad) {
        snprintf(err, errlen, "%s (base %lld x %d, queries %lld x %d, gt %lld x %d, k %d)", bad,
                 (long long)d->n, d->dim, (long long)d->nq, qdim, (long long)ngt, gdim, o->k);
        bench_data_free(d);
        return 1;
    }
    /* Ground truth for another (say, the un-limited) base would make recall meaningless. */
    for (int64_t q = 0; q < d->nq; q++) {
        for (int j = 0; j < o->k; j++) {
            int32_t id = d->gt[(size_t)q * (size_t)gdim + (size_t)j];
            if (id < 0 || id >= d->n) {
                snprintf(err, errlen,
                         "ground truth row %lld names base row %d, but the base has "
                         "%lld rows%s",
                         (long long)q, (int)id, (long long)d->n,
                         o->limit ? " (with --limit, compute it with scann gt --limit)" : "");
                bench_data_free(d);
                return 1;
            }
        }
    }
    return 0;
}

void bench_data_free(bench_data *d)
{
    scann_buffer_free(d->base);
    scann_buffer_free(d->query);
    scann_buffer_free(d->gt);
    memset(d, 0, sizeof *d);
}

/* ---- grid ------------------------------------------------------------------------------ */

typedef struct grid_axis {
    char key[32];
    char values[16][32];
    int nvalues;
} grid_axis;

static int parse_axis(char *tok, grid_axis *a, char *err, size_t errlen)
{
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok || !eq[1] || (size_t)(eq - tok) >= sizeof a->key) {
        snprintf(err, errlen, "search grid: '%s' is not key=v1,v2,...", tok);
        return 1;
    }
    *eq = '\0';
    snprintf(a->key, sizeof a->key, "%s", tok);
    a->nvalues = 0;
    char *save = NULL;
    for (char *v = strtok_r(eq + 1, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
        if (a->nvalues == 16 || strlen(v) >= 32) {
            snprintf(err, errlen, "search grid: too many or too long values for '%s'", a->key);
            return 1;
        }
        strcpy(a->values[a->nvalues++], v);
    }
    if (a->nvalues == 0) {
        snprintf(err, errlen, "search grid: '%s' has no values", a->key);
        return 1;
    }
    return 0;
}

int bench_grid_parse(const char *grid, bench_point **out, int *npoints, char *err, size_t errlen)
{
    grid_axis axes[BENCH_MAX_KV];
    int naxes = 0;
    char buf[1024];
    if (grid && strlen(grid) >= sizeof buf) {
        snprintf(err, errlen, "search grid is too long");
        return 1;
    }
    snprintf(buf, sizeof buf, "%s", grid ? grid : "");
    char *save = NULL;
    for (char *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        if (naxes == BENCH_MAX_KV) {
            snprintf(err, errlen, "search grid: more than %d keys", BENCH_MAX_KV);
            return 1;
        }
        if (parse_axis(tok, &axes[naxes], err, errlen)) return 1;
        naxes++;
    }
    int total = 1;
    for (int a = 0; a < naxes; a++) total *= axes[a].nvalues;
    bench_point *pts = calloc((size_t)total, sizeof *pts);
    if (!pts) {
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    for (int i = 0; i < total; i++) {
        /* Mixed-radix counter: the last axis varies fastest, as in a nested loop. */
        int rem = i, len = 0;
        bench_point *p = &pts[i];
        p->nkv = naxes;
        for (int a = naxes - 1; a >= 0; a--) {
            int v = rem % axes[a].nvalues;
            rem /= axes[a].nvalues;
            snprintf(p->kv[a].key, sizeof p->kv[a].key, "%s", axes[a].key);
            snprintf(p->kv[a].value, sizeof p->kv[a].value, "%s", axes[a].values[v]);
        }
        for (int a = 0; a < naxes; a++)
            len += snprintf(p->text + len, sizeof p->text - (size_t)len, "%s%s=%s", a ? "," : "",
                            p->kv[a].key, p->kv[a].value);
        if (naxes == 0) strcpy(p->text, "-");
    }
    *out = pts;
    *npoints = total;
    return 0;
}

/* ---- measurement ------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void human_bytes(size_t b, char *out, size_t len)
{
    if (b >= (size_t)1 << 30)
        snprintf(out, len, "%.2fG", b / 1073741824.0);
    else if (b >= (size_t)1 << 20)
        snprintf(out, len, "%.1fM", b / 1048576.0);
    else
        snprintf(out, len, "%.1fK", b / 1024.0);
}

static void print_header(const bench_opts *o)
{
    printf("%-62s %-26s %8s %9s %9s %9s %8s %8s\n", "index", "params", "build_s", "memory",
           o->k == 10 ? "recall@10" : "recall", "QPS", "p50_ms", "p99_ms");
    fflush(stdout);
}

typedef struct row {
    double build_s, recall, qps, p50, p99;
    size_t memory;
} row;

static int measure_point(bench_backend *b, const bench_data *d, const bench_opts *o, int64_t *ids,
                         row *r, char *err, size_t errlen)
{
    int k = o->k;
    double best = INFINITY;
    double spent = 0;
    for (int run = 0; run < 7; run++) {
        double t0 = bench_now();
        if (b->search(b->self, d->query, d->nq, k, o->threads, ids, err, errlen)) return 1;
        double t = bench_now() - t0;
        if (run == 0) r->recall = scann_recall_at_k(d->nq, k, ids, k, d->gt, d->gt_k);
        if (t < best) best = t;
        spent += t;
        if (t > 2.0 || (run >= 2 && spent > 1.0)) break;
    }
    r->qps = d->nq / best;

    int64_t nl = o->latency_queries > 0 ? o->latency_queries : 1000;
    if (nl > d->nq) nl = d->nq;
    double *lat = malloc((size_t)nl * sizeof(double));
    if (!lat) {
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    for (int64_t i = 0; i < nl; i++) {
        int64_t qi = i * d->nq / nl; /* even stride over the whole file */
        double t0 = bench_now();
        int rc = b->search(b->self, d->query + (size_t)qi * d->dim, 1, k, 1, ids, err, errlen);
        lat[i] = bench_now() - t0;
        if (rc) {
            free(lat);
            return 1;
        }
    }
    qsort(lat, (size_t)nl, sizeof(double), cmp_double);
    r->p50 = lat[(nl - 1) / 2] * 1e3;
    r->p99 = lat[(int64_t)ceil(0.99 * nl) - 1] * 1e3;
    free(lat);
    return 0;
}

static void emit_row(const bench_backend *b, const bench_point *p, const row *r, FILE *csv)
{
    char mem[32];
    human_bytes(r->memory, mem, sizeof mem);
    printf("%-62s %-26s %8.1f %9s %9.4f %9.0f %8.3f %8.3f\n", b->label, p->text, r->build_s, mem,
           r->recall, r->qps, r->p50, r->p99);
    fflush(stdout);
    if (csv) {
        /* Labels may hold commas ("hnswlib M=16,efC=200"): quote the text columns. */
        fprintf(csv, "\"%s\",\"%s\",%.3f,%zu,%.5f,%.1f,%.4f,%.4f\n", b->label, p->text, r->build_s,
                r->memory, r->recall, r->qps, r->p50, r->p99);
        fflush(csv);
    }
}

int bench_run(bench_backend *b, const bench_data *d, const bench_opts *o)
{
    char err[512] = "";
    bench_point *pts = NULL;
    int npts = 0, rc = 1;
    int64_t *ids = NULL;
    FILE *csv = NULL;
    if (bench_grid_parse(o->grid, &pts, &npts, err, sizeof err)) goto done;
    if (o->csv_path) {
        csv = fopen(o->csv_path, o->print_header ? "w" : "a");
        if (!csv) {
            snprintf(err, sizeof err, "cannot open %s for writing", o->csv_path);
            goto done;
        }
        if (o->print_header)
            fprintf(csv, "index,params,build_s,memory_bytes,recall,qps,p50_ms,p99_ms\n");
    }
    if (o->print_header) print_header(o);
    ids = malloc((size_t)d->nq * (size_t)o->k * sizeof(int64_t));
    if (!ids) {
        snprintf(err, sizeof err, "out of memory for %lld x %d results", (long long)d->nq, o->k);
        goto done;
    }
    row r = {0};
    double t0 = bench_now();
    if (b->build(b->self, d, o->threads, err, sizeof err)) goto done;
    r.build_s = bench_now() - t0;
    r.memory = b->memory(b->self);
    progress bar;
    progress_start(&bar, "search sweep");
    for (int i = 0; i < npts; i++) {
        if (b->set_params(b->self, &pts[i], err, sizeof err)) goto done;
        if (measure_point(b, d, o, ids, &r, err, sizeof err)) goto done;
        progress_done(&bar);
        emit_row(b, &pts[i], &r, csv);
        progress_update(&bar, (i + 1.0) / npts);
    }
    progress_done(&bar);
    rc = 0;
done:
    if (rc) fprintf(stderr, "bench %s: %s\n", b->label, err);
    if (csv) fclose(csv);
    free(ids);
    free(pts);
    return rc;
}
