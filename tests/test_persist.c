/* test_persist.c - index files (docs/FORMAT.md): every kind and store, L2 and cosine, saved to a
 * file and to a buffer and loaded back by copy and by mmap gives bit-identical search results;
 * a loaded index keeps training and accepts adds; a mapped one is read-only; truncated,
 * corrupted and hostile files (valid checksums, bad counts) are rejected with SCANN_ERR_FORMAT
 * and a message naming the problem; I/O failures give SCANN_ERR_IO. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "container.h"
#include "scann.h"
#include "testdata.h"

/* Poison the bytes past a cut so ASan reports any read beyond it (no-op without ASan). */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#ifdef HAVE_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define NB 2000    /* vectors in the real-data indexes */
#define NTRAIN 300 /* of which trained on (keeps IVF_PQ's 256-centre codebooks quick) */
#define NX 100     /* added after a load */
#define NQ 40
#define K 10
#define D TD_FASHION_DIM

/* Header offsets, as docs/FORMAT.md lists them. */
#define H_FILE_BYTES 16
#define H_DIR_OFFSET 24
#define H_NSECTIONS 32
#define H_VERSION 8
#define H_KIND 48
#define H_METRIC 52
#define H_DIM 56
#define H_NLIST 64
#define H_REORDER 104
#define H_TRAINED 108
#define H_NTOTAL 112

typedef struct fixture {
    float *base, *query; /* NB + NX rows, NQ rows */
    char dir[64];        /* scratch directory for files */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->base = td_fashion(0, NB + NX);
    f->query = td_fashion(1, NQ);
    if (!f->base || !f->query) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/scann-persist-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", f->dir);
    free(f->base), free(f->query), free(f);
    return 0;
}

static scann_index *build(const char *spec, scann_metric m, int dim, const float *x, int64_t n,
                          int64_t ntrain)
{
    scann_index *ix = NULL;
    if (scann_index_create_from_spec(spec, dim, m, &ix) != SCANN_OK)
        fail_msg("create %s: %s", spec, scann_last_error());
    if (scann_index_train(ix, ntrain, dim, x) != SCANN_OK)
        fail_msg("train %s: %s", spec, scann_last_error());
    if (scann_index_add(ix, n, dim, x, NULL) != SCANN_OK)
        fail_msg("add %s: %s", spec, scann_last_error());
    return ix;
}

typedef struct results {
    float dist[NQ * K];
    int64_t ids[NQ * K];
} results;

static void search(scann_index *ix, const float *q, int nq, results *r)
{
    scann_search_params sp = {.nprobe = 4, .reorder_k = 40};
    memset(r, 0, sizeof *r);
    if (scann_index_search(ix, nq, scann_index_dim(ix), q, K, &sp, r->dist, r->ids) != SCANN_OK)
        fail_msg("search: %s", scann_last_error());
}

static void expect_same(const results *a, const results *b, const char *what, const char *spec,
                        scann_metric m)
{
    if (memcmp(a->ids, b->ids, sizeof a->ids) || memcmp(a->dist, b->dist, sizeof a->dist))
        fail_msg("%s, %s: %s: results differ from the original's", spec, scann_metric_name(m),
                 what);
}

static void save_file(scann_index *ix, const char *path)
{
    if (scann_index_save(ix, path) != SCANN_OK) fail_msg("save %s: %s", path, scann_last_error());
}

static const char *specs[] = {"FLAT",
                              "IVF_FLAT,nlist=16",
                              "IVF_PQ,nlist=16,reorder=none",
                              "IVF_PQ,nlist=16,reorder=float",
                              "SCANN,nlist=16,reorder=float",
                              "SCANN,nlist=16,reorder=int8,reorder_k=30",
                              "SCANN,nlist=16,reorder=none"};
#define NSPECS (sizeof specs / sizeof specs[0])

/* ---- round trips on real data ---------------------------------------------------------- */

