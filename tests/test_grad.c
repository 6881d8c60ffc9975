/* Gradients: the whole backward against the official implementation's
 * autograd (tests/data/golden/{griffin,hawk,mqa}/grads.safetensors and
 * loss.npy), through the library and through `griffin grad`; then each
 * layer's backward, and the whole model's on shapes the golden models lack
 * (packed documents, a window shorter than the sequence, ignored targets,
 * L != D), against central finite differences.
 *
 * Tolerances. Golden: the bound, max |Δ| <= 1e-3 x max |reference|
 * per tensor, loss within 1e-5 relative (measured: <= 5e-6 and <= 1e-7).
 * Finite differences run the float32 forward at x ± h with h = 1e-3 (2e-3
 * for the whole model): the truncation error is O(h^2) ~ 1e-6 of the
 * derivative, the float32 rounding of an objective of magnitude F is about
 * 1e-7 F / h ~ 1e-4 F. So the check is |fd - analytic| <= 3e-3 x (the
 * tensor's largest analytic entry) + 1e-4 (a scale the objectives here have);
 * a wrong term (a missing factor, a dropped path) is off by far more. The
 * whole model's tensors are also probed along their gradient's direction,
 * where the loss moves by h |g| (the largest signal a step of length h
 * gives, so small gradients are measured too): within 2% (measured <= 0.3%). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/layers.h"
#include "formats/safetensors.h"
#include "testutil.h"
#include "train/trainable.h"

#define GOLDEN_REL_TOL 1e-3
#define LOSS_REL_TOL 1e-5
#define FD_REL_TOL 3e-3
#define FD_ABS_TOL 1e-4

static uint64_t rng[4];

static float urand(void) { return (float)(2.0 * gf_rng_uniform(rng) - 1.0); }
static void fill(float *p, size_t n, float s) {
    for (size_t i = 0; i < n; i++) p[i] = s * urand();
}
static float *vec(size_t n, float s) {
    float *p = malloc(n * sizeof *p);
    fill(p, n, s);
    return p;
}
static float *zeros(size_t n) { return calloc(n, sizeof(float)); }
static double wdot(const float *a, const float *w, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * w[i];
    return s;
}

/* ---- golden ------------------------------------------------------------- */

/* Compares every tensor of a gradient file with the golden one. */
static void compare_grad_files(const char *model, const char *got_path) {
    gf_st_file want, got;
    gf_error err;
    if (gf_st_open(td_path("golden/%s/grads.safetensors", model), &want, &err)) fail_msg("%s", err.msg);
    if (gf_st_open(got_path, &got, &err)) fail_msg("%s", err.msg);
    double worst = 0;
    const char *worst_name = "";
    for (size_t i = 0; i < want.count; i++) {
        const gf_st_tensor *w = &want.tensors[i];
        const gf_st_tensor *g = gf_st_find(&got, w->name);
        if (!g) fail_msg("%s: no gradient for %s", model, w->name);
        assert_int_equal(g->ndim, w->ndim);
        for (int d = 0; d < w->ndim; d++) assert_int_equal(g->shape[d], w->shape[d]);
        double mx = td_max_abs(w->data, w->numel);
        double rel = td_max_abs_diff(g->data, w->data, w->numel) / (mx > 0 ? mx : 1);
        if (rel > worst) worst = rel, worst_name = w->name;
    }
    /* every parameter, and `loss` beside them */
    assert_int_equal(got.count, want.count + 1);
    gf_npy loss;
    td_npy(td_path("golden/%s/loss.npy", model), &loss);
    const gf_st_tensor *gl = gf_st_find(&got, "loss");
    assert_non_null(gl);
    double lw = ((const float *)loss.data)[0], lg = ((const float *)gl->data)[0];
    double lrel = fabs(lg - lw) / fabs(lw);
    print_message("    %-7s %zu gradients: worst max|Δ|/max|ref| = %.2g (%s); loss %.7g vs %.7g, rel %.2g\n",
                  model, want.count, worst, worst_name, lg, lw, lrel);
    if (!(worst <= GOLDEN_REL_TOL)) fail_msg("%s: gradient %s off by %.3g of its scale", model, worst_name, worst);
    if (!(lrel <= LOSS_REL_TOL)) fail_msg("%s: loss off by %.3g relative", model, lrel);
    gf_npy_free(&loss);
    gf_st_close(&want);
    gf_st_close(&got);
}

