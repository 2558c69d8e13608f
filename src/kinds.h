/*
 * kinds.h - the table of index kinds and the handle's life cycle. Everything that differs by
 * kind outside the kind's own file is a field of its row here, so a new kind is its file
 * (index_<kind>.c, filling index_ops) plus one row in kinds.c.
 */
#ifndef SCANN_KINDS_H
#define SCANN_KINDS_H

#include "index.h"

/* Which scann_index_params fields a kind uses, and so which keys describe writes. */
enum {
    KEY_LISTS = 1,         /* nlist, nprobe, reorder_k, train_size, iters, seed: IVF partitions */
    KEY_PQ_M = 2,          /* pq_m (spec key m) */
    KEY_BLOCKS = 4,        /* dims_per_block, aq_threshold: anisotropic 4-bit blocks */
    KEY_REORDER = 8,       /* reorder: the kind re-ranks from a store */
    KEY_REORDER_SHOWN = 16 /* describe names the store even when it is the default */
};

typedef struct kind_desc {
    const char *name;                      /* in specs and messages: "IVF_PQ" */
    scann_status (*init)(scann_index *ix); /* sets ix->ops and ix->impl */
    int needs_train;                       /* 0: trained from the start (FLAT), always saved so */
    int exact;                             /* scores its candidates exactly from stored floats */
    scann_reorder reorder;                 /* default store */
    unsigned keys;                         /* KEY_* */
    /* Estimated nanoseconds of one query that scans `scanned` vectors and re-ranks at
     * `rerank` ns (api.c's thread choice). */
    double (*query_ns)(const scann_index_params *p, double scanned, double rerank);
} kind_desc;

/* The row of kind k; NULL when k is not a kind. */
const kind_desc *kind_get(scann_index_kind k);
/* The rerank store a kind gets when the caller names none: its table entry's, but SCANN takes
 * int8 from dim 384 up. */
scann_reorder kind_default_reorder(scann_index_kind k, int dim);
/* The kind named name (any case); -1 when none is. */
int kind_find(const char *name);
/* "FLAT, IVF_FLAT, IVF_PQ or SCANN" into buf, for messages. */
const char *kind_list(char *buf, size_t len);

/* A handle for checked parameters (spec.h's params_check): lock, kernels, the kind's state. */
scann_status index_new(const scann_index_params *p, scann_index **out);
/* Free the kind's state, the file mapping (after: arrays point into it), the lock, the handle. */
void index_delete(scann_index *ix);

#endif
