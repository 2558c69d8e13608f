/*
 * persist.c - the public save and load calls (docs/FORMAT.md). Three layers, each depending
 * only on the ones below: this file puts the index's parameters into the header's fields,
 * writes the index-wide sections (NXID, SRCH) and asks the kind for its own (index_ops save /
 * load, through kinds.c for the handle); container.c holds the layout, checksums and the
 * bounds-checked reader; atomic_file.c replaces files so a crash leaves the old or the new one.
 *
 * A load checks the container (ctr_open), then the header's parameters (range-checked here
 * where create would not, and by params_check as create would), then lets the kind take its
 * sections with the lengths its counts imply; a section nobody took is an error.
 */
#include "persist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "kinds.h"
#include "sections.h"
#include "spec.h"

/* 2 added NXID and SRCH; 3 SCANN's narrow rerank rows with their code (index_scann.c). A file
 * is written with the lowest version that describes it; every older version still loads. */
#define VERSION 3u

static uint32_t save_version(const scann_index *ix)
{
    return ix->trained && ix->ops->save_version ? ix->ops->save_version(ix) : 2u;
}

/* The index's header fields (docs/FORMAT.md, "Header"); container.c owns the others. */
enum {
    H_KIND = 48,
    H_METRIC = 52,
    H_DIM = 56,
    H_NUM_THREADS = 60,
    H_NLIST = 64,
    H_NPROBE = 68,
    H_TRAIN_SIZE = 72,
    H_KMEANS_ITERS = 80,
    H_PQ_M = 84,
    H_SEED = 88,
    H_DIMS_PER_BLOCK = 96,
    H_AQ_THRESHOLD = 100,
    H_REORDER = 104,
    H_TRAINED = 108,
    H_NTOTAL = 112
};

static const ctr_tag section_names[] = {
    {SEC_VECS, "vectors"},        {SEC_IDS, "ids"},          {SEC_CENT, "centres"},
    {SEC_LSIZ, "list sizes"},     {SEC_CODE, "list codes"},  {SEC_BLKS, "code blocks"},
    {SEC_CDBK, "codebooks"},      {SEC_RROW, "rerank rows"}, {SEC_NXID, "next automatic id"},
    {SEC_SRCH, "search defaults"}};

/* ---- save ---------------------------------------------------------------------------------- */

static void encode_header(const scann_index *ix, uint8_t *h)
{
    const scann_index_params *p = &ix->p;
    uint32_t aq;
    memcpy(&aq, &p->aq_threshold, sizeof aq);
    memset(h, 0, CTR_HEADER_BYTES);
    ctr_put32(h + H_KIND, (uint32_t)p->kind);
    ctr_put32(h + H_METRIC, (uint32_t)p->metric);
    ctr_put32(h + H_DIM, (uint32_t)p->dim);
    ctr_put32(h + H_NUM_THREADS, (uint32_t)p->num_threads);
    ctr_put32(h + H_NLIST, (uint32_t)p->nlist);
    ctr_put32(h + H_NPROBE, (uint32_t)p->nprobe);
    ctr_put64(h + H_TRAIN_SIZE, (uint64_t)p->train_size);
    ctr_put32(h + H_KMEANS_ITERS, (uint32_t)p->kmeans_iters);
    ctr_put32(h + H_PQ_M, (uint32_t)p->pq_m);
    ctr_put64(h + H_SEED, p->seed);
    ctr_put32(h + H_DIMS_PER_BLOCK, (uint32_t)p->dims_per_block);
    ctr_put32(h + H_AQ_THRESHOLD, aq);
    ctr_put32(h + H_REORDER, (uint32_t)p->reorder);
    ctr_put32(h + H_TRAINED, (uint32_t)(ix->trained != 0));
    ctr_put64(h + H_NTOTAL, (uint64_t)ix->ntotal);
}

/* The sections: the kind's, then NXID (trained only), then SRCH (only when set, so other files
 * keep their bytes). */
static scann_status save_sections(ctr_writer *w, const void *ctx)
{
    const scann_index *ix = ctx;
    scann_status st = SCANN_OK;
    if (ix->trained) {
        uint8_t next[8];
        ctr_put64(next, (uint64_t)ix->next_id);
        ix->ops->save(ix, w);
        st = ctr_section(w, SEC_NXID, next, sizeof next);
    }
    if (ix->p.reorder_k > 0) {
        uint8_t rk[4];
        ctr_put32(rk, (uint32_t)ix->p.reorder_k);
        st = ctr_section(w, SEC_SRCH, rk, sizeof rk);
    }
    return st;
}

/* Searches take the lock through a const handle: the lock is the one mutable part of it. */
static pthread_rwlock_t *lock_of(const scann_index *ix) { return (pthread_rwlock_t *)&ix->lock; }

