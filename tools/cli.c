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

/* Data-parallel training: a rank's errors say which rank (prefix), and
 * those every rank meets alike are printed by rank 0 alone (quiet). */
static struct {
    int quiet;
    char prefix[64];
} error_style;

void cli_error_style(int quiet, const char *prefix) {
    error_style.quiet = quiet;
    snprintf(error_style.prefix, sizeof error_style.prefix, "%s", prefix ? prefix : "");
}

int cli_error(const char *fmt, ...) {
    if (error_style.quiet) return 1;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* one printable line: messages quote file names and user text */
    fputs("griffin: error: ", stderr);
    fputs(error_style.prefix, stderr);
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

/* argv[*i] names the option `name`, alone or as "--name=value". */
static int arg_names(const char *arg, const char *name) {
    size_t n = strlen(name);
    return !strncmp(arg, name, n) && (arg[n] == 0 || (arg[n] == '=' && name[0] == '-' && name[1] == '-'));
}

const char *cli_value(int argc, char **argv, int *i, const char *cmd, const char *const *names) {
    /* Name first: a mistyped option at the end of the line is unknown, not
     * short of a value. */
    const char *known = NULL;
    for (const char *const *n = names; *n && !known; n++)
        if (arg_names(argv[*i], *n)) known = *n;
    if (!known) {
        cli_error("%s: unknown option '%s' (see griffin %s --help)", cmd, argv[*i], cmd);
        return NULL;
    }
    /* "--key=value": the '=' becomes the name's end, so the caller, which
     * compares the argument it holds with the names, sees "--key"; the
     * value is the rest, and *i stays (there is no next argument to skip).
     * Done here rather than by splitting argv up front, where a value that
     * itself looks like "--x=y" (a prompt, a stop string) would be split. */
    size_t n = strlen(known);
    if (argv[*i][n] == '=') {
        argv[*i][n] = 0;
        return argv[*i] + n + 1;
    }
    if (*i + 1 >= argc) {
        cli_error("%s: option %s needs a value", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

void cli_tune_openmp(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("GOMP_SPINCOUNT", "30000", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* no /proc: run on with the default spin */
}

/* The cores this process may use: those of its affinity mask (OpenMP's
 * count), fewer when a cgroup's CPU quota (cpu.max: "QUOTA PERIOD" or
 * "max PERIOD") allows less, rounded up. */
int cli_cores(void) {
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

/* ---- sampling options (generate, chat) ------------------------------------ */

void cli_sampling_defaults(cli_sampling *s, double temp, long n_predict, long n_min) {
    gf_gen_params d;
    gf_gen_params_default(&d);
    *s = (cli_sampling){.n_predict = n_predict, .n_min = n_min, .temp = temp, .top_p = d.top_p, .min_p = d.min_p,
                        .repeat_penalty = d.repeat_penalty, .top_k = d.top_k, .repeat_last_n = d.repeat_last_n,
                        .seed = (uint64_t)time(NULL)};
}

int cli_sampling_option(cli_sampling *s, int argc, char **argv, int *i, const char *cmd) {
    static const char *const names[] = {"-n", "--n-predict", "--temp", "--top-k", "--top-p", "--min-p",
                                        "--repeat-penalty", "--repeat-last-n", "--seed", "-s", "--stop", NULL};
    const char *a = argv[*i];
    int mine = 0;
    for (const char *const *n = names; *n && !mine; n++) mine = arg_names(a, *n);
    if (!mine) return 0;
    const char *v = cli_value(argc, argv, i, cmd, names);
    if (!v) return -1;
    int bad = 0;
    /* the bounds are the library's (gf_generator_new checks them again) */
    if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
        bad = cli_int(a, v, -1, 1L << 30, &s->n_predict);
        if (!bad && s->n_predict >= 0 && s->n_predict < s->n_min)
            bad = cli_error("%s: '%s' is not -1 (no limit) or an integer in %ld..%ld", a, v, s->n_min, 1L << 30);
    } else if (!strcmp(a, "--temp")) {
        bad = cli_float(a, v, 0, 1e6, &s->temp);
    } else if (!strcmp(a, "--top-k")) {
        bad = cli_int(a, v, 0, 1L << 30, &s->top_k);
    } else if (!strcmp(a, "--top-p")) {
        bad = cli_float(a, v, 0, 1, &s->top_p);
    } else if (!strcmp(a, "--min-p")) {
        bad = cli_float(a, v, 0, 1, &s->min_p);
    } else if (!strcmp(a, "--repeat-penalty")) {
        bad = cli_float(a, v, 0, 1e6, &s->repeat_penalty);
        if (!bad && !(s->repeat_penalty > 0))
            bad = cli_error("%s: '%s' must be above 0 (1 = off; above 1 makes repeats less likely)", a, v);
    } else if (!strcmp(a, "--repeat-last-n")) {
        bad = cli_int(a, v, 0, 1L << 20, &s->repeat_last_n);
    } else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) {
        bad = cli_u64(a, v, &s->seed);
    } else { /* --stop */
        if (!*v) return -cli_error("--stop: the string is empty");
        if (strlen(v) > 4096) return -cli_error("--stop: '%.40s...' is longer than 4096 bytes", v);
        /* at most one per argument, so argc entries always suffice */
        if (!s->stop && !(s->stop = malloc((size_t)argc * sizeof *s->stop))) return -cli_error("out of memory");
        s->stop[s->n_stop++] = v;
    }
    return bad ? -1 : 1;
}

void cli_sampling_apply(const cli_sampling *s, gf_gen_params *p) {
    p->temperature = (float)s->temp;
    p->top_k = (int)s->top_k;
    p->top_p = (float)s->top_p;
    p->min_p = (float)s->min_p;
    p->repeat_penalty = (float)s->repeat_penalty;
    p->repeat_last_n = (int)s->repeat_last_n;
    p->seed = s->seed;
    p->max_tokens = s->n_predict;
    p->stop_strings = s->stop;
    p->n_stop_strings = s->n_stop;
}

void cli_sampling_free(cli_sampling *s) {
    free(s->stop);
    s->stop = NULL;
    s->n_stop = 0;
}

void cli_sampling_help(FILE *f, const cli_sampling *s) {
    fprintf(f,
            "  -n, --n-predict N  most tokens to generate; -1 = until an end token (default %ld)\n"
            "  --temp T        temperature; 0 = greedy (default %g)\n"
            "  --top-k K       keep the K most likely tokens; 0 = off (default %ld)\n"
            "  --top-p P       keep the smallest set with probability >= P; 1 = off (default %g)\n"
            "  --min-p P       drop tokens less likely than P x the likeliest; 0 = off (default %g)\n"
            "  --repeat-penalty F  make the tokens of the last --repeat-last-n less likely\n"
            "                  (logits divided by F, negative ones multiplied); 1 = off (default %g)\n"
            "  --repeat-last-n N  how many of the latest tokens the penalty looks at (default %ld)\n"
            "  --stop STRING   end the text before STRING (repeatable; STRING is not printed)\n"
            "  -s, --seed S    random seed (default: from the clock)\n",
            s->n_predict, s->temp, s->top_k, s->top_p, s->min_p, s->repeat_penalty, s->repeat_last_n);
}
