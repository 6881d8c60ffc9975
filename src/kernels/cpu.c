/* CPU features and the kernel set in use (cpu.h). */
#define _GNU_SOURCE
#include "cpu.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#endif

static const struct {
    const char *name;
    unsigned features;
} kernel_sets[] = {
    {"scalar", 0},
    {"avx2", GF_CPU_AVX2},
    {"avx2-vnni", GF_CPU_AVX2 | GF_CPU_AVXVNNI},
    {"avx512", GF_CPU_AVX2 | GF_CPU_AVX512},
    {"avx512-vnni", GF_CPU_AVX2 | GF_CPU_AVX512 | GF_CPU_AVX512VNNI},
    {"avx512-bf16", GF_CPU_AVX2 | GF_CPU_AVX512 | GF_CPU_AVX512VNNI | GF_CPU_AVX512BF16},
    {"amx", GF_CPU_AVX2 | GF_CPU_AVX512 | GF_CPU_AVX512VNNI | GF_CPU_AVX512BF16 | GF_CPU_AMX},
};
#define NSETS ((int)(sizeof kernel_sets / sizeof kernel_sets[0]))

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

/* The extended control register XCR0: which register states the OS saves
 * on a context switch. Inline assembly rather than _xgetbv, which needs
 * the xsave target in both compilers. */
static uint64_t xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

/* What the hardware (and the OS) offers; asked once. Read from CPUID and
 * XCR0 directly rather than through __builtin_cpu_supports, whose feature
 * names differ between compilers (clang 14 knows neither "avxvnni" nor the
 * AMX ones) and between their versions. A feature counts only when the OS
 * also saves its registers (XCR0), as the builtins check too. AMX also
 * needs the kernel's leave to use the tile registers (arch_prctl), and
 * GRIFFIN_AMX=0 keeps it off as before GRIFFIN_ISA existed. */
static unsigned hardware_features(void) {
    unsigned f = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return 0;
    const uint64_t xcr = xcr0();
    if ((xcr & 0x6) != 0x6) return 0; /* XMM and YMM state */
    const int os_avx512 = (xcr & 0xe0) == 0xe0;            /* opmask, ZMM0-15 upper halves, ZMM16-31 */
    const int os_amx = (xcr & 0x60000) == 0x60000;         /* XTILECFG, XTILEDATA */
    unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b7, c7, d7);
        unsigned sub_max = a;
        if (sub_max >= 1) __cpuid_count(7, 1, a71, b, c, d);
    }
#define BIT(r, n) (((r) >> (n)) & 1u)
    if (BIT(b7, 5) && fma && f16c) f |= GF_CPU_AVX2;
    if ((f & GF_CPU_AVX2) && BIT(a71, 4)) f |= GF_CPU_AVXVNNI;
    if ((f & GF_CPU_AVX2) && os_avx512 && BIT(b7, 16) && BIT(b7, 17) && BIT(b7, 30) && BIT(b7, 31))
        f |= GF_CPU_AVX512; /* F, DQ, BW, VL */
    if ((f & GF_CPU_AVX512) && BIT(c7, 11)) f |= GF_CPU_AVX512VNNI;
    if ((f & GF_CPU_AVX512) && BIT(a71, 5)) f |= GF_CPU_AVX512BF16;
#if defined(__linux__)
    const char *amx_env = getenv("GRIFFIN_AMX");
    /* tile, INT8 and BF16 (EDX 24, 25, 22); GFNI (ECX 8) */
    if ((f & GF_CPU_AVX512VNNI) && (f & GF_CPU_AVX512BF16) && !(amx_env && !strcmp(amx_env, "0")) && os_amx &&
        BIT(d7, 24) && BIT(d7, 25) && BIT(d7, 22) && BIT(c7, 8) &&
        syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0)
        f |= GF_CPU_AMX;
#endif
#undef BIT
#endif
    return f;
}

/* -1 until chosen; then the index in kernel_sets. */
static _Atomic int chosen = -1;

/* Whether this CPU has every feature set i allows. The hardware's features
 * are asked once (for AMX that is a system call) and kept with a bit that
 * says they are known. */
