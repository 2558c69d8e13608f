/*
 * scann.c - the command-line tool: exact ground truth (gt), benchmarks (bench), index files
 * (build saves one, search loads or maps one and measures it, tune sets its default search
 * parameters), info.
 *
 * Peers (hnswlib, faiss) live in a separate binary, scann-peers, so the library and this tool
 * never depend on C++ or faiss; `scann bench --peer ...` runs it from the same directory with
 * the same data arguments, and its rows join the same table and CSV.
 */
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "blas.h"
#include "cli.h"
#include "progress.h"
#include "scann.h"

extern char **environ;

static void die(const char *what)
{
    fprintf(stderr, "scann: %s: %s\n", what, scann_last_error());
    exit(1);
}

typedef cli_args args;

/* --metric, or the one an HDF5 base records (ann-benchmarks' "distance" attribute). */
static scann_metric need_metric(const args *a)
{
    scann_metric m;
    if (a->metric) {
        if (scann_metric_parse(a->metric, &m)) die("--metric");
        return m;
    }
    if (a->base && scann_vecs_metric(a->base, &m) == SCANN_OK) {
        fprintf(stderr, "scann %s: metric %s, from %s\n", a->name, scann_metric_name(m), a->base);
        return m;
    }
    fprintf(stderr, "scann %s: --metric l2|ip|cosine is required\n", a->name);
    exit(2);
}

static void need(const args *a, const char *v, const char *flag)
{
    if (!v) {
        fprintf(stderr, "scann %s: %s is required (see scann %s --help)\n", a->name, flag, a->name);
        exit(2);
    }
}

/* ---- gt --------------------------------------------------------------------------------- */

static int cmd_gt(const args *a)
{
    need(a, a->base, "--base");
    need(a, a->query, "--query");
    need(a, a->out, "--out");
    scann_metric metric = need_metric(a);
    float *base, *query;
    int64_t n, nq;
    int d, dq;
    if (scann_vecs_read_limit(a->base, a->limit, &base, &n, &d)) die("reading --base");
    if (scann_vecs_read(a->query, &query, &nq, &dq)) die("reading --query");
    if (n > INT32_MAX) { /* ground truth files hold int32 row numbers */
        fprintf(stderr, "scann gt: the base has %lld vectors, more than int32 ids can name\n",
                (long long)n);
        return 1;
    }
    if (dq != d) {
        fprintf(stderr, "scann: queries have dimension %d, base %d\n", dq, d);
        return 1;
    }
    if (a->k > n) {
        fprintf(stderr, "scann: --k %d is larger than the base (%lld vectors)\n", a->k,
                (long long)n);
        return 1;
    }
    scann_index_params p;
    scann_index_params_init(&p, SCANN_INDEX_FLAT, metric, d);
    p.num_threads = a->threads;
    scann_index *ix;
    if (scann_index_create(&p, &ix)) die("creating FLAT index");
    if (scann_index_add(ix, n, d, base, NULL)) die("adding base vectors");
    float *dist = malloc((size_t)nq * a->k * sizeof(float));
    int64_t *ids = malloc((size_t)nq * a->k * sizeof(int64_t));
    int32_t *gt = malloc((size_t)nq * a->k * sizeof(int32_t));
    if (!dist || !ids || !gt) {
        fprintf(stderr, "scann: out of memory\n");
        return 1;
    }
    progress bar;
    progress_start(&bar, "ground truth");
    const int64_t chunk = 1024;
    for (int64_t q0 = 0; q0 < nq; q0 += chunk) {
        int64_t m = nq - q0 < chunk ? nq - q0 : chunk;
        if (scann_index_search(ix, m, d, query + (size_t)q0 * d, a->k, NULL,
                               dist + (size_t)q0 * a->k, ids + (size_t)q0 * a->k))
            die("search");
        progress_update(&bar, (double)(q0 + m) / nq);
    }
    progress_done(&bar);
    for (size_t i = 0; i < (size_t)nq * a->k; i++) gt[i] = (int32_t)ids[i];
    if (scann_ivecs_write(a->out, gt, nq, a->k)) die("writing --out");
    fprintf(stderr, "scann gt: %lld queries x top-%d (%s) -> %s\n", (long long)nq, a->k,
            scann_metric_name(metric), a->out);
    free(dist);
    free(ids);
    free(gt);
    scann_index_free(ix);
    scann_buffer_free(base);
    scann_buffer_free(query);
    return 0;
}

