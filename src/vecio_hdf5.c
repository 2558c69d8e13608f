/*
 * vecio_hdf5.c - reading ann-benchmarks' HDF5 files (see vecio_hdf5.h).
 *
 * ann-benchmarks stores one data set per file: "train" (base), "test" (queries), "neighbors"
 * (int32 ground truth) and "distances", plus a root attribute "distance" (angular, euclidean,
 * ...). We read any 1-d or 2-d integer or float dataset and let HDF5 convert the element type.
 *
 * Invariants
 * - Nothing is printed: HDF5's automatic error stack printing is off during every call
 *   (H5E_BEGIN_TRY), and failures come back as our status with the path in the message.
 * - Allocation is bounded by the file: a contiguous dataset must fit in the file's size; a
 *   chunked (possibly compressed) one may claim at most 1024 times it.
 * - Debian's libhdf5 is the serial build, which is not thread-safe, so one mutex serialises
 *   every HDF5 call made through this file.
 */
#include "vecio_hdf5.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "error.h"

bool vecio_hdf5_split(const char *path, char *file, size_t cap, const char **dataset)
{
    static const char *exts[] = {".hdf5", ".h5"};
    /* The first ".hdf5" / ".h5" that ends the path or is followed by ':' ends the file name. */
    for (const char *p = path; *p; p++) {
        if (*p != '.') continue;
        for (size_t i = 0; i < 2; i++) {
            size_t len = strlen(exts[i]);
            if (strncasecmp(p, exts[i], len) != 0 || (p[len] != '\0' && p[len] != ':')) continue;
            size_t flen = (size_t)(p + len - path);
            if (file) {
                if (flen >= cap) return false;
                memcpy(file, path, flen);
                file[flen] = '\0';
                *dataset = p[len] == ':' ? p + len + 1 : NULL;
            }
            return true;
        }
    }
    return false;
}

#ifndef SCANN_HAVE_HDF5

static scann_status no_hdf5(const char *path)
{
    return err_set(SCANN_ERR_UNSUPPORTED,
                   "%s: this libscann was built without HDF5 support "
                   "(install libhdf5-dev and rebuild)",
                   path);
}

scann_status vecio_hdf5_read(const char *path, bool want_int, int64_t limit, void **data,
                             int64_t *n, int *dim)
{
    return no_hdf5(path);
}

scann_status vecio_hdf5_metric(const char *path, scann_metric *metric) { return no_hdf5(path); }

#else

#include <hdf5.h>
#include <pthread.h>

enum {
    MAX_DIM = 1 << 20,     /* as in vecio.c */
    CHUNK_BYTES = 8 << 20, /* int reads convert through a staging buffer of this size */
    MAX_RATIO = 1024,      /* the most a chunked dataset may claim per byte of file */
};

static pthread_mutex_t h5_lock = PTHREAD_MUTEX_INITIALIZER;

/* Everything one read opens; -1 is "not open". */
typedef struct {
    const char *path; /* as the caller wrote it, for messages */
    char file[4096];
    const char *dataset;
    int64_t size; /* of the file, the bound on what a dataset may claim */
    hid_t f, ds, space, type, dcpl, mem;
} h5;

static void h5_close(h5 *h)
{
    if (h->mem >= 0) H5Sclose(h->mem);
    if (h->dcpl >= 0) H5Pclose(h->dcpl);
    if (h->type >= 0) H5Tclose(h->type);
    if (h->space >= 0) H5Sclose(h->space);
    if (h->ds >= 0) H5Dclose(h->ds);
    if (h->f >= 0) H5Fclose(h->f);
}

