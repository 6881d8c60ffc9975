/* Weight types: `gf_model_quantize` / `griffin quantize` to BF16, Q8 and Q4
 * on the three golden models, and loading what it wrote.
 *
 * Two checks per model and type. Exactness: the quantised model's logits
 * (prefill and decode) equal, to the F32 tolerance 1e-4, those of an F32
 * model holding its dequantised weights — the kernels compute with exactly
 * the weights the format stands for. Quality: its logits stay within a
 * type's bound of the official F32 logits, relative to their largest
 * magnitude (25): BF16 0.02, Q8 0.05, Q4 0.5. These tiny random-weight models
 * (width 64) are far more sensitive to rounding than trained ones (measured
 * here: BF16 <= 0.0071, Q8 <= 0.021, Q4 <= 0.28); docs/formats.md gives the cost
 * on a trained model's validation loss. Where the CPU has the instructions
 * (AVX512-VNNI for Q8 / Q4, AVX512-BF16 for BF16), each type again with its
 * inputs narrowed (the default there: int8 per block of 32, or bfloat16):
 * within 0.05 of max |logit| of the dequantised model (measured <= 0.024
 * for int8, <= 0.0057 for bfloat16; an int8 input is off by up to 1/254 of
 * its block's largest, a bfloat16 one by 2^-8 of itself, and these models
 * pass that through every layer), decode within the same bound (not equal
 * to prefill: test_narrow_decode_vs_prefill), and the same quality bounds. Also: refusals (already quantised input, output over the
 * input, broken scale tensors, a full disk). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostile.h"
#include "kernels/kernels.h"
#include "formats/safetensors.h"
#include "testutil.h"
#include "kernels/actq.h"

static const char *const MODELS[] = {"griffin", "hawk", "mqa"};
static const char *const TYPES[] = {"bf16", "q8", "q4"};
static const char *const DTYPE_NAMES[] = {"BF16", "Q8", "Q4"};
static const double QUALITY_TOL[] = {0.02, 0.05, 0.5};
static const double NARROW_TOL = 0.05;

/* Logits [B, T, V] of tokens by one prefill (decode = 0) or token by token. */
static float *run(const gf_model *m, const gf_npy *tok, int decode) {
    const gf_config *c = gf_model_config(m);
    int B = (int)tok->shape[0], T = (int)tok->shape[1];
    size_t V = (size_t)c->vocab_size;
    float *logits = malloc((size_t)B * T * V * sizeof *logits);
    assert_non_null(logits);
    gf_error err;
    if (!decode) {
        if (gf_prefill(m, B, T, tok->data, NULL, logits, NULL, NULL, &err)) fail_msg("%s", err.msg);
        return logits;
    }
    gf_state *s = gf_state_new(m, B, &err);
    assert_non_null(s);
    float *step = malloc((size_t)B * V * sizeof *step);
    int32_t *ids = malloc((size_t)B * sizeof *ids);
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) ids[b] = ((const int32_t *)tok->data)[b * T + t];
        if (gf_decode_step(m, s, ids, NULL, step, &err)) fail_msg("%s", err.msg);
        for (int b = 0; b < B; b++) memcpy(logits + ((size_t)b * T + t) * V, step + (size_t)b * V, V * sizeof *step);
    }
    free(step);
    free(ids);
    gf_state_free(s);
    return logits;
}

/* Golden model mi quantised to type ti into td_tmpdir()/PREFIXmodel-type,
 * loaded. */
static gf_model *quantized(const char *prefix, size_t mi, int ti) {
    char out[4096];
    snprintf(out, sizeof out, "%s/%s%s-%s", td_tmpdir(), prefix, MODELS[mi], TYPES[ti]);
    gf_error err;
    if (gf_model_quantize(td_path("golden/%s", MODELS[mi]), out, (gf_quant_type)ti, NULL, NULL, &err))
        fail_msg("%s", err.msg);
    gf_model *q = gf_model_load(out, &err);
    if (!q) fail_msg("%s", err.msg);
    return q;
}