static void test_golden_gradients(void **state) {
    (void)state;
    const char *models[] = {"griffin", "hawk", "mqa"};
    for (int k = 0; k < 3; k++) {
        gf_error err;
        gf_trainable *t = td_golden_trainable(models[k]);
        gf_npy tok;
        td_npy(td_path("golden/%s/tokens.npy", models[k]), &tok);
        size_t B = tok.shape[0], T = tok.shape[1];
        const int32_t *ids = tok.data;
        int32_t *tg = malloc(B * T * sizeof *tg);
        for (size_t i = 0; i < B * T; i++) tg[i] = i % T + 1 < T ? ids[i + 1] : -1;
        double loss;
        if (gf_train_loss_grad(t, (int)B, (int)T, ids, tg, NULL, 1.0f, &loss, &err)) fail_msg("%s", err.msg);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s-grads.safetensors", td_tmpdir(), models[k]);
        if (gf_trainable_save_grads(t, (float)loss, path, &err)) fail_msg("%s", err.msg);
        compare_grad_files(models[k], path);
        /* a second call adds the same again: micro-batches accumulate */
        float *g1 = malloc(gf_trainable_num_params(t) * sizeof *g1);
        memcpy(g1, gf_trainable_grads(t), gf_trainable_num_params(t) * sizeof *g1);
        double loss2;
        if (gf_train_loss_grad(t, (int)B, (int)T, ids, tg, NULL, 0.5f, &loss2, &err)) fail_msg("%s", err.msg);
        assert_true(loss2 == loss);
        const float *g2 = gf_trainable_grads(t);
        for (size_t i = 0; i < gf_trainable_num_params(t); i++)
            if (fabsf(g2[i] - 1.5f * g1[i]) > 1e-6f * (1.0f + fabsf(g1[i])))
                fail_msg("%s: accumulated gradient %zu is %g, wanted 1.5 x %g", models[k], i, g2[i], g1[i]);
        free(g1);
        free(tg);
        gf_npy_free(&tok);
        gf_trainable_free(t);
    }
}

static void test_grad_command(void **state) {
    (void)state;
    const char *models[] = {"griffin", "hawk", "mqa"};
    for (int k = 0; k < 3; k++) {
        char cmd[8192], out[4096], err[4096];
        snprintf(out, sizeof out, "%s/cli-%s.safetensors", td_tmpdir(), models[k]);
        snprintf(cmd, sizeof cmd, "%s grad --model %s --tokens %s --out %s", td_bin(),
                 td_path("golden/%s", models[k]), td_path("golden/%s/tokens.npy", models[k]), out);
        int rc = td_run(cmd, err, sizeof err);
        if (rc != 0) fail_msg("%s: exit %d: %s", cmd, rc, err);
        compare_grad_files(models[k], out);
    }
    /* refusals: one line naming the file, exit 1, nothing written */
    char cmd[16384], err[4096], bad[4096], out[4096];
    snprintf(out, sizeof out, "%s/never.safetensors", td_tmpdir());
    snprintf(bad, sizeof bad, "%s/bad-tokens.npy", td_tmpdir());
    int32_t ids[6] = {1, 2, 3, 4, 5, 256};
    gf_error e;
    if (gf_npy_write(bad, GF_NPY_I32, (size_t[]){2, 3}, 2, ids, &e)) fail_msg("%s", e.msg);
    snprintf(cmd, sizeof cmd, "%s grad --model %s --tokens %s --out %s", td_bin(), td_path("golden/griffin"), bad, out);
    assert_int_equal(td_run(cmd, err, sizeof err), 1);
    if (!strstr(err, "bad-tokens.npy") || !strstr(err, "outside the vocabulary")) fail_msg("stderr: %s", err);
    if (gf_npy_write(bad, GF_NPY_I32, (size_t[]){6, 1}, 2, ids, &e)) fail_msg("%s", e.msg);
    assert_int_equal(td_run(cmd, err, sizeof err), 1);
    if (!strstr(err, "at least 2 positions")) fail_msg("stderr: %s", err);
    FILE *f = fopen(out, "rb");
    assert_null(f);
}

/* ---- finite differences, layer by layer --------------------------------- */

/* Checks analytic[n] = d objective / d p[n] by central differences. */
typedef double (*objective_fn)(void *ctx);
static void fd_check(const char *what, float *p, size_t n, const float *analytic, objective_fn f, void *ctx,
                     float h) {
    double scale = td_max_abs(analytic, n), worst = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + h;
        double up = f(ctx);
        p[i] = keep - h;
        double down = f(ctx);
        p[i] = keep;
        double fd = (up - down) / (2.0 * (double)h);
        double err = fabs(fd - analytic[i]);
        if (err > worst) worst = err;
        if (!(err <= FD_REL_TOL * scale + FD_ABS_TOL))
            fail_msg("%s[%zu]: finite difference %.6g, backward %.6g (scale %.3g)", what, i, fd, analytic[i], scale);
    }
    print_message("    %-26s %4zu entries, max |fd - backward| = %.2g (scale %.2g)\n", what, n, worst, scale);
}

typedef struct {
    size_t B, T, M, D, E, L, H, W, hd, w;
    int32_t *pos;
    gf_layer_weights lw;
    float *x, *r, *out;       /* input, objective weights, output */
    float *a, *b2, *c2, *d2;  /* work */
    float *scale;
} lctx;

static double obj_rmsnorm(void *p) {
    lctx *c = p;
    gf_rmsnorm_forward(c->out, c->x, c->scale, c->M, c->D, 1e-6f);
    return wdot(c->out, c->r, c->M * c->D);
}

