/* The matrix-product kernels and the weight formats: every SIMD version this
 * CPU runs against the scalar twin, for every weight type, on random shapes
 * with odd sizes (short quantisation blocks, rows not a multiple of the tile,
 * one input row or many); the weight quantisers' error bounds; F16
 * conversion on every value; the combine kernel; gf_linear / gf_block_diag,
 * whichever path they take, against a plain double-precision product, and
 * the logits' soft cap. The narrow-input kernels (int8 and bfloat16 inputs,
 * VNNI, AVX2, AVX-VNNI, AVX512-BF16, AMX) are in test_narrow_kernels.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/actq.h"
#include "kernels/combine.h"
#include "kernels/gemv.h"
#include "kernels/quant.h"
#include "kernel_fixtures.h"
#include "testutil.h"
#include "util.h"

static void test_simd_matches_scalar_twin(void **state) {
    (void)state;
    gf_isa best = gf_cpu_isa();
    printf("# CPU: %s\n", gf_isa_name(best));
    const size_t Ks[] = {1, 5, 16, 31, 32, 33, 64, 100, 257, 1000};
    const size_t Ns[] = {1, 3, 4, 5, 9, 17, 40};
    const size_t Ms[] = {1, 2, 3, 4, 5, 7, 8, 16, 33};
    double worst[GF_W_COUNT] = {0};
    int checked = 0;
    for (int t = 0; t < GF_W_COUNT; t++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
                size_t K = Ks[ki], N = Ns[ni];
                tmat a = make_mat((gf_wtype)t, N, K, 0.5f);
                for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++) {
                    size_t M = Ms[mi], ldo = N + 3;
                    float *x = malloc(M * K * sizeof *x);
                    float *want = malloc(M * ldo * sizeof *want), *got = malloc(M * ldo * sizeof *got);
                    assert_true(x && want && got);
                    for (size_t i = 0; i < M * K; i++) x[i] = nrand();
                    for (size_t i = 0; i < M * ldo; i++) want[i] = got[i] = 12345.0f;
                    gf_gemv_rows_scalar(&a.m, x, K, M, want, ldo, 0, N);
                    /* the twin itself against the dequantised values in double */
                    double e0 = 0;
                    for (size_t m = 0; m < M; m++)
                        for (size_t r = 0; r < N; r++) {
                            double mag, s = exact_dot(x + m * K, a.ref + r * K, K, &mag);
                            e0 = fmax(e0, fabs(s - want[m * ldo + r]) / mag);
                        }
                    assert_true(e0 < 1e-5);
                    for (int isa = GF_ISA_AVX2; isa <= (int)best; isa++) {
                        /* a share of rows from 1, as a thread would get */
                        /* a share that starts inside a group */
                        size_t r0 = N > 20 ? 17 : N > 1 ? 1 : 0;
                        for (size_t i = 0; i < M * ldo; i++) got[i] = 12345.0f;
                        gf_gemv_rows((gf_isa)isa, &a.m, x, K, M, got, ldo, r0, N);
                        double e = share_error(got, want, x, a.ref, M, N, K, ldo, r0);
                        if (e > worst[t]) worst[t] = e;
                        if (e > 1e-5)
                            fail_msg("%s %s M=%zu N=%zu K=%zu: relative error %.3g", gf_isa_name((gf_isa)isa),
                                     gf_wtype_name((gf_wtype)t), M, N, K, e);
                        checked++;
                    }
                    if (best >= GF_ISA_AVX2) { /* the AVX2 panel kernel of many input rows */
                        size_t r0 = N > 1 ? 1 : 0;
                        float *panel = aligned_alloc(32, gf_gemm_panel_floats(K) * sizeof(float));
                        assert_non_null(panel);
                        for (size_t i = 0; i < M * ldo; i++) got[i] = 12345.0f;
                        gf_gemm_rows_avx2(&a.m, x, K, M, got, ldo, r0, N, panel);
                        double e = share_error(got, want, x, a.ref, M, N, K, ldo, r0);
                        if (e > worst[t]) worst[t] = e;
                        if (e > 1e-5)
                            fail_msg("AVX2 panel %s M=%zu N=%zu K=%zu: relative error %.3g", gf_wtype_name((gf_wtype)t), M, N, K, e);
                        free(panel);
                    }
                    free(x);
                    free(want);
                    free(got);
                }
                free_mat(&a);
            }
    for (int t = 0; t < GF_W_COUNT; t++)
        printf("# %s: worst relative error of the SIMD kernels %.2g\n", gf_wtype_name((gf_wtype)t), worst[t]);
    if (best == GF_ISA_SCALAR) skip(); /* nothing but the twin on this CPU */
    assert_true(checked > 0);
}