static void test_quantized_golden(void **state) {
    (void)state;
    for (size_t mi = 0; mi < 3; mi++) {
        gf_npy tok, ref;
        td_npy(td_path("golden/%s/tokens.npy", MODELS[mi]), &tok);
        td_npy(td_path("golden/%s/logits_prefill.npy", MODELS[mi]), &ref);
        double ref_max = td_max_abs(ref.data, ref.count);
        for (int ti = 0; ti < 3; ti++) {
            gf_error err;
            gf_model *q = quantized("", mi, ti);
            assert_string_equal(gf_model_weight_dtype(q), DTYPE_NAMES[ti]);
            /* the F32 model of the weights the quantised one stands for */
            gf_trainable *deq = gf_trainable_from_model(q, &err);
            if (!deq) fail_msg("%s", err.msg);
            float *want = run(gf_trainable_model(deq), &tok, 0);
            int narrow = gf_model_narrow_inputs(q);
            /* which products take the AMX kernels: narrowed ones, on CPUs with AMX */
            size_t amx_want = !narrow || !gf_cpu_has_amx() ? 0 : ti == 0 ? GF_AMX_MIN_INPUTS_BF16
                            : ti == 1 ? 0 : GF_AMX_MIN_INPUTS_Q4;
            assert_int_equal(gf_model_amx_from(q), amx_want);
            float *first = narrow ? run(q, &tok, 0) : NULL; /* narrow, as loaded */
            gf_model_set_narrow_inputs(q, 0);
            assert_int_equal(gf_model_amx_from(q), 0);
            float *pre = run(q, &tok, 0), *dec = run(q, &tok, 1);
            double e_pre = td_max_abs_diff(pre, want, ref.count), e_dec = td_max_abs_diff(dec, want, ref.count);
            double quality = td_max_abs_diff(pre, ref.data, ref.count) / ref_max;
            print_message("    %s %s: vs its dequantised F32 weights %.2g (prefill) %.2g (decode); "
                          "vs official F32 logits %.3g of max |logit| (bound %.2g)\n",
                          MODELS[mi], TYPES[ti], e_pre, e_dec, quality, QUALITY_TOL[ti]);
            if (!(e_pre <= 1e-4 && e_dec <= 1e-4)) fail_msg("%s %s: %.3g / %.3g from the dequantised model", MODELS[mi], TYPES[ti], e_pre, e_dec);
            if (!(quality <= QUALITY_TOL[ti])) fail_msg("%s %s: %.3g from the official logits", MODELS[mi], TYPES[ti], quality);
            if (narrow) { /* the narrow-input path: int8 or bfloat16 inputs too */
                gf_model_set_narrow_inputs(q, 1);
                float *ipre = run(q, &tok, 0), *idec = run(q, &tok, 1);
                /* turned off and on again (for Q8 / Q4 the packed copy freed and
                 * made again): the same numbers as loaded */
                assert_memory_equal(ipre, first, ref.count * sizeof *ipre);
                double i_pre = td_max_abs_diff(ipre, want, ref.count) / ref_max;
                double i_dwant = td_max_abs_diff(idec, want, ref.count) / ref_max;
                double i_dec = td_max_abs_diff(idec, ipre, ref.count);
                double i_quality = td_max_abs_diff(ipre, ref.data, ref.count) / ref_max;
                print_message("    %s %s, narrow inputs: vs its dequantised F32 weights %.3g (prefill) %.3g "
                              "(decode) of max |logit| (bound %.2g); decode vs prefill %.2g; vs official %.3g\n",
                              MODELS[mi], TYPES[ti], i_pre, i_dwant, NARROW_TOL, i_dec, i_quality);
                if (!(i_pre <= NARROW_TOL)) fail_msg("%s %s narrow inputs: %.3g from the dequantised model", MODELS[mi], TYPES[ti], i_pre);
                /* Decode is held to the same bound as prefill, not to prefill
                 * itself: the two sum some float parts in different orders
                 * (test_narrow_decode_vs_prefill says which, and why that may
                 * move a code of the next product's int8 or bfloat16 input). */
                if (!(i_dwant <= NARROW_TOL)) fail_msg("%s %s narrow inputs: decode %.3g from the dequantised model", MODELS[mi], TYPES[ti], i_dwant);
                if (!(i_quality <= QUALITY_TOL[ti])) fail_msg("%s %s narrow inputs: %.3g from the official logits", MODELS[mi], TYPES[ti], i_quality);
                free(ipre);
                free(idec);
            }
            free(first);
            free(want);
            free(pre);
            free(dec);
            gf_trainable_free(deq);
            gf_model_free(q);
        }
        gf_npy_free(&tok);
        gf_npy_free(&ref);
    }
}

