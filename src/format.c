/*
 * format.c - index files: the public save/load entry points, the section writer (file or
 * memory), the validating reader, IVF list (de)serialization and XXH64. The byte layout is
 * docs/FORMAT.md; this comment says how the code keeps the format's promises.
 *
 * Writing: one pass emits the 128-byte header as zeros, then the kind's sections (each starting
 * at a 64-byte boundary, zero padding before it, hashed as its bytes go by), then the
 * directory; the real header is stored last (pwrite at offset 0, or into the buffer). A file is
 * written to "<path>.tmp.<pid>.<thread>", fsynced, renamed over path, and the directory is
 * fsynced, so readers see the old file or the new one, never half of one. save_buffer runs a
 * counting pass first so the buffer is allocated once at its exact size.
 *
 * Reading checks, before a kind sees any section: the input holds a header; magic, version,
 * header size and header checksum; the header's file size equals the input's (this is what
 * catches truncation); the directory's place and checksum; every section at its canonical
 * offset (64-aligned, right after the previous one), zero padding, a known tag that appears
 * once, its checksum. Then the index is created from the header's parameters (kernels chosen
 * for this machine) and the kind takes its sections by tag with the exact length its counts
 * imply (fmt_take), so nothing is allocated that the input's bytes do not account for.
 *
 * fmt_load_unverified (the fuzzer's entry) skips only the checksum comparisons, so mutated
 * inputs reach the structural checks behind them; everything else is the same code.
 */
#include "format.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "format.c writes and maps little-endian arrays as they are: add byte swapping for this host"
#endif

#define FMT_VERSION 2u          /* 2 added NXID; version 1 files still load */
#define FMT_FLAG_L2_RESIDUAL 1u /* header flags: SCANN L2 codes encode x - centre */
#define FMT_HEADER_BYTES 128
#define FMT_ALIGN 64
#define FMT_ENTRY_BYTES 32
#define FMT_MAX_SECTIONS 16
#define FMT_STAGE_BYTES ((size_t)4 << 20) /* file writes are staged in 4 MiB chunks */
#define FMT_IO_MAX ((size_t)1 << 30)      /* Linux moves at most ~2 GiB per write call */
#define FMT_LIST_MAX 0xffffffffULL        /* ivf_loc keeps a list offset in 32 bits */

static const char fmt_magic[8] = {'S', 'C', 'A', 'N', 'N', 'I', 'D', 'X'};

/* Header field offsets (docs/FORMAT.md, "Header"). */
enum {
    H_MAGIC = 0,
    H_VERSION = 8,
    H_HEADER_BYTES = 12,
    H_FILE_BYTES = 16,
    H_DIR_OFFSET = 24,
    H_NSECTIONS = 32,
    H_FLAGS = 36,
    H_DIR_CHECKSUM = 40,
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
    H_NTOTAL = 112,
    H_CHECKSUM = 120
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}
static uint64_t align_up(uint64_t x) { return (x + FMT_ALIGN - 1) & ~(uint64_t)(FMT_ALIGN - 1); }

/* ---- XXH64 -------------------------------------------------------------------------------- */

#define XP1 0x9E3779B185EBCA87ULL
#define XP2 0xC2B2AE3D27D4EB4FULL
#define XP3 0x165667B19E3779F9ULL
#define XP4 0x85EBCA77C2B2AE63ULL
#define XP5 0x27D4EB2F165667C5ULL

typedef struct xxh64_state {
    uint64_t v[4];  /* the four stripe accumulators */
    uint64_t total; /* bytes hashed */
    uint64_t seed;
    uint8_t buf[32]; /* a partial stripe */
    size_t nbuf;
} xxh64_state;

static inline uint64_t rotl64(uint64_t x, int r) { return x << r | x >> (64 - r); }
static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline uint64_t xround(uint64_t acc, uint64_t in)
{
    return rotl64(acc + in * XP2, 31) * XP1;
}
static inline uint64_t xmerge(uint64_t h, uint64_t v) { return (h ^ xround(0, v)) * XP1 + XP4; }

static void xxh64_init(xxh64_state *s, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->v[0] = seed + XP1 + XP2;
    s->v[1] = seed + XP2;
    s->v[2] = seed;
    s->v[3] = seed - XP1;
}

/* Whole 32-byte stripes of p[0..n); returns the bytes consumed. */
static size_t xxh64_stripes(uint64_t *v, const uint8_t *p, size_t n)
{
    uint64_t a = v[0], b = v[1], c = v[2], d = v[3];
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a = xround(a, rd64(p + i));
        b = xround(b, rd64(p + i + 8));
        c = xround(c, rd64(p + i + 16));
        d = xround(d, rd64(p + i + 24));
    }
    v[0] = a, v[1] = b, v[2] = c, v[3] = d;
    return i;
}

static void xxh64_update(xxh64_state *s, const void *data, size_t n)
{
    if (n == 0) return;
    const uint8_t *p = data;
    s->total += n;
    if (s->nbuf + n < 32) {
        memcpy(s->buf + s->nbuf, p, n);
        s->nbuf += n;
        return;
    }
    if (s->nbuf) {
        size_t t = 32 - s->nbuf;
        memcpy(s->buf + s->nbuf, p, t);
        xxh64_stripes(s->v, s->buf, 32);
        p += t, n -= t;
        s->nbuf = 0;
    }
    size_t done = xxh64_stripes(s->v, p, n);
    s->nbuf = n - done;
    memcpy(s->buf, p + done, s->nbuf);
}

