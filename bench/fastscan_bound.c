/*
 * fastscan_bound.c - the FastScan kernels' speed beside their physical bounds (issue 11).
 *
 *   fastscan-bound [--m 50,64,128,...] [--time SECONDS] [--dram-mb MB] [--wall]  (make bench-kernel)
 *
 * For every ISA level this CPU runs (scalar, AVX2, AVX-512) it times, on one thread,
 *   - the single-query block kernel (the kernel table's fs_block: what a one-query search scans
 *     with), and
 *   - the multi-query kernel (fs_multi) with 2 and 4 queries sharing each code load,
 * over block lists that live in L1 (16 KiB of codes), in L2 (512 KiB) and in DRAM (--dram-mb,
 * default 256 MiB, read start to end: the prefetcher's best case, as in a long inverted list),
 * and prints codes scanned per second and per query (Mcodes/s = 32 * blocks * queries / s).
 * Every kernel call writes its 32 sums and mask, which the benchmark folds into a checksum.
 *
 * Bounds, measured on this machine by the same program and on the same core:
 *   - shuffle: vpshufb throughput (independent chains, zmm for AVX-512, ymm for AVX2). A block
 *     of m sub-spaces (m4 = m rounded up to 4) needs m4 / 2 zmm or m4 ymm shuffles for 32 codes,
 *     so the bound is shuffles/s * 64 / m4 (zmm) or * 32 / m4 (ymm) codes per second per query;
 *   - ops: the kernel's own instruction mix (nibble split, shuffles, 16-bit adds and shifts of
 *     scan_avx512.c / scan_avx2.c) run with codes and tables in registers: no loads, no call, no
 *     end-of-block work, for one query; for Q queries a pass it is scaled by op count
 *     (11 ops a step for one query, 8 + 3 / Q for each of Q sharing the nibble split), since
 *     GCC spills the registers of a many-query version. On Zen 4 this, not the shuffle port, is
 *     the compute limit: a step is 2 shuffles among 11 vector ops;
 *   - memory: a streaming 512-bit read of the DRAM buffer (bytes/s); a code is m4 / 2 bytes, and
 *     the multi-query kernel reads it once for nq queries: bound = nq * bytes/s / (m4 / 2).
 * "L1/ops" is the ops bound over the L1 speed (what loads, calls and the block epilogue cost);
 * "DR left" is min(ops, mem) over the DRAM speed (what is left for a long list).
 * The scalar kernel has no shuffle bound (table lookups from memory); nor do the avx512icl
 * kernels (vpermb + vpdpbusd, scan_avx512icl.c), whose rows show their speed alone. Each figure is the best
 * of three timed runs of about --time seconds (default 0.15) of this thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID), so that time the thread spends descheduled by other work on a
 * shared machine does not count; --wall times wall-clock seconds instead. Other work still
 * shares the caches and memory bus. Links the library's internal kernels from libscann.a.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu.h"
#include "fastscan/fastscan.h"
#include "kernels.h"

static clockid_t g_clock = CLOCK_THREAD_CPUTIME_ID;

static double now(void)
{
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint8_t rnd8(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

static double g_time = 0.15; /* seconds per timed run */
/* Work between two clock reads: reading the thread CPU clock is a system call (~0.5 us), so
 * each read covers about 0.1 ms or more of measured work. */
#define STEPS 100000
#define CHECK_BYTES ((size_t)4 << 20)
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
            for (int k = 0; k < STEPS; k++)
                for (int i = 0; i < CHAINS; i++) /* in place: no register moves */
                    __asm__("vpshufb %1, %0, %0" : "+v"(x[i]) : "v"(idx));
            iters += STEPS;
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
            for (int k = 0; k < STEPS; k++)
                for (int i = 0; i < CHAINS; i++)
                    __asm__("vpshufb %1, %0, %0" : "+x"(x[i]) : "x"(idx));
            iters += STEPS;
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

/* The kernels' own instruction mix with codes and tables in registers (no loads, calls or
 * end-of-block work): NQ queries per nibble split, as in scan_avx512.c's multi_step and
 * scan_avx2.c's multi_nq. Named variables rather than arrays, so that GCC keeps all
 * accumulators in registers. Returns steps per second per query: quad steps (4 sub-spaces x 32
 * vectors) for AVX-512, pair steps (2 x 32) for AVX2. */
#define MIX_STEP(W, SFX, T, A0, A1, A2, A3)                                                        \
    do {                                                                                           \
        __asm__ volatile("" : "+v"(T));                                                            \
        W r_lo = _mm##SFX##_shuffle_epi8(T, c_lo), r_hi = _mm##SFX##_shuffle_epi8(T, c_hi);        \
        A0 = _mm##SFX##_add_epi16(A0, r_lo);                                                       \
        A1 = _mm##SFX##_add_epi16(A1, _mm##SFX##_srli_epi16(r_lo, 8));                             \
        A2 = _mm##SFX##_add_epi16(A2, r_hi);                                                       \
        A3 = _mm##SFX##_add_epi16(A3, _mm##SFX##_srli_epi16(r_hi, 8));                             \
    } while (0)

