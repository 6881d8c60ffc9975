/* CPU features and the kernel set in use (cpu.h). */
#define _GNU_SOURCE
#include "cpu.h"

#include <stdatomic.h>
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

/* What the hardware (and the OS) offers; asked once. AMX also needs the
 * kernel's leave to use the tile registers (arch_prctl), and
 * GRIFFIN_AMX=0 keeps it off as before GRIFFIN_ISA existed. */
static unsigned hardware_features(void) {
    unsigned f = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
#define HAS(x) __builtin_cpu_supports(x)
    if (HAS("avx2") && HAS("fma") && HAS("f16c")) f |= GF_CPU_AVX2;
    if ((f & GF_CPU_AVX2) && HAS("avxvnni")) f |= GF_CPU_AVXVNNI;
    if ((f & GF_CPU_AVX2) && HAS("avx512f") && HAS("avx512bw") && HAS("avx512vl") && HAS("avx512dq"))
        f |= GF_CPU_AVX512;
    if ((f & GF_CPU_AVX512) && HAS("avx512vnni")) f |= GF_CPU_AVX512VNNI;
    if ((f & GF_CPU_AVX512) && HAS("avx512bf16")) f |= GF_CPU_AVX512BF16;
#if defined(__linux__)
    const char *amx_env = getenv("GRIFFIN_AMX");
    if ((f & GF_CPU_AVX512VNNI) && (f & GF_CPU_AVX512BF16) && !(amx_env && !strcmp(amx_env, "0")) &&
        HAS("amx-tile") && HAS("amx-int8") && HAS("amx-bf16") && HAS("gfni") &&
        syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0)
        f |= GF_CPU_AMX;
#endif
#undef HAS
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
