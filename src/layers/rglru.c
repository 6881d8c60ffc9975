/* RG-LRU scan. Each channel's recurrence over time is independent of every
 * other, so the work is cut into blocks of channels: a task owns one block,
 * walks it through time, and the loop over the block's channels is innermost
 * and vectorised (gf_expf in place of libm calls, which would not vectorise). */
#include <math.h>

#include "parallel.h"
#include "layers.h"

/* Channels per task: a few cache lines of each [.., L] row per step. */
#define CH_BLOCK ((size_t)64)

static inline float sigmoid_v(float x) { return 1.0f / (1.0f + gf_expf(-x)); }

void gf_rglru_forward(float *out, const float *x, const gf_layer_weights *lw,
                   const int32_t *segment_pos, size_t B, size_t T, size_t L, size_t H,
                   float *h, float *gi, float *ga, float *scratch) {
    size_t M = B * T;
    gf_block_diag(gi, x, &lw->input_gate, lw->input_gate_b, M, H, L / H, scratch);
    gf_block_diag(ga, x, &lw->a_gate, lw->a_gate_b, M, H, L / H, scratch);
    const float *ap = lw->a_param;
    size_t nblk = (L + CH_BLOCK - 1) / CH_BLOCK;
    /* tasks are (channel block, sequence), the sequences of a block in a
     * row, so that a thread works out -8 softplus(a_param) (two libm calls
     * a channel) once per block it meets, not once per sequence */
#pragma omp parallel if (M * L >= GF_PAR_MIN_HEAVY)
    {
        float nsp[CH_BLOCK];
        size_t have = nblk; /* the block nsp holds; none yet */
#pragma omp for collapse(2) schedule(static)
        for (size_t j = 0; j < nblk; j++) {
            for (size_t b = 0; b < B; b++) {
                size_t c0 = j * CH_BLOCK, nc = L - c0 < CH_BLOCK ? L - c0 : CH_BLOCK;
                float hs[CH_BLOCK];
                if (have != j) {
                    for (size_t c = 0; c < nc; c++) nsp[c] = -8.0f * gf_softplus(ap[c0 + c]);
                    have = j;
                }
                for (size_t c = 0; c < nc; c++) hs[c] = h[b * L + c0 + c];
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
                    /* sqrtf in a loop of its own: without -fno-math-errno
                     * (a build with other flags) it is a libm call that keeps
                     * a loop from vectorising */
                    float gx[CH_BLOCK], av[CH_BLOCK], mult[CH_BLOCK];
                    for (size_t c = 0; c < nc; c++) {
                        gx[c] = sigmoid_v(gir[c]);
                        /* log-space a = sigmoid(-a_param)^(8 r): stable near a = 1 */
                        float log_a = sigmoid_v(gar[c]) * nsp[c];
                        av[c] = gf_expf(log_a);
                        mult[c] = 1.0f - gf_expf(2.0f * log_a);
                    }
                    for (size_t c = 0; c < nc; c++) mult[c] = sqrtf(mult[c]);
                    for (size_t c = 0; c < nc; c++) {
                        float hn = av[c] * hs[c] + xr[c] * gx[c] * mult[c];
                        hs[c] = hn;
                        o[c] = hn;
                    }
                }
                for (size_t c = 0; c < nc; c++) h[b * L + c0 + c] = hs[c];
            }
        }
    }
}

/* The official code bounds the derivative of sqrt(z) (SqrtBoundDerivative):
 * d sqrt(z)/dz = 1 / sqrt(max(4 z, 1 / 1000^2)), i.e. at most 1000. */
#define GF_MAX_SQRT_GRADIENT 1000.0f

void gf_rglru_backward(float *dx, float *dh, const float *x, const float *gi, const float *ga,
                    const float *h, const gf_layer_weights *lw, gf_layer_grads *gr,
                    const int32_t *segment_pos, size_t B, size_t T, size_t L, size_t H,
                    float *dgi, float *dga) {
    const float *ap = lw->a_param;
    const float min_sqrt = 1.0f / GF_MAX_SQRT_GRADIENT;
    size_t nblk = (L + CH_BLOCK - 1) / CH_BLOCK;
    /* Split by channel only: a block's d a_param is summed over every b and t
     * by one thread, in the serial order, whatever the thread count. */
#pragma omp parallel for schedule(static) if (B * T * L >= GF_PAR_MIN)
    for (size_t j = 0; j < nblk; j++) {
        size_t c0 = j * CH_BLOCK, nc = L - c0 < CH_BLOCK ? L - c0 : CH_BLOCK;
        float sp[CH_BLOCK], spg[CH_BLOCK], dap[CH_BLOCK], zero[CH_BLOCK], sink[CH_BLOCK];
        for (size_t c = 0; c < nc; c++) {
            zero[c] = 0.0f;
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
                /* restrict: the vectoriser may not otherwise assume dx, dgi,
                 * dga and dh apart */
                float *restrict dxr = dx + row, *restrict dgir = dgi + row, *restrict dgar = dga + row;
                if (segment_pos[b * T + t] == 0) {
                    /* mult = 1 and a = 0: no carry, no gradient into a */
#pragma omp simd
                    for (size_t c = 0; c < nc; c++) {
                        float gate_x = sigmoid_v(gir[c]);
                        dxr[c] = g[c] * gate_x;
                        dgir[c] = g[c] * xr[c] * gate_x * (1.0f - gate_x);
                        dgar[c] = 0.0f;
                    }
                    continue;
                }
                /* h before this step and where its gradient goes; the scan
                 * starts from a zero state, whose gradient is not wanted */
                const float *hp = t > 0 ? h + row - L : zero;
                float *restrict gprev = t > 0 ? g - L : sink;
                /* the vector / scalar sqrt / vector split of the forward */
                float gx[CH_BLOCK], ga_[CH_BLOCK], av[CH_BLOCK], a2v[CH_BLOCK], mult[CH_BLOCK];
                for (size_t c = 0; c < nc; c++) {
                    gx[c] = sigmoid_v(gir[c]);
                    ga_[c] = sigmoid_v(gar[c]);
                    float log_a = -8.0f * ga_[c] * sp[c];
                    av[c] = gf_expf(log_a);
                    a2v[c] = gf_expf(2.0f * log_a);
                    mult[c] = 1.0f - a2v[c];
                }
                for (size_t c = 0; c < nc; c++) mult[c] = sqrtf(mult[c]);
                /* simd: the channels are independent (too many pointers for
                 * the vectoriser's own alias checks) */
#pragma omp simd
                for (size_t c = 0; c < nc; c++) {
                    float gc = g[c], gate_x = gx[c], gate_a = ga_[c], a = av[c], a2 = a2v[c];
                    float xv = xr[c];
                    dxr[c] = gc * gate_x * mult[c];
                    dgir[c] = gc * xv * mult[c] * gate_x * (1.0f - gate_x);
                    float dmult = gc * xv * gate_x;
                    /* sqrt(max(4 z, min_4z)) = max(2 sqrt z, sqrt min_4z): exact, as
                     * sqrt of 4 z is 2 sqrt z in floating point */
                    float den = 2.0f * mult[c];
                    float dz = dmult / (den > min_sqrt ? den : min_sqrt);
                    /* a = exp(log_a); z = 1 - exp(2 log_a) */
                    float dlog_a = gc * hp[c] * a - 2.0f * a2 * dz;
                    gprev[c] += gc * a;
                    dgar[c] = dlog_a * -8.0f * sp[c] * gate_a * (1.0f - gate_a);
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
