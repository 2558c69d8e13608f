/*
 * test_vecio.c - vector file reading and writing (src/vecio.c).
 *
 * Round trips for every format must give back identical bytes (NaN payloads and -0.0
 * included); numpy must agree with our .npy files both ways when it is installed; and every
 * malformed file (cut at each byte, rows of another dimension, hostile headers) must fail
 * cleanly with SCANN_ERR_FORMAT, leave the outputs alone and name the file. All files live in a
 * fresh mkdtemp() directory that the group teardown removes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scann.h"

/* cmocka's test signature hands every test a state pointer that most of them ignore. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

static char g_dir[64];

/* ---- helpers --------------------------------------------------------------------------- */

static const char *tpath(char *buf, const char *name)
{
    snprintf(buf, 256, "%s/%s", g_dir, name);
    return buf;
}

static void put_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Whole file into a malloc'd buffer (+1 so an empty file still gets a pointer). */
static unsigned char *get_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return buf;
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* Whether a temporary file of a write to path ("<path>.tmp.<pid>.<thread>") is left over. */
static bool temp_left(const char *path)
{
    const char *name = strrchr(path, '/') + 1;
    size_t n = strlen(name);
    DIR *d = opendir(g_dir);
    bool found = false;
    for (struct dirent *e; d && (e = readdir(d));)
        found |= strncmp(e->d_name, name, n) == 0 && strncmp(e->d_name + n, ".tmp", 4) == 0;
    if (d) closedir(d);
    return found;
}

/* The temporary name this thread's write to path uses (atomic_file.c). */
static void temp_name(char *out, size_t len, const char *path)
{
    pthread_t self = pthread_self();
    unsigned long tid = 0;
    memcpy(&tid, &self, sizeof tid < sizeof self ? sizeof tid : sizeof self);
    snprintf(out, len, "%s.tmp.%ld.%lx", path, (long)getpid(), tid);
}

static bool error_mentions(const char *text) { return strstr(scann_last_error(), text) != NULL; }

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Floats that only survive a byte-exact copy: NaN payloads, -0.0, infinities, subnormals. */
static void tricky_floats(float *x, size_t count)
{
    static const uint32_t special[] = {0x7fc00001u, 0xffc12345u, 0x80000000u, 0x7f800000u,
                                       0xff800000u, 0x00000001u, 0x7f7fffffu, 0x3f800000u};
    for (size_t i = 0; i < count; i++) {
        uint32_t u = i < 8 ? special[i] : (uint32_t)(i * 2654435761u);
        memcpy(&x[i], &u, 4);
    }
}

/* A read that must fail with status want, leaving the sentinel outputs untouched. */
static void expect_read_fails(const char *path, scann_status want)
{
    float *data = (float *)(uintptr_t)0x1234;
    int64_t n = -7;
    int dim = -9;
    scann_status s = scann_vecs_read(path, &data, &n, &dim);
    if (s != want)
        fail_msg("%s: got %s (%s), want %s", path, scann_status_name(s), scann_last_error(),
                 scann_status_name(want));
    assert_ptr_equal(data, (float *)(uintptr_t)0x1234);
    assert_int_equal(n, -7);
    assert_int_equal(dim, -9);
    if (path && !error_mentions(path))
        fail_msg("error does not name %s: %s", path, scann_last_error());
}

static void expect_ivecs_read_fails(const char *path, scann_status want)
{
    int32_t *data = NULL;
    int64_t n = -7;
    int dim = -9;
    scann_status s = scann_ivecs_read(path, &data, &n, &dim);
    if (s != want)
        fail_msg("%s: got %s (%s), want %s", path, scann_status_name(s), scann_last_error(),
                 scann_status_name(want));
    assert_null(data);
    assert_int_equal(n, -7);
    assert_int_equal(dim, -9);
    assert_true(error_mentions(path));
}

/* A small valid .npy: version 1.0 header text padded to 64 bytes, then n * d values of 4 bytes. */
static size_t make_npy(unsigned char *buf, const char *dict, int64_t n, int d)
{
    size_t len = strlen(dict);
    size_t total = (10 + len + 1 + 63) / 64 * 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)((total - 10) & 0xff);
    buf[9] = (unsigned char)((total - 10) >> 8);
    memcpy(buf + 10, dict, len);
    memset(buf + 10 + len, ' ', total - 10 - len - 1);
    buf[total - 1] = '\n';
    for (int64_t i = 0; i < n * d; i++) {
        float v = (float)i * 0.5f;
        memcpy(buf + total + 4 * i, &v, 4);
    }
    return total + (size_t)(4 * n * d);
}

static bool have_numpy(void)
{
    return access("/usr/bin/python3", X_OK) == 0 &&
           system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

static int python(const char *code)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"%s\"", code);
    return system(cmd);
}

/* ---- setup ----------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int group_setup(void **state)
{
    strcpy(g_dir, "/tmp/scann-test-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state) { return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* ---- round trips ----------------------------------------------------------------------- */

static void roundtrip_floats(const char *name, size_t header)
{
    char p[256];
    enum { N = 5, D = 7 };
    float x[N * D];
    tricky_floats(x, N * D);
    assert_int_equal(scann_vecs_write(tpath(p, name), x, N, D), SCANN_OK);
    assert_false(temp_left(p));

    size_t len;
    unsigned char *bytes = get_file(p, &len);
    if (header == 0) {
        assert_int_equal(len, N * (4 + 4 * D));
        assert_memory_equal(bytes, "\x07\x00\x00\x00", 4);
    } else {
        assert_int_equal(len, header + 4 * N * D);
    }
    free(bytes);

    float *y = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_vecs_read(p, &y, &n, &d), SCANN_OK);
    assert_int_equal(n, N);
    assert_int_equal(d, D);
    assert_memory_equal(x, y, sizeof x);
    scann_buffer_free(y);
}

static void test_fvecs_roundtrip(void **state) { roundtrip_floats("a.fvecs", 0); }

