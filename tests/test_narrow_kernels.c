/* The narrow-input paths of the products: Q8 / Q4 weights with inputs
 * quantised to int8 (the quantiser against its documented layout and its
 * scalar twin, the packed order, the twin against the exact product within
 * the stated bound, the VNNI, AVX2, AVX-VNNI and AMX kernels against the twin
 * and against each other bit for bit), and BF16 weights with bfloat16 inputs
 * (the rounding, the twin, the AVX512-BF16 and AMX kernels). Kernels this CPU
 * lacks are reported as not checked. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_fixtures.h"
#include "kernels/kernels.h"
#include "kernels/actq.h"
#include "kernels/gemv.h"
#include "kernels/quant.h"
#include "testutil.h"
#include "util.h"

/* The packed order of quant.h, entry by entry: every row's codes and scales
 * where the comment says, and the zero code in the padding. */
static void test_packed_order(void **state) {
    (void)state;
    const size_t shapes[][2] = {{1, 1}, {5, 31}, {16, 32}, {17, 33}, {40, 100}, {3, 64}};
    for (int t = GF_W_Q8; t <= GF_W_Q4; t++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            size_t R = shapes[si][0], K = shapes[si][1], nb = gf_q_nblocks(K), G = gf_q_groups(R);
            tmat a = make_mat((gf_wtype)t, R, K, 1.0f);
            size_t piece = t == GF_W_Q8 ? 512 : 256;
            assert_int_equal(gf_q_packed_bytes(&a.m), G * nb * piece);
            assert_int_equal(gf_q_packed_scale_bytes(&a.m), G * nb * 16 * 2);
            assert_ptr_equal(a.m.packed, a.packed);
            for (size_t g = 0; g < G; g++)
                for (size_t b = 0; b < nb; b++)
                    for (size_t l = 0; l < 16; l++) {
                        size_t r = 16 * g + l;
                        uint16_t sc = a.m.packed_scale[(g * nb + b) * 16 + l];
                        assert_int_equal(sc, r < R ? a.scales[r * nb + b] : 0);
                        const uint8_t *p = a.m.packed + (g * nb + b) * piece;
                        for (size_t j = 0; j < 32; j++) {
                            size_t k = 32 * b + j;
                            int want; /* the unsigned code: Q8 + 128, Q4's nibble */
                            if (r >= R || k >= K) want = t == GF_W_Q8 ? 128 : 8;
                            else if (t == GF_W_Q8) want = ((int8_t *)a.codes)[r * K + k] + 128;
                            else {
                                uint8_t byte = ((uint8_t *)a.codes)[r * gf_q4_row_bytes(K) + b * 16 + j % 16];
                                want = j < 16 ? byte & 15 : byte >> 4;
                            }
                            int got;
                            if (t == GF_W_Q8) got = p[(j / 4) * 64 + 4 * l + j % 4];
                            else {
                                uint8_t byte = p[((j % 16) / 4) * 64 + 4 * l + j % 4];
                                got = j < 16 ? byte & 15 : byte >> 4;
                            }
                            if (got != want)
                                fail_msg("%s %zux%zu: row %zu column %zu packed as %d, not %d",
                                         gf_wtype_name((gf_wtype)t), R, K, r, k, got, want);
                        }
                    }
            free_mat(&a);
        }
}

/* gf_linear on a narrow-input path: with room for the narrowed inputs in buf
 * (gf_xq_bytes(M, K) bytes) the twin's numbers want[m * ldo + r]; with one
 * byte too few, exactly the float path's. */