static uint64_t xxh64_digest(const xxh64_state *s)
{
    uint64_t h;
    if (s->total >= 32) {
        h = rotl64(s->v[0], 1) + rotl64(s->v[1], 7) + rotl64(s->v[2], 12) + rotl64(s->v[3], 18);
        for (int i = 0; i < 4; i++) h = xmerge(h, s->v[i]);
    } else {
        h = s->seed + XP5;
    }
    h += s->total;
    const uint8_t *p = s->buf;
    size_t n = s->nbuf, i = 0;
    for (; i + 8 <= n; i += 8) h = rotl64(h ^ xround(0, rd64(p + i)), 27) * XP1 + XP4;
    if (i + 4 <= n) {
        h = rotl64(h ^ (uint64_t)get32(p + i) * XP1, 23) * XP2 + XP3;
        i += 4;
    }
    for (; i < n; i++) h = rotl64(h ^ p[i] * XP5, 11) * XP1;
    h ^= h >> 33;
    h *= XP2;
    h ^= h >> 29;
    h *= XP3;
    h ^= h >> 32;
    return h;
}

uint64_t fmt_xxh64(const void *p, size_t n, uint64_t seed)
{
    xxh64_state s;
    xxh64_init(&s, seed);
    xxh64_update(&s, p, n);
    return xxh64_digest(&s);
}

/* ---- sections ------------------------------------------------------------------------------ */

typedef struct fmt_entry {
    uint32_t tag;
    uint64_t offset, length, checksum;
} fmt_entry;

static const struct {
    uint32_t tag;
    const char *what;
} known_tags[] = {{FMT_VECS, "vectors"},           {FMT_IDS, "ids"},
                  {FMT_CENT, "centres"},           {FMT_LSIZ, "list sizes"},
                  {FMT_CODE, "list codes"},        {FMT_BLKS, "code blocks"},
                  {FMT_CDBK, "codebooks"},         {FMT_RROW, "rerank rows"},
                  {FMT_NXID, "next automatic id"}, {FMT_SRCH, "search defaults"}};

static const char *tag_what(uint32_t tag)
{
    for (size_t i = 0; i < sizeof known_tags / sizeof known_tags[0]; i++)
        if (known_tags[i].tag == tag) return known_tags[i].what;
    return NULL;
}

/* The tag's four characters, '?' for bytes that are not printable ASCII. */
static const char *tag_text(uint32_t tag, char out[5])
{
    for (int i = 0; i < 4; i++) {
        unsigned c = (tag >> (8 * i)) & 0xff;
        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[4] = '\0';
    return out;
}

/* ---- writer -------------------------------------------------------------------------------- */

struct fmt_writer {
    uint8_t *mem;     /* memory sink: the exact-size output buffer */
    int fd;           /* file sink, or -1 */
    const char *path; /* the file's final name, for messages */
    uint8_t *stage;   /* file sink: FMT_STAGE_BYTES of bytes not yet written */
    size_t staged;
    int counting;  /* sizing pass: positions and the directory advance, nothing else */
    uint64_t pos;  /* bytes emitted so far */
    int open;      /* a section is open ... */
    xxh64_state h; /* ... and this is its running checksum */
    fmt_entry dir[FMT_MAX_SECTIONS];
    int nsec;
    scann_status st; /* the first failure; every later call returns it */
};

static scann_status w_io_fail(fmt_writer *w, const char *what, int e)
{
    return w->st = err_set(SCANN_ERR_IO, "%s: %s: %s", w->path, what, strerror(e));
}

static scann_status write_all(fmt_writer *w, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t put = write(w->fd, p, n < FMT_IO_MAX ? n : FMT_IO_MAX);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) return w_io_fail(w, "write failed", errno);
        p += put;
        n -= (size_t)put;
    }
    return SCANN_OK;
}

static scann_status w_flush(fmt_writer *w)
{
    if (w->st || w->fd < 0 || w->staged == 0) return w->st;
    scann_status st = write_all(w, w->stage, w->staged);
    w->staged = 0;
    return st;
}

/* Emit bytes (no hashing). */
static scann_status w_raw(fmt_writer *w, const void *p, size_t n)
{
    if (w->st || n == 0) return w->st;
    if (w->mem) {
        memcpy(w->mem + w->pos, p, n);
    } else if (w->fd >= 0) {
        if (w->staged + n > FMT_STAGE_BYTES && w_flush(w)) return w->st;
        if (n >= FMT_STAGE_BYTES) {
            if (write_all(w, p, n)) return w->st;
        } else {
            memcpy(w->stage + w->staged, p, n);
            w->staged += n;
        }
    }
    w->pos += n;
    return SCANN_OK;
}

static scann_status w_pad(fmt_writer *w)
{
    static const uint8_t zero[FMT_ALIGN];
    return w_raw(w, zero, (size_t)(align_up(w->pos) - w->pos));
}

scann_status fmt_begin(fmt_writer *w, uint32_t tag)
{
    if (w->st) return w->st;
    if (w->open || w->nsec == FMT_MAX_SECTIONS)
        return w->st = err_set(SCANN_ERR_INTERNAL,
                               "save: section %d opened while another is open "
                               "or past the limit of %d",
                               w->nsec, FMT_MAX_SECTIONS);
    if (w_pad(w)) return w->st;
    w->dir[w->nsec] = (fmt_entry){tag, w->pos, 0, 0};
    w->open = 1;
    xxh64_init(&w->h, 0);
    return SCANN_OK;
}

scann_status fmt_put(fmt_writer *w, const void *p, size_t n)
{
    if (w->st) return w->st;
    if (!w->open) return w->st = err_set(SCANN_ERR_INTERNAL, "save: bytes outside a section");
    if (!w->counting) xxh64_update(&w->h, p, n);
    return w_raw(w, p, n);
}