static void test_npy_float_roundtrip(void **state)
{
    roundtrip_floats("a.npy", 128);
    char p[256];
    size_t len;
    unsigned char *b = get_file(tpath(p, "a.npy"), &len);
    assert_memory_equal(b, "\x93NUMPY\x01\x00", 8);
    /* The 60-byte dict pushes prefix + header to 128 bytes: numpy's 64-byte alignment. */
    assert_int_equal(b[8] | b[9] << 8, 118);
    assert_int_equal(b[127], '\n');
    assert_non_null(strstr((char *)b + 10, "'descr': '<f4'"));
    free(b);
}

static void roundtrip_ints(const char *name)
{
    char p[256];
    enum { N = 4, D = 3 };
    int32_t x[N * D] = {INT32_MIN, INT32_MAX, -1, 0, 1, 2, 3, 1 << 24, 99, -99, 7, 8};
    assert_int_equal(scann_ivecs_write(tpath(p, name), x, N, D), SCANN_OK);
    int32_t *y = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_ivecs_read(p, &y, &n, &d), SCANN_OK);
    assert_int_equal(n, N);
    assert_int_equal(d, D);
    assert_memory_equal(x, y, sizeof x);
    scann_buffer_free(y);
}

static void test_ivecs_roundtrip(void **state)
{
    roundtrip_ints("a.ivecs");
    /* The same file read as floats converts each value. */
    char p[256];
    float *f = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_vecs_read(tpath(p, "a.ivecs"), &f, &n, &d), SCANN_OK);
    assert_int_equal(n, 4);
    assert_int_equal(d, 3);
    assert_true(f[0] == (float)INT32_MIN && f[2] == -1.0f && f[7] == 16777216.0f);
    scann_buffer_free(f);
}

static void test_npy_int_roundtrip(void **state)
{
    roundtrip_ints("i.npy");
    char p[256];
    size_t len;
    unsigned char *b = get_file(tpath(p, "i.npy"), &len);
    assert_non_null(strstr((char *)b + 10, "'descr': '<i4'"));
    free(b);
}

static void test_bvecs_read(void **state)
{
    char p[256];
    unsigned char file[2 * (4 + 5)] = {5, 0, 0, 0, 0, 1, 2, 128, 255, 5, 0, 0, 0, 9, 8, 7, 6, 5};
    put_file(tpath(p, "b.bvecs"), file, sizeof file);
    float *f = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_vecs_read(p, &f, &n, &d), SCANN_OK);
    assert_int_equal(n, 2);
    assert_int_equal(d, 5);
    const float want[10] = {0, 1, 2, 128, 255, 9, 8, 7, 6, 5};
    assert_memory_equal(f, want, sizeof want);
    scann_buffer_free(f);
}

static void test_rewrite_replaces(void **state)
{
    char p[256];
    float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(scann_vecs_write(tpath(p, "r.fvecs"), a, 4, 2), SCANN_OK);
    assert_int_equal(scann_vecs_write(p, a + 2, 1, 3), SCANN_OK);
    float *f = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_vecs_read(p, &f, &n, &d), SCANN_OK);
    assert_int_equal(n, 1);
    assert_int_equal(d, 3);
    assert_memory_equal(f, a + 2, 3 * sizeof(float));
    scann_buffer_free(f);
}

/* Big enough for several staging chunks, with a row size that does not divide them. */
static void test_multi_chunk(void **state)
{
    char p[256];
    const int64_t N = 40000;
    const int D = 97;
    float *x = malloc((size_t)N * D * sizeof *x);
    assert_non_null(x);
    tricky_floats(x, (size_t)N * D);
    assert_int_equal(scann_vecs_write(tpath(p, "big.fvecs"), x, N, D), SCANN_OK);
    float *y = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_vecs_read(p, &y, &n, &d), SCANN_OK);
    assert_int_equal(n, N);
    assert_int_equal(d, D);
    assert_memory_equal(x, y, (size_t)N * D * sizeof *x);
    scann_buffer_free(y);
    free(x);
}

/* ---- numpy interoperability ------------------------------------------------------------ */