static void check_linear_narrow(const tmat *a, const float *x, size_t M, size_t N, size_t K,
                                const float *want, size_t ldo, uint8_t *buf) {
    gf_xq xq = {buf, gf_xq_bytes(M, K)}, small = {buf, gf_xq_bytes(M, K) - 1};
    float *o = malloc(M * N * 4), *wc = malloc(M * N * 4), *f = malloc(M * N * 4);
    assert_true(o && wc && f);
    gf_linear(o, x, &a->m, NULL, M, &xq);
    for (size_t m = 0; m < M; m++) memcpy(wc + m * N, want + m * ldo, N * 4);
    double e = rel_err(o, wc, x, a->ref, M, N, K, N);
    if (!(e <= 1e-5)) fail_msg("gf_linear %s M=%zu N=%zu K=%zu: %.3g from the twin", gf_wtype_name(a->m.type), M, N, K, e);
    gf_linear(o, x, &a->m, NULL, M, &small);
    gf_linear(f, x, &a->m, NULL, M, NULL);
    assert_memory_equal(o, f, M * N * 4);
    free(o);
    free(wc);
    free(f);
}

/* The input quantiser against its scalar twin, byte for byte: rows of
 * ordinary values, ties at half a step, blocks of zeros, negative zeros,
 * subnormals (one block's largest under 127 / FLT_MAX), infinities and NaNs,
 * at lengths that end inside a block. */
static void test_int8_quantiser_twin(void **state) {
    (void)state;
    const size_t Ks[] = {1, 7, 31, 32, 33, 95, 96, 100, 1000};
    size_t checked = 0;
    for (int t = GF_W_Q8; t <= GF_W_Q4; t++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
            size_t K = Ks[ki], M = 9, rb = gf_actq_row_bytes(K);
            float *x = malloc(M * K * sizeof *x);
            uint8_t *a = malloc(M * rb), *b = malloc(M * rb);
            assert_true(x && a && b);
            for (size_t m = 0; m < M; m++)
                for (size_t k = 0; k < K; k++) {
                    float v = nrand() * 3.0f, *p = &x[m * K + k];
                    switch (m) {
                    case 1: v = (float)((int)(v * 8.0f)) * 0.5f; break; /* many ties after scaling */
                    case 2: v = k < 40 ? 0.0f : v; break;
                    case 3: v = k % 2 ? -0.0f : 0.0f; break;
                    case 4: v = v * 1e-39f; break; /* subnormal: inverse overflows */
                    case 5: v = k == K / 2 ? INFINITY : v; break;
                    case 6: v = k == K - 1 ? NAN : v; break;
                    case 7: v = k == 0 ? -INFINITY : v * 1e30f; break;
                    case 8: v = k % 33 == 5 ? 1e-45f : v * 1e-3f; break;
                    }
                    *p = v;
                }
            memset(a, 0xaa, M * rb);
            memset(b, 0x55, M * rb);
            gf_actq_quantize((gf_wtype)t, x, K, M, K, a);
            gf_actq_quantize_scalar((gf_wtype)t, x, K, M, K, b);
            for (size_t m = 0; m < M; m++)
                if (memcmp(a + m * rb, b + m * rb, rb))
                    fail_msg("%s K=%zu row %zu: the quantiser and its twin differ", gf_wtype_name((gf_wtype)t), K, m);
            if (gf_cpu_has_avx2_int8()) { /* the AVX2 version, whichever gf_actq_quantize runs here */
                memset(a, 0xaa, M * rb);
                gf_actq_quantize_avx2((gf_wtype)t, x, K, M, K, a);
                for (size_t m = 0; m < M; m++)
                    if (memcmp(a + m * rb, b + m * rb, rb))
                        fail_msg("%s K=%zu row %zu: the AVX2 quantiser and the twin differ", gf_wtype_name((gf_wtype)t), K, m);
            }
            /* a subnormal block codes as zeros with its (tiny) scale */
            for (size_t k = 0; k < K; k++) assert_int_equal(b[4 * rb + k], 0);
            checked += M;
            free(x);
            free(a);
            free(b);
        }
    printf("# int8 input quantiser: %zu rows identical to the twin (%s%s)\n", checked,
           gf_cpu_has_vnni() ? "AVX-512 version" : gf_cpu_has_avx2_int8() ? "AVX2 version" : "the twin itself on this CPU",
           gf_cpu_has_vnni() && gf_cpu_has_avx2_int8() ? ", and the AVX2 one" : "");
}