scann_status fmt_end(fmt_writer *w)
{
    if (w->st) return w->st;
    if (!w->open) return w->st = err_set(SCANN_ERR_INTERNAL, "save: no open section to end");
    fmt_entry *e = &w->dir[w->nsec++];
    e->length = w->pos - e->offset;
    e->checksum = w->counting ? 0 : xxh64_digest(&w->h);
    w->open = 0;
    return SCANN_OK;
}

scann_status fmt_section(fmt_writer *w, uint32_t tag, const void *p, size_t n)
{
    fmt_begin(w, tag);
    fmt_put(w, p, n);
    return fmt_end(w);
}

scann_status fmt_put_ivf(fmt_writer *w, const ivf *v)
{
    size_t d = (size_t)v->d;
    fmt_section(w, FMT_CENT, v->centres, (size_t)v->nlist * d * sizeof(float));
    fmt_begin(w, FMT_LSIZ);
    for (int l = 0; l < v->nlist; l++) {
        uint8_t b[8];
        put64(b, (uint64_t)v->lists[l].size);
        fmt_put(w, b, sizeof b);
    }
    fmt_end(w);
    fmt_begin(w, FMT_IDS);
    for (int l = 0; l < v->nlist; l++)
        fmt_put(w, v->lists[l].ids, (size_t)v->lists[l].size * sizeof(int64_t));
    fmt_end(w);
    if (v->code_size) {
        fmt_begin(w, FMT_CODE);
        for (int l = 0; l < v->nlist; l++)
            fmt_put(w, v->lists[l].codes, (size_t)v->lists[l].size * v->code_size);
        fmt_end(w);
    }
    if (v->extra_size) {
        fmt_begin(w, FMT_RROW);
        for (int l = 0; l < v->nlist; l++)
            fmt_put(w, v->lists[l].extra, (size_t)v->lists[l].size * v->extra_size);
        fmt_end(w);
    }
    return w->st;
}

static void encode_header(const scann_index *ix, const fmt_writer *w, uint64_t dir_offset,
                          uint64_t dir_checksum, uint8_t *h)
{
    const scann_index_params *p = &ix->p;
    uint32_t aq;
    memcpy(&aq, &p->aq_threshold, sizeof aq);
    memset(h, 0, FMT_HEADER_BYTES);
    memcpy(h + H_MAGIC, fmt_magic, sizeof fmt_magic);
    put32(h + H_VERSION, FMT_VERSION);
    put32(h + H_HEADER_BYTES, FMT_HEADER_BYTES);
    put64(h + H_FILE_BYTES, w->pos);
    put64(h + H_DIR_OFFSET, dir_offset);
    put32(h + H_NSECTIONS, (uint32_t)w->nsec);
    /* The one flag: SCANN L2 codes are residuals (older files, flags 0, hold raw x). */
    put32(h + H_FLAGS,
          p->kind == SCANN_INDEX_SCANN && p->metric == SCANN_METRIC_L2 && p->l2_residual
              ? FMT_FLAG_L2_RESIDUAL
              : 0);
    put64(h + H_DIR_CHECKSUM, dir_checksum);
    put32(h + H_KIND, (uint32_t)p->kind);
    put32(h + H_METRIC, (uint32_t)p->metric);
    put32(h + H_DIM, (uint32_t)p->dim);
    put32(h + H_NUM_THREADS, (uint32_t)p->num_threads);
    put32(h + H_NLIST, (uint32_t)p->nlist);
    put32(h + H_NPROBE, (uint32_t)p->nprobe);
    put64(h + H_TRAIN_SIZE, (uint64_t)p->train_size);
    put32(h + H_KMEANS_ITERS, (uint32_t)p->kmeans_iters);
    put32(h + H_PQ_M, (uint32_t)p->pq_m);
    put64(h + H_SEED, p->seed);
    put32(h + H_DIMS_PER_BLOCK, (uint32_t)p->dims_per_block);
    put32(h + H_AQ_THRESHOLD, aq);
    put32(h + H_REORDER, (uint32_t)p->reorder);
    put32(h + H_TRAINED, (uint32_t)(ix->trained != 0));
    put64(h + H_NTOTAL, (uint64_t)ix->ntotal);
    put64(h + H_CHECKSUM, fmt_xxh64(h, H_CHECKSUM, 0));
}

