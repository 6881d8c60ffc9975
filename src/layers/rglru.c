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
