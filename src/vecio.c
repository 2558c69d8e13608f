/*
 * vecio.c - reading and writing vector files: .fvecs, .ivecs, .bvecs, .npy, big-ann's .fbin
 * family and (through vecio_hdf5.c) ann-benchmarks' HDF5 files.
 *
 * Formats (chosen by the file's extension, case-insensitively)
 * - .fvecs / .ivecs / .bvecs: rows of [int32 LE dim][dim elements], the elements float32, int32
 *   or uint8. Every row must repeat the first row's dim.
 * - .npy: NumPy format 1.0, 2.0 or 3.0 in C order, little-endian. Float reads take '<f4', '<f2',
 *   '<f8', '|u1', '|i1', '<i4' and '<i8' (converted to float32); int reads take '<i4' and '<i8'
 *   (every value must fit in int32). Shape (n, d) is n rows of d; shape (n,) is one row of n.
 * - .fbin / .u8bin / .i8bin / .ibin (big-ann-benchmarks): [uint32 n][uint32 d] then n * d
 *   float32, uint8, int8 or int32 values; the file must be exactly that long.
 * - .hdf5 / .h5, optionally "file.hdf5:dataset": see vecio_hdf5.c.
 *
 * Invariants
 * - Sizes come from the file's real size, never from a header alone: anything a header claims
 *   is checked against fstat() before allocating, so a hostile file can make us allocate at most
 *   4x its size (uint8 rows widened to float), never more.
 * - The caller's outputs are assigned only on success; a failure frees everything it allocated
 *   and names the file and the problem in scann_last_error().
 * - Writers go through atomic_file.h (a unique temporary name, fsync, rename, directory
 *   fsync): readers never see a half written file, and a failed write leaves a previous file
 *   at path intact.
 * - Element bytes are copied as they are, so the host must be little-endian (checked below).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "atomic_file.h"
#include "error.h"
#include "vecio_hdf5.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vecio.c copies little-endian file data as is: add byte swapping for this host"
#endif

enum {
    MAX_DIM = 1 << 20,        /* larger "dimensions" are corrupt headers, not real data */
    CHUNK_BYTES = 8 << 20,    /* staging buffer: big enough that syscalls cost nothing */
    MAX_NPY_HEADER = 1 << 20, /* numpy itself refuses headers over 10 kB by default */
    IO_MAX = 1 << 30,         /* Linux transfers at most ~2 GiB per read/write call */
    NPY_PREFIX_MAX = 12,      /* magic (6) + version (2) + header length (2 or 4) */
};

typedef enum {
    FMT_FVECS,
    FMT_IVECS,
    FMT_BVECS,
    FMT_NPY,
    FMT_FBIN,
    FMT_U8BIN,
    FMT_I8BIN,
    FMT_IBIN,
    FMT_HDF5
} vec_format;
typedef enum { ELEM_F32, ELEM_I32, ELEM_U8, ELEM_I8, ELEM_F16, ELEM_F64, ELEM_I64 } elem_type;

/* An open input file and the size everything is checked against. */
typedef struct {
    const char *path;
    int fd;
    int64_t size;
} vfile;

/* What a read produced, handed to the caller's pointers only on success. */
typedef struct {
    void *data;
    int64_t n;
    int dim;
} vec_result;

static int32_t le32(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (int32_t)u;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static int elem_size(elem_type t)
{
    static const int size[] = {[ELEM_F32] = 4, [ELEM_I32] = 4, [ELEM_U8] = 1, [ELEM_I8] = 1,
                               [ELEM_F16] = 2, [ELEM_F64] = 8, [ELEM_I64] = 8};
    return size[t];
}

/* n rows of dim 4-byte values fit in size_t (and so in one malloc). */
static bool fits_rows(int64_t n, int dim)
{
    return n >= 0 && dim > 0 && (uint64_t)n <= SIZE_MAX / 4 / (size_t)dim;
}

/* ---- file names ------------------------------------------------------------------------ */

#define KNOWN_EXTS ".fvecs, .ivecs, .bvecs, .npy, .fbin, .u8bin, .i8bin, .ibin or .hdf5"

static scann_status format_of(const char *path, vec_format *out)
{
    if (vecio_hdf5_split(path, NULL, 0, NULL)) {
        *out = FMT_HDF5;
        return SCANN_OK;
    }
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "%s: no file extension (expected " KNOWN_EXTS ")", path);
    static const struct {
        const char *ext;
        vec_format fmt;
    } known[] = {{".fvecs", FMT_FVECS}, {".ivecs", FMT_IVECS}, {".bvecs", FMT_BVECS},
                 {".npy", FMT_NPY},     {".fbin", FMT_FBIN},   {".u8bin", FMT_U8BIN},
                 {".i8bin", FMT_I8BIN}, {".ibin", FMT_IBIN}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcasecmp(dot, known[i].ext) == 0) {
            *out = known[i].fmt;
            return SCANN_OK;
        }
    }
    return err_set(SCANN_ERR_INVALID_ARGUMENT,
                   "%s: unknown extension '%s' (expected " KNOWN_EXTS ")", path, dot);
}

