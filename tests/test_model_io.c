/* Hostile input: every reader (safetensors, sharded index, config.json, .npy)
 * and the token checks of prefill/decode must refuse bad input with -1 / NULL
 * and one line of text that names the file and the problem, without crashing,
 * hanging or reading out of bounds (run under ASan + UBSan by `make test`).
 *
 * Every hostile file is made at test time in td_tmpdir() from the bytes of the
 * golden griffin model directory; nothing generated is committed. The valid
 * variants (a 2-shard split, BF16 / F16 storage, two models at once) must give
 * the logits of the originals. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "testutil.h"
#include "util.h"

/* ---- golden bytes, read once ------------------------------------------- */

typedef struct {
    uint8_t *bytes;
    size_t size;
    size_t hlen;
    cJSON *hdr;
    const uint8_t *data; /* data section */
    size_t dlen;
} st_image;

static st_image G;     /* golden/griffin/model.safetensors */
static char *G_cfg;    /* golden/griffin/config.json */
static size_t G_cfg_n;

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void load_golden(void) {
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

static void join(char *out, const char *dir, const char *name) {
    int k = snprintf(out, 4096, "%s/%s", dir, name);
    assert_true(k > 0 && k < 4096);
}

/* A fresh directory td_tmpdir()/name. */
static void case_dir(char *out, const char *name) {
    join(out, td_tmpdir(), name);
    if (mkdir(out, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s failed", out);
}

/* dir with the golden config.json and the given model.safetensors bytes. */
static void write_model_dir(char *dir, const char *name, const void *st, size_t n) {
    char p[4096];
    case_dir(dir, name);
    join(p, dir, "config.json");
    td_write(p, G_cfg, G_cfg_n);
    join(p, dir, "model.safetensors");
    td_write(p, st, n);
}

/* A safetensors image from a header object and a data section (the header is
 * padded with spaces to a multiple of 8, as writers do). */
static uint8_t *st_build(const cJSON *hdr, const uint8_t *data, size_t dlen, size_t *n) {
    char *json = cJSON_PrintUnformatted(hdr);
    assert_non_null(json);
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
    uint8_t *b = malloc(8 + padded + dlen + 1);
    assert_non_null(b);
    put_le64(b, padded);
    memcpy(b + 8, json, jl);
    memset(b + 8 + jl, ' ', padded - jl);
    if (dlen) memcpy(b + 8 + padded, data, dlen);
    free(json);
    *n = 8 + padded + dlen;
    return b;
}

/* The golden header, copied, for mutation. */
static cJSON *golden_header(void) {
    load_golden();
    cJSON *h = cJSON_Duplicate(G.hdr, 1);
    assert_non_null(h);
    return h;
}

static cJSON *entry(cJSON *hdr, const char *name) {
    cJSON *e = cJSON_GetObjectItemCaseSensitive(hdr, name);
    if (!e) fail_msg("golden header has no tensor %s", name);
    return e;
}

static void set_offsets(cJSON *hdr, const char *name, double b, double e) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(b));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(e));
    cJSON_ReplaceItemInObjectCaseSensitive(entry(hdr, name), "data_offsets", a);
}

static void set_shape(cJSON *hdr, const char *name, const double *dims, int nd) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < nd; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(dims[i]));
    cJSON_ReplaceItemInObjectCaseSensitive(entry(hdr, name), "shape", a);
}

static void set_dtype(cJSON *hdr, const char *name, const char *dt) {
    cJSON_ReplaceItemInObjectCaseSensitive(entry(hdr, name), "dtype", cJSON_CreateString(dt));
}

static double offset_of(cJSON *hdr, const char *name, int which) {
    cJSON *o = cJSON_GetObjectItemCaseSensitive(entry(hdr, name), "data_offsets");
    return cJSON_GetArrayItem(o, which)->valuedouble;
}

/* ---- expectations ------------------------------------------------------- */

static void expect_msg(const gf_error *e, const char *path, const char *word) {
    print_message("    -> %s\n", e->msg);
    if (!e->msg[0]) fail_msg("empty error message (wanted '%s')", word);
    if (strchr(e->msg, '\n') || strchr(e->msg, '\r')) fail_msg("message is not one line: %s", e->msg);
    if (path && !strstr(e->msg, path)) fail_msg("message does not name %s: %s", path, e->msg);
    if (!strstr(e->msg, word)) fail_msg("message lacks '%s': %s", word, e->msg);
}

static void expect_load_fails(const char *dir, const char *path, const char *word) {
    gf_error err;
    memset(&err, 0, sizeof err);
    gf_model *m = gf_model_load(dir, &err);
    if (m) {
        gf_model_free(m);
        fail_msg("gf_model_load(%s) succeeded; expected '%s'", dir, word);
    }
    expect_msg(&err, path, word);
}

static void expect_st_fails(const char *path, const char *word) {
    gf_error err;
    gf_st_file f;
    memset(&err, 0, sizeof err);
    int rc = gf_st_open(path, &f, &err);
    if (rc == 0) {
        gf_st_close(&f);
        fail_msg("gf_st_open(%s) succeeded; expected '%s'", path, word);
    }
    assert_int_equal(rc, -1);
    assert_null(f.tensors);
    assert_null(f.map.data);
    expect_msg(&err, path, word);
}

/* A model dir whose model.safetensors holds `st`: both the direct open and the
 * model load must fail with `word` and the file's path. */
static void check_bad_st(const char *name, const void *st, size_t n, const char *word) {
    char dir[4096], p[4096];
    load_golden();
    write_model_dir(dir, name, st, n);
    join(p, dir, "model.safetensors");
    expect_st_fails(p, word);
    expect_load_fails(dir, p, word);
}

static void check_bad_header(const char *name, cJSON *hdr, const char *word) {
    size_t n;
    uint8_t *b = st_build(hdr, G.data, G.dlen, &n);
    cJSON_Delete(hdr);
    check_bad_st(name, b, n, word);
    free(b);
}

/* A raw header text (padded with spaces to a multiple of 8, so the data stay
 * aligned) in front of the golden data. */
static void check_bad_header_text(const char *name, const char *text, size_t tl, const char *word) {
    load_golden();
    size_t padded = (tl + 7) / 8 * 8;
    uint8_t *b = malloc(8 + padded + G.dlen);
    assert_non_null(b);
    put_le64(b, padded);
    memcpy(b + 8, text, tl);
    memset(b + 8 + tl, ' ', padded - tl);
    memcpy(b + 8 + padded, G.data, G.dlen);
    check_bad_st(name, b, 8 + padded + G.dlen, word);
    free(b);
}

/* ---- running models ----------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t xrand(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static gf_model *load_ok(const char *dir) {
    gf_error err;
    gf_model *m = gf_model_load(dir, &err);
    if (!m) fail_msg("%s", err.msg);
    return m;
}

/* Prefill logits [B, T, V] of tokens [B, T] (malloc'ed). */
static float *prefill_logits(const gf_model *m, const gf_npy *tok) {
    int B = (int)tok->shape[0], T = (int)tok->shape[1], V = gf_model_config(m)->vocab_size;
    float *l = malloc((size_t)B * T * V * sizeof *l);
    assert_non_null(l);
    gf_error err;
    if (gf_prefill(m, B, T, tok->data, NULL, l, NULL, NULL, &err) != 0) fail_msg("%s", err.msg);
    return l;
}

static size_t logits_count(const gf_model *m, const gf_npy *tok) {
    return tok->shape[0] * tok->shape[1] * (size_t)gf_model_config(m)->vocab_size;
}

/* ---- 1-12: safetensors -------------------------------------------------- */

static void test_st_empty(void **state) {
    (void)state;
    check_bad_st("st_empty", "", 0, "empty");
}

