/* Shared pieces of the command-line tool: argument parsing and reporting. */
#ifndef GF_CLI_H
#define GF_CLI_H

#include <stdint.h>
#include "griffin_train.h"
#include "util.h"

#include "griffin.h"

/* Prints "griffin: error: ..." as one line on stderr and returns 1. */
int cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Strict numeric parsing of an option's value; returns 0 or reports. */
int cli_int(const char *opt, const char *s, long lo, long hi, long *out);
int cli_float(const char *opt, const char *s, double lo, double hi, double *out);
int cli_u64(const char *opt, const char *s, uint64_t *out);
/* The value of argv[*i]'s option (advancing *i), or NULL after an error: an
 * option not among cmd's value-taking names, or one with no value after it. */
const char *cli_value(int argc, char **argv, int *i, const char *cmd, const char *const *names);
/* Applies --threads to OpenBLAS and OpenMP (0 = their default: the cores),
 * capped at the cores this process may use (affinity, cgroup quota) with a
 * note on stderr. */
void cli_set_threads(long n);

/* Idle OpenMP threads wait asleep (OMP_WAIT_POLICY=passive), not spinning
 * (libgomp's default: 300000 rounds, milliseconds here). Where other busy
 * processes share the cores a spinning thread takes the core its team mate
 * is queued for: with `stress-ng --cpu 2` beside it a demo decode on two
 * threads ran at 30-140 tok/s spinning and 430-630 asleep (a pthreads
 * OpenBLAS lost half a core to the spin even on a quiet machine). libgomp
 * reads the policy only when it loads, so unless the user set
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT this sets it and runs the program again
 * (argv as given); returns only when it does not. */
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
