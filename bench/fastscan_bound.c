/*
 * fastscan_bound.c - the FastScan kernels' speed beside their physical bounds (issue 11).
 *
 *   fastscan-bound [--m 50,64,128,...] [--time SECONDS] [--dram-mb MB]   (make bench-kernel)
 *
 * For every ISA level this CPU runs (scalar, AVX2, AVX-512) it times, on one thread,
 *   - the single-query block kernel (fs_kernel_for: what a one-query search scans with), and
 *   - the multi-query kernel (fs_multi_kernel_for) with 2 and 4 queries sharing each code load,
 * over block lists that live in L1 (16 KiB of codes), in L2 (512 KiB) and in DRAM (--dram-mb,
 * default 256 MiB, read start to end: the prefetcher's best case, as in a long inverted list),
 * and prints codes scanned per second and per query (Mcodes/s = 32 * blocks * queries / s).
 * Every kernel call writes its 32 sums and mask, which the benchmark folds into a checksum.
 *
 * Bounds, measured on this machine by the same program and on the same core:
 *   - shuffle: vpshufb throughput (independent chains, zmm for AVX-512, ymm for AVX2). A block
 *     of m sub-spaces (m4 = m rounded up to 4) needs m4 / 2 zmm or m4 ymm shuffles for 32 codes,
 *     so the bound is shuffles/s * 64 / m4 (zmm) or * 32 / m4 (ymm) codes per second per query;
 *   - memory: a streaming 512-bit read of the DRAM buffer (bytes/s); a code is m4 / 2 bytes, and
 *     the multi-query kernel reads it once for nq queries: bound = nq * bytes/s / (m4 / 2).
 * The "left" column is min(bounds) / measured for the DRAM list (L1 list: shuffle bound only).
 * The scalar kernel has no shuffle bound (table lookups from memory). Each figure is the best
 * of three timed runs of about --time seconds (default 0.15), to shed noise from other work on a
 * shared machine. Links the library's internal kernels from libscann.a.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu.h"
#include "fastscan/fastscan.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint8_t rnd8(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

static double g_time = 0.15; /* seconds per timed run */
static volatile uint64_t g_sink;

/* ---- bounds ------------------------------------------------------------------------------ */

#define CHAINS 12
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2")))
#define AVX2 __attribute__((target("avx2")))

/* vpshufb zmm per second: CHAINS independent x = shuffle(x, idx) chains (latency hidden). */
AVX512 static double shuffle_rate_zmm(void)
{
    __m512i x[CHAINS], idx = _mm512_set1_epi8(3);
    for (int i = 0; i < CHAINS; i++) x[i] = _mm512_set1_epi8((char)i);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        long iters = 0;
        double t0 = now(), t;
        do {
            for (int k = 0; k < 1000; k++)
                for (int i = 0; i < CHAINS; i++) /* in place: no register moves */
                    __asm__("vpshufb %1, %0, %0" : "+v"(x[i]) : "v"(idx));
            iters += 1000;
            for (int i = 0; i < CHAINS; i++) __asm__ volatile("" : "+v"(x[i]));
        } while ((t = now() - t0) < g_time);
        double r = (double)iters * CHAINS / t;
        if (r > best) best = r;
    }
    uint64_t s = 0;
    for (int i = 0; i < CHAINS; i++) s += (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(x[i]));
    g_sink += s;
    return best;
}

AVX2 static double shuffle_rate_ymm(void)
{
    __m256i x[CHAINS], idx = _mm256_set1_epi8(3);
    for (int i = 0; i < CHAINS; i++) x[i] = _mm256_set1_epi8((char)i);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        long iters = 0;
        double t0 = now(), t;
        do {
            for (int k = 0; k < 1000; k++)
                for (int i = 0; i < CHAINS; i++)
                    __asm__("vpshufb %1, %0, %0" : "+x"(x[i]) : "x"(idx));
            iters += 1000;
            for (int i = 0; i < CHAINS; i++) __asm__ volatile("" : "+x"(x[i]));
        } while ((t = now() - t0) < g_time);
        double r = (double)iters * CHAINS / t;
        if (r > best) best = r;
    }
    uint64_t s = 0;
    for (int i = 0; i < CHAINS; i++) s += (uint64_t)_mm_cvtsi128_si64(_mm256_castsi256_si128(x[i]));
    g_sink += s;
    return best;
}

