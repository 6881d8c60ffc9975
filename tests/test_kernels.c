/* The matrix-product kernels and the weight formats: every SIMD version this
 * CPU runs against the scalar twin, for every weight type, on random shapes
 * with odd sizes (short quantisation blocks, rows not a multiple of the tile,
 * one input row or many); the quantisers' error bounds; F16 conversion on
 * every value; gf_linear / gf_block_diag, whichever path they take,
 * against a plain double-precision product; and the integer path of Q8 / Q4
 * (inputs quantised to int8): the quantiser against its documented layout,
 * the twin against the exact product within the stated bound, the VNNI
 * version against the twin; and likewise BF16 weights with bfloat16 inputs
 * (AVX512-BF16). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "kernels/actq.h"
#include "kernels/combine.h"
#include "kernels/gemv.h"
#include "kernels/quant.h"
#include "testutil.h"
#include "util.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* xorshift64*, uniform [0, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) * 0x1p-53;
}
static float nrand(void) { return (float)(urand() * 2.0 - 1.0); }

/* One matrix in a given type, built from float values, with its storage. */
typedef struct {
    gf_mat m;
    void *codes;
    uint16_t *scales;
    uint8_t *packed; /* Q8 / Q4: the codes and scales in the packed order */
    float *ref; /* the values the stored matrix stands for, [rows, cols] */
} tmat;

static tmat make_mat(gf_wtype t, size_t rows, size_t cols, float scale) {
    tmat a = {0};
    size_t n = rows * cols, nb = gf_q_nblocks(cols);
    float *w = malloc(n * sizeof *w);
    a.ref = malloc(n * sizeof *a.ref);
    assert_non_null(w);
    assert_non_null(a.ref);
    for (size_t i = 0; i < n; i++) w[i] = scale * nrand();
    switch (t) {
    case GF_W_F32: a.codes = malloc(n * 4); memcpy(a.codes, w, n * 4); break;
    case GF_W_BF16:
    case GF_W_F16: {
        uint16_t *h = malloc(n * 2);
        for (size_t i = 0; i < n; i++) h[i] = t == GF_W_BF16 ? gf_f32_to_bf16(w[i]) : gf_f32_to_f16(w[i]);
        a.codes = h;
        break;
    }
    case GF_W_Q8:
    case GF_W_Q4:
        a.codes = malloc(rows * (t == GF_W_Q8 ? gf_q8_row_bytes(cols) : gf_q4_row_bytes(cols)));
        a.scales = malloc(rows * nb * 2);
        for (size_t r = 0; r < rows; r++) {
            if (t == GF_W_Q8) gf_q8_quantize_row(w + r * cols, cols, (int8_t *)a.codes + r * cols, a.scales + r * nb);
            else gf_q4_quantize_row(w + r * cols, cols, (uint8_t *)a.codes + r * gf_q4_row_bytes(cols), a.scales + r * nb);
        }
        break;
    case GF_W_COUNT: break;
    }
    assert_non_null(a.codes);
    a.m = (gf_mat){t, a.codes, a.scales, rows, cols, NULL, NULL, NULL};
    if (t == GF_W_Q8 || t == GF_W_Q4) {
        size_t cb = gf_q_packed_bytes(&a.m);
        a.packed = malloc(cb + gf_q_packed_scale_bytes(&a.m));
        assert_non_null(a.packed);
        gf_q_pack(&a.m, a.packed, (uint16_t *)(a.packed + cb));
    }
    gf_dequantize_rows(&a.m, 0, rows, a.ref);
    /* the element reader and the row reader agree */
    for (size_t i = 0; i < n; i += 7) assert_true(gf_mat_at(&a.m, i / cols, i % cols) == a.ref[i]);
    free(w);
    return a;
}

static void free_mat(tmat *a) {
    free(a->codes);
    free(a->scales);
    free(a->packed);
    free(a->ref);
}

/* max over outputs of |got - want| / (sum_k |x_k w_k| + tiny): float
 * accumulation in another order moves a dot product by a few ulp of that sum. */
static double rel_err(const float *got, const float *want, const float *x, const float *w,
                      size_t M, size_t N, size_t K, size_t ldo) {
    double worst = 0;
    for (size_t m = 0; m < M; m++)
        for (size_t r = 0; r < N; r++) {
            double mag = 1e-30;
            for (size_t k = 0; k < K; k++) mag += fabs((double)x[m * K + k] * w[r * K + k]);
            double e = fabs((double)got[m * ldo + r] - want[m * ldo + r]) / mag;
            if (e > worst) worst = e;
        }
    return worst;
}

/* sum_k x[k] w[k] in double, and sum_k |x[k] w[k]| in *mag. */
static double exact_dot(const float *x, const float *w, size_t K, double *mag) {
    double s = 0, m = 1e-30;
    for (size_t k = 0; k < K; k++) {
        s += (double)x[k] * w[k];
        m += fabs((double)x[k] * w[k]);
    }
    *mag = m;
    return s;
}

/* A kernel's output for a thread's share of rows [r0, N) in got (filled
 * with 12345 before): rows outside the share untouched, then the relative
 * error of the share against want (rows before r0 taken from want). */
static double share_error(float *got, const float *want, const float *x, const float *w, size_t M,
                          size_t N, size_t K, size_t ldo, size_t r0) {
    for (size_t m = 0; m < M; m++) {
        for (size_t r = 0; r < r0; r++) assert_true(got[m * ldo + r] == 12345.0f);
        for (size_t r = N; r < ldo; r++) assert_true(got[m * ldo + r] == 12345.0f);
        for (size_t r = 0; r < r0; r++) got[m * ldo + r] = want[m * ldo + r];
    }
    return rel_err(got, want, x, w, M, N, K, ldo);
}

static void test_simd_matches_scalar_twin(void **state) {
    (void)state;
    gf_isa best = gf_cpu_isa();
    printf("# CPU: %s\n", gf_isa_name(best));
    const size_t Ks[] = {1, 5, 16, 31, 32, 33, 64, 100, 257, 1000};
    const size_t Ns[] = {1, 3, 4, 5, 9, 17};
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
        cmocka_unit_test(test_simd_matches_scalar_twin),
        cmocka_unit_test(test_combine_rows),
        cmocka_unit_test(test_quantisers),
        cmocka_unit_test(test_f16_conversion),
        cmocka_unit_test(test_linear_paths),
        cmocka_unit_test(test_linear_soft_cap),
        cmocka_unit_test(test_packed_order),
        cmocka_unit_test(test_int8_quantiser_twin),
        cmocka_unit_test(test_int8_inputs),
        cmocka_unit_test(test_bf16_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