static void test_fd_rmsnorm(void **state) {
    (void)state;
    lctx c = {.M = 5, .D = 7};
    c.x = vec(35, 1.5f), c.r = vec(35, 1), c.out = zeros(35), c.scale = vec(7, 0.5f);
    float *dx = zeros(35), *ds = zeros(7), rstd[5];
    gf_rmsnorm_backward(dx, ds, c.r, c.x, c.scale, c.M, c.D, 1e-6f, rstd);
    fd_check("rmsnorm d x", c.x, 35, dx, obj_rmsnorm, &c, 1e-3f);
    fd_check("rmsnorm d scale", c.scale, 7, ds, obj_rmsnorm, &c, 1e-3f);
    free(c.x), free(c.r), free(c.out), free(c.scale), free(dx), free(ds);
}

/* an F32 view: the element type's zero value is F32, and the rest stays unset */
static gf_mat fmat(float *p, size_t rows, size_t cols) { return (gf_mat){.data = p, .rows = rows, .cols = cols}; }

static double obj_mlp(void *p) {
    lctx *c = p;
    gf_mlp_forward(c->out, c->x, &c->lw, c->M, c->E, c->a, c->b2, c->c2, NULL);
    return wdot(c->out, c->r, c->M * c->D);
}

static void test_fd_mlp(void **state) {
    (void)state;
    lctx c = {.M = 4, .D = 6, .E = 9};
    size_t M = c.M, D = c.D, E = c.E;
    float *wg = vec(E * D, 0.5f), *wu = vec(E * D, 0.5f), *wd = vec(D * E, 0.5f);
    float *bg = vec(E, 0.3f), *bu = vec(E, 0.3f), *bd = vec(D, 0.3f);
    c.lw.gate = fmat(wg, E, D), c.lw.up = fmat(wu, E, D), c.lw.down = fmat(wd, D, E);
    c.lw.gate_b = bg, c.lw.up_b = bu, c.lw.down_b = bd;
    c.x = vec(M * D, 1), c.r = vec(M * D, 1), c.out = zeros(M * D);
    c.a = zeros(M * E), c.b2 = zeros(M * E), c.c2 = zeros(M * E), c.d2 = zeros(M * E);
    gf_layer_grads g = {0};
    g.gate = zeros(E * D), g.up = zeros(E * D), g.down = zeros(D * E);
    g.gate_b = zeros(E), g.up_b = zeros(E), g.down_b = zeros(D);
    float *dx = zeros(M * D);
    obj_mlp(&c);
    gf_mlp_backward(dx, c.r, c.x, c.a, c.b2, &c.lw, &g, M, D, E, c.c2, c.d2);
    fd_check("mlp d x", c.x, M * D, dx, obj_mlp, &c, 1e-3f);
    fd_check("mlp d gate_proj", wg, E * D, g.gate, obj_mlp, &c, 1e-3f);
    fd_check("mlp d up_proj", wu, E * D, g.up, obj_mlp, &c, 1e-3f);
    fd_check("mlp d down_proj", wd, D * E, g.down, obj_mlp, &c, 1e-3f);
    fd_check("mlp d gate bias", bg, E, g.gate_b, obj_mlp, &c, 1e-3f);
    fd_check("mlp d up bias", bu, E, g.up_b, obj_mlp, &c, 1e-3f);
    fd_check("mlp d down bias", bd, D, g.down_b, obj_mlp, &c, 1e-3f);
    float *all[] = {wg, wu, wd, bg, bu, bd, c.x, c.r, c.out, c.a, c.b2, c.c2, c.d2, g.gate, g.up, g.down,
                    g.gate_b, g.up_b, g.down_b, dx};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
}

/* Two rows: the first packs two documents (the second starts at t = 3). */
static int32_t *packed_positions(size_t B, size_t T) {
    int32_t *p = malloc(B * T * sizeof *p);
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < T; t++) p[b * T + t] = (int32_t)(b == 0 && t >= 3 ? t - 3 : t);
    return p;
}

static double obj_conv(void *p) {
    lctx *c = p;
    gf_conv1d_forward(c->out, c->x, c->pos, c->lw.conv_w, c->lw.conv_b, c->B, c->T, c->L, c->W);
    return wdot(c->out, c->r, c->M * c->L);
}

static void test_fd_conv1d(void **state) {
    (void)state;
    lctx c = {.B = 2, .T = 7, .L = 3, .W = 4};
    c.M = c.B * c.T;
    size_t n = c.M * c.L;
    float *w = vec(c.W * c.L, 1), *b = vec(c.L, 1);
    c.lw.conv_w = w, c.lw.conv_b = b;
    c.pos = packed_positions(c.B, c.T);
    c.x = vec(n, 1), c.r = vec(n, 1), c.out = zeros(n);
    float *dx = zeros(n), *dw = zeros(c.W * c.L), *db = zeros(c.L);
    gf_conv1d_backward(dx, dw, db, c.r, c.x, c.pos, w, c.B, c.T, c.L, c.W);
    fd_check("conv1d d x (packed)", c.x, n, dx, obj_conv, &c, 1e-3f);
    fd_check("conv1d d w", w, c.W * c.L, dw, obj_conv, &c, 1e-3f);
    fd_check("conv1d d bias", b, c.L, db, obj_conv, &c, 1e-3f);
    free(w), free(b), free(c.pos), free(c.x), free(c.r), free(c.out), free(dx), free(dw), free(db);
}

