/* testdata.c - see testdata.h. Fashion-MNIST is IDX: big-endian magic 0x803, n, rows, cols. */
#include "testdata.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const char *fashion_path[2] = {
    "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
    "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"};

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

float *td_fashion(int which, int64_t rows)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s' 2>/dev/null", fashion_path[which ? 1 : 0]);
    FILE *f = popen(cmd, "r");
    if (!f) return NULL;
    unsigned char hdr[16];
    float *out = NULL;
    unsigned char *raw = NULL;
    if (fread(hdr, 1, 16, f) != 16 || be32(hdr) != 0x803 || be32(hdr + 8) * be32(hdr + 12) != 784 ||
        be32(hdr + 4) < rows) {
        fprintf(stderr, "testdata: %s missing or not IDX (apt-get install dataset-fashion-mnist)\n",
                fashion_path[which ? 1 : 0]);
        goto done;
    }
    size_t total = (size_t)rows * TD_FASHION_DIM;
    raw = malloc(total);
    out = malloc(total * sizeof(float));
    if (!raw || !out || fread(raw, 1, total, f) != total) {
        free(out);
        out = NULL;
        goto done;
    }
    for (size_t i = 0; i < total; i++) out[i] = raw[i];
done:
    free(raw);
    pclose(f);
    return out;
}

float *td_random(int64_t n, int dim, uint64_t seed)
{
    float *x = malloc((size_t)n * dim * sizeof(float));
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; x && i < (size_t)n * dim; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17; /* xorshift64 */
        x[i] = (float)((s >> 40) * (2.0 / (1 << 24)) - 1.0);
    }
    return x;
}

double td_score(const float *q, const float *x, int dim, int ip)
{
    double s = 0;
    for (int j = 0; j < dim; j++)
        s += ip ? (double)q[j] * x[j] : ((double)q[j] - x[j]) * ((double)q[j] - x[j]);
    return ip ? -s : s;
}

void td_exact_knn(const float *base, int64_t n, const float *q, int64_t nq, int dim, int ip, int k,
                  int64_t *ids, double *scores)
{
    for (int64_t qi = 0; qi < nq; qi++) {
        int64_t *ri = ids + qi * k;
        double *rs = scores + qi * k;
        int filled = 0;
        for (int64_t i = 0; i < n; i++) {
            double s = td_score(q + qi * dim, base + i * dim, dim, ip);
            if (filled == k && s >= rs[k - 1]) continue;
            int pos = filled < k ? filled++ : k - 1;
            while (pos > 0 && rs[pos - 1] > s) {
                rs[pos] = rs[pos - 1];
                ri[pos] = ri[pos - 1];
                pos--;
            }
            rs[pos] = s;
            ri[pos] = i;
        }
    }
}

void td_expect_impl(scann_status got, scann_status want, const char *needle, const char *file,
                    int line)
{
    if (got != want) {
        print_error("got %s, want %s (%s)\n", scann_status_name(got), scann_status_name(want),
                    scann_last_error());
        _fail(file, line);
    }
    if (needle && !strstr(scann_last_error(), needle)) {
        print_error("message '%s' does not mention '%s'\n", scann_last_error(), needle);
        _fail(file, line);
    }
}

scann_index *td_build(const char *spec, scann_metric m, int dim, const float *x, int64_t n,
                      int threads)
{
    scann_index_params p;
    scann_index *ix = NULL;
    TD_EXPECT(scann_index_params_parse(spec, dim, m, &p), SCANN_OK, NULL);
    p.num_threads = threads;
    TD_EXPECT(scann_index_create(&p, &ix), SCANN_OK, NULL);
    TD_EXPECT(scann_index_train(ix, n, dim, x), SCANN_OK, NULL);
    TD_EXPECT(scann_index_add(ix, n, dim, x, NULL), SCANN_OK, NULL);
    return ix;
}

void td_normalize(float *x, int64_t n, int dim)
{
    for (int64_t i = 0; i < n; i++) {
        float *r = x + i * dim;
        double s = 0;
        for (int j = 0; j < dim; j++) s += (double)r[j] * r[j];
        if (s > 0)
            for (int j = 0; j < dim; j++) r[j] = (float)(r[j] / sqrt(s));
    }
}

td_fixture *td_fashion_fixture(int64_t nb, int64_t nq, int k)
{
    const int d = TD_FASHION_DIM;
    td_fixture *f = calloc(1, sizeof *f);
    f->base = td_fashion(0, nb);
    f->query = td_fashion(1, nq);
    if (!f->base || !f->query) {
        td_fixture_free(f);
        return NULL;
    }
    f->gt_l2 = malloc(sizeof(int64_t) * nq * k);
    f->gt_cos = malloc(sizeof(int64_t) * nq * k);
    double *sc = malloc(sizeof(double) * nq * k);
    td_exact_knn(f->base, nb, f->query, nq, d, 0, k, f->gt_l2, sc);
    float *b = malloc(sizeof(float) * nb * d), *q = malloc(sizeof(float) * nq * d);
    memcpy(b, f->base, sizeof(float) * nb * d);
    memcpy(q, f->query, sizeof(float) * nq * d);
    td_normalize(b, nb, d), td_normalize(q, nq, d);
    td_exact_knn(b, nb, q, nq, d, 1, k, f->gt_cos, sc);
    free(b), free(q), free(sc);
    return f;
}

void td_fixture_free(td_fixture *f)
{
    if (!f) return;
    free(f->base), free(f->query), free(f->gt_l2), free(f->gt_cos), free(f);
}