/* Streaming read bandwidth (bytes/s) over buf, 512-bit loads into four accumulators. */
AVX512 static double read_bw(const uint8_t *buf, size_t bytes)
{
    double best = 0;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now(), t;
        size_t done = 0;
        do {
            for (size_t i = 0; i + 256 <= bytes; i += 256) {
                a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(buf + i));
                a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(buf + i + 64));
                a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(buf + i + 128));
                a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(buf + i + 192));
            }
            done += bytes;
        } while ((t = now() - t0) < g_time);
        double r = (double)done / t;
        if (r > best) best = r;
    }
    __m512i s = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
    g_sink += (uint64_t)_mm512_reduce_add_epi64(s);
    return best;
}

/* The same without AVX-512 (the compiler vectorises the sum with the baseline ISA). */
static double read_bw_plain(const uint8_t *buf, size_t bytes)
{
    double best = 0;
    uint64_t acc = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now(), t;
        size_t done = 0;
        do {
            const uint64_t *w = (const uint64_t *)buf;
            for (size_t i = 0; i < bytes / 8; i++) acc += w[i];
            done += bytes;
        } while ((t = now() - t0) < g_time);
        double r = (double)done / t;
        if (r > best) best = r;
    }
    g_sink += acc;
    return best;
}

/* ---- kernels ----------------------------------------------------------------------------- */

/* Codes per second per query: nq = 0 times the single-query kernel, else the multi-query one
 * with nq queries. The list is nblocks blocks at codes, scanned start to end. */
static double kernel_rate(cpu_isa isa, int nq, const uint8_t *codes, size_t nblocks, int m,
                          const uint8_t *const *luts)
{
    fs_block_fn one = fs_kernel_for(isa);
    fs_multi_fn multi = fs_multi_kernel_for(isa);
    int npairs = fs_m4(m) / 2, q = nq ? nq : 1;
    size_t bb = fs_block_bytes(m);
    uint16_t sums[FS_BLOCK * FS_MAX_QB], thr[FS_MAX_QB] = {4000, 4000, 4000, 4000};
    uint32_t masks[FS_MAX_QB];
    uint64_t sink = 0;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now(), t;
        size_t blocks = 0;
        do {
            if (nq == 0) {
                for (size_t b = 0; b < nblocks; b++)
                    sink += one(codes + b * bb, luts[0], npairs, thr[0], sums) + sums[b & 31];
            } else {
                for (size_t b = 0; b < nblocks; b++) {
                    multi(codes + b * bb, luts, nq, npairs, thr, sums, masks);
                    sink += masks[0] + sums[(b & 31) + FS_BLOCK * (q - 1)];
                }
            }
            blocks += nblocks;
        } while ((t = now() - t0) < g_time);
        double r = (double)blocks * FS_BLOCK * q / t;
        if (r > best) best = r;
    }
    g_sink += sink;
    return best;
}

static int parse_list(const char *s, int *out, int cap)
{
    int n = 0;
    while (*s && n < cap) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1024) return -1;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