static scann_status h5_open(h5 *h, const char *path)
{
    *h = (h5){.path = path, .f = -1, .ds = -1, .space = -1, .type = -1, .dcpl = -1, .mem = -1};
    if (!vecio_hdf5_split(path, h->file, sizeof h->file, &h->dataset))
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "%s: file name too long", path);
    if (h->dataset && !*h->dataset)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "%s: empty dataset name after ':'", path);
    struct stat st;
    if (stat(h->file, &st) != 0)
        return err_set(SCANN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return err_set(SCANN_ERR_IO, "%s: cannot read: not a regular file", path);
    h->size = (int64_t)st.st_size;
    h->f = H5Fopen(h->file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (h->f < 0)
        return err_set(SCANN_ERR_FORMAT, "%s: not a readable HDF5 file (truncated or corrupt?)",
                       path);
    return SCANN_OK;
}

/* Open the dataset, check its shape and type, and bound what it claims by the file size. */
static scann_status h5_dataset(h5 *h, bool want_int, int64_t *n, int *dim)
{
    const char *name = h->dataset ? h->dataset : want_int ? "neighbors" : "train";
    if (H5Lexists(h->f, name, H5P_DEFAULT) <= 0 || (h->ds = H5Dopen2(h->f, name, H5P_DEFAULT)) < 0)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "%s: no dataset '%s' (ann-benchmarks files "
                       "have train, test, neighbors and distances; pick one with file.hdf5:NAME)",
                       h->path, name);
    h->space = H5Dget_space(h->ds);
    h->type = H5Dget_type(h->ds);
    h->dcpl = H5Dget_create_plist(h->ds);
    int nd = h->space >= 0 ? H5Sget_simple_extent_ndims(h->space) : -1;
    hsize_t dims[2] = {0, 0};
    if (nd != 1 && nd != 2)
        return err_set(SCANN_ERR_FORMAT, "%s: dataset '%s' has %d dimensions; expected 1 or 2",
                       h->path, name, nd);
    if (h->type < 0 || h->dcpl < 0 || H5Sget_simple_extent_dims(h->space, dims, NULL) < 0)
        return err_set(SCANN_ERR_FORMAT, "%s: cannot read dataset '%s''s header", h->path, name);
    H5T_class_t cls = H5Tget_class(h->type);
    size_t tsz = H5Tget_size(h->type);
    if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || tsz < 1 || tsz > 8)
        return err_set(SCANN_ERR_FORMAT,
                       "%s: dataset '%s' does not hold plain integers or "
                       "floats",
                       h->path, name);
    if (want_int && cls != H5T_INTEGER)
        return err_set(SCANN_ERR_FORMAT, "%s: dataset '%s' holds floats; ids must be integers",
                       h->path, name);
    uint64_t rows = nd == 1 ? 1 : dims[0], d = nd == 1 ? dims[0] : dims[1];
    if (d < 1 || d > MAX_DIM)
        return err_set(SCANN_ERR_FORMAT, "%s: dataset '%s' rows have %llu values, outside [1, %d]",
                       h->path, name, (unsigned long long)d, MAX_DIM);
    if (rows < 1) return err_set(SCANN_ERR_FORMAT, "%s: dataset '%s' is empty", h->path, name);
    /* Doubles: a hostile shape's byte count may not fit in 64 bits. */
    double claimed = (double)rows * (double)d * (double)tsz;
    double cap = (double)h->size * (H5Pget_layout(h->dcpl) == H5D_CHUNKED ? MAX_RATIO : 1);
    if (claimed > cap)
        return err_set(SCANN_ERR_FORMAT,
                       "%s: dataset '%s' claims %llu x %llu values of %zu bytes, "
                       "more than the %lld-byte file can hold (truncated or corrupt)",
                       h->path, name, (unsigned long long)rows, (unsigned long long)d, tsz,
                       (long long)h->size);
    *n = (int64_t)rows;
    *dim = (int)d;
    return SCANN_OK;
}

/* Select rows [r0, r0 + rows) of the file dataset and a matching memory space. */
static bool h5_select(h5 *h, int64_t r0, int64_t rows, int dim)
{
    int nd = H5Sget_simple_extent_ndims(h->space);
    hsize_t start[2] = {(hsize_t)r0, 0}, count[2] = {(hsize_t)rows, (hsize_t)dim};
    if (nd == 1) start[0] = 0, count[0] = (hsize_t)dim;
    if (h->mem >= 0) H5Sclose(h->mem);
    h->mem = H5Screate_simple(nd, count, NULL);
    return h->mem >= 0 &&
           H5Sselect_hyperslab(h->space, H5S_SELECT_SET, start, NULL, count, NULL) >= 0;
}

/* Integers go through int64 so that a value outside int32 is refused, not clipped. */
static scann_status h5_read_ints(h5 *h, int64_t n, int dim, int32_t *out)
{
    int64_t chunk = CHUNK_BYTES / 8 / dim;
    if (chunk < 1) chunk = 1;
    if (chunk > n) chunk = n;
    int64_t *buf = malloc((size_t)chunk * (size_t)dim * 8);
    if (!buf) return err_nomem("an HDF5 read buffer", (size_t)chunk * (size_t)dim * 8);
    scann_status s = SCANN_OK;
    for (int64_t r0 = 0; r0 < n && s == SCANN_OK; r0 += chunk) {
        int64_t rows = n - r0 < chunk ? n - r0 : chunk;
        if (!h5_select(h, r0, rows, dim) ||
            H5Dread(h->ds, H5T_NATIVE_INT64, h->mem, h->space, H5P_DEFAULT, buf) < 0) {
            s = err_set(SCANN_ERR_FORMAT,
                        "%s: reading rows %lld.. failed (truncated or corrupt "
                        "file?)",
                        h->path, (long long)r0);
            break;
        }
        for (size_t j = 0; j < (size_t)rows * (size_t)dim; j++) {
            if (buf[j] < INT32_MIN || buf[j] > INT32_MAX) {
                s = err_set(SCANN_ERR_FORMAT, "%s: value %lld at row %lld does not fit in int32",
                            h->path, (long long)buf[j], (long long)(r0 + (int64_t)j / dim));
                break;
            }
            out[(size_t)r0 * (size_t)dim + j] = (int32_t)buf[j];
        }
    }
    free(buf);
    return s;
}

