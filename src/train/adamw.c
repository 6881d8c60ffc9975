/* AdamW with decoupled weight decay, global-norm gradient clipping and a
 * warm-up + cosine learning-rate schedule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainable.h"
#include "parallel.h"
#include "util.h"

struct gf_adamw {
    float *m, *v; /* one allocation: first and second moments, n floats each */
    size_t n;
    int64_t step; /* updates applied so far */
};

gf_adamw *gf_adamw_new(const gf_trainable *t, gf_error *err) {
    gf_adamw *o = gf_calloc(1, sizeof *o, "optimiser", err);
    if (!o) return NULL;
    o->n = t->n_params;
    o->m = gf_calloc(2 * o->n, sizeof(float), "optimiser moments", err);
    if (!o->m) {
        free(o);
        return NULL;
    }
    o->v = o->m + o->n;
    return o;
}

void gf_adamw_free(gf_adamw *o) {
    if (!o) return;
    free(o->m);
    free(o);
}

int64_t gf_adamw_step_count(const gf_adamw *o) { return o->step; }
void gf_adamw_set_step_count(gf_adamw *o, int64_t step) { o->step = step; }
float *gf_adamw_moments(gf_adamw *o) { return o->m; }
size_t gf_adamw_num_params(const gf_adamw *o) { return o->n; }

float gf_lr_at(const gf_adamw_config *c, int64_t step) {
    /* step counts from 0: the first update uses lr / warmup, not 0 */
    if (c->warmup > 0 && step < c->warmup) return c->lr * (float)(step + 1) / (float)c->warmup;
    int64_t span = c->total_steps - c->warmup;
    if (span <= 0) return c->lr;
    double frac = (double)(step - c->warmup) / (double)span;
    if (frac > 1.0) frac = 1.0;
    double lo = c->lr * c->min_lr_ratio;
    return (float)(lo + (c->lr - lo) * 0.5 * (1.0 + cos(3.14159265358979323846 * frac)));
}

/* The sum of squares in fixed blocks, each summed in order and the blocks'
 * sums added in order: the same bits whatever the thread count (a resumed
 * run clips exactly as the uninterrupted one). */
#define NORM_BLOCKS 256

double gf_grad_norm(const gf_trainable *t) {
    size_t n = t->n_params, per = (n + NORM_BLOCKS - 1) / NORM_BLOCKS;
    double part[NORM_BLOCKS];
#pragma omp parallel for schedule(static) if (n >= GF_PAR_MIN)
    for (size_t k = 0; k < NORM_BLOCKS; k++) {
        size_t lo = k * per < n ? k * per : n, hi = lo + per < n ? lo + per : n;
        double s = 0.0;
        for (size_t i = lo; i < hi; i++) s += (double)t->grads[i] * t->grads[i];
        part[k] = s;
    }
    double s = 0.0;
    for (size_t k = 0; k < NORM_BLOCKS; k++) s += part[k];
    return sqrt(s);
}

double gf_adamw_update(gf_adamw *o, gf_trainable *t, const gf_adamw_config *c, float lr) {
    double norm = gf_grad_norm(t);
    /* a NaN or Inf gradient would spread into every weight (through the
     * clip's scale) and the moments: left unapplied */
    if (!isfinite(norm)) return norm;
    /* clipping scales the whole gradient, so its direction is kept */
    float clip = c->clip > 0.0f && norm > c->clip ? (float)(c->clip / norm) : 1.0f;
    o->step++;
    float b1 = c->beta1, b2 = c->beta2;
    float bc1 = 1.0f - powf(b1, (float)o->step), bc2 = 1.0f - powf(b2, (float)o->step);
    for (int k = 0; k < t->n_info; k++) {
        const gf_tensor_info *ti = &t->info[k];
        float decay = ti->decay ? lr * c->weight_decay : 0.0f;
        float *p = t->params + ti->offset, *g = t->grads + ti->offset;
        float *m = o->m + ti->offset, *v = o->v + ti->offset;
        /* element by element: threads change nothing but the time */
#pragma omp parallel for simd schedule(static) if (parallel : ti->numel >= GF_PAR_MIN)
        for (size_t i = 0; i < ti->numel; i++) {
            float gi = g[i] * clip;
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            float mh = m[i] / bc1, vh = v[i] / bc2;
            /* decoupled: the decay shrinks the weight, not the gradient */
            p[i] -= lr * mh / (sqrtf(vh) + c->eps) + decay * p[i];
        }
    }
    return norm;
}