scann_status scann_index_save_buffer(const scann_index *ix, void **buf, size_t *len)
{
    if (!ix || !buf || !len)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "save_buffer: index, buf or len is NULL");
    uint8_t h[CTR_HEADER_BYTES];
    /* One read lock over both passes: an add in between would change the size. */
    pthread_rwlock_rdlock(lock_of(ix));
    encode_header(ix, h);
    scann_status st = ctr_write_buffer(save_version(ix), h, save_sections, ix, buf, len);
    pthread_rwlock_unlock(lock_of(ix));
    return st;
}

scann_status scann_index_save(const scann_index *ix, const char *path)
{
    if (!ix || !path || !*path)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "save: index or path is NULL or empty");
    atomic_file f;
    scann_status st = atomic_open(&f, path);
    if (st) return st;
    uint8_t h[CTR_HEADER_BYTES];
    pthread_rwlock_rdlock(lock_of(ix));
    encode_header(ix, h);
    st = ctr_write_fd(f.fd, path, save_version(ix), h, save_sections, ix);
    pthread_rwlock_unlock(lock_of(ix));
    return atomic_commit(&f, st);
}

/* ---- load ---------------------------------------------------------------------------------- */

/* The header's parameters, range-checked where params_check would not (it reports bad values
 * as invalid arguments; load turns those into format errors too). */
static scann_status read_params(ctr_reader *r, scann_index_params *p, int *trained, int64_t *ntotal)
{
    const uint8_t *b = r->base;
    int32_t kind = (int32_t)ctr_get32(b + H_KIND), metric = (int32_t)ctr_get32(b + H_METRIC);
    int32_t reorder = (int32_t)ctr_get32(b + H_REORDER);
    int32_t threads = (int32_t)ctr_get32(b + H_NUM_THREADS);
    uint32_t tr = ctr_get32(b + H_TRAINED);
    int64_t nt = (int64_t)ctr_get64(b + H_NTOTAL);
    const kind_desc *kd = kind_get((scann_index_kind)kind);
    if (!kd) return ctr_fail(r, "header: kind=%d is not an index kind", kind);
    if (metric < 0 || metric > SCANN_METRIC_COSINE)
        return ctr_fail(r, "header: metric=%d is not a metric", metric);
    if (reorder < 0 || reorder > SCANN_REORDER_NONE)
        return ctr_fail(r, "header: reorder=%d is not a reorder store", reorder);
    if (threads < 0 || threads > 4096)
        return ctr_fail(r, "header: num_threads=%d is outside [0, 4096]", threads);
    if (tr > 1) return ctr_fail(r, "header: trained=%u, expected 0 or 1", tr);
    if (nt < 0) return ctr_fail(r, "header: ntotal=%lld is negative", (long long)nt);
    if (!kd->needs_train && !tr)
        return ctr_fail(r, "header: trained=0, but a %s index is always trained", kd->name);
    /* An untrained index may carry its search defaults (SRCH), nothing else. */
    if (!tr && (nt != 0 || r->nsec != (ctr_find(r, SEC_SRCH) != NULL)))
        return ctr_fail(r,
                        "header: an untrained index with ntotal=%lld and %d sections (must "
                        "be 0, and SRCH at most)",
                        (long long)nt, r->nsec);
    memset(p, 0, sizeof *p);
    p->kind = (scann_index_kind)kind;
    p->metric = (scann_metric)metric;
    p->dim = (int32_t)ctr_get32(b + H_DIM);
    p->num_threads = 0; /* scann.h: a loaded index uses all cores until told otherwise */
    p->nlist = (int32_t)ctr_get32(b + H_NLIST);
    p->nprobe = (int32_t)ctr_get32(b + H_NPROBE);
    p->train_size = (int64_t)ctr_get64(b + H_TRAIN_SIZE);
    p->kmeans_iters = (int32_t)ctr_get32(b + H_KMEANS_ITERS);
    p->pq_m = (int32_t)ctr_get32(b + H_PQ_M);
    p->seed = ctr_get64(b + H_SEED);
    p->dims_per_block = (int32_t)ctr_get32(b + H_DIMS_PER_BLOCK);
    uint32_t aq = ctr_get32(b + H_AQ_THRESHOLD);
    memcpy(&p->aq_threshold, &aq, sizeof aq);
    p->reorder = (scann_reorder)reorder;
    *trained = (int)tr;
    *ntotal = nt;
    return SCANN_OK;
}

/* next_id: above every stored id (the kind's load has validated the IDS section), and the
 * saved counter when the file has one (version 2), which also covers removed ids. */
static scann_status load_next_id(ctr_reader *r, scann_index *ix)
{
    int64_t next = 0;
    const ctr_entry *e = ctr_find(r, SEC_IDS);
    for (uint64_t j = 0; e && j < e->length / 8; j++) {
        int64_t id = (int64_t)ctr_get64(r->base + e->offset + 8 * j);
        if (id >= next) next = id < INT64_MAX ? id + 1 : INT64_MAX;
    }
    if (r->version >= 2) {
        const uint8_t *p;
        scann_status st = ctr_take(r, SEC_NXID, 1, 8, &p);
        if (st) return st;
        uint64_t saved = ctr_get64(p);
        if (saved > INT64_MAX || (int64_t)saved < next)
            return ctr_fail(r,
                            "section NXID (next automatic id): %llu is below the stored id "
                            "%lld",
                            (unsigned long long)saved, (long long)next - 1);
        next = (int64_t)saved;
    }
    ix->next_id = next;
    return SCANN_OK;
}

