/* RG-LRU scan. Each channel's recurrence over time is independent of every
 * other, so the work is cut into blocks of channels: a task owns one block,
 * walks it through time, and the loop over the block's channels is innermost
 * and vectorised (gf_expf in place of libm calls, which would not vectorise). */
#include <math.h>

#include "../parallel.h"
#include "layers.h"

/* Channels per task: a few cache lines of each [.., L] row per step. */
#define CH_BLOCK ((size_t)64)

static inline float sigmoid_v(float x) { return 1.0f / (1.0f + gf_expf(-x)); }

void rglru_forward(float *out, const float *x, const gf_layer_weights *lw,
                   const int32_t *segment_pos, size_t B, size_t T, size_t L, size_t H,
                   float *h, float *gi, float *ga, float *scratch) {
    size_t M = B * T;
    gf_block_diag(gi, x, &lw->input_gate, lw->input_gate_b, M, H, L / H, scratch);
    gf_block_diag(ga, x, &lw->a_gate, lw->a_gate_b, M, H, L / H, scratch);
    const float *ap = lw->a_param;
    size_t nblk = (L + CH_BLOCK - 1) / CH_BLOCK;
#pragma omp parallel for collapse(2) schedule(static) if (M * L >= GF_PAR_MIN)
    for (size_t b = 0; b < B; b++) {
        for (size_t j = 0; j < nblk; j++) {
            size_t c0 = j * CH_BLOCK, nc = L - c0 < CH_BLOCK ? L - c0 : CH_BLOCK;
            float nsp[CH_BLOCK], hs[CH_BLOCK];
            for (size_t c = 0; c < nc; c++) {
                nsp[c] = -8.0f * gf_softplus(ap[c0 + c]);
                hs[c] = h[b * L + c0 + c];
            }
            for (size_t t = 0; t < T; t++) {
                size_t row = (b * T + t) * L + c0;
                const float *xr = x + row, *gir = gi + row, *gar = ga + row;
                float *o = out + row;
                if (segment_pos[b * T + t] == 0) {
                    /* a new document: forget h and skip the normalisation */
                    for (size_t c = 0; c < nc; c++) {
                        float hn = xr[c] * sigmoid_v(gir[c]);
                        hs[c] = hn;
                        o[c] = hn;
                    }
                    continue;
                }
                for (size_t c = 0; c < nc; c++) {
                    float gate_x = sigmoid_v(gir[c]);
                    float gate_a = sigmoid_v(gar[c]);
                    /* log-space a = sigmoid(-a_param)^(8 r): stable near a = 1 */
                    float log_a = gate_a * nsp[c];
                    float a = gf_expf(log_a);
                    float mult = sqrtf(1.0f - gf_expf(2.0f * log_a));
                    float hn = a * hs[c] + xr[c] * gate_x * mult;
                    hs[c] = hn;
                    o[c] = hn;
                }
            }
            for (size_t c = 0; c < nc; c++) h[b * L + c0 + c] = hs[c];
        }
    }
}

/* The official code bounds the derivative of sqrt(z) (SqrtBoundDerivative):
 * d sqrt(z)/dz = 1 / sqrt(max(4 z, 1 / 1000^2)), i.e. at most 1000. */
#define GF_MAX_SQRT_GRADIENT 1000.0f

void rglru_backward(float *dx, float *dh, const float *x, const float *gi, const float *ga,
                    const float *h, const gf_layer_weights *lw, gf_layer_grads *gr,
                    const int32_t *segment_pos, size_t B, size_t T, size_t L, size_t H,
                    float *dgi, float *dga) {
    const float *ap = lw->a_param;
    const float min_4z = 1.0f / (GF_MAX_SQRT_GRADIENT * GF_MAX_SQRT_GRADIENT);
    size_t nblk = (L + CH_BLOCK - 1) / CH_BLOCK;
    /* Split by channel only: a block's d a_param is summed over every b and t
     * by one thread, in the serial order, whatever the thread count. */
#pragma omp parallel for schedule(static) if (B * T * L >= GF_PAR_MIN)
    for (size_t j = 0; j < nblk; j++) {
        size_t c0 = j * CH_BLOCK, nc = L - c0 < CH_BLOCK ? L - c0 : CH_BLOCK;
        float sp[CH_BLOCK], spg[CH_BLOCK], dap[CH_BLOCK];
        for (size_t c = 0; c < nc; c++) {
            sp[c] = gf_softplus(ap[c0 + c]);
            spg[c] = -8.0f * gf_softplus_grad(ap[c0 + c]);
            dap[c] = 0.0f;
        }
        for (size_t b = 0; b < B; b++) {
            /* Reverse scan: dh[t] gathers dh[t+1] * a[t+1] before it is used. */
            for (size_t t = T; t-- > 0;) {
                size_t row = (b * T + t) * L + c0;
                const float *xr = x + row, *gir = gi + row, *gar = ga + row;
                float *g = dh + row;
                if (segment_pos[b * T + t] == 0) {
                    /* mult = 1 and a = 0: no carry, no gradient into a */
                    for (size_t c = 0; c < nc; c++) {
                        float gate_x = sigmoid_v(gir[c]);
                        dx[row + c] = g[c] * gate_x;
                        dgi[row + c] = g[c] * xr[c] * gate_x * (1.0f - gate_x);
                        dga[row + c] = 0.0f;
                    }
                    continue;
                }
                /* h before this step; the scan's start is a zero state */
                const float *hp = t > 0 ? h + row - L : NULL;
                float *gprev = t > 0 ? g - L : NULL;
                for (size_t c = 0; c < nc; c++) {
                    float gc = g[c];
                    float gate_x = sigmoid_v(gir[c]);
                    float gate_a = sigmoid_v(gar[c]);
                    float log_a = -8.0f * gate_a * sp[c];
                    float a = gf_expf(log_a), a2 = gf_expf(2.0f * log_a);
                    float z = 1.0f - a2;
                    float mult = sqrtf(z);
                    float xv = xr[c];
                    dx[row + c] = gc * gate_x * mult;
                    dgi[row + c] = gc * xv * mult * gate_x * (1.0f - gate_x);
                    float h_prev = hp ? hp[c] : 0.0f;
                    float dmult = gc * xv * gate_x;
                    float dz = dmult / sqrtf(4.0f * z > min_4z ? 4.0f * z : min_4z);
                    /* a = exp(log_a); z = 1 - exp(2 log_a) */
                    float dlog_a = gc * h_prev * a - 2.0f * a2 * dz;
                    if (gprev) gprev[c] += gc * a;
                    dga[row + c] = dlog_a * -8.0f * sp[c] * gate_a * (1.0f - gate_a);
                    dap[c] += dlog_a * gate_a * spg[c];
                }
            }
        }
        for (size_t c = 0; c < nc; c++) gr->a_param[c0 + c] += dap[c];
    }
    size_t M = B * T, bw = L / H;
    gf_block_diag_backward(dx, gr->input_gate, gr->input_gate_b, dgi, x, lw->input_gate.data, M, H, bw);
    gf_block_diag_backward(dx, gr->a_gate, gr->a_gate_b, dga, x, lw->a_gate.data, M, H, bw);
}