/* ---- bench: this library's backend ------------------------------------------------------ */

typedef struct lib_backend {
    const char *spec;
    scann_index *ix;
    scann_search_params sp;
    float *dist;
    size_t dist_cap;
    progress bar;
} lib_backend;

static int lib_build(void *self, const bench_data *d, int threads, char *err, size_t errlen)
{
    lib_backend *b = self;
    scann_index_params p;
    if (scann_index_params_parse(b->spec, d->dim, d->metric, &p)) goto fail;
    p.num_threads = threads;
    p.progress = progress_callback;
    p.progress_user_data = &b->bar;
    progress_start(&b->bar, "build");
    if (scann_index_create(&p, &b->ix)) goto fail;
    if (scann_index_train(b->ix, d->n, d->dim, d->base)) goto fail;
    if (scann_index_add(b->ix, d->n, d->dim, d->base, NULL)) goto fail;
    progress_done(&b->bar);
    return 0;
fail:
    progress_done(&b->bar);
    snprintf(err, errlen, "%s", scann_last_error());
    return 1;
}

static int lib_set_params(void *self, const bench_point *pt, char *err, size_t errlen)
{
    lib_backend *b = self;
    memset(&b->sp, 0, sizeof b->sp);
    for (int i = 0; i < pt->nkv; i++) {
        const char *k = pt->kv[i].key;
        long long v;
        char why[160];
        if (strcmp(k, "nprobe") && strcmp(k, "reorder_k")) {
            snprintf(err, errlen, "unknown search parameter '%s' (expected nprobe, reorder_k)", k);
            return 1;
        }
        if (!cli_parse_ll(pt->kv[i].value, 1, 1 << 24, &v, why, sizeof why)) {
            snprintf(err, errlen, "search parameter %s=%s", k, why);
            return 1;
        }
        if (!strcmp(k, "nprobe"))
            b->sp.nprobe = (int)v;
        else
            b->sp.reorder_k = (int)v;
    }
    return 0;
}

static int lib_search(void *self, const float *q, int64_t nq, int k, int threads, int64_t *ids,
                      char *err, size_t errlen)
{
    lib_backend *b = self;
    size_t need = (size_t)nq * k;
    if (need > b->dist_cap) {
        free(b->dist);
        b->dist = malloc(need * sizeof(float));
        b->dist_cap = b->dist ? need : 0;
        if (!b->dist) {
            snprintf(err, errlen, "out of memory");
            return 1;
        }
    }
    scann_search_params sp = b->sp;
    sp.num_threads = threads;
    if (scann_index_search(b->ix, nq, scann_index_dim(b->ix), q, k, &sp, b->dist, ids)) {
        snprintf(err, errlen, "%s", scann_last_error());
        return 1;
    }
    return 0;
}

static size_t lib_memory(void *self)
{
    size_t m = 0;
    scann_index_memory(((lib_backend *)self)->ix, &m);
    return m;
}

static void lib_destroy(void *self)
{
    lib_backend *b = self;
    scann_index_free(b->ix);
    free(b->dist);
    b->ix = NULL;
    b->dist = NULL;
}

/* ---- build and search: index files ------------------------------------------------------- */