/* gf_combine_rows (out += p v over rows of v, the value half of decode
 * attention): the twin against the sums in double, and the AVX-512 version
 * against the twin, on odd sizes (columns not a multiple of 16 or of its 64,
 * more weight rows than its tile of 4, more value rows than its block), with
 * strides wider than the rows and out already holding values. The error is
 * relative to sum_j |p v|, the sums' magnitude. */
static void test_combine_rows(void **state) {
    (void)state;
    const size_t Ds[] = {1, 7, 16, 24, 63, 64, 65, 100, 128, 200, 256};
    const size_t Ms[] = {1, 2, 3, 4, 5, 6, 9};
    const size_t Ns[] = {0, 1, 5, 31, 32, 33, 130};
    gf_isa isa = gf_cpu_isa();
    double worst_twin = 0, worst_simd = 0;
    for (size_t di = 0; di < sizeof Ds / sizeof *Ds; di++)
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
                size_t D = Ds[di], M = Ms[mi], n = Ns[ni], ldp = n + 2, ldv = D + 5, ldo = D + 3;
                float *p = malloc((M * ldp + 1) * sizeof *p), *v = malloc((n * ldv + 1) * sizeof *v);
                float *want = malloc(M * ldo * sizeof *want), *got = malloc(M * ldo * sizeof *got);
                assert_true(p && v && want && got);
                for (size_t i = 0; i < M * ldp; i++) p[i] = (float)urand();
                for (size_t i = 0; i < n * ldv; i++) v[i] = nrand();
                for (size_t i = 0; i < M * ldo; i++) want[i] = got[i] = nrand();
                float *before = malloc(M * ldo * sizeof *before);
                assert_non_null(before);
                memcpy(before, want, M * ldo * sizeof *before);
                gf_combine_rows_scalar(p, ldp, M, v, ldv, n, D, want, ldo);
                gf_combine_rows(isa, p, ldp, M, v, ldv, n, D, got, ldo);
                for (size_t m = 0; m < M; m++) {
                    for (size_t d = D; d < ldo; d++) /* past the D columns: untouched */
                        assert_true(got[m * ldo + d] == before[m * ldo + d] && want[m * ldo + d] == before[m * ldo + d]);
                    for (size_t d = 0; d < D; d++) {
                        double s = before[m * ldo + d], mag = fabs(s) + 1e-30;
                        for (size_t j = 0; j < n; j++) {
                            s += (double)p[m * ldp + j] * v[j * ldv + d];
                            mag += fabs((double)p[m * ldp + j] * v[j * ldv + d]);
                        }
                        worst_twin = fmax(worst_twin, fabs(want[m * ldo + d] - s) / mag);
                        worst_simd = fmax(worst_simd, fabs((double)got[m * ldo + d] - want[m * ldo + d]) / mag);
                    }
                }
                free(p);
                free(v);
                free(want);
                free(got);
                free(before);
            }
    printf("# combine rows: twin %.2g, %s %.2g (relative to sum |p v|)\n", worst_twin, gf_isa_name(isa), worst_simd);
    /* float32 sums of up to 131 terms: n eps ~ 1.6e-5 at worst, ~1e-6 typical */
    assert_true(worst_twin < 2e-5);
    assert_true(worst_simd < 2e-5);
    if (isa != GF_ISA_AVX512) skip(); /* only the twin runs on this CPU */
}