/* ---- reading: plumbing ----------------------------------------------------------------- */

static scann_status vfile_open(vfile *f, const char *path)
{
    f->path = path;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) return err_set(SCANN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    const char *why = NULL;
    if (fstat(f->fd, &st) != 0)
        why = strerror(errno);
    else if (S_ISDIR(st.st_mode))
        why = strerror(EISDIR);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file"; /* pipes and devices have no size to check against */
    if (why) {
        close(f->fd);
        return err_set(SCANN_ERR_IO, "%s: cannot read: %s", path, why);
    }
    f->size = (int64_t)st.st_size;
    return SCANN_OK;
}

/* Read exactly len bytes at offset off. pread keeps no file position to get out of sync. */
static scann_status read_at(const vfile *f, void *buf, size_t len, int64_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t got = pread(f->fd, p, len < IO_MAX ? len : IO_MAX, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0)
            return err_set(SCANN_ERR_IO, "%s: read failed at byte %lld: %s", f->path,
                           (long long)off, strerror(errno));
        if (got == 0) /* the file shrank after fstat: what we have no longer adds up */
            return err_set(SCANN_ERR_FORMAT,
                           "%s: ended at byte %lld, before its size of %lld "
                           "(truncated while being read?)",
                           f->path, (long long)off, (long long)f->size);
        p += got;
        off += got;
        len -= (size_t)got;
    }
    return SCANN_OK;
}

/* ---- reading: .fvecs / .ivecs / .bvecs ------------------------------------------------- */

/* IEEE binary16 to binary32; exact for every half, NaN payloads included. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t u;
    float f;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | man << 13;
    } else if (exp != 0) {
        u = sign | (exp + 112) << 23 | man << 13; /* rebias: 127 - 15 */
    } else {
        f = ldexpf((float)man, -24); /* zero or subnormal: man * 2^-24 is exact in float */
        return sign ? -f : f;
    }
    memcpy(&f, &u, 4);
    return f;
}

/*
 * Convert count elements from src (file bytes, no alignment guarantee) into dst: float32, or
 * int32 when out_int. Returns the index of the first int64 that does not fit in int32, or -1.
 */
static int64_t convert_elems(void *dst, const unsigned char *src, size_t count, elem_type in,
                             bool out_int)
{
    float *f = dst;
    int32_t *o = dst;
    for (size_t j = 0; j < count; j++) {
        const unsigned char *e = src + j * (size_t)elem_size(in);
        float fv = 0;
        int32_t i32;
        int64_t i64;
        double f64;
        uint16_t h;
        switch (in) {
        case ELEM_F32: memcpy(&fv, e, 4); break;
        case ELEM_U8: fv = (float)e[0]; break;
        case ELEM_I8: fv = (float)(int8_t)e[0]; break;
        case ELEM_F16:
            memcpy(&h, e, 2);
            fv = half_to_float(h);
            break;
        case ELEM_F64:
            memcpy(&f64, e, 8);
            fv = (float)f64;
            break;
        case ELEM_I32:
            memcpy(&i32, e, 4);
            if (out_int) o[j] = i32;
            fv = (float)i32;
            break;
        case ELEM_I64:
            memcpy(&i64, e, 8);
            if (out_int && (i64 < INT32_MIN || i64 > INT32_MAX)) return (int64_t)j;
            if (out_int) o[j] = (int32_t)i64;
            fv = (float)i64;
            break;
        }
        if (!out_int) f[j] = fv;
    }
    return -1;
}

/* Check the dim header of each of rows staged rows and convert them into out at row first. */
static scann_status unpack_rows(const vfile *f, const unsigned char *buf, int64_t first,
                                int64_t rows, int dim, elem_type in, bool out_int, char *out)
{
    size_t row_bytes = 4 + (size_t)dim * (size_t)elem_size(in);
    size_t out_row = (size_t)dim * 4;
    for (int64_t r = 0; r < rows; r++) {
        const unsigned char *row = buf + (size_t)r * row_bytes;
        int32_t d = le32(row);
        if (d != dim)
            return err_set(SCANN_ERR_FORMAT,
                           "%s: row %lld has dimension %d, but the first row "
                           "has %d",
                           f->path, (long long)(first + r), (int)d, dim);
        convert_elems(out + (size_t)(first + r) * out_row, row + 4, (size_t)dim, in, out_int);
    }
    return SCANN_OK;
}

