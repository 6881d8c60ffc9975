/* The tile and row walk of gemv_actq_avx2.c, included there twice: for
 * AVX2 (KX_VNNI 0: vpmaddubsw + vpmaddwd) and for AVX-VNNI (KX_VNNI 1: the
 * 256-bit vpdpbusd), KX(name) naming each copy and KX_TGT its target. Not a
 * header of its own: it expects x4, INL and the includes of that file. */
/* out[i * ldo + 16 g + l] for i < MT (1 or 2), l < 16, the rows in [r0, r1)
 * only: group g against input rows q + i * row_bytes. The same block of the
 * group 2 ahead (and its scales) is prefetched into L2 as this one is read:
 * the product alone at batch 1 (2 cores of a Zen 5, avx2 set, interleaved
 * runs) streamed 39-41 GB/s (Q8) and 42-47 (Q4) with T0 and no scales,
 * 43 and 45-46 so; the kernel is bound by its arithmetic there (6 and 7
 * vector instructions per 32 bytes of Q8 / Q4 codes at batch 1). */
INL void KX(tile)(const gf_wtype t, const int MT, const gf_mat *W, size_t g, const uint8_t *q,
              size_t row_bytes, float *out, size_t ldo, size_t r0, size_t r1) {
    size_t K = W->cols, nb = gf_q_nblocks(K), piece = GF_QPACK_BYTES(t), stride = nb * piece;
    size_t dxo = gf_actq_dx_offset(K), co = gf_actq_corr_offset(K);
    const uint8_t *wc = W->packed + g * stride;
    const uint8_t *pf = g + 2 < gf_q_groups(W->rows) ? wc + 2 * stride : NULL;
    const uint16_t *ws = W->packed_scale + g * nb * GF_QPACK_ROWS;
    const __m256i low4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8((char)0x80);
    __m256 acc[2][2];
    for (int i = 0; i < MT; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *wb = wc + b * piece;
        if (pf)
            for (size_t o = 0; o < piece; o += 64) _mm_prefetch((const char *)(pf + b * piece + o), _MM_HINT_T1);
        /* and that group's scales (16 rows x 2 bytes a block: a line per 2
         * blocks), which no other stream covers; both into L2, as the VNNI
         * kernel found best */
        if (pf && (b & 1) == 0) _mm_prefetch((const char *)(ws + 2 * nb * GF_QPACK_ROWS + b * GF_QPACK_ROWS), _MM_HINT_T1);
        __m256i s[2][2]; /* 32-bit sums: input i, rows 8h .. 8h + 7 */
#if KX_VNNI
        /* AVX-VNNI: vpdpbusd on 256 bits, the sums starting from the zero-code
         * correction as in gemv_vnni.c (Q8's packed bytes stay unsigned) */
        for (int i = 0; i < MT; i++) {
            int32_t corr;
            memcpy(&corr, q + (size_t)i * row_bytes + co + 4 * b, 4);
            s[i][0] = s[i][1] = _mm256_set1_epi32(corr);
        }
        if (t == GF_W_Q4) {
            for (size_t c = 0; c < 4; c++)
                for (int h = 0; h < 2; h++) {
                    __m256i v = _mm256_loadu_si256((const __m256i *)(wb + c * 64 + 32 * (size_t)h));
                    __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                    for (int i = 0; i < MT; i++) {
                        s[i][h] = _mm256_dpbusd_avx_epi32(s[i][h], lo, x4(q + (size_t)i * row_bytes, 8 * b + c));
                        s[i][h] = _mm256_dpbusd_avx_epi32(s[i][h], hi, x4(q + (size_t)i * row_bytes, 8 * b + 4 + c));
                    }
                }
        } else {
            for (size_t c = 0; c < 8; c++)
                for (int h = 0; h < 2; h++) {
                    __m256i w = _mm256_loadu_si256((const __m256i *)(wb + c * 64 + 32 * (size_t)h));
                    for (int i = 0; i < MT; i++)
                        s[i][h] = _mm256_dpbusd_avx_epi32(s[i][h], w, x4(q + (size_t)i * row_bytes, 8 * b + c));
                }
        }
        (void)ones, (void)flip;
#else
        if (t == GF_W_Q4) {
            __m256i h16[2][2];
            for (int i = 0; i < MT; i++) h16[i][0] = h16[i][1] = _mm256_setzero_si256();
            for (size_t c = 0; c < 4; c++) {
                __m256i xl[2], xh[2];
                for (int i = 0; i < MT; i++) {
                    xl[i] = x4(q + (size_t)i * row_bytes, 8 * b + c);
                    xh[i] = x4(q + (size_t)i * row_bytes, 8 * b + 4 + c);
                }
                for (int h = 0; h < 2; h++) {
                    __m256i v = _mm256_loadu_si256((const __m256i *)(wb + c * 64 + 32 * (size_t)h));
                    __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                    for (int i = 0; i < MT; i++)
                        h16[i][h] = _mm256_add_epi16(h16[i][h], _mm256_add_epi16(_mm256_maddubs_epi16(lo, xl[i]),
                                                                                 _mm256_maddubs_epi16(hi, xh[i])));
                }
            }
            for (int i = 0; i < MT; i++) {
                int32_t corr;
                memcpy(&corr, q + (size_t)i * row_bytes + co + 4 * b, 4);
                for (int h = 0; h < 2; h++)
                    s[i][h] = _mm256_add_epi32(_mm256_madd_epi16(h16[i][h], ones), _mm256_set1_epi32(corr));
            }
        } else {
            for (int i = 0; i < MT; i++) s[i][0] = s[i][1] = _mm256_setzero_si256();
            for (size_t c = 0; c < 8; c++) {
                __m256i xv[2];
                for (int i = 0; i < MT; i++) xv[i] = x4(q + (size_t)i * row_bytes, 8 * b + c);
                for (int h = 0; h < 2; h++) {
                    __m256i w = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(wb + c * 64 + 32 * (size_t)h)), flip);
                    __m256i mag = _mm256_abs_epi8(w);
                    for (int i = 0; i < MT; i++)
                        s[i][h] = _mm256_add_epi32(
                            s[i][h], _mm256_madd_epi16(_mm256_maddubs_epi16(mag, _mm256_sign_epi8(xv[i], w)), ones));
                }
            }
        }
