/*
 * container.c - the checksummed section container (container.h; byte layout in
 * docs/FORMAT.md). One writer serves three sinks: a file (staged in 4 MiB chunks), a buffer,
 * and a counting pass that sizes the buffer. The header is written last: as zeros first, then
 * with pwrite at offset 0 (or into the buffer) once the directory is known.
 */
#include "container.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Header-only mode: the hash is compiled in, so the library needs libxxhash-dev to build and
 * nothing at run time (the PostgreSQL module and Python wheels link no extra library). */
#define XXH_INLINE_ALL
#include <xxhash.h>

#define ALIGN 64
#define ENTRY_BYTES 32
#define STAGE_BYTES ((size_t)4 << 20)
#define IO_MAX ((size_t)1 << 30) /* Linux moves at most ~2 GiB per write call */

static const char magic[8] = {'S', 'C', 'A', 'N', 'N', 'I', 'D', 'X'};

/* The container's header fields (docs/FORMAT.md, "Header"). */
enum {
    H_VERSION = 8,
    H_HEADER_BYTES = 12,
    H_FILE_BYTES = 16,
    H_DIR_OFFSET = 24,
    H_NSECTIONS = 32,
    H_FLAGS = 36,
    H_DIR_CHECKSUM = 40,
    H_CHECKSUM = 120
};

static uint64_t align_up(uint64_t x) { return (x + ALIGN - 1) & ~(uint64_t)(ALIGN - 1); }

uint64_t ctr_xxh64(const void *p, size_t n, uint64_t seed) { return XXH64(p, n, seed); }

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

static const char *tag_what(const ctr_reader *r, uint32_t tag)
{
    for (int i = 0; i < r->ntags; i++)
        if (r->tags[i].tag == tag) return r->tags[i].what;
    return NULL;
}

/* ---- writer ------------------------------------------------------------------------------ */

struct ctr_writer {
    uint8_t *mem;     /* memory sink: the exact-size output buffer */
    int fd;           /* file sink, or -1 */
    const char *name; /* the file's final name, for messages */
    uint8_t *stage;   /* file sink: STAGE_BYTES of bytes not yet written */
    size_t staged;
    int counting;       /* sizing pass: positions and the directory advance, nothing else */
    uint64_t pos;       /* bytes emitted so far */
    int open;           /* a section is open ... */
    XXH64_state_t hash; /* ... and this is its running checksum */
    ctr_entry dir[CTR_MAX_SECTIONS];
    int nsec;
    scann_status st; /* the first failure; every later call returns it */
};

static scann_status w_io_fail(ctr_writer *w, int e)
{
    return w->st = err_set(SCANN_ERR_IO, "%s: write failed: %s", w->name, strerror(e));
}

static scann_status write_all(ctr_writer *w, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t put = write(w->fd, p, n < IO_MAX ? n : IO_MAX);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) return w_io_fail(w, errno);
        p += put;
        n -= (size_t)put;
    }
    return SCANN_OK;
}

static scann_status w_flush(ctr_writer *w)
{
    if (w->st || w->fd < 0 || w->staged == 0) return w->st;
    scann_status st = write_all(w, w->stage, w->staged);
    w->staged = 0;
    return st;
}

/* Emit bytes (no hashing). */
static scann_status w_raw(ctr_writer *w, const void *p, size_t n)
{
    if (w->st || n == 0) return w->st;
    if (w->mem) {
        memcpy(w->mem + w->pos, p, n);
    } else if (w->fd >= 0) {
        if (w->staged + n > STAGE_BYTES && w_flush(w)) return w->st;
        if (n >= STAGE_BYTES) {
            if (write_all(w, p, n)) return w->st;
        } else {
            memcpy(w->stage + w->staged, p, n);
            w->staged += n;
        }
    }
    w->pos += n;
    return SCANN_OK;
}

static scann_status w_pad(ctr_writer *w)
{
    static const uint8_t zero[ALIGN];
    return w_raw(w, zero, (size_t)(align_up(w->pos) - w->pos));
}

scann_status ctr_begin(ctr_writer *w, uint32_t tag)
{
    if (w->st) return w->st;
    if (w->open || w->nsec == CTR_MAX_SECTIONS)
        return w->st = err_set(SCANN_ERR_INTERNAL,
                               "save: section %d opened while another is open "
                               "or past the limit of %d",
                               w->nsec, CTR_MAX_SECTIONS);
    if (w_pad(w)) return w->st;
    w->dir[w->nsec] = (ctr_entry){tag, w->pos, 0, 0};
    w->open = 1;
    XXH64_reset(&w->hash, 0);
    return SCANN_OK;
}

