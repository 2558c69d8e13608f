/*
 * _pyscann.c - the CPython extension behind pyscann: one type, _pyscann.Index, that owns a
 * scann_index handle, the exception classes that scann_status maps to, and a BLAS helper.
 * python/pyscann/__init__.py adds the keyword-argument constructor and re-exports all of it.
 *
 * Invariants and choices:
 * - Arrays: float32, C-contiguous, aligned, native-endian input is passed to the library as is
 *   (no copy); any other float or integer array is converted once to that layout. Booleans,
 *   complex numbers, strings and objects are rejected with ValueError rather than guessed at.
 * - The GIL is released around every call that scans vectors (train, add, search, save, load),
 *   so Python threads searching one index run in parallel, as scann.h allows.
 * - Each object carries a readers-writer lock of its own on top of the library's: searches,
 *   save and the inspection getters share it, train/add/remove/set-threads and close hold it
 *   alone. The library's lock cannot replace it. close() frees the index, and that lock with
 *   it, so a thread still searching or waiting on it would touch freed memory: what guards the
 *   handle's lifetime must live outside the handle (test_close_waits_for_running_searches).
 *   And a re-entrant call on the same thread (a filter callable, or a signal handler run from
 *   the progress hook during train/add) would deadlock on the library's lock or, as glibc
 *   returns EDEADLK there, run unlocked; this lock detects it and raises. It is only ever
 *   waited for without the GIL, so the GIL and the lock cannot deadlock.
 * - scann_last_error() is thread-local: it is copied right after the failing call, on the same
 *   OS thread, before anything else can run.
 * - Ctrl-C: indexes created here get a progress callback that takes the GIL and runs Python's
 *   signal handlers, so a KeyboardInterrupt cancels a long train or add (kinds that support
 *   cancelling; the others finish the call and then raise it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "scann.h"

/* OpenBLAS's own knobs: present only when the BLAS linked in is OpenBLAS. */
extern void openblas_set_num_threads(int n) __attribute__((weak));
extern int openblas_get_num_threads(void) __attribute__((weak));

/* ---- exceptions ------------------------------------------------------------------------ */

static PyObject *Error;                              /* pyscann.Error, base of everything below */
static PyObject *status_exc[SCANN_ERR_INTERNAL + 1]; /* class raised for each scann_status */

static const struct {
    scann_status status;
    const char *name;   /* attribute of the module */
    PyObject **builtin; /* second base, so callers can catch the usual built-in class */
    const char *doc;
} exc_table[] = {
    {SCANN_ERR_INVALID_ARGUMENT, "InvalidArgumentError", &PyExc_ValueError,
     "A parameter, count, dtype or shape is out of range (also a ValueError)."},
    {SCANN_ERR_DIMENSION, "DimensionError", &PyExc_ValueError,
     "Vectors' dimension differs from the index's (also a ValueError)."},
    {SCANN_ERR_INVALID_DATA, "InvalidDataError", &PyExc_ValueError,
     "NaN or infinity in input vectors (also a ValueError)."},
    {SCANN_ERR_NOT_TRAINED, "NotTrainedError", &PyExc_RuntimeError,
     "add or search before train on a kind that needs training (also a RuntimeError)."},
    {SCANN_ERR_EMPTY, "EmptyIndexError", &PyExc_RuntimeError,
     "Search on an index without vectors (also a RuntimeError)."},
    {SCANN_ERR_OUT_OF_MEMORY, "OutOfMemoryError", &PyExc_MemoryError,
     "The library could not allocate memory (also a MemoryError)."},
    {SCANN_ERR_IO, "FileError", &PyExc_OSError,
     "Opening, reading or writing a file failed (also an OSError)."},
    {SCANN_ERR_FORMAT, "FormatError", &PyExc_ValueError,
     "A saved index is truncated, corrupt or of another kind (also a ValueError)."},
    {SCANN_ERR_UNSUPPORTED, "UnsupportedError", &PyExc_RuntimeError,
     "A valid request this index cannot do, e.g. add to a memory-mapped index "
     "(also a RuntimeError)."},
    {SCANN_ERR_CANCELLED, "CancelledError", &PyExc_RuntimeError,
     "The call was cancelled (also a RuntimeError)."},
    {SCANN_ERR_INTERNAL, "InternalError", &PyExc_RuntimeError,
     "A bug in libscann: please report it with the message (also a RuntimeError)."},
};

static int add_exceptions(PyObject *m)
{
    Error = PyErr_NewExceptionWithDoc(
        "pyscann.Error",
        "Base class of every error libscann reports. Each subclass also derives from the "
        "built-in exception a Python user would expect (ValueError, RuntimeError, MemoryError, "
        "OSError); .status is the scann_status code and .status_name its name.",
        NULL, NULL);
    if (!Error || PyModule_AddObjectRef(m, "Error", Error) < 0) return -1;
    for (size_t i = 0; i < sizeof exc_table / sizeof exc_table[0]; i++) {
        char qualname[64];
        snprintf(qualname, sizeof qualname, "pyscann.%s", exc_table[i].name);
        PyObject *bases = PyTuple_Pack(2, Error, *exc_table[i].builtin);
        if (!bases) return -1;
        PyObject *cls = PyErr_NewExceptionWithDoc(qualname, exc_table[i].doc, bases, NULL);
        Py_DECREF(bases);
        if (!cls || PyModule_AddObjectRef(m, exc_table[i].name, cls) < 0) return -1;
        status_exc[exc_table[i].status] = cls;
    }
    return 0;
}

/* Raise the class for st with msg (the library's thread-local message, already copied). */
static PyObject *raise_status(scann_status st, const char *msg)
{
    PyObject *cls = (unsigned)st <= SCANN_ERR_INTERNAL && status_exc[st] ? status_exc[st] : Error;
    PyObject *exc = PyObject_CallFunction(cls, "s", msg && *msg ? msg : scann_status_name(st));
    if (!exc) return NULL;
    PyObject *code = PyLong_FromLong((long)st);
    PyObject *name = PyUnicode_FromString(scann_status_name(st));
    int bad = !code || !name || PyObject_SetAttrString(exc, "status", code) < 0 ||
              PyObject_SetAttrString(exc, "status_name", name) < 0;
    Py_XDECREF(code);
    Py_XDECREF(name);
    if (bad) {
        Py_DECREF(exc);
        return NULL;
    }
    PyErr_SetObject(cls, exc);
    Py_DECREF(exc);
    return NULL;
}

/* A binding-level argument error: same class as the library's INVALID_ARGUMENT. */
static PyObject *raise_invalid(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return raise_status(SCANN_ERR_INVALID_ARGUMENT, msg);
}

/* Copy of scann_last_error(), taken on the calling thread right after a failed call. */
typedef struct {
    char text[1024];
} errmsg;

static void errmsg_take(errmsg *e, scann_status st)
{
    if (st == SCANN_OK) {
        e->text[0] = '\0';
        return;
    }
    snprintf(e->text, sizeof e->text, "%s", scann_last_error());
}

/* ---- arrays ---------------------------------------------------------------------------- */

/*
 * Rows of float32 from obj, C-contiguous: a new reference to obj itself when it already has
 * that layout (zero copy), otherwise a converted copy. allow_1d: a 1-D array is one row.
 * Sets *n, *d. what names the argument in messages ("search: q").
 */
