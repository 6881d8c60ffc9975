/* Unit tests of the small public pieces: number formats, config, RNG and
 * sampling, state bookkeeping, and `init` (its statistics, determinism, and a
 * prefill-vs-decode self-consistency check on shapes the golden models do not
 * cover, such as lru_width != width). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "kernels/kernels.h"
#include "layers/layers.h"
#include "parallel.h"
#include "testutil.h"
#include "bench_limits.h"
#include "util.h"

static void test_bf16_and_f16(void **state) {
    (void)state;
    assert_int_equal(gf_f32_to_bf16(1.0f), 0x3f80);
    assert_true(gf_bf16_to_f32(gf_f32_to_bf16(sqrtf(2560.0f))) == 50.5f);
    /* ties round to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 */
    assert_true(gf_bf16_to_f32(gf_f32_to_bf16(1.0f + 0x1p-8f)) == 1.0f);
    assert_true(gf_bf16_to_f32(gf_f32_to_bf16(1.0f + 3 * 0x1p-8f)) == 1.0f + 0x1p-6f);
    assert_true(isnan(gf_bf16_to_f32(gf_f32_to_bf16(NAN))));
    assert_true(gf_f16_to_f32(0x3c00) == 1.0f);
    assert_true(gf_f16_to_f32(0xc000) == -2.0f);
    assert_true(gf_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(gf_f16_to_f32(0x0001) == 0x1p-24f);
    assert_true(gf_f16_to_f32(0x0200) == 0x1p-15f);
    assert_true(isinf(gf_f16_to_f32(0x7c00)));
}

static void test_embed_multiplier(void **state) {
    (void)state;
    gf_config c = {0};
    c.embed_scale = 1;
    int widths[] = {2560, 4096, 1024, 64, 80};
    float want[] = {50.5f, 64.0f, 32.0f, 8.0f, 8.9375f};
    for (int i = 0; i < 5; i++) {
        c.width = widths[i];
        assert_true(gf_config_embed_multiplier(&c) == want[i]);
    }
    c.embed_scale = 0;
    assert_true(gf_config_embed_multiplier(&c) == 1.0f);
}

static void test_config_roundtrip_and_counts(void **state) {
    (void)state;
    gf_config c, d;
    gf_error err;
    if (gf_config_load(td_path("golden/griffin/config.json"), &c, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.width, 64);
    assert_int_equal(c.mlp_width, 192);
    assert_int_equal(c.window, 8);
    assert_int_equal(c.block_types[2], GF_BLOCK_ATTENTION);
    assert_int_equal(c.block_types[3], GF_BLOCK_RECURRENT);
    assert_int_equal(gf_config_num_attention_layers(&c), 2);
    char path[512];
    snprintf(path, sizeof path, "%s/roundtrip.json", td_tmpdir());
    if (gf_config_save(&c, path, &err)) fail_msg("%s", err.msg);
    if (gf_config_load(path, &d, &err)) fail_msg("%s", err.msg);
    assert_memory_equal(&c, &d, sizeof c);
    /* The parameter count equals the tensors in the golden file. */
    gf_st_file f;
    if (gf_st_open(td_path("golden/griffin/model.safetensors"), &f, &err)) fail_msg("%s", err.msg);
    size_t n = 0;
    for (size_t i = 0; i < f.count; i++) n += f.tensors[i].numel;
    gf_st_close(&f);
    assert_int_equal(gf_config_num_params(&c), n);
    /* A short block_types list is cycled over the layers. */
    snprintf(path, sizeof path, "%s/cycle.json", td_tmpdir());
    const char *j = "{\"vocab_size\": 10, \"hidden_size\": 8, \"intermediate_size\": 16,"
                    "\"num_hidden_layers\": 7, \"num_attention_heads\": 2,"
                    "\"attention_window_size\": 4, \"block_types\": [\"recurrent\", \"recurrent\", \"attention\"]}";
    td_write(path, j, strlen(j));
    if (gf_config_load(path, &d, &err)) fail_msg("%s", err.msg);
    const char *want = "RRARRAR";
    for (int i = 0; i < 7; i++) assert_int_equal(d.block_types[i], want[i] == 'A' ? GF_BLOCK_ATTENTION : GF_BLOCK_RECURRENT);
    assert_true(d.logits_soft_cap == 30.0f); /* the Hugging Face default */
    assert_int_equal(d.lru_width, 8);
    assert_int_equal(d.conv_width, 4);
    assert_int_equal(gf_config_validate(&d, "x", &err), 0);
    d.eos_id = 10; /* token ids must be in the vocabulary */
    assert_int_equal(gf_config_validate(&d, "x", &err), -1);
    assert_non_null(strstr(err.msg, "eos_token_id"));
    d.eos_id = 1;
    d.width = 9;
    assert_int_equal(gf_config_validate(&d, "x", &err), -1);
    assert_non_null(strstr(err.msg, "divisible"));
}

static void test_rng(void **state) {
    (void)state;
    uint64_t a[4], b[4];
    gf_rng_seed(a, 7);
    gf_rng_seed(b, 7);
    for (int i = 0; i < 100; i++) assert_true(gf_rng_next(a) == gf_rng_next(b));
    gf_rng_seed(b, 8);
    assert_true(gf_rng_next(a) != gf_rng_next(b));
    double sum = 0, sum2 = 0, umin = 1, umax = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double u = gf_rng_uniform(a);
        umin = u < umin ? u : umin;
        umax = u > umax ? u : umax;
        double z = gf_rng_normal(a);
        sum += z;
        sum2 += z * z;
    }
    assert_true(umin >= 0.0 && umax < 1.0);
    /* standard errors: mean 0.0022, variance 0.0032 at n = 2e5 */
    assert_true(fabs(sum / n) < 0.012);
    assert_true(fabs(sum2 / n - 1.0) < 0.02);
}