static void test_st_truncated(void **state) {
    (void)state;
    load_golden();
    /* The golden data section ends with its last tensor: any cut loses bytes. */
    size_t max_end = 0;
    for (cJSON *it = G.hdr->child; it; it = it->next)
        if (strcmp(it->string, "__metadata__") != 0) {
            size_t e = (size_t)cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(it, "data_offsets"), 1)->valuedouble;
            if (e > max_end) max_end = e;
        }
    assert_int_equal(max_end, G.dlen);
    struct { size_t cut; const char *word; } cuts[] = {
        {4, "too short"},
        {7, "too short"},
        {8, "runs past the end"},
        {8 + G.hlen / 2, "runs past the end"},
        {8 + G.hlen - 1, "runs past the end"},
        {8 + G.hlen, "outside the data section"},
        {8 + G.hlen + G.dlen / 2, "outside the data section"},
        {G.size - 1, "outside the data section"},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "st_trunc_%zu", cuts[i].cut);
        check_bad_st(name, G.bytes, cuts[i].cut, cuts[i].word);
    }
    /* A sweep of cut points through the direct reader: every one fails cleanly. */
    char dir[4096], p[4096];
    case_dir(dir, "st_trunc_sweep");
    join(p, dir, "model.safetensors");
    int failed = 0, tried = 0;
    for (size_t k = 0; k < 97; k++) {
        size_t cut = G.size * k / 97 + (k % 7);
        if (cut >= G.size) continue;
        td_write(p, G.bytes, cut);
        gf_st_file f;
        gf_error err;
        memset(&err, 0, sizeof err);
        tried++;
        if (gf_st_open(p, &f, &err) == 0) {
            gf_st_close(&f);
            fail_msg("cut at %zu of %zu bytes opened", cut, G.size);
        }
        if (!strstr(err.msg, p) || strchr(err.msg, '\n')) fail_msg("bad message at cut %zu: %s", cut, err.msg);
        failed++;
    }
    assert_int_equal(failed, tried);
    assert_true(tried > 90);
}

