#include "parallel.h"
#include "layers.h"

void gf_mlp_forward(float *out, const float *x, const gf_layer_weights *lw, size_t M, size_t E,
                    float *g, float *u, float *act, const gf_xq *xq) {
    gf_product gu[2] = {{&lw->gate, g, lw->gate_b, 0}, {&lw->up, u, lw->up_b, 0}};
    gf_linear_many(x, M, gu, 2, xq);
#pragma omp parallel for simd schedule(static) if (parallel : M * E >= GF_PAR_MIN_HEAVY)
    for (size_t i = 0; i < M * E; i++) act[i] = gf_gelu_tanh(g[i]) * u[i];
    gf_linear(out, act, &lw->down, lw->down_b, M, xq);
}

void gf_mlp_backward(float *dx, const float *dout, const float *x, const float *g, const float *u,
                  const gf_layer_weights *lw, gf_layer_grads *gr, size_t M, size_t D, size_t E,
                  float *act, float *dact) {
#pragma omp parallel for simd schedule(static) if (parallel : M * E >= GF_PAR_MIN)
    for (size_t i = 0; i < M * E; i++) act[i] = gf_gelu_tanh(g[i]) * u[i];
    gf_linear_backward(dact, gr->down, gr->down_b, dout, act, lw->down.data, M, D, E, 0);
    /* dact -> d(up pre-activation) in act's place, d(gate pre-activation) in dact's */
#pragma omp parallel for simd schedule(static) if (parallel : M * E >= GF_PAR_MIN)
    for (size_t i = 0; i < M * E; i++) {
        float da = dact[i];
        act[i] = da * gf_gelu_tanh(g[i]);
        dact[i] = da * u[i] * gf_gelu_tanh_grad(g[i]);
    }
    gf_linear_backward(dx, gr->up, gr->up_b, act, x, lw->up.data, M, E, D, 0);
    gf_linear_backward(dx, gr->gate, gr->gate_b, dact, x, lw->gate.data, M, E, D, 1);
}