static void roundtrip_one(fixture *f, const char *spec, scann_metric m)
{
    char path[128];
    snprintf(path, sizeof path, "%s/ix.scann", f->dir);
    scann_index *ix = build(spec, m, D, f->base, NB, NTRAIN);
    results r0, r;
    search(ix, f->query, NQ, &r0);

    void *buf0;
    size_t len0;
    assert_int_equal(scann_index_save_buffer(ix, &buf0, &len0), SCANN_OK);
    save_file(ix, path);

    /* File, copied. Saving the loaded index gives the same bytes: nothing is lost. */
    scann_index *lf = NULL;
    if (scann_index_load(path, &lf) != SCANN_OK) fail_msg("load %s: %s", spec, scann_last_error());
    assert_int_equal(scann_index_ntotal(lf), NB);
    assert_int_equal(scann_index_get_kind(lf), scann_index_get_kind(ix));
    assert_int_equal(scann_index_get_metric(lf), m);
    search(lf, f->query, NQ, &r);
    expect_same(&r0, &r, "load", spec, m);
    void *buf1;
    size_t len1;
    assert_int_equal(scann_index_save_buffer(lf, &buf1, &len1), SCANN_OK);
    assert_int_equal(len1, len0);
    assert_memory_equal(buf1, buf0, len0);
    scann_buffer_free(buf1);

    /* Buffer, at an odd address: nothing may assume alignment of a caller's buffer. */
    uint8_t *odd = malloc(len0 + 1);
    memcpy(odd + 1, buf0, len0);
    scann_index *lb = NULL;
    if (scann_index_load_buffer(odd + 1, len0, &lb) != SCANN_OK)
        fail_msg("load_buffer %s: %s", spec, scann_last_error());
    free(odd); /* the index owns copies */
    search(lb, f->query, NQ, &r);
    expect_same(&r0, &r, "load_buffer", spec, m);

    /* Mapped: same answers, read-only, and it saves the same bytes. */
    scann_index *lm = NULL;
    if (scann_index_load_mmap(path, &lm) != SCANN_OK)
        fail_msg("load_mmap %s: %s", spec, scann_last_error());
    search(lm, f->query, NQ, &r);
    expect_same(&r0, &r, "load_mmap", spec, m);
    assert_int_equal(scann_index_add(lm, 1, D, f->base, NULL), SCANN_ERR_UNSUPPORTED);
    assert_non_null(strstr(scann_last_error(), "memory-mapped"));
    assert_int_equal(scann_index_train(lm, NTRAIN, D, f->base), SCANN_ERR_UNSUPPORTED);
    assert_int_equal(scann_index_ntotal(lm), NB);
    search(lm, f->query, NQ, &r);
    expect_same(&r0, &r, "load_mmap after a refused add", spec, m);
    size_t mem;
    assert_int_equal(scann_index_memory(lm, &mem), SCANN_OK);
    assert_int_equal(scann_index_save_buffer(lm, &buf1, &len1), SCANN_OK);
    assert_int_equal(len1, len0);
    assert_memory_equal(buf1, buf0, len0);
    scann_buffer_free(buf1);
    /* The mapping outlives the file's name. */
    assert_int_equal(unlink(path), 0);
    search(lm, f->query, NQ, &r);
    expect_same(&r0, &r, "load_mmap after unlink", spec, m);

    /* A loaded index keeps its partitions and codebooks: adding the same vectors to it and to
     * the original gives the same index, and the new vectors are found. */
    int64_t xids[NX];
    for (int i = 0; i < NX; i++) xids[i] = 1000000 + i;
    const float *extra = f->base + (size_t)NB * D;
    assert_int_equal(scann_index_add(ix, NX, D, extra, xids), SCANN_OK);
    if (scann_index_add(lf, NX, D, extra, xids) != SCANN_OK)
        fail_msg("add after load %s: %s", spec, scann_last_error());
    if (scann_index_add(lb, NX, D, extra, xids) != SCANN_OK)
        fail_msg("add after load_buffer %s: %s", spec, scann_last_error());
    assert_int_equal(scann_index_ntotal(lf), NB + NX);
    results ra, rb;
    search(ix, extra, NQ, &ra);
    search(lf, extra, NQ, &r);
    search(lb, extra, NQ, &rb);
    expect_same(&ra, &r, "add after load", spec, m);
    expect_same(&ra, &rb, "add after load_buffer", spec, m);
    int found = 0;
    for (int q = 0; q < NQ; q++)
        for (int j = 0; j < K; j++) found += r.ids[q * K + j] == xids[q];
    if (found < NQ * 8 / 10)
        fail_msg("%s, %s: only %d of %d added vectors found themselves", spec, scann_metric_name(m),
                 found, NQ);

    scann_buffer_free(buf0);
    scann_index_free(ix), scann_index_free(lf), scann_index_free(lb), scann_index_free(lm);
}

