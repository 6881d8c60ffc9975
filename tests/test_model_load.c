/* Hostile and valid model directories: gf_model_load must refuse a missing
 * tensor, a wrong shape, a bad sharded index or shard, and a config.json that
 * is not JSON, lacks a field or is inconsistent, and prefill/decode must refuse
 * token ids outside the vocabulary, with -1 / NULL and one line that names the
 * file and the problem, without crashing, hanging or reading out of bounds (run
 * under ASan + UBSan by `make test`); random mutations of config.json load
 * cleanly or fail cleanly.
 *
 * Every model directory is made at test time in td_tmpdir() from the bytes of
 * the golden griffin model directory; nothing generated is committed. The
 * valid variants (a 2-shard split, BF16 / F16 storage, two models at once) must
 * give the logits of the originals. */
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostile.h"
#include "model/model.h"
#include "formats/safetensors.h"
#include "testutil.h"
#include "util.h"

/* ---- running models ----------------------------------------------------- */

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

/* ---- 10-12: tensors in the model directory ------------------------------ */

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

/* gf_model_copy_weights on m: every product matrix's bytes copied (half or
 * more of what the files map: the small vectors stay), logits equal to
 * `before` bit for bit, and a second call changing nothing. */
static void copy_same_logits(gf_model *m, const gf_npy *tok, const float *before) {
    gf_error err;
    assert_int_equal(gf_model_copied_bytes(m), 0);
    assert_int_equal(gf_model_copy_weights(m, &err), 0);
    size_t copied = gf_model_copied_bytes(m);
    assert_true(copied >= gf_model_weight_bytes(m) / 2 && copied <= gf_model_weight_bytes(m) + (1u << 12));
    /* the matrices now read the copy, not the mapping (whose released pages
     * would read back the same values) */
    const uint8_t *lo = m->copied, *hi = m->copied + m->copied_bytes, *e = m->embed.data, *d = m->layers[0].down.data;
    assert_true(e >= lo && e < hi && d >= lo && d < hi);
    float *after = prefill_logits(m, tok);
    assert_memory_equal(after, before, logits_count(m, tok) * sizeof *after);
    assert_int_equal(gf_model_copy_weights(m, &err), 0);
    assert_int_equal(gf_model_copied_bytes(m), copied);
    free(after);
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
    /* the stored values against the same values in F32: float inputs for
     * both (BF16's bfloat16 inputs are test_quantize's) */
    gf_model_set_narrow_inputs(mh, 0);
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
    /* Copied out of the mapping (gf_model_copy_weights), both read the same
     * values: the same logits to the bit. */
    copy_same_logits(mh, &tok, lh);
    copy_same_logits(mf, &tok, lf);
    free(lh);
    free(lf);
    free(lg);
    gf_npy_free(&tok);
    gf_model_free(mh);
    gf_model_free(mf);
    gf_model_free(mg);
}

/* A trainable's model reads its parameters, not a file: the copy takes
 * nothing and releases nothing (MADV_DONTNEED there would zero them). */
