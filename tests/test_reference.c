/* griffin against reference/griffin_ref.py, an independent float64 PyTorch
 * implementation written from the spec: first the reference is checked
 * against the official golden logits, then the engine against the reference
 * on shapes and options the golden models lack (lru_width != width, 8 heads
 * of 4 dims, windows shorter than the sequence, conv width 3, no soft cap, no
 * embedding scale, BF16 storage, packed documents), with every norm and bias
 * non-zero. Needs Debian's python3-torch (tools/install-deps.sh --reference);
 * without it the tests report themselves skipped.
 *
 * Tolerance 1e-4 on logits: float32 against float64 on models of this size
 * differ by ~1e-5 (measured below), as the official float32 code does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "testutil.h"
#include "util.h"

#define TOL 1e-4

static const char *python(void) {
    const char *p = getenv("GRIFFIN_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

static void require_torch(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s -c 'import torch, numpy'", python());
    if (td_run(cmd, NULL, 0) != 0) {
        print_message("    %s cannot import torch: install python3-torch (tools/install-deps.sh --reference)\n", python());
        skip();
    }
}

/* Runs the reference; returns its logits (caller frees). */
static void run_reference(const char *model, const char *tokens, const char *pos, gf_npy *out) {
    char cmd[8192], err[4096], dst[512];
    snprintf(dst, sizeof dst, "%s/ref_logits.npy", td_tmpdir());
    snprintf(cmd, sizeof cmd, "%s reference/griffin_ref.py %s %s %s %s", python(), model, tokens, pos ? pos : "", dst);
    int rc = td_run(cmd, err, sizeof err);
    if (rc != 0) fail_msg("reference failed (%d): %s", rc, err);
    td_npy(dst, out);
}

static void compare(const char *what, const float *got, const gf_npy *want, size_t n) {
    assert_int_equal(want->count, n);
    double d = td_max_abs_diff(got, want->data, n);
    print_message("    %-36s max |dlogit| = %.3g\n", what, d);
    if (!(d <= TOL)) fail_msg("%s: max |dlogit| %.3g > %g", what, d, TOL);
}

static void test_reference_matches_golden(void **state) {
    (void)state;
    require_torch();
    const char *models[] = {"griffin", "hawk", "mqa"};
    for (int i = 0; i < 3; i++) {
        const char *m = models[i];
        gf_npy ref, gold;
        run_reference(td_path("golden/%s", m), td_path("golden/%s/tokens.npy", m), NULL, &ref);
        td_npy(td_path("golden/%s/logits_prefill.npy", m), &gold);
        char what[64];
        snprintf(what, sizeof what, "reference vs official %s", m);
        compare(what, ref.data, &gold, gold.count);
        gf_npy_free(&ref);
        gf_npy_free(&gold);
        run_reference(td_path("golden/%s", m), td_path("golden/%s/tokens.npy", m),
                      td_path("golden/%s/segment_pos_reset.npy", m), &ref);
        td_npy(td_path("golden/%s/logits_reset.npy", m), &gold);
        snprintf(what, sizeof what, "reference vs official %s, packed", m);
        compare(what, ref.data, &gold, gold.count);
        gf_npy_free(&ref);
        gf_npy_free(&gold);
    }
}

/* Writes a model for cfg_json into dir: griffin's init, then every vector
 * (norms, biases) filled with noise and the conv made larger, so that no term
 * of the computation vanishes; stored as dtype. */
static void make_model(const char *cfg_json, const char *dir, gf_dtype dtype, uint64_t seed) {
    char p[1024], tmp[600];
    gf_config c;
    gf_error err;
    snprintf(p, sizeof p, "%s/cfg.json", td_tmpdir());
    td_write(p, cfg_json, strlen(cfg_json));
    if (gf_config_load(p, &c, &err)) fail_msg("%s", err.msg);
    snprintf(tmp, sizeof tmp, "%s.init", dir);
    if (gf_model_init_write(&c, seed, tmp, &err)) fail_msg("%s", err.msg);
    gf_st_file f;
    snprintf(p, sizeof p, "%s/model.safetensors", tmp);
    if (gf_st_open(p, &f, &err)) fail_msg("%s", err.msg);
    gf_st_entry *e = calloc(f.count, sizeof *e);
    void **bufs = calloc(f.count, sizeof *bufs);
    uint64_t rng[4];
    gf_rng_seed(rng, seed + 99);
    for (size_t i = 0; i < f.count; i++) {
        const gf_st_tensor *t = &f.tensors[i];
        float *x = malloc(t->numel * sizeof *x);
        memcpy(x, t->data, t->numel * sizeof *x);
        int vec = strstr(t->name, "bias") || strstr(t->name, "norm.weight");
        for (size_t k = 0; k < t->numel; k++) {
            if (vec) x[k] = (float)(0.3 * gf_rng_normal(rng));
            else if (strstr(t->name, "conv_1d.weight")) x[k] *= 6.0f;
        }
        e[i].name = t->name;
        e[i].dtype = dtype;
        e[i].ndim = t->ndim;
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
        if (dtype == GF_DT_BF16) {
            uint16_t *h = malloc(t->numel * sizeof *h);
            for (size_t k = 0; k < t->numel; k++) h[k] = gf_f32_to_bf16(x[k]);
            free(x);
            bufs[i] = h;
        } else {
            bufs[i] = x;
        }
        e[i].data = bufs[i];
    }
    if (gf_mkdir_p(dir, &err)) fail_msg("%s", err.msg);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (gf_st_write(p, e, f.count, &err)) fail_msg("%s", err.msg);
    snprintf(p, sizeof p, "%s/config.json", dir);
    if (gf_config_save(&c, p, &err)) fail_msg("%s", err.msg);
    for (size_t i = 0; i < f.count; i++) free(bufs[i]);
    free(bufs);
    free(e);
    gf_st_close(&f);
}