static void test_sampler(void **state) {
    (void)state;
    enum { V = 6 };
    float logits[V] = {0.1f, 2.0f, -1.0f, 1.9f, 0.0f, 1.0f};
    float p[V];
    int idx[V];
    gf_sampler s;
    gf_sampler_init(&s, 0.0f, 0, 1.0f, 1);
    assert_int_equal(gf_sample(&s, logits, V, p, idx), 1);
    gf_sampler_init(&s, 1.0f, 1, 1.0f, 1); /* top-k 1 = greedy */
    for (int i = 0; i < 50; i++) assert_int_equal(gf_sample(&s, logits, V, p, idx), 1);
    gf_sampler_init(&s, 1.0f, 0, 1e-6f, 1); /* tiny top-p = greedy */
    for (int i = 0; i < 50; i++) assert_int_equal(gf_sample(&s, logits, V, p, idx), 1);
    gf_sampler_init(&s, 1.0f, 2, 1.0f, 3); /* top-k 2: only ids 1 and 3 */
    int c1 = 0, c3 = 0;
    for (int i = 0; i < 20000; i++) {
        int t = gf_sample(&s, logits, V, p, idx);
        assert_true(t == 1 || t == 3);
        c1 += t == 1;
        c3 += t == 3;
    }
    /* P(1) = e^2 / (e^2 + e^1.9) = 0.525 */
    assert_int_equal(c1 + c3, 20000);
    assert_true(fabs(c1 / 20000.0 - 0.525) < 0.02);
    /* Plain temperature sampling follows softmax(logits / T). */
    float two[2] = {0.0f, logf(3.0f)};
    gf_sampler_init(&s, 1.0f, 0, 1.0f, 5);
    int ones = 0;
    for (int i = 0; i < 40000; i++) ones += gf_sample(&s, two, 2, p, idx) == 1;
    assert_true(fabs(ones / 40000.0 - 0.75) < 0.015);
    gf_sampler_init(&s, 0.5f, 0, 1.0f, 5); /* T = 0.5 squares the odds: 9 : 1 */
    ones = 0;
    for (int i = 0; i < 40000; i++) ones += gf_sample(&s, two, 2, p, idx) == 1;
    assert_true(fabs(ones / 40000.0 - 0.9) < 0.01);
    /* top-p 0.75 over probabilities {0.5, 0.3, 0.2} keeps the first two. */
    float three[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    gf_sampler_init(&s, 1.0f, 0, 0.75f, 9);
    for (int i = 0; i < 5000; i++) assert_true(gf_sample(&s, three, 3, p, idx) != 2);
    /* Same seed, same draws. */
    gf_sampler a, b;
    gf_sampler_init(&a, 0.9f, 4, 0.9f, 11);
    gf_sampler_init(&b, 0.9f, 4, 0.9f, 11);
    for (int i = 0; i < 200; i++) assert_int_equal(gf_sample(&a, logits, V, p, idx), gf_sample(&b, logits, V, p, idx));
}

/* A model of shapes the golden files lack: L != D, H = 4, window 5 < T. */
static const char *SMALL_CONFIG =
    "{\"vocab_size\": 97, \"hidden_size\": 32, \"intermediate_size\": 96,"
    " \"num_hidden_layers\": 4, \"num_attention_heads\": 4, \"lru_width\": 48,"
    " \"attention_window_size\": 5, \"logits_soft_cap\": 30.0,"
    " \"block_types\": [\"recurrent\", \"attention\", \"recurrent\", \"recurrent\"]}";

static void init_small(const char *name, uint64_t seed, char *dir, size_t n) {
    gf_config c;
    gf_error err;
    char cp[512];
    snprintf(cp, sizeof cp, "%s/small_config.json", td_tmpdir());
    td_write(cp, SMALL_CONFIG, strlen(SMALL_CONFIG));
    if (gf_config_load(cp, &c, &err)) fail_msg("%s", err.msg);
    snprintf(dir, n, "%s/%s", td_tmpdir(), name);
    if (gf_model_init_write(&c, seed, dir, &err)) fail_msg("%s", err.msg);
}

static void stats(const gf_st_tensor *t, double *mean, double *std) {
    const float *x = t->data;
    double s = 0, s2 = 0;
    for (size_t i = 0; i < t->numel; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
    }
    *mean = s / (double)t->numel;
    *std = sqrt(s2 / (double)t->numel - *mean * *mean);
}

static void test_init_statistics_and_determinism(void **state) {
    (void)state;
    char d1[512], d2[512], d3[512], p[600];
    init_small("a", 1, d1, sizeof d1);
    init_small("b", 1, d2, sizeof d2);
    init_small("c", 2, d3, sizeof d3);
    size_t n1, n2, n3;
    snprintf(p, sizeof p, "%s/model.safetensors", d1);
    char *f1 = td_read(p, &n1);
    snprintf(p, sizeof p, "%s/model.safetensors", d2);
    char *f2 = td_read(p, &n2);
    snprintf(p, sizeof p, "%s/model.safetensors", d3);
    char *f3 = td_read(p, &n3);
    assert_int_equal(n1, n2);
    assert_memory_equal(f1, f2, n1);
    assert_true(n1 == n3 && memcmp(f1, f3, n1) != 0);
    free(f1);
    free(f2);
    free(f3);
    gf_st_file f;
    gf_error err;
    snprintf(p, sizeof p, "%s/model.safetensors", d1);
    if (gf_st_open(p, &f, &err)) fail_msg("%s", err.msg);
    double mean, sd;
    stats(gf_st_find(&f, "model.embed_tokens.weight"), &mean, &sd);
    assert_true(fabs(sd - sqrt(1.0 / 32)) < 0.02);
    stats(gf_st_find(&f, "model.layers.0.temporal_block.linear_x.weight"), &mean, &sd);
    assert_true(fabs(sd - sqrt(1.0 / 32)) < 0.02);
    stats(gf_st_find(&f, "model.layers.0.temporal_block.linear_out.weight"), &mean, &sd);
    assert_true(fabs(sd - sqrt(0.5 / 48)) < 0.015); /* final scale 2 / 4 layers, fan-in L */
    stats(gf_st_find(&f, "model.layers.1.mlp_block.down_proj.weight"), &mean, &sd);
    assert_true(fabs(sd - sqrt(0.5 / 48)) < 0.015); /* fan-in E = 48 */
    stats(gf_st_find(&f, "model.layers.0.temporal_block.rg_lru.input_gate_weight"), &mean, &sd);
    assert_true(fabs(sd - sqrt(1.0 / 12)) < 0.05);
    stats(gf_st_find(&f, "model.layers.2.channel_pre_norm.weight"), &mean, &sd);
    assert_true(mean == 0.0 && sd == 0.0);
    const gf_st_tensor *ap = gf_st_find(&f, "model.layers.3.temporal_block.rg_lru.recurrent_param");
    for (size_t i = 0; i < ap->numel; i++) {
        float x = ((const float *)ap->data)[i];
        double a = exp(-log1p(exp(x))); /* exp(-softplus) */
        assert_true(a >= 0.9 - 1e-6 && a <= 0.999 + 1e-6);
    }
    gf_st_close(&f);
}

/* Prefill logits and state equal those of token-by-token decoding. */
/* gf_attention_step, MQA decode attention over the key/value ring, against
 * the attention written out in double from what it means: the new token at
 * position n attends to positions max(0, n - w) .. n - 1, kept in ring slot
 * position % w, and to itself. Cases: an empty ring, a partly filled one, a
 * wrapped one, one wrapped many times, several heads and one, a batch of one
 * (whose heads the threads split when the ring is short, and whose ring
 * they split, merging the parts' sums, when it is long: the last two
 * cases, on two or more threads), head sizes that are and are not multiples
 * of 16, and more slots than one block of the kernels. The result is a
 * weighted mean of value rows of magnitude <= 1, computed in float32 over up
 * to 1101 terms, so 1e-5 absolute bounds its rounding with room to spare.
 * Afterwards each sequence's slot n % w holds the new key and value. */
static void test_attention_step(void **state) {
    (void)state;
    static const struct {
        size_t B, H, hd, w;
        int64_t n[4];
    } cases[] = {{1, 6, 128, 300, {299}},
                 {3, 5, 24, 40, {0, 17, 133}},
                 {2, 8, 64, 16, {16, 1000}},
                 {4, 1, 16, 8, {3, 8, 9, 100}},
                 {1, 3, 20, 50, {7}},
                 {1, 4, 64, 1200, {1100}},
                 {1, 1, 16, 600, {5000}}};
    uint64_t rng[4];
    gf_rng_seed(rng, 11);
    double worst = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t B = cases[c].B, H = cases[c].H, hd = cases[c].hd, w = cases[c].w;
        size_t nslots = gf_par_slots();
        float *rk = malloc(B * w * hd * sizeof(float)), *rv = malloc(B * w * hd * sizeof(float));
        float *rk0 = malloc(B * w * hd * sizeof(float)), *rv0 = malloc(B * w * hd * sizeof(float));
        float *q = malloc(B * H * hd * sizeof(float)), *k = malloc(B * hd * sizeof(float));
        float *v = malloc(B * hd * sizeof(float)), *out = malloc(B * H * hd * sizeof(float));
        float *scores = malloc(nslots * gf_attention_scores_floats(H, hd, w) * sizeof(float));
        double *sc = malloc((w + 1) * sizeof(double));
        assert_true(rk && rv && rk0 && rv0 && q && k && v && out && scores && sc);
        for (size_t i = 0; i < B * w * hd; i++) {
            rk0[i] = rk[i] = (float)(2 * gf_rng_uniform(rng) - 1);
            rv0[i] = rv[i] = (float)(2 * gf_rng_uniform(rng) - 1);
        }
        for (size_t i = 0; i < B * H * hd; i++) q[i] = (float)(4 * gf_rng_uniform(rng) - 2);
        for (size_t i = 0; i < B * hd; i++) {
            k[i] = (float)(2 * gf_rng_uniform(rng) - 1);
            v[i] = (float)(2 * gf_rng_uniform(rng) - 1);
        }
        gf_attention_step(out, q, k, v, rk, rv, cases[c].n, B, H, hd, w, scores, nslots);
        for (size_t b = 0; b < B; b++) {
            int64_t n = cases[c].n[b], first = n > (int64_t)w ? n - (int64_t)w : 0;
            size_t cnt = (size_t)(n - first) + 1;
            for (size_t h = 0; h < H; h++) {
                const float *qh = q + (b * H + h) * hd;
                double mx = -1e300, sum = 0;
                for (size_t i = 0; i < cnt; i++) {
                    const float *key = i + 1 < cnt ? rk0 + (b * w + (size_t)((first + (int64_t)i) % (int64_t)w)) * hd : k + b * hd;
                    double d = 0;
                    for (size_t e = 0; e < hd; e++) d += (double)qh[e] * key[e];
                    sc[i] = d / sqrt((double)hd);
                    mx = fmax(mx, sc[i]);
                }
                for (size_t i = 0; i < cnt; i++) sum += sc[i] = exp(sc[i] - mx);
                for (size_t e = 0; e < hd; e++) {
                    double o = 0;
                    for (size_t i = 0; i < cnt; i++) {
                        const float *val = i + 1 < cnt ? rv0 + (b * w + (size_t)((first + (int64_t)i) % (int64_t)w)) * hd : v + b * hd;
                        o += sc[i] / sum * val[e];
                    }
                    worst = fmax(worst, fabs(o - out[(b * H + h) * hd + e]));
                }
            }
            /* the new token's key and value in its slot, every other slot as it was */
            size_t slot = (size_t)(n % (int64_t)w);
            for (size_t j = 0; j < w; j++)
                for (size_t e = 0; e < hd; e++) {
                    size_t i = (b * w + j) * hd + e;
                    assert_true(rk[i] == (j == slot ? k[b * hd + e] : rk0[i]));
                    assert_true(rv[i] == (j == slot ? v[b * hd + e] : rv0[i]));
                }
        }
        free(rk), free(rv), free(rk0), free(rv0), free(q), free(k), free(v), free(out), free(scores), free(sc);
    }
    print_message("    gf_attention_step vs double: max |d out| = %.3g\n", worst);
    assert_true(worst < 1e-5);
}