static void test_numpy_interop(void **state)
{
    if (!have_numpy()) skip();
    char p[256], code[1024];
    /* numpy writes (2-d float, 1-d float, 2-d int32, format 2.0); we read. */
    snprintf(code, sizeof code,
             "import numpy as np; d='%s'; a=(np.arange(12, dtype='<f4') * 0.25).reshape(3, 4); "
             "np.save(d + '/np2.npy', a); np.save(d + '/np1.npy', a.ravel()); "
             "np.save(d + '/npi.npy', np.arange(6, dtype='<i4').reshape(2, 3) - 3); "
             "f=open(d + '/npv2.npy', 'wb'); np.lib.format.write_array(f, a, version=(2, 0)); "
             "f.close(); np.save(d + '/npf.npy', np.asfortranarray(a)); "
             "np.save(d + '/np8.npy', a.astype('<f8')); "
             "np.save(d + '/npsame.npy', np.arange(6, dtype='<i4').reshape(2, 3) - 3)",
             g_dir);
    assert_int_equal(python(code), 0);

    float want[12];
    for (int i = 0; i < 12; i++) want[i] = (float)i * 0.25f;
    const struct {
        const char *name;
        int64_t n;
        int d;
    } cases[] = {{"np2.npy", 3, 4}, {"np1.npy", 1, 12}, {"npv2.npy", 3, 4}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float *f = NULL;
        int64_t n = 0;
        int d = 0;
        assert_int_equal(scann_vecs_read(tpath(p, cases[i].name), &f, &n, &d), SCANN_OK);
        assert_int_equal(n, cases[i].n);
        assert_int_equal(d, cases[i].d);
        assert_memory_equal(f, want, sizeof want);
        scann_buffer_free(f);
    }

    int32_t *iv = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_ivecs_read(tpath(p, "npi.npy"), &iv, &n, &d), SCANN_OK);
    assert_int_equal(n, 2);
    assert_int_equal(d, 3);
    const int32_t iwant[6] = {-3, -2, -1, 0, 1, 2};
    assert_memory_equal(iv, iwant, sizeof iwant);
    scann_buffer_free(iv);

    expect_read_fails(tpath(p, "npf.npy"), SCANN_ERR_FORMAT);
    assert_true(error_mentions("Fortran"));
    /* float64 is converted now; the same values come back. */
    float *f8 = NULL;
    assert_int_equal(scann_vecs_read(tpath(p, "np8.npy"), &f8, &n, &d), SCANN_OK);
    assert_int_equal(n * d, 12);
    assert_memory_equal(f8, want, sizeof want);
    scann_buffer_free(f8);
    expect_ivecs_read_fails(tpath(p, "np2.npy"), SCANN_ERR_FORMAT);

    /* We write; numpy reads and checks. */
    assert_int_equal(scann_vecs_write(tpath(p, "ours.npy"), want, 3, 4), SCANN_OK);
    assert_int_equal(scann_ivecs_write(tpath(p, "oursi.npy"), iwant, 2, 3), SCANN_OK);
    snprintf(code, sizeof code,
             "import numpy as np; d='%s'; a=np.load(d + '/ours.npy'); "
             "assert a.dtype == np.float32 and a.shape == (3, 4), a; "
             "assert (a.ravel() == np.arange(12) * 0.25).all(); b=np.load(d + '/oursi.npy'); "
             "assert b.dtype == np.int32 and b.shape == (2, 3) and (b.ravel() + 3 == "
             "np.arange(6)).all(), b",
             g_dir);
    assert_int_equal(python(code), 0);

    /* Not just readable: byte for byte what np.save writes. */
    size_t len_ours, len_np;
    unsigned char *ours = get_file(tpath(p, "oursi.npy"), &len_ours);
    unsigned char *theirs = get_file(tpath(p, "npsame.npy"), &len_np);
    assert_int_equal(len_ours, len_np);
    assert_memory_equal(ours, theirs, len_np);
    free(ours);
    free(theirs);
}

/* ---- rejection ------------------------------------------------------------------------- */

static void test_fvecs_cut_at_every_byte(void **state)
{
    char full[256], cut[256];
    enum { N = 3, D = 4, ROW = 4 + 4 * D };
    float x[N * D];
    tricky_floats(x, N * D);
    assert_int_equal(scann_vecs_write(tpath(full, "full.fvecs"), x, N, D), SCANN_OK);
    size_t len;
    unsigned char *b = get_file(full, &len);
    assert_int_equal(len, N * ROW);
    tpath(cut, "cut.fvecs");
    for (size_t c = 0; c < len; c++) {
        put_file(cut, b, c);
        if (c > 0 && c % ROW == 0) { /* a cut between rows is a valid, shorter file */
            float *y = NULL;
            int64_t n = 0;
            int d = 0;
            assert_int_equal(scann_vecs_read(cut, &y, &n, &d), SCANN_OK);
            assert_int_equal(n, (int64_t)(c / ROW));
            assert_memory_equal(y, x, (size_t)n * D * sizeof(float));
            scann_buffer_free(y);
        } else {
            expect_read_fails(cut, SCANN_ERR_FORMAT);
        }
    }
    /* Extra bytes after the last row are just as wrong. */
    unsigned char *longer = calloc(len + ROW, 1);
    assert_non_null(longer);
    memcpy(longer, b, len);
    for (size_t extra = 1; extra < ROW; extra++) {
        put_file(cut, longer, len + extra);
        expect_read_fails(cut, SCANN_ERR_FORMAT);
    }
    free(longer);
    free(b);
}

static void test_npy_cut_at_every_byte(void **state)
{
    char full[256], cut[256];
    float x[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(scann_vecs_write(tpath(full, "full.npy"), x, 2, 3), SCANN_OK);
    size_t len;
    unsigned char *b = get_file(full, &len);
    unsigned char *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, b, len);
    tpath(cut, "cut.npy");
    for (size_t c = 0; c < len; c++) {
        put_file(cut, b, c);
        expect_read_fails(cut, SCANN_ERR_FORMAT);
    }
    longer[len] = 0;
    put_file(cut, longer, len + 1);
    expect_read_fails(cut, SCANN_ERR_FORMAT);
    assert_true(error_mentions("trailing"));
    free(longer);
    free(b);
}

/* Corrupt each header byte in turn: any answer is fine except a crash or a leak. */
static void test_npy_header_mutations(void **state)
{
    char p[256];
    float x[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(scann_vecs_write(tpath(p, "m.npy"), x, 2, 3), SCANN_OK);
    size_t len;
    unsigned char *b = get_file(p, &len);
    static const unsigned char vals[] = {0,   1,   2,   3,   ' ', '(', ')', ',',  '\'',
                                         '"', '{', '}', ':', '0', '9', 'L', 0x7f, 0xff};
    tpath(p, "mut.npy");
    for (size_t i = 0; i < 64; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            unsigned char saved = b[i];
            b[i] = vals[v];
            put_file(p, b, len);
            float *f = NULL;
            int64_t n = 0;
            int d = 0;
            scann_status s = scann_vecs_read(p, &f, &n, &d);
            assert_true(s == SCANN_OK || s == SCANN_ERR_FORMAT);
            if (s == SCANN_OK) assert_true(n * d == 6);
            scann_buffer_free(f);
            b[i] = saved;
        }
    }
    free(b);
}