static void test_quantisers(void **state) {
    (void)state;
    const size_t cols_list[] = {1, 7, 32, 45, 64, 100};
    for (size_t ci = 0; ci < sizeof cols_list / sizeof *cols_list; ci++) {
        size_t cols = cols_list[ci], nb = gf_q_nblocks(cols);
        float w[100], back[100];
        int8_t q8[100];
        uint8_t q4[64];
        uint16_t s[4];
        for (int trial = 0; trial < 200; trial++) {
            float scale = trial % 3 == 0 ? 1e-3f : trial % 3 == 1 ? 1.0f : 40.0f;
            for (size_t i = 0; i < cols; i++) w[i] = scale * nrand();
            if (trial == 0) for (size_t i = 0; i < cols; i++) w[i] = 0.0f;
            gf_q8_quantize_row(w, cols, q8, s);
            gf_q8_dequantize_row(q8, s, cols, back);
            for (size_t b = 0; b < nb; b++) {
                float amax = 0;
                for (size_t i = b * 32; i < cols && i < b * 32 + 32; i++) amax = fmaxf(amax, fabsf(w[i]));
                float d = gf_f16_to_f32(s[b]);
                /* d is amax / 127 to within an F16 ulp (rounded, or one up; subnormals below 2^-14) */
                assert_true(fabsf(d - amax / 127) <= fmaxf(amax / 127 * 0x1p-10f, 0x1p-24f));
                for (size_t i = b * 32; i < cols && i < b * 32 + 32; i++) {
                    assert_true(q8[i] >= -127 && q8[i] <= 127);
                    /* the nearest code: within half a step (and rounding of d) */
                    assert_true(fabsf(back[i] - w[i]) <= 0.5f * d * 1.001f + 1e-30f);
                }
            }
            gf_q4_quantize_row(w, cols, q4, s);
            gf_q4_dequantize_row(q4, s, cols, back);
            for (size_t b = 0; b < nb; b++) {
                float amax = 0, e = 0, e7 = 0, d7 = 0;
                size_t lo = b * 32, hi = cols < lo + 32 ? cols : lo + 32;
                for (size_t i = lo; i < hi; i++) amax = fmaxf(amax, fabsf(w[i]));
                d7 = gf_f16_to_f32(gf_f32_to_f16(amax / 7));
                for (size_t i = lo; i < hi; i++) {
                    e += (back[i] - w[i]) * (back[i] - w[i]);
                    float c = d7 > 0 ? fminf(fmaxf(rintf(w[i] / d7), -8), 7) : 0;
                    e7 += (c * d7 - w[i]) * (c * d7 - w[i]);
                }
                /* never worse than the plain symmetric amax / 7 scale, one of the candidates */
                assert_true(e <= e7 * 1.0001f + 1e-30f);
                for (size_t i = lo; i < hi; i++) assert_true(fabsf(back[i] - w[i]) <= amax / 7 + 1e-30f);
                /* the padding of a short last block codes zero */
                for (size_t j = hi - lo; j < 32; j++) {
                    uint8_t byte = q4[b * 16 + j % 16];
                    assert_int_equal(j < 16 ? byte & 15 : byte >> 4, 8);
                }
            }
        }
    }
}