/*
 * Stream n rows through a staging buffer of whole rows. One copy out of the buffer costs far
 * less than the read itself and keeps the dim check and conversion simple.
 */
static scann_status copy_rows(const vfile *f, int64_t n, int dim, elem_type in, bool out_int,
                              void *out)
{
    int64_t row_bytes = 4 + (int64_t)dim * elem_size(in);
    int64_t chunk = CHUNK_BYTES / row_bytes;
    if (chunk < 1) chunk = 1;
    if (chunk > n) chunk = n;
    unsigned char *buf = malloc((size_t)(chunk * row_bytes));
    if (!buf) return err_nomem("a vector file read buffer", (size_t)(chunk * row_bytes));
    scann_status s = SCANN_OK;
    for (int64_t r0 = 0; r0 < n && s == SCANN_OK; r0 += chunk) {
        int64_t rows = n - r0 < chunk ? n - r0 : chunk;
        s = read_at(f, buf, (size_t)(rows * row_bytes), r0 * row_bytes);
        if (s == SCANN_OK) s = unpack_rows(f, buf, r0, rows, dim, in, out_int, out);
    }
    free(buf);
    return s;
}

/* The first row's dim, which every other row must repeat. */
static scann_status first_dim(const vfile *f, int *dim)
{
    if (f->size == 0) return err_set(SCANN_ERR_FORMAT, "%s: file is empty", f->path);
    if (f->size < 4)
        return err_set(SCANN_ERR_FORMAT,
                       "%s: file is %lld bytes, too short for a row's "
                       "dimension header",
                       f->path, (long long)f->size);
    unsigned char hdr[4];
    scann_status s = read_at(f, hdr, 4, 0);
    if (s != SCANN_OK) return s;
    int32_t d = le32(hdr);
    if (d < 1 || d > MAX_DIM)
        return err_set(SCANN_ERR_FORMAT,
                       "%s: first row has dimension %d, outside [1, %d] (not "
                       "a vecs file, or corrupt)",
                       f->path, (int)d, MAX_DIM);
    *dim = d;
    return SCANN_OK;
}

static scann_status read_rows(const vfile *f, elem_type in, bool out_int, int64_t limit,
                              vec_result *r)
{
    int dim = 0; /* err_set's status is opaque to the compiler: initialise for -Wall */
    scann_status s = first_dim(f, &dim);
    if (s != SCANN_OK) return s;
    int64_t row_bytes = 4 + (int64_t)dim * elem_size(in);
    int64_t n = f->size / row_bytes;
    if (n == 0)
        return err_set(SCANN_ERR_FORMAT,
                       "%s: file is %lld bytes, shorter than one row of "
                       "dimension %d (%lld bytes)",
                       f->path, (long long)f->size, dim, (long long)row_bytes);
    if (!fits_rows(n, dim)) return err_nomem("vectors", SIZE_MAX);
    /* A limit reads the first rows only; the size check below still covers the whole file. */
    int64_t keep = limit > 0 && limit < n ? limit : n;
    size_t bytes = (size_t)keep * (size_t)dim * 4;
    void *data = malloc(bytes);
    if (!data) return err_nomem("vectors read from a file", bytes);
    /* Rows first: a row of another dim usually also breaks the size, and naming it helps more. */
    s = copy_rows(f, keep, dim, in, out_int, data);
    if (s == SCANN_OK && f->size % row_bytes != 0)
        s = err_set(SCANN_ERR_FORMAT,
                    "%s: file size %lld is not a multiple of the row size %lld "
                    "(dimension %d): %lld stray bytes after row %lld (truncated?)",
                    f->path, (long long)f->size, (long long)row_bytes, dim,
                    (long long)(f->size % row_bytes), (long long)(n - 1));
    if (s != SCANN_OK) {
        free(data);
        return s;
    }
    *r = (vec_result){data, keep, dim};
    return SCANN_OK;
}

/*
 * Read n * dim elements of type in that start at byte off, through a staging buffer, into a new
 * array of float32 (or int32 when out_int). The caller has checked that they lie in the file.
 */
