/* Shared helpers of the bench/ programs (the paper's §5 figures): the three
 * architectures at equal parameter count, a temporary model directory,
 * timing, option parsing. Not part of the library: only bench/ uses it. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include "griffin_train.h"
#include "bench_limits.h"

#include "griffin.h"

typedef enum { BENCH_MQA = 0, BENCH_HAWK = 1, BENCH_GRIFFIN = 2, BENCH_NARCH = 3 } bench_arch;

/* "mqa", "hawk", "griffin" */
const char *bench_arch_name(bench_arch a);
/* Parses a comma-separated subset of those names into want[BENCH_NARCH]. */
int bench_parse_archs(const char *s, int want[BENCH_NARCH]);

/* The shape every architecture of one figure shares. */
typedef struct {
    int vocab, width, layers, heads, mlp_width; /* mlp_width: Griffin's (the reference) */
} bench_shape;

/* A config of architecture a: MQA = every layer global-ish attention with
 * window `window`; Hawk = every layer recurrent; Griffin = (recurrent,
 * recurrent, attention) with window `window`. lru_width = width, head_dim =
 * width / heads, conv 4, soft cap 30: the RecurrentGemma recipe. */
int bench_config(bench_arch a, const bench_shape *s, int window, gf_config *out, gf_error *err);

/* Sets out->mlp_width (a multiple of 16) so that gf_config_num_params(out) is
 * as close as possible to target: the paper matches parameter counts by the
 * MLP, which every layer has. */
void bench_match_params(gf_config *cfg, size_t target);

/* All three configs at equal parameter count: Griffin's is the reference,
 * MQA's and Hawk's MLPs are resized to match it. windows[a] per arch. */
int bench_configs_matched(const bench_shape *s, const int windows[BENCH_NARCH],
                          gf_config out[BENCH_NARCH], gf_error *err);

/* mkdtemp under base (NULL: $TMPDIR or /tmp); path receives the directory. */
int bench_tmpdir(const char *base, char *path, size_t n, gf_error *err);
/* Removes DIR/config.json, DIR/model.safetensors and DIR (what
 * gf_model_init_write makes); quiet about files that are not there. */
void bench_rm_model_dir(const char *dir);

/* Loads the model in dir as `griffin generate` does: memory-mapped
 * safetensors, the product matrices then copied into huge pages
 * (gf_model_copy_weights; where that is refused, a note on stderr and the
 * mapped weights). */
gf_model *bench_model_load(const char *dir, gf_error *err);

/* Writes a random model of cfg into a fresh directory under base and loads
 * it back (bench_model_load). dir receives the directory so the caller can
 * remove it. */
gf_model *bench_model_write_load(const gf_config *cfg, uint64_t seed, const char *base, char *dir,
                                 size_t ndir, gf_error *err);

/* The model options every figure program takes (each lists in its own
 * OPTIONS which of them it accepts). */
typedef struct {
    int want[BENCH_NARCH];     /* --archs */
    bench_shape shape;         /* --vocab --width --layers --heads; mlp_width set by bench_models_done */
    long mlp;                  /* --mlp-width (0: 3 x width) */
    long griffin_window;       /* --griffin-window (default 1024) */
    long mqa_window;           /* --mqa-window (0: the program's own default) */
    long threads;              /* --threads (0: all cores) */
    uint64_t seed;             /* --seed (default 1) */
    const char *tmp;           /* --tmp (NULL: $TMPDIR or /tmp) */
} bench_models;

/* Every architecture, the given shape, Griffin's window 1024, seed 1. */
void bench_models_init(bench_models *b, bench_shape shape);
/* Takes option a with value v when it is one of bench_models's: 1 when
 * taken, 0 when it is not one of them, -1 after printing an error. */
int bench_models_option(bench_models *b, const char *a, const char *v);
/* After the last option: Griffin's MLP width (3 x width unless --mlp-width). */
void bench_models_done(bench_models *b);
/* Writes and loads the model of cfg[a] for every wanted architecture a into
 * m[a] (dir[a]: its folder, for bench_rm_model_dir), with a line of progress
 * each; 0, or 1 after printing the error. */
int bench_models_load(const bench_models *b, const gf_config cfg[BENCH_NARCH], gf_model *m[BENCH_NARCH],
                      char dir[BENCH_NARCH][4096]);

/* Thread count for OpenBLAS and OpenMP (0 = leave the defaults). */
void bench_set_threads(int n);

double bench_now(void);
double bench_median(double *v, int n); /* sorts v */

/* Integer option values: a whole string in [lo, hi]. */
int bench_parse_long(const char *opt, const char *v, long lo, long hi, long *out);
/* A list "a,b,c" or a range "start:stop:step" (stop included) of integers in
 * [lo, hi]; *out malloc'ed. */
int bench_parse_list(const char *opt, const char *v, long lo, long hi, long **out, int *n);
/* Byte sizes with an optional K/M/G suffix (powers of 1024). */
int bench_parse_bytes(const char *opt, const char *v, size_t *out);

/* The program name that messages start with (default "bench"). */
void bench_set_prog(const char *prog);

/* "PROG: error: ..." on stderr; returns 1 (the exit status). */
int bench_error(const char *prog, const char *fmt, ...);

/* argv[*i] must be one of the NULL-terminated names; returns its value (the
 * next argument, *i advanced), or NULL with an error printed when the option
 * is unknown or its value is missing. */
const char *bench_value(const char *prog, int argc, char **argv, int *i, const char *const *names);

/* Argmax of each of B rows of V logits into tokens[B]: a greedy generation
 * loop, so the timed steps feed what the model produced. */
void bench_argmax_rows(const float *logits, int B, int V, int32_t *tokens);

/* Fills every sequence's state with random values and sets their positions
 * to `pos` tokens seen, without running `pos` tokens through the model: see
 * bench_state_at in bench_common.c for why the decode cost equals a real
 * state's. */
int bench_state_at(const gf_model *m, gf_state *st, int pos, uint64_t seed, gf_error *err);

#endif
