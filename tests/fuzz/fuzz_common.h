/* What the libFuzzer targets of tests/fuzz/ share (docs/fuzzing.md).
 *
 * The library's readers take paths, so each target writes its input into a
 * scratch folder of its own process (under /dev/shm where there is one, so
 * the files never reach a disk) and points the reader there. Inputs that
 * are a whole folder (a model directory, a sharded model, a checkpoint with
 * its `latest` link, token and mask files) come as one archive of files:
 *
 *   --8<-- config.json
 *   {...}
 *   --8<-- step-00000002/model.safetensors
 *   <bytes>
 *   --8<-- latest -> step-00000002
 *
 * Each file starts at a line "--8<-- NAME" at the start of the input or
 * after a newline; its bytes run to the newline before the next such line
 * (that newline is not part of the file) or to the end. NAME is a plain
 * name or one folder and a name ([A-Za-z0-9._-], no "." or ".."), or
 * "NAME -> TARGET": a symbolic link to a plain name in the same folder.
 * tests/fuzz/pack.sh writes such archives from real files. */
#ifndef GF_FUZZ_COMMON_H
#define GF_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "griffin.h"

/* Inputs past this are skipped: every format here is exercised by small
 * files, and a big one only slows the search. */
#define FZ_MAX_INPUT ((size_t)1 << 20)

/* The process's scratch folder (made on first use, removed at exit). */
const char *fz_dir(void);
/* out = fz_dir()/name (name may be "" for the folder itself). */
void fz_path(char *out, size_t cap, const char *name);
/* Removes everything in the scratch folder. */
void fz_clear(void);
/* Empties the scratch folder and writes one file `name` into it. */
void fz_write_one(const char *name, const void *data, size_t n);
/* Empties the scratch folder and unpacks an archive (above) into it: 0, or
 * -1 when the input is not an archive (no file, a bad name, too many). */
int fz_unpack(const uint8_t *data, size_t n);
/* The bytes of file `name` of an archive, without unpacking it (NULL when
 * absent). */
const uint8_t *fz_archive_find(const uint8_t *data, size_t n, const char *name, size_t *len);

/* A refusal must be one non-empty line (the library's promise): aborts
 * otherwise, which libFuzzer reports as a crash with the input. */
void fz_check_error(const gf_error *e, const char *what);
/* Aborts with a message: a property the target checks does not hold. */
void fz_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;

/* One thread for the library's loops and OpenBLAS (the fuzzers share the
 * machine, and one thread keeps a run reproducible), the kernel set from
 * GRIFFIN_ISA; called from each target's LLVMFuzzerInitialize. */
void fz_init(void);

/* A folder of fixed inputs the targets that need a model or a tokenizer
 * load: $GRIFFIN_FUZZ_DATA, else tests/fuzz/data (from the repository's
 * root, where `make fuzz-smoke` runs them). */
void fz_data_path(char *out, size_t cap, const char *name);

#endif