static void test_roundtrip_l2(void **state)
{
    for (size_t i = 0; i < NSPECS; i++) roundtrip_one(*state, specs[i], SCANN_METRIC_L2);
}

static void test_roundtrip_cosine(void **state)
{
    for (size_t i = 0; i < NSPECS; i++) roundtrip_one(*state, specs[i], SCANN_METRIC_COSINE);
}

/* Untrained IVF kinds and an empty FLAT survive a round trip and can then be built. */
static void test_untrained_and_empty(void **state)
{
    fixture *f = *state;
    const char *kinds[] = {"FLAT", "IVF_FLAT,nlist=8", "IVF_PQ,nlist=8,m=49",
                           "SCANN,nlist=8,reorder=bf16,reorder_k=77"};
    for (size_t i = 0; i < 4; i++) {
        scann_index *ix = NULL, *lx = NULL;
        assert_int_equal(scann_index_create_from_spec(kinds[i], D, SCANN_METRIC_L2, &ix), SCANN_OK);
        void *buf;
        size_t len;
        assert_int_equal(scann_index_save_buffer(ix, &buf, &len), SCANN_OK);
        if (scann_index_load_buffer(buf, len, &lx) != SCANN_OK)
            fail_msg("load %s: %s", kinds[i], scann_last_error());
        scann_buffer_free(buf);
        assert_int_equal(scann_index_ntotal(lx), 0);
        assert_int_equal(scann_index_is_trained(lx), scann_index_is_trained(ix));
        char da[256], db[256];
        assert_int_equal(scann_index_describe(ix, da, sizeof da), SCANN_OK);
        assert_int_equal(scann_index_describe(lx, db, sizeof db), SCANN_OK);
        assert_string_equal(da, db);
        assert_int_equal(scann_index_train(ix, NTRAIN, D, f->base), SCANN_OK);
        assert_int_equal(scann_index_train(lx, NTRAIN, D, f->base), SCANN_OK);
        assert_int_equal(scann_index_add(ix, NTRAIN, D, f->base, NULL), SCANN_OK);
        assert_int_equal(scann_index_add(lx, NTRAIN, D, f->base, NULL), SCANN_OK);
        results a, b;
        search(ix, f->query, NQ, &a);
        search(lx, f->query, NQ, &b);
        expect_same(&a, &b, "untrained", kinds[i], SCANN_METRIC_L2);
        scann_index_free(ix), scann_index_free(lx);
    }
}

/* ---- damaged and hostile inputs (small random indexes, so every byte can be tried) ------ */

static const char *small_specs[] = {"FLAT", "IVF_FLAT,nlist=4", "IVF_PQ,nlist=4,reorder=float",
                                    "SCANN,nlist=4,reorder=int8", "SCANN,nlist=4,reorder=none"};
#define NSMALL (sizeof small_specs / sizeof small_specs[0])
#define SN 300
#define SD 16

static void small_buffer(const char *spec, scann_metric m, uint8_t **buf, size_t *len)
{
    float *x = td_random(SN, SD, 7);
    scann_index *ix = build(spec, m, SD, x, SN, SN);
    void *b;
    assert_int_equal(scann_index_save_buffer(ix, &b, len), SCANN_OK);
    *buf = b;
    scann_index_free(ix);
    free(x);
}

static void expect_format(const uint8_t *buf, size_t len, const char *why, const char *needle)
{
    scann_index *ix = NULL;
    scann_status st = scann_index_load_buffer(buf, len, &ix);
    if (st != SCANN_ERR_FORMAT)
        fail_msg("%s: load gave %s (%s), expected SCANN_ERR_FORMAT", why, scann_status_name(st),
                 scann_last_error());
    assert_null(ix);
    if (!*scann_last_error()) fail_msg("%s: no message", why);
    if (needle && !strstr(scann_last_error(), needle))
        fail_msg("%s: message '%s' does not mention '%s'", why, scann_last_error(), needle);
}