static void test_copy_weights_trainable(void **state) {
    (void)state;
    gf_trainable *t = td_golden_trainable("griffin");
    gf_model *m = (gf_model *)gf_trainable_model(t);
    gf_npy tok;
    td_npy(td_path("golden/griffin/tokens.npy"), &tok);
    float *before = prefill_logits(m, &tok);
    gf_error err;
    assert_int_equal(gf_model_copy_weights(m, &err), 0);
    assert_int_equal(gf_model_copied_bytes(m), 0);
    float *after = prefill_logits(m, &tok);
    assert_memory_equal(after, before, logits_count(m, &tok) * sizeof *after);
    free(before);
    free(after);
    gf_npy_free(&tok);
    gf_trainable_free(t);
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

static size_t mutate_config(uint8_t *cm, size_t n, int it, const void *ctx) {
    int edits = 1 + (int)(xrand() % 3);
    for (int j = 0; j < edits; j++) {
        uint8_t v = mutant_byte(); /* the value is drawn before the place */
        cm[xrand() % n] = v;
    }
    return n;
}

static int load_config_mutant(const char *p, const uint8_t *cm, size_t n, gf_error *err, const void *ctx) {
    gf_config cfg;
    int rc = gf_config_load(p, &cfg, err);
    if (rc == 0 && gf_config_validate(&cfg, "mutant", err) != 0) fail_msg("loaded but invalid: %s", err->msg);
    return rc;
}

/* ---- non-finite weights ------------------------------------------------- */

/* The first-NaN-or-Inf search of every float dtype, with bad elements in
 * the second and third of its 65536-element chunks (the parallel pass must
 * report the earlier one) and finite extremes elsewhere. */
static void test_first_nonfinite(void **state) {
    (void)state;
    const size_t n = 3 * 65536 + 5;
    float *f = calloc(n, sizeof *f);
    uint16_t *b = calloc(n, sizeof *b), *h = calloc(n, sizeof *h);
    assert_true(f && b && h);
    f[0] = FLT_MAX;
    f[1] = -FLT_MAX;
    f[2] = 1e-45f;
    f[3] = -0.0f;
    b[0] = 0x7f7f; /* the largest finite BF16 */
    b[1] = 0xff7f;
    h[0] = 0x7bff; /* 65504, the largest F16 */
    h[1] = 0x0001;
    assert_int_equal(gf_first_nonfinite(f, GF_DT_F32, n), n);
    assert_int_equal(gf_first_nonfinite(b, GF_DT_BF16, n), n);
    assert_int_equal(gf_first_nonfinite(h, GF_DT_F16, n), n);
    assert_int_equal(gf_first_nonfinite(f, GF_DT_I8, n), n); /* codes: nothing to check */
    size_t first = 65536 + 77, later = 2 * 65536 + 3;
    f[first] = NAN;
    f[later] = -INFINITY;
    b[first] = 0xff80; /* -Inf */
    b[later] = 0x7fc0; /* NaN */
    h[first] = 0x7c00; /* +Inf */
    h[later] = 0x7e00; /* NaN */
    assert_int_equal(gf_first_nonfinite(f, GF_DT_F32, n), first);
    assert_int_equal(gf_first_nonfinite(b, GF_DT_BF16, n), first);
    assert_int_equal(gf_first_nonfinite(h, GF_DT_F16, n), first);
    /* the last element alone, and a short run */
    f[first] = 0.0f;
    f[later] = 0.0f;
    f[n - 1] = INFINITY;
    assert_int_equal(gf_first_nonfinite(f, GF_DT_F32, n), n - 1);
    assert_int_equal(gf_first_nonfinite(f + n - 3, GF_DT_F32, 3), 2);
    free(f);
    free(b);
    free(h);
}

/* Writes v into element i of tensor `name` of dir/model.safetensors, in the
 * tensor's dtype (F32, BF16 or F16). */
static void poison(const char *dir, const char *name, size_t i, float v) {
    char p[4096];
    join(p, dir, "model.safetensors");
    gf_st_file f;
    gf_error err;
    if (gf_st_open(p, &f, &err) != 0) fail_msg("%s", err.msg);
    const gf_st_tensor *t = gf_st_find(&f, name);
    if (!t) fail_msg("%s: no tensor %s", p, name);
    assert_true(i < t->numel);
    size_t es = gf_dtype_size(t->dtype), off = (size_t)((const uint8_t *)t->data - (const uint8_t *)f.map.data) + i * es;
    uint8_t bytes[4];
    uint32_t u;
    memcpy(&u, &v, 4);
    if (t->dtype == GF_DT_F32) memcpy(bytes, &u, 4);
    else if (t->dtype == GF_DT_BF16) {
        uint16_t x = (uint16_t)(u >> 16);
        memcpy(bytes, &x, 2);
    } else {
        assert_int_equal(t->dtype, GF_DT_F16);
        uint16_t x = (uint16_t)(v != v ? 0x7e00 : v > 0 ? 0x7c00 : 0xfc00);
        memcpy(bytes, &x, 2);
    }
    gf_st_close(&f);
    size_t n;
    uint8_t *all = td_read(p, &n);
    assert_true(off + es <= n);
    memcpy(all + off, bytes, es);
    td_write(p, all, n);
    free(all);
}

/* A model whose file holds a NaN or an infinity is refused at load, in one
 * line naming the file, the tensor, the value and its first element: F32
 * matrices and vectors, BF16, and the F16 scales of Q8 and Q4 models. The
 * quantiser refuses such a model too, and a stray float tensor it would
 * carry along. */
static void test_nonfinite_weights_refused(void **state) {
    (void)state;
    load_golden();
    char dir[4096], p[4096], want[512];
    write_model_dir(dir, "nan_f32", G.bytes, G.size);
    join(p, dir, "model.safetensors");
    poison(dir, "model.layers.1.mlp_block.down_proj.weight", 200, NAN); /* [64, 192]: row 1, column 8 */
    expect_load_fails(dir, p, "tensor 'model.layers.1.mlp_block.down_proj.weight' holds NaN at element 200 (row 1, column 8)");
    /* the quantiser (through the loader) and the CLI say the same */
    char out[4096];
    case_dir(out, "nan_f32_q8");
    gf_error err;
    assert_int_equal(gf_model_quantize(dir, out, GF_QUANT_Q8, NULL, NULL, &err), -1);
    td_expect_one_line(&err, "model.layers.1.mlp_block.down_proj.weight");
    char args[9000];
    snprintf(args, sizeof args, "quantize --model %s --out %s --type q4", dir, out);
    td_expect_cli_error(args, "model.layers.1.mlp_block.down_proj.weight", "NaN at element 200");
    snprintf(args, sizeof args, "generate --model %s --prompt-ids 2,3 -n 3", dir);
    td_expect_cli_error(args, "model.layers.1.mlp_block.down_proj.weight", "non-finite");

    /* finite but huge weights pass the load check; the products overflow,
     * and generate stops at the first logits, never sampling them */
    write_model_dir(dir, "huge_f32", G.bytes, G.size);
    for (size_t i = 0; i < 64 * 192; i += 7) poison(dir, "model.layers.0.mlp_block.down_proj.weight", i, i % 2 ? 3e38f : -3e38f);
    gf_model *hm = gf_model_load(dir, &err);
    if (!hm) fail_msg("%s", err.msg);
    gf_model_free(hm);
    /* (stderr also has generate's "griffin: seed N" line) */
    snprintf(args, sizeof args, "%s generate --model %s --prompt-ids 2,3 -n 3", td_bin(), dir);
    char serr[2048];
    assert_int_equal(td_run(args, serr, sizeof serr), 1);
    const char *line = strstr(serr, "griffin: error: ");
    if (!line || !strstr(line, "decode step 1: non-finite logits") || strchr(line, '\n') != line + strlen(line) - 1)
        fail_msg("generate of a model with overflowing weights: %s", serr);

    write_model_dir(dir, "inf_vec", G.bytes, G.size);
    join(p, dir, "model.safetensors");
    poison(dir, "model.final_norm.weight", 3, -INFINITY);
    expect_load_fails(dir, p, "tensor 'model.final_norm.weight' holds -Inf at element 3:");
    write_model_dir(dir, "inf_gate", G.bytes, G.size);
    join(p, dir, "model.safetensors");
    poison(dir, "model.layers.0.temporal_block.rg_lru.input_gate_weight", 1000, INFINITY);
    expect_load_fails(dir, p, "tensor 'model.layers.0.temporal_block.rg_lru.input_gate_weight' holds +Inf at element 1000");

    /* BF16, and the scales of Q8 and Q4 (their codes are integers) */
    static const struct {
        gf_quant_type type;
        const char *dir, *tensor;
        float v;
        const char *what;
    } q[] = {{GF_QUANT_BF16, "nan_bf16", "model.layers.2.temporal_block.o_proj.weight", INFINITY, "+Inf"},
             {GF_QUANT_Q8, "nan_q8", "model.layers.0.mlp_block.up_proj.weight_scale", NAN, "NaN"},
             {GF_QUANT_Q4, "nan_q4", "model.embed_tokens.weight_scale", -INFINITY, "-Inf"}};
    for (size_t k = 0; k < sizeof q / sizeof q[0]; k++) {
        case_dir(dir, q[k].dir);
        if (gf_model_quantize(td_path("golden/griffin"), dir, q[k].type, NULL, NULL, &err)) fail_msg("%s", err.msg);
        gf_model *m = gf_model_load(dir, &err); /* loads before the damage */
        if (!m) fail_msg("%s", err.msg);
        gf_model_free(m);
        poison(dir, q[k].tensor, 5, q[k].v);
        join(p, dir, "model.safetensors");
        snprintf(want, sizeof want, "tensor '%s' holds %s at element 5 (row ", q[k].tensor, q[k].what);
        expect_load_fails(dir, p, want);
    }

    /* a float tensor outside the model's table: the loader never reads it,
     * the quantiser would copy it */
    gf_st_file f;
    open_golden(&f);
    size_t n;
    gf_st_entry *e = golden_entries(&f, NULL, &n);
    gf_st_entry *e2 = realloc(e, (n + 1) * sizeof *e2);
    assert_non_null(e2);
    static const float extra[4] = {1.0f, 2.0f, NAN, 4.0f};
    e2[n] = (gf_st_entry){"extra.stats", GF_DT_F32, 1, {4}, extra};
    case_dir(dir, "nan_extra");
    join(p, dir, "config.json");
    td_write(p, G_cfg, G_cfg_n);
    join(p, dir, "model.safetensors");
    if (gf_st_write(p, e2, n + 1, &err)) fail_msg("%s", err.msg);
    free(e2);
    gf_st_close(&f);
    gf_model *m = gf_model_load(dir, &err);
    if (!m) fail_msg("%s", err.msg);
    gf_model_free(m);
    case_dir(out, "nan_extra_bf16");
    assert_int_equal(gf_model_quantize(dir, out, GF_QUANT_BF16, NULL, NULL, &err), -1);
    td_expect_one_line(&err, "tensor 'extra.stats' holds NaN at element 2");
}

static void test_config_fuzz_mutations(void **state) {
    (void)state;
    load_golden();
    /* Seed 2024 advanced past the 400 safetensors mutants of test_safetensors_io:
     * the config.json mutants are the ones tried when both ran as one test. */
    rng_state = 0xa75118f5cfbd52c7ull;
    const mutant_family fam = {"config.json", "loaded", (const uint8_t *)G_cfg, G_cfg_n,
                               mutate_config, load_config_mutant, NULL};
    fuzz_reader(&fam, "fuzz_config.json");
}

int main(void) {
    atexit(td_remove_tmpdir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_st_missing_tensor),
        cmocka_unit_test(test_st_wrong_shape),
        cmocka_unit_test(test_st_sharded),
        cmocka_unit_test(test_dtype_bf16),
        cmocka_unit_test(test_copy_weights_trainable),
        cmocka_unit_test(test_dtype_f16),
        cmocka_unit_test(test_config_not_json),
        cmocka_unit_test(test_config_missing_field),
        cmocka_unit_test(test_config_heads),
        cmocka_unit_test(test_config_window),
        cmocka_unit_test(test_config_empty_blocks),
        cmocka_unit_test(test_config_unknown_block),
        cmocka_unit_test(test_config_wrong_type),
        cmocka_unit_test(test_token_out_of_vocab),
        cmocka_unit_test(test_two_models),
        cmocka_unit_test(test_config_fuzz_mutations),
        cmocka_unit_test(test_first_nonfinite),
        cmocka_unit_test(test_nonfinite_weights_refused),
    };
    return cmocka_run_group_tests_name("model_load", tests, NULL, NULL);
}