/* The whole file through w: header placeholder, sections, directory, then the header. */
static scann_status save_index(const scann_index *ix, fmt_writer *w)
{
    static const uint8_t zero[FMT_HEADER_BYTES];
    w_raw(w, zero, sizeof zero);
    if (ix->trained) {
        if (!ix->ops->save)
            return w->st = err_set(SCANN_ERR_UNSUPPORTED, "save: %s indexes cannot be saved",
                                   scann_index_kind_name(ix->p.kind));
        ix->ops->save(ix, w);
        uint8_t next[8];
        put64(next, (uint64_t)ix->next_id);
        fmt_section(w, FMT_NXID, next, sizeof next);
    }
    if (ix->p.reorder_k > 0) { /* only when set, so other files keep their bytes */
        uint8_t rk[4];
        put32(rk, (uint32_t)ix->p.reorder_k);
        fmt_section(w, FMT_SRCH, rk, sizeof rk);
    }
    if (!w->st && w->open) w->st = err_set(SCANN_ERR_INTERNAL, "save: a section was left open");
    w_pad(w);
    if (w->st) return w->st;
    uint64_t dir_offset = w->pos;
    uint8_t dir[FMT_MAX_SECTIONS * FMT_ENTRY_BYTES] = {0};
    for (int i = 0; i < w->nsec; i++) {
        uint8_t *e = dir + (size_t)i * FMT_ENTRY_BYTES;
        put32(e, w->dir[i].tag);
        put64(e + 8, w->dir[i].offset);
        put64(e + 16, w->dir[i].length);
        put64(e + 24, w->dir[i].checksum);
    }
    size_t dir_bytes = (size_t)w->nsec * FMT_ENTRY_BYTES;
    if (w_raw(w, dir, dir_bytes) || w_flush(w)) return w->st;
    uint8_t h[FMT_HEADER_BYTES];
    encode_header(ix, w, dir_offset, fmt_xxh64(dir, dir_bytes, 0), h);
    if (w->mem) {
        memcpy(w->mem, h, sizeof h);
    } else if (w->fd >= 0) {
        ssize_t put;
        do put = pwrite(w->fd, h, sizeof h, 0);
        while (put < 0 && errno == EINTR);
        if (put != (ssize_t)sizeof h) return w_io_fail(w, "write failed", put < 0 ? errno : EIO);
    }
    return SCANN_OK;
}

scann_status scann_index_save_buffer(const scann_index *ix, void **buf, size_t *len)
{
    if (!ix || !buf || !len)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "save_buffer: index, buf or len is NULL");
    /* One read lock over both passes: an add in between would change the size. */
    pthread_rwlock_t *lock = (pthread_rwlock_t *)&ix->lock;
    pthread_rwlock_rdlock(lock);
    fmt_writer count = {.fd = -1, .counting = 1};
    uint8_t *mem = NULL;
    scann_status st = save_index(ix, &count);
    if (!st && count.pos > SIZE_MAX) st = err_nomem("index buffer", SIZE_MAX);
    if (!st && !(mem = malloc((size_t)count.pos)))
        st = err_nomem("index buffer", (size_t)count.pos);
    if (!st) {
        fmt_writer w = {.mem = mem, .fd = -1};
        st = save_index(ix, &w);
        if (!st && w.pos != count.pos)
            st = err_set(SCANN_ERR_INTERNAL, "save_buffer: %llu bytes written, %llu counted",
                         (unsigned long long)w.pos, (unsigned long long)count.pos);
    }
    pthread_rwlock_unlock(lock);
    if (st) {
        free(mem);
        return st;
    }
    *buf = mem;
    *len = (size_t)count.pos;
    return SCANN_OK;
}

/* fsync the directory holding path, so the rename itself is durable. */
static scann_status sync_dir(const char *path)
{
    size_t n = strlen(path);
    char *dir = malloc(n + 2);
    if (!dir) return err_nomem("a directory name", n + 2);
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    scann_status st = SCANN_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* Some file systems cannot fsync a directory (EINVAL): nothing more can be done there. */
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        st = err_set(SCANN_ERR_IO, "%s: cannot sync directory %s after the rename: %s", path, dir,
                     strerror(errno));
    if (fd >= 0) close(fd);
    free(dir);
    return st;
}

/*
 * Remove "<name>.tmp.<pid>.<tid>" files next to path whose process is gone: a save killed
 * between create and rename leaves one, and without this a kill loop fills the disk. A pid
 * that is alive (ours included: another thread may be saving) keeps its file. Best effort:
 * nothing here makes the save fail.
 */
static void remove_stale_temps(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) : 0, nlen = strlen(name);
    char *dir = malloc(dlen + 2);
    if (!dir) return;
    if (!slash)
        strcpy(dir, ".");
    else if (dlen == 0)
        strcpy(dir, "/");
    else
        memcpy(dir, path, dlen), dir[dlen] = '\0';
    DIR *dp = opendir(dir);
    free(dir);
    if (!dp) return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        const char *t = e->d_name;
        if (strncmp(t, name, nlen) != 0 || strncmp(t + nlen, ".tmp.", 5) != 0) continue;
        char *end;
        errno = 0;
        long pid = strtol(t + nlen + 5, &end, 10);
        if (errno || end == t + nlen + 5 || *end != '.' || pid <= 0 || pid == (long)getpid())
            continue;
        const char *tid = end + 1;
        if (!*tid || strspn(tid, "0123456789abcdef") != strlen(tid)) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        unlinkat(dirfd(dp), t, 0);
    }
    closedir(dp);
}

scann_status scann_index_save(const scann_index *ix, const char *path)
{
    if (!ix || !path || !*path)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "save: index or path is NULL or empty");
    /* The pid and thread make the temporary name unique among concurrent saves to one path; a
     * stale file of that name belongs to a dead process and is replaced, never written
     * through (it could be a planted symlink). */
    unsigned long tid = 0;
    pthread_t self = pthread_self();
    memcpy(&tid, &self, sizeof tid < sizeof self ? sizeof tid : sizeof self);
    size_t n = strlen(path) + 64;
    char *tmp = malloc(n);
    uint8_t *stage = malloc(FMT_STAGE_BYTES);
    if (!tmp || !stage) {
        free(tmp), free(stage);
        return err_nomem("save buffers", FMT_STAGE_BYTES + n);
    }
    snprintf(tmp, n, "%s.tmp.%ld.%lx", path, (long)getpid(), tid);
    remove_stale_temps(path);
    fmt_writer w = {.fd = -1, .path = path, .stage = stage};
    if (unlink(tmp) != 0 && errno != ENOENT) {
        w_io_fail(&w, "cannot remove a stale temporary file", errno);
    } else {
        w.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (w.fd < 0) w_io_fail(&w, "cannot create the temporary file", errno);
    }
    scann_status st = w.st;
    if (!st) {
        pthread_rwlock_rdlock((pthread_rwlock_t *)&ix->lock);
        st = save_index(ix, &w);
        pthread_rwlock_unlock((pthread_rwlock_t *)&ix->lock);
    }
    /* fsync and close are where delayed errors (ENOSPC, EIO) surface. */
    if (!st && fsync(w.fd) != 0) st = w_io_fail(&w, "fsync failed", errno);
    if (w.fd >= 0 && close(w.fd) != 0 && !st) st = w_io_fail(&w, "close failed", errno);
    if (!st && rename(tmp, path) != 0)
        st = w_io_fail(&w, "cannot rename the temporary file into place", errno);
    if (st && w.fd >= 0) unlink(tmp);
    if (!st) st = sync_dir(path);
    free(tmp);
    free(stage);
    return st;
}

