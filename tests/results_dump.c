/*
 * results_dump.c - prints one line per (kind, metric, spec, search setting): a 64-bit hash of
 * the ids and distances the search returned, bit for bit.
 *
 * Refactors promise that results do not change. Comparing two builds' dumps on one machine
 * (scripts/same-results.sh REF) proves it for every kind and metric; tests/golden holds this
 * tree's dump for each OpenBLAS kernel seen on the project's machines, checked by
 * tests/same_results.sh against the one with this machine's fingerprint (the BLAS and k-means
 * arithmetic that training and the batch probe depend on).
 *
 * Data: deterministic Gaussian clusters, so the IVF lists are uneven as in real data.
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scann.h"
#include "scann_codec.h"

enum { N = 6000, NADD = 500, NQ = 150, DIM = 40, K = 10 };

static uint64_t rng_state;
static double uniform(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static float gauss(void)
{
    return (float)(sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform()));
}

/* n points around 30 centres with per-cluster spread and norm, so inner product differs from
 * cosine. */
static float *clusters(int64_t n, uint64_t seed)
{
    rng_state = seed * 0x9E3779B97F4A7C15ull + 7;
    float centre[30][DIM], spread[30];
    for (int c = 0; c < 30; c++) {
        for (int j = 0; j < DIM; j++) centre[c][j] = 3 * gauss();
        spread[c] = 0.3f + (float)uniform();
    }
    float *x = malloc((size_t)n * DIM * sizeof(float));
    for (int64_t i = 0; x && i < n; i++) {
        int c = (int)(uniform() * 30) % 30;
        float scale = 0.5f + (float)uniform();
        for (int j = 0; j < DIM; j++) x[i * DIM + j] = scale * (centre[c][j] + spread[c] * gauss());
    }
    return x;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static void die(const char *what)
{
    fprintf(stderr, "results_dump: %s: %s\n", what, scann_last_error());
    exit(1);
}

static int allow_odd(void *user, int64_t id)
{
    (void)user;
    return id % 3 != 1;
}

/* Searches with several settings; one line each. */
static void dump_searches(const char *label, const scann_index *ix, const float *q)
{
    static float dist[NQ * K];
    static int64_t ids[NQ * K];
    static uint64_t bits[(N + NADD + 63) / 64 + 1];
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) bits[i] = 0x5555555555555555ull ^ i;
    struct {
        const char *name;
        int nprobe, reorder_k, threads, single, filter;
    } set[] = {{"default", 0, 0, 1, 0, 0},          {"default,t2", 0, 0, 2, 0, 0},
               {"single", 0, 0, 1, 1, 0},           {"np4,rk30", 4, 30, 2, 0, 0},
               {"np4,rk30,single", 4, 30, 1, 1, 0}, {"np1,rk10", 1, 10, 2, 0, 0},
               {"np32,rk50", 32, 50, 2, 0, 0},      {"bits", 3, 20, 2, 0, 1},
               {"fn,single", 3, 20, 1, 1, 2}};
    int ivf = scann_index_get_kind(ix) != SCANN_INDEX_FLAT;
    for (size_t s = 0; s < sizeof set / sizeof set[0]; s++) {
        if (!ivf && (set[s].nprobe || set[s].reorder_k) && strcmp(set[s].name, "np4,rk30"))
            continue;
        scann_search_params sp = {0};
        sp.nprobe = ivf ? set[s].nprobe : 0;
        sp.reorder_k = set[s].reorder_k;
        sp.num_threads = set[s].threads;
        if (set[s].filter == 1) sp.allow_bits = bits, sp.allow_nbits = N + NADD;
        if (set[s].filter == 2) sp.allow_fn = allow_odd;
        if (set[s].single) {
            for (int i = 0; i < NQ; i++)
                if (scann_index_search(ix, 1, DIM, q + (size_t)i * DIM, K, &sp, dist + i * K,
                                       ids + i * K))
                    die("search");
        } else if (scann_index_search(ix, NQ, DIM, q, K, &sp, dist, ids)) {
            die("search");
        }
        uint64_t h = fnv(fnv(0xcbf29ce484222325ull, ids, sizeof ids), dist, sizeof dist);
        printf("%s %s %016llx\n", label, set[s].name, (unsigned long long)h);
    }
    /* Range search with a radius near the 10th neighbour's distance. */
    scann_search_params sp = {.nprobe = ivf ? 8 : 0, .num_threads = 2};
    scann_range_result *r = NULL;
    float radius = dist[K - 1];
    if (scann_index_range_search(ix, NQ, DIM, q, radius, &sp, &r)) die("range_search");
    uint64_t h = fnv(0xcbf29ce484222325ull, r->lims, (size_t)(NQ + 1) * sizeof(int64_t));
    h = fnv(fnv(h, r->ids, (size_t)r->lims[NQ] * sizeof(int64_t)), r->dist,
            (size_t)r->lims[NQ] * sizeof(float));
    printf("%s range %016llx\n", label, (unsigned long long)h);
    scann_range_result_free(r);
}

