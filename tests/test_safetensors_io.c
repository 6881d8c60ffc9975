/* Hostile safetensors files: the reader (gf_st_open) and the model loader must
 * refuse an empty, truncated or garbage file, a header length past the end, a
 * header that is not JSON or does not describe tensors, offsets outside the
 * data, overlapping or disagreeing with dtype x shape, and unknown dtypes, with
 * -1 / NULL and one line that names the file and the problem, without crashing,
 * hanging or reading out of bounds (run under ASan + UBSan by `make test`);
 * random mutations of a safetensors file open cleanly or fail cleanly.
 *
 * Every hostile file is made at test time in td_tmpdir() from the bytes of the
 * golden griffin model directory; nothing generated is committed. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hostile.h"
#include "formats/safetensors.h"
#include "testutil.h"

/* ---- building headers --------------------------------------------------- */

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

static void expect_st_fails(const char *path, const char *word) {
    gf_error err = {0};
    gf_st_file f;
    int rc = gf_st_open(path, &f, &err);
    if (rc == 0) gf_st_close(&f);
    expect_refused(rc, &err, path, word);
    assert_null(f.tensors);
    assert_null(f.map.data);
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

/* ---- 1-9: safetensors --------------------------------------------------- */

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

/* ---- random mutations: open cleanly or fail cleanly ---------------------- */

/* ctx: the header length of the base file. */
static size_t mutate_st(uint8_t *mut, size_t n, int it, const void *ctx) {
    size_t hl = *(const size_t *)ctx;
    int edits = 1 + (int)(xrand() % 4);
    for (int j = 0; j < edits; j++) {
        size_t at = it % 10 == 0 ? xrand() % 8 : 8 + xrand() % hl;
        mut[at] = it % 10 == 0 ? (uint8_t)xrand() : mutant_byte();
    }
    return n;
}

static int open_st_mutant(const char *p, const uint8_t *mut, size_t bn, gf_error *err, const void *ctx) {
    gf_st_file f;
    int rc = gf_st_open(p, &f, err);
    if (rc == 0) {
        size_t data_size = bn - 8 - (size_t)le64(mut);
        for (size_t i = 0; i < f.count; i++) {
            const gf_st_tensor *t = &f.tensors[i];
            assert_true(t->begin <= t->end && t->end <= data_size);
            assert_int_equal(t->nbytes, t->end - t->begin);
            assert_true((const uint8_t *)t->data >= (const uint8_t *)f.map.data &&
                        (const uint8_t *)t->data + t->nbytes <= (const uint8_t *)f.map.data + f.map.size);
        }
        gf_st_close(&f);
    }
    return rc;
}

static void test_st_fuzz_mutations(void **state) {
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
    const mutant_family fam = {"safetensors", "opened", base, bn, mutate_st, open_st_mutant, &hl};
    fuzz_reader(&fam, "fuzz.safetensors");
    free(base);
}

int main(void) {
    atexit(td_remove_tmpdir);
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
        cmocka_unit_test(test_st_fuzz_mutations),
    };
    return cmocka_run_group_tests_name("safetensors_io", tests, NULL, NULL);
}