static PyArrayObject *as_float_rows(PyObject *obj, const char *what, int allow_1d, int64_t *n,
                                    int *d)
{
    PyArrayObject *a = (PyArrayObject *)PyArray_FromAny(obj, NULL, 0, 0, 0, NULL);
    if (!a) return NULL;
    char kind = PyArray_DESCR(a)->kind;
    if (kind != 'f' && kind != 'i' && kind != 'u') {
        PyObject *dt = PyObject_Str((PyObject *)PyArray_DESCR(a));
        raise_invalid("%s has dtype %s; expected a float or integer array", what,
                      dt ? PyUnicode_AsUTF8(dt) : "?");
        Py_XDECREF(dt);
        Py_DECREF(a);
        return NULL;
    }
    int nd = PyArray_NDIM(a);
    if (nd != 2 && !(allow_1d && nd == 1)) {
        raise_invalid("%s must be a 2-D array (n, dim)%s; got %d dimension%s", what,
                      allow_1d ? " or one 1-D vector" : "", nd, nd == 1 ? "" : "s");
        Py_DECREF(a);
        return NULL;
    }
    npy_intp rows = nd == 2 ? PyArray_DIM(a, 0) : 1;
    npy_intp cols = nd == 2 ? PyArray_DIM(a, 1) : PyArray_DIM(a, 0);
    if (cols > INT_MAX) {
        raise_invalid("%s has %lld columns, more than any index dimension", what, (long long)cols);
        Py_DECREF(a);
        return NULL;
    }
    /* Steals the descr reference; returns a itself (incref'd) when nothing needs converting. */
    PyArrayObject *f = (PyArrayObject *)PyArray_FromArray(a, PyArray_DescrFromType(NPY_FLOAT32),
                                                          NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    Py_DECREF(a);
    if (!f) return NULL;
    *n = (int64_t)rows;
    *d = (int)cols;
    return f;
}

/*
 * ids for add and remove: 1-D, n integers (n < 0: any count), as C-contiguous int64 (no copy
 * when they already are). what names the call in messages ("add", "remove"). An empty input
 * is an empty id list whatever its dtype: np.array([]) is float64, and remove([]) must work.
 */
static PyArrayObject *as_ids(PyObject *obj, int64_t n, const char *what)
{
    PyArrayObject *a = (PyArrayObject *)PyArray_FromAny(obj, NULL, 0, 0, 0, NULL);
    if (!a) return NULL;
    char kind = PyArray_DESCR(a)->kind;
    int empty = PyArray_NDIM(a) == 1 && PyArray_SIZE(a) == 0;
    if (kind != 'i' && kind != 'u' && !empty) {
        PyObject *dt = PyObject_Str((PyObject *)PyArray_DESCR(a));
        raise_invalid("%s: ids have dtype %s; expected integers", what,
                      dt ? PyUnicode_AsUTF8(dt) : "?");
        Py_XDECREF(dt);
        Py_DECREF(a);
        return NULL;
    }
    if (PyArray_NDIM(a) != 1 || (n >= 0 && PyArray_DIM(a, 0) != n)) {
        if (n >= 0)
            raise_invalid("%s: ids must be a 1-D array of %lld ids (one per row of x)", what,
                          (long long)n);
        else
            raise_invalid("%s: ids must be a 1-D array of ids; got %d dimensions", what,
                          PyArray_NDIM(a));
        Py_DECREF(a);
        return NULL;
    }
    /* uint64 ids above INT64_MAX wrap to negative values, which the library rejects. */
    PyArrayObject *f = (PyArrayObject *)PyArray_FromArray(a, PyArray_DescrFromType(NPY_INT64),
                                                          NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    Py_DECREF(a);
    return f;
}

/* Optional int keyword: None -> 0 (the library's default), otherwise an int in C int range. */
static int opt_int(PyObject *o, const char *name, int *out)
{
    *out = 0;
    if (!o || o == Py_None) return 0;
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (v < INT_MIN || v > INT_MAX) {
        raise_invalid("%s=%ld is out of range", name, v);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* ---- the Index type -------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD scann_index
        *ix;               /* NULL until __init__ or a load succeeded, and again after close() */
    int closed;            /* close() ran: later use says "closed", not "not initialised" */
    int threads;           /* last thread count given (0 = all online cores) */
    int cancelled;         /* set by the progress hook once a KeyboardInterrupt is pending */
    int lock_ready;        /* lock was initialised (tp_dealloc must not destroy it otherwise) */
    pthread_rwlock_t lock; /* see the header comment */
} IndexObject;

static PyTypeObject IndexType;

/* The index whose Python filter callable this thread is running, if any (see filter_call). */
static _Thread_local const IndexObject *filter_running;

static int check_ready(IndexObject *self)
{
    if (self->ix) return 0;
    PyErr_SetString(PyExc_RuntimeError,
                    self->closed ? "Index is closed (close() or the end of its with block freed it)"
                                 : "Index is not initialised (call __init__ or Index.load)");
    return -1;
}

/*
 * Take the lock shared (write = 0) or alone (write = 1) on a live index. Tries first without
 * giving up the GIL; otherwise waits with the GIL released. The handle is checked again once
 * the lock is held, because close() may have freed it while this thread waited. Refuses a call
 * on this index from inside its own filter callable (it would wait for the search that runs the
 * callable), and a re-entrant call from a signal handler inside this index's own train/add
 * (glibc reports EDEADLK).
 */
static int lock_index(IndexObject *self, int write)
{
    if (check_ready(self) < 0) return -1;
    if (filter_running == self) {
        PyErr_SetString(PyExc_RuntimeError,
                        "a search filter callable cannot use the index it is filtering");
        return -1;
    }
    int rc = write ? pthread_rwlock_trywrlock(&self->lock) : pthread_rwlock_tryrdlock(&self->lock);
    if (rc == EBUSY || rc == EAGAIN) {
        Py_BEGIN_ALLOW_THREADS rc =
            write ? pthread_rwlock_wrlock(&self->lock) : pthread_rwlock_rdlock(&self->lock);
        Py_END_ALLOW_THREADS
    }
    if (rc) {
        PyErr_Format(PyExc_RuntimeError, "index is busy (re-entrant call while it is %s)",
                     rc == EDEADLK ? "being modified by this thread" : strerror(rc));
        return -1;
    }
    if (!self->ix) {
        pthread_rwlock_unlock(&self->lock);
        return check_ready(self);
    }
    return 0;
}

static void unlock_index(IndexObject *self) { pthread_rwlock_unlock(&self->lock); }

/* Progress hook: runs Python's signal handlers so Ctrl-C cancels a long train or add. Called on
 * the thread that called the library, which released the GIL; takes it for the check only. */
static int progress_check_signals(void *user_data, const char *stage, double frac)
{
    IndexObject *self = user_data;
    if (self->cancelled) return 1;
    PyGILState_STATE g = PyGILState_Ensure();
    if (PyErr_CheckSignals() < 0) self->cancelled = 1; /* the exception stays pending */
    PyGILState_Release(g);
    return self->cancelled;
}

static IndexObject *index_alloc(PyTypeObject *type)
{
    IndexObject *self = (IndexObject *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    /* Writers first: with glibc's default (readers first), a steady stream of searches from
     * a few threads would keep an add waiting forever. No thread ever takes the lock twice. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&self->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc) {
        Py_DECREF(self);
        return (IndexObject *)PyErr_NoMemory();
    }
    self->lock_ready = 1;
    return self;
}

static PyObject *Index_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    return (PyObject *)index_alloc(type);
}

static void Index_dealloc(IndexObject *self)
{
    scann_index_free(self->ix); /* nobody else holds a reference, so nobody holds the lock */
    if (self->lock_ready) pthread_rwlock_destroy(&self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/*
 * Metric names, matched case-insensitively. Numbers are refused on purpose: faiss's
 * METRIC_INNER_PRODUCT is 0, which is our L2, so accepting ints would silently turn an inner
 * product index into an L2 one. The mapping lives here, not in src/, so the C API stays an enum.
 */
static const struct {
    const char *name;
    scann_metric metric;
} metric_names[] = {
    {"l2", SCANN_METRIC_L2},  {"squared_l2", SCANN_METRIC_L2},  {"euclidean", SCANN_METRIC_L2},
    {"ip", SCANN_METRIC_IP},  {"dot_product", SCANN_METRIC_IP}, {"inner_product", SCANN_METRIC_IP},
    {"dot", SCANN_METRIC_IP}, {"cosine", SCANN_METRIC_COSINE},  {"angular", SCANN_METRIC_COSINE},
};

#define METRIC_NAMES_TEXT                                                                          \
    "'l2' (or 'squared_l2', 'euclidean'), 'ip' (or 'dot_product', 'inner_product', 'dot'), "       \
    "'cosine' (or 'angular')"

static int parse_metric(PyObject *o, scann_metric *out)
{
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError,
                     "metric must be a name, not %s %R (numbers are ambiguous: faiss's "
                     "METRIC_INNER_PRODUCT is 0); use " METRIC_NAMES_TEXT,
                     Py_TYPE(o)->tp_name, o);
        return -1;
    }
    const char *name = PyUnicode_AsUTF8(o);
    if (!name) return -1;
    for (size_t i = 0; i < sizeof metric_names / sizeof metric_names[0]; i++) {
        if (strcasecmp(name, metric_names[i].name) == 0) {
            *out = metric_names[i].metric;
            return 0;
        }
    }
    raise_invalid("metric '%s' is not supported; use " METRIC_NAMES_TEXT, name);
    return -1;
}

PyDoc_STRVAR(Index_init_doc,
             "Index(spec, dim, metric='l2', threads=None)\n\n"
             "Create an empty index from a spec string ('FLAT', 'IVF_FLAT,nlist=1024',\n"
             "'IVF_PQ,nlist=1024,m=50', 'SCANN,nlist=1024,reorder=int8'). threads: threads per\n"
             "call, 0 = all online cores, None = the spec's 'threads' key or 0.");

static int Index_init(IndexObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"spec", "dim", "metric", "threads", NULL};
    const char *spec;
    int dim;
    PyObject *metric_o = NULL, *threads_o = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "si|OO:Index", kwlist, &spec, &dim, &metric_o,
                                     &threads_o))
        return -1;
    if (self->ix) {
        PyErr_SetString(PyExc_RuntimeError, "Index is already initialised");
        return -1;
    }
    scann_metric metric = SCANN_METRIC_L2;
    if (metric_o && parse_metric(metric_o, &metric) < 0) return -1;
    scann_index_params p;
    scann_status st = scann_index_params_parse(spec, dim, metric, &p);
    errmsg e;
    errmsg_take(&e, st);
    if (st) return raise_status(st, e.text), -1;
    if (threads_o != Py_None) {
        int t;
        if (opt_int(threads_o, "threads", &t) < 0) return -1;
        p.num_threads = t;
    }
    p.progress = progress_check_signals;
    p.progress_user_data = self;
    scann_index *ix = NULL;
    st = scann_index_create(&p, &ix);
    errmsg_take(&e, st);
    if (st) return raise_status(st, e.text), -1;
    self->ix = ix;
    self->threads = p.num_threads;
    return 0;
}

PyDoc_STRVAR(Index_train_doc,
             "train(x)\n\nLearn partitions and codebooks from the rows of x (n, dim); a no-op for "
             "FLAT.");

static PyObject *Index_train(IndexObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"x", NULL};
    PyObject *xo;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O:train", kwlist, &xo)) return NULL;
    if (check_ready(self) < 0) return NULL;
    int64_t n;
    int d;
    PyArrayObject *x = as_float_rows(xo, "train: x", 0, &n, &d);
    if (!x) return NULL;
    if (lock_index(self, 1) < 0) return Py_DECREF(x), NULL;
    const float *data = PyArray_DATA(x);
    scann_status st;
    errmsg e;
    self->cancelled = 0;
    Py_BEGIN_ALLOW_THREADS st = scann_index_train(self->ix, n, d, data);
    errmsg_take(&e, st);
    Py_END_ALLOW_THREADS unlock_index(self);
    Py_DECREF(x);
    if (PyErr_Occurred()) return NULL; /* KeyboardInterrupt raised in the progress hook */
    if (st) return raise_status(st, e.text);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(Index_add_doc,
             "add(x, ids=None)\n\nAdd the rows of x (n, dim). ids: n integers (int64-convertible, "
             "not negative),\nor None for ntotal, ntotal + 1, ...");

static PyObject *Index_add(IndexObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"x", "ids", NULL};
    PyObject *xo, *ids_o = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:add", kwlist, &xo, &ids_o)) return NULL;
    if (check_ready(self) < 0) return NULL;
    int64_t n;
    int d;
    PyArrayObject *x = as_float_rows(xo, "add: x", 0, &n, &d), *ids = NULL;
    if (!x) return NULL;
    if (ids_o != Py_None && !(ids = as_ids(ids_o, n, "add"))) return Py_DECREF(x), NULL;
    if (lock_index(self, 1) < 0) {
        Py_DECREF(x);
        Py_XDECREF(ids);
        return NULL;
    }
    const float *data = PyArray_DATA(x);
    const int64_t *idp = ids ? PyArray_DATA(ids) : NULL;
    scann_status st;
    errmsg e;
    self->cancelled = 0;
    Py_BEGIN_ALLOW_THREADS st = scann_index_add(self->ix, n, d, data, idp);
    errmsg_take(&e, st);
    Py_END_ALLOW_THREADS unlock_index(self);
    Py_DECREF(x);
    Py_XDECREF(ids);
    if (PyErr_Occurred()) return NULL;
    if (st) return raise_status(st, e.text);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(Index_remove_doc,
             "remove(ids) -> int\n\nRemove the vectors with these ids (1-D integers); ids not in "
             "the index are\nignored. Returns how many were removed.");

static PyObject *Index_remove(IndexObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ids", NULL};
    PyObject *ids_o;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O:remove", kwlist, &ids_o)) return NULL;
    if (check_ready(self) < 0) return NULL;
    PyArrayObject *ids = as_ids(ids_o, -1, "remove");
    if (!ids) return NULL;
    if (lock_index(self, 1) < 0) {
        Py_DECREF(ids);
        return NULL;
    }
    int64_t n = PyArray_DIM(ids, 0), removed = 0;
    const int64_t *idp = PyArray_DATA(ids);
    scann_status st;
    errmsg e;
    Py_BEGIN_ALLOW_THREADS st = scann_index_remove(self->ix, n, idp, &removed);
    errmsg_take(&e, st);
    Py_END_ALLOW_THREADS unlock_index(self);
    Py_DECREF(ids);
    if (st) return raise_status(st, e.text);
    return PyLong_FromLongLong(removed);
}

/* ---- search filters --------------------------------------------------------------------- */

/*
 * search(..., filter=F) turns F into scann_search_params' allow-list:
 *   None                       no filter
 *   callable F(id) -> bool     allow_fn = filter_call (below)
 *   bool array, length n       mask: id i allowed iff F[i]            } all become allow_bits,
 *   uint8 array                packed bits, little-endian bit order:   } a bitset over ids
 *                              id i iff F[i // 8] >> (i % 8) & 1       } (np.packbits(mask,
 *                              (np.packbits(mask, bitorder="little"))  }  bitorder="little"))
 *   uint64 array               id i iff F[i // 64] >> (i % 64) & 1 (the C API's own layout)
 *   other integers / list      the allowed ids themselves: a bitset when the largest id is
 *                              small enough for one, else a sorted copy searched by
 *                              filter_sorted_ids (no GIL needed)
 *
 * A Python callable: the library calls allow_fn from its own search threads, concurrently, for
 * every candidate. The design chosen is that the callback takes the GIL itself
 * (PyGILState_Ensure, which works on threads Python did not create) around the call, while the
 * search runs with the GIL released as usual. That is correct for any thread count and never
 * blocks other Python threads for the whole search; the calls are serialised by the GIL, so a
 * callable filter is slow (an array filter is the fast path, and callable filters are documented
 * as such). The alternative, forcing num_threads=1 and holding the GIL through the search, would
 * depend on the library running single-threaded searches on the calling thread, which scann.h
 * does not promise. The first exception the callable raises is kept; from then on the callback
 * answers "not allowed" without calling Python (the flag is read without the GIL, hence the
 * atomics), and search() re-raises it once the library returns.
 */
typedef struct {
    const IndexObject *index; /* marks filter_running while Python code runs */
    PyObject *fn;             /* the callable (borrowed: search() holds the reference) */
    int failed;               /* set once an exception is stored; read with atomics */
    PyObject *exc_type, *exc_value, *exc_tb; /* the first exception, written with the GIL held */
    const int64_t *ids;                      /* sorted allowed ids (filter_sorted_ids) */
    int64_t nids;
    uint64_t *words;      /* bitset we built (PyMem), freed by filter_release */
    PyArrayObject *array; /* array we keep alive while the library reads it */
} filter_state;

static int filter_call(void *user_data, int64_t id)
{
    filter_state *fs = user_data;
    if (__atomic_load_n(&fs->failed, __ATOMIC_ACQUIRE)) return 0;
    PyGILState_STATE g = PyGILState_Ensure();
    int allow = 0;
    if (!fs->failed) {
        const IndexObject *outer = filter_running;
        filter_running = fs->index;
        PyObject *r = PyObject_CallFunction(fs->fn, "L", (long long)id);
        filter_running = outer;
        allow = r ? PyObject_IsTrue(r) : -1;
        Py_XDECREF(r);
        if (allow < 0) {
            PyErr_Fetch(&fs->exc_type, &fs->exc_value, &fs->exc_tb);
            __atomic_store_n(&fs->failed, 1, __ATOMIC_RELEASE);
            allow = 0;
        }
    }
    PyGILState_Release(g);
    return allow;
}

static int filter_sorted_ids(void *user_data, int64_t id)
{
    const filter_state *fs = user_data;
    int64_t lo = 0, hi = fs->nids;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (fs->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < fs->nids && fs->ids[lo] == id;
}

static int cmp_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A zeroed bitset of nbits bits (PyMem); NULL with MemoryError set. */
static uint64_t *filter_words(filter_state *fs, int64_t nbits)
{
    size_t nw = (size_t)(nbits + 63) / 64;
    fs->words = PyMem_Calloc(nw ? nw : 1, sizeof(uint64_t)); /* never NULL for nbits = 0 */
    if (!fs->words) PyErr_NoMemory();
    return fs->words;
}

/* The allowed ids of an integer array: a bitset, or a sorted copy for sparse large ids. */
static int filter_from_ids(filter_state *fs, PyArrayObject *a, scann_search_params *sp)
{
    PyArrayObject *ids = (PyArrayObject *)PyArray_FromArray(
        a, PyArray_DescrFromType(NPY_INT64), NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    if (!ids) return -1;
    const int64_t *v = PyArray_DATA(ids);
    int64_t n = PyArray_SIZE(ids), max = -1;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < 0) {
            Py_DECREF(ids);
            raise_invalid("search: filter id %lld is negative", (long long)v[i]);
            return -1;
        }
        if (v[i] > max) max = v[i];
    }
    /* A bitset costs (max + 1) / 8 bytes and one load per test; the sorted copy 8 bytes per id
     * and a binary search. Take the bitset unless it would be much larger than the copy. */
    if (max < 64 * n + (1 << 20)) {
        if (!filter_words(fs, max + 1)) {
            Py_DECREF(ids);
            return -1;
        }
        for (int64_t i = 0; i < n; i++) fs->words[v[i] >> 6] |= UINT64_C(1) << (v[i] & 63);
        Py_DECREF(ids);
        sp->allow_bits = fs->words;
        sp->allow_nbits = max + 1;
        return 0;
    }
    int64_t *sorted = PyMem_Malloc((size_t)n * sizeof *sorted);
    if (!sorted) {
        Py_DECREF(ids);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(sorted, v, (size_t)n * sizeof *sorted);
    Py_DECREF(ids);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_int64);
    fs->words = (uint64_t *)sorted; /* freed by filter_release like a bitset */
    fs->ids = sorted;
    fs->nids = n;
    sp->allow_fn = filter_sorted_ids;
    sp->allow_user_data = fs;
    return 0;
}

/* Fill sp's allow-list from the filter object f (see the table above). */
static int filter_prepare(filter_state *fs, PyObject *f, const IndexObject *index,
                          scann_search_params *sp)
{
    memset(fs, 0, sizeof *fs);
    fs->index = index;
    if (!f || f == Py_None) return 0;
    if (PyCallable_Check(f)) {
        fs->fn = f;
        sp->allow_fn = filter_call;
        sp->allow_user_data = fs;
        return 0;
    }
    PyArrayObject *a = (PyArrayObject *)PyArray_FromAny(f, NULL, 0, 0, 0, NULL);
    if (!a) return -1;
    if (PyArray_NDIM(a) != 1) {
        raise_invalid("search: filter must be 1-D (ids, a bool mask or a packed bitset) or a "
                      "callable; got %d dimensions",
                      PyArray_NDIM(a));
        Py_DECREF(a);
        return -1;
    }
    char kind = PyArray_DESCR(a)->kind;
    int size = (int)PyArray_ITEMSIZE(a);
    int64_t n = PyArray_SIZE(a);
    int rc = 0;
    if (kind == 'b' || (kind == 'u' && size == 1)) {
        /* Byte-wise, so the bit order is the same on every host. */
        PyArrayObject *b = (PyArrayObject *)PyArray_FromArray(a, PyArray_DescrFromType(NPY_UINT8),
                                                              NPY_ARRAY_IN_ARRAY);
        int64_t nbits = kind == 'b' ? n : 8 * n;
        if (!b || !filter_words(fs, nbits)) {
            rc = -1;
        } else {
            const uint8_t *bytes = PyArray_DATA(b);
            for (int64_t i = 0; i < n; i++) {
                if (kind == 'b')
                    fs->words[i >> 6] |= (uint64_t)(bytes[i] != 0) << (i & 63);
                else
                    fs->words[i >> 3] |= (uint64_t)bytes[i] << (8 * (i & 7));
            }
            sp->allow_bits = fs->words;
            sp->allow_nbits = nbits;
        }
        Py_XDECREF(b);
    } else if (kind == 'u' && size == 8) {
        fs->array = (PyArrayObject *)PyArray_FromArray(a, PyArray_DescrFromType(NPY_UINT64),
                                                       NPY_ARRAY_IN_ARRAY);
        if (!fs->array) {
            rc = -1;
        } else {
            sp->allow_bits = n ? PyArray_DATA(fs->array) : filter_words(fs, 0);
            sp->allow_nbits = 64 * n;
            rc = sp->allow_bits ? 0 : -1;
        }
    } else if (kind == 'i' || kind == 'u' || n == 0) {
        rc = filter_from_ids(fs, a, sp);
    } else {
        PyObject *dt = PyObject_Str((PyObject *)PyArray_DESCR(a));
        raise_invalid("search: filter has dtype %s; expected ids (integers), a bool mask, a "
                      "packed bitset (uint8 or uint64) or a callable",
                      dt ? PyUnicode_AsUTF8(dt) : "?");
        Py_XDECREF(dt);
        rc = -1;
    }
    Py_DECREF(a);
    return rc;
}

/* Free what filter_prepare allocated; re-raise the callable's exception. -1 when raised. */
static int filter_release(filter_state *fs)
{
    PyMem_Free(fs->words);
    Py_XDECREF(fs->array);
    if (!fs->failed) return 0;
    PyErr_Restore(fs->exc_type, fs->exc_value, fs->exc_tb);
    return -1;
}

PyDoc_STRVAR(Index_reconstruct_doc,
             "reconstruct(ids) -> float32 array (n, dim)\n\n"
             "The stored vectors with these ids (1-D integers), as the index keeps them (cosine\n"
             "indexes keep normalised vectors; quantized kinds may return approximations).");

static PyObject *Index_reconstruct(IndexObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ids", NULL};
    PyObject *ids_o;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O:reconstruct", kwlist, &ids_o)) return NULL;
    if (check_ready(self) < 0) return NULL;
    PyArrayObject *ids = as_ids(ids_o, -1, "reconstruct");
    if (!ids) return NULL;
    npy_intp dims[2] = {PyArray_DIM(ids, 0), scann_index_dim(self->ix)};
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (!out || lock_index(self, 0) < 0) {
        Py_DECREF(ids);
        Py_XDECREF(out);
        return NULL;
    }
    const int64_t *idp = PyArray_DATA(ids);
    float *op = PyArray_DATA(out);
    scann_status st;
    errmsg e;
    Py_BEGIN_ALLOW_THREADS st = scann_index_reconstruct(self->ix, (int64_t)dims[0], idp, op);
    errmsg_take(&e, st);
    Py_END_ALLOW_THREADS unlock_index(self);
    Py_DECREF(ids);
    if (st) {
        Py_DECREF(out);
        return raise_status(st, e.text);
    }
    return (PyObject *)out;
}

PyDoc_STRVAR(
    Index_search_doc,
    "search(q, k, nprobe=None, reorder_k=None, threads=None, filter=None)\n"
    "    -> (distances, ids)\n\n"
    "k nearest neighbours of each row of q (nq, dim); a 1-D q is one query. Returns\n"
    "float32 distances and int64 ids, both (nq, k), best first: squared L2 (smaller is\n"
    "better), inner product or cosine similarity (larger is better). Missing results\n"
    "have id -1. None = the index's default for that knob.\n\n"
    "filter: only these ids may be returned. A list or integer array of allowed ids; a\n"
    "bool mask (id i allowed iff filter[i]); a packed bitset as uint8 (little-endian bit\n"
    "order: id i iff filter[i // 8] >> (i % 8) & 1, np.packbits(mask, bitorder='little'))\n"
    "or uint64 (id i iff filter[i // 64] >> (i % 64) & 1); or a callable id -> bool\n"
    "(called once per candidate with the GIL, so much slower; its exceptions propagate).\n"
    "Note that a uint8/uint64 array is read as a bitset, never as ids.");

static PyObject *Index_search(IndexObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"q", "k", "nprobe", "reorder_k", "threads", "filter", NULL};
    PyObject *qo, *nprobe_o = Py_None, *reorder_o = Py_None, *threads_o = Py_None;
    PyObject *filter_o = Py_None;
    int k;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Oi|OOOO:search", kwlist, &qo, &k, &nprobe_o,
                                     &reorder_o, &threads_o, &filter_o))
        return NULL;
    if (check_ready(self) < 0) return NULL;
    scann_search_params sp = {0}; /* zeroed: fields added later default to off */
    if (opt_int(nprobe_o, "nprobe", &sp.nprobe) < 0 ||
        opt_int(reorder_o, "reorder_k", &sp.reorder_k) < 0 ||
        opt_int(threads_o, "threads", &sp.num_threads) < 0)
        return NULL;
    if (k < 1) return raise_invalid("search: k=%d must be at least 1", k);
    int64_t nq;
    int d;
    PyArrayObject *q = as_float_rows(qo, "search: q", 1, &nq, &d);
    if (!q) return NULL;
    filter_state fs;
    if (filter_prepare(&fs, filter_o, self, &sp) < 0) {
        filter_release(&fs);
        Py_DECREF(q);
        return NULL;
    }
    npy_intp dims[2] = {(npy_intp)nq, k};
    PyArrayObject *dist = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    PyArrayObject *ids = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_INT64);
    if (!dist || !ids || lock_index(self, 0) < 0) goto fail;
    const float *qp = PyArray_DATA(q);
    float *dp = PyArray_DATA(dist);
    int64_t *ip = PyArray_DATA(ids);
    scann_status st;
    errmsg e;
    Py_INCREF(filter_o); /* a callable must outlive the search even if the caller drops it */
    Py_BEGIN_ALLOW_THREADS st = scann_index_search(self->ix, nq, d, qp, k, &sp, dp, ip);
    errmsg_take(&e, st);
    Py_END_ALLOW_THREADS Py_DECREF(filter_o);
    unlock_index(self);
    Py_DECREF(q);
    if (filter_release(&fs) < 0 || st) {
        Py_DECREF(dist);
        Py_DECREF(ids);
        return PyErr_Occurred() ? NULL : raise_status(st, e.text);
    }
    return Py_BuildValue("(NN)", dist, ids);
