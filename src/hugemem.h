/*
 * hugemem.h - large buffers that the kernel may back with 2 MB pages.
 *
 * Why: the rerank stage reads a few dozen rows per query at random from a store of hundreds of
 * megabytes (188 MB of float rows on Fashion-MNIST, 512 MB on SIFT-1M). With 4 KB pages nearly
 * every row costs a TLB miss and a page walk on top of its cache misses; with 2 MB pages the
 * walks mostly hit. Linux gives an anonymous mapping huge pages only when it is 2 MB aligned and
 * either THP is "always" or the range is advised MADV_HUGEPAGE (Debian's default is "madvise"),
 * and malloc does neither for us. Measured on a 2-core Zen 4, 2 threads, paired runs: a
 * Fashion-MNIST batch search (3 KB rows) about 6% faster with the lists' rows and ids in one
 * advised buffer; SIFT-1M (512-byte rows) within noise.
 *
 * huge_alloc(n) returns n bytes, 64-byte aligned, uninitialised: from mmap, 2 MB aligned and
 * advised, when n is at least HUGE_MIN and the platform has MADV_HUGEPAGE; else from malloc.
 * huge_free must get the same n back, which picks the matching release. NULL on failure or
 * n == 0.
 */
#ifndef SCANN_HUGEMEM_H
#define SCANN_HUGEMEM_H

#include <stddef.h>

#define HUGE_MIN ((size_t)2 << 20) /* below one huge page, advising buys nothing */

void *huge_alloc(size_t bytes);
void huge_free(void *p, size_t bytes);

#endif
