#include <math.h>

#include "layers.h"

void rmsnorm_forward(float *out, const float *x, const float *scale, size_t M, size_t D,
                     float eps) {
    for (size_t m = 0; m < M; m++) {
        const float *xr = x + m * D;
        float *o = out + m * D;
        double ss = 0.0; /* wider than the reference: its float sum is the noisier one */
        for (size_t d = 0; d < D; d++) ss += (double)xr[d] * xr[d];
        float r = 1.0f / sqrtf((float)(ss / (double)D) + eps);
        for (size_t d = 0; d < D; d++) o[d] = xr[d] * r * (1.0f + scale[d]);
    }
}

void rmsnorm_backward(float *dx, float *dscale, const float *dy, const float *x,
                      const float *scale, size_t M, size_t D, float eps) {
    for (size_t m = 0; m < M; m++) {
        const float *xr = x + m * D, *dyr = dy + m * D;
        float *dxr = dx + m * D;
        double ss = 0.0, dot = 0.0;
        for (size_t d = 0; d < D; d++) ss += (double)xr[d] * xr[d];
        float r = 1.0f / sqrtf((float)(ss / (double)D) + eps);
        for (size_t d = 0; d < D; d++) {
            float g = dyr[d] * (1.0f + scale[d]);
            dot += (double)g * xr[d];
            dscale[d] += dyr[d] * xr[d] * r;
        }
        /* y = x r (1 + s) with r = (mean x^2 + eps)^(-1/2): dr/dx_d = -r^3 x_d / D */
        float c = (float)(dot * (double)r * r * r / (double)D);
        for (size_t d = 0; d < D; d++) dxr[d] += dyr[d] * (1.0f + scale[d]) * r - xr[d] * c;
    }
}