fail:
    filter_release(&fs);
    Py_DECREF(q);
    Py_XDECREF(dist);
    Py_XDECREF(ids);
    return NULL;
}

PyDoc_STRVAR(Index_range_search_doc,
             "range_search(q, radius, nprobe=None, threads=None, filter=None)\n"
             "    -> (lims, distances, ids)\n\n"
             "Every stored vector closer than radius to each row of q (nq, dim), as faiss's\n"
             "range_search: squared L2 distance < radius, or inner product / cosine similarity >\n"
             "radius. Query i's matches are ids[lims[i]:lims[i + 1]] (int64) with distances\n"
             "(float32), best first. FLAT is exact; IVF kinds look in their nprobe lists; IVF_PQ\n"
             "and SCANN select by approximate scores and keep what their rerank store confirms.\n"
             "filter as for search().");

static PyObject *Index_range_search(IndexObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"q", "radius", "nprobe", "threads", "filter", NULL};
    PyObject *qo, *nprobe_o = Py_None, *threads_o = Py_None, *filter_o = Py_None;
    double radius;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Od|OOO:range_search", kwlist, &qo, &radius,
                                     &nprobe_o, &threads_o, &filter_o))
        return NULL;
    if (check_ready(self) < 0) return NULL;
    scann_search_params sp = {0};
    if (opt_int(nprobe_o, "nprobe", &sp.nprobe) < 0 ||
        opt_int(threads_o, "threads", &sp.num_threads) < 0)
        return NULL;
    int64_t nq;
    int d;
    PyArrayObject *q = as_float_rows(qo, "range_search: q", 1, &nq, &d);
    if (!q) return NULL;
    filter_state fs;
    if (filter_prepare(&fs, filter_o, self, &sp) < 0 || lock_index(self, 0) < 0) {
        filter_release(&fs);
        Py_DECREF(q);
        return NULL;
    }
    scann_range_result *r = NULL;
    scann_status st;
    errmsg e;
    Py_INCREF(filter_o);
    Py_BEGIN_ALLOW_THREADS st =
        scann_index_range_search(self->ix, nq, d, PyArray_DATA(q), (float)radius, &sp, &r);
    errmsg_take(&e, st);
    Py_END_ALLOW_THREADS Py_DECREF(filter_o);
    unlock_index(self);
    Py_DECREF(q);
    if (filter_release(&fs) < 0 || st) {
        scann_range_result_free(r);
        return PyErr_Occurred() ? NULL : raise_status(st, e.text);
    }
    npy_intp nl = (npy_intp)nq + 1, nr = (npy_intp)r->lims[nq];
    PyArrayObject *lims = (PyArrayObject *)PyArray_SimpleNew(1, &nl, NPY_INT64);
    PyArrayObject *dist = (PyArrayObject *)PyArray_SimpleNew(1, &nr, NPY_FLOAT32);
    PyArrayObject *ids = (PyArrayObject *)PyArray_SimpleNew(1, &nr, NPY_INT64);
    if (!lims || !dist || !ids) {
        Py_XDECREF(lims);
        Py_XDECREF(dist);
        Py_XDECREF(ids);
        scann_range_result_free(r);
        return NULL;
    }
    memcpy(PyArray_DATA(lims), r->lims, (size_t)nl * sizeof(int64_t));
    memcpy(PyArray_DATA(dist), r->dist, (size_t)nr * sizeof(float));
    memcpy(PyArray_DATA(ids), r->ids, (size_t)nr * sizeof(int64_t));
    scann_range_result_free(r);
    return Py_BuildValue("(NNN)", lims, dist, ids);
}