/* Decode against prefill with narrowed inputs, on many token sequences
 * (seeded; 40 tokens, past the models' 32-token window, so the rings wrap).
 * Where a model has attention the two need not agree to float rounding:
 * decode takes a ring and one softmax, prefill 64-key blocks with a running
 * max, so their attention outputs differ in the last bits, and an output
 * that sits on a half-way point of the next product's int8 grid (or
 * bfloat16's) gets a code one apart (test_int8_input_tie), which the later
 * positions carry on. A bound of 1e-4 between them held on the golden
 * tokens by luck on some kernel sets and not on others (mqa q4 on AVX2:
 * 0.12). What holds on every set is what the path promises: decode, like
 * prefill, within NARROW_TOL of max |logit| of the model with the
 * dequantised weights and float inputs. Attention is not the only source:
 * where prefill's F32 products (the RG-LRU gates) go to OpenBLAS and
 * decode's to the gemv kernels, Hawk parts the same way (hawk q8 on the
 * avx2 set: 0.08). Float-input decode is held to prefill within 1e-4 in
 * test_quantized_golden and test_golden. Prints how many positions parted
 * by more than 1e-4. */
static void test_narrow_decode_vs_prefill(void **state) {
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (size_t mi = 0; mi < 3; mi++)
        for (int ti = 0; ti < 3; ti++) {
            gf_error err;
            gf_model *q = quantized("seq-", mi, ti);
            if (!gf_model_narrow_inputs(q)) { /* no narrow path for this type here */
                gf_model_free(q);
                continue;
            }
            gf_trainable *deq = gf_trainable_from_model(q, &err);
            if (!deq) fail_msg("%s", err.msg);
            const gf_config *c = gf_model_config(q);
            enum { B = 2, T = 40, SEQS = 12 };
            int32_t ids[B * T];
            gf_npy tok = {GF_NPY_I32, 2, {B, T}, B * T, ids};
            size_t n = (size_t)B * T * (size_t)c->vocab_size;
            int parted = 0;
            double worst = 0.0, worst_pd = 0.0;
            for (int sq = 0; sq < SEQS; sq++) {
                for (int i = 0; i < B * T; i++) {
                    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                    ids[i] = (int32_t)(seed % (uint64_t)c->vocab_size);
                }
                float *want = run(gf_trainable_model(deq), &tok, 0), *pre = run(q, &tok, 0), *dec = run(q, &tok, 1);
                double top = td_max_abs(want, n);
                double e_pre = td_max_abs_diff(pre, want, n) / top, e_dec = td_max_abs_diff(dec, want, n) / top;
                double pd = td_max_abs_diff(dec, pre, n);
                for (size_t p = 0; p < (size_t)B * T; p++) {
                    size_t V = (size_t)c->vocab_size;
                    parted += td_max_abs_diff(dec + p * V, pre + p * V, V) > 1e-4;
                }
                worst = fmax(worst, fmax(e_pre, e_dec));
                worst_pd = fmax(worst_pd, pd);
                if (!(e_pre <= NARROW_TOL && e_dec <= NARROW_TOL))
                    fail_msg("%s %s sequence %d: prefill %.3g, decode %.3g of max |logit| from the dequantised model (bound %.2g)",
                             MODELS[mi], TYPES[ti], sq, e_pre, e_dec, NARROW_TOL);
                free(want);
                free(pre);
                free(dec);
            }
            print_message("    %s %s (kernels %s): %d of %d positions' decode parted from prefill by > 1e-4 "
                          "(at most %.2g); both within %.3g of max |logit| of the dequantised model (bound %.2g)\n",
                          MODELS[mi], TYPES[ti], gf_kernels_name(), parted, SEQS * B * T, worst_pd, worst, NARROW_TOL);
            gf_trainable_free(deq);
            gf_model_free(q);
        }
}

/* An edit of one tensor on its way to the rewritten file: drop it (return
 * 1) or keep it, maybe changed (0); data it allocates goes in *owned, freed
 * after the write (one buffer a file). */
typedef int (*tensor_edit)(gf_st_entry *e, const gf_st_tensor *t, const void *arg, void **owned);

/* src (a model file) rewritten into dir/model.safetensors, each tensor
 * through edit, with the golden griffin's config beside it. */