static int cmd_build(const args *a)
{
    need(a, a->base, "--base");
    need(a, a->out, "--out");
    scann_metric metric = need_metric(a);
    if (a->nbackend != 1 || a->backend_is_peer[0]) {
        fprintf(stderr, "scann build: give exactly one --index SPEC\n");
        return 2;
    }
    float *base;
    int64_t n;
    int d;
    if (scann_vecs_read_limit(a->base, a->limit, &base, &n, &d)) die("reading --base");
    scann_index_params p;
    if (scann_index_params_parse(a->backend[0], d, metric, &p)) die("--index");
    progress bar;
    p.num_threads = a->threads;
    p.progress = progress_callback;
    p.progress_user_data = &bar;
    double t0 = bench_now();
    progress_start(&bar, "build");
    scann_index *ix;
    if (scann_index_create(&p, &ix)) die("creating the index");
    if (scann_index_train(ix, n, d, base) || scann_index_add(ix, n, d, base, NULL)) {
        progress_done(&bar);
        die("building the index");
    }
    progress_done(&bar);
    double t1 = bench_now();
    if (scann_index_save(ix, a->out)) die("saving --out");
    double t2 = bench_now();
    char desc[256] = "";
    scann_index_describe(ix, desc, sizeof desc);
    struct stat sb;
    long long bytes = stat(a->out, &sb) == 0 ? (long long)sb.st_size : -1;
    fprintf(stderr,
            "scann build: %s (%s), %lld x %d: built in %.2f s, saved %lld bytes to %s in "
            "%.2f s\n",
            desc, scann_metric_name(metric), (long long)n, d, t1 - t0, bytes, a->out, t2 - t1);
    scann_index_free(ix);
    scann_buffer_free(base);
    return 0;
}

/* The bench backend over an index file: "build" loads (or maps) it, the rest is lib_*. */
typedef struct file_backend {
    lib_backend lib; /* first: lib_* callbacks take the same pointer */
    const char *path;
    int mmap;
} file_backend;

static int file_load(void *self, const bench_data *d, int threads, char *err, size_t errlen)
{
    file_backend *b = self;
    scann_status st = b->mmap ? scann_index_load_mmap(b->path, &b->lib.ix)
                              : scann_index_load(b->path, &b->lib.ix);
    if (!st) st = scann_index_set_num_threads(b->lib.ix, threads);
    if (st) {
        snprintf(err, errlen, "%s", scann_last_error());
        return 1;
    }
    if (scann_index_dim(b->lib.ix) != d->dim) {
        snprintf(err, errlen, "%s: the index has dimension %d, the queries %d", b->path,
                 scann_index_dim(b->lib.ix), d->dim);
        return 1;
    }
    if (scann_index_ntotal(b->lib.ix) < 1) {
        snprintf(err, errlen, "%s: the index holds no vectors", b->path);
        return 1;
    }
    char desc[256] = "";
    scann_index_describe(b->lib.ix, desc, sizeof desc);
    fprintf(stderr, "scann search: %s: %s (%s), %lld vectors, %s\n", b->path, desc,
            scann_metric_name(scann_index_get_metric(b->lib.ix)),
            (long long)scann_index_ntotal(b->lib.ix), b->mmap ? "mapped" : "loaded");
    return 0;
}

/* Every point of grid is one the library backend accepts: checked before any build. */
static int check_grid(const char *who, const char *grid)
{
    char err[512] = "";
    bench_point *pts = NULL;
    int npts = 0, rc = bench_grid_parse(grid, &pts, &npts, err, sizeof err);
    lib_backend probe = {0};
    for (int i = 0; !rc && i < npts; i++) rc = lib_set_params(&probe, &pts[i], err, sizeof err);
    if (rc) fprintf(stderr, "scann %s: --search %s: %s\n", who, grid ? grid : "", err);
    free(pts);
    return rc;
}

/* --out and --out-dist must be .npy: refused before any work rather than after it. */
static int check_npy_out(const char *flag, const char *path)
{
    size_t len = path ? strlen(path) : 0;
    if (!path || (len > 4 && !strcasecmp(path + len - 4, ".npy"))) return 0;
    fprintf(stderr,
            "scann search: %s %s: only .npy is written (int64 ids and float32 "
            "distances; .ivecs would truncate ids >= 2^31)\n",
            flag, path);
    return 2;
}

