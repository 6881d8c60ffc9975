/* Helpers shared by the C tests (cmocka). */
#ifndef GF_TESTUTIL_H
#define GF_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "griffin_train.h"
#include <cmocka.h>

#include "griffin.h"

/* The repository's test data folder (GRIFFIN_TEST_DATA or tests/data). */
const char *td_root(void);
/* td_root()/rel into a static buffer slot (8 rotating slots). */
const char *td_path(const char *fmt, ...);
/* A fresh empty directory under /tmp for this test program. */
const char *td_tmpdir(void);
/* Removes td_tmpdir() and all it holds (for atexit). */
void td_remove_tmpdir(void);
/* Reads an .npy and fails the test on error. */
void td_npy(const char *path, gf_npy *out);
/* max |a - b| over n floats. */
double td_max_abs_diff(const float *a, const float *b, size_t n);
/* max |a| over n floats. */
double td_max_abs(const float *a, size_t n);
/* Writes bytes to path, failing the test on error. */
void td_write(const char *path, const void *data, size_t n);
/* Reads a whole file (malloc'ed); *n receives the size. */
void *td_read(const char *path, size_t *n);
/* The griffin binary under test (GRIFFIN_BIN, default build/griffin). */
const char *td_bin(void);
/* The spm_train-made tokenizer fixtures (GRIFFIN_SPM_FIXTURES, default
 * build/spm-fixtures; `make spm-fixtures` builds them). */
const char *td_spm_fixtures(void);
/* Integers separated by spaces or commas ("12 7,99") into ids (at most cap,
 * failing the test past that); returns the count. */
size_t td_parse_ids(const char *s, int32_t *ids, size_t cap);
/* A golden model (tests/data/golden/NAME) as a gf_trainable; fails the test
 * on error. */
gf_trainable *td_golden_trainable(const char *name);
/* The golden model `name` (tests/data/golden/NAME), failing the test when it
 * cannot be loaded. */
gf_model *td_golden_model(const char *name);
/* The spm_train-made Gemma-like tokenizer (td_spm_fixtures()/gemma_bpe.model,
 * with <start_of_turn> / <end_of_turn>). */
gf_tokenizer *td_gemma_tokenizer(void);
/* A randomly initialised model of a golden model's shape with V ids (the
 * golden models mostly repeat their last id; these do not). */
gf_trainable *td_random_trainable(const char *shape, int V, uint64_t seed);
/* err holds one line containing needle. */
void td_expect_one_line(const gf_error *err, const char *needle);
/* Runs a shell command; returns its exit status, stderr into err_out. */
int td_run(const char *cmd, char *err_out, size_t err_cap);
/* The same with stdout and stderr together into out. */
int td_run_all(const char *cmd, char *out, size_t cap);
/* `griffin ARGS` must fail with exit 1 and one stderr line holding needle1
 * (and needle2 when not NULL). */
void td_expect_cli_error(const char *args, const char *needle1, const char *needle2);
/* Writes an .npy named name into td_tmpdir(), failing the test on error;
 * its path into path (512 bytes) when not NULL. */
void td_write_npy(const char *name, gf_npy_dtype dt, const size_t *shape, int nd, const void *data,
                  char *path);

/* Step -> the loss text of RUN/log.csv, for steps 1..max-1 (the last line
 * for a step wins, as a resumed run logs again the steps after its
 * checkpoint; "" where a step has none). */
void td_log_losses(const char *run, char out[][32], int max);

#endif
