/* hugemem.c - large buffers that the kernel may back with 2 MB pages; see hugemem.h. */
#include "hugemem.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(__linux__) && defined(MADV_HUGEPAGE)
#define HUGE_MAPPED 1
#else
#define HUGE_MAPPED 0
#endif

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

static int mapped(size_t bytes) { return HUGE_MAPPED && bytes >= HUGE_MIN; }

void *huge_alloc(size_t bytes)
{
    if (bytes == 0) return NULL;
    if (!mapped(bytes)) {
        void *p = NULL;
        return posix_memalign(&p, 64, round_up(bytes, 64)) ? NULL : p;
    }
#if HUGE_MAPPED
    size_t len = round_up(bytes, HUGE_MIN);
    if (len < bytes || len + HUGE_MIN < len) return NULL; /* size_t overflow */
    /* Map one huge page more than needed and unmap the misaligned head and the tail. */
    uint8_t *raw =
        mmap(NULL, len + HUGE_MIN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uint8_t *p = (uint8_t *)round_up((uintptr_t)raw, HUGE_MIN);
    if (p > raw) munmap(raw, (size_t)(p - raw));
    if (raw + len + HUGE_MIN > p + len) munmap(p + len, (size_t)(raw + len + HUGE_MIN - (p + len)));
    /* Advice only: where THP is off ("never") the buffer works with small pages. */
    (void)madvise(p, len, MADV_HUGEPAGE);
    return p;
#else
    return NULL;
#endif
}

void huge_free(void *p, size_t bytes)
{
    if (!p) return;
    if (!mapped(bytes)) {
        free(p);
        return;
    }
#if HUGE_MAPPED
    munmap(p, round_up(bytes, HUGE_MIN));
#endif
}