/* Without ground truth: QPS of one batch search per grid point; --out and --out-dist get the
 * first point's ids and distances. */
static int search_no_gt(bench_backend *b, file_backend *fb, const bench_data *d, const args *a)
{
    char err[512] = "";
    bench_point *pts = NULL;
    int npts = 0, rc = 1;
    int64_t *ids = malloc((size_t)d->nq * a->k * sizeof(int64_t));
    if (!ids) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    if (bench_grid_parse(a->grid, &pts, &npts, err, sizeof err)) goto done;
    double t0 = bench_now();
    if (b->build(b->self, d, a->threads, err, sizeof err)) goto done;
    double load_s = bench_now() - t0;
    printf("%-40s %-26s %8s %9s\n", "index", "params", "load_s", "QPS");
    for (int i = 0; i < npts; i++) {
        if (b->set_params(b->self, &pts[i], err, sizeof err)) goto done;
        double t1 = bench_now();
        if (b->search(b->self, d->query, d->nq, a->k, a->threads, ids, err, sizeof err)) goto done;
        double t = bench_now() - t1;
        printf("%-40s %-26s %8.3f %9.0f\n", b->label, pts[i].text, load_s, d->nq / t);
        if (i == 0 && a->out && scann_ids_write(a->out, ids, d->nq, a->k)) {
            snprintf(err, sizeof err, "writing --out: %s", scann_last_error());
            goto done;
        }
        /* lib_search leaves the distances of its last call in lib.dist. */
        if (i == 0 && a->out_dist && scann_vecs_write(a->out_dist, fb->lib.dist, d->nq, a->k)) {
            snprintf(err, sizeof err, "writing --out-dist: %s", scann_last_error());
            goto done;
        }
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "scann search: %s\n", err);
    free(ids);
    free(pts);
    return rc;
}

/* --radius: one range search of every query with the grid's first point; prints how many
 * matched and the QPS, and writes the matches when asked. */
static int search_range(file_backend *fb, const bench_data *d, const args *a)
{
    char err[512] = "";
    bench_point *pts = NULL;
    int npts = 0, rc = 1;
    scann_range_result *r = NULL;
    if (bench_grid_parse(a->grid, &pts, &npts, err, sizeof err)) goto done;
    if (file_load(fb, d, a->threads, err, sizeof err)) goto done;
    if (npts > 0 && lib_set_params(&fb->lib, &pts[0], err, sizeof err)) goto done;
    scann_search_params sp = fb->lib.sp;
    sp.num_threads = a->threads;
    double t0 = bench_now();
    if (scann_index_range_search(fb->lib.ix, d->nq, d->dim, d->query, (float)a->radius, &sp, &r)) {
        snprintf(err, sizeof err, "%s", scann_last_error());
        goto done;
    }
    double t = bench_now() - t0;
    int64_t lo = INT64_MAX, hi = 0, total = r->lims[d->nq];
    for (int64_t i = 0; i < d->nq; i++) {
        int64_t n = r->lims[i + 1] - r->lims[i];
        lo = n < lo ? n : lo;
        hi = n > hi ? n : hi;
    }
    printf("%-40s %-26s %10s %8s %8s %8s %9s\n", "index", "params", "matches", "min", "mean", "max",
           "QPS");
    printf("%-40s %-26s %10lld %8lld %8.1f %8lld %9.0f\n", fb->lib.ix ? a->file : "",
           npts > 0 ? pts[0].text : "-", (long long)total, (long long)(d->nq ? lo : 0),
           d->nq ? (double)total / d->nq : 0.0, (long long)hi, d->nq / t);
    if ((a->out && scann_ids_write(a->out, r->ids, total, 1)) ||
        (a->out_dist && scann_vecs_write(a->out_dist, r->dist, total, 1)) ||
        (a->out_lims && scann_ids_write(a->out_lims, r->lims, d->nq + 1, 1))) {
        snprintf(err, sizeof err, "writing the matches: %s", scann_last_error());
        goto done;
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "scann search: %s\n", err);
    scann_range_result_free(r);
    free(pts);
    return rc;
}

