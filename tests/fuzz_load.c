/*
 * fuzz_load.c - libFuzzer target for the index-file loader (docs/FORMAT.md).
 *
 * Any input must give a status, never a crash, leak, out-of-bounds access or undefined
 * behaviour (the target builds with ASan and UBSan). Most inputs skip the checksum comparisons
 * (persist_load_unverified), so mutations get past them to the structural checks; one in eight goes
 * through the public scann_index_load_buffer. An index that loads is searched, saved, grown by
 * one vector and searched again, which exercises everything the loader built.
 *
 * Build and run: `make fuzz` (clang; see CMakeLists.txt, SCANN_BUILD_FUZZ). Seeds: fuzz_seeds.c.
 */
#include <stdint.h>
#include <stdlib.h>

#include "persist.h"
#include "scann.h"

static void exercise(scann_index *ix, size_t size)
{
    scann_index_set_num_threads(ix, 1);
    int d = scann_index_dim(ix);
    float *q = malloc((size_t)d * 2 * sizeof(float));
    if (!q) return;
    for (int j = 0; j < 2 * d; j++) q[j] = (float)((j * 37 + (int)(size % 11)) % 17) / 8 - 1;
    float dist[2 * 5];
    int64_t ids[2 * 5];
    int64_t n = scann_index_ntotal(ix);
    int k = n < 5 ? (int)n : 5;
    scann_search_params one = {.nprobe = 1, .reorder_k = k, .num_threads = 1};
    if (k > 0) {
        scann_index_search(ix, 2, d, q, k, NULL, dist, ids);
        scann_index_search(ix, 2, d, q, k, &one, dist, ids);
    }
    void *buf;
    size_t len;
    if (scann_index_save_buffer(ix, &buf, &len) == SCANN_OK) scann_buffer_free(buf);
    if (scann_index_is_trained(ix) && scann_index_add(ix, 1, d, q, NULL) == SCANN_OK)
        scann_index_search(ix, 1, d, q + d, 1, &one, dist, ids);
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scann_index *ix = NULL;
    scann_status st = size > 0 && data[size - 1] % 8 == 0
                          ? scann_index_load_buffer(data, size, &ix)
                          : persist_load_unverified(data, size, &ix);
    if (st != SCANN_OK) return 0;
    exercise(ix, size);
    scann_index_free(ix);
    return 0;
}