static int runs_here(int i) {
    static _Atomic unsigned hw;
    const unsigned known = 1u << 31;
    unsigned f = hw;
    if (!(f & known)) hw = f = hardware_features() | known;
    return (kernel_sets[i].features & f) == kernel_sets[i].features;
}

static int best_set(void) {
    int best = 0;
    for (int i = 0; i < NSETS; i++)
        if (runs_here(i)) best = i;
    return best;
}

static int find_set(const char *name, gf_error *err) {
    for (int i = 0; i < NSETS; i++) {
        if (strcmp(name, kernel_sets[i].name)) continue;
        if (!runs_here(i)) {
            if (err)
                snprintf(err->msg, sizeof err->msg, "GRIFFIN_ISA=%s: this CPU does not have it (its best is %s)",
                         name, kernel_sets[best_set()].name);
            return -1;
        }
        return i;
    }
    if (err) {
        int n = snprintf(err->msg, sizeof err->msg, "GRIFFIN_ISA=%s: unknown kernel set (one of", name);
        for (int i = 0; i < NSETS && n > 0 && (size_t)n < sizeof err->msg; i++)
            n += snprintf(err->msg + n, sizeof err->msg - (size_t)n, " %s", kernel_sets[i].name);
        if (n > 0 && (size_t)n < sizeof err->msg) snprintf(err->msg + n, sizeof err->msg - (size_t)n, ")");
    }
    return -1;
}

/* The set GRIFFIN_ISA names, or the best one; -1 (err filled) when the
 * variable names none this CPU has. */
static int set_from_env(gf_error *err) {
    const char *env = getenv("GRIFFIN_ISA");
    if (!env || !*env) return best_set();
    return find_set(env, err);
}

static int current(void) {
    int c = chosen;
    if (c >= 0) return c;
    /* a bad GRIFFIN_ISA that nobody checked (gf_kernels_init) runs the best set */
    c = set_from_env(NULL);
    if (c < 0) c = best_set();
    int expected = -1;
    atomic_compare_exchange_strong(&chosen, &expected, c);
    return chosen;
}

int gf_kernels_init(gf_error *err) {
    int c = set_from_env(err);
    if (c < 0) return -1;
    chosen = c;
    return 0;
}

int gf_kernels_select(const char *name, gf_error *err) {
    int c = find_set(name, err);
    if (c < 0) return -1;
    chosen = c;
    return 0;
}

const char *gf_kernels_name(void) { return kernel_sets[current()].name; }

const char *gf_kernels_best(void) { return kernel_sets[best_set()].name; }

int gf_kernels_available(const char **names, int max) {
    int n = 0;
    for (int i = 0; i < NSETS; i++)
        if (runs_here(i)) {
            if (n < max) names[n] = kernel_sets[i].name;
            n++;
        }
    return n;
}

int gf_cpu_has(unsigned mask) { return (kernel_sets[current()].features & mask) == mask; }

int gf_cpu_has_vnni(void) { return gf_cpu_has(GF_CPU_AVX512VNNI); }
int gf_cpu_has_avx2_int8(void) { return gf_cpu_has(GF_CPU_AVX2); }
int gf_cpu_has_avxvnni(void) { return gf_cpu_has(GF_CPU_AVXVNNI); }
int gf_cpu_has_int8_dot(void) { return gf_cpu_has_vnni() || gf_cpu_has_avx2_int8(); }
int gf_cpu_has_avx512bf16(void) { return gf_cpu_has(GF_CPU_AVX512BF16); }
int gf_cpu_has_amx(void) { return gf_cpu_has(GF_CPU_AMX); }

gf_isa gf_cpu_isa(void) {
    if (gf_cpu_has(GF_CPU_AVX512)) return GF_ISA_AVX512;
    if (gf_cpu_has(GF_CPU_AVX2)) return GF_ISA_AVX2;
    return GF_ISA_SCALAR;
}

const char *gf_isa_name(gf_isa isa) {
    switch (isa) {
    case GF_ISA_SCALAR: return "scalar";
    case GF_ISA_AVX2: return "AVX2";
    case GF_ISA_AVX512: return "AVX-512";
    }
    return "?";
}
