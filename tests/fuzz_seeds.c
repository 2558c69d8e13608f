/*
 * fuzz_seeds.c DIR [CORPUS] - write small valid index files of every kind, store and metric
 * into DIR (the fuzzer's seeds), and create CORPUS (its working corpus) if given.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "scann.h"

static float *random_rows(int64_t n, int d, uint64_t seed)
{
    float *x = malloc((size_t)n * d * sizeof(float));
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; x && i < (size_t)n * d; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)((s >> 40) * (2.0 / (1 << 24)) - 1.0);
    }
    return x;
}

static int mkdir_p(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "fuzz_seeds: cannot create %s: %s\n", dir, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_seeds DIR [CORPUS]\n");
        return 2;
    }
    if (mkdir_p(argv[1]) || (argc > 2 && mkdir_p(argv[2]))) return 1;
    /* Small enough for fast fuzzing: IVF_PQ needs 256 rows (its codebooks have 256 centres). */
    static const struct {
        const char *spec;
        int n, d, train;
    } seeds[] = {
        {"FLAT", 12, 4, 1},
        {"FLAT", 0, 3, 1},
        {"IVF_FLAT,nlist=3", 24, 4, 1},
        {"IVF_FLAT,nlist=3", 0, 4, 0},
        {"IVF_PQ,nlist=2,m=2,reorder=none", 256, 4, 1},
        {"IVF_PQ,nlist=2,m=2,reorder=float", 256, 4, 1},
        {"SCANN,nlist=3,reorder=float", 40, 6, 1},
        {"SCANN,nlist=3,reorder=int8", 40, 6, 1},
        {"SCANN,nlist=3,reorder=bf16", 40, 5, 1},
        {"SCANN,nlist=3,reorder=none", 40, 6, 1},
        {"SCANN,nlist=3", 0, 6, 0},
    };
    const scann_metric metrics[] = {SCANN_METRIC_L2, SCANN_METRIC_COSINE};
    int written = 0;
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        for (int m = 0; m < 2; m++) {
            float *x = random_rows(seeds[i].n > 0 ? seeds[i].n : 1, seeds[i].d, i + 1);
            scann_index *ix = NULL;
            char path[4096];
            snprintf(path, sizeof path, "%s/seed-%02zu-%s.scann", argv[1], i,
                     scann_metric_name(metrics[m]));
            if (!x || scann_index_create_from_spec(seeds[i].spec, seeds[i].d, metrics[m], &ix) ||
                (seeds[i].train && seeds[i].n &&
                 scann_index_train(ix, seeds[i].n, seeds[i].d, x)) ||
                (seeds[i].train && scann_index_add(ix, seeds[i].n, seeds[i].d, x, NULL)) ||
                scann_index_save(ix, path)) {
                fprintf(stderr, "fuzz_seeds: %s: %s\n", seeds[i].spec, scann_last_error());
                return 1;
            }
            scann_index_free(ix);
            free(x);
            written++;
        }
    printf("fuzz_seeds: %d seeds in %s\n", written, argv[1]);
    return 0;
}
