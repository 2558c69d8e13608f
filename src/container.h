/*
 * container.h - the checksummed container of index files (docs/FORMAT.md, "Layout"): a 128-byte
 * header, tagged sections at 64-byte aligned offsets, a directory of them at the end, XXH64
 * over every part. It knows nothing of index kinds: the caller owns header bytes 48..119 and
 * the meaning of each tag, and hands the reader the table of tags it accepts.
 *
 * Writing: ctr_write_fd / ctr_write_buffer run the caller's body, which emits sections with
 * ctr_section or ctr_begin / ctr_put / ctr_end; the container pads, hashes, writes the
 * directory and stores the header last. Errors stick: after the first failure every call
 * returns it and writes nothing, so a body may chain calls and check the last status.
 *
 * Reading: ctr_open checks everything but the sections' meaning (magic, version, sizes,
 * canonical offsets, zero padding, known and unique tags, every checksum). The caller then
 * takes sections by tag with the exact length its counts imply (ctr_take), so nothing is
 * allocated that the input's bytes do not account for, and ctr_untaken finds a section nobody
 * asked for. In a mapped load (ctr_mapped) taken bytes live as long as the mapping, 64-byte
 * aligned and read-only; otherwise they belong to the caller of the load and must be copied.
 */
#ifndef SCANN_CONTAINER_H
#define SCANN_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "index files store and map little-endian arrays as they are: add byte swapping for this host"
#endif

#define CTR_HEADER_BYTES 128
#define CTR_USER_FIRST 48 /* header bytes [48, 120) are the caller's */
#define CTR_MAX_SECTIONS 16
/* Tags: four ASCII bytes, stored little-endian so a hex dump shows the name. */
#define CTR_TAG(a, b, c, d)                                                                        \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

static inline void ctr_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ctr_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t ctr_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ctr_get64(const uint8_t *p)
{
    return (uint64_t)ctr_get32(p) | (uint64_t)ctr_get32(p + 4) << 32;
}

/* XXH64 (xxHash's 64-bit hash, Debian's libxxhash) of p[0..n) with the given seed. */
uint64_t ctr_xxh64(const void *p, size_t n, uint64_t seed);

/* A tag the reader accepts and the words its messages use for it ("list sizes"). */
typedef struct ctr_tag {
    uint32_t tag;
    const char *what;
} ctr_tag;

typedef struct ctr_entry {
    uint32_t tag;
    uint64_t offset, length, checksum;
} ctr_entry;

/* ---- writing --------------------------------------------------------------------------- */

typedef struct ctr_writer ctr_writer;
typedef scann_status (*ctr_body)(ctr_writer *w, const void *ctx);

scann_status ctr_begin(ctr_writer *w, uint32_t tag);
scann_status ctr_put(ctr_writer *w, const void *p, size_t n);
scann_status ctr_end(ctr_writer *w);
scann_status ctr_section(ctr_writer *w, uint32_t tag, const void *p, size_t n);

/* The whole file to fd (name for messages): header bytes [48, 120) from user, the container's
 * fields (version among them) filled in. */
scann_status ctr_write_fd(int fd, const char *name, uint32_t version,
                          const uint8_t user[CTR_HEADER_BYTES], ctr_body body, const void *ctx);
/* The same bytes into one malloc'ed buffer of exactly their size (a counting pass first, so the
 * body runs twice and must emit the same bytes both times). */
scann_status ctr_write_buffer(uint32_t version, const uint8_t user[CTR_HEADER_BYTES], ctr_body body,
                              const void *ctx, void **buf, size_t *len);

/* ---- reading --------------------------------------------------------------------------- */

typedef struct ctr_reader {
    /* set by the caller before ctr_open */
    const uint8_t *base; /* the whole input */
    size_t len;
    const char *name;     /* the path, or "index buffer", for messages */
    int mapped;           /* base is a mapping that outlives what is loaded from it */
    int verify;           /* compare checksums (always, except for the fuzzer) */
    uint32_t version_max; /* versions 1..version_max are accepted */
    const ctr_tag *tags;  /* the tags a file may hold */
    int ntags;
    /* filled by ctr_open */
    uint32_t version;
    int nsec;
    ctr_entry sec[CTR_MAX_SECTIONS];
    int taken[CTR_MAX_SECTIONS];
} ctr_reader;

/* Validate the header, directory, padding and checksums of r->base[0..len). */
scann_status ctr_open(ctr_reader *r);
/* Whether taken bytes may be kept (see the file comment). */
int ctr_mapped(const ctr_reader *r);
/* A SCANN_ERR_FORMAT error, its message prefixed with r->name. */
scann_status ctr_fail(const ctr_reader *r, const char *fmt, ...) SCANN_PRINTF(2, 3);
/* The section tagged tag (NULL when absent) without taking it: its bytes and length. */
const ctr_entry *ctr_find(const ctr_reader *r, uint32_t tag);
/* The section tagged tag, which must hold exactly count elements of elem bytes. Fails when it
 * is missing, was taken before, or has another length (the message names both sizes). */
scann_status ctr_take(ctr_reader *r, uint32_t tag, uint64_t count, size_t elem,
                      const uint8_t **data);
/* Take count float32 values into out and check they are finite. */
scann_status ctr_take_floats(ctr_reader *r, uint32_t tag, size_t count, float *out);
/* Fail unless x[0..n) are all finite (x is aligned: a copy or mapped bytes). */
scann_status ctr_check_finite(const ctr_reader *r, uint32_t tag, const float *x, size_t n);
/* A format error naming the first section no one took ("does not belong in <where>"). */
scann_status ctr_check_all_taken(const ctr_reader *r, const char *where);

#endif