static void rewrite_model(const char *src, const char *dir, tensor_edit edit, const void *arg) {
    gf_st_file f;
    gf_error err;
    if (gf_st_open(src, &f, &err)) fail_msg("%s", err.msg);
    gf_st_entry *e = calloc(f.count, sizeof *e);
    void *owned = NULL;
    size_t n = 0;
    for (size_t i = 0; i < f.count; i++) {
        const gf_st_tensor *t = &f.tensors[i];
        e[n] = (gf_st_entry){t->name, t->dtype, t->ndim, {0}, t->data};
        memcpy(e[n].shape, t->shape, sizeof e[n].shape);
        if (!edit(&e[n], t, arg, &owned)) n++;
    }
    char path[4200];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (gf_st_write(path, e, n, &err)) fail_msg("%s", err.msg);
    char cfg[8192];
    snprintf(cfg, sizeof cfg, "cp %s %s/config.json", td_path("golden/griffin/config.json"), dir);
    assert_int_equal(system(cfg), 0);
    free(owned);
    free(e);
    gf_st_close(&f);
}

typedef struct {
    const char *drop, *retype;
    size_t reshape1;
} variant;

static int variant_edit(gf_st_entry *e, const gf_st_tensor *t, const void *arg, void **owned) {
    const variant *v = arg;
    if (v->drop && !strcmp(t->name, v->drop)) return 1;
    if (v->retype && !strcmp(t->name, v->retype)) { /* the scales as F32 */
        float *f32 = malloc(t->numel * 4);
        gf_convert_to_f32(f32, t->data, t->dtype, t->numel);
        e->dtype = GF_DT_F32;
        e->data = *owned = f32;
    }
    if (v->reshape1 && !v->retype && !v->drop && !strcmp(t->name, "model.layers.0.mlp_block.up_proj.weight"))
        e->shape[1] = v->reshape1, e->shape[0] = t->numel / v->reshape1;
    return 0;
}

/* The golden griffin's q8 file rewritten with one tensor changed. */
static void write_variant(const char *dir, const char *drop, const char *retype, size_t reshape1) {
    char src[4096];
    snprintf(src, sizeof src, "%s/griffin-q8/model.safetensors", td_tmpdir());
    variant v = {drop, retype, reshape1};
    rewrite_model(src, dir, variant_edit, &v);
}

static int big_weight_edit(gf_st_entry *e, const gf_st_tensor *t, const void *arg, void **owned) {
    if (strcmp(t->name, "model.layers.0.mlp_block.up_proj.weight")) return 0;
    assert_int_equal(t->dtype, GF_DT_F32);
    float *copy = malloc(t->numel * 4);
    memcpy(copy, t->data, t->numel * 4);
    copy[t->numel / 2] = *(const float *)arg;
    e->data = *owned = copy;
    return 0;
}

/* The golden griffin (F32) with one weight of the first MLP set to v. */
static void write_big_weight(const char *dir, float v) {
    rewrite_model(td_path("golden/griffin/model.safetensors"), dir, big_weight_edit, &v);
}

/* Weights past what the F16 scales reach (Q8: 65504 x 127, Q4: 65504 x 7)
 * are refused before anything is written; below them the model loads. */
static void test_quantize_huge_weights(void **state) {
    (void)state;
    gf_error err;
    char in[4096], out[4200], file[4300];
    snprintf(in, sizeof in, "%s/big-1e7", td_tmpdir());
    write_big_weight(in, 1e7f);
    for (int q = 0; q < 2; q++) {
        snprintf(out, sizeof out, "%s-%s", in, q ? "q4" : "q8");
        assert_int_equal(gf_model_quantize(in, out, q ? GF_QUANT_Q4 : GF_QUANT_Q8, NULL, NULL, &err), -1);
        expect_msg(&err, "up_proj", q ? "beyond what Q4's F16 scales reach" : "beyond what Q8's F16 scales reach");
        snprintf(file, sizeof file, "%s/model.safetensors", out);
        assert_int_equal(access(file, F_OK), -1); /* nothing written */
    }
    /* 1e6: within Q8's reach, past Q4's */
    snprintf(in, sizeof in, "%s/big-1e6", td_tmpdir());
    write_big_weight(in, 1e6f);
    snprintf(out, sizeof out, "%s-q4", in);
    assert_int_equal(gf_model_quantize(in, out, GF_QUANT_Q4, NULL, NULL, &err), -1);
    expect_msg(&err, "up_proj", "Q4's F16 scales");
    snprintf(out, sizeof out, "%s-q8", in);
    if (gf_model_quantize(in, out, GF_QUANT_Q8, NULL, NULL, &err)) fail_msg("%s", err.msg);
    gf_model *m = gf_model_load(out, &err);
    if (!m) fail_msg("%s", err.msg);
    gf_model_free(m);
}