static void test_int8_inputs(void **state) {
    (void)state;
    const size_t Ks[] = {1, 5, 31, 32, 33, 64, 65, 100, 257, 1000};
    /* rows: within one group of 16, several, and enough for the 4-group tiles */
    const size_t Ns[] = {1, 3, 5, 16, 17, 40, 70};
    /* inputs: the AMX kernel's 16-row steps whole, padded, and several */
    const size_t Ms[] = {1, 2, 3, 4, 5, 8, 16, 17, 33};
    int vnni = gf_cpu_has_vnni(), avx2 = gf_cpu_has_avx2_int8(), avxvnni = gf_cpu_has_avxvnni();
    int amx = gf_cpu_has_amx();
    printf("# AVX512-VNNI: %s; AVX2: %s; AVX-VNNI: %s; AMX: %s\n", vnni ? "yes, checked against the twin" : "no",
           avx2 ? "yes, checked against the twin (and VNNI)" : "no", avxvnni ? "likewise" : "no",
           amx ? "likewise" : "no (GRIFFIN_AMX=0, or not this CPU), not checked");
    double worst_bound = 0, worst_simd = 0, worst_avx2 = 0, worst_amx = 0;
    for (int t = GF_W_Q8; t <= GF_W_Q4; t++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
            size_t K = Ks[ki], rb = gf_actq_row_bytes(K), nb = gf_q_nblocks(K);
            int32_t z = t == GF_W_Q8 ? 128 : 8;
            for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
                size_t N = Ns[ni];
                tmat a = make_mat((gf_wtype)t, N, K, 0.5f);
                for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++) {
                    size_t M = Ms[mi], ldo = N + 2;
                    float *x = malloc(M * K * 4), *want = malloc(M * ldo * 4), *got = malloc(M * ldo * 4);
                    uint8_t *q = malloc(gf_xq_bytes(M, K));
                    assert_true(x && want && got && q);
                    for (size_t i = 0; i < M * K; i++) x[i] = nrand();
                    if (K > 40) {
                        for (size_t k = 32; k < 40; k++) x[k] = 0.0f; /* part of a block of zeros */
                        if (M > 1) for (size_t k = 0; k < 32; k++) x[K + k] = 0.0f; /* a whole one */
                        x[M * K - 1] = 300.0f; /* an outlier */
                    }
                    gf_actq_quantize((gf_wtype)t, x, K, M, K, q);
                    /* the layout, block by block */
                    for (size_t m = 0; m < M; m++) {
                        const uint8_t *row = q + m * rb;
                        for (size_t b = 0; b < nb; b++) {
                            float d;
                            int32_t corr, sum = 0;
                            memcpy(&d, row + gf_actq_dx_offset(K) + 4 * b, 4);
                            memcpy(&corr, row + gf_actq_corr_offset(K) + 4 * b, 4);
                            float amax = 0;
                            for (size_t j = 0; j < 32 && b * 32 + j < K; j++)
                                amax = fmaxf(amax, fabsf(x[m * K + b * 32 + j]));
                            assert_true(d == amax / 127.0f);
                            for (size_t j = 0; j < 32; j++) {
                                int c = (int8_t)row[b * 32 + j];
                                size_t k = b * 32 + j;
                                sum += c;
                                if (k >= K) { assert_int_equal(c, 0); continue; }
                                float v = x[m * K + k];
                                assert_true(c >= -127 && c <= 127);
                                assert_true(fabsf(v - (float)c * d) <= d * 0.5001f);
                                if (amax > 0 && fabsf(v) == amax) assert_int_equal(abs(c), 127);
                            }
                            assert_int_equal(corr, -z * sum);
                        }
                        assert_true(gf_actq_corr_offset(K) + 4 * nb <= rb);
                    }
                    /* the twin against the exact product of the stored weights */
                    for (size_t i = 0; i < M * ldo; i++) want[i] = got[i] = 12345.0f;
                    gf_gemv_actq_rows_scalar(&a.m, q, M, want, ldo, 0, N);
                    for (size_t m = 0; m < M; m++)
                        for (size_t r = 0; r < N; r++) {
                            double mag, s = exact_dot(x + m * K, a.ref + r * K, K, &mag);
                            double bound = gf_actq_error_bound(&a.m, r, x + m * K);
                            double e = fabs(want[m * ldo + r] - s);
                            /* the bound, plus float rounding of the block sums */
                            if (!(e <= bound + 1e-5 * mag))
                                fail_msg("twin %s M=%zu N=%zu K=%zu: error %.3g over the bound %.3g",
                                         gf_wtype_name((gf_wtype)t), M, N, K, e, bound);
                            if (bound > 0) worst_bound = fmax(worst_bound, e / bound);
                        }
                    if (vnni) {
                        /* a share that starts inside a group */
                        size_t r0 = N > 20 ? 17 : N > 1 ? 1 : 0;
                        gf_gemv_actq_rows_vnni(&a.m, q, M, got, ldo, r0, N);
                        double e = share_error(got, want, x, a.ref, M, N, K, ldo, r0);
                        worst_simd = fmax(worst_simd, e);
                        if (e > 1e-5)
                            fail_msg("VNNI %s M=%zu N=%zu K=%zu: relative error %.3g against the twin",
                                     gf_wtype_name((gf_wtype)t), M, N, K, e);
                    }
                    /* the AMX version: the VNNI one's results bit for bit */
                    if (amx) {
                        size_t r0 = N > 20 ? 17 : N > 1 ? 1 : 0;
                        float *g3 = malloc(M * ldo * 4);
                        assert_non_null(g3);
                        for (size_t i = 0; i < M * ldo; i++) g3[i] = 12345.0f;
                        gf_gemv_actq_rows_amx(&a.m, q, M, g3, ldo, r0, N);
                        if (vnni)
                            for (size_t m = 0; m < M; m++)
                                if (memcmp(g3 + m * ldo + r0, got + m * ldo + r0, (N - r0) * 4))
                                    fail_msg("AMX %s M=%zu N=%zu K=%zu: not the VNNI kernel's results",
                                             gf_wtype_name((gf_wtype)t), M, N, K);
                        double e = share_error(g3, want, x, a.ref, M, N, K, ldo, r0);
                        worst_amx = fmax(worst_amx, e);
                        if (e > 1e-5)
                            fail_msg("AMX %s M=%zu N=%zu K=%zu: relative error %.3g against the twin",
                                     gf_wtype_name((gf_wtype)t), M, N, K, e);
                        free(g3);
                    }
                    /* and through gf_linear, which takes the integer path on either */
                    if (gf_cpu_has_int8_dot()) check_linear_narrow(&a, x, M, N, K, want, ldo, q);
                    /* the AVX2 and AVX-VNNI versions: the twin's within rounding, the
                     * AVX-512 VNNI one's bit for bit */
                    for (int v = 0; v < 2; v++) {
                        if (!(v ? avxvnni : avx2)) continue;
                        size_t r0 = N > 20 ? 17 : N > 1 ? 1 : 0;
                        float *g2 = malloc(M * ldo * 4);
                        assert_non_null(g2);
                        for (size_t i = 0; i < M * ldo; i++) g2[i] = 12345.0f;
                        if (v) gf_gemv_actq_rows_avxvnni(&a.m, q, M, g2, ldo, r0, N);
                        else gf_gemv_actq_rows_avx2(&a.m, q, M, g2, ldo, r0, N);
                        if (vnni)
                            for (size_t m = 0; m < M; m++)
                                assert_memory_equal(g2 + m * ldo + r0, got + m * ldo + r0, (N - r0) * 4);
                        double e = share_error(g2, want, x, a.ref, M, N, K, ldo, r0);
                        worst_avx2 = fmax(worst_avx2, e);
                        if (e > 1e-5)
                            fail_msg("%s int8 %s M=%zu N=%zu K=%zu: relative error %.3g against the twin",
                                     v ? "AVX-VNNI" : "AVX2", gf_wtype_name((gf_wtype)t), M, N, K, e);
                        free(g2);
                    }
                    free(x);
                    free(want);
                    free(got);
                    free(q);
                }
                free_mat(&a);
            }
        }
    printf("# int8 inputs: twin error at most %.2g of the stated bound; VNNI vs twin %.2g; AVX2 / AVX-VNNI vs twin %.2g; "
           "AMX vs twin %.2g\n",
           worst_bound, worst_simd, worst_avx2, worst_amx);
    /* a non-finite input makes its row's products NaN, as in float, and
     * leaves the other rows alone */
    for (int t = GF_W_Q8; t <= GF_W_Q4; t++) {
        size_t K = 96, N = 5, M = 2;
        tmat a = make_mat((gf_wtype)t, N, K, 0.5f);
        float x[2 * 96], o[2 * 5];
        uint8_t q[2 * 192];
        assert_true(2 * gf_actq_row_bytes(K) <= sizeof q);
        for (size_t i = 0; i < M * K; i++) x[i] = nrand();
        x[K + 70] = INFINITY;
        gf_actq_quantize((gf_wtype)t, x, K, M, K, q);
        for (int pass = 0; pass < 5; pass++) {
            if (pass == 0) gf_gemv_actq_rows_scalar(&a.m, q, M, o, N, 0, N);
            else if (pass == 4 && amx) gf_gemv_actq_rows_amx(&a.m, q, M, o, N, 0, N);
            else if (pass == 1 && vnni) gf_gemv_actq_rows_vnni(&a.m, q, M, o, N, 0, N);
            else if (pass == 2 && avx2) gf_gemv_actq_rows_avx2(&a.m, q, M, o, N, 0, N);
            else if (pass == 3 && avxvnni) gf_gemv_actq_rows_avxvnni(&a.m, q, M, o, N, 0, N);
            else continue;
            for (size_t r = 0; r < N; r++) {
                assert_true(isfinite(o[r]));
                assert_true(isnan(o[N + r]));
            }
        }
        free_mat(&a);
    }
}