/* ---- reader -------------------------------------------------------------------------------- */

struct fmt_reader {
    const uint8_t *base; /* the whole input */
    size_t len;
    const char *name; /* the path, or "index buffer" */
    int mapped;       /* base is a mapping that outlives the index */
    int verify;       /* compare checksums (always, except for the fuzzer) */
    int nsec;
    fmt_entry sec[FMT_MAX_SECTIONS];
    int taken[FMT_MAX_SECTIONS];
};

int fmt_mapped(const fmt_reader *r) { return r->mapped; }

scann_status fmt_fail(const fmt_reader *r, const char *fmt, ...)
{
    /* Formatted into a local first: an argument may be scann_last_error()'s own buffer. */
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(SCANN_ERR_FORMAT, "%s: %s", r->name, msg);
}

/* Header and directory: everything but the kind's own sections. */
static scann_status read_layout(fmt_reader *r)
{
    const uint8_t *b = r->base;
    if (r->len >= sizeof fmt_magic && memcmp(b + H_MAGIC, fmt_magic, sizeof fmt_magic) != 0)
        return fmt_fail(r, "not a libscann index (header: magic is not \"SCANNIDX\")");
    if (r->len < FMT_HEADER_BYTES)
        return fmt_fail(r, "truncated: %zu bytes, shorter than the %d-byte header", r->len,
                        FMT_HEADER_BYTES);
    uint32_t version = get32(b + H_VERSION), hbytes = get32(b + H_HEADER_BYTES);
    if (version != FMT_VERSION && version != 1)
        return fmt_fail(r, "header: format version %u is not supported (this library reads %u)",
                        version, FMT_VERSION);
    if (hbytes != FMT_HEADER_BYTES)
        return fmt_fail(r, "header: header_bytes=%u, expected %d", hbytes, FMT_HEADER_BYTES);
    uint64_t stored = get64(b + H_CHECKSUM), sum = fmt_xxh64(b, H_CHECKSUM, 0);
    if (r->verify && stored != sum)
        return fmt_fail(r,
                        "header: checksum mismatch (stored %016llx, computed %016llx): the "
                        "header is corrupt",
                        (unsigned long long)stored, (unsigned long long)sum);
    uint64_t file_bytes = get64(b + H_FILE_BYTES), dir_offset = get64(b + H_DIR_OFFSET);
    uint32_t nsec = get32(b + H_NSECTIONS), flags = get32(b + H_FLAGS);
    if (file_bytes > r->len)
        return fmt_fail(r, "truncated: header: file_bytes=%llu, but only %zu bytes are present",
                        (unsigned long long)file_bytes, r->len);
    if (file_bytes < r->len)
        return fmt_fail(r, "header: file_bytes=%llu, but %zu bytes are present (trailing data)",
                        (unsigned long long)file_bytes, r->len);
    if (flags & ~FMT_FLAG_L2_RESIDUAL || (flags && version < 2))
        return fmt_fail(r, "header: flags=%#x, expected 0 or 1 (written by a newer library?)",
                        flags);
    if (nsec > FMT_MAX_SECTIONS)
        return fmt_fail(r, "header: nsections=%u exceeds %d", nsec, FMT_MAX_SECTIONS);
    if (dir_offset < FMT_HEADER_BYTES || dir_offset % FMT_ALIGN || dir_offset > file_bytes ||
        file_bytes - dir_offset != (uint64_t)nsec * FMT_ENTRY_BYTES)
        return fmt_fail(r,
                        "header: dir_offset=%llu with nsections=%u does not end the file at "
                        "file_bytes=%llu",
                        (unsigned long long)dir_offset, nsec, (unsigned long long)file_bytes);
    const uint8_t *dir = b + dir_offset;
    stored = get64(b + H_DIR_CHECKSUM);
    sum = fmt_xxh64(dir, (size_t)nsec * FMT_ENTRY_BYTES, 0);
    if (r->verify && stored != sum)
        return fmt_fail(r, "directory: checksum mismatch (stored %016llx, computed %016llx)",
                        (unsigned long long)stored, (unsigned long long)sum);

    /* Sections follow each other at 64-byte boundaries: each offset is determined, and every
     * byte of the file is a header, directory, section or zero padding byte. */
    uint64_t expect = FMT_HEADER_BYTES;
    char t[5];
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *e = dir + (size_t)i * FMT_ENTRY_BYTES;
        fmt_entry s = {get32(e), get64(e + 8), get64(e + 16), get64(e + 24)};
        tag_text(s.tag, t);
        if (get32(e + 4) != 0)
            return fmt_fail(r, "directory: entry %u (%s): reserved field is %u, expected 0", i, t,
                            get32(e + 4));
        if (!tag_what(s.tag))
            return fmt_fail(r, "directory: entry %u: unknown section tag '%s' (%#x)", i, t, s.tag);
        for (uint32_t j = 0; j < i; j++)
            if (r->sec[j].tag == s.tag)
                return fmt_fail(r, "directory: section %s appears twice (entries %u and %u)", t, j,
                                i);
        if (s.offset != expect)
            return fmt_fail(r, "directory: section %s at offset %llu, expected %llu", t,
                            (unsigned long long)s.offset, (unsigned long long)expect);
        if (s.length > dir_offset - s.offset)
            return fmt_fail(r,
                            "directory: section %s: length %llu at offset %llu runs past the "
                            "directory at %llu",
                            t, (unsigned long long)s.length, (unsigned long long)s.offset,
                            (unsigned long long)dir_offset);
        r->sec[i] = s;
        expect = align_up(s.offset + s.length);
    }
    if (expect != dir_offset)
        return fmt_fail(r, "directory: the sections end at %llu, but the directory is at %llu",
                        (unsigned long long)expect, (unsigned long long)dir_offset);
    r->nsec = (int)nsec;
    for (int i = 0; i < r->nsec; i++) {
        const fmt_entry *s = &r->sec[i];
        uint64_t end = s->offset + s->length,
                 next = i + 1 < r->nsec ? r->sec[i + 1].offset : dir_offset;
        for (uint64_t o = end; o < next; o++)
            if (b[o])
                return fmt_fail(r, "padding after section %s: byte %llu is %#x, expected 0",
                                tag_text(s->tag, t), (unsigned long long)o, b[o]);
    }
    for (int i = 0; i < r->nsec && r->verify; i++) {
        const fmt_entry *s = &r->sec[i];
        sum = fmt_xxh64(b + s->offset, (size_t)s->length, 0);
        if (sum != s->checksum)
            return fmt_fail(r,
                            "section %s (%s): checksum mismatch (stored %016llx, computed "
                            "%016llx): the data is corrupt",
                            tag_text(s->tag, t), tag_what(s->tag), (unsigned long long)s->checksum,
                            (unsigned long long)sum);
    }
    return SCANN_OK;
}