/* gf_attention_prefill (whole rows, a tile of query positions against its
 * windows' keys a block at a time, with the weights rescaled whenever a
 * block raises a row's max) against attention written out in double: query
 * t sees the keys of its document from t - w to t. Cases: windows of
 * several blocks with two document starts in row 0, global attention over
 * 200 positions, and a short window; the keys grow along the row (x 0.5 to
 * x 3), so later blocks keep raising the max. The output is a weighted mean
 * of values of magnitude <= 1, so 1e-5 absolute bounds float32 rounding;
 * the log-normaliser is checked to 1e-5 of its magnitude plus 1. */
static void test_attention_prefill(void **state) {
    (void)state;
    static const struct {
        size_t B, T, H, hd, w;
        int resets;
    } cases[] = {{2, 150, 3, 20, 100, 1}, {1, 200, 2, 16, 1000, 0}, {1, 37, 4, 64, 10, 0}};
    uint64_t rng[4];
    gf_rng_seed(rng, 12);
    double worst = 0, worst_l = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t B = cases[c].B, T = cases[c].T, H = cases[c].H, hd = cases[c].hd, w = cases[c].w, M = B * T;
        size_t nslots = gf_par_slots();
        float *q = malloc(M * H * hd * sizeof(float)), *k = malloc(M * hd * sizeof(float));
        float *v = malloc(M * hd * sizeof(float)), *out = malloc(M * H * hd * sizeof(float));
        float *lse = malloc(M * H * sizeof(float));
        float *scores = malloc(nslots * gf_attention_scores_floats(H, hd, w) * sizeof(float));
        int32_t *pos = malloc(M * sizeof(int32_t));
        double *sc = malloc(T * sizeof(double));
        assert_true(q && k && v && out && lse && scores && pos && sc);
        for (size_t b = 0; b < B; b++)
            for (size_t t = 0; t < T; t++) {
                size_t start = b > 0 || !cases[c].resets ? 0 : t >= 70 ? 70 : t >= 3 ? 3 : 0;
                pos[b * T + t] = (int32_t)(t - start);
            }
        for (size_t i = 0; i < M * H * hd; i++) q[i] = (float)(4 * gf_rng_uniform(rng) - 2);
        for (size_t i = 0; i < M; i++)
            for (size_t e = 0; e < hd; e++) {
                double grow = 0.5 + 2.5 * (double)(i % T) / (double)T;
                k[i * hd + e] = (float)((2 * gf_rng_uniform(rng) - 1) * grow);
                v[i * hd + e] = (float)(2 * gf_rng_uniform(rng) - 1);
            }
        gf_attention_prefill(out, q, k, v, pos, B, T, H, hd, w, scores, nslots, lse);
        for (size_t b = 0; b < B; b++)
            for (size_t t = 0; t < T; t++) {
                size_t first = t;
                while (first > 0 && t - first < w && pos[b * T + first] != 0) first--;
                for (size_t h = 0; h < H; h++) {
                    const float *qh = q + ((b * T + t) * H + h) * hd;
                    double mx = -1e300, sum = 0;
                    for (size_t j = first; j <= t; j++) {
                        double d = 0;
                        for (size_t e = 0; e < hd; e++) d += (double)qh[e] * k[(b * T + j) * hd + e];
                        sc[j] = d / sqrt((double)hd);
                        mx = fmax(mx, sc[j]);
                    }
                    for (size_t j = first; j <= t; j++) sum += sc[j] = exp(sc[j] - mx);
                    double want_l = mx + log(sum), got_l = lse[(b * T + t) * H + h];
                    worst_l = fmax(worst_l, fabs(got_l - want_l) / (1 + fabs(want_l)));
                    for (size_t e = 0; e < hd; e++) {
                        double o = 0;
                        for (size_t j = first; j <= t; j++) o += sc[j] / sum * v[(b * T + j) * hd + e];
                        worst = fmax(worst, fabs(o - out[((b * T + t) * H + h) * hd + e]));
                    }
                }
            }
        free(q), free(k), free(v), free(out), free(lse), free(scores), free(pos), free(sc);
    }
    print_message("    gf_attention_prefill vs double: max |d out| = %.3g, log-normaliser %.3g\n", worst, worst_l);
    assert_true(worst < 1e-5);
    assert_true(worst_l < 1e-5);
}

