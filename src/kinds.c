/* kinds.c - the kind table and the handle's life cycle (kinds.h). */
#include "kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/mman.h>

#include "error.h"
#include "pq.h"
#include "scratch.h"
#include "threads.h"

/* Per-element costs: float rows ~0.3 ns per dimension and 8-bit PQ ~1.4 ns per byte (one-query
 * timings on Fashion-MNIST, one AVX-512 core, 2026), 4-bit FastScan ~0.05 ns per byte (an
 * estimate, not timed). Being off by 2x only moves the point where a second thread starts. */
static double float_rows_ns(const scann_index_params *p, double scanned, double rerank)
{
    return scanned * p->dim * 0.3;
}

static double pq8_ns(const scann_index_params *p, double scanned, double rerank)
{
    double d = p->dim;
    return scanned * (p->pq_m ? p->pq_m : d / 4) * 1.4 + rerank;
}

static double fastscan_ns(const scann_index_params *p, double scanned, double rerank)
{
    double d = p->dim;
    int dpb = p->dims_per_block ? p->dims_per_block : pq_default_dims_per_block(p->dim);
    return scanned * (d / (2.0 * dpb)) * 0.05 + rerank + d * 16 * 2.0; /* tables: 16 a block */
}

/* Default stores: SCANN re-ranks with floats (int8 at high d: kind_default_reorder); IVF_PQ is
 * the classic codes-only baseline. */
static const kind_desc kinds[] = {
    [SCANN_INDEX_FLAT] = {"FLAT", flat_init, 0, 1, SCANN_REORDER_FLOAT, 0, float_rows_ns},
    [SCANN_INDEX_IVF_FLAT] = {"IVF_FLAT", ivfflat_init, 1, 1, SCANN_REORDER_FLOAT, KEY_LISTS,
                              float_rows_ns},
    [SCANN_INDEX_IVF_PQ] = {"IVF_PQ", ivfpq_init, 1, 0, SCANN_REORDER_NONE,
                            KEY_LISTS | KEY_PQ_M | KEY_REORDER, pq8_ns},
    [SCANN_INDEX_SCANN] = {"SCANN", ivffs_init, 1, 0, SCANN_REORDER_FLOAT,
                           KEY_LISTS | KEY_BLOCKS | KEY_REORDER | KEY_REORDER_SHOWN, fastscan_ns},
};
#define NKINDS (int)(sizeof kinds / sizeof kinds[0])

const kind_desc *kind_get(scann_index_kind k)
{
    return (unsigned)k < (unsigned)NKINDS ? &kinds[k] : NULL;
}

/* SCANN's store follows d. An int8 row (the code's error, rerank.c) costs d + m / 2 + 4 bytes
 * plus m table lookups to score, a float row 4d bytes. Int8 against float at equal settings
 * (2-core Zen 4, 2 threads, batch QPS): GloVe d = 100 -4%, SIFT d = 128 -6%, USE d = 512
 * +4 to +8%, Fashion-MNIST d = 784 +11 to +18%, recall 0.0006-0.0026 lower; and 3-4x less
 * memory. Speed breaks even near d = 256, where the recall cost still favours float. */
#define SCANN_INT8_MIN_DIM 384

scann_reorder kind_default_reorder(scann_index_kind k, int dim)
{
    if (k == SCANN_INDEX_SCANN && dim >= SCANN_INT8_MIN_DIM) return SCANN_REORDER_INT8;
    return kind_get(k) ? kind_get(k)->reorder : SCANN_REORDER_FLOAT;
}

int kind_find(const char *name)
{
    for (int i = 0; i < NKINDS; i++)
        if (!strcasecmp(name, kinds[i].name)) return i;
    return -1;
}

const char *kind_list(char *buf, size_t len)
{
    size_t w = 0;
    buf[0] = '\0';
    for (int i = 0; i < NKINDS && w < len; i++)
        w += (size_t)snprintf(buf + w, len - w, "%s%s",
                              i == 0           ? ""
                              : i + 1 < NKINDS ? ", "
                                               : " or ",
                              kinds[i].name);
    return buf;
}

scann_status index_new(const scann_index_params *p, scann_index **out)
{
    scann_index *ix = calloc(1, sizeof *ix);
    if (!ix) return err_nomem("index", sizeof *ix);
    ix->p = *p;
    if (ix->p.num_threads == 0) ix->p.num_threads = threads_online();
    ix->dk = kernels_best();
    /* Writers first: a steady stream of searches must not starve an add (seen from Python). */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int lock_failed = pthread_rwlock_init(&ix->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (lock_failed) {
        free(ix);
        return err_set(SCANN_ERR_OUT_OF_MEMORY, "index: cannot create its lock");
    }
    ix->trained = !kinds[p->kind].needs_train;
    scann_status st = kinds[p->kind].init(ix);
    if (st) {
        pthread_rwlock_destroy(&ix->lock);
        free(ix);
        return st;
    }
    *out = ix;
    return SCANN_OK;
}

void index_delete(scann_index *ix)
{
    if (!ix) return;
    if (ix->ops) ix->ops->destroy(ix);
    par_pool_free(atomic_load(&ix->pool));
    scratch_cache_free(&ix->scratch);
    if (ix->map_base) munmap(ix->map_base, ix->map_len); /* after destroy: arrays point in */
    pthread_rwlock_destroy(&ix->lock);
    free(ix);
}