/* The header's parameters, range-checked where scann_index_create would not (it reports bad
 * values as invalid arguments; load turns those into format errors too). */
static scann_status read_params(fmt_reader *r, scann_index_params *p, int *trained, int64_t *ntotal)
{
    const uint8_t *b = r->base;
    int32_t kind = (int32_t)get32(b + H_KIND), metric = (int32_t)get32(b + H_METRIC);
    int32_t reorder = (int32_t)get32(b + H_REORDER), threads = (int32_t)get32(b + H_NUM_THREADS);
    uint32_t tr = get32(b + H_TRAINED);
    int64_t nt = (int64_t)get64(b + H_NTOTAL);
    if (kind < 0 || kind > SCANN_INDEX_SCANN)
        return fmt_fail(r, "header: kind=%d is not an index kind", kind);
    if (metric < 0 || metric > SCANN_METRIC_COSINE)
        return fmt_fail(r, "header: metric=%d is not a metric", metric);
    if (reorder < 0 || reorder > SCANN_REORDER_NONE)
        return fmt_fail(r, "header: reorder=%d is not a reorder store", reorder);
    if (threads < 0 || threads > 4096)
        return fmt_fail(r, "header: num_threads=%d is outside [0, 4096]", threads);
    if (tr > 1) return fmt_fail(r, "header: trained=%u, expected 0 or 1", tr);
    if (nt < 0) return fmt_fail(r, "header: ntotal=%lld is negative", (long long)nt);
    uint32_t flags = get32(b + H_FLAGS); /* read_layout allowed only FMT_FLAG_L2_RESIDUAL */
    if (flags && (kind != SCANN_INDEX_SCANN || metric != SCANN_METRIC_L2))
        return fmt_fail(r, "header: flags=%#x (L2 residual codes) on a %s %s index", flags,
                        scann_index_kind_name((scann_index_kind)kind),
                        scann_metric_name((scann_metric)metric));
    if (kind == SCANN_INDEX_FLAT && !tr)
        return fmt_fail(r, "header: trained=0, but a FLAT index is always trained");
    /* An untrained index may carry its search defaults (SRCH), nothing else. */
    int nsrch = 0;
    for (int i = 0; i < r->nsec; i++) nsrch += r->sec[i].tag == FMT_SRCH;
    if (!tr && (nt != 0 || r->nsec != nsrch))
        return fmt_fail(r,
                        "header: an untrained index with ntotal=%lld and %d sections (must "
                        "be 0, and SRCH at most)",
                        (long long)nt, r->nsec);
    memset(p, 0, sizeof *p);
    p->kind = (scann_index_kind)kind;
    p->metric = (scann_metric)metric;
    p->dim = (int32_t)get32(b + H_DIM);
    p->num_threads = 0; /* scann.h: a loaded index uses all cores until told otherwise */
    p->nlist = (int32_t)get32(b + H_NLIST);
    p->nprobe = (int32_t)get32(b + H_NPROBE);
    p->train_size = (int64_t)get64(b + H_TRAIN_SIZE);
    p->kmeans_iters = (int32_t)get32(b + H_KMEANS_ITERS);
    p->pq_m = (int32_t)get32(b + H_PQ_M);
    p->seed = get64(b + H_SEED);
    p->dims_per_block = (int32_t)get32(b + H_DIMS_PER_BLOCK);
    uint32_t aq = get32(b + H_AQ_THRESHOLD);
    memcpy(&p->aq_threshold, &aq, sizeof aq);
    p->reorder = (scann_reorder)reorder;
    p->l2_residual = flags != 0;
    *trained = (int)tr;
    *ntotal = nt;
    return SCANN_OK;
}

