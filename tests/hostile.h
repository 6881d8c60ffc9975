/* Helpers shared by the hostile-input tests (test_safetensors_io,
 * test_model_load, test_npy_io): the bytes of the golden griffin model, model
 * directories made under td_tmpdir(), the checks that a refusal is one line
 * naming the file and the problem, and seeded random mutants of a file. */
#ifndef GF_HOSTILE_H
#define GF_HOSTILE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/safetensors.h"
#include "testutil.h"

typedef struct {
    uint8_t *bytes;
    size_t size;
    size_t hlen;
    cJSON *hdr;
    const uint8_t *data; /* data section */
    size_t dlen;
} st_image;

/* Filled by load_golden(). */
extern st_image G;     /* golden/griffin/model.safetensors */
extern char *G_cfg;    /* golden/griffin/config.json */
extern size_t G_cfg_n;

uint64_t le64(const uint8_t *p);
void put_le64(uint8_t *p, uint64_t v);
/* Reads the golden model.safetensors and config.json into G / G_cfg (once). */
void load_golden(void);

/* out (4096 bytes) = dir/name. */
void join(char *out, const char *dir, const char *name);
/* A fresh directory td_tmpdir()/name. */
void case_dir(char *out, const char *name);
/* dir with the golden config.json and the given model.safetensors bytes. */
void write_model_dir(char *dir, const char *name, const void *st, size_t n);

/* The message is one non-empty line holding `word` and `path` (unless NULL). */
void expect_msg(const gf_error *e, const char *path, const char *word);
/* A reader's rc and err for path are a refusal: -1 and such a message. */
void expect_refused(int rc, const gf_error *err, const char *path, const char *word);
/* gf_model_load(dir) fails with such a message. */
void expect_load_fails(const char *dir, const char *path, const char *word);

/* Opens golden/griffin/model.safetensors, failing the test on error. */
void open_golden(gf_st_file *f);
/* Entries for every golden tensor except `skip` (NULL: none). */
gf_st_entry *golden_entries(const gf_st_file *f, const char *skip, size_t *n);

/* xorshift64; tests seed it by assigning rng_state. */
extern uint64_t rng_state;
uint64_t xrand(void);
/* A random byte, biased towards JSON punctuation and digits. */
uint8_t mutant_byte(void);

/* Random mutants of one file, for a reader that must open each cleanly or
 * refuse it cleanly. */
typedef struct {
    const char *what;        /* names the file kind in the closing line */
    const char *opened_word; /* "opened", "loaded", "read" */
    const uint8_t *base;     /* the file to mutate, n bytes */
    size_t n;
    /* Turns m (a fresh copy of base) into mutant number it; returns how many
     * of its bytes to write. */
    size_t (*mutate)(uint8_t *m, size_t n, int it, const void *ctx);
    /* Runs the reader on path, which holds the len bytes of m: 0 when it
     * opened it (having checked and freed what it made), else its rc. */
    int (*read)(const char *path, const uint8_t *m, size_t len, gf_error *err, const void *ctx);
    const void *ctx;
} mutant_family;

/* Writes 400 mutants to td_tmpdir()/file and reads each; a refusal must name
 * the file in one line, and more than 100 must be refused. */
void fuzz_reader(const mutant_family *fam, const char *file);

#endif