int main(int argc, char **argv)
{
    /* m = d / dims_per_block: GloVe 100/2, SIFT 128/4 and 128/2, 512-d 512/4 and 512/2,
     * Fashion-MNIST 784/4. */
    int ms[16] = {32, 50, 64, 128, 196, 256}, nm = 6;
    size_t dram_mb = 256;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--m") == 0 && i + 1 < argc) {
            if ((nm = parse_list(argv[++i], ms, 16)) < 1) {
                fprintf(stderr, "fastscan-bound: --m wants a list like 50,64,128\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) {
            g_time = atof(argv[++i]);
            if (!(g_time > 0 && g_time < 100)) return 2;
        } else if (strcmp(argv[i], "--dram-mb") == 0 && i + 1 < argc) {
            dram_mb = (size_t)atol(argv[++i]);
            if (dram_mb < 64) {
                fprintf(stderr, "fastscan-bound: --dram-mb must be >= 64 (more than the L3)\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: fastscan-bound [--m 50,64,128] [--time S] [--dram-mb MB]\n");
            return 2;
        }
    }
    cpu_isa top = cpu_detect();
    size_t dram = dram_mb << 20;
    uint8_t *buf = aligned_alloc(64, dram);
    uint8_t *lutbuf = aligned_alloc(64, (size_t)FS_MAX_QB * 16 * 1024);
    if (!buf || !lutbuf) return 1;
    for (size_t i = 0; i < dram; i++) buf[i] = rnd8();
    /* Table bytes small enough that no 16-bit sum overflows, as fs_lut_quantize guarantees. */
    for (size_t i = 0; i < (size_t)FS_MAX_QB * 16 * 1024; i++) lutbuf[i] = rnd8() & 63;

    double zmm = top >= ISA_AVX512 ? shuffle_rate_zmm() : 0;
    double ymm = top >= ISA_AVX2 ? shuffle_rate_ymm() : 0;
    double bw = top >= ISA_AVX512 ? read_bw(buf, dram) : read_bw_plain(buf, dram);
    double bw_l2 = top >= ISA_AVX512 ? read_bw(buf, 512 << 10) : read_bw_plain(buf, 512 << 10);
    printf("fastscan-bound: one thread; kernels up to %s; time %.2f s x best of 3\n",
           cpu_isa_name(top), g_time);
    printf("bounds: vpshufb zmm %.2f G/s, ymm %.2f G/s; streaming read %.1f GB/s (%zu MiB), "
           "%.1f GB/s (512 KiB, L2)\n",
           zmm / 1e9, ymm / 1e9, bw / 1e9, dram_mb, bw_l2 / 1e9);
    printf("Mcodes/s per query on one core; shuf = vpshufb bound, mem = DRAM read bound, "
           "left = min(shuf, mem) / DRAM\n");
    printf("%-7s %-7s %4s %6s %9s %9s %9s %9s %9s %6s %6s\n", "isa", "kernel", "m", "B/code", "L1",
           "L2", "DRAM", "shuf", "mem", "left", "L1/shf");
    const uint8_t *luts[FS_MAX_QB];
    for (int mi = 0; mi < nm; mi++) {
        int m = ms[mi], m4 = fs_m4(m);
        size_t bb = fs_block_bytes(m);
        for (int t = 0; t < FS_MAX_QB; t++) luts[t] = lutbuf + (size_t)t * 16 * 1024;
        for (int isa = ISA_SCALAR; isa <= (int)top; isa++) {
            static const int nqs[] = {0, 2, 4};
            for (int k = 0; k < 3; k++) {
                int nq = nqs[k], q = nq ? nq : 1;
                if (isa == ISA_SCALAR && nq) continue; /* the scalar multi is a loop of singles */
                double l1 = kernel_rate((cpu_isa)isa, nq, buf, (16 << 10) / bb, m, luts);
                double l2 = kernel_rate((cpu_isa)isa, nq, buf, (512 << 10) / bb, m, luts);
                double dr = kernel_rate((cpu_isa)isa, nq, buf, dram / bb, m, luts);
                double shuf = isa == ISA_AVX512 ? zmm * 64 / m4
                              : isa == ISA_AVX2 ? ymm * 32 / m4
                                                : 0;
                double mem = bw > 0 ? bw * q / (m4 / 2.0) : 0;
                double bound = shuf > 0 && shuf < mem ? shuf : mem;
                char kname[16];
                snprintf(kname, sizeof kname, nq ? "multi%d" : "single", nq);
                printf("%-7s %-7s %4d %6.1f %9.0f %9.0f %9.0f ", cpu_isa_name((cpu_isa)isa), kname,
                       m, m4 / 2.0, l1 / 1e6, l2 / 1e6, dr / 1e6);
                if (shuf > 0)
                    printf("%9.0f ", shuf / 1e6);
                else
                    printf("%9s ", "-");
                printf("%9.0f %5.2fx ", mem / 1e6, bound / dr);
                if (shuf > 0)
                    printf("%5.2fx\n", shuf / l1);
                else
                    printf("%6s\n", "-");
                fflush(stdout);
            }
        }
    }
    free(buf);
    free(lutbuf);
    return g_sink == 42 ? 3 : 0; /* keep the sink alive */
}