/* Why decode and prefill of a model with narrowed inputs need not agree to
 * float rounding (test_quantize): rounding an input to its block's int8
 * grid is a step function, so inputs one float ulp apart that straddle a
 * half-way point get codes one apart, and the product moves by that code
 * step times the weight, far more than the ulp. Decode and prefill compute
 * attention in different orders (a ring and a softmax against 64-key
 * blocks with a running max), so their outputs differ by ulps, and where
 * one such output sits on a half-way point the next product's input differs
 * by a code. Here on a constructed row: the block's max is 127 (scale
 * exactly 1) and one input is -77.5 (a tie: rounds to even, -78) or the
 * float just above it (-77); the two products differ by exactly the weight
 * times its scale, and each stays within gf_actq_error_bound of the exact
 * product, which is all the int8 path promises. */
static void test_int8_input_tie(void **state) {
    (void)state;
    const size_t K = 64, R = 16;
    for (int t = GF_W_Q8; t <= GF_W_Q4; t++) {
        tmat a = make_mat((gf_wtype)t, R, K, 1.0f);
        float x[2][64];
        for (size_t k = 0; k < K; k++) x[0][k] = x[1][k] = (float)((int)(k * 37 % 255) - 127) / 2.0f;
        x[0][1] = x[1][1] = 127.0f; /* the block's max: its scale 127 / 127 = 1 */
        x[0][5] = -77.5f;
        x[1][5] = nextafterf(-77.5f, 0.0f);
        uint8_t *q = malloc(2 * gf_actq_row_bytes(K));
        assert_non_null(q);
        gf_actq_quantize((gf_wtype)t, &x[0][0], K, 2, K, q);
        assert_int_equal((int8_t)q[5], -78);
        assert_int_equal((int8_t)q[gf_actq_row_bytes(K) + 5], -77);
        float out[2][16];
        gf_gemv_actq_rows_scalar(&a.m, q, 2, &out[0][0], R, 0, R);
        float fast[2][16];
        /* the kernel in use (the twin where the set has none) */
        if (gf_cpu_has_int8_dot()) gf_gemv_actq_rows(&a.m, q, 2, &fast[0][0], R, 0, R);
        else memcpy(fast, out, sizeof out);
        int moved = 0;
        for (size_t r = 0; r < R; r++) {
            double w = a.ref[r * K + 5], step = fabs(w); /* one code of input 5 (scale 1) times the weight */
            double mag0;
            exact_dot(x[0], a.ref + r * K, K, &mag0);
            /* float sums of terms up to mag0 in all: a few ulps of it */
            double tol = 4.0 * FLT_EPSILON * mag0;
            double d = fabs((double)out[0][r] - (double)out[1][r]);
            if (fabs(d - step) > tol) fail_msg("row %zu: products %.9g apart, not |w| = %.9g", r, d, step);
            for (int i = 0; i < 2; i++)
                if (fabs(fast[i][r] - out[i][r]) > tol) fail_msg("row %zu: kernel %.9g, twin %.9g", r, fast[i][r], out[i][r]);
            moved += step > 1e-4 + tol;
            for (int i = 0; i < 2; i++) {
                double mag, exact = exact_dot(x[i], a.ref + r * K, K, &mag);
                double bound = gf_actq_error_bound(&a.m, r, x[i]) + 1e-6 * mag;
                if (!(fabs(out[i][r] - exact) <= bound)) fail_msg("row %zu input %d: %.9g from the exact product, bound %.9g", r, i, fabs(out[i][r] - exact), bound);
            }
        }
        /* inputs one ulp apart, products a whole code step apart */
        assert_true(moved > 0);
        print_message("    %s: inputs 1 ulp apart at a tie move %d of %zu products by |w| (kernels: %s)\n",
                      gf_wtype_name((gf_wtype)t), moved, R, gf_kernels_name());
        free(q);
        free_mat(&a);
    }
}

