/* recall.c - recall@k, the one quality number every benchmark row reports. */
#include "scann.h"

double scann_recall_at_k(int64_t nq, int k, const int64_t *found, int found_stride,
                         const int32_t *truth, int truth_stride)
{
    if (nq <= 0 || k <= 0 || !found || !truth || found_stride < k || truth_stride < k) return 0.0;
    int64_t hits = 0;
    for (int64_t q = 0; q < nq; q++) {
        const int64_t *f = found + q * found_stride;
        const int32_t *t = truth + q * truth_stride;
        /* k is small (10-100): a quadratic match beats building a set. */
        for (int i = 0; i < k; i++) {
            if (f[i] < 0) continue;
            for (int j = 0; j < k; j++)
                if (f[i] == t[j]) {
                    hits++;
                    break;
                }
        }
    }
    return (double)hits / ((double)nq * k);
}
