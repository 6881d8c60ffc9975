/* Which of griffin's kernel sets runs: one place that asks the CPU what it
 * has, lets GRIFFIN_ISA (or gf_kernels_select) cap it, and answers every
 * kernel's "may I run here?". The sets form a ladder of names; each one
 * allows a fixed set of instruction-set features:
 *
 *   scalar       plain C (what the compiler makes of it for the build)
 *   avx2         AVX2 + FMA + F16C (Haswell, Zen 1-3)
 *   avx2-vnni    avx2 + AVX-VNNI (Alder Lake and later, Zen 5)
 *   avx512       avx2 + AVX-512 F/BW/VL/DQ (Skylake-X)
 *   avx512-vnni  avx512 + AVX512-VNNI (Cascade Lake, Ice Lake)
 *   avx512-bf16  avx512-vnni + AVX512-BF16 (Cooper Lake, Zen 4, Zen 5)
 *   amx          avx512-bf16 + AMX-TILE/INT8/BF16 + GFNI (Sapphire Rapids)
 *
 * A name is available when the CPU has every feature it allows; by
 * default the last available name runs. The features of the set in use
 * are what gf_cpu_has answers, so forcing a lower set runs exactly the
 * kernels a CPU of that set would (the model loader's packing included).
 * Built without -march=native those paths are still compiled, each
 * function for its own target. */
#ifndef GF_CPU_H
#define GF_CPU_H

#include "griffin.h"

enum {
    GF_CPU_AVX2 = 1u << 0,       /* with FMA and F16C */
    GF_CPU_AVXVNNI = 1u << 1,    /* 256-bit vpdpbusd without AVX-512 */
    GF_CPU_AVX512 = 1u << 2,     /* F, BW, VL, DQ */
    GF_CPU_AVX512VNNI = 1u << 3,
    GF_CPU_AVX512BF16 = 1u << 4,
    GF_CPU_AMX = 1u << 5,        /* tiles, INT8 and BF16, GFNI; granted by the kernel */
};

/* Whether the kernel set in use allows every feature in mask. The set is
 * chosen on the first call (GRIFFIN_ISA, or the best the CPU has). */
int gf_cpu_has(unsigned mask);

/* The same questions by name, for the kernels' dispatch. */
int gf_cpu_has_vnni(void);        /* AVX512-VNNI */
int gf_cpu_has_avx2_int8(void);   /* the AVX2 integer kernel's AVX2, FMA, F16C */
int gf_cpu_has_avxvnni(void);     /* AVX-VNNI */
int gf_cpu_has_int8_dot(void);    /* either integer kernel: the Q8 / Q4 narrowed path runs */
int gf_cpu_has_avx512bf16(void);
/* AMX (tiles, INT8 and BF16, with AVX512-VNNI and AVX512-BF16 beside them)
 * that the OS lets this process use; 0 too when GRIFFIN_AMX=0 is set. */
int gf_cpu_has_amx(void);

/* The widest float vectors of the kernel set in use. */
typedef enum { GF_ISA_SCALAR = 0, GF_ISA_AVX2 = 1, GF_ISA_AVX512 = 2 } gf_isa;
gf_isa gf_cpu_isa(void);
const char *gf_isa_name(gf_isa isa);

#endif