scann_status ctr_put(ctr_writer *w, const void *p, size_t n)
{
    if (w->st) return w->st;
    if (!w->open) return w->st = err_set(SCANN_ERR_INTERNAL, "save: bytes outside a section");
    if (!w->counting && n) XXH64_update(&w->hash, p, n);
    return w_raw(w, p, n);
}

scann_status ctr_end(ctr_writer *w)
{
    if (w->st) return w->st;
    if (!w->open) return w->st = err_set(SCANN_ERR_INTERNAL, "save: no open section to end");
    ctr_entry *e = &w->dir[w->nsec++];
    e->length = w->pos - e->offset;
    e->checksum = w->counting ? 0 : XXH64_digest(&w->hash);
    w->open = 0;
    return SCANN_OK;
}

scann_status ctr_section(ctr_writer *w, uint32_t tag, const void *p, size_t n)
{
    ctr_begin(w, tag);
    ctr_put(w, p, n);
    return ctr_end(w);
}

/* Header placeholder, the body's sections, the directory, then the real header. */
static scann_status write_all_parts(ctr_writer *w, uint32_t version, const uint8_t *user,
                                    ctr_body body, const void *ctx)
{
    static const uint8_t zero[CTR_HEADER_BYTES];
    w_raw(w, zero, sizeof zero);
    body(w, ctx);
    if (!w->st && w->open) w->st = err_set(SCANN_ERR_INTERNAL, "save: a section was left open");
    w_pad(w);
    if (w->st) return w->st;
    uint64_t dir_offset = w->pos;
    uint8_t dir[CTR_MAX_SECTIONS * ENTRY_BYTES] = {0};
    for (int i = 0; i < w->nsec; i++) {
        uint8_t *e = dir + (size_t)i * ENTRY_BYTES;
        ctr_put32(e, w->dir[i].tag);
        ctr_put64(e + 8, w->dir[i].offset);
        ctr_put64(e + 16, w->dir[i].length);
        ctr_put64(e + 24, w->dir[i].checksum);
    }
    size_t dir_bytes = (size_t)w->nsec * ENTRY_BYTES;
    if (w_raw(w, dir, dir_bytes) || w_flush(w)) return w->st;
    uint8_t h[CTR_HEADER_BYTES] = {0};
    memcpy(h + CTR_USER_FIRST, user + CTR_USER_FIRST, H_CHECKSUM - CTR_USER_FIRST);
    memcpy(h, magic, sizeof magic);
    ctr_put32(h + H_VERSION, version);
    ctr_put32(h + H_HEADER_BYTES, CTR_HEADER_BYTES);
    ctr_put64(h + H_FILE_BYTES, w->pos);
    ctr_put64(h + H_DIR_OFFSET, dir_offset);
    ctr_put32(h + H_NSECTIONS, (uint32_t)w->nsec);
    ctr_put32(h + H_FLAGS, 0);
    ctr_put64(h + H_DIR_CHECKSUM, ctr_xxh64(dir, dir_bytes, 0));
    ctr_put64(h + H_CHECKSUM, ctr_xxh64(h, H_CHECKSUM, 0));
    if (w->mem) {
        memcpy(w->mem, h, sizeof h);
    } else if (w->fd >= 0) {
        ssize_t put;
        do put = pwrite(w->fd, h, sizeof h, 0);
        while (put < 0 && errno == EINTR);
        if (put != (ssize_t)sizeof h) return w_io_fail(w, put < 0 ? errno : EIO);
    }
    return SCANN_OK;
}

scann_status ctr_write_fd(int fd, const char *name, uint32_t version,
                          const uint8_t user[CTR_HEADER_BYTES], ctr_body body, const void *ctx)
{
    ctr_writer w = {.fd = fd, .name = name, .stage = malloc(STAGE_BYTES)};
    if (!w.stage) return err_nomem("a save buffer", STAGE_BYTES);
    scann_status st = write_all_parts(&w, version, user, body, ctx);
    free(w.stage);
    return st;
}

scann_status ctr_write_buffer(uint32_t version, const uint8_t user[CTR_HEADER_BYTES], ctr_body body,
                              const void *ctx, void **buf, size_t *len)
{
    ctr_writer count = {.fd = -1, .counting = 1};
    uint8_t *mem = NULL;
    scann_status st = write_all_parts(&count, version, user, body, ctx);
    if (!st && count.pos > SIZE_MAX) st = err_nomem("index buffer", SIZE_MAX);
    if (!st && !(mem = malloc((size_t)count.pos)))
        st = err_nomem("index buffer", (size_t)count.pos);
    if (!st) {
        ctr_writer w = {.mem = mem, .fd = -1};
        st = write_all_parts(&w, version, user, body, ctx);
        if (!st && w.pos != count.pos)
            st = err_set(SCANN_ERR_INTERNAL, "save_buffer: %llu bytes written, %llu counted",
                         (unsigned long long)w.pos, (unsigned long long)count.pos);
    }
    if (st) {
        free(mem);
        return st;
    }
    *buf = mem;
    *len = (size_t)count.pos;
    return SCANN_OK;
}