static scann_status read_dense(const vfile *f, int64_t off, int64_t n, int dim, elem_type in,
                               bool out_int, void **out)
{
    if (!fits_rows(n, dim)) return err_nomem("vectors", SIZE_MAX);
    size_t total = (size_t)n * (size_t)dim, bytes = total * 4;
    char *data = malloc(bytes);
    if (!data) return err_nomem("vectors read from a file", bytes);
    size_t esz = (size_t)elem_size(in), chunk = CHUNK_BYTES / esz;
    unsigned char *buf = in == ELEM_F32 || (in == ELEM_I32 && out_int) ? NULL : malloc(CHUNK_BYTES);
    scann_status s = SCANN_OK;
    if (in == ELEM_F32 || (in == ELEM_I32 && out_int)) {
        s = read_at(f, data, bytes, off); /* C order on disk is already our row-major layout */
    } else if (!buf) {
        s = err_nomem("a vector file read buffer", CHUNK_BYTES);
    } else {
        for (size_t e0 = 0; e0 < total && s == SCANN_OK; e0 += chunk) {
            size_t m = total - e0 < chunk ? total - e0 : chunk;
            s = read_at(f, buf, m * esz, off + (int64_t)(e0 * esz));
            int64_t bad = s == SCANN_OK ? convert_elems(data + e0 * 4, buf, m, in, out_int) : -1;
            if (bad >= 0)
                s = err_set(SCANN_ERR_FORMAT,
                            "%s: value at row %lld, column %lld does not fit "
                            "in int32",
                            f->path, (long long)((int64_t)e0 + bad) / dim,
                            (long long)((int64_t)e0 + bad) % dim);
        }
    }
    free(buf);
    if (s != SCANN_OK) {
        free(data);
        return s;
    }
    *out = data;
    return SCANN_OK;
}

/* ---- reading: .fbin / .u8bin / .i8bin / .ibin ------------------------------------------ */

static scann_status read_bin(const vfile *f, elem_type in, bool out_int, int64_t limit,
                             vec_result *r)
{
    if (f->size == 0) return err_set(SCANN_ERR_FORMAT, "%s: file is empty", f->path);
    if (f->size < 8)
        return err_set(SCANN_ERR_FORMAT,
                       "%s: file is %lld bytes, too short for the 8-byte "
                       "(n, d) header",
                       f->path, (long long)f->size);
    unsigned char hdr[8];
    scann_status s = read_at(f, hdr, 8, 0);
    if (s != SCANN_OK) return s;
    int64_t n = (uint32_t)le32(hdr), d = (uint32_t)le32(hdr + 4);
    int64_t esz = elem_size(in), avail = f->size - 8;
    if (d < 1 || d > MAX_DIM)
        return err_set(SCANN_ERR_FORMAT,
                       "%s: header dimension %lld is outside [1, %d] (not a "
                       ".bin vector file, or corrupt)",
                       f->path, (long long)d, MAX_DIM);
    if (n < 1) return err_set(SCANN_ERR_FORMAT, "%s: header says 0 vectors", f->path);
    if (n > avail / esz / d || n * d * esz != avail)
        return err_set(SCANN_ERR_FORMAT,
                       "%s: header says %lld x %lld values of %lld bytes "
                       "(%lld bytes) but %lld bytes follow (%s)",
                       f->path, (long long)n, (long long)d, (long long)esz,
                       (long long)(n * d * esz), (long long)avail,
                       n > avail / esz / d ? "truncated" : "trailing garbage");
    int64_t keep = limit > 0 && limit < n ? limit : n;
    void *data = NULL;
    s = read_dense(f, 8, keep, (int)d, in, out_int, &data);
    if (s != SCANN_OK) return s;
    *r = (vec_result){data, keep, (int)d};
    return SCANN_OK;
}

/* ---- reading: .npy header parser -------------------------------------------------------- */

/*
 * The header is a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (1000, 128), }
 * parsed strictly enough to refuse anything numpy would not write. The text is not
 * NUL-terminated: every step checks against end.
 */
typedef struct {
    const char *p, *end;
    const char *why; /* first problem found, static text */
} cursor;

typedef struct {
    char descr[16];
    int fortran; /* -1 until seen */
    int ndim;    /* -1 until seen */
    int64_t shape[2];
} npy_header;

static bool fail(cursor *c, const char *why)
{
    if (!c->why) c->why = why;
    return false;
}

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p != ch) return false;
    c->p++;
    return true;
}

static bool parse_str(cursor *c, char *buf, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return fail(c, "expected a quoted string (structured dtypes are not supported)");
    char quote = *c->p++;
    size_t len = 0;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\') return fail(c, "escapes in strings are not supported");
        if (len + 1 >= cap) return fail(c, "string too long");
        buf[len++] = *c->p++;
    }
    if (c->p >= c->end) return fail(c, "unterminated string");
    c->p++;
    buf[len] = '\0';
    return true;
}