PyDoc_STRVAR(Index_tune_doc,
             "tune(queries, target_recall, k=10, truth=None, base=None, base_ids=None,\n"
             "     threads=None, dry_run=False) -> dict\n\n"
             "Find the fastest (nprobe, reorder_k) whose recall@k on queries (nq, dim) reaches\n"
             "target_recall (in (0, 1]) and make it the index's default search setting (saved\n"
             "with the index). Queries must be held out, not vectors of the index. The exact\n"
             "neighbours come from truth (nq, >= k) integer ids, or base (the vectors the\n"
             "index holds, ids base_ids or 0..n-1); IVF_FLAT needs neither. A setting counts\n"
             "when its recall minus one standard error reaches the target.\n\n"
             "Returns {'met', 'nprobe', 'reorder_k', 'recall', 'recall_se', 'qps', 'searches',\n"
             "'curve'}; curve is a list of {'nprobe', 'reorder_k', 'recall', 'recall_se',\n"
             "'qps'} for every setting measured. When no setting reaches the target, met is\n"
             "False, the best recall measured is reported and the index is unchanged; so it is\n"
             "with dry_run=True.");

static PyObject *tune_point_dict(const scann_tune_point *p)
{
    return Py_BuildValue("{s:i,s:i,s:d,s:d,s:d}", "nprobe", p->nprobe, "reorder_k", p->reorder_k,
                         "recall", p->recall, "recall_se", p->recall_se, "qps", p->qps);
}