/* ---- reader ------------------------------------------------------------------------------ */

int ctr_mapped(const ctr_reader *r) { return r->mapped; }

scann_status ctr_fail(const ctr_reader *r, const char *fmt, ...)
{
    /* Formatted into a local first: an argument may be scann_last_error()'s own buffer. */
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(SCANN_ERR_FORMAT, "%s: %s", r->name, msg);
}

/* The directory's entries: known, unique tags at their canonical offsets, inside the file. */
static scann_status read_directory(ctr_reader *r, const uint8_t *dir, uint32_t nsec,
                                   uint64_t dir_offset)
{
    /* Sections follow each other at 64-byte boundaries: each offset is determined, and every
     * byte of the file is a header, directory, section or zero padding byte. */
    uint64_t expect = CTR_HEADER_BYTES;
    char t[5];
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *e = dir + (size_t)i * ENTRY_BYTES;
        ctr_entry s = {ctr_get32(e), ctr_get64(e + 8), ctr_get64(e + 16), ctr_get64(e + 24)};
        tag_text(s.tag, t);
        if (ctr_get32(e + 4) != 0)
            return ctr_fail(r, "directory: entry %u (%s): reserved field is %u, expected 0", i, t,
                            ctr_get32(e + 4));
        if (!tag_what(r, s.tag))
            return ctr_fail(r, "directory: entry %u: unknown section tag '%s' (%#x)", i, t, s.tag);
        for (uint32_t j = 0; j < i; j++)
            if (r->sec[j].tag == s.tag)
                return ctr_fail(r, "directory: section %s appears twice (entries %u and %u)", t, j,
                                i);
        if (s.offset != expect)
            return ctr_fail(r, "directory: section %s at offset %llu, expected %llu", t,
                            (unsigned long long)s.offset, (unsigned long long)expect);
        if (s.length > dir_offset - s.offset)
            return ctr_fail(r,
                            "directory: section %s: length %llu at offset %llu runs past the "
                            "directory at %llu",
                            t, (unsigned long long)s.length, (unsigned long long)s.offset,
                            (unsigned long long)dir_offset);
        r->sec[i] = s;
        expect = align_up(s.offset + s.length);
    }
    if (expect != dir_offset)
        return ctr_fail(r, "directory: the sections end at %llu, but the directory is at %llu",
                        (unsigned long long)expect, (unsigned long long)dir_offset);
    r->nsec = (int)nsec;
    return SCANN_OK;
}