static void test_quantize_refusals(void **state) {
    (void)state;
    gf_error err;
    char out[4096], cmd[16384], msg[4096], path[4096];
    snprintf(out, sizeof out, "%s/griffin-q8", td_tmpdir());
    if (gf_model_quantize(td_path("golden/griffin"), out, GF_QUANT_Q8, NULL, NULL, &err)) fail_msg("%s", err.msg);
    /* a quantised model as input */
    snprintf(path, sizeof path, "%s/again", td_tmpdir());
    assert_int_equal(gf_model_quantize(out, path, GF_QUANT_Q4, NULL, NULL, &err), -1);
    expect_msg(&err, out, "already quantised");
    /* the output over the input */
    assert_int_equal(gf_model_quantize(out, out, GF_QUANT_Q4, NULL, NULL, &err), -1);
    expect_msg(&err, out, "is the input");
    /* broken scale tensors */
    const char *scale = "model.layers.0.mlp_block.up_proj.weight_scale";
    snprintf(path, sizeof path, "%s/no-scale", td_tmpdir());
    write_variant(path, scale, NULL, 0);
    expect_load_fails(path, "model.safetensors", "missing tensor");
    snprintf(path, sizeof path, "%s/f32-scale", td_tmpdir());
    write_variant(path, NULL, scale, 0);
    expect_load_fails(path, "model.safetensors", "must be F16");
    snprintf(path, sizeof path, "%s/bad-codes", td_tmpdir());
    write_variant(path, NULL, NULL, 32);
    expect_load_fails(path, "model.safetensors", "shape");
    /* the command line */
    snprintf(cmd, sizeof cmd, "%s quantize --model %s --out %s/x --type q5", td_bin(), td_path("golden/griffin"), td_tmpdir());
    assert_int_equal(td_run(cmd, msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "bf16, q8 or q4"));
    snprintf(cmd, sizeof cmd, "%s quantize --model %s --type q8", td_bin(), td_path("golden/griffin"));
    assert_int_equal(td_run(cmd, msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "--out"));
    snprintf(cmd, sizeof cmd, "%s quantize --model %s/nothing --out %s/y --type q8", td_bin(), td_tmpdir(), td_tmpdir());
    assert_int_equal(td_run(cmd, msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "nothing"));
    /* a full disk (a file-size limit gives the same failed write): one line,
     * exit 1, and the model written before it left as it was */
    snprintf(cmd, sizeof cmd, "%s quantize --model %s --out %s/disk --type bf16", td_bin(), td_path("golden/griffin"), td_tmpdir());
    assert_int_equal(td_run(cmd, msg, sizeof msg), 0);
    snprintf(path, sizeof path, "%s/disk/model.safetensors", td_tmpdir());
    size_t n0, n1;
    void *before = td_read(path, &n0);
    snprintf(cmd, sizeof cmd, "sh -c 'trap \"\" XFSZ; ulimit -f 100; exec %s quantize --model %s --out %s/disk --type q8'",
             td_bin(), td_path("golden/griffin"), td_tmpdir());
    assert_int_equal(td_run(cmd, msg, sizeof msg), 1);
    if (!strstr(msg, "model.safetensors") || !strstr(msg, "File too large")) fail_msg("stderr: %s", msg);
    void *after = td_read(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    /* through the command line the written model loads and names its type */
    snprintf(cmd, sizeof cmd, "%s quantize --model %s --out %s/cli-q4 --type q4 && %s info --model %s/cli-q4 | grep -q 'Q4'",
             td_bin(), td_path("golden/hawk"), td_tmpdir(), td_bin(), td_tmpdir());
    assert_int_equal(td_run(cmd, msg, sizeof msg), 0);
}

/* The command's stdout into buf; its exit status. */
static int run_stdout(const char *cmd, char *buf, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(buf, 1, cap - 1, p);
    buf[n] = 0;
    return pclose(p);
}

/* Parameters of the loaded model's file tensors whose names contain one of
 * the patterns (NULL-terminated), layer tensors only of layers of `type`
 * (-1: any); counted from the file, not from the tensor table. */
static size_t file_params(const char *dir, const gf_config *c, const char *const *pats, int type) {
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    gf_st_file f;
    gf_error err;
    if (gf_st_open(path, &f, &err)) fail_msg("%s", err.msg);
    size_t n = 0;
    for (size_t i = 0; i < f.count; i++) {
        const char *name = f.tensors[i].name;
        int layer = -1;
        if (sscanf(name, "model.layers.%d.", &layer) == 1 && type >= 0 && c->block_types[layer] != type) continue;
        for (const char *const *p = pats; *p; p++)
            if (strstr(name, *p)) {
                n += f.tensors[i].numel;
                break;
            }
    }
    gf_st_close(&f);
    return n;
}

/* gf_config_sizes and `griffin info --config` against models written by
 * init and quantize: the bytes of each type's tensor data as loaded, the
 * parameters of each part as the file's tensor names say. The MLP width is
 * made 72 (not a multiple of the 32-weight block), so a Q4 row is padded. */
static void test_config_sizes(void **state) {
    (void)state;
    for (size_t mi = 0; mi < 3; mi++) {
        gf_error err;
        gf_config c;
        char cfg[1024], dir[1024], qdir[1100], cmd[4096], out[8192], want[64];
        if (gf_config_load(td_path("golden/%s/config.json", MODELS[mi]), &c, &err)) fail_msg("%s", err.msg);
        c.mlp_width = 72;
        snprintf(cfg, sizeof cfg, "%s/sizes-%s.json", td_tmpdir(), MODELS[mi]);
        snprintf(dir, sizeof dir, "%s/sizes-%s", td_tmpdir(), MODELS[mi]);
        if (gf_config_save(&c, cfg, &err) || gf_model_init_write(&c, 3, dir, &err)) fail_msg("%s", err.msg);
        gf_model_sizes z;
        gf_config_sizes(&c, &z);
        assert_int_equal(z.params_embedding + z.params_recurrent + z.params_attention + z.params_mlp,
                         gf_config_num_params(&c));
        assert_int_equal(z.params_embedding, file_params(dir, &c, (const char *const[]){"model.embed_tokens", "model.final_norm", NULL}, -1));
        assert_int_equal(z.params_mlp, file_params(dir, &c, (const char *const[]){"mlp_block", "channel_pre_norm", NULL}, -1));
        assert_int_equal(z.params_recurrent, file_params(dir, &c, (const char *const[]){"temporal", NULL}, GF_BLOCK_RECURRENT));
        assert_int_equal(z.params_attention, file_params(dir, &c, (const char *const[]){"temporal", NULL}, GF_BLOCK_ATTENTION));
        size_t want_bytes[4] = {z.bytes_f32, z.bytes_bf16, z.bytes_q8, z.bytes_q4};
        snprintf(cmd, sizeof cmd, "%s info --config %s", td_bin(), cfg);
        char info[8192];
        assert_int_equal(run_stdout(cmd, info, sizeof info), 0);
        for (int ti = -1; ti < 3; ti++) {
            const char *d = dir;
            if (ti >= 0) {
                snprintf(qdir, sizeof qdir, "%s-%s", dir, TYPES[ti]);
                if (gf_model_quantize(dir, qdir, (gf_quant_type)ti, NULL, NULL, &err)) fail_msg("%s", err.msg);
                d = qdir;
            }
            gf_model *m = gf_model_load(d, &err);
            if (!m) fail_msg("%s", err.msg);
            size_t got = gf_model_tensor_bytes(m);
            if (got != want_bytes[ti + 1])
                fail_msg("%s %s: the files hold %zu bytes of tensors, the config says %zu", MODELS[mi],
                         ti < 0 ? "f32" : TYPES[ti], got, want_bytes[ti + 1]);
            gf_model_free(m);
            /* the command line: info --model's tensor data is a line of info --config's */
            snprintf(cmd, sizeof cmd, "%s info --model %s", td_bin(), d);
            assert_int_equal(run_stdout(cmd, out, sizeof out), 0);
            snprintf(want, sizeof want, "(%zu bytes)", got);
            if (!strstr(out, want) || !strstr(info, want)) fail_msg("%s not in both:\n%s\n%s", want, out, info);
        }
    }
}

/* gf_model_decode_bytes: every matrix once, codes and scales, the RG-LRU
 * gates as their F32 transposed copy; counted here from the config. */
static void test_decode_bytes(void **state) {
    (void)state;
    gf_error err;
    gf_model *f32 = gf_model_load(td_path("golden/griffin"), &err);
    if (!f32) fail_msg("%s", err.msg);
    const gf_config *c = gf_model_config(f32);
    size_t D = (size_t)c->width, E = (size_t)c->mlp_width, L = (size_t)c->lru_width, V = (size_t)c->vocab_size;
    size_t hd = (size_t)c->head_dim, bw = L / (size_t)c->num_heads;
    size_t total[3] = {0, 0, 0}; /* the matrices' bytes in F32, Q8, Q4 */
    size_t gates = 0;
#define ADD(r, k) do { size_t nb_ = ((k) + 31) / 32; total[0] += (r) * (k) * 4; \
        total[1] += (r) * ((k) + 2 * nb_); total[2] += (r) * (16 * nb_ + 2 * nb_); } while (0)
    ADD(V, D);
    for (int i = 0; i < c->num_layers; i++) {
        ADD(E, D); ADD(E, D); ADD(D, E);
        if (c->block_types[i] == GF_BLOCK_ATTENTION) {
            ADD(D, D); ADD(hd, D); ADD(hd, D); ADD(D, D);
        } else {
            ADD(L, D); ADD(L, D); ADD(D, L);
            gates += 2 * L * bw * 4;
        }
    }
#undef ADD
    assert_int_equal(gf_model_decode_bytes(f32), total[0] + gates);
    const char *types[2] = {"q8", "q4"};
    for (int t = 0; t < 2; t++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/decode-bytes-%s", td_tmpdir(), types[t]);
        if (gf_model_quantize(td_path("golden/griffin"), dir, t ? GF_QUANT_Q4 : GF_QUANT_Q8, NULL, NULL, &err))
            fail_msg("%s", err.msg);
        gf_model *q = gf_model_load(dir, &err);
        if (!q) fail_msg("%s", err.msg);
        assert_int_equal(gf_model_decode_bytes(q), total[1 + t] + gates);
        gf_model_free(q);
    }
    gf_model_free(f32);
}