static void test_truncated_every_byte(void **state)
{
    fixture *f = *state;
    for (size_t s = 0; s < NSMALL; s++) {
        uint8_t *buf;
        size_t len;
        small_buffer(small_specs[s], SCANN_METRIC_L2, &buf, &len);
        for (size_t cut = 0; cut < len; cut++) {
            POISON(buf + cut, len - cut);
            expect_format(buf, cut, small_specs[s], "truncated");
            UNPOISON(buf + cut, len - cut);
        }
        /* Files too, copied and mapped, at a spread of cuts (shrinking one file). */
        char path[128];
        snprintf(path, sizeof path, "%s/cut.scann", f->dir);
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(buf, 1, len, fp), len);
        fclose(fp);
        for (size_t cut = len - 1;; cut -= cut > 1024 ? 997 : cut > 140 ? 61 : 1) {
            assert_int_equal(truncate(path, (off_t)cut), 0);
            scann_index *ix = NULL;
            assert_int_equal(scann_index_load(path, &ix), SCANN_ERR_FORMAT);
            assert_non_null(strstr(scann_last_error(), "truncated"));
            assert_int_equal(scann_index_load_mmap(path, &ix), SCANN_ERR_FORMAT);
            assert_non_null(strstr(scann_last_error(), path));
            if (cut == 0) break;
        }
        /* And one byte too many. */
        uint8_t *longer = calloc(len + 1, 1);
        memcpy(longer, buf, len);
        expect_format(longer, len + 1, "trailing byte", "trailing");
        free(longer);
        scann_buffer_free(buf);
    }
}

/* Every byte of a file is covered by a checksum or must be zero padding: flipping any byte is
 * caught. Bit 0 of every byte, and bit 7 of the header, the directory and every 7th byte. */
static void test_flipped_bytes(void **state)
{
    for (size_t s = 0; s < NSMALL; s++) {
        uint8_t *buf;
        size_t len;
        small_buffer(small_specs[s], SCANN_METRIC_COSINE, &buf, &len);
        uint64_t dir_off;
        memcpy(&dir_off, buf + H_DIR_OFFSET, 8);
        for (size_t i = 0; i < len; i++) {
            for (int bit = 0; bit < 8; bit += i < 256 || i >= dir_off || i % 7 == 0 ? 7 : 8) {
                buf[i] ^= (uint8_t)(1u << bit);
                char why[128];
                snprintf(why, sizeof why, "%s: byte %zu bit %d flipped", small_specs[s], i, bit);
                expect_format(buf, len, why, NULL);
                buf[i] ^= (uint8_t)(1u << bit);
            }
        }
        scann_index *ix = NULL;
        assert_int_equal(scann_index_load_buffer(buf, len, &ix), SCANN_OK); /* restored */
        scann_index_free(ix);
        scann_buffer_free(buf);
    }
}

/* Recompute every checksum, as a hostile writer would, so only the semantic checks remain.
 * Sections or a directory the mutation moved out of the buffer are left alone. */
static void reseal(uint8_t *buf, size_t len)
{
    uint64_t dir_off, sum;
    uint32_t nsec;
    memcpy(&dir_off, buf + H_DIR_OFFSET, 8);
    memcpy(&nsec, buf + H_NSECTIONS, 4);
    if (dir_off <= len && nsec <= (len - dir_off) / 32) {
        for (uint32_t i = 0; i < nsec; i++) {
            uint8_t *e = buf + dir_off + 32 * i;
            uint64_t off, slen;
            memcpy(&off, e + 8, 8);
            memcpy(&slen, e + 16, 8);
            if (off > len || slen > len - off) continue;
            sum = ctr_xxh64(buf + off, slen, 0);
            memcpy(e + 24, &sum, 8);
        }
        sum = ctr_xxh64(buf + dir_off, 32 * (size_t)nsec, 0);
        memcpy(buf + 40, &sum, 8);
    }
    sum = ctr_xxh64(buf, 120, 0);
    memcpy(buf + 120, &sum, 8);
}