static PyObject *Index_tune(IndexObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"queries",  "target_recall", "k",       "truth", "base",
                             "base_ids", "threads",       "dry_run", NULL};
    PyObject *qo, *truth_o = Py_None, *base_o = Py_None, *bids_o = Py_None, *threads_o = Py_None;
    double target;
    int k = 10, dry_run = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Od|iOOOOp:tune", kwlist, &qo, &target, &k, &truth_o,
                                     &base_o, &bids_o, &threads_o, &dry_run))
        return NULL;
    if (check_ready(self) < 0) return NULL;
    scann_tune_params tp = {0};
    if (opt_int(threads_o, "threads", &tp.num_threads) < 0) return NULL;
    tp.dry_run = dry_run;
    if (truth_o != Py_None && base_o != Py_None)
        return raise_invalid("tune: give truth or base, not both");
    if (bids_o != Py_None && base_o == Py_None) return raise_invalid("tune: base_ids without base");
    int64_t nq, nb = 0;
    int d, bd = 0;
    PyArrayObject *q = NULL, *truth = NULL, *base = NULL, *bids = NULL;
    scann_tune_point *curve = NULL;
    PyObject *result = NULL;
    if (!(q = as_float_rows(qo, "tune: queries", 0, &nq, &d))) goto done;
    if (truth_o != Py_None) {
        PyArrayObject *a = (PyArrayObject *)PyArray_FromAny(truth_o, NULL, 0, 0, 0, NULL);
        if (!a) goto done;
        char kind = PyArray_DESCR(a)->kind;
        if ((kind != 'i' && kind != 'u') || PyArray_NDIM(a) != 2 || PyArray_DIM(a, 0) != nq) {
            raise_invalid("tune: truth must be a 2-D integer array with one row per query "
                          "(%lld)",
                          (long long)nq);
            Py_DECREF(a);
            goto done;
        }
        truth = (PyArrayObject *)PyArray_FromArray(a, PyArray_DescrFromType(NPY_INT64),
                                                   NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
        Py_DECREF(a);
        if (!truth) goto done;
        if (PyArray_DIM(truth, 1) > INT_MAX) {
            raise_invalid("tune: truth rows are too long");
            goto done;
        }
        tp.truth = PyArray_DATA(truth);
        tp.truth_stride = (int)PyArray_DIM(truth, 1);
    }
    if (base_o != Py_None) {
        if (!(base = as_float_rows(base_o, "tune: base", 0, &nb, &bd))) goto done;
        if (bd != d) {
            raise_status(SCANN_ERR_DIMENSION, "tune: base and queries differ in dimension");
            goto done;
        }
        if (bids_o != Py_None) {
            if (!(bids = as_ids(bids_o, nb, "tune: base_ids"))) goto done;
            tp.base_ids = PyArray_DATA(bids);
        }
        tp.base = PyArray_DATA(base);
        tp.nbase = nb;
    }
    /* Bounded by the tuner's ladder (12 rungs of about 2 log2(nlist) + a few points). */
    enum { CURVE_CAP = 4096 };
    curve = PyMem_Malloc(CURVE_CAP * sizeof *curve);
    if (!curve) {
        PyErr_NoMemory();
        goto done;
    }
    tp.curve = curve;
    tp.curve_cap = CURVE_CAP;
    if (lock_index(self, 0) < 0) goto done;
    const float *qp = PyArray_DATA(q);
    scann_tune_result r;
    scann_status st;
    errmsg e;
    Py_BEGIN_ALLOW_THREADS st = scann_index_tune(self->ix, nq, d, qp, k, target, &tp, &r);
    errmsg_take(&e, st);
    Py_END_ALLOW_THREADS unlock_index(self);
    if (st) {
        raise_status(st, e.text);
        goto done;
    }
    int n = r.npoints < CURVE_CAP ? r.npoints : CURVE_CAP;
    PyObject *list = PyList_New(n);
    if (!list) goto done;
    for (int i = 0; i < n; i++) {
        PyObject *pt = tune_point_dict(&curve[i]);
        if (!pt) {
            Py_DECREF(list);
            goto done;
        }
        PyList_SET_ITEM(list, i, pt);
    }
    result =
        Py_BuildValue("{s:O,s:i,s:i,s:d,s:d,s:d,s:i,s:N}", "met", r.met ? Py_True : Py_False,
                      "nprobe", r.nprobe, "reorder_k", r.reorder_k, "recall", r.recall, "recall_se",
                      r.recall_se, "qps", r.qps, "searches", r.nsearches, "curve", list);
done:
    PyMem_Free(curve);
    Py_XDECREF(q);
    Py_XDECREF(truth);
    Py_XDECREF(base);
    Py_XDECREF(bids);
    return result;
}

