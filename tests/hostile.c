#include "hostile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- golden bytes, read once ------------------------------------------- */

st_image G;
char *G_cfg;
size_t G_cfg_n;

uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

void put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void load_golden(void) {
    if (G.bytes) return;
    G.bytes = td_read(td_path("golden/griffin/model.safetensors"), &G.size);
    assert_true(G.size > 8);
    G.hlen = (size_t)le64(G.bytes);
    assert_true(G.hlen <= G.size - 8);
    G.hdr = cJSON_ParseWithLength((const char *)G.bytes + 8, G.hlen);
    assert_non_null(G.hdr);
    G.data = G.bytes + 8 + G.hlen;
    G.dlen = G.size - 8 - G.hlen;
    G_cfg = td_read(td_path("golden/griffin/config.json"), &G_cfg_n);
}

/* ---- paths and files ---------------------------------------------------- */

void join(char *out, const char *dir, const char *name) {
    int k = snprintf(out, 4096, "%s/%s", dir, name);
    assert_true(k > 0 && k < 4096);
}

/* A fresh directory td_tmpdir()/name. */
void case_dir(char *out, const char *name) {
    join(out, td_tmpdir(), name);
    if (mkdir(out, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s failed", out);
}

/* dir with the golden config.json and the given model.safetensors bytes. */
void write_model_dir(char *dir, const char *name, const void *st, size_t n) {
    char p[4096];
    case_dir(dir, name);
    join(p, dir, "config.json");
    td_write(p, G_cfg, G_cfg_n);
    join(p, dir, "model.safetensors");
    td_write(p, st, n);
}

/* ---- expectations ------------------------------------------------------- */

void expect_msg(const gf_error *e, const char *path, const char *word) {
    print_message("    -> %s\n", e->msg);
    if (!e->msg[0]) fail_msg("empty error message (wanted '%s')", word);
    if (strchr(e->msg, '\n') || strchr(e->msg, '\r')) fail_msg("message is not one line: %s", e->msg);
    if (path && !strstr(e->msg, path)) fail_msg("message does not name %s: %s", path, e->msg);
    if (!strstr(e->msg, word)) fail_msg("message lacks '%s': %s", word, e->msg);
}

void expect_refused(int rc, const gf_error *err, const char *path, const char *word) {
    if (rc == 0) fail_msg("%s opened; expected '%s'", path, word);
    assert_int_equal(rc, -1);
    expect_msg(err, path, word);
}

void expect_load_fails(const char *dir, const char *path, const char *word) {
    gf_error err;
    memset(&err, 0, sizeof err);
    gf_model *m = gf_model_load(dir, &err);
    if (m) {
        gf_model_free(m);
        fail_msg("gf_model_load(%s) succeeded; expected '%s'", dir, word);
    }
    expect_msg(&err, path, word);
}

/* ---- golden tensors ---------------------------------------------------- */

gf_st_entry *golden_entries(const gf_st_file *f, const char *skip, size_t *n) {
    gf_st_entry *e = calloc(f->count, sizeof *e);
    assert_non_null(e);
    size_t k = 0;
    for (size_t i = 0; i < f->count; i++) {
        const gf_st_tensor *t = &f->tensors[i];
        if (skip && !strcmp(t->name, skip)) continue;
        e[k].name = t->name;
        e[k].dtype = t->dtype;
        e[k].ndim = t->ndim;
        memcpy(e[k].shape, t->shape, sizeof t->shape);
        e[k].data = t->data;
        k++;
    }
    *n = k;
    return e;
}

void open_golden(gf_st_file *f) {
    gf_error err;
    if (gf_st_open(td_path("golden/griffin/model.safetensors"), f, &err) != 0) fail_msg("%s", err.msg);
}

/* ---- random bytes ------------------------------------------------------ */

uint64_t rng_state = 0x9e3779b97f4a7c15ull;
uint64_t xrand(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

uint8_t mutant_byte(void) {
    static const char interesting[] = "{}[]\",:0123456789-.eE \\";
    uint64_t r = xrand();
    if (r % 3 == 0) return (uint8_t)(r >> 8);
    return (uint8_t)interesting[(r >> 8) % (sizeof interesting - 1)];
}

void fuzz_reader(const mutant_family *fam, const char *file) {
    char p[4096];
    join(p, td_tmpdir(), file);
    uint8_t *m = malloc(fam->n + 1);
    assert_non_null(m);
    int opened = 0, refused = 0;
    for (int it = 0; it < 400; it++) {
        memcpy(m, fam->base, fam->n);
        size_t len = fam->mutate(m, fam->n, it, fam->ctx);
        td_write(p, m, len);
        gf_error err;
        memset(&err, 0, sizeof err);
        if (fam->read(p, m, len, &err, fam->ctx) == 0) {
            opened++;
        } else {
            if (!strstr(err.msg, p) || strchr(err.msg, '\n')) fail_msg("bad message: %s", err.msg);
            refused++;
        }
    }
    print_message("    %s mutants: %d %s, %d refused\n", fam->what, opened, fam->opened_word, refused);
    assert_true(refused > 100);
    free(m);
}