static void test_row_dim_mismatch(void **state)
{
    char p[256];
    /* Row 2's header says 5 while the file size still adds up for dim 4. */
    unsigned char file[3 * 20] = {0};
    for (int r = 0; r < 3; r++) put_le32(file + 20 * r, r == 2 ? 5 : 4);
    put_file(tpath(p, "dims.fvecs"), file, sizeof file);
    expect_read_fails(p, SCANN_ERR_FORMAT);
    assert_true(error_mentions("row 2 has dimension 5"));

    /* A genuine dim-5 row in the middle: found by row, not just as a bad file size. */
    unsigned char mixed[20 + 24 + 20] = {0};
    put_le32(mixed, 4);
    put_le32(mixed + 20, 5);
    put_le32(mixed + 44, 4);
    put_file(tpath(p, "mixed.ivecs"), mixed, sizeof mixed);
    expect_ivecs_read_fails(p, SCANN_ERR_FORMAT);
    assert_true(error_mentions("row 1 has dimension 5"));
}

static void test_bad_first_dim(void **state)
{
    char p[256];
    const uint32_t dims[] = {0, 0xffffffffu, (1u << 20) + 1, 0x7fffffffu, 0x80000000u};
    unsigned char file[64] = {0};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        put_le32(file, dims[i]);
        put_file(tpath(p, "dim.fvecs"), file, sizeof file);
        expect_read_fails(p, SCANN_ERR_FORMAT);
        put_file(tpath(p, "dim.bvecs"), file, sizeof file);
        expect_read_fails(p, SCANN_ERR_FORMAT);
    }
}

static void test_hostile_npy(void **state)
{
    char p[256];
    unsigned char buf[512];
    const char *dicts[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 2), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 2), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 1), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 0), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 4), }",
        "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }",
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
        "{'descr': '<f4', 'fortran_order': False, }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'extra': 1}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2) trailing",
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 2), }",
        "{'descr': '<f4, 'fortran_order': False, 'shape': (2, 2), }",
    };
    tpath(p, "h.npy");
    for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
        size_t len = make_npy(buf, dicts[i], 2, 2); /* data for a (2, 2) array */
        put_file(p, buf, len);
        expect_read_fails(p, SCANN_ERR_FORMAT);
    }
    assert_true(error_mentions("malformed .npy header"));

    /* The same builder with a good header reads fine, so the failures above are the dicts. */
    size_t len = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 2, 2);
    put_file(p, buf, len);
    float *f = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_vecs_read(p, &f, &n, &d), SCANN_OK);
    assert_int_equal(n * d, 4);
    scann_buffer_free(f);

    /* Header lengths past the end of the file, in format 1.0 and 2.0. */
    buf[8] = 0xff;
    buf[9] = 0xff;
    put_file(p, buf, len);
    expect_read_fails(p, SCANN_ERR_FORMAT);
    assert_true(error_mentions("truncated"));
    unsigned char v2[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xff, 0xff, 0xff, 0xff, '{'};
    put_file(p, v2, sizeof v2);
    expect_read_fails(p, SCANN_ERR_FORMAT);
    /* An unknown version and a wrong magic. */
    len = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 2, 2);
    buf[6] = 4;
    put_file(p, buf, len);
    expect_read_fails(p, SCANN_ERR_FORMAT);
    buf[6] = 1;
    buf[1] = 'n';
    put_file(p, buf, len);
    expect_read_fails(p, SCANN_ERR_FORMAT);
}

static void test_empty_files(void **state)
{
    char p[256];
    const char *names[] = {"e.fvecs", "e.ivecs", "e.bvecs", "e.npy"};
    for (size_t i = 0; i < 4; i++) {
        put_file(tpath(p, names[i]), NULL, 0);
        expect_read_fails(p, SCANN_ERR_FORMAT);
        assert_true(error_mentions("empty"));
    }
    expect_ivecs_read_fails(tpath(p, "e.ivecs"), SCANN_ERR_FORMAT);
}

static void test_bad_extensions(void **state)
{
    char p[256];
    float x[2] = {1, 2};
    int32_t iv[2] = {1, 2};
    const char *names[] = {"x.txt", "noext", "dir.fvecs/x", "x.fvecs.bak"};
    for (size_t i = 0; i < 4; i++) {
        expect_read_fails(tpath(p, names[i]), SCANN_ERR_INVALID_ARGUMENT);
        expect_ivecs_read_fails(p, SCANN_ERR_INVALID_ARGUMENT);
        assert_int_equal(scann_vecs_write(p, x, 1, 2), SCANN_ERR_INVALID_ARGUMENT);
        assert_true(error_mentions(p));
    }
    /* Known extensions of the wrong kind. */
    expect_ivecs_read_fails(tpath(p, "x.fvecs"), SCANN_ERR_INVALID_ARGUMENT);
    expect_ivecs_read_fails(tpath(p, "x.bvecs"), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_vecs_write(tpath(p, "x.ivecs"), x, 1, 2), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_vecs_write(tpath(p, "x.bvecs"), x, 1, 2), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_ivecs_write(tpath(p, "x.fvecs"), iv, 1, 2), SCANN_ERR_INVALID_ARGUMENT);
    assert_false(exists(p));
    /* Upper-case extensions are the same format. */
    assert_int_equal(scann_vecs_write(tpath(p, "UP.FVECS"), x, 1, 2), SCANN_OK);
    float *f = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_vecs_read(p, &f, &n, &d), SCANN_OK);
    scann_buffer_free(f);
}

static void test_missing_and_unreadable(void **state)
{
    char p[256];
    expect_read_fails(tpath(p, "missing.fvecs"), SCANN_ERR_IO);
    assert_true(error_mentions(strerror(ENOENT)));
    expect_ivecs_read_fails(tpath(p, "missing.npy"), SCANN_ERR_IO);
    assert_int_equal(mkdir(tpath(p, "adir.fvecs"), 0755), 0);
    expect_read_fails(p, SCANN_ERR_IO);
    expect_read_fails("/dev/null/x.npy", SCANN_ERR_IO);
}