static bool parse_int(cursor *c, int64_t *out)
{
    skip_ws(c);
    const char *start = c->p;
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        int digit = *c->p++ - '0';
        if (v > (INT64_MAX - digit) / 10) return fail(c, "shape value does not fit in 64 bits");
        v = v * 10 + digit;
    }
    if (c->p == start) return fail(c, "expected a non-negative integer in 'shape'");
    if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 long literal, from old numpy */
    *out = v;
    return true;
}

static bool parse_bool(cursor *c, int *out)
{
    skip_ws(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        c->p += 4;
        *out = 1;
        return true;
    }
    if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        c->p += 5;
        *out = 0;
        return true;
    }
    return fail(c, "expected True or False for 'fortran_order'");
}

/* A tuple of integers; only the first two are kept, ndim counts them all. */
static bool parse_shape(cursor *c, npy_header *h)
{
    if (!eat(c, '(')) return fail(c, "expected '(' to open 'shape'");
    h->ndim = 0;
    while (!eat(c, ')')) {
        int64_t v;
        if (!parse_int(c, &v)) return false;
        if (h->ndim < 2) h->shape[h->ndim] = v;
        h->ndim++; /* bounded by the header length, so it cannot overflow */
        if (eat(c, ',')) continue;
        if (eat(c, ')')) break;
        return fail(c, "expected ',' or ')' in 'shape'");
    }
    return true;
}

static bool parse_entry(cursor *c, npy_header *h)
{
    char key[32];
    if (!parse_str(c, key, sizeof key)) return false;
    if (!eat(c, ':')) return fail(c, "expected ':' after a key");
    if (strcmp(key, "descr") == 0) return parse_str(c, h->descr, sizeof h->descr);
    if (strcmp(key, "fortran_order") == 0) return parse_bool(c, &h->fortran);
    if (strcmp(key, "shape") == 0) return parse_shape(c, h);
    return fail(c, "unknown key (only 'descr', 'fortran_order' and 'shape' are allowed)");
}

static bool parse_dict(cursor *c, npy_header *h)
{
    if (!eat(c, '{')) return fail(c, "expected '{'");
    while (!eat(c, '}')) {
        if (!parse_entry(c, h)) return false;
        if (eat(c, ',')) continue;
        if (eat(c, '}')) break;
        return fail(c, "expected ',' or '}'");
    }
    skip_ws(c); /* numpy pads with spaces and a final newline */
    if (c->p != c->end) return fail(c, "unexpected text after the dictionary");
    if (!h->descr[0] || h->fortran < 0 || h->ndim < 0)
        return fail(c, "missing 'descr', 'fortran_order' or 'shape'");
    return true;
}

/* ---- reading: .npy --------------------------------------------------------------------- */