PyDoc_STRVAR(Index_save_doc, "save(path)\n\nWrite the index to path (atomically: a temporary file "
                             "renamed into place).");

static PyObject *Index_save(IndexObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", NULL};
    PyObject *path_b;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&:save", kwlist, PyUnicode_FSConverter, &path_b))
        return NULL;
    if (lock_index(self, 0) < 0) return Py_DECREF(path_b), NULL;
    const char *path = PyBytes_AS_STRING(path_b);
    scann_status st;
    errmsg e;
    Py_BEGIN_ALLOW_THREADS st = scann_index_save(self->ix, path);
    errmsg_take(&e, st);
    Py_END_ALLOW_THREADS unlock_index(self);
    Py_DECREF(path_b);
    if (st) return raise_status(st, e.text);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(Index_to_bytes_doc, "to_bytes() -> bytes\n\nThe index in its file format, in memory.");

static PyObject *Index_to_bytes(IndexObject *self, PyObject *unused)
{
    if (lock_index(self, 0) < 0) return NULL;
    void *buf = NULL;
    size_t len = 0;
    scann_status st;
    errmsg e;
    Py_BEGIN_ALLOW_THREADS st = scann_index_save_buffer(self->ix, &buf, &len);
    errmsg_take(&e, st);
    Py_END_ALLOW_THREADS unlock_index(self);
    if (st) return raise_status(st, e.text);
    PyObject *out = PyBytes_FromStringAndSize(buf, (Py_ssize_t)len);
    scann_buffer_free(buf);
    return out;
}

/* Wrap a freshly loaded handle in an object of class cls (without calling __init__). */
static PyObject *wrap_loaded(PyTypeObject *cls, scann_index *ix)
{
    IndexObject *self = index_alloc(cls);
    if (!self) {
        scann_index_free(ix);
        return NULL;
    }
    self->ix = ix;
    self->threads = 0; /* scann.h: a loaded index uses all cores until told otherwise */
    return (PyObject *)self;
}

PyDoc_STRVAR(Index_load_doc,
             "load(path, mmap=False) -> Index  (classmethod)\n\n"
             "Read an index written by save(). mmap=True maps the file read-only and searches it\n"
             "in place (shared page cache); such an index cannot be trained or added to.");

static PyObject *Index_load(PyObject *cls, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "mmap", NULL};
    PyObject *path_b;
    int use_mmap = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|p:load", kwlist, PyUnicode_FSConverter, &path_b,
                                     &use_mmap))
        return NULL;
    scann_status (*loader)(const char *, scann_index **) =
        use_mmap ? scann_index_load_mmap : scann_index_load;
    const char *path = PyBytes_AS_STRING(path_b);
    scann_index *ix = NULL;
    scann_status st;
    errmsg e;
    Py_BEGIN_ALLOW_THREADS st = loader(path, &ix);
    errmsg_take(&e, st);
    Py_END_ALLOW_THREADS Py_DECREF(path_b);
    if (st) return raise_status(st, e.text);
    return wrap_loaded((PyTypeObject *)cls, ix);
}