static void test_null_arguments(void **state)
{
    char p[256];
    float x[2] = {1, 2};
    float *f = NULL;
    int32_t *iv = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_vecs_write(tpath(p, "ok.fvecs"), x, 1, 2), SCANN_OK);
    assert_int_equal(scann_vecs_read(NULL, &f, &n, &d), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_vecs_read(p, NULL, &n, &d), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_vecs_read(p, &f, NULL, &d), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_vecs_read(p, &f, &n, NULL), SCANN_ERR_INVALID_ARGUMENT);
    assert_true(error_mentions("dim is NULL"));
    assert_int_equal(scann_ivecs_read(NULL, &iv, &n, &d), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_ivecs_read(p, NULL, &n, &d), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_vecs_write(NULL, x, 1, 2), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_vecs_write(p, NULL, 1, 2), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_ivecs_write(p, NULL, 1, 2), SCANN_ERR_INVALID_ARGUMENT);
    assert_null(f);
    assert_null(iv);
    scann_buffer_free(NULL);
}

static void test_write_bad_sizes(void **state)
{
    char p[256];
    float x[2] = {1, 2};
    tpath(p, "sz.fvecs");
    assert_int_equal(scann_vecs_write(p, x, 0, 2), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_vecs_write(p, x, -1, 2), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_vecs_write(p, x, 1, 0), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_vecs_write(p, x, 1, (1 << 20) + 1), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_vecs_write(p, x, INT64_MAX / 2, 1 << 20), SCANN_ERR_INVALID_ARGUMENT);
    assert_false(exists(p));
}

static void test_write_io_errors(void **state)
{
    char p[256], tmp[300];
    float x[4] = {1, 2, 3, 4};
    /* No such directory. */
    assert_int_equal(scann_vecs_write(tpath(p, "nodir/x.fvecs"), x, 2, 2), SCANN_ERR_IO);
    assert_true(error_mentions(strerror(ENOENT)));
    /* The target is a directory: the rename fails and the temporary file goes away. */
    assert_int_equal(mkdir(tpath(p, "target.npy"), 0755), 0);
    assert_int_equal(scann_vecs_write(p, x, 2, 2), SCANN_ERR_IO);
    assert_true(error_mentions(p));
    assert_false(temp_left(p));
    /* A planted symlink at the temporary name is replaced, not written through. */
    char victim[256];
    put_file(tpath(victim, "victim"), "keep", 4);
    tpath(p, "sym.fvecs");
    temp_name(tmp, sizeof tmp, p);
    assert_int_equal(symlink(victim, tmp), 0);
    assert_int_equal(scann_vecs_write(p, x, 2, 2), SCANN_OK);
    size_t len;
    unsigned char *v = get_file(victim, &len);
    assert_int_equal(len, 4);
    free(v);
}

/* A failing write (EFBIG from a file size limit, standing in for ENOSPC) is reported as IO. */
static void test_write_failure_cleans_up(void **state)
{
    char p[256];
    enum { N = 1000, D = 64 };
    float *x = calloc(N * D, sizeof *x);
    assert_non_null(x);
    float old[2] = {7, 8};
    assert_int_equal(scann_vecs_write(tpath(p, "limited.fvecs"), old, 1, 2), SCANN_OK);

    struct rlimit saved, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    scann_status s1 = scann_vecs_write(p, x, N, D);
    scann_status s2 = scann_vecs_write(tpath(p, "limited.npy"), x, N, D);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, prev);

    assert_int_equal(s1, SCANN_ERR_IO);
    assert_int_equal(s2, SCANN_ERR_IO);
    assert_true(error_mentions(strerror(EFBIG)));
    assert_false(temp_left(p));
    assert_false(exists(p));
    /* The earlier file at the same path is still intact. */
    float *f = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_vecs_read(tpath(p, "limited.fvecs"), &f, &n, &d), SCANN_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(f, old, sizeof old);
    scann_buffer_free(f);
    free(x);
}

/* ---- more formats: .npy dtypes, big-ann .bin, limits, int64 ids ------------------------ */

/* A version 1.0 .npy with the given dict and raw payload. Returns its length. */
static size_t make_npy_raw(unsigned char *buf, const char *dict, const void *payload, size_t len)
{
    size_t hlen = strlen(dict);
    size_t total = (10 + hlen + 1 + 63) / 64 * 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)((total - 10) & 0xff);
    buf[9] = (unsigned char)((total - 10) >> 8);
    memcpy(buf + 10, dict, hlen);
    memset(buf + 10 + hlen, ' ', total - 10 - hlen - 1);
    buf[total - 1] = '\n';
    memcpy(buf + total, payload, len);
    return total + len;
}

static void read_ok(const char *path, int64_t want_n, int want_d, const float *want)
{
    float *f = NULL;
    int64_t n = 0;
    int d = 0;
    scann_status s = scann_vecs_read(path, &f, &n, &d);
    if (s != SCANN_OK) fail_msg("%s: %s", path, scann_last_error());
    assert_int_equal(n, want_n);
    assert_int_equal(d, want_d);
    for (int64_t i = 0; i < n * d; i++)
        if (memcmp(&f[i], &want[i], 4) != 0)
            fail_msg("%s: value %lld is %g, want %g", path, (long long)i, f[i], want[i]);
    scann_buffer_free(f);
}

/* Every byte cut of a file must fail with SCANN_ERR_FORMAT, and one extra byte too. */
static void cut_everywhere(const char *name, const unsigned char *b, size_t len)
{
    char p[256];
    tpath(p, name);
    for (size_t c = 0; c < len; c++) {
        put_file(p, b, c);
        expect_read_fails(p, SCANN_ERR_FORMAT);
    }
    unsigned char *longer = calloc(len + 1, 1);
    assert_non_null(longer);
    memcpy(longer, b, len);
    put_file(p, longer, len + 1);
    expect_read_fails(p, SCANN_ERR_FORMAT);
    free(longer);
}