int main(void)
{
    float *base = clusters(N + NADD, 1), *q = clusters(NQ, 2);
    if (!base || !q) die("out of memory");
    /* A fingerprint of the arithmetic that training and the batch probe depend on (which BLAS
     * and kernels): a golden file compares only where its fingerprint matches. */
    scann_index *fp = NULL;
    if (scann_index_create_from_spec("IVF_FLAT,nlist=16,threads=1", DIM, SCANN_METRIC_L2, &fp) ||
        scann_index_train(fp, N, DIM, base))
        die("fingerprint");
    float cd[K];
    int64_t ci[K];
    scann_search_params one = {.nprobe = 16, .num_threads = 1};
    if (scann_index_add(fp, 100, DIM, base, NULL) ||
        scann_index_search(fp, 1, DIM, q, K, &one, cd, ci))
        die("fingerprint search");
    scann_index_free(fp);
    /* Batch searches score queries against the centres through sgemm, whose summation order
     * is the BLAS kernel's: OpenBLAS's Haswell and SkylakeX kernels (Debian's picks by CPU;
     * AMD's AVX-512 cores get Haswell) train the same centres above but round some probe
     * scores apart, which moves near-ties in IVF_PQ's and SCANN's answers. */
    static float gemm[64 * 32];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 64, 32, DIM, 1.0f, q, DIM, base, DIM, 0.0f,
                gemm, 32);
    uint64_t fph = fnv(fnv(0xcbf29ce484222325ull, cd, sizeof cd), ci, sizeof ci);
    printf("# fingerprint %016llx\n", (unsigned long long)fnv(fph, gemm, sizeof gemm));

    static const char *specs[] = {
        "FLAT",
        "IVF_FLAT,nlist=32",
        "IVF_PQ,nlist=32,m=10",
        "SCANN,nlist=32",
        "SCANN,nlist=32,reorder=bf16",
        "SCANN,nlist=32,reorder=int8",
        "SCANN,nlist=32,reorder=none",
        "SCANN,nlist=32,dims_per_block=4,aq_threshold=0",
        "SCANN,nlist=32,aq_threshold=0.3,reorder=int8",
    };
    static const scann_metric metrics[] = {SCANN_METRIC_L2, SCANN_METRIC_IP, SCANN_METRIC_COSINE};
    for (size_t m = 0; m < 3; m++) {
        for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
            char spec[160], label[200];
            snprintf(spec, sizeof spec, "%s,threads=2,seed=5", specs[s]);
            snprintf(label, sizeof label, "%s/%s", scann_metric_name(metrics[m]), specs[s]);
            scann_index *ix = NULL;
            if (scann_index_create_from_spec(spec, DIM, metrics[m], &ix) ||
                scann_index_train(ix, N, DIM, base) || scann_index_add(ix, N, DIM, base, NULL))
                die(spec);
            dump_searches(label, ix, q);

            /* After updates: remove a third, upsert some, add new rows. */
            int64_t rm[N / 3], up[200];
            for (int i = 0; i < N / 3; i++) rm[i] = 3 * i + 2;
            for (int i = 0; i < 200; i++) up[i] = 7 * i;
            if (scann_index_remove(ix, N / 3, rm, NULL) ||
                scann_index_add(ix, 200, DIM, base + (size_t)(N + 100) * DIM, up) ||
                scann_index_add(ix, NADD - 200, DIM, base + (size_t)N * DIM, NULL))
                die("updates");
            char l2[220];
            snprintf(l2, sizeof l2, "%s+updates", label);
            dump_searches(l2, ix, q);

            /* Save and load: the loaded index answers the same. */
            void *buf = NULL;
            size_t len = 0;
            scann_index *back = NULL;
            if (scann_index_save_buffer(ix, &buf, &len) || scann_index_load_buffer(buf, len, &back))
                die("save/load");
            snprintf(l2, sizeof l2, "%s+updates+reload", label);
            dump_searches(l2, back, q);
            scann_buffer_free(buf);
            scann_index_free(back);
            scann_index_free(ix);
        }
    }
    /* The codec API's training: its saved bytes. */
    for (size_t m = 0; m < 3; m++) {
        scann_codec_params cp;
        scann_codec *c = NULL;
        size_t len = 0;
        scann_codec_params_init(&cp, metrics[m], DIM);
        cp.nlist = 24;
        cp.num_threads = 2;
        if (scann_codec_create(&cp, &c) || scann_codec_train(c, N, DIM, base) ||
            scann_codec_save(c, NULL, 0, &len))
            die("codec");
        unsigned char *buf = malloc(len);
        if (!buf || scann_codec_save(c, buf, len, &len)) die("codec save");
        printf("%s/codec trained %016llx\n", scann_metric_name(metrics[m]),
               (unsigned long long)fnv(0xcbf29ce484222325ull, buf, len));
        free(buf);
        scann_codec_free(c);
    }
    free(base);
    free(q);
    return 0;
}