static int cmd_search(const args *a)
{
    need(a, a->file, "FILE (scann search FILE --query Q ...)");
    need(a, a->query, "--query");
    if (check_npy_out("--out", a->out) || check_npy_out("--out-dist", a->out_dist) ||
        check_grid("search", a->grid))
        return 2;
    if (a->gt && (a->out || a->out_dist)) {
        fprintf(stderr, "scann search: --out and --out-dist are written without --gt only\n");
        return 2;
    }
    if (a->has_radius ? a->gt != NULL : a->out_lims != NULL) {
        fprintf(stderr, "scann search: --radius takes no --gt, and --out-lims needs --radius\n");
        return 2;
    }
    if (check_npy_out("--out-lims", a->out_lims)) return 2;
    bench_data d = {0};
    int qdim = 0, gdim = 0;
    int64_t ngt = 0;
    if (scann_vecs_read(a->query, &d.query, &d.nq, &qdim)) die("reading --query");
    d.dim = qdim;
    if (a->gt) {
        if (scann_ivecs_read(a->gt, &d.gt, &ngt, &gdim)) die("reading --gt");
        d.gt_k = gdim;
        if (ngt != d.nq || gdim < a->k) {
            fprintf(stderr,
                    "scann search: --gt has %lld rows of %d, expected %lld rows of at "
                    "least --k %d\n",
                    (long long)ngt, gdim, (long long)d.nq, a->k);
            bench_data_free(&d);
            return 1;
        }
    }
    file_backend fb = {.path = a->file, .mmap = a->mmap};
    bench_backend b = {.self = &fb,
                       .build = file_load,
                       .set_params = lib_set_params,
                       .search = lib_search,
                       .memory = lib_memory,
                       .destroy = lib_destroy};
    snprintf(b.label, sizeof b.label, "%s%s", a->file, a->mmap ? " (mmap)" : "");
    int rc;
    if (a->has_radius) {
        rc = search_range(&fb, &d, a);
    } else if (a->gt) {
        bench_opts o = {NULL,    a->query, a->gt, SCANN_METRIC_L2,    a->k, a->threads,
                        a->grid, a->csv,   1,     a->latency_queries, 0};
        rc = bench_run(&b, &d, &o);
    } else {
        rc = search_no_gt(&b, &fb, &d, a);
    }
    b.destroy(b.self);
    bench_data_free(&d);
    return rc;
}

/* ---- tune ------------------------------------------------------------------------------- */

/* Held-out check: recall@k of the rows [from, nq) of the queries with sp. */
static double heldout_recall(scann_index *ix, const float *q, int64_t from, int64_t nq, int d,
                             int k, const int32_t *gt, int gdim, const scann_search_params *sp)
{
    int64_t n = nq - from;
    float *dist = malloc((size_t)n * k * sizeof(float));
    int64_t *ids = malloc((size_t)n * k * sizeof(int64_t));
    if (!dist || !ids) {
        fprintf(stderr, "scann tune: out of memory\n");
        exit(1);
    }
    if (scann_index_search(ix, n, d, q + (size_t)from * d, k, sp, dist, ids)) die("search");
    double r = scann_recall_at_k(n, k, ids, k, gt + (size_t)from * gdim, gdim);
    free(dist);
    free(ids);
    return r;
}