/* Magic and version; sets where the header text starts and how long it is. */
static scann_status npy_prefix(const vfile *f, int64_t *hstart, int64_t *hlen)
{
    if (f->size == 0) return err_set(SCANN_ERR_FORMAT, "%s: file is empty", f->path);
    unsigned char pre[NPY_PREFIX_MAX];
    size_t got = f->size < NPY_PREFIX_MAX ? (size_t)f->size : NPY_PREFIX_MAX;
    scann_status s = read_at(f, pre, got, 0);
    if (s != SCANN_OK) return s;
    if (got < 6 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return err_set(SCANN_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", f->path);
    int major = got > 6 ? pre[6] : -1;
    if (major < 1 || major > 3)
        return err_set(SCANN_ERR_FORMAT, "%s: unsupported .npy format version %d", f->path, major);
    *hstart = major == 1 ? 10 : 12; /* 1.0 has a 2-byte header length, 2.0 and 3.0 4 bytes */
    if ((int64_t)got < *hstart)
        return err_set(SCANN_ERR_FORMAT, "%s: .npy prefix truncated (%lld bytes)", f->path,
                       (long long)f->size);
    *hlen = major == 1 ? (int64_t)(pre[8] | pre[9] << 8) : (int64_t)(uint32_t)le32(pre + 8);
    if (*hlen > f->size - *hstart)
        return err_set(SCANN_ERR_FORMAT,
                       "%s: .npy header claims %lld bytes but only %lld follow "
                       "(truncated)",
                       f->path, (long long)*hlen, (long long)(f->size - *hstart));
    if (*hlen > MAX_NPY_HEADER)
        return err_set(SCANN_ERR_FORMAT, "%s: .npy header of %lld bytes is implausibly large",
                       f->path, (long long)*hlen);
    return SCANN_OK;
}

static scann_status npy_header_read(const vfile *f, npy_header *h, int64_t *data_off)
{
    int64_t hstart = 0, hlen = 0;
    scann_status s = npy_prefix(f, &hstart, &hlen);
    if (s != SCANN_OK) return s;
    char *text = malloc((size_t)hlen + 1); /* + 1: malloc(0) may return NULL */
    if (!text) return err_nomem(".npy header", (size_t)hlen + 1);
    s = read_at(f, text, (size_t)hlen, hstart);
    *h = (npy_header){.fortran = -1, .ndim = -1};
    cursor c = {text, text + hlen, NULL};
    if (s == SCANN_OK && !parse_dict(&c, h))
        s = err_set(SCANN_ERR_FORMAT, "%s: malformed .npy header at byte %lld: %s", f->path,
                    (long long)(hstart + (c.p - text)), c.why);
    free(text);
    *data_off = hstart + hlen;
    return s;
}

/* The dtypes we read, as numpy spells them; '|' and '<' both appear for one-byte types. */
static bool npy_elem(const char *descr, elem_type *t)
{
    static const struct {
        const char *descr;
        elem_type t;
    } known[] = {{"<f4", ELEM_F32}, {"<f2", ELEM_F16}, {"<f8", ELEM_F64},
                 {"|u1", ELEM_U8},  {"<u1", ELEM_U8},  {"|i1", ELEM_I8},
                 {"<i1", ELEM_I8},  {"<i4", ELEM_I32}, {"<i8", ELEM_I64}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(descr, known[i].descr) == 0) {
            *t = known[i].t;
            return true;
        }
    }
    return false;
}

/* Turn a parsed header into rows and columns that the data after it matches exactly. */
static scann_status npy_layout(const vfile *f, const npy_header *h, bool want_int, int64_t data_off,
                               elem_type *t, int64_t *rows, int *cols)
{
    if (!npy_elem(h->descr, t) || (want_int && *t != ELEM_I32 && *t != ELEM_I64))
        return err_set(SCANN_ERR_FORMAT,
                       "%s: .npy dtype '%s' is not supported here; expected "
                       "%s",
                       f->path, h->descr,
                       want_int ? "'<i4' or '<i8' (int32 or int64)"
                                : "'<f4', '<f2', '<f8', '|u1', '|i1', '<i4' or '<i8'");
    if (h->fortran)
        return err_set(SCANN_ERR_FORMAT,
                       "%s: .npy array is in Fortran (column-major) order; "
                       "save a C-ordered array (numpy.ascontiguousarray)",
                       f->path);
    if (h->ndim != 1 && h->ndim != 2)
        return err_set(SCANN_ERR_FORMAT, "%s: .npy array has %d dimensions; expected 1 or 2",
                       f->path, h->ndim);
    int64_t n = h->ndim == 1 ? 1 : h->shape[0];
    int64_t d = h->ndim == 1 ? h->shape[0] : h->shape[1];
    int64_t esz = elem_size(*t);
    if (d < 1 || d > MAX_DIM)
        return err_set(SCANN_ERR_FORMAT, "%s: .npy rows have %lld values, outside [1, %d]", f->path,
                       (long long)d, MAX_DIM);
    if (n < 1) return err_set(SCANN_ERR_FORMAT, "%s: .npy array holds no vectors", f->path);
    int64_t avail = f->size - data_off;
    /* Divide rather than multiply: a hostile n * d * esz may not even fit in 64 bits. */
    if (n > avail / esz / d)
        return err_set(SCANN_ERR_FORMAT,
                       "%s: .npy data is %lld bytes, less than shape (%lld, "
                       "%lld) needs (truncated)",
                       f->path, (long long)avail, (long long)n, (long long)d);
    if (n * d * esz != avail)
        return err_set(SCANN_ERR_FORMAT,
                       "%s: .npy data is %lld bytes, more than the %lld shape "
                       "(%lld, %lld) needs (trailing garbage)",
                       f->path, (long long)avail, (long long)(n * d * esz), (long long)n,
                       (long long)d);
    *rows = n;
    *cols = (int)d;
    return SCANN_OK;
}

static scann_status read_npy(const vfile *f, bool want_int, int64_t limit, vec_result *r)
{
    npy_header h;
    int64_t off = 0, n = 0;
    int dim = 0;
    elem_type t = ELEM_F32;
    scann_status s = npy_header_read(f, &h, &off);
    if (s == SCANN_OK) s = npy_layout(f, &h, want_int, off, &t, &n, &dim);
    if (s != SCANN_OK) return s;
    int64_t keep = limit > 0 && limit < n ? limit : n;
    void *data = NULL;
    s = read_dense(f, off, keep, dim, t, want_int, &data);
    if (s != SCANN_OK) return s;
    *r = (vec_result){data, keep, dim};
    return SCANN_OK;
}

/* ---- reading: entry points ------------------------------------------------------------- */

static scann_status read_any(const char *path, bool want_int, int64_t limit, vec_result *r)
{
    vec_format fmt;
    scann_status s = format_of(path, &fmt);
    if (s != SCANN_OK) return s;
    if (want_int && fmt != FMT_IVECS && fmt != FMT_NPY && fmt != FMT_IBIN && fmt != FMT_HDF5)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "%s: int32 rows can only be read from .ivecs, "
                       ".ibin, .npy or .hdf5 files",
                       path);
    if (fmt == FMT_HDF5) return vecio_hdf5_read(path, want_int, limit, &r->data, &r->n, &r->dim);
    vfile f = {path, -1, 0};
    s = vfile_open(&f, path);
    if (s != SCANN_OK) return s;
    static const elem_type elem[] = {
        [FMT_FVECS] = ELEM_F32, [FMT_IVECS] = ELEM_I32, [FMT_BVECS] = ELEM_U8,
        [FMT_FBIN] = ELEM_F32,  [FMT_U8BIN] = ELEM_U8,  [FMT_I8BIN] = ELEM_I8,
        [FMT_IBIN] = ELEM_I32};
    if (fmt == FMT_NPY)
        s = read_npy(&f, want_int, limit, r);
    else if (fmt >= FMT_FBIN)
        s = read_bin(&f, elem[fmt], want_int, limit, r);
    else
        s = read_rows(&f, elem[fmt], want_int, limit, r);
    close(f.fd); /* read-only: a close error cannot lose data */
    return s;
}

