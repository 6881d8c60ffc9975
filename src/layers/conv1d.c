/* Depthwise causal conv. The forward owns output rows, the backward owns
 * channels (so each d w / d bias element is summed by one thread). */
#include <string.h>

#include "parallel.h"
#include "layers.h"

/* Channels per backward task. */
#define CH_BLOCK ((size_t)64)

void gf_conv1d_forward(float *out, const float *x, const int32_t *segment_pos, const float *w,
                    const float *bias, size_t B, size_t T, size_t L, size_t W) {
    size_t M = B * T;
#pragma omp parallel for schedule(static) if (M * L * W >= GF_PAR_MIN)
    for (size_t r = 0; r < M; r++) {
        size_t t = r % T;
        const int32_t *sp = segment_pos + (r - t);
        float *o = out + r * L;
        memset(o, 0, L * sizeof *o);
        for (size_t s = 0; s < W && s <= t; s++) {
            /* The tap at t-s is in the same document iff no document starts
             * after it, up to t. */
            if (s > 0 && sp[t - s + 1] == 0) break;
            const float *xs = x + (r - s) * L;
            const float *ws = w + (W - 1 - s) * L;
            for (size_t c = 0; c < L; c++) o[c] += xs[c] * ws[c];
        }
        for (size_t c = 0; c < L; c++) o[c] += bias[c];
    }
}

void gf_conv1d_tail_from_prefill(float *tail, const float *x, size_t B, size_t T, size_t L, size_t W) {
    size_t keep = W - 1;
    for (size_t b = 0; b < B; b++) {
        float *tb = tail + b * keep * L;
        for (size_t j = 0; j < keep; j++) {
            /* slot j holds the input at t = T - keep + j */
            long t = (long)T - (long)keep + (long)j;
            if (t < 0) memset(tb + j * L, 0, L * sizeof *tb);
            else memcpy(tb + j * L, x + (b * T + (size_t)t) * L, L * sizeof *tb);
        }
    }
}

void gf_conv1d_step(float *out, const float *x, float *tail, const float *w, const float *bias,
                 size_t B, size_t L, size_t W) {
    size_t keep = W - 1;
#pragma omp parallel for schedule(static) if (B * L * W >= GF_PAR_MIN)
    for (size_t b = 0; b < B; b++) {
        float *tb = tail + b * keep * L;
        const float *xb = x + b * L;
        float *o = out + b * L;
        /* Window = (tail[0..keep-1], x): tap s = 0 is the current token. */
        for (size_t c = 0; c < L; c++) o[c] = xb[c] * w[(W - 1) * L + c];
        for (size_t s = 1; s < W; s++) {
            const float *xs = tb + (keep - s) * L;
            const float *ws = w + (W - 1 - s) * L;
            for (size_t c = 0; c < L; c++) o[c] += xs[c] * ws[c];
        }
        for (size_t c = 0; c < L; c++) o[c] += bias[c];
        if (keep > 0) {
            memmove(tb, tb + L, (keep - 1) * L * sizeof *tb);
            memcpy(tb + (keep - 1) * L, xb, L * sizeof *tb);
        }
    }
}

void gf_conv1d_extend(float *out, const float *x, float *tail, const float *w, const float *bias,
                      size_t T, size_t L, size_t W) {
    size_t keep = W - 1;
    /* The window of step t is (tail, x[0 .. t]): tap s reads x[t - s], or
     * tail slot keep - (s - t) before the chunk. Summed in the decode step's
     * order (tap 0 first, then 1 .. W-1, then the bias): the same floats. */
#pragma omp parallel for schedule(static) if (T * L * W >= GF_PAR_MIN)
    for (size_t t = 0; t < T; t++) {
        float *o = out + t * L;
        memset(o, 0, L * sizeof *o);
        for (size_t s = 0; s < W; s++) {
            const float *xs = s <= t ? x + (t - s) * L : tail + (keep - (s - t)) * L;
            const float *ws = w + (W - 1 - s) * L;
            for (size_t c = 0; c < L; c++) o[c] += xs[c] * ws[c];
        }
        for (size_t c = 0; c < L; c++) o[c] += bias[c];
    }
    if (keep == 0) return;
    /* the last keep inputs of (tail, x), oldest first */
    if (T >= keep) {
        memcpy(tail, x + (T - keep) * L, keep * L * sizeof *tail);
    } else {
        memmove(tail, tail + T * L, (keep - T) * L * sizeof *tail);
        memcpy(tail + (keep - T) * L, x, T * L * sizeof *tail);
    }
}

void gf_conv1d_backward(float *dx, float *dw, float *dbias, const float *dout, const float *x,
                     const int32_t *segment_pos, const float *w, size_t B, size_t T, size_t L,
                     size_t W) {
    size_t nblk = (L + CH_BLOCK - 1) / CH_BLOCK;
#pragma omp parallel for schedule(static) if (B * T * L * W >= GF_PAR_MIN)
    for (size_t j = 0; j < nblk; j++) {
        size_t c0 = j * CH_BLOCK, nc = L - c0 < CH_BLOCK ? L - c0 : CH_BLOCK;
        for (size_t b = 0; b < B; b++) {
            const int32_t *sp = segment_pos + b * T;
            for (size_t u = 0; u < T; u++) {
                /* Input u feeds the outputs t = u + s through tap s, as long
                 * as no document starts in (u, t]: the forward's taps. */
                size_t iu = (b * T + u) * L + c0;
                const float *xu = x + iu;
                float *dxu = dx + iu;
                const float *du = dout + iu;
                for (size_t c = 0; c < nc; c++) dbias[c0 + c] += du[c];
                for (size_t c = 0; c < nc; c++) dxu[c] = 0.0f;
                for (size_t s = 0; s < W && u + s < T; s++) {
                    if (s > 0 && sp[u + s] == 0) break;
                    const float *d = du + s * L;
                    const float *ws = w + (W - 1 - s) * L + c0;
                    float *dws = dw + (W - 1 - s) * L + c0;
                    for (size_t c = 0; c < nc; c++) {
                        dxu[c] += ws[c] * d[c];
                        dws[c] += xu[c] * d[c];
                    }
                }
            }
        }
    }
}