static int cmd_tune(const args *a)
{
    need(a, a->file, "FILE (scann tune FILE --query Q --target-recall R ...)");
    need(a, a->query, "--query");
    if (a->target_recall <= 0) {
        fprintf(stderr, "scann tune: --target-recall R is required (see scann tune --help)\n");
        return 2;
    }
    if (a->gt && a->base) {
        fprintf(stderr, "scann tune: give --gt or --base, not both\n");
        return 2;
    }
    scann_index *ix;
    if (scann_index_load(a->file, &ix)) die("loading FILE");
    if (scann_index_set_num_threads(ix, a->threads)) die("--threads");
    float *q, *base = NULL;
    int64_t nq, nbase = 0, ngt = 0;
    int d, bd = 0, gdim = 0;
    int32_t *gt = NULL;
    if (scann_vecs_read(a->query, &q, &nq, &d)) die("reading --query");
    if (d != scann_index_dim(ix)) {
        fprintf(stderr, "scann tune: --query has dimension %d, the index %d\n", d,
                scann_index_dim(ix));
        return 1;
    }
    int64_t ns = a->sample ? a->sample : 1000;
    if (ns > nq) ns = nq;
    scann_tune_params tp = {0};
    int64_t *truth = NULL;
    if (a->gt) {
        if (scann_ivecs_read(a->gt, &gt, &ngt, &gdim)) die("reading --gt");
        if (ngt != nq || gdim < a->k) {
            fprintf(stderr,
                    "scann tune: --gt has %lld rows of %d, expected %lld rows of at "
                    "least --k %d\n",
                    (long long)ngt, gdim, (long long)nq, a->k);
            return 1;
        }
        truth = malloc((size_t)ns * gdim * sizeof(int64_t));
        if (!truth) {
            fprintf(stderr, "scann tune: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < (size_t)ns * gdim; i++) truth[i] = gt[i];
        tp.truth = truth;
        tp.truth_stride = gdim;
    } else if (a->base) {
        if (scann_vecs_read(a->base, &base, &nbase, &bd)) die("reading --base");
        if (bd != d) {
            fprintf(stderr, "scann tune: --base has dimension %d, the index %d\n", bd, d);
            return 1;
        }
        tp.base = base;
        tp.nbase = nbase;
    }
    enum { CURVE_CAP = 1024 };
    scann_tune_point curve[CURVE_CAP];
    tp.curve = curve;
    tp.curve_cap = CURVE_CAP;
    tp.dry_run = a->dry_run;
    scann_tune_result r;
    char desc[256] = "";
    scann_index_describe(ix, desc, sizeof desc);
    fprintf(stderr,
            "scann tune: %s: %s, %lld vectors; %lld tuning queries, k=%d, target "
            "recall %.4f\n",
            a->file, desc, (long long)scann_index_ntotal(ix), (long long)ns, a->k,
            a->target_recall);
    double t0 = bench_now();
    if (scann_index_tune(ix, ns, d, q, a->k, a->target_recall, &tp, &r)) {
        fprintf(stderr, "scann %s\n", scann_last_error()); /* "tune: ..." */
        return 1;
    }
    double secs = bench_now() - t0;
    printf("%8s %9s %8s %7s %10s\n", "nprobe", "reorder_k", "recall", "+-se", "QPS");
    for (int i = 0; i < r.npoints && i < CURVE_CAP; i++) {
        const scann_tune_point *p = &curve[i];
        int chosen = p->nprobe == r.nprobe && p->reorder_k == r.reorder_k;
        printf("%8d %9d %8.4f %7.4f %10.0f%s\n", p->nprobe, p->reorder_k, p->recall, p->recall_se,
               p->qps, chosen ? (r.met ? "  <- chosen" : "  <- best recall") : "");
    }
    printf("%s: nprobe=%d reorder_k=%d, recall@%d %.4f at %.0f QPS on %lld tuning queries "
           "(%d settings, %d searches, %.1f s)\n",
           r.met ? "chosen" : "target not reached", r.nprobe, r.reorder_k, a->k, r.recall, r.qps,
           (long long)ns, r.npoints, r.nsearches, secs);
    if (gt && nq > ns && r.met) {
        /* The index's new defaults (all zeros) show tune set them; a dry run kept the old. */
        scann_search_params sp = {0};
        sp.num_threads = a->threads;
        if (a->dry_run) sp.nprobe = r.nprobe, sp.reorder_k = r.reorder_k;
        printf("held-out: recall@%d %.4f on the other %lld queries (target %.4f)\n", a->k,
               heldout_recall(ix, q, ns, nq, d, a->k, gt, gdim, &sp), (long long)(nq - ns),
               a->target_recall);
    }
    int rc = r.met ? 0 : 1;
    if (r.met && !a->dry_run) {
        const char *out = a->out ? a->out : a->file;
        if (scann_index_save(ix, out)) die("saving the tuned index");
        scann_index_describe(ix, desc, sizeof desc);
        fprintf(stderr, "scann tune: saved %s to %s\n", desc, out);
    } else if (!r.met) {
        fprintf(stderr, "scann tune: no setting reached recall %.4f; %s unchanged\n",
                a->target_recall, a->file);
    }
    free(truth);
    scann_buffer_free(gt);
    scann_buffer_free(base);
    scann_buffer_free(q);
    scann_index_free(ix);
    return rc;
}

/* ---- bench: peers through scann-peers ---------------------------------------------------- */

static int run_peer(const args *a, const char *peer, const char *grid, int first,
                    const char *self_path)
{
    char exe[PATH_MAX];
    snprintf(exe, sizeof exe, "%s", self_path);
    char *slash = strrchr(exe, '/');
    snprintf(slash ? slash + 1 : exe, sizeof exe - (size_t)(slash ? slash + 1 - exe : 0),
             "scann-peers");
    if (access(exe, X_OK) != 0) {
        fprintf(stderr,
                "scann bench: peer %s skipped: %s not found (configure with "
                "-DSCANN_BUILD_PEERS=ON, or `make peers`)\n",
                peer, exe);
        return 1;
    }
    char kbuf[16], tbuf[16], lbuf[16], limbuf[24];
    snprintf(kbuf, sizeof kbuf, "%d", a->k);
    snprintf(tbuf, sizeof tbuf, "%d", a->threads);
    snprintf(lbuf, sizeof lbuf, "%d", a->latency_queries ? a->latency_queries : 1000);
    const char *argv[32];
    int n = 0;
    argv[n++] = exe;
    argv[n++] = "bench";
    argv[n++] = "--base", argv[n++] = a->base;
    argv[n++] = "--query", argv[n++] = a->query;
    argv[n++] = "--gt", argv[n++] = a->gt;
    argv[n++] = "--metric", argv[n++] = a->metric;
    argv[n++] = "--k", argv[n++] = kbuf;
    argv[n++] = "--threads", argv[n++] = tbuf;
    argv[n++] = "--latency-queries", argv[n++] = lbuf;
    if (a->limit) {
        snprintf(limbuf, sizeof limbuf, "%lld", (long long)a->limit);
        argv[n++] = "--limit", argv[n++] = limbuf;
    }
    if (grid) argv[n++] = "--search", argv[n++] = grid;
    if (a->csv) argv[n++] = "--csv", argv[n++] = a->csv;
    if (!first) argv[n++] = "--no-header";
    argv[n++] = "--peer", argv[n++] = peer;
    argv[n] = NULL;
    fflush(stdout);
    pid_t pid;
    if (posix_spawn(&pid, exe, NULL, NULL, (char *const *)argv, environ) != 0) {
        fprintf(stderr, "scann bench: cannot run %s: %s\n", exe, strerror(errno));
        return 1;
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int cmd_bench(args *a, const char *self_path)
{
    need(a, a->base, "--base");
    /* An ann-benchmarks file holds the whole data set: its queries and ground truth too. */
    char query[PATH_MAX + 8], gt[PATH_MAX + 16];
    if (strlen(a->base) < PATH_MAX && strchr(a->base, ':') == NULL && !a->query && !a->gt) {
        size_t len = strlen(a->base);
        if ((len > 5 && !strcasecmp(a->base + len - 5, ".hdf5")) ||
            (len > 3 && !strcasecmp(a->base + len - 3, ".h5"))) {
            snprintf(query, sizeof query, "%s:test", a->base);
            snprintf(gt, sizeof gt, "%s:neighbors", a->base);
            a->query = query;
            a->gt = gt;
        }
    }
    need(a, a->query, "--query");
    need(a, a->gt, "--gt");
    if (a->nbackend == 0) {
        fprintf(stderr, "scann bench: give at least one --index SPEC or --peer P\n");
        return 2;
    }
    bench_opts o = {a->base, a->query, a->gt, need_metric(a),     a->k,    a->threads,
                    a->grid, a->csv,   1,     a->latency_queries, a->limit};
    /* A bad grid value fails now, not after minutes of building. */
    for (int i = 0; i < a->nbackend; i++)
        if (!a->backend_is_peer[i] &&
            check_grid("bench", a->backend_grid[i] ? a->backend_grid[i] : a->grid))
            return 2;
    /* Peers get the metric by name: pass on the one an HDF5 base implied. */
    if (!a->metric) a->metric = scann_metric_name(o.metric);
    bench_data d = {0};
    char err[512];
    int loaded = 0, rc = 0;
    for (int i = 0; i < a->nbackend; i++) {
        const char *grid = a->backend_grid[i] ? a->backend_grid[i] : a->grid;
        if (a->backend_is_peer[i]) {
            rc |= run_peer(a, a->backend[i], grid, o.print_header, self_path);
        } else {
            if (!loaded && bench_data_load(&o, &d, err, sizeof err)) {
                fprintf(stderr, "scann bench: %s\n", err);
                return 1;
            }
            loaded = 1;
            lib_backend lb = {.spec = a->backend[i]};
            bench_backend b = {.self = &lb,
                               .build = lib_build,
                               .set_params = lib_set_params,
                               .search = lib_search,
                               .memory = lib_memory,
                               .destroy = lib_destroy};
            snprintf(b.label, sizeof b.label, "%s", a->backend[i]);
            o.grid = grid;
            rc |= bench_run(&b, &d, &o);
            b.destroy(b.self);
        }
        o.print_header = 0;
    }
    if (loaded) bench_data_free(&d);
    return rc;
}

/* scann info and --version: the version and the kernels this CPU gets. */
static int cmd_info(void)
{
    printf("libscann %d.%d.%d\nkernels: %s\ncores: %ld\n", SCANN_VERSION_MAJOR, SCANN_VERSION_MINOR,
           SCANN_VERSION_PATCH, scann_kernels_name(), sysconf(_SC_NPROCESSORS_ONLN));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage_main(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage_main(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) return cmd_info();
    /* scann help CMD is scann CMD --help */
    if (!strcmp(argv[1], "help")) {
        cli_cmd c = argc > 2 ? cli_command(argv[2]) : 0;
        if (c)
            usage_command(stdout, c);
        else
            usage_main(argc > 2 ? stderr : stdout);
        return argc > 2 && !c ? 2 : 0;
    }
    cli_cmd cmd = cli_command(argv[1]);
    if (!cmd) {
        fprintf(stderr, "scann: unknown command '%s' (see scann --help)\n", argv[1]);
        return 2;
    }
    args a;
    int rc = cli_parse(argc - 1, argv + 1, cmd, &a);
    if (rc) return rc;
    if (a.help) {
        usage_command(stdout, cmd);
        return 0;
    }
    if (a.version || cmd == CMD_INFO) return cmd_info();
    char self_path[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (len <= 0)
        snprintf(self_path, sizeof self_path, "%s", argv[0]);
    else
        self_path[len] = '\0';
    blas_prefer_one_thread(); /* the library parallelises itself; see blas.h */
    switch (cmd) {
    case CMD_GT: return cmd_gt(&a);
    case CMD_BENCH: return cmd_bench(&a, self_path);
    case CMD_BUILD: return cmd_build(&a);
    case CMD_SEARCH: return cmd_search(&a);
    case CMD_TUNE: return cmd_tune(&a);
    default: return 2;
    }
}