static double obj_rglru(void *p) {
    lctx *c = p;
    memset(c->d2, 0, c->B * c->L * sizeof(float));
    gf_rglru_forward(c->out, c->x, &c->lw, c->pos, c->B, c->T, c->L, c->H, c->d2, c->a, c->b2, NULL);
    return wdot(c->out, c->r, c->M * c->L);
}

static void test_fd_rglru(void **state) {
    (void)state;
    lctx c = {.B = 2, .T = 7, .L = 4, .H = 2};
    c.M = c.B * c.T;
    size_t n = c.M * c.L, bw = c.L / c.H;
    float *wi = vec(c.L * bw, 1), *wa = vec(c.L * bw, 1), *bi = vec(c.L, 0.5f), *ba = vec(c.L, 0.5f);
    float *ap = malloc(c.L * sizeof *ap);
    /* a = exp(-8 r softplus(ap)) spread from about 0.5 to 0.99 */
    for (size_t i = 0; i < c.L; i++) ap[i] = -1.0f - 1.5f * (float)i;
    c.lw.input_gate = fmat(wi, c.L, bw), c.lw.a_gate = fmat(wa, c.L, bw);
    c.lw.input_gate_b = bi, c.lw.a_gate_b = ba, c.lw.a_param = ap;
    c.pos = packed_positions(c.B, c.T);
    c.x = vec(n, 1), c.r = vec(n, 1), c.out = zeros(n);
    c.a = zeros(n), c.b2 = zeros(n), c.d2 = zeros(c.B * c.L);
    gf_layer_grads g = {0};
    g.input_gate = zeros(c.L * bw), g.a_gate = zeros(c.L * bw), g.input_gate_b = zeros(c.L);
    g.a_gate_b = zeros(c.L), g.a_param = zeros(c.L);
    obj_rglru(&c);
    float *dh = malloc(n * sizeof *dh), *dx = zeros(n), *dgi = zeros(n), *dga = zeros(n);
    memcpy(dh, c.r, n * sizeof *dh);
    gf_rglru_backward(dx, dh, c.x, c.a, c.b2, c.out, &c.lw, &g, c.pos, c.B, c.T, c.L, c.H, dgi, dga);
    fd_check("rglru d x (packed)", c.x, n, dx, obj_rglru, &c, 1e-3f);
    fd_check("rglru d input_gate_weight", wi, c.L * bw, g.input_gate, obj_rglru, &c, 1e-3f);
    fd_check("rglru d input_gate_bias", bi, c.L, g.input_gate_b, obj_rglru, &c, 1e-3f);
    fd_check("rglru d recurrent_gate_weight", wa, c.L * bw, g.a_gate, obj_rglru, &c, 1e-3f);
    fd_check("rglru d recurrent_gate_bias", ba, c.L, g.a_gate_b, obj_rglru, &c, 1e-3f);
    fd_check("rglru d recurrent_param", ap, c.L, g.a_param, obj_rglru, &c, 1e-3f);
    float *all[] = {wi, wa, bi, ba, ap, c.x, c.r, c.out, c.a, c.b2, c.d2, g.input_gate, g.a_gate,
                    g.input_gate_b, g.a_gate_b, g.a_param, dh, dx, dgi, dga};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
    free(c.pos);
}

/* Where a = 1 in float32 (sqrt(1 - a^2) = 0, whose true derivative is
 * infinite), the gradient is the official bounded one: d sqrt(z)/dz = 1000. */