/* Pointer to the payload of section tag (and its length). */
static uint8_t *section(uint8_t *buf, const char *tag, uint64_t *slen)
{
    uint64_t dir_off;
    uint32_t nsec;
    memcpy(&dir_off, buf + H_DIR_OFFSET, 8);
    memcpy(&nsec, buf + H_NSECTIONS, 4);
    for (uint32_t i = 0; i < nsec; i++) {
        uint8_t *e = buf + dir_off + 32 * i;
        if (memcmp(e, tag, 4)) continue;
        uint64_t off;
        memcpy(&off, e + 8, 8);
        if (slen) memcpy(slen, e + 16, 8);
        return buf + off;
    }
    fail_msg("no section %s", tag);
    return NULL;
}

typedef void (*mutate_fn)(uint8_t *buf, size_t len);

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void m_ntotal_huge(uint8_t *b, size_t n) { put64(b + H_NTOTAL, 1ull << 40); }
static void m_ntotal_neg(uint8_t *b, size_t n) { put64(b + H_NTOTAL, (uint64_t)-5); }
static void m_dim(uint8_t *b, size_t n) { put32(b + H_DIM, SD + 1); }
static void m_dim_zero(uint8_t *b, size_t n) { put32(b + H_DIM, 0); }
static void m_kind(uint8_t *b, size_t n) { put32(b + H_KIND, 9); }
static void m_metric(uint8_t *b, size_t n) { put32(b + H_METRIC, 0x7fffffff); }
static void m_nlist(uint8_t *b, size_t n) { put32(b + H_NLIST, 1 << 30); }
static void m_nlist_zero(uint8_t *b, size_t n) { put32(b + H_NLIST, 0); }
static void m_version(uint8_t *b, size_t n) { put32(b + H_VERSION, 4); }
static void m_untrained(uint8_t *b, size_t n) { put32(b + H_TRAINED, 0); }
static void m_trained2(uint8_t *b, size_t n) { put32(b + H_TRAINED, 2); }
static void m_reorder_none(uint8_t *b, size_t n) { put32(b + H_REORDER, 3); }
static void m_reorder_bf16(uint8_t *b, size_t n) { put32(b + H_REORDER, 1); }
static void m_list_size(uint8_t *b, size_t n) { section(b, "LSIZ", NULL)[0] += 1; }
static void m_list_2e33(uint8_t *b, size_t n) { put64(section(b, "LSIZ", NULL), 1ull << 33); }
static void m_neg_id(uint8_t *b, size_t n) { put64(section(b, "IDS ", NULL) + 16, (uint64_t)-3); }
static void m_nan_centre(uint8_t *b, size_t n)
{
    float nan = NAN;
    memcpy(section(b, "CENT", NULL) + 4, &nan, 4);
}
static void m_inf_vector(uint8_t *b, size_t n)
{
    float inf = INFINITY;
    memcpy(section(b, "VECS", NULL) + 40, &inf, 4);
}
static void m_nan_codebook(uint8_t *b, size_t n)
{
    float nan = NAN;
    memcpy(section(b, "CDBK", NULL) + 8, &nan, 4);
}
static void m_tag_unknown(uint8_t *b, size_t n)
{
    uint64_t dir_off;
    memcpy(&dir_off, b + H_DIR_OFFSET, 8);
    memcpy(b + dir_off, "ZZZZ", 4);
}
static void m_tag_dup(uint8_t *b, size_t n)
{
    uint64_t dir_off;
    memcpy(&dir_off, b + H_DIR_OFFSET, 8);
    memcpy(b + dir_off + 32, b + dir_off, 4);
}
static void m_sec_len(uint8_t *b, size_t n)
{
    uint64_t dir_off, slen;
    memcpy(&dir_off, b + H_DIR_OFFSET, 8);
    memcpy(&slen, b + dir_off + 16, 8);
    put64(b + dir_off + 16, slen + (1ull << 62));
}
static void m_sec_off(uint8_t *b, size_t n)
{
    uint64_t dir_off, off;
    memcpy(&dir_off, b + H_DIR_OFFSET, 8);
    memcpy(&off, b + dir_off + 8, 8);
    put64(b + dir_off + 8, off + 64);
}
static void m_nsec(uint8_t *b, size_t n) { put32(b + H_NSECTIONS, 1000); }
static void m_padding(uint8_t *b, size_t n)
{
    uint64_t slen = 0;
    uint8_t *p = section(b, "LSIZ", &slen); /* 4 lists: 32 bytes, then 32 of padding */
    assert_true(slen % 64 != 0);
    p[slen] = 1;
}

