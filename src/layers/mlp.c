#include "layers.h"

void mlp_forward(float *out, const float *x, const gf_layer_weights *lw, size_t M, size_t D,
                 size_t E, float *g, float *u, float *scratch) {
    gf_linear(g, x, &lw->gate, lw->gate_b, M, scratch);
    gf_linear(u, x, &lw->up, lw->up_b, M, scratch);
    for (size_t i = 0; i < M * E; i++) g[i] = gf_gelu_tanh(g[i]) * u[i];
    (void)D;
    gf_linear(out, g, &lw->down, lw->down_b, M, scratch);
}
