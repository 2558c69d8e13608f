/*
 * format.h - index files (docs/FORMAT.md): the section writer and the validating reader each
 * index kind uses to save and load its state, the shared IVF list (de)serialization, and the
 * XXH64 checksum.
 *
 * A file is a 128-byte header (parameters, counts, checksums), sections at 64-byte aligned
 * offsets (each a tagged byte array with an XXH64 checksum) and a directory of the sections at
 * the end. format.c writes and checks the header and directory; a kind's save emits its
 * sections with fmt_section / fmt_begin..fmt_end, and its load asks for them by tag with
 * fmt_take, which hands back a pointer only after the section's length matched the count the
 * caller expects. Every section must be taken exactly once, so a file with a section the kind
 * does not expect is rejected too.
 *
 * Ownership: in a mapped load (scann_index_load_mmap, fmt_mapped() true) the bytes fmt_take
 * returns live as long as the index, 64-byte aligned, read-only; a kind may point its arrays
 * at them and must record that it did (ivf.mapped, the kind's own flag) so destroy does not
 * free them. Otherwise the bytes belong to the caller of the load, have no alignment promise
 * and must be copied (memcpy) before the load returns.
 */
#ifndef SCANN_FORMAT_H
#define SCANN_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "index.h"
#include "ivf.h"

/* Section tags: four ASCII bytes, stored little-endian so a hex dump shows the name. */
#define FMT_TAG(a, b, c, d)                                                                        \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define FMT_VECS FMT_TAG('V', 'E', 'C', 'S') /* FLAT: ntotal x dim float32 */
#define FMT_IDS FMT_TAG('I', 'D', 'S', ' ')  /* ntotal int64 external ids */
#define FMT_CENT FMT_TAG('C', 'E', 'N', 'T') /* nlist x dim float32 partition centres */
#define FMT_LSIZ FMT_TAG('L', 'S', 'I', 'Z') /* nlist uint64 list sizes */
#define FMT_CODE FMT_TAG('C', 'O', 'D', 'E') /* ntotal x code_size bytes, list order */
#define FMT_BLKS FMT_TAG('B', 'L', 'K', 'S') /* SCANN: packed 4-bit blocks, list order */
#define FMT_CDBK FMT_TAG('C', 'D', 'B', 'K') /* PQ codebooks: ksub x dim float32 */
#define FMT_RROW FMT_TAG('R', 'R', 'O', 'W') /* ntotal x row_bytes rerank rows, list order */
#define FMT_NXID FMT_TAG('N', 'X', 'I', 'D') /* u64: the next automatic id (version 2) */
#define FMT_SRCH FMT_TAG('S', 'R', 'C', 'H') /* i32: default reorder_k, when set (version 2) */

typedef struct fmt_writer fmt_writer;
typedef struct fmt_reader fmt_reader;

/* ---- writing (a kind's save) ----------------------------------------------------------- */

/* Open a section; its bytes are then given with fmt_put, and fmt_end closes it. Errors stick:
 * after the first failure every call returns it and writes nothing, so a save may chain calls
 * and check the last status. */
scann_status fmt_begin(fmt_writer *w, uint32_t tag);
scann_status fmt_put(fmt_writer *w, const void *p, size_t n);
scann_status fmt_end(fmt_writer *w);
/* A whole section in one call. */
scann_status fmt_section(fmt_writer *w, uint32_t tag, const void *p, size_t n);
/* An ivf's sections: CENT, LSIZ, IDS, then CODE (when code_size > 0) and RROW (when
 * extra_size > 0), lists concatenated in list order. */
scann_status fmt_put_ivf(fmt_writer *w, const ivf *v);

/* ---- reading (a kind's load) ----------------------------------------------------------- */

/* Whether the load maps the file: taken bytes may then be kept (see the file comment). */
int fmt_mapped(const fmt_reader *r);
/* A SCANN_ERR_FORMAT error, its message prefixed with the file name (or "index buffer"). */
scann_status fmt_fail(const fmt_reader *r, const char *fmt, ...) SCANN_PRINTF(2, 3);
/*
 * The section tagged tag, which must hold exactly count elements of elem bytes; *data points
 * at its first byte. Fails when the section is missing, was taken before, or has another
 * length (the message names the section and both sizes).
 */
scann_status fmt_take(fmt_reader *r, uint32_t tag, uint64_t count, size_t elem,
                      const uint8_t **data);
/* Take a section of count float32 values, copy them into out and check they are finite. */
scann_status fmt_take_floats(fmt_reader *r, uint32_t tag, size_t count, float *out);
/* Fail unless x[0..n) are all finite (x is aligned: a copy or mapped bytes). */
scann_status fmt_check_finite(const fmt_reader *r, uint32_t tag, const float *x, size_t n);
/*
 * Rebuild v (nlist = ix->p.nlist, dim = ix->p.dim) from the sections fmt_put_ivf wrote: list
 * sizes must sum to ix->ntotal and each fit 2^32 - 1, ids must be >= 0, centres finite;
 * cnorm2 is recomputed with ix->dk. Lists point into a mapping (v->mapped set, cap 0) or own
 * exact-size copies (cap = size). On failure v is released and zeroed.
 */
scann_status fmt_take_ivf(fmt_reader *r, const scann_index *ix, ivf *v, size_t code_size,
                          size_t extra_size);

/* scann_index_load_buffer without the checksum comparisons, for the fuzzer (tests/fuzz_load.c):
 * random mutations then reach the checks behind the checksums. Never use it for real files. */
scann_status fmt_load_unverified(const void *buf, size_t len, scann_index **out);

/* ---- checksum -------------------------------------------------------------------------- */

/* XXH64 (Yann Collet's xxHash, 64-bit variant) of p[0..n) with the given seed. */
uint64_t fmt_xxh64(const void *p, size_t n, uint64_t seed);

#endif