typedef struct hostile {
    const char *spec, *why, *needle;
    mutate_fn fn;
} hostile;

static void test_hostile_valid_checksums(void **state)
{
    static const hostile cases[] = {
        {"FLAT", "ntotal 2^40", "IDS", m_ntotal_huge},
        {"FLAT", "negative ntotal", "ntotal", m_ntotal_neg},
        {"FLAT", "dim + 1", "VECS", m_dim},
        {"FLAT", "dim 0", "dim", m_dim_zero},
        {"FLAT", "kind 9", "kind", m_kind},
        {"FLAT", "metric", "metric", m_metric},
        {"FLAT", "version 4", "version", m_version},
        {"FLAT", "FLAT untrained", "trained", m_untrained},
        {"FLAT", "infinite vector", "VECS", m_inf_vector},
        {"FLAT", "negative id", "IDS", m_neg_id},
        {"FLAT", "unknown tag", "ZZZZ", m_tag_unknown},
        {"FLAT", "duplicate tag", "twice", m_tag_dup},
        {"FLAT", "section length 2^62", "length", m_sec_len},
        {"FLAT", "section offset + 64", "offset", m_sec_off},
        {"FLAT", "1000 sections", "nsections", m_nsec},
        {"IVF_FLAT,nlist=4", "nlist 2^30", "LSIZ", m_nlist},
        {"IVF_FLAT,nlist=4", "nlist 0", "nlist", m_nlist_zero},
        {"IVF_FLAT,nlist=4", "list sizes off by one", "ntotal", m_list_size},
        {"IVF_FLAT,nlist=4", "list of 2^33", "2^32", m_list_2e33},
        {"IVF_FLAT,nlist=4", "NaN centre", "CENT", m_nan_centre},
        {"IVF_FLAT,nlist=4", "negative id", "IDS", m_neg_id},
        {"IVF_FLAT,nlist=4", "trained 0 with sections", "untrained", m_untrained},
        {"IVF_FLAT,nlist=4", "trained 2", "trained", m_trained2},
        {"IVF_PQ,nlist=4,reorder=none", "needs rerank rows", "RROW", m_reorder_bf16},
        {"IVF_PQ,nlist=4,reorder=float", "rerank rows of another size", "RROW", m_reorder_bf16},
        {"IVF_PQ,nlist=4,reorder=float", "rows not wanted", "does not belong", m_reorder_none},
        {"IVF_PQ,nlist=4", "NaN codebook", "CDBK", m_nan_codebook},
        {"SCANN,nlist=4,reorder=int8", "rows not wanted", "does not belong", m_reorder_none},
        {"SCANN,nlist=4,reorder=none", "dim changes the codebooks", "CDBK", m_dim},
        {"SCANN,nlist=4", "NaN codebook", "CDBK", m_nan_codebook},
        {"SCANN,nlist=4", "list sizes off by one", "ntotal", m_list_size},
        {"SCANN,nlist=4", "nonzero padding", "padding", m_padding},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *buf;
        size_t len;
        small_buffer(cases[i].spec, SCANN_METRIC_L2, &buf, &len);
        cases[i].fn(buf, len);
        reseal(buf, len);
        char why[160];
        snprintf(why, sizeof why, "%s: %s", cases[i].spec, cases[i].why);
        expect_format(buf, len, why, cases[i].needle);
        scann_buffer_free(buf);
    }
}

/* Finite but extreme values are valid: such an index loads, and searching it stays defined
 * behaviour (UBSan) - a centre of 1e30 once overflowed SCANN's integer list bias (found by
 * fuzz_load). */
