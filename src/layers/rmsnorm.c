#include <math.h>

#include "parallel.h"
#include "layers.h"

/* Channels per task of the scale gradient's sum over rows. */
#define CH_BLOCK ((size_t)64)

static float row_rstd(const float *xr, size_t D, float eps) {
    double ss = 0.0; /* wider than the reference: its float sum is the noisier one */
#pragma omp simd reduction(+ : ss)
    for (size_t d = 0; d < D; d++) ss += (double)xr[d] * xr[d];
    return 1.0f / sqrtf((float)(ss / (double)D) + eps);
}

void gf_rmsnorm_forward(float *out, const float *x, const float *scale, size_t M, size_t D,
                     float eps) {
#pragma omp parallel for schedule(static) if (M * D >= GF_PAR_MIN)
    for (size_t m = 0; m < M; m++) {
        const float *xr = x + m * D;
        float *o = out + m * D;
        float r = row_rstd(xr, D, eps);
        for (size_t d = 0; d < D; d++) o[d] = xr[d] * r * (1.0f + scale[d]);
    }
}

void gf_rmsnorm_backward(float *dx, float *dscale, const float *dy, const float *x,
                      const float *scale, size_t M, size_t D, float eps, float *rstd) {
    size_t nblk = (D + CH_BLOCK - 1) / CH_BLOCK;
#pragma omp parallel if (M * D >= GF_PAR_MIN)
    {
#pragma omp for schedule(static)
        for (size_t m = 0; m < M; m++) {
            const float *xr = x + m * D, *dyr = dy + m * D;
            float *dxr = dx + m * D;
            float r = row_rstd(xr, D, eps);
            rstd[m] = r;
            double dot = 0.0;
#pragma omp simd reduction(+ : dot)
            for (size_t d = 0; d < D; d++) dot += (double)(dyr[d] * (1.0f + scale[d])) * xr[d];
            /* y = x r (1 + s) with r = (mean x^2 + eps)^(-1/2): dr/dx_d = -r^3 x_d / D */
            float c = (float)(dot * (double)r * r * r / (double)D);
            for (size_t d = 0; d < D; d++) dxr[d] += dyr[d] * (1.0f + scale[d]) * r - xr[d] * c;
        }
        /* d scale sums over rows: each channel block by one thread, rows in order */
#pragma omp for schedule(static)
        for (size_t j = 0; j < nblk; j++) {
            size_t d0 = j * CH_BLOCK, nd = D - d0 < CH_BLOCK ? D - d0 : CH_BLOCK;
            float acc[CH_BLOCK] = {0};
            for (size_t m = 0; m < M; m++) {
                const float *xr = x + m * D + d0, *dyr = dy + m * D + d0;
                float r = rstd[m];
                for (size_t d = 0; d < nd; d++) acc[d] += dyr[d] * xr[d] * r;
            }
            for (size_t d = 0; d < nd; d++) dscale[d0 + d] += acc[d];
        }
    }
}