static void test_prefill_matches_decode_on_init_model(void **state) {
    (void)state;
    char dir[512];
    init_small("consistency", 3, dir, sizeof dir);
    gf_error err;
    gf_model *m = gf_model_load(dir, &err);
    if (!m) fail_msg("%s", err.msg);
    enum { B = 3, T = 17, V = 97 };
    int32_t tok[B * T], pos[B * T];
    uint64_t rng[4];
    gf_rng_seed(rng, 4);
    for (int i = 0; i < B * T; i++) {
        tok[i] = (int32_t)(gf_rng_next(rng) % V);
        pos[i] = i % T;
    }
    float *pl = malloc(sizeof(float) * B * T * V), *dl = malloc(sizeof(float) * B * V);
    gf_state *sp = gf_state_new(m, B, &err), *sd = gf_state_new(m, B, &err);
    assert_non_null(sp);
    assert_non_null(sd);
    if (gf_prefill(m, B, T, tok, pos, pl, NULL, sp, &err)) fail_msg("%s", err.msg);
    double worst = 0;
    for (int t = 0; t < T; t++) {
        int32_t tb[B], pb[B];
        for (int b = 0; b < B; b++) {
            tb[b] = tok[b * T + t];
            pb[b] = pos[b * T + t];
        }
        if (gf_decode_step(m, sd, tb, pb, dl, &err)) fail_msg("%s", err.msg);
        for (int b = 0; b < B; b++) {
            double d = td_max_abs_diff(pl + ((size_t)b * T + t) * V, dl + (size_t)b * V, V);
            worst = d > worst ? d : worst;
        }
    }
    print_message("    init model: prefill vs decode max |dlogit| = %.3g\n", worst);
    assert_true(worst < 1e-4);
    for (int l = 0; l < 4; l++)
        for (int b = 0; b < B; b++) {
            gf_layer_state a, c;
            assert_int_equal(gf_state_layer(sp, l, b, &a), 0);
            assert_int_equal(gf_state_layer(sd, l, b, &c), 0);
            if (a.rg_lru) {
                assert_true(td_max_abs_diff(a.rg_lru, c.rg_lru, 48) < 1e-5);
                assert_true(td_max_abs_diff(a.conv, c.conv, 3 * 48) < 1e-5);
            } else {
                assert_true(td_max_abs_diff(a.keys, c.keys, 5 * 8) < 1e-5);
                assert_true(td_max_abs_diff(a.values, c.values, 5 * 8) < 1e-5);
            }
            assert_int_equal(gf_state_num_tokens(sp, b), T);
            assert_int_equal(gf_state_num_tokens(sd, b), T);
        }
    gf_state_free(sp);
    gf_state_free(sd);
    free(pl);
    free(dl);
    gf_model_free(m);
}