#define MIX_RATE(W, SFX, NQ, OUT)                                                                  \
    do {                                                                                           \
        const W low4 = _mm##SFX##_set1_epi8(0x0F);                                                 \
        W c = _mm##SFX##_set1_epi8(0x5A), t0 = _mm##SFX##_set1_epi8(1),                            \
          t1 = _mm##SFX##_set1_epi8(2), t2 = _mm##SFX##_set1_epi8(3),                              \
          t3 = _mm##SFX##_set1_epi8(4);                                                            \
        W a0 = _mm##SFX##_setzero_si##SFX(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, \
          b3 = a0, d0 = a0, d1 = a0, d2 = a0, d3 = a0, e0 = a0, e1 = a0, e2 = a0, e3 = a0;         \
        OUT = 0;                                                                                   \
        for (int rep = 0; rep < 3; rep++) {                                                        \
            long iters = 0;                                                                        \
            double s0 = now(), el;                                                                 \
            do {                                                                                   \
                for (int k = 0; k < STEPS; k++) {                                                  \
                    __asm__ volatile("" : "+v"(c)); /* a fresh code register every step */         \
                    W c_lo = _mm##SFX##_and_si##SFX(c, low4);                                      \
                    W c_hi = _mm##SFX##_and_si##SFX(_mm##SFX##_srli_epi16(c, 4), low4);            \
                    MIX_STEP(W, SFX, t0, a0, a1, a2, a3);                                          \
                    if (NQ >= 2) MIX_STEP(W, SFX, t1, b0, b1, b2, b3);                             \
                    if (NQ >= 4) {                                                                 \
                        MIX_STEP(W, SFX, t2, d0, d1, d2, d3);                                      \
                        MIX_STEP(W, SFX, t3, e0, e1, e2, e3);                                      \
                    }                                                                              \
                }                                                                                  \
                iters += STEPS;                                                                    \
            } while ((el = now() - s0) < g_time);                                                  \
            if ((double)iters * NQ / el > OUT) OUT = (double)iters * NQ / el;                      \
        }                                                                                          \
        W s = _mm##SFX##_add_epi16(_mm##SFX##_add_epi16(a0, a1), _mm##SFX##_add_epi16(a2, a3));    \
        s = _mm##SFX##_add_epi16(s, _mm##SFX##_add_epi16(_mm##SFX##_add_epi16(b0, b1), b2));       \
        s = _mm##SFX##_add_epi16(s, _mm##SFX##_add_epi16(_mm##SFX##_add_epi16(b3, d0), d1));       \
        s = _mm##SFX##_add_epi16(s, _mm##SFX##_add_epi16(_mm##SFX##_add_epi16(d2, d3), e0));       \
        s = _mm##SFX##_add_epi16(s, _mm##SFX##_add_epi16(_mm##SFX##_add_epi16(e1, e2), e3));       \
        uint16_t lanes[sizeof(W) / 2];                                                             \
        memcpy(lanes, &s, sizeof lanes);                                                           \
        g_sink += lanes[0];                                                                        \
    } while (0)

/* One query only: with more, GCC runs out of registers (AVX2 at 2 queries, AVX-512 at 4) and
 * the spills would make the "bound" slower than the real kernels. The multi-query bound is
 * scaled from it by op count (see main). */
AVX512 static double mix512(void)
{
    double r;
    MIX_RATE(__m512i, 512, 1, r);
    return r;
}

