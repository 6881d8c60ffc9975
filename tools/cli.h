/* Shared pieces of the command-line tool: argument parsing and reporting. */
#ifndef GF_CLI_H
#define GF_CLI_H

#include <stdint.h>
#include <stdio.h>
#include "griffin_train.h"
#include "util.h"

#include "griffin.h"

/* Prints "griffin: error: ..." as one line on stderr and returns 1. */
int cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* From now on: quiet, print no error (another process prints it); prefix
 * (may be NULL) goes before each message ("rank 1 of 2: "). */
void cli_error_style(int quiet, const char *prefix);
/* Strict numeric parsing of an option's value; returns 0 or reports. */
int cli_int(const char *opt, const char *s, long lo, long hi, long *out);
int cli_float(const char *opt, const char *s, double lo, double hi, double *out);
int cli_u64(const char *opt, const char *s, uint64_t *out);
/* The value of argv[*i]'s option (advancing *i), or NULL after an error: an
 * option not among cmd's value-taking names, or one with no value after it. */
const char *cli_value(int argc, char **argv, int *i, const char *cmd, const char *const *names);
/* The sampling options generate and chat share (as llama.cpp names them):
 * -n / --n-predict, --temp, --top-k, --top-p, --min-p, --repeat-penalty,
 * --repeat-last-n, --seed / -s and --stop (repeatable). */
typedef struct {
    long n_predict;    /* tokens per sequence or reply; -1: until a stop id or the context */
    long n_min;        /* the smallest -n the command takes besides -1 */
    double temp, top_p, min_p, repeat_penalty;
    long top_k, repeat_last_n;
    uint64_t seed;
    const char **stop; /* [n_stop] --stop strings (pointers into argv) */
    int n_stop;
} cli_sampling;

/* The library's defaults (gf_gen_params_default) but for the command's own
 * temperature and -n; the seed from the clock. */
void cli_sampling_defaults(cli_sampling *s, double temp, long n_predict, long n_min);
/* When argv[*i] is one of the sampling options: parses its value (advancing
 * *i past it) and returns 1, or -1 after reporting a bad value; 0 when it is
 * none of them. */
int cli_sampling_option(cli_sampling *s, int argc, char **argv, int *i, const char *cmd);
/* Sets p's sampling fields, max_tokens and stop strings from s (p's stop ids
 * are left as they are); p points into s, which must outlive it. */
void cli_sampling_apply(const cli_sampling *s, gf_gen_params *p);
void cli_sampling_free(cli_sampling *s);
/* The options' --help lines, with s's defaults. */
void cli_sampling_help(FILE *f, const cli_sampling *s);

/* The whole of a text file, or of stdin for "-" (what names it in errors),
 * at most max_bytes; its one trailing newline dropped (as $(cat FILE) and
 * llama.cpp's -f do), no NUL byte allowed. *text is malloc'ed. */
int cli_read_text(const char *path, const char *what, size_t max_bytes, char **text);
/* Most bytes of prompt text -f / --prompt - read: 2^20 tokens of several
 * bytes each fit. */
#define CLI_MAX_PROMPT_BYTES ((size_t)64 << 20)

/* The cores this process may use: its affinity mask's, capped by a cgroup
 * CPU quota. */
int cli_cores(void);
/* Applies --threads to OpenBLAS and OpenMP (0 = their default: the cores),
 * capped at the cores this process may use (affinity, cgroup quota) with a
 * note on stderr. */
void cli_set_threads(long n);

/* Idle OpenMP threads spin for a short while (GOMP_SPINCOUNT=30000), then
 * sleep (libgomp's default spins 300000 rounds, milliseconds here). Where
 * other busy processes share the cores a spinning thread takes the core its
 * team mate is queued for; the generator's thread governor (src/threads.h)
 * then moves to one thread, and the short spin bounds what the trials of
 * two cost. Asleep at once (OMP_WAIT_POLICY=passive) was tried: it held up
 * best beside `stress-ng`, but on a quiet machine every parallel region then
 * paid a futex wake-up, and a Q8 decode of the 21M Griffin on two threads
 * ran at 620-760 tok/s against 1,500-1,700 spinning (the governor then kept
 * one thread: 1,160), a quarter of the quiet speed lost (bench/REPORT.md,
 * busy machine). libgomp reads the setting only when it loads, so unless
 * the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT this sets it and runs the
 * program again (argv as given); returns only when it does not. */
void cli_tune_openmp(char **argv);
double cli_now(void);
/* Unless keep_mapped, copies the model's float weights into memory
 * (gf_model_copy_weights); a failure is a note on stderr, not an error: the
 * weights stay mapped and usable. */
void cli_copy_weights(gf_model *m, int keep_mapped);

/* Most tokens one prompt or one chat message may hold. */
#define CLI_MAX_PROMPT_TOKENS (1 << 20)

/* DIR/tokenizer.model, loaded; *out stays NULL when there is none and it is
 * not required. */
int cli_model_tokenizer(const char *dir, int required, gf_tokenizer **out);
/* Fails when the tokenizer has ids the model cannot embed. */
int cli_check_vocab(const gf_tokenizer *tk, const char *dir, const gf_config *cfg);
/* BOS (when >= 0) followed by the text's ids; *ids_out is malloc'ed. */
int cli_encode_prompt(const gf_tokenizer *tk, const char *text, int bos, int32_t **ids_out, size_t *n_out);

int cmd_forward(int argc, char **argv);
int cmd_grad(int argc, char **argv);
int cmd_prepare(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_task(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Reads an int32 [B, T] .npy of token ids or positions (what names it in
 * errors), non-empty and of sane size; 1 after printing an error. */
int cli_load_ids(const char *path, const char *what, gf_npy *a);

#endif