static void test_state_bookkeeping(void **state) {
    (void)state;
    gf_error err;
    gf_model *m = gf_model_load(td_path("golden/griffin"), &err);
    if (!m) fail_msg("%s", err.msg);
    const gf_config *c = gf_model_config(m);
    size_t file_bytes;
    free(td_read(td_path("golden/griffin/model.safetensors"), &file_bytes));
    assert_int_equal(gf_model_weight_bytes(m), file_bytes);
    assert_string_equal(gf_model_weight_dtype(m), "F32");
    /* 4 recurrent layers x (h 64 + conv 3x64) + 2 attention x (2 x 8 x 32) floats + the counter */
    assert_int_equal(gf_state_bytes_per_seq(c), (4 * (64 + 192) + 2 * 512) * 4 + 8);
    gf_state *s = gf_state_new(m, 2, &err);
    assert_non_null(s);
    assert_int_equal(gf_state_batch(s), 2);
    gf_layer_state ls;
    assert_int_equal(gf_state_layer(s, 6, 0, &ls), -1);
    assert_int_equal(gf_state_layer(s, 0, 2, &ls), -1);
    assert_int_equal(gf_state_num_tokens(s, 5), -1);
    int32_t tok[2] = {5, 7}, pos[2] = {0, 0};
    assert_int_equal(gf_decode_step(m, s, tok, pos, NULL, &err), 0);
    assert_int_equal(gf_state_num_tokens(s, 1), 1);
    assert_int_equal(gf_state_layer(s, 0, 1, &ls), 0);
    assert_true(td_max_abs(ls.rg_lru, 64) > 0);
    /* Without segment positions, decoding continues from the token count:
     * the same logits as passing positions 1 explicitly. */
    float la[2 * 256], lb[2 * 256];
    gf_state *s2 = gf_state_new(m, 2, &err);
    int32_t p0[2] = {0, 0}, p1[2] = {1, 1};
    assert_int_equal(gf_decode_step(m, s2, tok, p0, NULL, &err), 0);
    assert_int_equal(gf_decode_step(m, s2, tok, p1, la, &err), 0);
    assert_int_equal(gf_decode_step(m, s, tok, NULL, lb, &err), 0);
    assert_memory_equal(la, lb, sizeof la);
    gf_state_free(s2);
    gf_state_reset(s);
    assert_int_equal(gf_state_num_tokens(s, 1), 0);
    assert_true(td_max_abs(ls.rg_lru, 64) == 0);
    assert_null(gf_state_new(m, 0, &err));
    assert_non_null(strstr(err.msg, "batch"));
    /* A state belongs to one model and one batch size. */
    gf_state *s3 = gf_state_new(m, 3, &err);
    assert_int_equal(gf_prefill(m, 2, 4, (int32_t[8]){0}, NULL, NULL, NULL, s3, &err), -1);
    gf_state_free(s3);
    gf_state_free(s);
    gf_model_free(m);
}

/* A decode state past the memory the system has available is refused in
 * one line, allocating nothing (found while bounding fuzz_run, docs/fuzzing.md: a
 * config's attention window sizes the state, and no tensor shows it, so a
 * model of a few KiB could make gf_state_new zero more memory than there
 * is): a window of 2^24 with head_dim 4 takes 512 MiB per sequence. */
static void test_state_past_memory_refused(void **state) {
    (void)state;
    size_t avail = gf_mem_available();
    if (avail == 0) skip(); /* nothing to compare with */
    static const char *cfg_json =
        "{\"vocab_size\": 16, \"hidden_size\": 8, \"intermediate_size\": 16, \"num_hidden_layers\": 1,"
        " \"num_attention_heads\": 2, \"attention_window_size\": 16777216, \"block_types\": [\"attention\"]}";
    char path[4096];
    snprintf(path, sizeof path, "%s/huge-window.json", td_tmpdir());
    td_write(path, cfg_json, strlen(cfg_json));
    gf_config c;
    gf_error err;
    if (gf_config_load(path, &c, &err)) fail_msg("%s", err.msg);
    gf_trainable *t = gf_trainable_new(&c, 1, &err);
    if (!t) fail_msg("%s", err.msg);
    const gf_model *m = gf_trainable_model(t);
    size_t per_seq = gf_state_bytes_per_seq(&c);
    assert_true(per_seq > ((size_t)512 << 20));
    /* twice what is available: were the check gone, the allocation itself
     * would fail here (the kernel's overcommit heuristic refuses one past
     * its memory and swap) rather than zero the machine's memory */
    size_t batch = 2 * avail / per_seq + 1;
    if (batch > (1u << 20)) skip(); /* more memory than a batch can ask for */
    assert_null(gf_state_new(m, (int)batch, &err));
    td_expect_one_line(&err, "more than the");
    td_expect_one_line(&err, "MiB of memory available");
    print_message("    batch %zu: %s\n", batch, err.msg);
    gf_trainable_free(t);
}

/* A prompt prefilled once and copied into each row of a batch continues as a
 * batch prefill of the same prompt would (to float rounding: OpenBLAS blocks
 * a 1-row and a 2-row product differently). */
