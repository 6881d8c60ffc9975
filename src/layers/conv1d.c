#include <string.h>

#include "layers.h"

void conv1d_forward(float *out, const float *x, const int32_t *segment_pos, const float *w,
                    const float *bias, size_t B, size_t T, size_t L, size_t W) {
    for (size_t b = 0; b < B; b++) {
        long last_start = -1; /* latest index <= t that starts a document */
        for (size_t t = 0; t < T; t++) {
            if (segment_pos[b * T + t] == 0) last_start = (long)t;
            float *o = out + (b * T + t) * L;
            memset(o, 0, L * sizeof *o);
            for (size_t s = 0; s < W && s <= t; s++) {
                /* The tap at t-s is in the same document iff no document
                 * starts strictly after it, up to t. */
                if (last_start > (long)(t - s)) break;
                const float *xs = x + (b * T + t - s) * L;
                const float *ws = w + (W - 1 - s) * L;
                for (size_t c = 0; c < L; c++) o[c] += xs[c] * ws[c];
            }
            for (size_t c = 0; c < L; c++) o[c] += bias[c];
        }
    }
}

void conv1d_tail_from_prefill(float *tail, const float *x, size_t B, size_t T, size_t L, size_t W) {
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

void conv1d_step(float *out, const float *x, float *tail, const float *w, const float *bias,
                 size_t B, size_t L, size_t W) {
    size_t keep = W - 1;
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

void conv1d_backward(float *dx, float *dw, float *dbias, const float *dout, const float *x,
                     const int32_t *segment_pos, const float *w, size_t B, size_t T, size_t L,
                     size_t W) {
    memset(dx, 0, B * T * L * sizeof *dx);
    for (size_t b = 0; b < B; b++) {
        long last_start = -1;
        for (size_t t = 0; t < T; t++) {
            if (segment_pos[b * T + t] == 0) last_start = (long)t;
            const float *d = dout + (b * T + t) * L;
            for (size_t c = 0; c < L; c++) dbias[c] += d[c];
            for (size_t s = 0; s < W && s <= t; s++) {
                if (last_start > (long)(t - s)) break; /* the same taps as the forward */
                const float *xs = x + (b * T + t - s) * L;
                float *dxs = dx + (b * T + t - s) * L;
                const float *ws = w + (W - 1 - s) * L;
                float *dws = dw + (W - 1 - s) * L;
                for (size_t c = 0; c < L; c++) {
                    dxs[c] += ws[c] * d[c];
                    dws[c] += xs[c] * d[c];
                }
            }
        }
    }
}