static void test_rglru_sqrt_gradient_bound(void **state) {
    (void)state;
    size_t B = 1, T = 2, L = 1, H = 1;
    float wi = 0, wa = 0, bi = 0, ba = 0, ap = -30.0f; /* softplus(-30) ~ 1e-13: a rounds to 1 */
    gf_layer_weights lw = {0};
    lw.input_gate = fmat(&wi, 1, 1), lw.a_gate = fmat(&wa, 1, 1);
    lw.input_gate_b = &bi, lw.a_gate_b = &ba, lw.a_param = &ap;
    int32_t pos[2] = {0, 1};
    float x[2] = {1.0f, 2.0f}, h[2], h0 = 0, gi[2], ga[2];
    gf_rglru_forward(h, x, &lw, pos, B, T, L, H, &h0, gi, ga, NULL);
    assert_true(h[1] == h[0]); /* a = 1, sqrt(1 - a^2) = 0: step 1 adds nothing */
    float dh[2] = {0.0f, 1.0f}, dx[2], dgi[2], dga[2];
    gf_layer_grads g = {0};
    float gw[2] = {0}, gb[2] = {0}, gap = 0;
    g.input_gate = &gw[0], g.a_gate = &gw[1], g.input_gate_b = &gb[0], g.a_gate_b = &gb[1], g.a_param = &gap;
    gf_rglru_backward(dx, dh, x, gi, ga, h, &lw, &g, pos, B, T, L, H, dgi, dga);
    /* at t = 1: dmult = x * sigmoid(0) = 1; d/dz = 1000; z = 1 - a^2 with a^2
     * = exp(2 log_a) = 1: d log_a gets h_prev * a - 2 a^2 * 1000 */
    double sp = log1p(exp(-30.0)), dlog_a = 0.5 - 2000.0; /* h_prev = x0 * sigmoid(0) = 0.5 */
    double want_ap = dlog_a * -8.0 * 0.5 * (1.0 / (1.0 + exp(30.0)));
    double want_ba = dlog_a * -8.0 * sp * 0.25;
    print_message("    bounded sqrt: d recurrent_param %.6g (want %.6g), d gate bias %.6g (want %.6g)\n", gap,
                  want_ap, gb[1], want_ba);
    assert_true(isfinite(gap) && fabs(gap - want_ap) <= 1e-3 * fabs(want_ap));
    assert_true(isfinite(gb[1]) && fabs(gb[1] - want_ba) <= 1e-3 * fabs(want_ba));
}

static double obj_attention(void *p) {
    lctx *c = p;
    /* q, k after RoPE are the inputs here; x holds q, a holds k, b2 holds v */
    gf_attention_prefill(c->out, c->x, c->a, c->b2, c->pos, c->B, c->T, c->H, c->hd, c->w, c->c2, 1, NULL);
    return wdot(c->out, c->r, c->M * c->H * c->hd);
}

/* The attention backward against finite differences on five shapes: a
 * window of 2 in short rows; rows of several tiles of the tiled passes
 * (37 positions, tiles of 16) with a window of 20, documents starting at
 * positions 3 and 27 of row 0, and a head size that is not a multiple of
 * 16; global attention (a window past the row); and windows of several
 * blocks of the passes over keys and queries (blocks of 64: 150 positions,
 * a window of 100 with the two document starts, and global). */
static void test_fd_attention(void **state) {
    (void)state;
    static const struct {
        size_t B, T, H, hd, w;
        int resets; /* row 0's documents start at 3 (and 27) */
    } cases[] = {{2, 7, 2, 4, 2, 1}, {2, 37, 3, 20, 20, 2}, {1, 37, 2, 16, 64, 0},
                 {1, 150, 2, 6, 100, 2}, {1, 150, 2, 5, 200, 0}};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        lctx c = {.B = cases[ci].B, .T = cases[ci].T, .H = cases[ci].H, .hd = cases[ci].hd, .w = cases[ci].w};
        c.M = c.B * c.T;
        size_t nq = c.M * c.H * c.hd, nk = c.M * c.hd, ns = gf_attention_scores_floats(c.H, c.hd, c.w);
        c.pos = malloc(c.M * sizeof *c.pos);
        for (size_t b = 0; b < c.B; b++)
            for (size_t t = 0; t < c.T; t++) {
                size_t start = b > 0 || cases[ci].resets == 0 ? 0 : t >= 27 && cases[ci].resets > 1 ? 27 : t >= 3 ? 3 : 0;
                c.pos[b * c.T + t] = (int32_t)(t - start);
            }
        c.x = vec(nq, 1), c.a = vec(nk, 1), c.b2 = vec(nk, 1), c.r = vec(nq, 1), c.out = zeros(nq);
        c.c2 = zeros(ns);
        float *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk), *ds = zeros(ns);
        float *stats = zeros(c.M * c.H), *lse = zeros(c.M * c.H);
        gf_attention_prefill(c.out, c.x, c.a, c.b2, c.pos, c.B, c.T, c.H, c.hd, c.w, c.c2, 1, lse);
        gf_attention_prefill_backward(dq, dk, dv, c.r, c.x, c.a, c.b2, c.out, lse, c.pos, c.B, c.T, c.H, c.hd,
                                   c.w, c.c2, ds, 1, stats);
        char what[3][64];
        snprintf(what[0], sizeof what[0], "attention d q (T %zu, w %zu)", c.T, c.w);
        snprintf(what[1], sizeof what[1], "attention d k (T %zu, w %zu)", c.T, c.w);
        snprintf(what[2], sizeof what[2], "attention d v (T %zu, w %zu)", c.T, c.w);
        fd_check(what[0], c.x, nq, dq, obj_attention, &c, 1e-3f);
        fd_check(what[1], c.a, nk, dk, obj_attention, &c, 1e-3f);
        fd_check(what[2], c.b2, nk, dv, obj_attention, &c, 1e-3f);
        free(c.pos), free(c.x), free(c.a), free(c.b2), free(c.r), free(c.out), free(c.c2);
        free(dq), free(dk), free(dv), free(ds), free(stats), free(lse);
    }
}