static void test_extreme_values_search(void **state)
{
    static const char *specs_x[] = {"SCANN,nlist=4,reorder=none", "SCANN,nlist=4,reorder=int8",
                                    "IVF_PQ,nlist=4,reorder=none", "IVF_FLAT,nlist=4"};
    static const float values[] = {1e30f, -1e30f, 3e38f, 1e-38f};
    float *q = td_random(4, SD, 99);
    for (size_t s = 0; s < 4; s++)
        for (size_t v = 0; v < 4; v++)
            for (int where = 0; where < 2; where++) {
                if (where == 1 && s == 3) continue; /* IVF_FLAT has no codebooks */
                uint8_t *buf;
                size_t len;
                small_buffer(specs_x[s], SCANN_METRIC_COSINE, &buf, &len);
                uint64_t slen = 0;
                uint8_t *sec = section(buf, where ? "CDBK" : "CENT", &slen);
                for (uint64_t i = 0; i < slen; i += 4 * 3) memcpy(sec + i, &values[v], 4);
                reseal(buf, len);
                scann_index *ix = NULL;
                if (scann_index_load_buffer(buf, len, &ix) != SCANN_OK)
                    fail_msg("%s: %s", specs_x[s], scann_last_error());
                float dist[4 * K];
                int64_t ids[4 * K];
                scann_search_params sp = {.nprobe = 4, .reorder_k = K};
                assert_int_equal(scann_index_search(ix, 4, SD, q, K, &sp, dist, ids), SCANN_OK);
                scann_index_free(ix);
                scann_buffer_free(buf);
            }
    free(q);
}

/* ---- I/O, arguments, threads, checksum ------------------------------------------------- */

static void test_io_errors(void **state)
{
    fixture *f = *state;
    scann_index *ix = NULL;
    assert_int_equal(scann_index_load("/nonexistent/ix.scann", &ix), SCANN_ERR_IO);
    assert_non_null(strstr(scann_last_error(), "No such file"));
    assert_int_equal(scann_index_load_mmap("/nonexistent/ix.scann", &ix), SCANN_ERR_IO);
    assert_int_equal(scann_index_load(f->dir, &ix), SCANN_ERR_IO);
    assert_int_equal(scann_index_load_mmap(f->dir, &ix), SCANN_ERR_IO);
    assert_null(ix);

    char path[128];
    snprintf(path, sizeof path, "%s/not-an-index.scann", f->dir);
    FILE *fp = fopen(path, "wb");
    for (int i = 0; i < 300; i++) fputc('x', fp);
    fclose(fp);
    assert_int_equal(scann_index_load(path, &ix), SCANN_ERR_FORMAT);
    assert_non_null(strstr(scann_last_error(), "magic"));

    assert_int_equal(scann_index_create_from_spec("FLAT", 4, SCANN_METRIC_L2, &ix), SCANN_OK);
    assert_int_equal(scann_index_save(ix, "/nonexistent/dir/ix.scann"), SCANN_ERR_IO);
    assert_non_null(strstr(scann_last_error(), "No such file"));

    /* Overwriting an existing file leaves no temporary behind. */
    snprintf(path, sizeof path, "%s/twice.scann", f->dir);
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(scann_index_save(ix, path), SCANN_OK);
    assert_int_equal(scann_index_add(ix, 2, 4, x, NULL), SCANN_OK);
    assert_int_equal(scann_index_save(ix, path), SCANN_OK);
    scann_index *lx = NULL;
    assert_int_equal(scann_index_load(path, &lx), SCANN_OK);
    assert_int_equal(scann_index_ntotal(lx), 2);
    DIR *d = opendir(f->dir);
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp")) fail_msg("temporary file left: %s", e->d_name);
    closedir(d);
    scann_index_free(lx);
    scann_index_free(ix);
}

static void test_arguments_and_threads(void **state)
{
    scann_index *ix = NULL;
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(scann_index_save(NULL, "x"), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_index_save_buffer(NULL, &buf, &len), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_index_load(NULL, &ix), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_index_load("x", NULL), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_index_load_buffer(NULL, 10, &ix), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_index_load_mmap(NULL, &ix), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_index_create_from_spec("FLAT", 4, SCANN_METRIC_IP, &ix), SCANN_OK);
    assert_int_equal(scann_index_save(ix, ""), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_index_save_buffer(ix, NULL, &len), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_index_set_num_threads(NULL, 1), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_index_set_num_threads(ix, -1), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_index_set_num_threads(ix, 4097), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_index_set_num_threads(ix, 4096), SCANN_OK);
    assert_int_equal(scann_index_set_num_threads(ix, 0), SCANN_OK);
    assert_int_equal(scann_index_set_num_threads(ix, 3), SCANN_OK);
    float x[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}, dist[3];
    int64_t ids[3];
    assert_int_equal(scann_index_add(ix, 3, 4, x, NULL), SCANN_OK);
    assert_int_equal(scann_index_search(ix, 1, 4, x + 4, 3, NULL, dist, ids), SCANN_OK);
    assert_int_equal(ids[0], 1);
    scann_index_free(ix);
    assert_int_equal(scann_index_load_buffer("", 0, &ix), SCANN_ERR_FORMAT);
}