PyDoc_STRVAR(Index_from_bytes_doc,
             "from_bytes(data) -> Index  (classmethod)\n\nRebuild an index from to_bytes()'s "
             "output (any bytes-like object).");

static PyObject *Index_from_bytes(PyObject *cls, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    scann_index *ix = NULL;
    scann_status st;
    errmsg e;
    Py_BEGIN_ALLOW_THREADS st = scann_index_load_buffer(view.buf, (size_t)view.len, &ix);
    errmsg_take(&e, st);
    Py_END_ALLOW_THREADS PyBuffer_Release(&view);
    if (st) return raise_status(st, e.text);
    return wrap_loaded((PyTypeObject *)cls, ix);
}

PyDoc_STRVAR(Index_describe_doc,
             "describe() -> str\n\nA spec string that recreates this index's parameters.");

static PyObject *Index_describe(IndexObject *self, PyObject *unused)
{
    if (lock_index(self, 0) < 0) return NULL;
    char buf[512];
    scann_status st = scann_index_describe(self->ix, buf, sizeof buf);
    errmsg e;
    errmsg_take(&e, st);
    unlock_index(self);
    if (st) return raise_status(st, e.text);
    return PyUnicode_FromString(buf);
}

PyDoc_STRVAR(Index_close_doc,
             "close()\n\nFree the index now rather than when the object is collected. Waits for "
             "searches\nrunning in other threads; any later use raises RuntimeError. Calling it "
             "again does\nnothing. `with Index(...) as ix:` calls it at the end of the block.");