/* gf_rope_backward is the transpose of gf_rope_apply: <R x, y> = <x, R^T y>. */
static void test_rope_backward_is_transpose(void **state) {
    (void)state;
    size_t M = 6, nh = 3, hd = 8, n = M * nh * hd;
    int32_t pos[6] = {0, 1, 5, 17, 300, 4000};
    float *x = vec(n, 1), *y = vec(n, 1), *rx = malloc(n * sizeof *rx), *ry = malloc(n * sizeof *ry);
    memcpy(rx, x, n * sizeof *rx);
    memcpy(ry, y, n * sizeof *ry);
    gf_rope_apply(rx, pos, M, nh, hd, 10000.0f);
    gf_rope_backward(ry, pos, M, nh, hd, 10000.0f);
    double a = wdot(rx, y, n), b = wdot(x, ry, n);
    print_message("    <R x, y> = %.9g, <x, R^T y> = %.9g\n", a, b);
    assert_true(fabs(a - b) <= 1e-5 * (fabs(a) + 1));
    free(x), free(y), free(rx), free(ry);
}

/* ---- the whole model against finite differences ------------------------- */

static const char *TINY_CONFIG =
    "{\"vocab_size\": 37, \"hidden_size\": 16, \"intermediate_size\": 48,"
    " \"num_hidden_layers\": 3, \"num_attention_heads\": 2, \"lru_width\": 24,"
    " \"attention_window_size\": 3, \"logits_soft_cap\": 5.0,"
    " \"block_types\": [\"recurrent\", \"attention\", \"recurrent\"]}";

typedef struct {
    gf_trainable *t;
    int B, T;
    int32_t *in, *tg, *pos;
} mctx;

static double obj_model(void *p) {
    mctx *c = p;
    double loss;
    gf_error err;
    /* the gradient arena is left alone by probing: it is restored after */
    size_t n = gf_trainable_num_params(c->t);
    float *keep = malloc(n * sizeof *keep);
    memcpy(keep, gf_trainable_grads(c->t), n * sizeof *keep);
    if (gf_train_loss_grad(c->t, c->B, c->T, c->in, c->tg, c->pos, 1.0f, &loss, &err)) fail_msg("%s", err.msg);
    memcpy(gf_trainable_grads(c->t), keep, n * sizeof *keep);
    free(keep);
    return loss;
}

