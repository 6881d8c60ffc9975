#include <math.h>

#include "layers.h"

void rglru_forward(float *out, const float *x, const gf_layer_weights *lw,
                   const int32_t *segment_pos, size_t B, size_t T, size_t L, size_t H,
                   float *h, float *gi, float *ga, float *scratch) {
    size_t M = B * T;
    gf_block_diag(gi, x, &lw->input_gate, lw->input_gate_b, M, H, L / H, scratch);
    gf_block_diag(ga, x, &lw->a_gate, lw->a_gate_b, M, H, L / H, scratch);
    const float *ap = lw->a_param;
    for (size_t b = 0; b < B; b++) {
        float *hb = h + b * L;
        for (size_t t = 0; t < T; t++) {
            size_t row = (b * T + t) * L;
            int reset = segment_pos[b * T + t] == 0;
            for (size_t c = 0; c < L; c++) {
                float gate_x = gf_sigmoid(gi[row + c]);
                float gate_a = gf_sigmoid(ga[row + c]);
                /* log-space a = sigmoid(-a_param)^(8 r): stable near a = 1 */
                float log_a = -8.0f * gate_a * gf_softplus(ap[c]);
                float a = expf(log_a);
                float mult = sqrtf(1.0f - expf(2.0f * log_a));
                if (reset) { /* a new document: forget h and skip the normalisation */
                    mult = 1.0f;
                    a = 0.0f;
                }
                float hn = a * hb[c] + x[row + c] * gate_x * mult;
                hb[c] = hn;
                out[row + c] = hn;
            }
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
    for (size_t b = 0; b < B; b++) {
        /* Reverse scan: dh[t] gathers dh[t+1] * a[t+1] before it is used. */
        for (size_t t = T; t-- > 0;) {
            size_t row = (b * T + t) * L;
            int reset = segment_pos[b * T + t] == 0;
            for (size_t c = 0; c < L; c++) {
                float g = dh[row + c];
                float gate_x = gf_sigmoid(gi[row + c]);
                float gate_a = gf_sigmoid(ga[row + c]);
                float sp = gf_softplus(ap[c]);
                float log_a = -8.0f * gate_a * sp;
                float a = expf(log_a), a2 = expf(2.0f * log_a);
                float z = 1.0f - a2;
                float mult = sqrtf(z);
                if (reset) {
                    mult = 1.0f;
                    a = 0.0f;
                }
                float xv = x[row + c];
                dx[row + c] = g * gate_x * mult;
                dgi[row + c] = g * xv * mult * gate_x * (1.0f - gate_x);
                float dlog_a = 0.0f;
                if (!reset) {
                    float h_prev = t > 0 ? h[row - L + c] : 0.0f;
                    float dmult = g * xv * gate_x;
                    float dz = dmult / sqrtf(4.0f * z > min_4z ? 4.0f * z : min_4z);
                    /* a = exp(log_a); z = 1 - exp(2 log_a) */
                    dlog_a = g * h_prev * a - 2.0f * a2 * dz;
                    if (t > 0) dh[row - L + c] += g * a;
                }
                dga[row + c] = dlog_a * -8.0f * sp * gate_a * (1.0f - gate_a);
                gr->a_param[c] += dlog_a * -8.0f * gate_a * gf_softplus_grad(ap[c]);
            }
        }
    }
    size_t M = B * T, bw = L / H;
    gf_block_diag_backward(dx, gr->input_gate, gr->input_gate_b, dgi, x, lw->input_gate.data, M, H, bw);
    gf_block_diag_backward(dx, gr->a_gate, gr->a_gate_b, dga, x, lw->a_gate.data, M, H, bw);
}