static scann_status check_read_args(const char *fn, const char *path, const void *data,
                                    const void *n, const void *dim)
{
    const char *null = !path ? "path" : !data ? "data" : !n ? "n" : !dim ? "dim" : NULL;
    if (null) return err_set(SCANN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, null);
    return SCANN_OK;
}

scann_status scann_vecs_read_limit(const char *path, int64_t max_rows, float **data, int64_t *n,
                                   int *dim)
{
    scann_status s = check_read_args("scann_vecs_read", path, data, n, dim);
    vec_result r;
    if (s == SCANN_OK) s = read_any(path, false, max_rows > 0 ? max_rows : 0, &r);
    if (s != SCANN_OK) return s;
    *data = r.data;
    *n = r.n;
    *dim = r.dim;
    return SCANN_OK;
}

scann_status scann_vecs_read(const char *path, float **data, int64_t *n, int *dim)
{
    return scann_vecs_read_limit(path, 0, data, n, dim);
}

scann_status scann_vecs_metric(const char *path, scann_metric *metric)
{
    if (!path || !metric)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "scann_vecs_metric: %s is NULL",
                       !path ? "path" : "metric");
    if (!vecio_hdf5_split(path, NULL, 0, NULL))
        return err_set(SCANN_ERR_UNSUPPORTED, "%s: only HDF5 files record a metric", path);
    return vecio_hdf5_metric(path, metric);
}

scann_status scann_ivecs_read(const char *path, int32_t **data, int64_t *n, int *dim)
{
    scann_status s = check_read_args("scann_ivecs_read", path, data, n, dim);
    vec_result r;
    if (s == SCANN_OK) s = read_any(path, true, 0, &r);
    if (s != SCANN_OK) return s;
    *data = r.data;
    *n = r.n;
    *dim = r.dim;
    return SCANN_OK;
}

void scann_buffer_free(void *p) { free(p); }

/* ---- writing --------------------------------------------------------------------------- */

static scann_status io_fail(const char *path, const char *what, int e)
{
    return err_set(SCANN_ERR_IO, "%s: %s: %s", path, what, strerror(e));
}

static scann_status write_all(const atomic_file *w, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t put = write(w->fd, p, len < IO_MAX ? len : IO_MAX);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) return io_fail(w->path, "write failed", errno);
        p += put;
        len -= (size_t)put;
    }
    return SCANN_OK;
}

