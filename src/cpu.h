/*
 * cpu.h - which SIMD level this CPU (and its OS) can run, for run-time kernel selection
 * (kernels.h maps a level to its kernel table).
 *
 * x86 levels are ordered: a CPU that runs ISA_AVX512ICL also runs ISA_AVX512, ISA_AVX2 and
 * ISA_SCALAR. On aarch64 the levels are ISA_NEON and ISA_SCALAR. The environment variable
 * SCANN_FORCE_ISA=scalar|avx2|avx512|avx512icl|neon caps the level (for tests and for comparing
 * kernels); it can never raise it above what the hardware supports, so forcing cannot cause
 * SIGILL, and a level of the other architecture means scalar.
 */
#ifndef SCANN_CPU_H
#define SCANN_CPU_H

typedef enum cpu_isa {
    ISA_SCALAR = 0,
    ISA_AVX2 = 1,      /* AVX2 + FMA, YMM state enabled by the OS */
    ISA_AVX512 = 2,    /* AVX-512 F/BW/DQ/VL, ZMM and opmask state enabled by the OS */
    ISA_AVX512ICL = 3, /* and VBMI + VNNI (Ice Lake, Zen 4 and later): vpermb, vpdpbusd */
    ISA_NEON = 4       /* aarch64 Advanced SIMD (part of the base architecture) */
} cpu_isa;

/* Highest level the hardware and OS support, ignoring SCANN_FORCE_ISA. */
cpu_isa cpu_detect(void);
/* cpu_detect() capped by SCANN_FORCE_ISA when set. */
cpu_isa cpu_best_isa(void);
const char *cpu_isa_name(cpu_isa isa);

#endif