static void test_state_copy(void **state) {
    (void)state;
    gf_error err;
    gf_model *m = gf_model_load(td_path("golden/griffin"), &err);
    if (!m) fail_msg("%s", err.msg);
    int32_t prompt[22], prompt2[44];
    for (int i = 0; i < 22; i++) prompt[i] = prompt2[i] = prompt2[22 + i] = (int32_t)((i * 37 + 11) % 256);
    gf_state *one = gf_state_new(m, 1, &err), *copied = gf_state_new(m, 2, &err), *direct = gf_state_new(m, 2, &err);
    gf_state *other = NULL;
    assert_true(one && copied && direct);
    assert_int_equal(gf_prefill(m, 1, 22, prompt, NULL, NULL, NULL, one, &err), 0);
    assert_int_equal(gf_prefill(m, 2, 22, prompt2, NULL, NULL, NULL, direct, &err), 0);
    for (int b = 0; b < 2; b++) assert_int_equal(gf_state_copy(copied, b, one, 0, &err), 0);
    float la[2 * 256], lb[2 * 256];
    int32_t tok[2] = {9, 9};
    assert_int_equal(gf_decode_step(m, copied, tok, NULL, la, &err), 0);
    assert_int_equal(gf_decode_step(m, direct, tok, NULL, lb, &err), 0);
    assert_true(td_max_abs_diff(la, lb, 2 * 256) < 1e-5);
    assert_true(td_max_abs_diff(la, la + 256, 256) == 0); /* both rows continue one prompt */
    assert_int_equal(gf_state_copy(copied, 2, one, 0, &err), -1);
    gf_model *m2 = gf_model_load(td_path("golden/hawk"), &err);
    other = gf_state_new(m2, 1, &err);
    assert_int_equal(gf_state_copy(copied, 0, other, 0, &err), -1);
    assert_non_null(strstr(err.msg, "different models"));
    gf_state_free(other);
    gf_model_free(m2);
    gf_state_free(one);
    gf_state_free(copied);
    gf_state_free(direct);
    gf_model_free(m);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__clang__) /* alloc_count.h: libomp allocates */
/* Counts the allocations made while `counting` is set, by interposing the
 * allocator (glibc exports the real one as __libc_*). Sanitizer builds bring
 * their own allocator, so there this test is left out. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static volatile int counting;
static volatile long allocations;
void *malloc(size_t n) {
    if (counting) allocations++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t s) {
    if (counting) allocations++;
    return __libc_calloc(n, s);
}
void *realloc(void *p, size_t n) {
    if (counting) allocations++;
    return __libc_realloc(p, n);
}

static void test_decode_allocates_nothing(void **state) {
    (void)state;
    gf_error err;
    gf_model *m = gf_model_load(td_path("golden/griffin"), &err);
    if (!m) fail_msg("%s", err.msg);
    gf_state *s = gf_state_new(m, 2, &err);
    float logits[2 * 256];
    int32_t tok[2] = {3, 4}, pos[2] = {0, 0};
    assert_int_equal(gf_decode_step(m, s, tok, pos, logits, &err), 0); /* warm-up */
    counting = 1;
    allocations = 0;
    for (int t = 1; t < 40; t++) { /* past the window, so the ring wraps */
        pos[0] = pos[1] = t;
        if (gf_decode_step(m, s, tok, pos, logits, &err)) break;
    }
    counting = 0;
    assert_int_equal(allocations, 0);
    /* the counter does see allocations */
    counting = 1;
    free(malloc(16));
    counting = 0;
    assert_int_equal(allocations, 1);
    gf_state_free(s);
    gf_model_free(m);
}
#endif

/* The vectorisable exp and tanh against libm over their whole useful range:
 * exp within 4 ulp (relative 5e-7), tanh within 2e-7 absolute (the GeLU
 * adds it to 1; the soft cap multiplies it by c, so a logit of cap 30 moves
 * by at most 6e-6, far inside the 1e-4 the golden logits allow). */
static void test_fast_exp_tanh(void **state) {
    (void)state;
    double worst_e = 0, worst_t = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.000731f) {
        double e = exp((double)x), re = fabs(gf_expf(x) - e) / e;
        if (re > worst_e) worst_e = re;
        if (x > -20 && x < 20) {
            double t = fabs(gf_tanhf(x) - tanh((double)x));
            if (t > worst_t) worst_t = t;
        }
    }
    print_message("    gf_expf max relative error %.2g; gf_tanhf max absolute error %.2g\n", worst_e, worst_t);
    assert_true(worst_e <= 5e-7);
    assert_true(worst_t <= 2e-7);
    assert_true(gf_tanhf(-0.5f) == -gf_tanhf(0.5f));
    /* the soft cap against tanh(x / cap) * cap in double, cap 30 as the
     * released models have it: within 1e-7 of the cap, odd, flat at the ends */
    double worst_c = 0;
    for (float x = -400.0f; x <= 400.0f; x += 0.00731f) {
        double c = fabs(gf_soft_capf(x, 30.0f, 2.0f / 30.0f) - 30.0 * tanh((double)x / 30.0));
        if (c > worst_c) worst_c = c;
    }
    print_message("    gf_soft_capf max absolute error %.2g (cap 30)\n", worst_c);
    assert_true(worst_c <= 30 * 2e-7);
    assert_true(gf_soft_capf(-7.0f, 30.0f, 2.0f / 30.0f) == -gf_soft_capf(7.0f, 30.0f, 2.0f / 30.0f));
    assert_true(gf_soft_capf(INFINITY, 30.0f, 2.0f / 30.0f) == 30.0f && isnan(gf_soft_capf(NAN, 30.0f, 2.0f / 30.0f)));
    assert_true(gf_tanhf(100.0f) == 1.0f && gf_expf(-1000.0f) >= 0.0f);
}

/* The pointwise functions of one argument, called through a pointer so
 * that the compiler makes a scalar call of them here ... */
typedef float (*unary_fn)(float);
static float expf_twin(float x) { return gf_expf(x); }
static float tanhf_twin(float x) { return gf_tanhf(x); }
static float cap_twin(float x) { return gf_soft_capf(x, 30.0f, 2.0f / 30.0f); }
static float gelu_twin(float x) { return gf_gelu_tanh(x); }
static float gelu_grad_twin(float x) { return gf_gelu_tanh_grad(x); }

/* ... and a vectorised loop of each (as the library's loops are, at this
 * build's instruction set); out[i] = f(in[i]). */
static void exp_rows(const float *in, float *out, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = gf_expf(in[i]);
}
static void tanh_rows(const float *in, float *out, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = gf_tanhf(in[i]);
}
static void cap_rows(const float *in, float *out, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = gf_soft_capf(in[i], 30.0f, 2.0f / 30.0f);
}
static void gelu_rows(const float *in, float *out, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = gf_gelu_tanh(in[i]);
}
static void gelu_grad_rows(const float *in, float *out, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = gf_gelu_tanh_grad(in[i]);
}

static int same_float(float a, float b) { return (isnan(a) && isnan(b)) || a == b; }

/* Distance in representable floats between two of the same sign. */
static int64_t float_ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

