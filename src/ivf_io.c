/* ivf_io.c - an ivf's sections in index files (ivf.h; docs/FORMAT.md, "Sections"). */
#include <stdlib.h>
#include <string.h>

#include "ivf.h"
#include "sections.h"

#define LIST_MAX 0xffffffffULL /* ivf_loc keeps a list offset in 32 bits */

scann_status ivf_save(ctr_writer *w, const ivf *v)
{
    size_t d = (size_t)v->d;
    ctr_section(w, SEC_CENT, v->centres, (size_t)v->nlist * d * sizeof(float));
    ctr_begin(w, SEC_LSIZ);
    for (int l = 0; l < v->nlist; l++) {
        uint8_t b[8];
        ctr_put64(b, (uint64_t)v->lists[l].size);
        ctr_put(w, b, sizeof b);
    }
    ctr_end(w);
    ctr_begin(w, SEC_IDS);
    for (int l = 0; l < v->nlist; l++)
        ctr_put(w, v->lists[l].ids, (size_t)v->lists[l].size * sizeof(int64_t));
    scann_status st = ctr_end(w);
    if (v->code_size) {
        ctr_begin(w, SEC_CODE);
        for (int l = 0; l < v->nlist; l++)
            ctr_put(w, v->lists[l].codes, (size_t)v->lists[l].size * v->code_size);
        st = ctr_end(w);
    }
    if (v->extra_size) {
        ctr_begin(w, SEC_RROW);
        for (int l = 0; l < v->nlist; l++)
            ctr_put(w, v->lists[l].extra, (size_t)v->lists[l].size * v->extra_size);
        st = ctr_end(w);
    }
    return st;
}

/* One list's ids, codes and rows: pointers into a mapping, or exact-size copies. */
static scann_status load_list(ctr_reader *r, ivf *v, ivf_list *L, const uint8_t *ids,
                              const uint8_t *codes, const uint8_t *extra, size_t s)
{
    if (v->mapped) { /* the mapping is read-only: nothing may write through these */
        L->ids = (int64_t *)ids;
        L->codes = (uint8_t *)codes;
        L->extra = (uint8_t *)extra;
        return SCANN_OK;
    }
    if (!L->ids) { /* no room in a slab (ivf_pack): exact-size arrays of its own */
        L->ids = malloc(s * sizeof(int64_t));
        L->codes = codes ? malloc(s * v->code_size) : NULL;
        L->extra = extra ? malloc(s * v->extra_size) : NULL;
    }
    if (!L->ids || (codes && !L->codes) || (extra && !L->extra))
        return err_nomem("IVF lists", s * (8 + v->code_size + v->extra_size));
    memcpy(L->ids, ids, s * sizeof(int64_t));
    if (codes) memcpy(L->codes, codes, s * v->code_size);
    if (extra) memcpy(L->extra, extra, s * v->extra_size);
    L->cap = L->size;
    return SCANN_OK;
}

scann_status ivf_load(ctr_reader *r, ivf *v, int nlist, int d, int64_t ntotal, const kernels *dk,
                      size_t code_size, size_t extra_size)
{
    uint64_t n = (uint64_t)ntotal;
    const uint8_t *sizes, *cent, *ids, *codes = NULL, *extra = NULL;
    scann_status st;
    memset(v, 0, sizeof *v);
    if (nlist < 1) return ctr_fail(r, "header: nlist=%d in a trained index (must be >= 1)", nlist);
    if ((st = ctr_take(r, SEC_LSIZ, (uint64_t)nlist, sizeof(uint64_t), &sizes))) return st;
    uint64_t sum = 0;
    for (int l = 0; l < nlist; l++) {
        uint64_t s = ctr_get64(sizes + 8 * (size_t)l);
        if (s > LIST_MAX)
            return ctr_fail(r,
                            "section LSIZ (list sizes): list %d has %llu vectors, more than "
                            "2^32 - 1",
                            l, (unsigned long long)s);
        sum += s; /* at most 2^31 lists of < 2^32: no overflow */
    }
    if (sum != n)
        return ctr_fail(r,
                        "section LSIZ (list sizes): the lists hold %llu vectors, the header's "
                        "ntotal is %llu",
                        (unsigned long long)sum, (unsigned long long)n);
    if ((st = ctr_take(r, SEC_CENT, (uint64_t)nlist * (uint64_t)d, sizeof(float), &cent)) ||
        (st = ctr_take(r, SEC_IDS, n, sizeof(int64_t), &ids)) ||
        (code_size && (st = ctr_take(r, SEC_CODE, n, code_size, &codes))) ||
        (extra_size && (st = ctr_take(r, SEC_RROW, n, extra_size, &extra))))
        return st;
    /* Every size is now backed by bytes of the input: allocating is safe. */
    if ((st = ivf_init(v, nlist, d, code_size, extra_size))) return st;
    memcpy(v->centres, cent, (size_t)nlist * d * sizeof(float));
    if ((st = ctr_check_finite(r, SEC_CENT, v->centres, (size_t)nlist * d))) goto fail;
    for (int l = 0; l < nlist; l++) {
        const float *c = v->centres + (size_t)l * d;
        v->cnorm2[l] = dk->ip(c, c, (size_t)d);
    }
    v->mapped = ctr_mapped(r);
    for (int l = 0; l < nlist; l++) v->lists[l].size = (int64_t)ctr_get64(sizes + 8 * (size_t)l);
    if (!v->mapped && (st = ivf_pack(v, NULL))) goto fail;
    uint64_t off = 0;
    for (int l = 0; l < nlist; l++) {
        ivf_list *L = &v->lists[l];
        size_t s = (size_t)ctr_get64(sizes + 8 * (size_t)l);
        L->size = (int64_t)s;
        if (s == 0) continue;
        if ((st = load_list(r, v, L, ids + off * sizeof(int64_t),
                            codes ? codes + off * code_size : NULL,
                            extra ? extra + off * extra_size : NULL, s)))
            goto fail;
        for (size_t i = 0; i < s; i++)
            if (L->ids[i] < 0) {
                st = ctr_fail(r, "section IDS (ids): id %llu (list %d) is %lld, ids must be >= 0",
                              (unsigned long long)(off + i), l, (long long)L->ids[i]);
                goto fail;
            }
        off += s;
    }
    return SCANN_OK;
fail:
    ivf_free(v);
    return st;
}
