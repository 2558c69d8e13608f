/*
 * scann.c - the command-line tool: exact ground truth (gt), benchmarks (bench), index files
 * (build saves one, search loads or maps one and measures it), info.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "blas.h"
#include "progress.h"
#include "scann.h"

extern char **environ;

static void usage(FILE *f)
{
    fprintf(f,
            "usage:\n"
            "  scann gt --base B --query Q --metric l2|ip|cosine --k K --out G.ivecs [--threads N]\n"
            "  scann bench --base B --query Q --gt G --metric M [--k 10] [--threads N]\n"
            "              [--csv OUT] [--latency-queries 1000] [--search GRID]\n"
            "              (--index SPEC [--search GRID] | --peer P [--search GRID])...\n"
            "  scann build --base B --metric M --index SPEC --out FILE [--threads N]\n"
            "  scann search FILE --query Q --k K [--gt G] [--search GRID] [--threads N]\n"
            "               [--csv OUT] [--latency-queries 1000] [--mmap] [--out IDS.ivecs]\n"
            "  scann info\n"
            "\n"
            "Vector files: .fvecs .bvecs .ivecs .npy (float32). SPEC: FLAT, IVF_FLAT,nlist=1024, ...\n"
            "Peers (needs scann-peers, built with -DSCANN_BUILD_PEERS=ON):\n"
            "  --peer hnsw:M=16,efc=200   (grid key: ef)\n"
            "  --peer faiss:IVF1024,Flat  (any faiss factory string; grid keys: nprobe, k_factor)\n"
            "GRID is key=v1,v2;key2=w1,w2 and every combination runs (keys: nprobe, reorder_k).\n"
            "A --search right after an --index/--peer applies to it alone; one before any\n"
            "backend is the default for all.\n"
            "build trains SPEC on the base, adds it and saves the index to FILE. search loads\n"
            "FILE (--mmap: maps it read-only) and, with --gt, prints the bench table (build_s =\n"
            "load time); without --gt it prints QPS per grid point and --out writes the first\n"
            "point's ids.\n");
}

static void die(const char *what)
{
    fprintf(stderr, "scann: %s: %s\n", what, scann_last_error());
    exit(1);
}

typedef struct args {
    const char *base, *query, *gt, *out, *grid, *csv, *metric;
    const char *file; /* search: the index file */
    int mmap;         /* search: map the file instead of loading it */
    /* Backends in command-line order; a --search right after one applies to it alone, a
     * --search before any backend is the default grid. */
    const char *backend[16];
    const char *backend_grid[16];
    int backend_is_peer[16];
    int nbackend;
    int k, threads, latency_queries;
} args;

static int parse_int_arg(const char *flag, const char *v, int lo, int hi)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "scann: %s %s: expected an integer in [%d, %d]\n", flag, v, lo, hi);
        exit(2);
    }
    return (int)x;
}

/* Options from argv[first] on (search takes its FILE before them). */
static void parse_args(int argc, char **argv, int first, args *a)
{
    memset(a, 0, sizeof *a);
    a->k = 10;
    a->threads = 0;
    for (int i = first; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(f, "--mmap")) { /* the one flag without a value */
            a->mmap = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "scann: %s needs a value (see scann --help)\n", f);
            exit(2);
        }
        const char *v = argv[++i];
        if (!strcmp(f, "--base")) a->base = v;
        else if (!strcmp(f, "--query")) a->query = v;
        else if (!strcmp(f, "--gt")) a->gt = v;
        else if (!strcmp(f, "--out")) a->out = v;
        else if (!strcmp(f, "--search") && a->nbackend > 0) a->backend_grid[a->nbackend - 1] = v;
        else if (!strcmp(f, "--search")) a->grid = v;
        else if (!strcmp(f, "--csv")) a->csv = v;
        else if (!strcmp(f, "--metric")) a->metric = v;
        else if (!strcmp(f, "--k")) a->k = parse_int_arg(f, v, 1, 100000);
        else if (!strcmp(f, "--threads")) a->threads = parse_int_arg(f, v, 0, 4096);
        else if (!strcmp(f, "--latency-queries")) a->latency_queries = parse_int_arg(f, v, 1, 1 << 30);
        else if ((!strcmp(f, "--index") || !strcmp(f, "--peer")) && a->nbackend < 16) {
            a->backend_is_peer[a->nbackend] = f[2] == 'p';
            a->backend[a->nbackend++] = v;
        } else {
            fprintf(stderr, "scann: unknown option %s (see scann --help)\n", f);
            exit(2);
        }
    }
    if (a->threads == 0) a->threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static scann_metric need_metric(const args *a)
{
    scann_metric m;
    if (!a->metric) {
        fprintf(stderr, "scann: --metric l2|ip|cosine is required\n");
        exit(2);
    }
    if (scann_metric_parse(a->metric, &m)) die("--metric");
    return m;
}