/* gf_expf and its users over every kind of input: NaN, the infinities, the
 * largest floats, the edges where expf overflows (88.72) and leaves the
 * normal floats (-87.34), subnormal and zero inputs; then a sweep over
 * every 4099th bit pattern. Against glibc's expf: NaN for NaN, exactly
 * Inf and 0 where it gives them, 4 ulp where its result is a normal float,
 * 4 subnormal steps below that. The vectorised loop of each function
 * agrees with its scalar call (the same code at a different width). Under
 * UBSan this is also the check that no input converts out of range. */
static void test_pointwise_every_input(void **state) {
    (void)state;
    static const float special[] = {NAN, -NAN, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, 1e30f, -1e30f,
                                    88.72283f, 88.72284f, 88.7229f, 88.75f, 89.0f, 100.0f, -87.33654f,
                                    -87.34f, -90.0f, -100.0f, -103.97f, -103.98f, -104.0f, -104.5f, -200.0f,
                                    FLT_MIN, -FLT_MIN, 1e-45f, -1e-45f, 0.0f, -0.0f, 1e-8f, 0.5f, -0.5f,
                                    20.0f, -20.0f, 10.0f, 1000.0f, -1000.0f};
    enum { NS = sizeof special / sizeof special[0], SWEEP = 1 << 20 };
    float *in = malloc((NS + SWEEP) * sizeof *in), *out = malloc((NS + SWEEP) * sizeof *out);
    assert_non_null(in);
    assert_non_null(out);
    size_t n = 0;
    for (size_t i = 0; i < NS; i++) in[n++] = special[i];
    for (uint64_t u = 0; u <= 0xffffffffu && n < NS + SWEEP; u += 4099) {
        uint32_t b = (uint32_t)u;
        memcpy(&in[n++], &b, 4);
    }
    int64_t worst = 0, worst_sub = 0;
    for (size_t i = 0; i < n; i++) {
        float x = in[i], g = gf_expf(x), e = expf(x);
        if (isnan(x)) {
            if (!isnan(g)) fail_msg("gf_expf(NaN) = %g", (double)g);
            continue;
        }
        if (isinf(e) || e == 0.0f) {
            /* where expf overflows gf_expf does too; where expf underflows
             * to 0 gf_expf may still give the smallest subnormal */
            if (isinf(e) ? g != e : !(g >= 0.0f && g <= 2 * 1e-45f))
                fail_msg("gf_expf(%a) = %a, expf %a", (double)x, (double)g, (double)e);
            continue;
        }
        int64_t d = float_ulps(g, e);
        if (e >= FLT_MIN) {
            if (d > worst) worst = d;
        } else if (d > worst_sub) {
            worst_sub = d;
        }
        if (d > 4) fail_msg("gf_expf(%a) = %a, expf %a: %lld ulp", (double)x, (double)g, (double)e, (long long)d);
    }
    print_message("    gf_expf vs expf over %zu inputs: %lld ulp (normal results), %lld steps (subnormal)\n", n,
                  (long long)worst, (long long)worst_sub);
    assert_true(gf_expf(INFINITY) == INFINITY && gf_expf(-INFINITY) == 0.0f && isnan(gf_expf(NAN)));
    /* the users: NaN stays NaN, an infinity or a huge input gives the limit */
    assert_true(isnan(gf_tanhf(NAN)) && gf_tanhf(INFINITY) == 1.0f && gf_tanhf(-INFINITY) == -1.0f);
    assert_true(gf_tanhf(FLT_MAX) == 1.0f && gf_tanhf(-FLT_MAX) == -1.0f);
    assert_true(isnan(gf_soft_capf(NAN, 30.0f, 2.0f / 30.0f)));
    assert_true(gf_soft_capf(-INFINITY, 30.0f, 2.0f / 30.0f) == -30.0f);
    assert_true(gf_soft_capf(FLT_MAX, 30.0f, 2.0f / 30.0f) == 30.0f);
    assert_true(isnan(gf_gelu_tanh(NAN)) && gf_gelu_tanh(INFINITY) == INFINITY && gf_gelu_tanh(-1e30f) == 0.0f);
    assert_true(isnan(gf_gelu_tanh_grad(NAN)) && gf_gelu_tanh_grad(1e30f) == 1.0f);
    assert_true(gf_gelu_tanh_grad(-1e30f) == 0.0f && gf_gelu_tanh_grad(INFINITY) == 1.0f);
    /* every function's vector loop against its scalar call, bit for bit */
    const struct {
        const char *name;
        unary_fn scalar;
        void (*rows)(const float *, float *, size_t);
    } fns[] = {{"gf_expf", expf_twin, exp_rows},
               {"gf_tanhf", tanhf_twin, tanh_rows},
               {"gf_soft_capf", cap_twin, cap_rows},
               {"gf_gelu_tanh", gelu_twin, gelu_rows},
               {"gf_gelu_tanh_grad", gelu_grad_twin, gelu_grad_rows}};
    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
        volatile unary_fn scalar = fns[f].scalar;
        fns[f].rows(in, out, n);
        for (size_t i = 0; i < n; i++)
            if (!same_float(out[i], scalar(in[i])))
                fail_msg("%s(%a): vector loop %a, scalar %a", fns[f].name, (double)in[i], (double)out[i],
                         (double)scalar(in[i]));
    }
    free(in);
    free(out);
}

/* The bandwidth probe: a buffer below its floor is refused with the reason;
 * a real one reads and reports a finite positive rate, pass after pass (its
 * value is the machine's, never asserted). */
static void test_bw_probe(void **state) {
    (void)state;
    gf_error err;
    assert_null(gf_bw_probe_new(1024, 1, &err));
    assert_non_null(strstr(err.msg, "too small"));
    gf_bw_probe *p = gf_bw_probe_new(4u << 20, 0, &err);
    assert_non_null(p);
    for (int i = 0; i < 3; i++) {
        double g = gf_bw_probe_run(p);
        assert_true(isfinite(g) && g > 0);
    }
    gf_bw_probe_free(p);
    gf_bw_probe_free(NULL);
}

/* gf_alloc_huge: 2 MiB aligned, every byte of the request writable (sizes
 * that are not a multiple of 2 MiB, and 0), an impossible size refused. */
