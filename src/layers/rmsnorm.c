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