scann_status ctr_open(ctr_reader *r)
{
    const uint8_t *b = r->base;
    if (r->len >= sizeof magic && memcmp(b, magic, sizeof magic) != 0)
        return ctr_fail(r, "not a libscann index (header: magic is not \"SCANNIDX\")");
    if (r->len < CTR_HEADER_BYTES)
        return ctr_fail(r, "truncated: %zu bytes, shorter than the %d-byte header", r->len,
                        CTR_HEADER_BYTES);
    uint32_t version = ctr_get32(b + H_VERSION), hbytes = ctr_get32(b + H_HEADER_BYTES);
    if (version < 1 || version > r->version_max)
        return ctr_fail(r, "header: format version %u is not supported (this library reads %u)",
                        version, r->version_max);
    if (hbytes != CTR_HEADER_BYTES)
        return ctr_fail(r, "header: header_bytes=%u, expected %d", hbytes, CTR_HEADER_BYTES);
    uint64_t stored = ctr_get64(b + H_CHECKSUM), sum = ctr_xxh64(b, H_CHECKSUM, 0);
    if (r->verify && stored != sum)
        return ctr_fail(r,
                        "header: checksum mismatch (stored %016llx, computed %016llx): the "
                        "header is corrupt",
                        (unsigned long long)stored, (unsigned long long)sum);
    uint64_t file_bytes = ctr_get64(b + H_FILE_BYTES), dir_offset = ctr_get64(b + H_DIR_OFFSET);
    uint32_t nsec = ctr_get32(b + H_NSECTIONS), flags = ctr_get32(b + H_FLAGS);
    if (file_bytes > r->len)
        return ctr_fail(r, "truncated: header: file_bytes=%llu, but only %zu bytes are present",
                        (unsigned long long)file_bytes, r->len);
    if (file_bytes < r->len)
        return ctr_fail(r, "header: file_bytes=%llu, but %zu bytes are present (trailing data)",
                        (unsigned long long)file_bytes, r->len);
    if (flags != 0)
        return ctr_fail(r, "header: flags=%#x, expected 0 (written by a newer library?)", flags);
    if (nsec > CTR_MAX_SECTIONS)
        return ctr_fail(r, "header: nsections=%u exceeds %d", nsec, CTR_MAX_SECTIONS);
    if (dir_offset < CTR_HEADER_BYTES || dir_offset % ALIGN || dir_offset > file_bytes ||
        file_bytes - dir_offset != (uint64_t)nsec * ENTRY_BYTES)
        return ctr_fail(r,
                        "header: dir_offset=%llu with nsections=%u does not end the file at "
                        "file_bytes=%llu",
                        (unsigned long long)dir_offset, nsec, (unsigned long long)file_bytes);
    const uint8_t *dir = b + dir_offset;
    stored = ctr_get64(b + H_DIR_CHECKSUM);
    sum = ctr_xxh64(dir, (size_t)nsec * ENTRY_BYTES, 0);
    if (r->verify && stored != sum)
        return ctr_fail(r, "directory: checksum mismatch (stored %016llx, computed %016llx)",
                        (unsigned long long)stored, (unsigned long long)sum);
    scann_status st = read_directory(r, dir, nsec, dir_offset);
    if (st) return st;
    char t[5];
    for (int i = 0; i < r->nsec; i++) {
        const ctr_entry *s = &r->sec[i];
        uint64_t end = s->offset + s->length,
                 next = i + 1 < r->nsec ? r->sec[i + 1].offset : dir_offset;
        for (uint64_t o = end; o < next; o++)
            if (b[o])
                return ctr_fail(r, "padding after section %s: byte %llu is %#x, expected 0",
                                tag_text(s->tag, t), (unsigned long long)o, b[o]);
    }
    for (int i = 0; i < r->nsec && r->verify; i++) {
        const ctr_entry *s = &r->sec[i];
        sum = ctr_xxh64(b + s->offset, (size_t)s->length, 0);
        if (sum != s->checksum)
            return ctr_fail(r,
                            "section %s (%s): checksum mismatch (stored %016llx, computed "
                            "%016llx): the data is corrupt",
                            tag_text(s->tag, t), tag_what(r, s->tag),
                            (unsigned long long)s->checksum, (unsigned long long)sum);
    }
    r->version = version;
    return SCANN_OK;
}

const ctr_entry *ctr_find(const ctr_reader *r, uint32_t tag)
{
    for (int i = 0; i < r->nsec; i++)
        if (r->sec[i].tag == tag) return &r->sec[i];
    return NULL;
}

scann_status ctr_take(ctr_reader *r, uint32_t tag, uint64_t count, size_t elem,
                      const uint8_t **data)
{
    char t[5];
    tag_text(tag, t);
    const char *what = tag_what(r, tag);
    for (int i = 0; i < r->nsec; i++) {
        if (r->sec[i].tag != tag) continue;
        if (r->taken[i]) return err_set(SCANN_ERR_INTERNAL, "load: section %s taken twice", t);
        uint64_t len = r->sec[i].length;
        if (elem == 0 ? len != 0 : count > len / elem || count * elem != len)
            return ctr_fail(r,
                            "section %s (%s): %llu bytes, but the header's counts need %llu x "
                            "%zu bytes",
                            t, what, (unsigned long long)len, (unsigned long long)count, elem);
        r->taken[i] = 1;
        *data = r->base + r->sec[i].offset;
        return SCANN_OK;
    }
    return ctr_fail(r, "section %s (%s) is missing", t, what ? what : "?");
}

scann_status ctr_check_finite(const ctr_reader *r, uint32_t tag, const float *x, size_t n)
{
    char t[5];
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return ctr_fail(r, "section %s (%s): value %zu is %s", tag_text(tag, t),
                            tag_what(r, tag), i, isnan(x[i]) ? "NaN" : "infinite");
    return SCANN_OK;
}

scann_status ctr_take_floats(ctr_reader *r, uint32_t tag, size_t count, float *out)
{
    const uint8_t *p = NULL;
    scann_status st = ctr_take(r, tag, count, sizeof(float), &p);
    if (st) return st;
    if (count) memcpy(out, p, count * sizeof(float));
    return ctr_check_finite(r, tag, out, count);
}

scann_status ctr_check_all_taken(const ctr_reader *r, const char *where)
{
    char t[5];
    for (int i = 0; i < r->nsec; i++)
        if (!r->taken[i])
            return ctr_fail(r, "section %s (%s) does not belong in %s", tag_text(r->sec[i].tag, t),
                            tag_what(r, r->sec[i].tag), where);
    return SCANN_OK;
}