static void test_f16_conversion(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = gf_f16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        assert_int_equal(gf_f32_to_f16(f), h); /* every value round-trips */
    }
    /* halfway cases round to even; overflow to infinity; tiny to zero */
    assert_int_equal(gf_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    assert_int_equal(gf_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_int_equal(gf_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(gf_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(gf_f32_to_f16(0x1p-25f), 0x0000);
    assert_int_equal(gf_f32_to_f16(0x1.000002p-25f), 0x0001);
    assert_int_equal(gf_f32_to_f16(-0x1p-24f), 0x8001);
    assert_int_equal(gf_f32_to_f16(3 * 0x1p-25f), 0x0002);
#if defined(__x86_64__) && defined(__FLT16_MAX__)
    /* against the compiler's own conversion on random bit patterns */
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)(urand() * 4294967296.0);
        float f;
        memcpy(&f, &u, 4);
        if (isnan(f)) continue;
        _Float16 c = (_Float16)f;
        uint16_t want;
        memcpy(&want, &c, 2);
        assert_int_equal(gf_f32_to_f16(f), want);
    }
#endif
}

/* gf_linear on every path (gemv kernels, chunked; sgemm) and gf_block_diag
 * with and without the transposed copy, against double sums. */
/* The soft cap fused into gf_linear_many (the logits' product): the same as
 * the uncapped product followed by gf_soft_capf, bit for bit, for
 * every weight type, float and narrowed inputs, batches on both sides of the
 * kernels' tiles, and rows that cross the 2048-row pieces the threads cap in
 * (and end inside a group of 16). */
static void test_linear_soft_cap(void **state) {
    (void)state;
    const size_t Ms[] = {1, 5, 16, 70};
    size_t N = 2 * 2048 + 37, K = 70;
    for (int t = 0; t < GF_W_COUNT; t++) {
        tmat a = make_mat((gf_wtype)t, N, K, 0.3f);
        float *bias = malloc(N * 4);
        assert_non_null(bias);
        for (size_t r = 0; r < N; r++) bias[r] = 4.0f * nrand();
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
            for (int narrow = 0; narrow < 2; narrow++) {
                size_t M = Ms[mi];
                float *x = malloc(M * K * 4), *plain = malloc(M * N * 4), *capped = malloc(M * N * 4);
                uint8_t *buf = malloc(gf_xq_bytes(M, K));
                assert_true(x && plain && capped && buf);
                for (size_t i = 0; i < M * K; i++) x[i] = 3.0f * nrand();
                gf_xq xq = {buf, gf_xq_bytes(M, K)};
                gf_product p = {&a.m, plain, bias, 0};
                gf_linear_many(x, M, &p, 1, narrow ? &xq : NULL);
                p.out = capped;
                p.cap = 2.0f; /* small, so that many logits reach the flat part */
                gf_linear_many(x, M, &p, 1, narrow ? &xq : NULL);
                size_t flat = 0;
                for (size_t i = 0; i < M * N; i++) {
                    float want = gf_soft_capf(plain[i], 2.0f, 1.0f);
                    if (memcmp(&want, &capped[i], 4) != 0)
                        fail_msg("%s M=%zu %s inputs: logit %zu is %.9g, want %.9g", gf_wtype_name((gf_wtype)t), M,
                                 narrow ? "narrow" : "float", i, capped[i], want);
                    flat += fabsf(capped[i]) > 1.96f;
                }
                if (!(flat > 0 && flat < M * N)) fail_msg("%s M=%zu: %zu of %zu flat", gf_wtype_name((gf_wtype)t), M, flat, M * N);
                free(x);
                free(plain);
                free(capped);
                free(buf);
            }
        free(bias);
        free_mat(&a);
    }
}

static void test_linear_paths(void **state) {
    (void)state;
    const size_t Ms[] = {1, 3, 16, 63, 64, 100, 300};
    for (int t = 0; t < GF_W_COUNT; t++) {
        size_t N = 37, K = 1100;
        tmat a = make_mat((gf_wtype)t, N, K, 0.1f);
        float bias[37];
        for (size_t r = 0; r < N; r++) bias[r] = nrand();
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++) {
            size_t M = Ms[mi];
            float *x = malloc(M * K * 4), *out = malloc(M * N * 4), *want = malloc(M * N * 4);
            assert_true(x && out && want);
            for (size_t i = 0; i < M * K; i++) x[i] = nrand();
            for (size_t m = 0; m < M; m++)
                for (size_t r = 0; r < N; r++) {
                    double s = bias[r];
                    for (size_t k = 0; k < K; k++) s += (double)x[m * K + k] * a.ref[r * K + k];
                    want[m * N + r] = (float)s;
                }
            gf_linear(out, x, &a.m, bias, M, NULL);
            double e = rel_err(out, want, x, a.ref, M, N, K, N);
            if (e > 1e-5) fail_msg("gf_linear %s M=%zu: relative error %.3g", gf_wtype_name((gf_wtype)t), M, e);
            free(x);
            free(out);
            free(want);
        }
        free_mat(&a);
    }
    /* block-diagonal gates: H = 3 blocks of 20 */
    size_t H = 3, bw = 20, L = H * bw;
    tmat g = make_mat(GF_W_F32, L, bw, 0.3f);
    float *gt = malloc(L * bw * 4);
    for (size_t h = 0; h < H; h++)
        for (size_t i = 0; i < bw; i++)
            for (size_t j = 0; j < bw; j++) gt[h * bw * bw + j * bw + i] = g.ref[h * bw * bw + i * bw + j];
    float bias[60];
    for (size_t j = 0; j < L; j++) bias[j] = nrand();
    for (size_t M = 1; M <= 70; M += 23) {
        float *x = malloc(M * L * 4), *o1 = malloc(M * L * 4), *o2 = malloc(M * L * 4);
        for (size_t i = 0; i < M * L; i++) x[i] = nrand();
        gf_block_diag(o1, x, &g.m, bias, M, H, bw, NULL);
        gf_mat with_t = g.m;
        with_t.blocks_t = gt;
        gf_block_diag(o2, x, &with_t, bias, M, H, bw, NULL);
        for (size_t m = 0; m < M; m++)
            for (size_t h = 0; h < H; h++)
                for (size_t j = 0; j < bw; j++) {
                    double s = bias[h * bw + j], mag = 1e-30;
                    for (size_t i = 0; i < bw; i++) {
                        double p = (double)x[m * L + h * bw + i] * g.ref[h * bw * bw + i * bw + j];
                        s += p;
                        mag += fabs(p) + fabs(bias[h * bw + j]);
                    }
                    assert_true(fabs(o1[m * L + h * bw + j] - s) / mag < 1e-5);
                    assert_true(fabs(o2[m * L + h * bw + j] - s) / mag < 1e-5);
                }
        free(x);
        free(o1);
        free(o2);
    }
    free(gt);
    free_mat(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simd_matches_scalar_twin),
        cmocka_unit_test(test_combine_rows),
        cmocka_unit_test(test_quantisers),
        cmocka_unit_test(test_f16_conversion),
        cmocka_unit_test(test_linear_paths),
        cmocka_unit_test(test_linear_soft_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