static void test_alloc_huge(void **state) {
    (void)state;
    const size_t sizes[] = {0, 1, 4097, (size_t)3 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *p = gf_alloc_huge(sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % ((uintptr_t)2 << 20), 0);
        memset(p, 0xa5, sizes[i]);
        if (sizes[i]) assert_int_equal(p[sizes[i] - 1], 0xa5);
        free(p);
    }
    assert_null(gf_alloc_huge(SIZE_MAX - 5));
    /* what the copy of the weights is checked against: a figure, on Linux from /proc/meminfo */
    size_t avail = gf_mem_available();
    print_message("    memory available: %zu MiB\n", avail >> 20);
    assert_true(avail > 0);
    const size_t GiB = (size_t)1 << 30;
    assert_true(gf_mem_fits(GiB, 3 * GiB));
    assert_true(gf_mem_fits(2 * GiB, 3 * GiB));     /* exactly 1 GiB left */
    assert_false(gf_mem_fits(2 * GiB + 1, 3 * GiB));
    assert_false(gf_mem_fits(4 * GiB, 3 * GiB));    /* more than there is */
    assert_false(gf_mem_fits(SIZE_MAX, 3 * GiB));
    assert_true(gf_mem_fits(SIZE_MAX, 0));          /* unknown: not refused */
}

/* gf_copy_parallel: every byte of sizes below, at and past the threaded
 * threshold and not a multiple of its pieces, none written past the end. */
static void test_copy_parallel(void **state) {
    (void)state;
    const size_t sizes[] = {0, 1, (size_t)2 << 20, ((size_t)8 << 20) + 12345, (size_t)21 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        unsigned char *src = malloc(n + 1), *dst = malloc(n + 1);
        assert_true(src && dst);
        for (size_t k = 0; k < n; k++) src[k] = (unsigned char)(k * 2654435761u >> 13);
        dst[n] = 0x5a;
        gf_copy_parallel(dst, src, n);
        assert_memory_equal(dst, src, n);
        assert_int_equal(dst[n], 0x5a);
        free(src);
        free(dst);
    }
}

/* The kernel sets: the CPU's list runs from scalar up to its best, each
 * can be selected and then is the one in use, an unknown or unavailable
 * name is refused with one line naming it and the set in use is left as it
 * was; gf_kernels_init takes GRIFFIN_ISA likewise. The set of the
 * environment is restored at the end (make test runs this program under
 * each). */
static void test_kernel_sets(void **state) {
    (void)state;
    const char *names[16];
    int n = gf_kernels_available(names, 16);
    assert_true(n >= 1 && n <= 16);
    assert_string_equal(names[0], "scalar");
    assert_string_equal(names[n - 1], gf_kernels_best());
    const char *before = gf_kernels_name();
    gf_error err;
    for (int i = 0; i < n; i++) {
        assert_int_equal(gf_kernels_select(names[i], &err), 0);
        assert_string_equal(gf_kernels_name(), names[i]);
    }
    assert_int_equal(gf_kernels_select("avx3", &err), -1);
    assert_non_null(strstr(err.msg, "GRIFFIN_ISA=avx3: unknown kernel set"));
    assert_null(strchr(err.msg, '\n'));
    assert_string_equal(gf_kernels_name(), names[n - 1]); /* unchanged by the refusal */
    if (strcmp(gf_kernels_best(), "amx")) {
        assert_int_equal(gf_kernels_select("amx", &err), -1);
        assert_non_null(strstr(err.msg, "does not have it"));
    }
    const char *env = getenv("GRIFFIN_ISA");
    char saved[64] = "";
    if (env) snprintf(saved, sizeof saved, "%s", env);
    setenv("GRIFFIN_ISA", "scalar", 1);
    assert_int_equal(gf_kernels_init(&err), 0);
    assert_string_equal(gf_kernels_name(), "scalar");
    setenv("GRIFFIN_ISA", "nonsense", 1);
    assert_int_equal(gf_kernels_init(&err), -1);
    assert_non_null(strstr(err.msg, "GRIFFIN_ISA=nonsense"));
    if (env) setenv("GRIFFIN_ISA", saved, 1);
    else unsetenv("GRIFFIN_ISA");
    assert_int_equal(gf_kernels_init(&err), 0);
    assert_string_equal(gf_kernels_name(), env ? saved : gf_kernels_best());
    (void)before;
}

/* gf_measure_f32_products on a small shape: positive rates, and the rule
 * it reports is gf_linear's for that many rows. */
static void test_f32_products_check(void **state) {
    (void)state;
    gf_product_rates r;
    gf_error err;
    assert_int_equal(gf_measure_f32_products(70, 48, 40, &r, &err), 0);
    assert_true(r.sgemm_gflop_s > 0 && r.own_gflop_s > 0 && r.backward_gflop_s > 0);
    assert_int_equal(r.rule_sgemm, gf_f32_uses_sgemm(70));
    assert_int_equal(gf_f32_uses_sgemm(8), 0); /* small batches never go to sgemm */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bw_probe),
        cmocka_unit_test(test_alloc_huge),
        cmocka_unit_test(test_copy_parallel),
        cmocka_unit_test(test_kernel_sets),
        cmocka_unit_test(test_f32_products_check),
        cmocka_unit_test(test_fast_exp_tanh),
        cmocka_unit_test(test_pointwise_every_input),
        cmocka_unit_test(test_bf16_and_f16),
        cmocka_unit_test(test_embed_multiplier),
        cmocka_unit_test(test_config_roundtrip_and_counts),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_sampler),
        cmocka_unit_test(test_init_statistics_and_determinism),
        cmocka_unit_test(test_attention_step),
        cmocka_unit_test(test_attention_prefill),
        cmocka_unit_test(test_prefill_matches_decode_on_init_model),
        cmocka_unit_test(test_state_bookkeeping),
        cmocka_unit_test(test_state_past_memory_refused),
        cmocka_unit_test(test_state_copy),
#if !defined(__SANITIZE_ADDRESS__) && !defined(__clang__) /* alloc_count.h: libomp allocates */
        cmocka_unit_test(test_decode_allocates_nothing),
#endif
    };
    atexit(td_remove_tmpdir);
    return cmocka_run_group_tests_name("units", tests, NULL, NULL);
}