/* next_id: above every stored id (the kind's load has validated the IDS section), and the
 * saved counter when the file has one (version 2), which also covers removed ids. */
static scann_status load_next_id(fmt_reader *r, scann_index *ix)
{
    int64_t next = 0;
    for (int i = 0; i < r->nsec; i++) {
        if (r->sec[i].tag != FMT_IDS) continue;
        const uint8_t *ids = r->base + r->sec[i].offset;
        for (uint64_t j = 0; j < r->sec[i].length / 8; j++) {
            int64_t id = (int64_t)get64(ids + 8 * j);
            if (id >= next) next = id < INT64_MAX ? id + 1 : INT64_MAX;
        }
    }
    if (get32(r->base + H_VERSION) >= 2) {
        const uint8_t *p;
        scann_status st = fmt_take(r, FMT_NXID, 1, 8, &p);
        if (st) return st;
        uint64_t saved = get64(p);
        if (saved > INT64_MAX || (int64_t)saved < next)
            return fmt_fail(r,
                            "section NXID (next automatic id): %llu is below the stored id "
                            "%lld",
                            (unsigned long long)saved, (long long)next - 1);
        next = (int64_t)saved;
    }
    ix->next_id = next;
    return SCANN_OK;
}

/* The optional SRCH section (version 2): the default reorder_k, as the spec key allows it. */
static scann_status load_search_defaults(fmt_reader *r, scann_index *ix)
{
    int present = 0;
    for (int i = 0; i < r->nsec; i++) present |= r->sec[i].tag == FMT_SRCH;
    if (!present) return SCANN_OK;
    if (get32(r->base + H_VERSION) < 2)
        return fmt_fail(r, "section SRCH (search defaults) in a version 1 file");
    const uint8_t *p;
    scann_status st = fmt_take(r, FMT_SRCH, 1, 4, &p);
    if (st) return st;
    uint32_t rk = get32(p);
    if (rk < 1 || rk > (1u << 30))
        return fmt_fail(r, "section SRCH (search defaults): reorder_k=%u is outside [1, 2^30]", rk);
    ix->p.reorder_k = (int)rk;
    return SCANN_OK;
}

static scann_status load_index(fmt_reader *r, scann_index **out)
{
    scann_index_params p;
    int trained = 0;
    int64_t ntotal = 0;
    scann_status st = read_layout(r);
    if (!st) st = read_params(r, &p, &trained, &ntotal);
    if (st) return st;
    scann_index *ix;
    st = scann_index_create(&p, &ix);
    if (st == SCANN_ERR_INVALID_ARGUMENT) return fmt_fail(r, "header: %s", scann_last_error());
    if (st) return st;
    if (trained) {
        ix->trained = 1;
        ix->ntotal = ntotal;
        if (!ix->ops->load)
            st = err_set(SCANN_ERR_UNSUPPORTED, "load: %s indexes cannot be loaded",
                         scann_index_kind_name(p.kind));
        else
            st = ix->ops->load(ix, r);
        if (!st) st = load_next_id(r, ix);
        if (!st) st = load_search_defaults(r, ix);
        char t[5];
        for (int i = 0; i < r->nsec && !st; i++)
            if (!r->taken[i])
                st = fmt_fail(r,
                              "section %s (%s) does not belong in a %s index with these "
                              "parameters",
                              tag_text(r->sec[i].tag, t), tag_what(r->sec[i].tag),
                              scann_index_kind_name(p.kind));
    } else {
        st = load_search_defaults(r, ix);
    }
    if (st) {
        scann_index_free(ix);
        return st;
    }
    *out = ix;
    return SCANN_OK;
}

scann_status fmt_take(fmt_reader *r, uint32_t tag, uint64_t count, size_t elem,
                      const uint8_t **data)
{
    char t[5];
    tag_text(tag, t);
    for (int i = 0; i < r->nsec; i++) {
        if (r->sec[i].tag != tag) continue;
        if (r->taken[i]) return err_set(SCANN_ERR_INTERNAL, "load: section %s taken twice", t);
        uint64_t len = r->sec[i].length;
        if (elem == 0 ? len != 0 : count > len / elem || count * elem != len)
            return fmt_fail(r,
                            "section %s (%s): %llu bytes, but the header's counts need %llu x "
                            "%zu bytes",
                            t, tag_what(tag), (unsigned long long)len, (unsigned long long)count,
                            elem);
        r->taken[i] = 1;
        *data = r->base + r->sec[i].offset;
        return SCANN_OK;
    }
    return fmt_fail(r, "section %s (%s) is missing", t, tag_what(tag) ? tag_what(tag) : "?");
}

scann_status fmt_check_finite(const fmt_reader *r, uint32_t tag, const float *x, size_t n)
{
    char t[5];
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return fmt_fail(r, "section %s (%s): value %zu is %s", tag_text(tag, t), tag_what(tag),
                            i, isnan(x[i]) ? "NaN" : "infinite");
    return SCANN_OK;
}

scann_status fmt_take_floats(fmt_reader *r, uint32_t tag, size_t count, float *out)
{
    const uint8_t *p = NULL;
    scann_status st = fmt_take(r, tag, count, sizeof(float), &p);
    if (st) return st;
    if (count) memcpy(out, p, count * sizeof(float));
    return fmt_check_finite(r, tag, out, count);
}