static void test_npy_dtypes(void **state)
{
    char p[256];
    unsigned char buf[512];
    /* float16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), -0, inf. */
    const uint16_t h[6] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00};
    const float hw[6] = {1.0f, -2.0f, 65504.0f, 5.9604644775390625e-08f, -0.0f, INFINITY};
    size_t len = make_npy_raw(buf, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", h,
                              sizeof h);
    put_file(tpath(p, "f2.npy"), buf, len);
    read_ok(p, 2, 3, hw);
    cut_everywhere("f2cut.npy", buf, len);

    const double f8[4] = {0.5, -1e30, 3.0, 1e-3};
    const float f8w[4] = {0.5f, -1e30f, 3.0f, 1e-3f};
    len = make_npy_raw(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", f8,
                       sizeof f8);
    put_file(tpath(p, "f8.npy"), buf, len);
    read_ok(p, 1, 4, f8w);

    const uint8_t u1[4] = {0, 1, 128, 255};
    const float u1w[4] = {0, 1, 128, 255};
    len = make_npy_raw(buf, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }", u1,
                       sizeof u1);
    put_file(tpath(p, "u1.npy"), buf, len);
    read_ok(p, 2, 2, u1w);
    cut_everywhere("u1cut.npy", buf, len);

    const int8_t i1[4] = {-128, -1, 0, 127};
    const float i1w[4] = {-128, -1, 0, 127};
    len = make_npy_raw(buf, "{'descr': '|i1', 'fortran_order': False, 'shape': (1, 4), }", i1,
                       sizeof i1);
    put_file(tpath(p, "i1.npy"), buf, len);
    read_ok(p, 1, 4, i1w);

    /* int64: as floats anything goes; as int32 rows every value must fit. */
    const int64_t i8[4] = {5, -7, (int64_t)1 << 40, 0};
    const float i8w[4] = {5, -7, 1099511627776.0f, 0};
    len = make_npy_raw(buf, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", i8,
                       sizeof i8);
    put_file(tpath(p, "i8.npy"), buf, len);
    read_ok(p, 2, 2, i8w);
    expect_ivecs_read_fails(p, SCANN_ERR_FORMAT);
    assert_true(error_mentions("does not fit in int32"));
    const int64_t ok8[4] = {5, -7, INT32_MAX, INT32_MIN};
    len = make_npy_raw(buf, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", ok8,
                       sizeof ok8);
    put_file(tpath(p, "ok8.npy"), buf, len);
    int32_t *iv = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_ivecs_read(p, &iv, &n, &d), SCANN_OK);
    const int32_t ok8w[4] = {5, -7, INT32_MAX, INT32_MIN};
    assert_memory_equal(iv, ok8w, sizeof ok8w);
    scann_buffer_free(iv);
    /* Floats are not ids; other dtypes are refused by name. */
    len = make_npy_raw(buf, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", h,
                       sizeof h);
    put_file(tpath(p, "f2.npy"), buf, len);
    expect_ivecs_read_fails(p, SCANN_ERR_FORMAT);
    len = make_npy_raw(buf, "{'descr': '<u8', 'fortran_order': False, 'shape': (2, 2), }", i8,
                       sizeof i8);
    put_file(tpath(p, "u8.npy"), buf, len);
    expect_read_fails(p, SCANN_ERR_FORMAT);
    assert_true(error_mentions("'<u8'"));
}

/* big-ann-benchmarks: [uint32 n][uint32 d] then n * d values. */
static size_t make_bin(unsigned char *buf, uint32_t n, uint32_t d, const void *data, size_t esz)
{
    put_le32(buf, n);
    put_le32(buf + 4, d);
    memcpy(buf + 8, data, (size_t)n * d * esz);
    return 8 + (size_t)n * d * esz;
}

static void test_bin_formats(void **state)
{
    char p[256];
    unsigned char buf[256];
    const float f[6] = {1.5f, -2, 0, 3, 4, 5};
    size_t len = make_bin(buf, 2, 3, f, 4);
    put_file(tpath(p, "a.fbin"), buf, len);
    read_ok(p, 2, 3, f);
    cut_everywhere("cut.fbin", buf, len);

    const uint8_t u[6] = {0, 255, 7, 8, 9, 10};
    const float uw[6] = {0, 255, 7, 8, 9, 10};
    len = make_bin(buf, 3, 2, u, 1);
    put_file(tpath(p, "a.u8bin"), buf, len);
    read_ok(p, 3, 2, uw);
    cut_everywhere("cut.u8bin", buf, len);

    const int8_t i[6] = {-128, 127, -1, 0, 1, 2};
    const float iw[6] = {-128, 127, -1, 0, 1, 2};
    len = make_bin(buf, 1, 6, i, 1);
    put_file(tpath(p, "a.i8bin"), buf, len);
    read_ok(p, 1, 6, iw);

    const int32_t g[6] = {0, 1, 2, 2, 1, 0};
    len = make_bin(buf, 2, 3, g, 4);
    put_file(tpath(p, "gt.ibin"), buf, len);
    int32_t *iv = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_ivecs_read(p, &iv, &n, &d), SCANN_OK);
    assert_int_equal(n, 2);
    assert_int_equal(d, 3);
    assert_memory_equal(iv, g, sizeof g);
    scann_buffer_free(iv);
    expect_ivecs_read_fails(tpath(p, "a.fbin"), SCANN_ERR_INVALID_ARGUMENT);

    /* Hostile headers: huge n or d with a tiny file, zero rows, zero or huge dim. */
    const uint32_t bad[][2] = {
        {0xffffffffu, 0xffffffffu}, {1u << 30, 4}, {0, 3}, {2, 0}, {1, (1u << 20) + 1}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        put_le32(buf, bad[k][0]);
        put_le32(buf + 4, bad[k][1]);
        put_file(tpath(p, "h.fbin"), buf, 8 + 24);
        expect_read_fails(p, SCANN_ERR_FORMAT);
    }
}