/* The optional SRCH section (version 2): the default reorder_k, as the spec key allows it. */
static scann_status load_search_defaults(ctr_reader *r, scann_index *ix)
{
    if (!ctr_find(r, SEC_SRCH)) return SCANN_OK;
    if (r->version < 2) return ctr_fail(r, "section SRCH (search defaults) in a version 1 file");
    const uint8_t *p;
    scann_status st = ctr_take(r, SEC_SRCH, 1, 4, &p);
    if (st) return st;
    uint32_t rk = ctr_get32(p);
    if (rk < 1 || rk > (1u << 30))
        return ctr_fail(r, "section SRCH (search defaults): reorder_k=%u is outside [1, 2^30]", rk);
    ix->p.reorder_k = (int)rk;
    return SCANN_OK;
}

static scann_status load_index(ctr_reader *r, scann_index **out)
{
    scann_index_params p;
    int trained = 0;
    int64_t ntotal = 0;
    r->version_max = VERSION;
    r->tags = section_names;
    r->ntags = (int)(sizeof section_names / sizeof section_names[0]);
    scann_status st = ctr_open(r);
    if (!st) st = read_params(r, &p, &trained, &ntotal);
    if (st) return st;
    if (params_check(&p)) return ctr_fail(r, "header: %s", scann_last_error());
    scann_index *ix;
    if ((st = index_new(&p, &ix))) return st;
    if (trained) {
        ix->trained = 1;
        ix->ntotal = ntotal;
        char where[64];
        snprintf(where, sizeof where, "a %s index with these parameters", kind_get(p.kind)->name);
        if (!(st = ix->ops->load(ix, r)) && !(st = load_next_id(r, ix)) &&
            !(st = load_search_defaults(r, ix)))
            st = ctr_check_all_taken(r, where);
    } else {
        st = load_search_defaults(r, ix);
    }
    if (st) {
        index_delete(ix);
        return st;
    }
    *out = ix;
    return SCANN_OK;
}

/* Map path read-only. An empty file cannot be mapped: it fails here with load's message. */
static scann_status map_file(const char *path, void **base, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(SCANN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    scann_status st = SCANN_OK;
    if (fstat(fd, &sb) != 0)
        st = err_set(SCANN_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        st = err_set(SCANN_ERR_IO, "%s: cannot read: %s", path, strerror(EISDIR));
    else if (!S_ISREG(sb.st_mode))
        st = err_set(SCANN_ERR_IO, "%s: cannot read: not a regular file", path);
    else if (sb.st_size == 0)
        st = err_set(SCANN_ERR_FORMAT, "%s: truncated: 0 bytes, shorter than the %d-byte header",
                     path, CTR_HEADER_BYTES);
    if (!st) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            st = err_set(SCANN_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        else
            *base = m, *len = (size_t)sb.st_size;
    }
    close(fd);
    return st;
}

scann_status scann_index_load_buffer(const void *buf, size_t len, scann_index **out)
{
    if (!buf || !out) return err_set(SCANN_ERR_INVALID_ARGUMENT, "load_buffer: buf or out is NULL");
    ctr_reader r = {.base = buf, .len = len, .name = "index buffer", .verify = 1};
    return load_index(&r, out);
}

scann_status persist_load_unverified(const void *buf, size_t len, scann_index **out)
{
    ctr_reader r = {.base = buf, .len = len, .name = "index buffer"};
    return load_index(&r, out);
}

/* Both file loads read through a private mapping: the pages are the page cache's, so nothing
 * is copied twice. A mapped load keeps the mapping, and the kinds point into it. */
static scann_status load_file(const char *path, int keep_mapped, scann_index **out)
{
    void *base = NULL;
    size_t len = 0;
    scann_status st = map_file(path, &base, &len);
    if (st) return st;
    ctr_reader r = {.base = base, .len = len, .name = path, .mapped = keep_mapped, .verify = 1};
    st = load_index(&r, out);
    if (st || !keep_mapped) {
        munmap(base, len);
        return st;
    }
    (*out)->map_base = base;
    (*out)->map_len = len;
    return SCANN_OK;
}

scann_status scann_index_load(const char *path, scann_index **out)
{
    if (!path || !out) return err_set(SCANN_ERR_INVALID_ARGUMENT, "load: path or out is NULL");
    return load_file(path, 0, out);
}

scann_status scann_index_load_mmap(const char *path, scann_index **out)
{
    if (!path || !out) return err_set(SCANN_ERR_INVALID_ARGUMENT, "load_mmap: path or out is NULL");
    return load_file(path, 1, out);
}