static void need(const char *v, const char *flag)
{
    if (!v) {
        fprintf(stderr, "scann: %s is required (see scann --help)\n", flag);
        exit(2);
    }
}

/* ---- gt --------------------------------------------------------------------------------- */

static int cmd_gt(const args *a)
{
    need(a->base, "--base");
    need(a->query, "--query");
    need(a->out, "--out");
    scann_metric metric = need_metric(a);
    float *base, *query;
    int64_t n, nq;
    int d, dq;
    if (scann_vecs_read(a->base, &base, &n, &d)) die("reading --base");
    if (scann_vecs_read(a->query, &query, &nq, &dq)) die("reading --query");
    if (dq != d) {
        fprintf(stderr, "scann: queries have dimension %d, base %d\n", dq, d);
        return 1;
    }
    if (a->k > n) {
        fprintf(stderr, "scann: --k %d is larger than the base (%lld vectors)\n", a->k, (long long)n);
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
        int v = atoi(pt->kv[i].value);
        if (!strcmp(k, "nprobe")) b->sp.nprobe = v;
        else if (!strcmp(k, "reorder_k")) b->sp.reorder_k = v;
        else {
            snprintf(err, errlen, "unknown search parameter '%s' (expected nprobe, reorder_k)", k);
            return 1;
        }
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
    need(a->base, "--base");
    need(a->out, "--out");
    scann_metric metric = need_metric(a);
    if (a->nbackend != 1 || a->backend_is_peer[0]) {
        fprintf(stderr, "scann build: give exactly one --index SPEC\n");
        return 2;
    }
    float *base;
    int64_t n;
    int d;
    if (scann_vecs_read(a->base, &base, &n, &d)) die("reading --base");
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
    fprintf(stderr, "scann build: %s (%s), %lld x %d: built in %.2f s, saved %lld bytes to %s in "
            "%.2f s\n", desc, scann_metric_name(metric), (long long)n, d, t1 - t0, bytes, a->out,
            t2 - t1);
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

/* Without ground truth: QPS of one batch search per grid point; --out gets the first's ids. */
static int search_no_gt(bench_backend *b, const bench_data *d, const args *a)
{
    char err[512] = "";
    bench_point *pts = NULL;
    int npts = 0, rc = 1;
    int64_t *ids = malloc((size_t)d->nq * a->k * sizeof(int64_t));
    int32_t *out = a->out ? malloc((size_t)d->nq * a->k * sizeof(int32_t)) : NULL;
    if (!ids || (a->out && !out)) {
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
        if (i == 0 && out) {
            for (size_t j = 0; j < (size_t)d->nq * a->k; j++)
                out[j] = ids[j] > INT32_MAX ? -1 : (int32_t)ids[j];
            if (scann_ivecs_write(a->out, out, d->nq, a->k)) {
                snprintf(err, sizeof err, "writing --out: %s", scann_last_error());
                goto done;
            }
        }
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "scann search: %s\n", err);
    free(ids);
    free(out);
    free(pts);
    return rc;
}

static int cmd_search(const args *a)
{
    need(a->file, "FILE (scann search FILE --query Q ...)");
    need(a->query, "--query");
    if (a->nbackend || a->metric || a->base) {
        fprintf(stderr, "scann search: --index, --peer, --metric and --base come from FILE\n");
        return 2;
    }
    bench_data d = {0};
    int qdim = 0, gdim = 0;
    int64_t ngt = 0;
    if (scann_vecs_read(a->query, &d.query, &d.nq, &qdim)) die("reading --query");
    d.dim = qdim;
    if (a->gt) {
        if (scann_ivecs_read(a->gt, &d.gt, &ngt, &gdim)) die("reading --gt");
        d.gt_k = gdim;
        if (ngt != d.nq || gdim < a->k) {
            fprintf(stderr, "scann search: --gt has %lld rows of %d, expected %lld rows of at "
                    "least --k %d\n", (long long)ngt, gdim, (long long)d.nq, a->k);
            bench_data_free(&d);
            return 1;
        }
    }
    file_backend fb = {.path = a->file, .mmap = a->mmap};
    bench_backend b = {.self = &fb, .build = file_load, .set_params = lib_set_params,
                       .search = lib_search, .memory = lib_memory, .destroy = lib_destroy};
    snprintf(b.label, sizeof b.label, "%s%s", a->file, a->mmap ? " (mmap)" : "");
    int rc;
    if (a->gt) {
        bench_opts o = {NULL, a->query, a->gt, SCANN_METRIC_L2, a->k, a->threads, a->grid, a->csv,
                        1, a->latency_queries};
        rc = bench_run(&b, &d, &o);
    } else {
        rc = search_no_gt(&b, &d, a);
    }
    b.destroy(b.self);
    bench_data_free(&d);
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
    char kbuf[16], tbuf[16], lbuf[16];
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

static int cmd_bench(const args *a, const char *self_path)
{
    need(a->base, "--base");
    need(a->query, "--query");
    need(a->gt, "--gt");
    bench_opts o = {a->base, a->query, a->gt, need_metric(a), a->k, a->threads, a->grid, a->csv,
                    1, a->latency_queries};
    if (a->nbackend == 0) {
        fprintf(stderr, "scann bench: give at least one --index SPEC or --peer P\n");
        return 2;
    }
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
            bench_backend b = {.self = &lb, .build = lib_build, .set_params = lib_set_params,
                               .search = lib_search, .memory = lib_memory, .destroy = lib_destroy};
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

static int cmd_info(void)
{
    scann_index *ix;
    if (scann_index_create_from_spec("FLAT", 8, SCANN_METRIC_L2, &ix)) die("info");
    printf("libscann %d.%d.%d\nkernels: %s\ncores: %ld\n", SCANN_VERSION_MAJOR, SCANN_VERSION_MINOR,
           SCANN_VERSION_PATCH, scann_index_kernel_name(ix), sysconf(_SC_NPROCESSORS_ONLN));
    scann_index_free(ix);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    char self_path[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (len <= 0) snprintf(self_path, sizeof self_path, "%s", argv[0]);
    else self_path[len] = '\0';
    args a;
    blas_prefer_one_thread(); /* the library parallelises itself; see blas.h */
    if (!strcmp(argv[1], "info")) return cmd_info();
    /* search FILE ...: the file comes before the options */
    int has_file = !strcmp(argv[1], "search") && argc > 2 && strncmp(argv[2], "-", 1) != 0;
    parse_args(argc, argv, has_file ? 3 : 2, &a);
    if (has_file) a.file = argv[2];
    if (!strcmp(argv[1], "gt")) return cmd_gt(&a);
    if (!strcmp(argv[1], "bench")) return cmd_bench(&a, self_path);
    if (!strcmp(argv[1], "build")) return cmd_build(&a);
    if (!strcmp(argv[1], "search")) return cmd_search(&a);
    fprintf(stderr, "scann: unknown command '%s' (see scann --help)\n", argv[1]);
    return 2;
}