static PyObject *Index_close(IndexObject *self, PyObject *unused)
{
    if (!self->ix) Py_RETURN_NONE;
    if (lock_index(self, 1) < 0) {
        if (self->ix) return NULL; /* a real failure, not "another thread closed it first" */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    scann_index *ix = self->ix;
    self->ix = NULL;
    self->closed = 1;
    unlock_index(self);
    Py_BEGIN_ALLOW_THREADS scann_index_free(
        ix); /* unreachable from self now, so nobody else can be using it */
    Py_END_ALLOW_THREADS Py_RETURN_NONE;
}

static PyObject *Index_enter(IndexObject *self, PyObject *unused)
{
    if (check_ready(self) < 0) return NULL;
    return Py_NewRef(self);
}

static PyObject *Index_exit(IndexObject *self, PyObject *args)
{
    PyObject *r = Index_close(self, NULL);
    if (!r) return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE; /* never swallows the block's exception */
}

/* ---- properties ------------------------------------------------------------------------ */

static PyObject *Index_get_ntotal(IndexObject *self, void *c)
{
    if (lock_index(self, 0) < 0) return NULL;
    int64_t n = scann_index_ntotal(self->ix);
    unlock_index(self);
    return PyLong_FromLongLong(n);
}

static PyObject *Index_get_dim(IndexObject *self, void *c)
{
    if (check_ready(self) < 0) return NULL;
    return PyLong_FromLong(scann_index_dim(self->ix)); /* fixed at creation: no lock */
}

static PyObject *Index_get_metric(IndexObject *self, void *c)
{
    if (check_ready(self) < 0) return NULL;
    return PyUnicode_FromString(scann_metric_name(scann_index_get_metric(self->ix)));
}

static PyObject *Index_get_kind(IndexObject *self, void *c)
{
    if (check_ready(self) < 0) return NULL;
    return PyUnicode_FromString(scann_index_kind_name(scann_index_get_kind(self->ix)));
}

static PyObject *Index_get_kernel(IndexObject *self, void *c)
{
    if (check_ready(self) < 0) return NULL;
    return PyUnicode_FromString(scann_index_kernel_name(self->ix));
}

static PyObject *Index_get_is_trained(IndexObject *self, void *c)
{
    if (lock_index(self, 0) < 0) return NULL;
    int t = scann_index_is_trained(self->ix);
    unlock_index(self);
    return PyBool_FromLong(t);
}

static PyObject *Index_get_closed(IndexObject *self, void *c)
{
    return PyBool_FromLong(self->closed);
}

static PyObject *Index_get_memory_bytes(IndexObject *self, void *c)
{
    if (lock_index(self, 0) < 0) return NULL;
    size_t bytes = 0;
    scann_status st = scann_index_memory(self->ix, &bytes);
    errmsg e;
    errmsg_take(&e, st);
    unlock_index(self);
    if (st) return raise_status(st, e.text);
    return PyLong_FromSize_t(bytes);
}

static PyObject *Index_get_threads(IndexObject *self, void *c)
{
    if (check_ready(self) < 0) return NULL;
    return PyLong_FromLong(self->threads);
}

static int Index_set_threads(IndexObject *self, PyObject *value, void *c)
{
    if (!value) {
        PyErr_SetString(PyExc_AttributeError, "threads cannot be deleted");
        return -1;
    }
    if (check_ready(self) < 0) return -1;
    int t;
    if (opt_int(value, "threads", &t) < 0) return -1;
    if (lock_index(self, 1) < 0) return -1;
    scann_status st = scann_index_set_num_threads(self->ix, t);
    errmsg e;
    errmsg_take(&e, st);
    if (!st) self->threads = t;
    unlock_index(self);
    if (st) return raise_status(st, e.text), -1;
    return 0;
}

static PyMethodDef Index_methods[] = {
    {"train", (PyCFunction)(void (*)(void))Index_train, METH_VARARGS | METH_KEYWORDS,
     Index_train_doc},
    {"add", (PyCFunction)(void (*)(void))Index_add, METH_VARARGS | METH_KEYWORDS, Index_add_doc},
    {"remove", (PyCFunction)(void (*)(void))Index_remove, METH_VARARGS | METH_KEYWORDS,
     Index_remove_doc},
    {"reconstruct", (PyCFunction)(void (*)(void))Index_reconstruct, METH_VARARGS | METH_KEYWORDS,
     Index_reconstruct_doc},
    {"search", (PyCFunction)(void (*)(void))Index_search, METH_VARARGS | METH_KEYWORDS,
     Index_search_doc},
    {"range_search", (PyCFunction)(void (*)(void))Index_range_search, METH_VARARGS | METH_KEYWORDS,
     Index_range_search_doc},
    {"tune", (PyCFunction)(void (*)(void))Index_tune, METH_VARARGS | METH_KEYWORDS, Index_tune_doc},
    {"save", (PyCFunction)(void (*)(void))Index_save, METH_VARARGS | METH_KEYWORDS, Index_save_doc},
    {"to_bytes", (PyCFunction)Index_to_bytes, METH_NOARGS, Index_to_bytes_doc},
    {"load", (PyCFunction)(void (*)(void))Index_load, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     Index_load_doc},
    {"from_bytes", (PyCFunction)Index_from_bytes, METH_O | METH_CLASS, Index_from_bytes_doc},
    {"describe", (PyCFunction)Index_describe, METH_NOARGS, Index_describe_doc},
    {"close", (PyCFunction)Index_close, METH_NOARGS, Index_close_doc},
    {"__enter__", (PyCFunction)Index_enter, METH_NOARGS, "Return the index itself."},
    {"__exit__", (PyCFunction)Index_exit, METH_VARARGS, "Call close()."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Index_getset[] = {
    {"ntotal", (getter)Index_get_ntotal, NULL, "Number of vectors stored.", NULL},
    {"dim", (getter)Index_get_dim, NULL, "Vector dimension.", NULL},
    {"metric", (getter)Index_get_metric, NULL, "'l2', 'ip' or 'cosine'.", NULL},
    {"kind", (getter)Index_get_kind, NULL, "'FLAT', 'IVF_FLAT', 'IVF_PQ' or 'SCANN'.", NULL},
    {"kernel", (getter)Index_get_kernel, NULL,
     "Distance kernel family chosen for this CPU: 'scalar', 'avx2', 'avx512', 'avx512icl' or "
     "'neon'.",
     NULL},
    {"is_trained", (getter)Index_get_is_trained, NULL, "Whether train() has succeeded.", NULL},
    {"closed", (getter)Index_get_closed, NULL, "Whether close() has freed the index.", NULL},
    {"memory_bytes", (getter)Index_get_memory_bytes, NULL,
     "Bytes the index holds on the heap (vectors, codes, ids, tables).", NULL},
    {"threads", (getter)Index_get_threads, (setter)Index_set_threads,
     "Threads per call when a call does not say (0 = all online cores).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject IndexType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pyscann._pyscann.Index",
    .tp_basicsize = sizeof(IndexObject),
    .tp_dealloc = (destructor)Index_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = Index_init_doc,
    .tp_methods = Index_methods,
    .tp_getset = Index_getset,
    .tp_init = (initproc)Index_init,
    .tp_new = Index_new,
};

/* ---- module functions ------------------------------------------------------------------ */

PyDoc_STRVAR(set_blas_single_thread_doc,
             "set_blas_single_thread() -> bool\n\n"
             "Make OpenBLAS single-threaded for the whole process (openblas_set_num_threads(1)).\n"
             "libscann runs its own threads and calls sgemm from each; a multi-threaded BLAS on\n"
             "top of them oversubscribes the cores. Importing pyscann never changes this by\n"
             "itself, since numpy shares the BLAS. Returns False when the BLAS is not OpenBLAS.");

static PyObject *set_blas_single_thread(PyObject *m, PyObject *unused)
{
    if (!openblas_set_num_threads) Py_RETURN_FALSE;
    openblas_set_num_threads(1);
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(blas_num_threads_doc,
             "blas_num_threads() -> int or None\n\nOpenBLAS's thread count, or None when the BLAS "
             "is not OpenBLAS.");

static PyObject *blas_num_threads(PyObject *m, PyObject *unused)
{
    if (!openblas_get_num_threads) Py_RETURN_NONE;
    return PyLong_FromLong(openblas_get_num_threads());
}

static PyMethodDef module_methods[] = {
    {"set_blas_single_thread", set_blas_single_thread, METH_NOARGS, set_blas_single_thread_doc},
    {"blas_num_threads", blas_num_threads, METH_NOARGS, blas_num_threads_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_pyscann",
    .m_doc = "Low-level binding of libscann; use the pyscann package instead.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__pyscann(void)
{
    import_array();
    if (PyType_Ready(&IndexType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m) return NULL;
    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", SCANN_VERSION_MAJOR, SCANN_VERSION_MINOR,
             SCANN_VERSION_PATCH);
    /* METRICS: every accepted name -> the canonical one, for callers that validate early. */
    PyObject *metrics = PyDict_New();
    int bad_dict = !metrics || PyModule_AddObjectRef(m, "METRICS", metrics) < 0;
    Py_XDECREF(metrics); /* the module holds it now */
    if (bad_dict) {
        Py_DECREF(m);
        return NULL;
    }
    for (size_t i = 0; i < sizeof metric_names / sizeof metric_names[0]; i++) {
        PyObject *v = PyUnicode_FromString(scann_metric_name(metric_names[i].metric));
        int bad = !v || PyDict_SetItemString(metrics, metric_names[i].name, v) < 0;
        Py_XDECREF(v);
        if (bad) {
            Py_DECREF(m);
            return NULL;
        }
    }
    if (add_exceptions(m) < 0 || PyModule_AddObjectRef(m, "Index", (PyObject *)&IndexType) < 0 ||
        PyModule_AddStringConstant(m, "scann_version", version) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