static void test_fd_whole_model(void **state) {
    (void)state;
    gf_config cfg;
    gf_error err;
    char cp[600], dir[600];
    snprintf(cp, sizeof cp, "%s/tiny.json", td_tmpdir());
    td_write(cp, TINY_CONFIG, strlen(TINY_CONFIG));
    if (gf_config_load(cp, &cfg, &err)) fail_msg("%s", err.msg);
    snprintf(dir, sizeof dir, "%s/tiny", td_tmpdir());
    if (gf_model_init_write(&cfg, 5, dir, &err)) fail_msg("%s", err.msg);
    gf_model *m = gf_model_load(dir, &err);
    if (!m) fail_msg("%s", err.msg);
    mctx c = {gf_trainable_from_model(m, &err), 2, 9, NULL, NULL, NULL};
    gf_model_free(m);
    if (!c.t) fail_msg("%s", err.msg);
    /* norms and biases start at zero: give them values so their paths count */
    float *p = gf_trainable_params(c.t);
    for (int i = 0; i < gf_trainable_num_tensors(c.t); i++) {
        const gf_tensor_info *ti = gf_trainable_tensor(c.t, i);
        if (!ti->decay && !strstr(ti->name, "recurrent_param")) fill(p + ti->offset, ti->numel, 0.3f);
        /* a further from 1 than at init, so the RG-LRU gates matter enough
         * to be measured (their gradients scale with softplus(recurrent_param)) */
        if (strstr(ti->name, "recurrent_param"))
            for (size_t j = 0; j < ti->numel; j++) p[ti->offset + j] = -1.0f + urand();
    }
    size_t M = (size_t)(c.B * c.T);
    c.in = malloc(M * sizeof *c.in), c.tg = malloc(M * sizeof *c.tg);
    for (size_t i = 0; i < M; i++) {
        c.in[i] = (int32_t)(gf_rng_next(rng) % 37);
        c.tg[i] = i % 4 == 3 ? -1 : (int32_t)(gf_rng_next(rng) % 37); /* some ignored */
    }
    c.pos = packed_positions((size_t)c.B, (size_t)c.T);
    gf_trainable_zero_grads(c.t);
    double loss;
    if (gf_train_loss_grad(c.t, c.B, c.T, c.in, c.tg, c.pos, 1.0f, &loss, &err)) fail_msg("%s", err.msg);
    const float *g = gf_trainable_grads(c.t);
    for (int i = 0; i < gf_trainable_num_tensors(c.t); i++) {
        const gf_tensor_info *ti = gf_trainable_tensor(c.t, i);
        /* every entry of the small tensors, a spread of 24 of the large ones */
        size_t step = ti->numel > 24 ? ti->numel / 24 : 1, k = 0;
        float fd_an[32], *pp[32];
        for (size_t j = 0; j < ti->numel && k < 24; j += step, k++) {
            pp[k] = p + ti->offset + j;
            fd_an[k] = g[ti->offset + j];
        }
        /* fd_check walks consecutive entries; probe the picked ones one by one */
        double scale = td_max_abs(g + ti->offset, ti->numel), worst = 0;
        for (size_t q = 0; q < k; q++) {
            float keep = *pp[q], hh = 2e-3f;
            *pp[q] = keep + hh;
            double up = obj_model(&c);
            *pp[q] = keep - hh;
            double down = obj_model(&c);
            *pp[q] = keep;
            double fd = (up - down) / (2.0 * hh), e = fabs(fd - fd_an[q]);
            if (e > worst) worst = e;
            if (!(e <= FD_REL_TOL * scale + FD_ABS_TOL))
                fail_msg("%s: finite difference %.6g, backward %.6g (scale %.3g)", ti->name, fd, fd_an[q], scale);
        }
        /* The entries above are checked to FD_ABS_TOL, which says little
         * where gradients are far smaller. Along the gradient's own direction
         * u = g / |g| the loss changes by h |g|, the largest signal a step of
         * length h can give: that must agree to 2%. */
        float *u = malloc(ti->numel * sizeof *u), *keep = malloc(ti->numel * sizeof *keep);
        double gu = 0;
        for (size_t j = 0; j < ti->numel; j++) gu += (double)g[ti->offset + j] * g[ti->offset + j];
        gu = sqrt(gu);
        for (size_t j = 0; j < ti->numel; j++) u[j] = (float)(g[ti->offset + j] / gu);
        memcpy(keep, p + ti->offset, ti->numel * sizeof *keep);
        const double hd = 1e-2;
        for (size_t j = 0; j < ti->numel; j++) p[ti->offset + j] = keep[j] + (float)hd * u[j];
        double up = obj_model(&c);
        for (size_t j = 0; j < ti->numel; j++) p[ti->offset + j] = keep[j] - (float)hd * u[j];
        double down = obj_model(&c);
        memcpy(p + ti->offset, keep, ti->numel * sizeof *keep);
        double dfd = (up - down) / (2 * hd), derr = fabs(dfd - gu) / fabs(gu);
        print_message("    %-58s max |fd - backward| = %.2g (scale %.2g); along g: %.4g vs |g| %.4g (rel %.1g)\n",
                      ti->name, worst, scale, dfd, gu, derr);
        if (!(derr <= 2e-2)) fail_msg("%s: along the gradient fd %.6g, backward |g| %.6g", ti->name, dfd, gu);
        free(u);
        free(keep);
    }
    free(c.in), free(c.tg), free(c.pos);
    gf_trainable_free(c.t);
}

/* The threaded loops (every layer's, the loss, the embedding's gradient)
 * against one thread, on shapes large enough that each loop really runs in
 * parallel (B x T = 512 rows of width 128; a window shorter than T; packed
 * documents; ignored targets; several channel blocks). Each gradient element has one owner, summed
 * in the serial order, so two runs with the same thread count are bit for
 * bit equal; against one thread only OpenBLAS may round differently. */
static const char *PAR_CONFIG =
    "{\"vocab_size\": 64, \"hidden_size\": 128, \"intermediate_size\": 256,"
    " \"num_hidden_layers\": 3, \"num_attention_heads\": 4, \"lru_width\": 192,"
    " \"attention_window_size\": 24, \"logits_soft_cap\": 30.0,"
    " \"block_types\": [\"recurrent\", \"attention\", \"recurrent\"]}";

static void run_threads(gf_trainable *t, int nthreads, int B, int T, const int32_t *in,
                        const int32_t *tg, const int32_t *pos, float *grads, float *logits,
                        double *loss) {
    gf_error err;
    omp_set_num_threads(nthreads);
    gf_trainable_zero_grads(t);
    if (gf_train_loss_grad(t, B, T, in, tg, pos, 1.0f, loss, &err)) fail_msg("%s", err.msg);
    memcpy(grads, gf_trainable_grads(t), gf_trainable_num_params(t) * sizeof *grads);
    if (gf_prefill(gf_trainable_model(t), B, T, in, pos, logits, NULL, NULL, &err)) fail_msg("%s", err.msg);
}