static void test_read_limit(void **state)
{
    char p[256];
    enum { N = 5, D = 3 };
    float x[N * D];
    for (int i = 0; i < N * D; i++) x[i] = (float)i;
    const char *names[] = {"l.fvecs", "l.npy"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(scann_vecs_write(tpath(p, names[k]), x, N, D), SCANN_OK);
        for (int64_t lim = 0; lim <= N + 2; lim++) {
            float *f = NULL;
            int64_t n = 0;
            int d = 0;
            assert_int_equal(scann_vecs_read_limit(p, lim, &f, &n, &d), SCANN_OK);
            assert_int_equal(n, lim == 0 || lim > N ? N : lim);
            assert_int_equal(d, D);
            assert_memory_equal(f, x, (size_t)n * D * sizeof(float));
            scann_buffer_free(f);
        }
    }
    unsigned char buf[128];
    size_t len = make_bin(buf, N, D, x, 4);
    put_file(tpath(p, "l.fbin"), buf, len);
    float *f = NULL;
    int64_t n = 0;
    int d = 0;
    assert_int_equal(scann_vecs_read_limit(p, 2, &f, &n, &d), SCANN_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(f, x, 2 * D * sizeof(float));
    scann_buffer_free(f);
    /* A limit does not hide a damaged file: the size is still checked as a whole. */
    put_file(p, buf, len - 1);
    f = (float *)(uintptr_t)0x1234;
    assert_int_equal(scann_vecs_read_limit(p, 1, &f, &n, &d), SCANN_ERR_FORMAT);
    assert_ptr_equal(f, (float *)(uintptr_t)0x1234);
}

static void test_ids_write(void **state)
{
    char p[256];
    const int64_t ids[6] = {0, -1, (int64_t)1 << 31, ((int64_t)1 << 40) + 3, INT64_MAX, 7};
    assert_int_equal(scann_ids_write(tpath(p, "ids.npy"), ids, 2, 3), SCANN_OK);
    size_t len;
    unsigned char *b = get_file(p, &len);
    assert_int_equal(len, 128 + sizeof ids);
    assert_non_null(strstr((char *)b + 10, "'descr': '<i8'"));
    assert_non_null(strstr((char *)b + 10, "'shape': (2, 3)"));
    assert_memory_equal(b + 128, ids, sizeof ids);
    free(b);
    /* Read back as int32 rows, 2^31 does not fit: refused, not wrapped. */
    expect_ivecs_read_fails(p, SCANN_ERR_FORMAT);
    /* Anything but .npy would truncate: refused. */
    assert_int_equal(scann_ids_write(tpath(p, "ids.ivecs"), ids, 2, 3), SCANN_ERR_INVALID_ARGUMENT);
    assert_false(exists(p));
    assert_true(error_mentions(".npy"));
    assert_int_equal(scann_ids_write(tpath(p, "z.npy"), ids, 0, 3), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_ids_write(NULL, ids, 1, 3), SCANN_ERR_INVALID_ARGUMENT);
}

static void test_numpy_dtypes(void **state)
{
    if (!have_numpy()) skip();
    char p[256], code[1024];
    snprintf(code, sizeof code,
             "import numpy as np; d='%s'; a=(np.arange(12) * 0.25 - 1).reshape(3, 4); "
             "[np.save(d + '/dt_' + t + '.npy', a.astype(t)) for t in "
             "('<f2', '<f8', '<i4', '<i8')]; "
             "np.save(d + '/dt_u1.npy', np.arange(12, dtype=np.uint8).reshape(3, 4) * 20); "
             "np.save(d + '/dt_i1.npy', (np.arange(12, dtype=np.int8) - 6).reshape(3, 4))",
             g_dir);
    assert_int_equal(python(code), 0);
    float fw[12], iw[12], u1w[12], i1w[12];
    for (int i = 0; i < 12; i++) {
        fw[i] = (float)i * 0.25f - 1;
        iw[i] = (float)(int)(fw[i]); /* numpy's astype truncates toward zero */
        u1w[i] = (float)(i * 20);
        i1w[i] = (float)(i - 6);
    }
    read_ok(tpath(p, "dt_<f2.npy"), 3, 4, fw);
    read_ok(tpath(p, "dt_<f8.npy"), 3, 4, fw);
    read_ok(tpath(p, "dt_<i4.npy"), 3, 4, iw);
    read_ok(tpath(p, "dt_<i8.npy"), 3, 4, iw);
    read_ok(tpath(p, "dt_u1.npy"), 3, 4, u1w);
    read_ok(tpath(p, "dt_i1.npy"), 3, 4, i1w);
}

/* ---- HDF5 (ann-benchmarks) ------------------------------------------------------------- */

#ifdef SCANN_HAVE_HDF5
#include <hdf5.h>

static void h5_put(hid_t f, const char *name, hid_t type, int nd, hsize_t d0, hsize_t d1,
                   const void *data)
{
    hsize_t dims[2] = {d0, d1};
    hid_t sp = H5Screate_simple(nd, dims, NULL);
    hid_t ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(ds >= 0);
    assert_true(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(ds);
    H5Sclose(sp);
}

/* The "distance" attribute as h5py writes it (variable-length UTF-8) or fixed-length ASCII. */
static void h5_distance(hid_t f, const char *value, bool variable)
{
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, variable ? H5T_VARIABLE : strlen(value));
    if (variable) H5Tset_cset(st, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "distance", st, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, st, variable ? (const void *)&value : (const void *)value) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(st);
}

static void test_hdf5(void **state)
{
    char p[256], q[300];
    const float train[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11.5f};
    const double test[8] = {0.5, 1, 2, 3, -4, 5, 6, 7};
    const float testw[8] = {0.5f, 1, 2, 3, -4, 5, 6, 7};
    const int32_t nb[6] = {2, 1, 0, 0, 1, 2};
    const int64_t big[2] = {1, (int64_t)1 << 33};
    hid_t f = H5Fcreate(tpath(p, "ann.hdf5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    h5_put(f, "train", H5T_NATIVE_FLOAT, 2, 3, 4, train);
    h5_put(f, "test", H5T_NATIVE_DOUBLE, 2, 2, 4, test);
    h5_put(f, "neighbors", H5T_NATIVE_INT32, 2, 2, 3, nb);
    h5_put(f, "big", H5T_NATIVE_INT64, 1, 2, 0, big);
    h5_distance(f, "angular", true);
    H5Fclose(f);

    read_ok(p, 3, 4, train); /* no dataset named: train */
    snprintf(q, sizeof q, "%s:train", p);
    read_ok(q, 3, 4, train);
    snprintf(q, sizeof q, "%s:test", p);
    read_ok(q, 2, 4, testw);
    float *fl = NULL;
    int64_t n = 0;
    int d = 0;
    snprintf(q, sizeof q, "%s:train", p);
    assert_int_equal(scann_vecs_read_limit(q, 2, &fl, &n, &d), SCANN_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(fl, train, 8 * sizeof(float));
    scann_buffer_free(fl);

    int32_t *iv = NULL;
    assert_int_equal(scann_ivecs_read(p, &iv, &n, &d), SCANN_OK); /* neighbors */
    assert_int_equal(n, 2);
    assert_int_equal(d, 3);
    assert_memory_equal(iv, nb, sizeof nb);
    scann_buffer_free(iv);
    snprintf(q, sizeof q, "%s:big", p);
    expect_ivecs_read_fails(q, SCANN_ERR_FORMAT); /* 2^33 is no int32 row number */
    snprintf(q, sizeof q, "%s:test", p);
    expect_ivecs_read_fails(q, SCANN_ERR_FORMAT); /* floats are not ids */
    snprintf(q, sizeof q, "%s:nope", p);
    expect_read_fails(q, SCANN_ERR_INVALID_ARGUMENT);
    assert_true(error_mentions("no dataset 'nope'"));
    snprintf(q, sizeof q, "%s:", p);
    expect_read_fails(q, SCANN_ERR_INVALID_ARGUMENT);

    scann_metric m = SCANN_METRIC_L2;
    assert_int_equal(scann_vecs_metric(p, &m), SCANN_OK);
    assert_int_equal(m, SCANN_METRIC_COSINE);
    snprintf(q, sizeof q, "%s:test", p); /* the dataset suffix does not matter */
    m = SCANN_METRIC_L2;
    assert_int_equal(scann_vecs_metric(q, &m), SCANN_OK);
    assert_int_equal(m, SCANN_METRIC_COSINE);

    /* Fixed-length attribute, and a file without one. */
    hid_t g = H5Fcreate(tpath(q, "e.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    h5_put(g, "train", H5T_NATIVE_FLOAT, 2, 3, 4, train);
    h5_distance(g, "euclidean", false);
    H5Fclose(g);
    assert_int_equal(scann_vecs_metric(q, &m), SCANN_OK);
    assert_int_equal(m, SCANN_METRIC_L2);
    g = H5Fcreate(tpath(q, "j.hdf5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    h5_put(g, "train", H5T_NATIVE_FLOAT, 2, 3, 4, train);
    h5_distance(g, "jaccard", true);
    H5Fclose(g);
    assert_int_equal(scann_vecs_metric(q, &m), SCANN_ERR_UNSUPPORTED);
    assert_true(error_mentions("jaccard"));
    g = H5Fcreate(tpath(q, "none.hdf5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    h5_put(g, "train", H5T_NATIVE_FLOAT, 2, 3, 4, train);
    H5Fclose(g);
    assert_int_equal(scann_vecs_metric(q, &m), SCANN_ERR_UNSUPPORTED);
    assert_int_equal(scann_vecs_metric(tpath(q, "x.fvecs"), &m), SCANN_ERR_UNSUPPORTED);

    /* Truncated copies: a clean SCANN_ERR_FORMAT wherever the cut falls. */
    size_t len;
    unsigned char *b = get_file(p, &len);
    tpath(q, "cut.hdf5");
    for (size_t c = 0; c < len; c += 13) {
        put_file(q, b, c);
        expect_read_fails(q, SCANN_ERR_FORMAT);
        expect_ivecs_read_fails(q, SCANN_ERR_FORMAT);
    }
    free(b);
    expect_read_fails(tpath(q, "missing.hdf5"), SCANN_ERR_IO);
}
#else
static void test_hdf5(void **state)
{
    char p[256];
    float x[2] = {1, 2};
    assert_int_equal(scann_vecs_write(tpath(p, "x.fvecs"), x, 1, 2), SCANN_OK);
    expect_read_fails(tpath(p, "x.hdf5:train"), SCANN_ERR_UNSUPPORTED);
    assert_true(error_mentions("without HDF5"));
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fvecs_roundtrip),
        cmocka_unit_test(test_npy_float_roundtrip),
        cmocka_unit_test(test_ivecs_roundtrip),
        cmocka_unit_test(test_npy_int_roundtrip),
        cmocka_unit_test(test_bvecs_read),
        cmocka_unit_test(test_rewrite_replaces),
        cmocka_unit_test(test_multi_chunk),
        cmocka_unit_test(test_numpy_interop),
        cmocka_unit_test(test_fvecs_cut_at_every_byte),
        cmocka_unit_test(test_npy_cut_at_every_byte),
        cmocka_unit_test(test_npy_header_mutations),
        cmocka_unit_test(test_row_dim_mismatch),
        cmocka_unit_test(test_bad_first_dim),
        cmocka_unit_test(test_hostile_npy),
        cmocka_unit_test(test_empty_files),
        cmocka_unit_test(test_bad_extensions),
        cmocka_unit_test(test_missing_and_unreadable),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_write_bad_sizes),
        cmocka_unit_test(test_write_io_errors),
        cmocka_unit_test(test_write_failure_cleans_up),
        cmocka_unit_test(test_npy_dtypes),
        cmocka_unit_test(test_bin_formats),
        cmocka_unit_test(test_read_limit),
        cmocka_unit_test(test_ids_write),
        cmocka_unit_test(test_numpy_dtypes),
        cmocka_unit_test(test_hdf5),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