scann_status fmt_take_ivf(fmt_reader *r, const scann_index *ix, ivf *v, size_t code_size,
                          size_t extra_size)
{
    int nlist = ix->p.nlist, d = ix->p.dim;
    uint64_t n = (uint64_t)ix->ntotal;
    const uint8_t *sizes, *cent, *ids, *codes = NULL, *extra = NULL;
    scann_status st;
    memset(v, 0, sizeof *v);
    if (nlist < 1) return fmt_fail(r, "header: nlist=%d in a trained index (must be >= 1)", nlist);
    if ((st = fmt_take(r, FMT_LSIZ, (uint64_t)nlist, sizeof(uint64_t), &sizes))) return st;
    uint64_t sum = 0;
    for (int l = 0; l < nlist; l++) {
        uint64_t s = get64(sizes + 8 * (size_t)l);
        if (s > FMT_LIST_MAX)
            return fmt_fail(r,
                            "section LSIZ (list sizes): list %d has %llu vectors, more than "
                            "2^32 - 1",
                            l, (unsigned long long)s);
        sum += s; /* at most 2^31 lists of < 2^32: no overflow */
    }
    if (sum != n)
        return fmt_fail(r,
                        "section LSIZ (list sizes): the lists hold %llu vectors, the header's "
                        "ntotal is %llu",
                        (unsigned long long)sum, (unsigned long long)n);
    if ((st = fmt_take(r, FMT_CENT, (uint64_t)nlist * (uint64_t)d, sizeof(float), &cent)) ||
        (st = fmt_take(r, FMT_IDS, n, sizeof(int64_t), &ids)) ||
        (code_size && (st = fmt_take(r, FMT_CODE, n, code_size, &codes))) ||
        (extra_size && (st = fmt_take(r, FMT_RROW, n, extra_size, &extra))))
        return st;
    /* Every size is now backed by bytes of the input: allocating is safe. */
    if ((st = ivf_init(v, nlist, d, code_size, extra_size))) return st;
    memcpy(v->centres, cent, (size_t)nlist * d * sizeof(float));
    if ((st = fmt_check_finite(r, FMT_CENT, v->centres, (size_t)nlist * d))) goto fail;
    for (int l = 0; l < nlist; l++) {
        const float *c = v->centres + (size_t)l * d;
        v->cnorm2[l] = ix->dk->ip(c, c, (size_t)d);
    }
    v->mapped = r->mapped;
    uint64_t off = 0;
    for (int l = 0; l < nlist; l++) {
        ivf_list *L = &v->lists[l];
        size_t s = (size_t)get64(sizes + 8 * (size_t)l);
        L->size = (int64_t)s;
        if (s == 0) continue;
        const uint8_t *li = ids + off * sizeof(int64_t);
        const uint8_t *lc = codes ? codes + off * code_size : NULL;
        const uint8_t *le = extra ? extra + off * extra_size : NULL;
        if (v->mapped) { /* the mapping is read-only: nothing may write through these */
            L->ids = (int64_t *)li;
            L->codes = (uint8_t *)lc;
            L->extra = (uint8_t *)le;
        } else {
            L->ids = malloc(s * sizeof(int64_t));
            L->codes = lc ? malloc(s * code_size) : NULL;
            L->extra = le ? malloc(s * extra_size) : NULL;
            if (!L->ids || (lc && !L->codes) || (le && !L->extra)) {
                st = err_nomem("IVF lists", s * (8 + code_size + extra_size));
                goto fail;
            }
            memcpy(L->ids, li, s * sizeof(int64_t));
            if (lc) memcpy(L->codes, lc, s * code_size);
            if (le) memcpy(L->extra, le, s * extra_size);
            L->cap = L->size;
        }
        for (size_t i = 0; i < s; i++)
            if (L->ids[i] < 0) {
                st = fmt_fail(r, "section IDS (ids): id %llu (list %d) is %lld, ids must be >= 0",
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

/* ---- public loads ---------------------------------------------------------------------------- */

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
                     path, FMT_HEADER_BYTES);
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
    fmt_reader r = {.base = buf, .len = len, .name = "index buffer", .verify = 1};
    return load_index(&r, out);
}

scann_status fmt_load_unverified(const void *buf, size_t len, scann_index **out)
{
    fmt_reader r = {.base = buf, .len = len, .name = "index buffer"};
    return load_index(&r, out);
}

scann_status scann_index_load(const char *path, scann_index **out)
{
    if (!path || !out) return err_set(SCANN_ERR_INVALID_ARGUMENT, "load: path or out is NULL");
    void *base;
    size_t len;
    scann_status st = map_file(path, &base, &len);
    if (st) return st;
    /* Reading through a private mapping copies nothing twice: the pages are the page cache's. */
    fmt_reader r = {.base = base, .len = len, .name = path, .verify = 1};
    st = load_index(&r, out);
    munmap(base, len);
    return st;
}

scann_status scann_index_load_mmap(const char *path, scann_index **out)
{
    if (!path || !out) return err_set(SCANN_ERR_INVALID_ARGUMENT, "load_mmap: path or out is NULL");
    void *base;
    size_t len;
    scann_status st = map_file(path, &base, &len);
    if (st) return st;
    fmt_reader r = {.base = base, .len = len, .name = path, .mapped = 1, .verify = 1};
    st = load_index(&r, out);
    if (st) {
        munmap(base, len);
        return st;
    }
    (*out)->map_base = base;
    (*out)->map_len = len;
    return SCANN_OK;
}