/* BF16 weights with inputs rounded to bfloat16: the rounding (to nearest
 * even, zeros after K), the twin within the rounding's bound of the exact
 * product (each input off by at most 2^-8 of itself), and the AVX512-BF16
 * version against the twin, directly and through gf_linear. */
static void test_bf16_inputs(void **state) {
    (void)state;
    const size_t Ks[] = {1, 5, 31, 32, 33, 64, 100, 257, 1000};
    /* rows: within one group of 16, several, and enough for the 4-group tiles */
    const size_t Ns[] = {1, 3, 5, 16, 17, 40, 70};
    const size_t Ms[] = {1, 2, 3, 4, 5, 8, 16, 17, 70};
    int has = gf_cpu_has_avx512bf16(), amx = gf_cpu_has_amx();
    printf("# AVX512-BF16: %s; AMX: %s\n", has ? "yes, checked against the twin" : "no, twin only",
           amx ? "likewise" : "no (GRIFFIN_AMX=0, or not this CPU), not checked");
    double worst = 0, worst_amx = 0;
    for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
        size_t K = Ks[ki], Kp = gf_bf16x_cols(K);
        assert_true(Kp % 32 == 0 && Kp >= K && Kp < K + 32);
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
            size_t N = Ns[ni];
            tmat a = make_mat(GF_W_BF16, N, K, 0.5f);
            for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++) {
                size_t M = Ms[mi], ldo = N + 2;
                float *x = malloc(M * K * 4), *want = malloc(M * ldo * 4), *got = malloc(M * ldo * 4);
                uint16_t *xb = malloc(M * Kp * 2);
                assert_true(x && want && got && xb);
                for (size_t i = 0; i < M * K; i++) x[i] = nrand();
                gf_bf16x_round(x, K, M, K, xb);
                for (size_t m = 0; m < M; m++)
                    for (size_t k = 0; k < Kp; k++)
                        assert_int_equal(xb[m * Kp + k], k < K ? gf_f32_to_bf16(x[m * K + k]) : 0);
                for (size_t i = 0; i < M * ldo; i++) want[i] = got[i] = 12345.0f;
                gf_gemv_bf16x_rows_scalar(&a.m, xb, M, want, ldo, 0, N);
                for (size_t m = 0; m < M; m++)
                    for (size_t r = 0; r < N; r++) {
                        double mag, s = exact_dot(x + m * K, a.ref + r * K, K, &mag);
                        if (!(fabs(want[m * ldo + r] - s) <= mag * (0x1p-8 + 1e-5)))
                            fail_msg("bf16 twin M=%zu N=%zu K=%zu: %.3g over the bound", M, N, K,
                                     fabs(want[m * ldo + r] - s) / mag);
                    }
                if (has) {
                    size_t r0 = N > 1 ? 1 : 0;
                    gf_gemv_bf16x_rows_avx512bf16(&a.m, xb, M, got, ldo, r0, N);
                    double e = share_error(got, want, x, a.ref, M, N, K, ldo, r0);
                    worst = fmax(worst, e);
                    if (e > 1e-5) fail_msg("AVX512-BF16 M=%zu N=%zu K=%zu: relative error %.3g against the twin", M, N, K, e);
                    /* the AMX version (whole groups of 16 rows with tiles, the
                     * rows around them and K % 32 != 0 without) */
                    if (amx) {
                        for (size_t i = 0; i < M * ldo; i++) got[i] = 12345.0f;
                        gf_gemv_bf16x_rows_amx(&a.m, xb, M, got, ldo, r0, N);
                        e = share_error(got, want, x, a.ref, M, N, K, ldo, r0);
                        worst_amx = fmax(worst_amx, e);
                        if (e > 1e-5) fail_msg("AMX-BF16 M=%zu N=%zu K=%zu: relative error %.3g against the twin", M, N, K, e);
                    }
                    /* through gf_linear */
                    uint8_t *buf = malloc(gf_xq_bytes(M, K));
                    check_linear_narrow(&a, x, M, N, K, want, ldo, buf);
                    free(buf);
                }
                free(x);
                free(want);
                free(got);
                free(xb);
            }
            free_mat(&a);
        }
    }
    printf("# bf16 inputs: AVX512-BF16 vs twin %.2g; AMX vs twin %.2g\n", worst, worst_amx);
    /* the rounding on the values random inputs do not reach: NaNs (kept
     * quiet), infinities, subnormals, ties either way, the largest floats */
    const uint32_t special[] = {0x7fc00000u, 0x7f800001u, 0xffa00000u, 0x7f800000u, 0xff800000u, 0x00000001u,
                                0x807fffffu, 0x3f808000u, 0x3f818000u, 0x3f808001u, 0x7f7fffffu, 0xff7fffffu,
                                0x00000000u, 0x80000000u, 0x3f7fffffu, 0x477fe000u};
    size_t ns = sizeof special / sizeof *special;
    float sv[16];
    uint16_t sb[32];
    for (size_t i = 0; i < ns; i++) memcpy(&sv[i], &special[i], 4);
    gf_bf16x_round(sv, ns, 1, ns, sb);
    for (size_t i = 0; i < ns; i++)
        if (sb[i] != gf_f32_to_bf16(sv[i])) fail_msg("bf16 rounding of 0x%08x: 0x%04x, not 0x%04x", special[i], sb[i], gf_f32_to_bf16(sv[i]));
    for (size_t i = ns; i < 32; i++) assert_int_equal(sb[i], 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_order),
        cmocka_unit_test(test_int8_quantiser_twin),
        cmocka_unit_test(test_int8_inputs),
        cmocka_unit_test(test_int8_input_tie),
        cmocka_unit_test(test_bf16_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