#endif
        for (int h = 0; h < 2; h++) {
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(ws + b * GF_QPACK_ROWS + 8 * (size_t)h)));
            for (int i = 0; i < MT; i++) {
                float dx;
                memcpy(&dx, q + (size_t)i * row_bytes + dxo + 4 * b, 4);
                acc[i][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[i][h]), _mm256_mul_ps(dw, _mm256_set1_ps(dx)),
                                            acc[i][h]);
            }
        }
    }
    size_t r = g * GF_QPACK_ROWS, lo = r0 > r ? r0 - r : 0, hi = r + 16 <= r1 ? 16 : r1 - r;
    for (int i = 0; i < MT; i++) {
        float v[16];
        _mm256_storeu_ps(v, acc[i][0]);
        _mm256_storeu_ps(v + 8, acc[i][1]);
        memcpy(out + (size_t)i * ldo + r + lo, v + lo, (hi - lo) * sizeof *v);
    }
}

/* Groups [g0, g1) x inputs [0, M): each group's weights meet the inputs two
 * at a time, from L1 after the first pair (16 registers hold no more sums). */
INL void KX(rows_of)(const gf_wtype t, const gf_mat *W, const uint8_t *q, size_t M, float *out,
                 size_t ldo, size_t r0, size_t r1) {
    size_t rb = gf_actq_row_bytes(W->cols), g0 = r0 / GF_QPACK_ROWS, g1 = gf_q_groups(r1);
    for (size_t g = g0; g < g1; g++) {
        size_t m = 0;
        for (; m + 2 <= M; m += 2) KX(tile)(t, 2, W, g, q + m * rb, rb, out + m * ldo, ldo, r0, r1);
        if (m < M) KX(tile)(t, 1, W, g, q + m * rb, rb, out + m * ldo, ldo, r0, r1);
    }
}

static KX_TGT void KX(rows_q8)(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo, size_t r0,
                        size_t r1) {
    KX(rows_of)(GF_W_Q8, W, q, M, out, ldo, r0, r1);
}
static KX_TGT void KX(rows_q4)(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo, size_t r0,
                        size_t r1) {
    KX(rows_of)(GF_W_Q4, W, q, M, out, ldo, r0, r1);
}