/* Rows as [int32 dim][dim 4-byte values], staged in big chunks to keep syscalls few. */
static scann_status write_rows(const atomic_file *w, const void *data, int64_t n, int dim)
{
    size_t payload = (size_t)dim * 4, row_bytes = 4 + payload;
    int64_t chunk = CHUNK_BYTES / (int64_t)row_bytes;
    if (chunk < 1) chunk = 1;
    if (chunk > n) chunk = n;
    unsigned char *buf = malloc((size_t)chunk * row_bytes);
    if (!buf) return err_nomem("a vector file write buffer", (size_t)chunk * row_bytes);
    scann_status s = SCANN_OK;
    for (int64_t r0 = 0; r0 < n && s == SCANN_OK; r0 += chunk) {
        int64_t rows = n - r0 < chunk ? n - r0 : chunk;
        for (int64_t r = 0; r < rows; r++) {
            unsigned char *row = buf + (size_t)r * row_bytes;
            put_le32(row, (uint32_t)dim);
            memcpy(row + 4, (const char *)data + (size_t)(r0 + r) * payload, payload);
        }
        s = write_all(w, buf, (size_t)rows * row_bytes);
    }
    free(buf);
    return s;
}

/*
 * A version 1.0 header as numpy writes it: the dict padded with spaces and a final newline so
 * that the data starts at a multiple of 64 bytes (numpy's ARRAY_ALIGN). Returns its length.
 */
static size_t npy_header_make(unsigned char *buf, size_t cap, const char *descr, int64_t n, int dim)
{
    static const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    int len = snprintf((char *)buf + 10, cap - 10,
                       "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %d), }", descr,
                       (long long)n, dim);
    size_t total = (10 + (size_t)len + 1 + 63) / 64 * 64;
    memcpy(buf, magic, sizeof magic);
    memset(buf + 10 + len, ' ', total - 10 - (size_t)len - 1);
    buf[total - 1] = '\n';
    buf[8] = (unsigned char)((total - 10) & 0xff);
    buf[9] = (unsigned char)((total - 10) >> 8);
    return total;
}

static scann_status write_npy(const atomic_file *w, const void *data, int64_t n, int dim,
                              const char *descr, size_t esz)
{
    unsigned char hdr[256]; /* the dict is under 128 bytes even with 19-digit n */
    size_t len = npy_header_make(hdr, sizeof hdr, descr, n, dim);
    scann_status s = write_all(w, hdr, len);
    if (s == SCANN_OK) s = write_all(w, data, (size_t)n * (size_t)dim * esz);
    return s;
}

static scann_status write_any(const char *fn, const char *path, const void *data, int64_t n,
                              int dim, bool is_int)
{
    if (!path || !data)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, !path ? "path" : "data");
    if (n < 1 || dim < 1 || dim > MAX_DIM || !fits_rows(n, dim + 1))
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "%s: %s: cannot write n=%lld rows of dim=%d", fn,
                       path, (long long)n, dim);
    vec_format fmt;
    scann_status s = format_of(path, &fmt);
    if (s != SCANN_OK) return s;
    vec_format rows_fmt = is_int ? FMT_IVECS : FMT_FVECS;
    if (fmt != rows_fmt && fmt != FMT_NPY)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "%s: %s rows can only be written as %s or .npy",
                       path, is_int ? "int32" : "float", is_int ? ".ivecs" : ".fvecs");
    atomic_file w;
    if ((s = atomic_open(&w, path))) return s;
    s = fmt == FMT_NPY ? write_npy(&w, data, n, dim, is_int ? "<i4" : "<f4", 4)
                       : write_rows(&w, data, n, dim);
    return atomic_commit(&w, s);
}

scann_status scann_vecs_write(const char *path, const float *data, int64_t n, int dim)
{
    return write_any("scann_vecs_write", path, data, n, dim, false);
}

scann_status scann_ivecs_write(const char *path, const int32_t *data, int64_t n, int dim)
{
    return write_any("scann_ivecs_write", path, data, n, dim, true);
}

/* Ids are int64 end to end: .npy '<i8' is the one common format that holds them all. */
scann_status scann_ids_write(const char *path, const int64_t *ids, int64_t n, int k)
{
    if (!path || !ids)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "scann_ids_write: %s is NULL",
                       !path ? "path" : "ids");
    if (n < 1 || k < 1 || k > MAX_DIM || !fits_rows(n, 2 * k))
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "scann_ids_write: %s: cannot write n=%lld "
                       "rows of k=%d",
                       path, (long long)n, k);
    vec_format fmt;
    if (format_of(path, &fmt) != SCANN_OK || fmt != FMT_NPY)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "%s: int64 ids can only be written as .npy "
                       "(an .ivecs file would truncate ids >= 2^31)",
                       path);
    atomic_file w;
    scann_status s = atomic_open(&w, path);
    return s ? s : atomic_commit(&w, write_npy(&w, ids, n, k, "<i8", 8));
}