/* --float-inputs reaches the model: `griffin forward` with it gives the
 * logits of the float-input path, without it those of the default (int8
 * inputs where the CPU has VNNI), each equal to the library's. */
static void test_float_inputs_flag(void **state) {
    (void)state;
    char dir[4096], cmd[16384], msg[4096], out[2][4096];
    snprintf(dir, sizeof dir, "%s/flag-q8", td_tmpdir());
    gf_error err;
    if (gf_model_quantize(td_path("golden/griffin"), dir, GF_QUANT_Q8, NULL, NULL, &err)) fail_msg("%s", err.msg);
    for (int f = 0; f < 2; f++) {
        snprintf(out[f], sizeof out[f], "%s/flag-%d.npy", td_tmpdir(), f);
        snprintf(cmd, sizeof cmd, "%s forward --model %s --tokens %s --out %s%s", td_bin(), dir,
                 td_path("golden/griffin/tokens.npy"), out[f], f ? " --float-inputs" : "");
        if (td_run(cmd, msg, sizeof msg) != 0) fail_msg("%s: %s", cmd, msg);
    }
    gf_model *q = gf_model_load(dir, &err);
    if (!q) fail_msg("%s", err.msg);
    gf_npy tok;
    td_npy(td_path("golden/griffin/tokens.npy"), &tok);
    int narrow = gf_model_narrow_inputs(q);
    for (int f = 0; f < 2; f++) {
        gf_model_set_narrow_inputs(q, !f);
        assert_int_equal(gf_model_narrow_inputs(q), f ? 0 : narrow);
        float *want = run(q, &tok, 0);
        gf_npy got;
        td_npy(out[f], &got);
        assert_int_equal(got.count, tok.count * (size_t)gf_model_config(q)->vocab_size);
        double e = td_max_abs_diff(got.data, want, got.count);
        if (!(e <= 1e-6)) fail_msg("forward%s: %.3g from the library's logits", f ? " --float-inputs" : "", e);
        free(want);
        gf_npy_free(&got);
    }
    gf_npy_free(&tok);
    gf_model_free(q);
}

int main(void) {
    atexit(td_remove_tmpdir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantized_golden),
        cmocka_unit_test(test_narrow_decode_vs_prefill),
        cmocka_unit_test(test_quantize_refusals),
        cmocka_unit_test(test_quantize_huge_weights),
        cmocka_unit_test(test_decode_bytes),
        cmocka_unit_test(test_config_sizes),
        cmocka_unit_test(test_float_inputs_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