static scann_status h5_read(h5 *h, bool want_int, int64_t limit, void **data, int64_t *n, int *dim)
{
    int64_t rows = 0;
    int d = 0;
    scann_status s = h5_open(h, h->path);
    if (s == SCANN_OK) s = h5_dataset(h, want_int, &rows, &d);
    if (s != SCANN_OK) return s;
    if (limit > 0 && limit < rows) rows = limit;
    size_t bytes = (size_t)rows * (size_t)d * 4; /* bounded above by the file size check */
    void *out = malloc(bytes);
    if (!out) return err_nomem("vectors read from an HDF5 file", bytes);
    if (want_int) {
        s = h5_read_ints(h, rows, d, out);
    } else if (!h5_select(h, 0, rows, d) ||
               H5Dread(h->ds, H5T_NATIVE_FLOAT, h->mem, h->space, H5P_DEFAULT, out) < 0) {
        s = err_set(SCANN_ERR_FORMAT, "%s: reading the data failed (truncated or corrupt file?)",
                    h->path);
    }
    if (s != SCANN_OK) {
        free(out);
        return s;
    }
    *data = out;
    *n = rows;
    *dim = d;
    return SCANN_OK;
}

scann_status vecio_hdf5_read(const char *path, bool want_int, int64_t limit, void **data,
                             int64_t *n, int *dim)
{
    h5 h = {.path = path, .f = -1, .ds = -1, .space = -1, .type = -1, .dcpl = -1, .mem = -1};
    scann_status s;
    pthread_mutex_lock(&h5_lock);
    H5E_BEGIN_TRY
    {
        s = h5_read(&h, want_int, limit, data, n, dim);
        h5_close(&h);
    }
    H5E_END_TRY;
    pthread_mutex_unlock(&h5_lock);
    return s;
}

/* The root attribute "distance" as text (h5py writes a variable-length UTF-8 string). */
static scann_status h5_distance(h5 *h, char *buf, size_t cap)
{
    scann_status s = h5_open(h, h->path);
    if (s != SCANN_OK) return s;
    if (H5Aexists(h->f, "distance") <= 0)
        return err_set(SCANN_ERR_UNSUPPORTED, "%s: no 'distance' attribute", h->path);
    hid_t a = H5Aopen(h->f, "distance", H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    hid_t mt = t >= 0 && H5Tget_class(t) == H5T_STRING ? H5Tcopy(H5T_C_S1) : -1;
    s = err_set(SCANN_ERR_FORMAT, "%s: the 'distance' attribute is not a short string", h->path);
    if (mt >= 0 && H5Tset_cset(mt, H5Tget_cset(t)) >= 0) {
        if (H5Tis_variable_str(t) > 0) {
            char *str = NULL;
            if (H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Aread(a, mt, &str) >= 0 && str &&
                strlen(str) < cap) {
                strcpy(buf, str);
                s = SCANN_OK;
            }
            if (str) H5free_memory(str);
        } else if (H5Tget_size(t) < cap && H5Tset_size(mt, H5Tget_size(t) + 1) >= 0 &&
                   H5Aread(a, mt, buf) >= 0) {
            s = SCANN_OK;
        }
    }
    if (mt >= 0) H5Tclose(mt);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    return s;
}

scann_status vecio_hdf5_metric(const char *path, scann_metric *metric)
{
    h5 h = {.path = path, .f = -1, .ds = -1, .space = -1, .type = -1, .dcpl = -1, .mem = -1};
    char text[64] = "";
    scann_status s;
    pthread_mutex_lock(&h5_lock);
    H5E_BEGIN_TRY
    {
        s = h5_distance(&h, text, sizeof text);
        h5_close(&h);
    }
    H5E_END_TRY;
    pthread_mutex_unlock(&h5_lock);
    if (s != SCANN_OK) return s;
    /* ann-benchmarks' names first, then the names our own tools use. */
    static const struct {
        const char *name;
        scann_metric m;
    } known[] = {{"angular", SCANN_METRIC_COSINE}, {"euclidean", SCANN_METRIC_L2},
                 {"dot", SCANN_METRIC_IP},         {"cosine", SCANN_METRIC_COSINE},
                 {"l2", SCANN_METRIC_L2},          {"ip", SCANN_METRIC_IP}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcasecmp(text, known[i].name) == 0) {
            *metric = known[i].m;
            return SCANN_OK;
        }
    }
    return err_set(SCANN_ERR_UNSUPPORTED,
                   "%s: distance '%s' has no matching metric (angular, "
                   "euclidean, dot)",
                   path, text);
}

#endif
