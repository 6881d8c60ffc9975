#include "cli.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cli_error(const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* one printable line: messages quote file names and user text */
    fputs("griffin: error: ", stderr);
    for (const unsigned char *p = (const unsigned char *)buf; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) fprintf(stderr, "\\x%02X", *p);
        else fputc(*p, stderr);
    }
    fputc('\n', stderr);
    return 1;
}

int cli_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return cli_error("%s: '%s' is not an integer in %ld..%ld", opt, s, lo, hi);
    *out = v;
    return 0;
}

int cli_float(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return cli_error("%s: '%s' is not a number in %g..%g", opt, s, lo, hi);
    *out = v;
    return 0;
}

int cli_u64(const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return cli_error("%s: '%s' is not a non-negative integer", opt, s);
    *out = v;
    return 0;
}

const char *cli_value(int argc, char **argv, int *i, const char *cmd, const char *const *names) {
    /* Name first: a mistyped option at the end of the line is unknown, not
     * short of a value. */
    int known = 0;
    for (const char *const *n = names; *n && !known; n++) known = !strcmp(*n, argv[*i]);
    if (!known) {
        cli_error("%s: unknown option '%s' (see griffin %s --help)", cmd, argv[*i], cmd);
        return NULL;
    }
    if (*i + 1 >= argc) {
        cli_error("%s: option %s needs a value", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

void cli_tune_openmp(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* no /proc: run on with the default spin */
}

/* The cores this process may use: those of its affinity mask (OpenMP's
 * count), fewer when a cgroup's CPU quota (cpu.max: "QUOTA PERIOD" or
 * "max PERIOD") allows less, rounded up. */
static int cli_cores(void) {
    int n = omp_get_num_procs();
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (f) {
        long long quota, period;
        if (fscanf(f, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0) {
            long long q = (quota + period - 1) / period;
            if (q < n) n = (int)q;
        }
        fclose(f);
    }
    return n < 1 ? 1 : n;
}

void cli_set_threads(long n) {
    int cores = cli_cores();
    /* more threads than cores only take turns: each parallel region then
     * waits for a thread that is not running (--threads 999: 1.8 tok/s) */
    if (n > cores) {
        fprintf(stderr, "griffin: note: --threads %ld is more than the %d cores available; using %d\n", n, cores,
                cores);
        n = cores;
    }
    /* the default is OpenMP's, one thread per core of the affinity mask,
     * or OMP_NUM_THREADS; a quota below that caps it */
    if (n <= 0 && !getenv("OMP_NUM_THREADS") && omp_get_max_threads() > cores) n = cores;
    /* both pools: OpenBLAS threads the matrix products, OpenMP our own loops
     * (they never run at once, so each may use every core) */
    if (n > 0) {
        openblas_set_num_threads((int)n);
        omp_set_num_threads((int)n);
    }
}

void cli_copy_weights(gf_model *m, int keep_mapped) {
    gf_error err;
    if (!keep_mapped && gf_model_copy_weights(m, &err) != 0) fprintf(stderr, "griffin: note: %s\n", err.msg);
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cli_load_ids(const char *path, const char *what, gf_npy *a) {
    gf_error err;
    if (gf_npy_read(path, a, &err) != 0) return cli_error("%s", err.msg);
    if (a->dtype != GF_NPY_I32) {
        gf_npy_free(a);
        return cli_error("%s: %s must be int32 ('<i4')", path, what);
    }
    if (a->ndim != 2 || a->shape[0] == 0 || a->shape[1] == 0) {
        gf_npy_free(a);
        return cli_error("%s: %s must be a non-empty 2-D array [B, T] (got %d dimensions)", path, what, a->ndim);
    }
    if (a->shape[0] > (1u << 20) || a->shape[1] > (1u << 24)) {
        gf_npy_free(a);
        return cli_error("%s: %s shape [%zu, %zu] is too large", path, what, a->shape[0], a->shape[1]);
    }
    return 0;
}