AVX2 static double mix256(void)
{
    double r;
    MIX_RATE(__m256i, 256, 1, r);
    return r;
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
            for (size_t r = 0; r < (CHECK_BYTES + bytes - 1) / bytes; r++, done += bytes)
                for (size_t i = 0; i + 256 <= bytes; i += 256) {
                    a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(buf + i));
                    a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(buf + i + 64));
                    a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(buf + i + 128));
                    a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(buf + i + 192));
                }
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
            for (size_t r = 0; r < (CHECK_BYTES + bytes - 1) / bytes; r++, done += bytes)
                for (size_t i = 0; i < bytes / 8; i++) acc += w[i];
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
    fs_block_fn one = kernels_for(isa)->fs_block;
    fs_multi_fn multi = kernels_for(isa)->fs_multi;
    int npairs = fs_m4(m) / 2, q = nq ? nq : 1;
    size_t bb = fs_block_bytes(m);
    uint16_t sums[FS_BLOCK * FS_MAX_QB], thr[FS_MAX_QB] = {4000, 4000, 4000, 4000};
    uint32_t masks[FS_MAX_QB];
    uint64_t sink = 0;
    double best = 0;
    size_t passes = (CHECK_BYTES + nblocks * bb - 1) / (nblocks * bb);
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now(), t;
        size_t blocks = 0;
        do {
            for (size_t r = 0; r < passes; r++, blocks += nblocks)
                if (nq == 0) {
                    for (size_t b = 0; b < nblocks; b++)
                        sink += one(codes + b * bb, luts[0], npairs, thr[0], sums) + sums[b & 31];
                } else {
                    for (size_t b = 0; b < nblocks; b++) {
                        multi(codes + b * bb, luts, nq, npairs, thr, sums, masks);
                        sink += masks[0] + sums[(b & 31) + FS_BLOCK * (q - 1)];
                    }
                }
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
        } else if (strcmp(argv[i], "--wall") == 0) {
            g_clock = CLOCK_MONOTONIC;
        } else if (strcmp(argv[i], "--dram-mb") == 0 && i + 1 < argc) {
            dram_mb = (size_t)atol(argv[++i]);
            if (dram_mb < 64) {
                fprintf(stderr, "fastscan-bound: --dram-mb must be >= 64 (more than the L3)\n");
                return 2;
            }
        } else {
            fprintf(stderr,
                    "usage: fastscan-bound [--m 50,64,128] [--time S] [--dram-mb MB] [--wall]\n");
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
    /* Steps per second of the register-only mix for nq = 1, 2, 4 (the nqs below). A step is
     * 11 vector ops for one query (2 and + 1 shift splitting the nibbles, then 2 shuffles,
     * 4 adds, 2 shifts); with Q queries a pass the split is shared: 8 + 3 / Q ops a query, so
     * the multi-query bound is the one-query rate x 11 / (8 + 3 / Q). AVX2 runs two queries a
     * pass (scan_avx2.c). */
    double ops_avx512[3] = {0}, ops_avx2[3] = {0};
    if (top >= ISA_AVX512) {
        double r = mix512();
        for (int k = 0; k < 3; k++) ops_avx512[k] = r * 11 / (8 + 3.0 / (1 << k));
    }
    if (top >= ISA_AVX2) {
        double r = mix256();
        for (int k = 0; k < 3; k++) ops_avx2[k] = r * 11 / (8 + 3.0 / (k ? 2 : 1));
    }
    double bw_l2 = top >= ISA_AVX512 ? read_bw(buf, 512 << 10) : read_bw_plain(buf, 512 << 10);
    printf("fastscan-bound: one thread; kernels up to %s; %.2f s of %s time x best of 3\n",
           cpu_isa_name(top), g_time, g_clock == CLOCK_MONOTONIC ? "wall" : "thread CPU");
    printf("bounds: vpshufb zmm %.2f G/s, ymm %.2f G/s; streaming read %.1f GB/s (%zu MiB), "
           "%.1f GB/s (512 KiB, L2)\n",
           zmm / 1e9, ymm / 1e9, bw / 1e9, dram_mb, bw_l2 / 1e9);
    printf("kernel mix in registers: avx512 %.2f/%.2f/%.2f G quad steps/s a query (1 measured; 2/4 "
           "queries a pass scaled by op count), avx2 %.2f/%.2f/%.2f G pair steps/s\n",
           ops_avx512[0] / 1e9, ops_avx512[1] / 1e9, ops_avx512[2] / 1e9, ops_avx2[0] / 1e9,
           ops_avx2[1] / 1e9, ops_avx2[2] / 1e9);
    printf("Mcodes/s = million (code, query) pairs per second on one core. Bounds: shuf = vpshufb "
           "throughput;\nops = the kernel's own instruction mix with data in registers; mem = "
           "streaming read / bytes per code\n(shared by the queries of a multi kernel). "
           "L1/ops = ops / L1; DR left = min(ops, mem) / DRAM.\n");
    printf("%-9s %-7s %4s %6s %8s %8s %8s %8s %8s %8s %7s %7s\n", "isa", "kernel", "m", "B/code",
           "L1", "L2", "DRAM", "shuf", "ops", "mem", "L1/ops", "DR left");
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
                double ops = isa == ISA_AVX512 ? ops_avx512[k] * 128 / m4
                             : isa == ISA_AVX2 ? ops_avx2[k] * 64 / m4
                                               : 0;
                double mem = bw * q / (m4 / 2.0);
                double bound = ops > 0 && ops < mem ? ops : mem;
                char kname[16], c_shuf[16] = "-", c_ops[16] = "-", c_l1[16] = "-";
                snprintf(kname, sizeof kname, nq ? "multi%d" : "single", nq);
                if (shuf > 0) snprintf(c_shuf, sizeof c_shuf, "%.0f", shuf / 1e6);
                if (ops > 0) snprintf(c_ops, sizeof c_ops, "%.0f", ops / 1e6);
                if (ops > 0) snprintf(c_l1, sizeof c_l1, "%.2fx", ops / l1);
                printf("%-9s %-7s %4d %6.1f %8.0f %8.0f %8.0f %8s %8s %8.0f %7s %6.2fx\n",
                       cpu_isa_name((cpu_isa)isa), kname, m, m4 / 2.0, l1 / 1e6, l2 / 1e6, dr / 1e6,
                       c_shuf, c_ops, mem / 1e6, c_l1, bound / dr);
                fflush(stdout);
            }
        }
    }
    free(buf);
    free(lutbuf);
    return g_sink == 42 ? 3 : 0; /* keep the sink alive */
}