static void test_threads_match_one_thread(void **state) {
    (void)state;
    gf_config cfg;
    gf_error err;
    char cp[600];
    snprintf(cp, sizeof cp, "%s/par.json", td_tmpdir());
    td_write(cp, PAR_CONFIG, strlen(PAR_CONFIG));
    if (gf_config_load(cp, &cfg, &err)) fail_msg("%s", err.msg);
    gf_trainable *t = gf_trainable_new(&cfg, 7, &err);
    if (!t) fail_msg("%s", err.msg);
    int B = 4, T = 128;
    size_t M = (size_t)(B * T), n = gf_trainable_num_params(t), nl = M * 64;
    int32_t *in = malloc(M * sizeof *in), *tg = malloc(M * sizeof *tg), *pos = malloc(M * sizeof *pos);
    for (size_t i = 0; i < M; i++) {
        in[i] = (int32_t)(gf_rng_next(rng) % 64);
        tg[i] = i % 7 == 3 ? -1 : (int32_t)(gf_rng_next(rng) % 64);
        /* row 1 packs documents starting at t = 40 and t = 41, row 2 one at 100 */
        size_t b = i / (size_t)T, tt = i % (size_t)T;
        pos[i] = (int32_t)(b == 1 && tt >= 41 ? tt - 41 : b == 1 && tt == 40 ? 0 : b == 2 && tt >= 100 ? tt - 100 : tt);
    }
    float *g1 = malloc(n * sizeof *g1), *g3 = malloc(n * sizeof *g3), *g3b = malloc(n * sizeof *g3b);
    float *l1 = malloc(nl * sizeof *l1), *l3 = malloc(nl * sizeof *l3), *l3b = malloc(nl * sizeof *l3b);
    double loss1, loss3, loss3b;
    int keep = omp_get_max_threads();
    run_threads(t, 1, B, T, in, tg, pos, g1, l1, &loss1);
    run_threads(t, 3, B, T, in, tg, pos, g3, l3, &loss3);
    run_threads(t, 3, B, T, in, tg, pos, g3b, l3b, &loss3b);
    omp_set_num_threads(keep);
    assert_true(loss3 == loss3b);
    assert_memory_equal(g3, g3b, n * sizeof *g3);
    assert_memory_equal(l3, l3b, nl * sizeof *l3);
    double worst = 0, dl = 0;
    for (int i = 0; i < gf_trainable_num_tensors(t); i++) {
        const gf_tensor_info *ti = gf_trainable_tensor(t, i);
        double scale = td_max_abs(g1 + ti->offset, ti->numel), d = 0;
        for (size_t j = 0; j < ti->numel; j++) d = fmax(d, fabs(g1[ti->offset + j] - g3[ti->offset + j]));
        if (scale > 0) worst = fmax(worst, d / scale);
    }
    for (size_t i = 0; i < nl; i++) dl = fmax(dl, fabs(l1[i] - l3[i]));
    print_message("    3 threads vs 1: loss %.9g vs %.9g, worst gradient max|d|/max|g| %.2g, prefill max|dlogit| %.2g\n",
                  loss3, loss1, worst, dl);
    assert_true(fabs(loss3 - loss1) <= 1e-6 * fabs(loss1));
    assert_true(worst <= 1e-4);
    assert_true(dl <= 1e-4);
    free(in), free(tg), free(pos), free(g1), free(g3), free(g3b), free(l1), free(l3), free(l3b);
    gf_trainable_free(t);
}

/* A bad id or nothing to learn fails before anything changes. */
static void test_step_refusals(void **state) {
    (void)state;
    gf_error err;
    gf_trainable *t = td_golden_trainable("hawk");
    int32_t in[4] = {1, 2, 3, 4}, tg[4] = {2, 3, 4, -1};
    double loss;
    in[2] = 256;
    assert_int_equal(gf_train_loss_grad(t, 1, 4, in, tg, NULL, 1, &loss, &err), -1);
    assert_non_null(strstr(err.msg, "input token 256"));
    in[2] = 3, tg[1] = 999;
    assert_int_equal(gf_train_loss_grad(t, 1, 4, in, tg, NULL, 1, &loss, &err), -1);
    assert_non_null(strstr(err.msg, "target token 999"));
    int32_t none[4] = {-1, -1, -1, -1};
    assert_int_equal(gf_train_loss_grad(t, 1, 4, in, none, NULL, 1, &loss, &err), -1);
    assert_non_null(strstr(err.msg, "no target"));
    const float *g = gf_trainable_grads(t);
    assert_true(td_max_abs(g, gf_trainable_num_params(t)) == 0.0);
    gf_trainable_free(t);
}

int main(void) {
    gf_rng_seed(rng, 20261124);
    atexit(td_remove_tmpdir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_gradients),
        cmocka_unit_test(test_grad_command),
        cmocka_unit_test(test_fd_rmsnorm),
        cmocka_unit_test(test_fd_mlp),
        cmocka_unit_test(test_fd_conv1d),
        cmocka_unit_test(test_fd_rglru),
        cmocka_unit_test(test_rglru_sqrt_gradient_bound),
        cmocka_unit_test(test_fd_attention),
        cmocka_unit_test(test_rope_backward_is_transpose),
        cmocka_unit_test(test_fd_whole_model),
        cmocka_unit_test(test_step_refusals),
        cmocka_unit_test(test_threads_match_one_thread),
    };
    return cmocka_run_group_tests_name("grad", tests, NULL, NULL);
}