static void engine_vs_reference(const char *name, const char *cfg_json, gf_dtype dtype) {
    char dir[512], tp[600], pp[600];
    snprintf(dir, sizeof dir, "%s/%s", td_tmpdir(), name);
    make_model(cfg_json, dir, dtype, 5);
    gf_error err;
    gf_model *m = gf_model_load(dir, &err);
    if (!m) fail_msg("%s", err.msg);
    /* the reference multiplies the stored weights by float inputs: so does
     * the engine here (narrow inputs are test_quantize's) */
    gf_model_set_narrow_inputs(m, 0);
    enum { B = 2, T = 19 };
    int V = gf_model_config(m)->vocab_size;
    int32_t tok[B * T], pos[B * T];
    uint64_t rng[4];
    gf_rng_seed(rng, 17);
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)(gf_rng_next(rng) % (uint64_t)V);
    for (int t = 0; t < T; t++) {
        pos[t] = t < 7 ? t : t - 7; /* row 0: two documents, the second at index 7 */
        pos[T + t] = t;
    }
    size_t shape[2] = {B, T};
    snprintf(tp, sizeof tp, "%s/tokens.npy", dir);
    snprintf(pp, sizeof pp, "%s/pos.npy", dir);
    if (gf_npy_write(tp, GF_NPY_I32, shape, 2, tok, &err) || gf_npy_write(pp, GF_NPY_I32, shape, 2, pos, &err))
        fail_msg("%s", err.msg);
    float *logits = malloc(sizeof(float) * B * T * (size_t)V);
    if (gf_prefill(m, B, T, tok, pos, logits, NULL, NULL, &err)) fail_msg("%s", err.msg);
    gf_npy ref;
    run_reference(dir, tp, pp, &ref);
    char what[128];
    snprintf(what, sizeof what, "engine vs reference: %s", name);
    compare(what, logits, &ref, (size_t)B * T * V);
    gf_npy_free(&ref);
    free(logits);
    gf_model_free(m);
}

static void test_griffin_odd_shapes_bf16(void **state) {
    (void)state;
    require_torch();
    engine_vs_reference("griffin-L48-w5-bf16",
        "{\"vocab_size\": 97, \"hidden_size\": 32, \"intermediate_size\": 80,"
        " \"num_hidden_layers\": 5, \"num_attention_heads\": 4, \"lru_width\": 48,"
        " \"attention_window_size\": 5, \"logits_soft_cap\": 30.0,"
        " \"block_types\": [\"recurrent\", \"recurrent\", \"attention\"]}", GF_DT_BF16);
}

static void test_hawk_conv3_no_cap_no_scale(void **state) {
    (void)state;
    require_torch();
    engine_vs_reference("hawk-conv3-nocap",
        "{\"vocab_size\": 61, \"hidden_size\": 24, \"intermediate_size\": 96,"
        " \"num_hidden_layers\": 3, \"num_attention_heads\": 2, \"lru_width\": 40,"
        " \"attention_window_size\": 4, \"conv1d_width\": 3, \"logits_soft_cap\": 0.0,"
        " \"embeddings_scale_by_sqrt_dim\": false, \"block_types\": [\"recurrent\"]}", GF_DT_F32);
}

static void test_mqa_sliding_window(void **state) {
    (void)state;
    require_torch();
    engine_vs_reference("mqa-8heads-w3",
        "{\"vocab_size\": 50, \"hidden_size\": 32, \"intermediate_size\": 64,"
        " \"num_hidden_layers\": 2, \"num_attention_heads\": 8, \"attention_window_size\": 3,"
        " \"rope_theta\": 500.0, \"block_types\": [\"attention\"]}", GF_DT_F32);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_matches_golden),
        cmocka_unit_test(test_griffin_odd_shapes_bf16),
        cmocka_unit_test(test_hawk_conv3_no_cap_no_scale),
        cmocka_unit_test(test_mqa_sliding_window),
    };
    atexit(td_remove_tmpdir);
    return cmocka_run_group_tests_name("reference", tests, NULL, NULL);
}