static void test_xxh64_reference_values(void **state)
{
    /* From the reference implementation (libxxhash 0.8.1, XXH64). */
    assert_true(ctr_xxh64("", 0, 0) == 0xef46db3751d8e999ULL);
    assert_true(ctr_xxh64("abc", 3, 0) == 0x44bc2cf5ad770999ULL);
    char a40[40];
    memset(a40, 'a', sizeof a40);
    assert_true(ctr_xxh64(a40, sizeof a40, 0) == 0x569ea6843111ef03ULL);
}

/*
 * Files written by earlier versions (tests/compat/README): each loads, copied and mapped, and
 * answers a search; a version 2 or 3 file saved again gives its bytes back, except num_threads
 * (the saving machine's core count) and so the header checksum: the writer did not change.
 */
static void test_old_files(void **state)
{
    DIR *d = opendir(SCANN_TESTS_DIR "/compat");
    assert_non_null(d);
    int seen[4] = {0}; /* versions 1, 2, 3; files with vectors */
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 7 || strcmp(e->d_name + n - 6, ".scann") != 0) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/compat/%s", SCANN_TESTS_DIR, e->d_name);
        int version = e->d_name[1] - '0';
        scann_index *ix = NULL, *mx = NULL;
        if (scann_index_load(path, &ix) || scann_index_load_mmap(path, &mx))
            fail_msg("%s: %s", e->d_name, scann_last_error());
        int64_t nt = scann_index_ntotal(ix);
        if (nt > 0) {
            float q[8] = {0.5f, -0.25f, 0.125f, 1, -1, 0.75f, 0, 0}, dist[2][1];
            int64_t ids[2][1];
            int dim = scann_index_dim(ix);
            assert_true(dim <= 8);
            assert_int_equal(scann_index_search(ix, 1, dim, q, 1, NULL, dist[0], ids[0]), SCANN_OK);
            assert_int_equal(scann_index_search(mx, 1, dim, q, 1, NULL, dist[1], ids[1]), SCANN_OK);
            assert_int_equal(ids[0][0], ids[1][0]);
            assert_true(ids[0][0] >= 0 && ids[0][0] < nt);
        }
        assert_true(version >= 1 && version <= 3);
        if (version >= 2) {
            uint8_t *old = NULL, *now = NULL;
            size_t olen = 0, nlen = 0;
            FILE *f = fopen(path, "rb");
            assert_non_null(f);
            fseek(f, 0, SEEK_END);
            olen = (size_t)ftell(f);
            rewind(f);
            old = malloc(olen);
            assert_int_equal(fread(old, 1, olen, f), olen);
            fclose(f);
            assert_int_equal(scann_index_save_buffer(ix, (void **)&now, &nlen), SCANN_OK);
            assert_int_equal(nlen, olen);
            memset(old + 60, 0, 4), memset(now + 60, 0, 4);   /* num_threads */
            memset(old + 120, 0, 8), memset(now + 120, 0, 8); /* header checksum */
            if (memcmp(old, now, olen) != 0) fail_msg("%s: saved again, the bytes differ", path);
            free(old);
            free(now);
        }
        seen[version - 1]++;
        seen[3] += nt > 0;
        scann_index_free(mx);
        scann_index_free(ix);
    }
    closedir(d);
    assert_int_equal(seen[0], 11); /* version 1 files */
    assert_int_equal(seen[1], 11); /* version 2 files */
    assert_int_equal(seen[2], 2);  /* version 3 files: SCANN rows with their code */
    assert_int_equal(seen[3], 18); /* of which hold vectors */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xxh64_reference_values),
        cmocka_unit_test(test_arguments_and_threads),
        cmocka_unit_test(test_roundtrip_l2),
        cmocka_unit_test(test_roundtrip_cosine),
        cmocka_unit_test(test_untrained_and_empty),
        cmocka_unit_test(test_truncated_every_byte),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_hostile_valid_checksums),
        cmocka_unit_test(test_extreme_values_search),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_old_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