static void test_st_garbage(void **state) {
    (void)state;
    load_golden();
    uint8_t g[4096];
    rng_state = 12345;
    for (size_t i = 0; i < sizeof g; i++) g[i] = (uint8_t)xrand();
    g[7] |= 0x80; /* a header length far past the end */
    check_bad_st("st_garbage", g, sizeof g, "runs past the end");
    /* A plausible length, then garbage where the JSON should start. */
    put_le64(g, 1000);
    g[8] = 0xff;
    check_bad_st("st_garbage_hdr", g, sizeof g, "not a safetensors file");
    /* '{' then garbage. */
    g[8] = '{';
    g[9] = 0x01;
    check_bad_st("st_garbage_json", g, sizeof g, "not valid JSON");
    /* All zero: header length 0. */
    memset(g, 0, sizeof g);
    check_bad_st("st_zeros", g, sizeof g, "not plausible");
    /* Not a regular file. */
    char dir[4096], p[4096];
    case_dir(dir, "st_is_dir");
    join(p, dir, "config.json");
    td_write(p, G_cfg, G_cfg_n);
    join(p, dir, "model.safetensors");
    if (mkdir(p, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s", p);
    expect_st_fails(p, "not a regular file");
    expect_load_fails(dir, p, "not a regular file");
    /* No weights at all. */
    case_dir(dir, "st_absent");
    join(p, dir, "config.json");
    td_write(p, G_cfg, G_cfg_n);
    join(p, dir, "model.safetensors");
    expect_load_fails(dir, p, "cannot open");
}

static void test_st_header_length_past_end(void **state) {
    (void)state;
    load_golden();
    uint8_t *b = malloc(G.size);
    assert_non_null(b);
    memcpy(b, G.bytes, G.size);
    put_le64(b, G.size - 8 + 1);
    check_bad_st("st_hlen_plus1", b, G.size, "runs past the end");
    put_le64(b, 1ull << 63);
    check_bad_st("st_hlen_huge", b, G.size, "runs past the end");
    put_le64(b, UINT64_MAX);
    check_bad_st("st_hlen_max", b, G.size, "runs past the end");
    /* Exactly the rest of the file: the JSON parses (trailing bytes are
     * allowed after it) but then there is no data section at all. */
    put_le64(b, G.size - 8);
    check_bad_st("st_hlen_all", b, G.size, "outside the data section");
    free(b);
    /* A header that ends at the very end of a page-sized file in the middle of
     * a string: the parser must not read past the mapping. */
    uint8_t pg[4096];
    put_le64(pg, sizeof pg - 8);
    memset(pg + 8, 'a', sizeof pg - 8);
    memcpy(pg + 8, "{\"", 2);
    check_bad_st("st_hdr_page_end", pg, sizeof pg, "not valid JSON");
    pg[sizeof pg - 1] = '\\';
    check_bad_st("st_hdr_page_end_esc", pg, sizeof pg, "not valid JSON");
    memcpy(pg + 8, "{\"a\":1", 6);
    memset(pg + 14, '9', sizeof pg - 14);
    check_bad_st("st_hdr_page_end_num", pg, sizeof pg, "safetensors");
}

static void test_st_header_not_json(void **state) {
    (void)state;
    const char *t1 = "{not json at all}";
    check_bad_header_text("st_hdr_text", t1, strlen(t1), "not valid JSON");
    const char *t2 = "{\"a\": {\"dtype\": \"F32\", ";
    check_bad_header_text("st_hdr_cut", t2, strlen(t2), "not valid JSON");
    const char *t3 = "[1, 2, 3]  ";
    check_bad_header_text("st_hdr_array", t3, strlen(t3), "does not start with '{'");
    const char *t4 = "\"just a string\"";
    check_bad_header_text("st_hdr_string", t4, strlen(t4), "does not start with '{'");
    /* NUL bytes: cJSON skips them as whitespace between tokens; the header
     * still fails (cleanly) on what it then says. */
    const char t5[] = "{\"a\"\0: 1}";
    check_bad_header_text("st_hdr_nul", t5, sizeof t5 - 1, "tensor 'a' is not a JSON object");
    const char t5b[] = "{\"a\": \0\0\0}";
    check_bad_header_text("st_hdr_nul2", t5b, sizeof t5b - 1, "not valid JSON");
    /* Valid JSON objects whose entries are not tensor descriptions. */
    const char *t6 = "{\"model.final_norm.weight\": 5}";
    check_bad_header_text("st_hdr_entry_num", t6, strlen(t6), "not a JSON object");
    const char *t7 = "{\"model.final_norm.weight\": {\"dtype\": \"F32\"}}";
    check_bad_header_text("st_hdr_no_shape", t7, strlen(t7), "no shape");
    const char *t8 = "{\"model.final_norm.weight\": {\"shape\": [64], \"data_offsets\": [0, 256]}}";
    check_bad_header_text("st_hdr_no_dtype", t8, strlen(t8), "no dtype");
    const char *t9 = "{\"model.final_norm.weight\": {\"dtype\": \"F32\", \"shape\": [64, \"x\"], \"data_offsets\": [0, 256]}}";
    check_bad_header_text("st_hdr_shape_str", t9, strlen(t9), "shape entry 1");
    const char *t10 = "{\"model.final_norm.weight\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,64], \"data_offsets\": [0, 256]}}";
    check_bad_header_text("st_hdr_rank9", t10, strlen(t10), "dimensions");
    /* Valid JSON, no tensors: the loader names the first missing one. */
    const char *t11 = "{\"__metadata__\": {\"format\": \"pt\"}}";
    char dir[4096], p[4096];
    load_golden();
    uint8_t *b = malloc(8 + strlen(t11) + G.dlen);
    assert_non_null(b);
    put_le64(b, strlen(t11));
    memcpy(b + 8, t11, strlen(t11));
    memcpy(b + 8 + strlen(t11), G.data, G.dlen);
    write_model_dir(dir, "st_hdr_no_tensors", b, 8 + strlen(t11) + G.dlen);
    free(b);
    join(p, dir, "model.safetensors");
    expect_load_fails(dir, p, "missing tensor 'model.embed_tokens.weight'");
}

static void test_st_offsets_outside(void **state) {
    (void)state;
    const char *nm = "model.final_norm.weight";
    cJSON *h = golden_header();
    set_offsets(h, nm, (double)G.dlen - 128, (double)G.dlen + 128);
    check_bad_header("st_off_past_end", h, "outside the data section");
    h = golden_header();
    set_offsets(h, nm, 300, 44);
    check_bad_header("st_off_reversed", h, "outside the data section");
    h = golden_header();
    set_offsets(h, nm, 9007199254740992.0 - 256, 9007199254740992.0);
    check_bad_header("st_off_2p53", h, "outside the data section");
    h = golden_header();
    set_offsets(h, nm, 1e300, 1e300 + 256);
    check_bad_header("st_off_huge", h, "data_offsets");
    h = golden_header();
    set_offsets(h, nm, -256, 0);
    check_bad_header("st_off_negative", h, "data_offsets");
    h = golden_header();
    set_offsets(h, nm, 0.5, 256.5);
    check_bad_header("st_off_fraction", h, "data_offsets");
    h = golden_header();
    cJSON_ReplaceItemInObjectCaseSensitive(entry(h, nm), "data_offsets", cJSON_CreateString("0-256"));
    check_bad_header("st_off_string", h, "data_offsets");
    /* Misaligned F32 data (offset not a multiple of 4). */
    h = golden_header();
    set_offsets(h, nm, offset_of(h, nm, 0) + 2, offset_of(h, nm, 1) + 2);
    check_bad_header("st_off_misaligned", h, "aligned");
}

static void test_st_overlap(void **state) {
    (void)state;
    /* final_norm [64] gets exactly the bytes of layer 0's channel norm [64]. */
    cJSON *h = golden_header();
    const char *a = "model.layers.0.channel_pre_norm.weight", *b = "model.final_norm.weight";
    set_offsets(h, b, offset_of(h, a, 0), offset_of(h, a, 1));
    check_bad_header("st_overlap_same", h, "overlap");
    /* Partial overlap: shifted by 32 floats into the next tensor. */
    h = golden_header();
    set_offsets(h, b, offset_of(h, b, 0) + 128, offset_of(h, b, 1) + 128);
    check_bad_header("st_overlap_part", h, "overlap");
    /* A tensor listed twice (duplicate JSON key). */
    const char *t = "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                    " \"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}";
    check_bad_header_text("st_dup_name", t, strlen(t), "listed twice");
}

static void test_st_size_mismatch(void **state) {
    (void)state;
    const char *nm = "model.final_norm.weight";
    cJSON *h = golden_header();
    double d63[] = {63};
    set_shape(h, nm, d63, 1);
    check_bad_header("st_size_shape", h, "needs 252");
    h = golden_header();
    set_dtype(h, nm, "BF16"); /* 256 bytes but BF16 [64] is 128 */
    check_bad_header("st_size_dtype", h, "needs 128");
    h = golden_header();
    double big[] = {1099511627776.0, 1099511627776.0, 1099511627776.0}; /* 2^120 elements */
    set_shape(h, nm, big, 3);
    check_bad_header("st_size_overflow", h, "x shape needs");
    h = golden_header();
    double zero[] = {0};
    set_shape(h, nm, zero, 1);
    check_bad_header("st_size_zero", h, "needs 0");
}

static void test_st_dtype(void **state) {
    (void)state;
    const char *nm = "model.layers.2.mlp_block.up_proj.weight";
    cJSON *h = golden_header();
    set_dtype(h, nm, "Q7");
    check_bad_header("st_dtype_q7", h, "unknown dtype 'Q7'");
    h = golden_header();
    set_dtype(h, nm, "F64");
    check_bad_header("st_dtype_f64", h, "unsupported dtype F64");
    h = golden_header();
    set_dtype(h, nm, "");
    check_bad_header("st_dtype_empty", h, "unknown dtype");
    h = golden_header();
    cJSON_ReplaceItemInObjectCaseSensitive(entry(h, nm), "dtype", cJSON_CreateNumber(32));
    check_bad_header("st_dtype_number", h, "no dtype string");
    /* I32 is a safetensors dtype the reader knows (same byte size as F32),
     * but weights must be floating point: the file opens, the model does not. */
    h = golden_header();
    set_dtype(h, nm, "I32");
    size_t n;
    uint8_t *b = st_build(h, G.data, G.dlen, &n);
    cJSON_Delete(h);
    char dir[4096], p[4096];
    write_model_dir(dir, "st_dtype_i32", b, n);
    free(b);
    join(p, dir, "model.safetensors");
    gf_st_file f;
    gf_error err;
    if (gf_st_open(p, &f, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(gf_st_find(&f, nm)->dtype, GF_DT_I32);
    gf_st_close(&f);
    expect_load_fails(dir, p, "dtype I32");
}

/* Entries for every golden tensor except `skip` (NULL: none). */
static gf_st_entry *golden_entries(const gf_st_file *f, const char *skip, size_t *n) {
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

static void open_golden(gf_st_file *f) {
    gf_error err;
    if (gf_st_open(td_path("golden/griffin/model.safetensors"), f, &err) != 0) fail_msg("%s", err.msg);
}

static void test_st_missing_tensor(void **state) {
    (void)state;
    load_golden();
    gf_st_file f;
    open_golden(&f);
    const char *skip = "model.layers.3.temporal_block.linear_y.weight";
    size_t n;
    gf_st_entry *e = golden_entries(&f, skip, &n);
    assert_int_equal(n, f.count - 1);
    char dir[4096], p[4096];
    case_dir(dir, "st_missing");
    join(p, dir, "config.json");
    td_write(p, G_cfg, G_cfg_n);
    join(p, dir, "model.safetensors");
    gf_error err;
    if (gf_st_write(p, e, n, &err) != 0) fail_msg("%s", err.msg);
    /* The file itself is valid. */
    gf_st_file g;
    if (gf_st_open(p, &g, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(g.count, f.count - 1);
    assert_null(gf_st_find(&g, skip));
    gf_st_close(&g);
    expect_load_fails(dir, p, "missing tensor 'model.layers.3.temporal_block.linear_y.weight'");
    free(e);
    gf_st_close(&f);
}

static void wrong_shape_case(const gf_st_file *f, const char *name, const char *tensor, int ndim,
                             const size_t *shape, const char *word) {
    size_t n;
    gf_st_entry *e = golden_entries(f, NULL, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(e[i].name, tensor)) {
            size_t numel = 1;
            for (int d = 0; d < ndim; d++) numel *= shape[d];
            assert_true(numel <= gf_st_find(f, tensor)->numel); /* golden bytes suffice */
            e[i].ndim = ndim;
            memset(e[i].shape, 0, sizeof e[i].shape);
            memcpy(e[i].shape, shape, (size_t)ndim * sizeof *shape);
        }
    char dir[4096], p[4096];
    case_dir(dir, name);
    join(p, dir, "config.json");
    td_write(p, G_cfg, G_cfg_n);
    join(p, dir, "model.safetensors");
    gf_error err;
    if (gf_st_write(p, e, n, &err) != 0) fail_msg("%s", err.msg);
    free(e);
    expect_load_fails(dir, p, word);
}

static void test_st_wrong_shape(void **state) {
    (void)state;
    load_golden();
    gf_st_file f;
    open_golden(&f);
    size_t s1[] = {255, 64};
    wrong_shape_case(&f, "st_shape_embed", "model.embed_tokens.weight", 2, s1,
                     "'model.embed_tokens.weight' has shape [255, 64], expected [256, 64]");
    size_t s2[] = {64, 4}; /* HF conv is [L, 1, W] */
    wrong_shape_case(&f, "st_shape_conv", "model.layers.0.temporal_block.conv_1d.weight", 2, s2,
                     "has shape [64, 4], expected [64, 1, 4]");
    size_t s3[] = {64, 192}; /* transposed */
    wrong_shape_case(&f, "st_shape_gate", "model.layers.5.mlp_block.gate_proj.weight", 2, s3,
                     "has shape [64, 192], expected [192, 64]");
    gf_st_close(&f);
    /* A config that is valid on its own but claims far larger sizes than the
     * weights have (4e11 bytes of vectors): the loader must fail on the first
     * tensor shape, naming the weights file, not try to allocate for the claim. */
    cJSON *c = cJSON_ParseWithLength(G_cfg, G_cfg_n);
    assert_non_null(c);
    cJSON_ReplaceItemInObjectCaseSensitive(c, "intermediate_size", cJSON_CreateNumber(1 << 21));
    cJSON_ReplaceItemInObjectCaseSensitive(c, "lru_width", cJSON_CreateNumber(1 << 20));
    cJSON_ReplaceItemInObjectCaseSensitive(c, "conv1d_width", cJSON_CreateNumber(64));
    cJSON_ReplaceItemInObjectCaseSensitive(c, "num_hidden_layers", cJSON_CreateNumber(512));
    char *text = cJSON_Print(c);
    cJSON_Delete(c);
    char dir[4096], p[4096];
    write_model_dir(dir, "st_config_claims", G.bytes, G.size);
    join(p, dir, "config.json");
    td_write(p, text, strlen(text));
    free(text);
    join(p, dir, "model.safetensors");
    expect_load_fails(dir, p, "has shape [192, 64], expected [1048576, 64]");
}

/* Writes a sharded copy of the golden model into dir: the first half of the
 * tensors (by name) in shard 1, the rest in shard 2, and an index whose
 * weight_map lists all of them; `first_shard` (when not NULL) replaces the
 * name the index gives shard 1. */
static void write_sharded(const char *dir, const char *first_shard) {
    gf_st_file f;
    open_golden(&f);
    size_t n;
    gf_st_entry *e = golden_entries(&f, NULL, &n);
    size_t split = n / 2;
    const char *s1 = "model-00001-of-00002.safetensors", *s2 = "model-00002-of-00002.safetensors";
    char p[4096];
    gf_error err;
    join(p, dir, s1);
    if (gf_st_write(p, e, split, &err) != 0) fail_msg("%s", err.msg);
    join(p, dir, s2);
    if (gf_st_write(p, e + split, n - split, &err) != 0) fail_msg("%s", err.msg);
    cJSON *idx = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(idx, "metadata");
    cJSON_AddNumberToObject(meta, "total_size", (double)G.dlen);
    cJSON *wm = cJSON_AddObjectToObject(idx, "weight_map");
    for (size_t i = 0; i < n; i++)
        cJSON_AddStringToObject(wm, e[i].name, i < split ? (first_shard ? first_shard : s1) : s2);
    char *text = cJSON_Print(idx);
    join(p, dir, "model.safetensors.index.json");
    td_write(p, text, strlen(text));
    free(text);
    cJSON_Delete(idx);
    join(p, dir, "config.json");
    td_write(p, G_cfg, G_cfg_n);
    free(e);
    gf_st_close(&f);
}

static void test_st_sharded(void **state) {
    (void)state;
    load_golden();
    char dir[4096], idx[4096];
    /* Shard names that leave the model directory are refused. */
    const char *bad[] = {"../model.safetensors", "/etc/passwd", "sub/model.safetensors", "..", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "shard_bad_%zu", i);
        case_dir(dir, name);
        write_sharded(dir, bad[i]);
        join(idx, dir, "model.safetensors.index.json");
        expect_load_fails(dir, idx, "must be a plain file name");
    }
    /* A shard that is not there. */
    case_dir(dir, "shard_absent");
    write_sharded(dir, "model-00009-of-00002.safetensors");
    char sp[4096];
    join(sp, dir, "model-00009-of-00002.safetensors");
    expect_load_fails(dir, sp, "cannot open");
    /* An index that is not JSON / has no weight_map / a non-string entry. */
    case_dir(dir, "shard_index_bad");
    write_sharded(dir, NULL);
    join(idx, dir, "model.safetensors.index.json");
    td_write(idx, "{\"weight_map\": ", 15);
    expect_load_fails(dir, idx, "weight_map");
    td_write(idx, "[]", 2);
    expect_load_fails(dir, idx, "weight_map");
    const char *num = "{\"weight_map\": {\"model.embed_tokens.weight\": 1}}";
    td_write(idx, num, strlen(num));
    expect_load_fails(dir, idx, "not a file name");
    const char *empty = "{\"weight_map\": {}}";
    td_write(idx, empty, strlen(empty));
    expect_load_fails(dir, idx, "empty");
    /* An index that lists only the first shard: the loader names the index. */
    const char *one = "{\"weight_map\": {\"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\"}}";
    td_write(idx, one, strlen(one));
    expect_load_fails(dir, idx, "missing tensor");

    /* A valid 2-shard split loads and computes what the single file does. */
    case_dir(dir, "shard_ok");
    write_sharded(dir, NULL);
    gf_model *ms = load_ok(dir);
    gf_model *m1 = load_ok(td_path("golden/griffin"));
    assert_string_equal(gf_model_weight_dtype(ms), "F32");
    assert_true(gf_model_weight_bytes(ms) >= G.dlen);
    gf_npy tok;
    td_npy(td_path("golden/griffin/tokens.npy"), &tok);
    float *a = prefill_logits(ms, &tok), *b = prefill_logits(m1, &tok);
    double d = td_max_abs_diff(a, b, logits_count(m1, &tok));
    print_message("    sharded vs single file: max |dlogit| = %.3g\n", d);
    if (!(d <= 1e-6)) fail_msg("sharded logits differ by %.3g", d);
    assert_true(td_max_abs(a, logits_count(m1, &tok)) > 0.1);
    free(a);
    free(b);
    gf_npy_free(&tok);
    gf_model_free(ms);
    gf_model_free(m1);
}

/* ---- 13: BF16 / F16 storage --------------------------------------------- */

/* float -> IEEE half, round to nearest even (F. Giesen's float_to_half_fast3_rtne). */
static uint16_t f32_to_f16(float f) {
    const uint32_t f32infty = 255u << 23, f16max = (127u + 16u) << 23;
    const uint32_t denorm_magic_u = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint16_t o;
    if (u >= f16max) {
        o = u > f32infty ? 0x7e00 : 0x7c00;
    } else if (u < (113u << 23)) { /* becomes a subnormal or zero */
        float fu, dm;
        memcpy(&fu, &u, 4);
        memcpy(&dm, &denorm_magic_u, 4);
        volatile float sum = fu + dm;
        fu = sum;
        memcpy(&u, &fu, 4);
        o = (uint16_t)(u - denorm_magic_u);
    } else {
        uint32_t odd = (u >> 13) & 1u;
        u += (uint32_t)(-112 * (1 << 23)) + 0xfffu + odd; /* rebias 127 -> 15 and round */
        o = (uint16_t)(u >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

enum { HALF_BF16, HALF_F16 };

/* The golden model with every value rounded to the half format, stored as that
 * format (store_half) or as F32 holding the rounded values. */
static void write_rounded(const char *dir, int kind, int store_half) {
    gf_st_file f;
    open_golden(&f);
    size_t n;
    gf_st_entry *e = golden_entries(&f, NULL, &n);
    void **bufs = calloc(n, sizeof *bufs);
    assert_non_null(bufs);
    for (size_t i = 0; i < n; i++) {
        const gf_st_tensor *t = gf_st_find(&f, e[i].name);
        assert_int_equal(t->dtype, GF_DT_F32);
        const float *src = t->data;
        bufs[i] = malloc(t->numel * 4 + 4);
        assert_non_null(bufs[i]);
        for (size_t k = 0; k < t->numel; k++) {
            if (!(fabsf(src[k]) < 65504.0f)) fail_msg("%s[%zu] = %g is outside the f16 range", t->name, k, src[k]);
            uint16_t h = kind == HALF_BF16 ? gf_f32_to_bf16(src[k]) : f32_to_f16(src[k]);
            if (store_half) ((uint16_t *)bufs[i])[k] = h;
            else ((float *)bufs[i])[k] = kind == HALF_BF16 ? gf_bf16_to_f32(h) : gf_f16_to_f32(h);
        }
        e[i].data = bufs[i];
        e[i].dtype = store_half ? (kind == HALF_BF16 ? GF_DT_BF16 : GF_DT_F16) : GF_DT_F32;
    }
    char p[4096];
    gf_error err;
    join(p, dir, "model.safetensors");
    if (gf_st_write(p, e, n, &err) != 0) fail_msg("%s", err.msg);
    join(p, dir, "config.json");
    td_write(p, G_cfg, G_cfg_n);
    for (size_t i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(e);
    gf_st_close(&f);
}

static void half_case(int kind, const char *dtname) {
    load_golden();
    char dh[4096], df[4096];
    char nh[64], nf[64];
    snprintf(nh, sizeof nh, "half_%s", dtname);
    snprintf(nf, sizeof nf, "half_%s_as_f32", dtname);
    case_dir(dh, nh);
    case_dir(df, nf);
    write_rounded(dh, kind, 1);
    write_rounded(df, kind, 0);
    gf_model *mh = load_ok(dh), *mf = load_ok(df), *mg = load_ok(td_path("golden/griffin"));
    assert_string_equal(gf_model_weight_dtype(mh), dtname);
    assert_string_equal(gf_model_weight_dtype(mf), "F32");
    /* Half storage roughly halves the mapped bytes. */
    assert_true(gf_model_weight_bytes(mh) < gf_model_weight_bytes(mf) * 6 / 10);
    gf_npy tok;
    td_npy(td_path("golden/griffin/tokens.npy"), &tok);
    size_t N = logits_count(mh, &tok);
    float *lh = prefill_logits(mh, &tok), *lf = prefill_logits(mf, &tok), *lg = prefill_logits(mg, &tok);
    double d = td_max_abs_diff(lh, lf, N), dg = td_max_abs_diff(lh, lg, N);
    print_message("    %s stored vs F32 holding the same values: max |dlogit| = %.3g (vs the "
                  "unrounded model: %.3g)\n", dtname, d, dg);
    if (!(d <= 1e-4)) fail_msg("%s logits differ from the F32 copy by %.3g", dtname, d);
    /* Rounding did change the weights (the comparison above is not vacuous). */
    assert_true(dg > 0);
    free(lh);
    free(lf);
    free(lg);
    gf_npy_free(&tok);
    gf_model_free(mh);
    gf_model_free(mf);
    gf_model_free(mg);
}

static void test_dtype_bf16(void **state) {
    (void)state;
    half_case(HALF_BF16, "BF16");
}

static void test_dtype_f16(void **state) {
    (void)state;
    /* The converter itself first. */
    assert_int_equal(f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(f32_to_f16(1e6f), 0x7c00);
    assert_int_equal(f32_to_f16(ldexpf(1.0f, -24)), 0x0001);
    assert_int_equal(f32_to_f16(ldexpf(1.0f, -26)), 0x0000);
    assert_int_equal(f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);     /* tie to even */
    assert_int_equal(f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02); /* tie to even */
    rng_state = 777;
    for (int i = 0; i < 10000; i++) {
        float x = (float)((double)(xrand() >> 11) / 9007199254740992.0 * 200.0 - 100.0);
        x = ldexpf(x, (int)(xrand() % 24) - 20);
        float y = gf_f16_to_f32(f32_to_f16(x));
        if (!(fabsf(y - x) <= fabsf(x) * 0x1p-11f + 0x1p-25f)) fail_msg("f16(%a) = %a", (double)x, (double)y);
    }
    half_case(HALF_F16, "F16");
}

/* ---- 14-20: config.json ------------------------------------------------- */

static cJSON *golden_config(void) {
    load_golden();
    cJSON *c = cJSON_ParseWithLength(G_cfg, G_cfg_n);
    assert_non_null(c);
    return c;
}

/* Both gf_config_load and gf_model_load refuse `text` as config.json. */
static void check_bad_config_text(const char *name, const char *text, const char *word) {
    char dir[4096], p[4096];
    load_golden();
    write_model_dir(dir, name, G.bytes, G.size);
    join(p, dir, "config.json");
    td_write(p, text, strlen(text));
    gf_config cfg;
    gf_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(gf_config_load(p, &cfg, &err), -1);
    expect_msg(&err, p, word);
    expect_load_fails(dir, p, word);
}

static void check_bad_config(const char *name, cJSON *c, const char *word) {
    char *text = cJSON_Print(c);
    cJSON_Delete(c);
    check_bad_config_text(name, text, word);
    free(text);
}

static void set_field(cJSON *c, const char *key, cJSON *v) {
    if (cJSON_GetObjectItemCaseSensitive(c, key)) cJSON_ReplaceItemInObjectCaseSensitive(c, key, v);
    else cJSON_AddItemToObject(c, key, v);
}


static void test_config_not_json(void **state) {
    (void)state;
    /* Control: the golden text itself loads through both paths. */
    char dir[4096], p[4096];
    load_golden();
    write_model_dir(dir, "cfg_ok", G.bytes, G.size);
    join(p, dir, "config.json");
    gf_config cfg;
    gf_error err;
    if (gf_config_load(p, &cfg, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(cfg.width, 64);
    gf_model_free(load_ok(dir));

    check_bad_config_text("cfg_cut", "{\"vocab_size\": 256, \"hidden_size\": ", "not valid JSON");
    check_bad_config_text("cfg_empty", "", "not valid JSON");
    check_bad_config_text("cfg_words", "hidden_size = 64", "not valid JSON");
    check_bad_config_text("cfg_array", "[1, 2, 3]", "top level is not a JSON object");
    check_bad_config_text("cfg_string", "\"config\"", "top level is not a JSON object");
    /* No config.json at all. */
    case_dir(dir, "cfg_absent");
    join(p, dir, "model.safetensors");
    td_write(p, G.bytes, G.size);
    join(p, dir, "config.json");
    expect_load_fails(dir, p, "cannot open");
}

static void test_config_missing_field(void **state) {
    (void)state;
    cJSON *c = golden_config();
    cJSON_DeleteItemFromObjectCaseSensitive(c, "hidden_size");
    check_bad_config("cfg_no_hidden", c, "missing field 'hidden_size'");
    c = golden_config();
    set_field(c, "vocab_size", cJSON_CreateNull());
    check_bad_config("cfg_null_vocab", c, "missing field 'vocab_size'");
    c = golden_config();
    cJSON_DeleteItemFromObjectCaseSensitive(c, "num_hidden_layers");
    check_bad_config("cfg_no_layers", c, "missing field 'num_hidden_layers'");
    c = golden_config();
    cJSON_DeleteItemFromObjectCaseSensitive(c, "block_types");
    cJSON_DeleteItemFromObjectCaseSensitive(c, "_block_types");
    check_bad_config("cfg_no_blocks", c, "missing field 'block_types'");
}

static void test_config_heads(void **state) {
    (void)state;
    cJSON *c = golden_config();
    set_field(c, "num_attention_heads", cJSON_CreateNumber(3));
    check_bad_config("cfg_heads3", c, "hidden_size 64 is not divisible by num_attention_heads 3");
    c = golden_config();
    set_field(c, "num_attention_heads", cJSON_CreateNumber(0));
    check_bad_config("cfg_heads0", c, "num_attention_heads must be positive");
    c = golden_config();
    set_field(c, "num_attention_heads", cJSON_CreateNumber(-2));
    check_bad_config("cfg_heads_neg", c, "num_attention_heads -2");
    c = golden_config();
    set_field(c, "lru_width", cJSON_CreateNumber(63));
    check_bad_config("cfg_lru63", c, "lru_width 63 is not divisible");
    c = golden_config();
    set_field(c, "head_dim", cJSON_CreateNumber(16));
    check_bad_config("cfg_head_dim", c, "head_dim 16 must equal");
    c = golden_config();
    set_field(c, "intermediate_size", cJSON_CreateNumber(385));
    check_bad_config("cfg_inter_odd", c, "intermediate_size 385");
}

static void test_config_window(void **state) {
    (void)state;
    cJSON *c = golden_config();
    set_field(c, "attention_window_size", cJSON_CreateNumber(0));
    check_bad_config("cfg_window0", c, "attention_window_size 0");
    c = golden_config();
    set_field(c, "attention_window_size", cJSON_CreateNumber(-5));
    check_bad_config("cfg_window_neg", c, "attention_window_size -5");
}

static void test_config_empty_blocks(void **state) {
    (void)state;
    cJSON *c = golden_config();
    set_field(c, "block_types", cJSON_CreateArray());
    check_bad_config("cfg_blocks_empty", c, "'block_types' is empty");
    /* block_types null falls back to _block_types, which is empty too. */
    c = golden_config();
    set_field(c, "block_types", cJSON_CreateNull());
    set_field(c, "_block_types", cJSON_CreateArray());
    check_bad_config("cfg_blocks_empty2", c, "'block_types' is empty");
}

static void test_config_unknown_block(void **state) {
    (void)state;
    cJSON *c = golden_config();
    const char *bt[] = {"recurrent", "mamba", "attention"};
    set_field(c, "block_types", cJSON_CreateStringArray(bt, 3));
    check_bad_config("cfg_block_mamba", c, "block_types[1] is 'mamba'");
    c = golden_config();
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(1));
    set_field(c, "block_types", a);
    check_bad_config("cfg_block_num", c, "block_types[0] is not a string");
}

static void test_config_wrong_type(void **state) {
    (void)state;
    struct { const char *key; cJSON *v; const char *word; } cases[] = {
        {"hidden_size", cJSON_CreateString("64"), "field 'hidden_size' must be an integer"},
        {"vocab_size", cJSON_CreateNumber(256.5), "field 'vocab_size' must be an integer"},
        {"num_hidden_layers", cJSON_CreateTrue(), "field 'num_hidden_layers' must be an integer"},
        {"attention_window_size", cJSON_CreateArray(), "field 'attention_window_size' must be an integer"},
        {"hidden_size", cJSON_CreateNumber(1e10), "field 'hidden_size' must be an integer"},
        {"conv1d_width", cJSON_CreateObject(), "field 'conv1d_width' must be an integer"},
        {"rms_norm_eps", cJSON_CreateString("1e-6"), "field 'rms_norm_eps' must be a finite number"},
        {"rms_norm_eps", cJSON_CreateNumber(1e39), "'rms_norm_eps'"},
        {"rope_theta", cJSON_CreateNumber(-1e300), "'rope_theta'"},
        {"block_types", cJSON_CreateString("recurrent"), "field 'block_types' must be a list"},
        {"vocab_size", cJSON_CreateNumber(0), "vocab_size 0 must be in"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "cfg_type_%zu", i);
        cJSON *c = golden_config();
        set_field(c, cases[i].key, cases[i].v);
        check_bad_config(name, c, cases[i].word);
    }
}

/* ---- 21-25: .npy -------------------------------------------------------- */

/* An .npy image: magic, version `major`, the dict padded to 64 bytes, data. */
static uint8_t *npy_image(int major, const char *dict, const void *data, size_t dlen, size_t *n) {
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
    uint8_t *b = malloc(total + dlen + 1);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (uint8_t)major;
    b[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) b[8 + i] = (uint8_t)(hlen >> (8 * i));
    memcpy(b + pre, dict, dl);
    memset(b + pre + dl, ' ', hlen - dl - 1);
    b[total - 1] = '\n';
    if (dlen) memcpy(b + total, data, dlen);
    *n = total + dlen;
    return b;
}

static void check_bad_npy_bytes(const char *name, const void *bytes, size_t n, const char *word) {
    char p[4096], file[128];
    snprintf(file, sizeof file, "%s.npy", name);
    join(p, td_tmpdir(), file);
    td_write(p, bytes, n);
    gf_npy a;
    gf_error err;
    memset(&err, 0, sizeof err);
    int rc = gf_npy_read(p, &a, &err);
    if (rc == 0) {
        gf_npy_free(&a);
        fail_msg("%s read; expected '%s'", p, word);
    }
    assert_int_equal(rc, -1);
    assert_null(a.data);
    expect_msg(&err, p, word);
}

static void check_bad_npy(const char *name, int major, const char *dict, size_t dlen, const char *word) {
    uint8_t data[256];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)i;
    assert_true(dlen <= sizeof data);
    size_t n;
    uint8_t *b = npy_image(major, dict, data, dlen, &n);
    check_bad_npy_bytes(name, b, n, word);
    free(b);
}

static void test_npy_dtype(void **state) {
    (void)state;
    /* Control: the same layout with a supported dtype reads. */
    size_t n;
    int32_t v[3] = {1, 2, 3};
    uint8_t *b = npy_image(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", v, 12, &n);
    char p[4096];
    join(p, td_tmpdir(), "npy_ok.npy");
    td_write(p, b, n);
    free(b);
    gf_npy a;
    gf_error err;
    if (gf_npy_read(p, &a, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(a.count, 3);
    assert_int_equal(((int32_t *)a.data)[2], 3);
    gf_npy_free(&a);

    check_bad_npy("npy_f8", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 24, "'<f8' is not supported");
    check_bad_npy("npy_be", 1, "{'descr': '>i4', 'fortran_order': False, 'shape': (3,), }", 12, "'>i4' is not supported");
    check_bad_npy("npy_bool", 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", 3, "'|b1' is not supported");
    check_bad_npy("npy_no_descr", 1, "{'fortran_order': False, 'shape': (3,), }", 12, "no 'descr'");
    check_bad_npy("npy_long_descr", 1, "{'descr': '<f4aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'fortran_order': False, 'shape': (3,), }", 12, "'descr' is malformed");
    check_bad_npy("npy_open_descr", 1, "{'descr': '<f4", 0, "'descr' is malformed");
}

static void test_npy_fortran(void **state) {
    (void)state;
    check_bad_npy("npy_fortran", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, "Fortran order");
    check_bad_npy("npy_no_order", 1, "{'descr': '<f4', 'shape': (2, 3), }", 24, "no 'fortran_order'");
}

static void test_npy_shape_lies(void **state) {
    (void)state;
    check_bad_npy("npy_more", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", 12,
                  "promises 16 data bytes but the file holds 12");
    check_bad_npy("npy_less", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", 20,
                  "promises 16 data bytes but the file holds 20");
    check_bad_npy("npy_more_2d", 1, "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }", 10,
                  "promises 12 data bytes but the file holds 10");
    check_bad_npy("npy_overflow", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", 16,
                  "promises");
    check_bad_npy("npy_entry_big", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 16,
                  "too large");
    check_bad_npy("npy_shape_neg", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", 16, "'shape' is malformed");
    check_bad_npy("npy_shape_open", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,", 16, "'shape' is malformed");
    check_bad_npy("npy_shape_list", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': [4], }", 16, "no 'shape' tuple");
    check_bad_npy("npy_rank9", 1, "{'descr': '<u2', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 2, "more than 8 dimensions");
}

static void test_npy_bad_magic(void **state) {
    (void)state;
    size_t n;
    uint8_t *b = npy_image(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", "abcd", 4, &n);
    b[5] = 'Z';
    check_bad_npy_bytes("npy_magic", b, n, "bad magic");
    check_bad_npy_bytes("npy_short", "\x93NUM", 4, "bad magic");
    check_bad_npy_bytes("npy_empty", "", 0, "bad magic");
    b[5] = 'Y';
    b[6] = 7;
    check_bad_npy_bytes("npy_version", b, n, "unsupported .npy version 7");
    free(b);
    check_bad_npy_bytes("npy_text", "descr,shape\nf4,3\n", 17, "bad magic");
}

static void test_npy_header_past_end(void **state) {
    (void)state;
    size_t n;
    uint8_t *b = npy_image(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", "abcd", 4, &n);
    b[8] = 0xe8; /* 1000 */
    b[9] = 0x03;
    check_bad_npy_bytes("npy_hlen_v1", b, n, "runs past the end");
    b[8] = 0;
    b[9] = 0;
    check_bad_npy_bytes("npy_hlen_zero", b, n, "not plausible");
    free(b);
    b = npy_image(2, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", "abcd", 4, &n);
    b[8] = 0x60; /* 60000 */
    b[9] = 0xea;
    check_bad_npy_bytes("npy_hlen_v2", b, n, "runs past the end");
    b[10] = 0xff;
    b[11] = 0xff;
    check_bad_npy_bytes("npy_hlen_v2_huge", b, n, "not plausible");
    check_bad_npy_bytes("npy_v2_cut", b, 11, "truncated .npy header");
    free(b);
    /* A NUL inside the header. */
    b = npy_image(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", "abcd", 4, &n);
    b[20] = 0;
    check_bad_npy_bytes("npy_hdr_nul", b, n, "NUL");
    free(b);
}

static void test_npy_round_trip(void **state) {
    (void)state;
    const size_t shapes[3][3] = {{7, 0, 0}, {3, 5, 0}, {2, 3, 4}};
    const gf_npy_dtype dts[3] = {GF_NPY_I32, GF_NPY_F32, GF_NPY_U16};
    const size_t esz[3] = {4, 4, 2};
    rng_state = 4242;
    for (int d = 0; d < 3; d++)
        for (int r = 1; r <= 3; r++) {
            size_t count = 1;
            for (int i = 0; i < r; i++) count *= shapes[r - 1][i];
            uint8_t *data = malloc(count * esz[d]);
            assert_non_null(data);
            for (size_t i = 0; i < count; i++) {
                if (dts[d] == GF_NPY_I32) ((int32_t *)data)[i] = (int32_t)(uint32_t)xrand();
                else if (dts[d] == GF_NPY_F32) ((float *)data)[i] = (float)((double)(int64_t)xrand() / 1e15);
                else ((uint16_t *)data)[i] = (uint16_t)xrand();
            }
            char p[4096], file[64];
            snprintf(file, sizeof file, "rt_%d_%d.npy", d, r);
            join(p, td_tmpdir(), file);
            gf_error err;
            if (gf_npy_write(p, dts[d], shapes[r - 1], r, data, &err) != 0) fail_msg("%s", err.msg);
            gf_npy a;
            if (gf_npy_read(p, &a, &err) != 0) fail_msg("%s", err.msg);
            assert_int_equal(a.dtype, dts[d]);
            assert_int_equal(a.ndim, r);
            for (int i = 0; i < r; i++) assert_int_equal(a.shape[i], shapes[r - 1][i]);
            assert_int_equal(a.count, count);
            assert_memory_equal(a.data, data, count * esz[d]);
            /* The header is 64-byte aligned, as NumPy writes it. */
            size_t fn;
            uint8_t *raw = td_read(p, &fn);
            assert_int_equal(fn % 64, (count * esz[d]) % 64);
            assert_int_equal(raw[fn - count * esz[d] - 1], '\n');
            free(raw);
            gf_npy_free(&a);
            free(data);
        }
}

/* ---- 26-27: running ----------------------------------------------------- */

static void test_token_out_of_vocab(void **state) {
    (void)state;
    gf_model *m = load_ok(td_path("golden/griffin"));
    int V = gf_model_config(m)->vocab_size;
    const int B = 2, T = 5;
    int32_t tok[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    float *l = malloc((size_t)B * T * V * sizeof *l);
    assert_non_null(l);
    gf_state *st = gf_state_new(m, B, NULL);
    assert_non_null(st);
    gf_error err;
    const int32_t bad[] = {V, -1, INT32_MAX, INT32_MIN, V + 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tok[7] = bad[i];
        memset(&err, 0, sizeof err);
        assert_int_equal(gf_prefill(m, B, T, tok, NULL, l, NULL, NULL, &err), -1);
        expect_msg(&err, NULL, "vocabulary");
        memset(&err, 0, sizeof err);
        assert_int_equal(gf_prefill(m, B, T, tok, NULL, l, NULL, st, &err), -1);
        expect_msg(&err, NULL, "vocabulary");
    }
    tok[7] = 8;
    if (gf_prefill(m, B, T, tok, NULL, l, NULL, st, &err) != 0) fail_msg("%s", err.msg);
    /* Decode: a bad id fails and leaves the state as it was. */
    int32_t d[2] = {3, V}, pos[2] = {5, 5};
    float *ld = malloc((size_t)B * V * sizeof *ld);
    assert_non_null(ld);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d[i % 2] = bad[i];
        d[1 - i % 2] = 3;
        memset(&err, 0, sizeof err);
        assert_int_equal(gf_decode_step(m, st, d, pos, ld, &err), -1);
        expect_msg(&err, NULL, "vocabulary");
        assert_int_equal(gf_state_num_tokens(st, 0), 5);
        assert_int_equal(gf_state_num_tokens(st, 1), 5);
    }
    d[0] = 0;
    d[1] = V - 1;
    if (gf_decode_step(m, st, d, pos, ld, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(gf_state_num_tokens(st, 0), 6);
    free(ld);
    free(l);
    gf_state_free(st);
    gf_model_free(m);
}

/* Logits of a prefill of all tokens, then of decoding them one by one. */
typedef struct {
    gf_npy tok;
    int B, T, V;
    float *prefill, *decode;
} run_out;

static void run_alloc(run_out *r, const char *name, const gf_model *m) {
    td_npy(td_path("golden/%s/tokens.npy", name), &r->tok);
    r->B = (int)r->tok.shape[0];
    r->T = (int)r->tok.shape[1];
    r->V = gf_model_config(m)->vocab_size;
    size_t N = (size_t)r->B * r->T * r->V;
    r->prefill = malloc(N * sizeof(float));
    r->decode = malloc(N * sizeof(float));
    assert_true(r->prefill && r->decode);
}

static void run_free(run_out *r) {
    free(r->prefill);
    free(r->decode);
    gf_npy_free(&r->tok);
}

static void decode_one(const gf_model *m, gf_state *st, run_out *r, int t, float *scratch) {
    int32_t tb[64], pb[64];
    assert_true(r->B <= 64);
    for (int b = 0; b < r->B; b++) {
        tb[b] = ((const int32_t *)r->tok.data)[(size_t)b * r->T + t];
        pb[b] = t;
    }
    gf_error err;
    if (gf_decode_step(m, st, tb, pb, scratch, &err) != 0) fail_msg("%s", err.msg);
    for (int b = 0; b < r->B; b++)
        memcpy(r->decode + ((size_t)b * r->T + t) * r->V, scratch + (size_t)b * r->V, (size_t)r->V * sizeof(float));
}

static void run_alone(const char *name, run_out *r) {
    gf_model *m = load_ok(td_path("golden/%s", name));
    run_alloc(r, name, m);
    gf_error err;
    if (gf_prefill(m, r->B, r->T, r->tok.data, NULL, r->prefill, NULL, NULL, &err) != 0) fail_msg("%s", err.msg);
    gf_state *st = gf_state_new(m, r->B, &err);
    float *scratch = malloc((size_t)r->B * r->V * sizeof(float));
    assert_true(st && scratch);
    for (int t = 0; t < r->T; t++) decode_one(m, st, r, t, scratch);
    free(scratch);
    gf_state_free(st);
    gf_model_free(m);
}

static void test_two_models(void **state) {
    (void)state;
    run_out ga, ha, gt, ht;
    run_alone("griffin", &ga);
    run_alone("hawk", &ha);
    gf_model *mg = load_ok(td_path("golden/griffin")), *mh = load_ok(td_path("golden/hawk"));
    assert_int_not_equal(gf_model_config(mg)->num_layers, gf_model_config(mh)->num_layers);
    run_alloc(&gt, "griffin", mg);
    run_alloc(&ht, "hawk", mh);
    gf_error err;
    gf_state *sg = gf_state_new(mg, gt.B, &err), *sh = gf_state_new(mh, ht.B, &err);
    float *scg = malloc((size_t)gt.B * gt.V * sizeof(float)), *sch = malloc((size_t)ht.B * ht.V * sizeof(float));
    assert_true(sg && sh && scg && sch);
    /* Prefill hawk into its state, then griffin, then decode both step by step
     * alternately, then prefill griffin again (its own state is live). */
    if (gf_prefill(mh, ht.B, ht.T, ht.tok.data, NULL, ht.prefill, NULL, sh, &err) != 0) fail_msg("%s", err.msg);
    if (gf_prefill(mg, gt.B, gt.T, gt.tok.data, NULL, gt.prefill, NULL, sg, &err) != 0) fail_msg("%s", err.msg);
    gf_state_reset(sg);
    gf_state_reset(sh);
    int T = gt.T > ht.T ? gt.T : ht.T;
    for (int t = 0; t < T; t++) {
        if (t < gt.T) decode_one(mg, sg, &gt, t, scg);
        if (t < ht.T) decode_one(mh, sh, &ht, t, sch);
    }
    size_t Ng = (size_t)gt.B * gt.T * gt.V, Nh = (size_t)ht.B * ht.T * ht.V;
    float *again = malloc(Ng * sizeof(float));
    assert_non_null(again);
    if (gf_prefill(mg, gt.B, gt.T, gt.tok.data, NULL, again, NULL, NULL, &err) != 0) fail_msg("%s", err.msg);
    double d[5] = {td_max_abs_diff(gt.prefill, ga.prefill, Ng), td_max_abs_diff(ht.prefill, ha.prefill, Nh),
                   td_max_abs_diff(gt.decode, ga.decode, Ng), td_max_abs_diff(ht.decode, ha.decode, Nh),
                   td_max_abs_diff(again, ga.prefill, Ng)};
    print_message("    interleaved vs alone: prefill g %.3g h %.3g, decode g %.3g h %.3g, re-prefill g %.3g\n",
                  d[0], d[1], d[2], d[3], d[4]);
    for (int i = 0; i < 5; i++)
        if (!(d[i] <= 1e-6)) fail_msg("interleaved run %d differs from the lone run by %.3g", i, d[i]);
    /* The two models do compute different things. */
    assert_true(td_max_abs_diff(ga.prefill, ha.prefill, Ng < Nh ? Ng : Nh) > 1e-3);
    free(again);
    free(scg);
    free(sch);
    gf_state_free(sg);
    gf_state_free(sh);
    gf_model_free(mg);
    gf_model_free(mh);
    run_free(&ga);
    run_free(&ha);
    run_free(&gt);
    run_free(&ht);
}

/* ---- random mutations: open cleanly or fail cleanly ---------------------- */

static uint8_t mutant_byte(void) {
    static const char interesting[] = "{}[]\",:0123456789-.eE \\";
    uint64_t r = xrand();
    if (r % 3 == 0) return (uint8_t)(r >> 8);
    return (uint8_t)interesting[(r >> 8) % (sizeof interesting - 1)];
}

static void test_fuzz_mutations(void **state) {
    (void)state;
    load_golden();
    rng_state = 2024;
    gf_error err;
    char p[4096];
    /* A small safetensors file: the golden 1-D tensors. */
    gf_st_file f;
    open_golden(&f);
    size_t n;
    gf_st_entry *e = golden_entries(&f, NULL, &n), *e1 = calloc(n, sizeof *e1);
    assert_non_null(e1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].ndim == 1) e1[k++] = e[i];
    join(p, td_tmpdir(), "fuzz_base.safetensors");
    if (gf_st_write(p, e1, k, &err) != 0) fail_msg("%s", err.msg);
    free(e);
    free(e1);
    gf_st_close(&f);
    size_t bn;
    uint8_t *base = td_read(p, &bn);
    size_t hl = (size_t)le64(base);
    uint8_t *mut = malloc(bn);
    assert_non_null(mut);
    join(p, td_tmpdir(), "fuzz.safetensors");
    int opened = 0, refused = 0;
    for (int it = 0; it < 400; it++) {
        memcpy(mut, base, bn);
        int edits = 1 + (int)(xrand() % 4);
        for (int j = 0; j < edits; j++) {
            size_t at = it % 10 == 0 ? xrand() % 8 : 8 + xrand() % hl;
            mut[at] = it % 10 == 0 ? (uint8_t)xrand() : mutant_byte();
        }
        td_write(p, mut, bn);
        memset(&err, 0, sizeof err);
        if (gf_st_open(p, &f, &err) == 0) {
            size_t data_size = bn - 8 - (size_t)le64(mut);
            for (size_t i = 0; i < f.count; i++) {
                const gf_st_tensor *t = &f.tensors[i];
                assert_true(t->begin <= t->end && t->end <= data_size);
                assert_int_equal(t->nbytes, t->end - t->begin);
                assert_true((const uint8_t *)t->data >= (const uint8_t *)f.map.data &&
                            (const uint8_t *)t->data + t->nbytes <= (const uint8_t *)f.map.data + f.map.size);
            }
            gf_st_close(&f);
            opened++;
        } else {
            if (!strstr(err.msg, p) || strchr(err.msg, '\n')) fail_msg("bad message: %s", err.msg);
            refused++;
        }
    }
    print_message("    safetensors mutants: %d opened, %d refused\n", opened, refused);
    assert_true(refused > 100);
    free(mut);
    free(base);

    /* config.json mutants. */
    join(p, td_tmpdir(), "fuzz_config.json");
    char *cm = malloc(G_cfg_n + 1);
    assert_non_null(cm);
    opened = refused = 0;
    for (int it = 0; it < 400; it++) {
        memcpy(cm, G_cfg, G_cfg_n);
        int edits = 1 + (int)(xrand() % 3);
        for (int j = 0; j < edits; j++) cm[xrand() % G_cfg_n] = (char)mutant_byte();
        td_write(p, cm, G_cfg_n);
        gf_config cfg;
        memset(&err, 0, sizeof err);
        if (gf_config_load(p, &cfg, &err) == 0) {
            if (gf_config_validate(&cfg, "mutant", &err) != 0) fail_msg("loaded but invalid: %s", err.msg);
            opened++;
        } else {
            if (!strstr(err.msg, p) || strchr(err.msg, '\n')) fail_msg("bad message: %s", err.msg);
            refused++;
        }
    }
    print_message("    config.json mutants: %d loaded, %d refused\n", opened, refused);
    assert_true(refused > 100);
    free(cm);

    /* .npy mutants of tokens.npy (header bytes). */
    size_t nn;
    uint8_t *nb = td_read(td_path("golden/griffin/tokens.npy"), &nn), *nm = malloc(nn);
    assert_non_null(nm);
    size_t hdr_end = 10 + (size_t)nb[8] + ((size_t)nb[9] << 8);
    assert_true(hdr_end < nn);
    join(p, td_tmpdir(), "fuzz.npy");
    opened = refused = 0;
    for (int it = 0; it < 400; it++) {
        memcpy(nm, nb, nn);
        int edits = 1 + (int)(xrand() % 3);
        for (int j = 0; j < edits; j++) nm[xrand() % hdr_end] = mutant_byte();
        size_t len = it % 5 == 0 ? xrand() % nn : nn;
        td_write(p, nm, len);
        gf_npy a;
        memset(&err, 0, sizeof err);
        if (gf_npy_read(p, &a, &err) == 0) {
            size_t es = a.dtype == GF_NPY_U16 ? 2 : 4, c = 1;
            for (int i = 0; i < a.ndim; i++) c *= a.shape[i];
            assert_int_equal(c, a.count);
            assert_true(a.count * es <= len);
            gf_npy_free(&a);
            opened++;
        } else {
            if (!strstr(err.msg, p) || strchr(err.msg, '\n')) fail_msg("bad message: %s", err.msg);
            refused++;
        }
    }
    print_message("    .npy mutants: %d read, %d refused\n", opened, refused);
    assert_true(refused > 100);
    free(nb);
    free(nm);
}

/* Removes what the tests wrote (tens of MB of model copies). */
static void remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
                char sub[4096];
                if (snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) < (int)sizeof sub) remove_tree(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void cleanup(void) { remove_tree(td_tmpdir()); }

int main(void) {
    atexit(cleanup);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_st_empty),
        cmocka_unit_test(test_st_truncated),
        cmocka_unit_test(test_st_garbage),
        cmocka_unit_test(test_st_header_length_past_end),
        cmocka_unit_test(test_st_header_not_json),
        cmocka_unit_test(test_st_offsets_outside),
        cmocka_unit_test(test_st_overlap),
        cmocka_unit_test(test_st_size_mismatch),
        cmocka_unit_test(test_st_dtype),
        cmocka_unit_test(test_st_missing_tensor),
        cmocka_unit_test(test_st_wrong_shape),
        cmocka_unit_test(test_st_sharded),
        cmocka_unit_test(test_dtype_bf16),
        cmocka_unit_test(test_dtype_f16),
        cmocka_unit_test(test_config_not_json),
        cmocka_unit_test(test_config_missing_field),
        cmocka_unit_test(test_config_heads),
        cmocka_unit_test(test_config_window),
        cmocka_unit_test(test_config_empty_blocks),
        cmocka_unit_test(test_config_unknown_block),
        cmocka_unit_test(test_config_wrong_type),
        cmocka_unit_test(test_npy_dtype),
        cmocka_unit_test(test_npy_fortran),
        cmocka_unit_test(test_npy_shape_lies),
        cmocka_unit_test(test_npy_bad_magic),
        cmocka_unit_test(test_npy_header_past_end),
        cmocka_unit_test(test_npy_round_trip),
        cmocka_unit_test(test_token_out_of_vocab),
        cmocka_unit_test(test_two_models),
        cmocka_unit_test(test_fuzz_mutations),
    };
    return cmocka_run_group_tests_name("model_io", tests, NULL, NULL);
}
