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
    size_t lo, n; /* the parameters [lo, lo + n) they cover */
    int64_t step; /* updates applied so far */
};

gf_adamw *gf_adamw_new_range(const gf_trainable *t, size_t lo, size_t hi, gf_error *err) {
    if (lo > hi || hi > t->n_params) {
        gf_fail(err, "optimiser range [%zu, %zu) is outside the %zu parameters", lo, hi, t->n_params);
        return NULL;
    }
    gf_adamw *o = gf_calloc(1, sizeof *o, "optimiser", err);
    if (!o) return NULL;
    o->lo = lo;
    o->n = hi - lo;
    /* an empty shard still gets a valid (one-float) allocation */
    o->m = gf_calloc(2 * o->n + 1, sizeof(float), "optimiser moments", err);
    if (!o->m) {
        free(o);
        return NULL;
    }
    o->v = o->m + o->n;
    return o;
}

gf_adamw *gf_adamw_new(const gf_trainable *t, gf_error *err) { return gf_adamw_new_range(t, 0, t->n_params, err); }

void gf_shard_range(size_t n, int shard, int shards, size_t *lo, size_t *hi) {
    /* a whole number of 16 floats per shard: every slice but the last
     * starts 64 bytes from the last's start, as the arena's vector loops
     * like (a shard's update then splits into whole vectors) */
    size_t per = ((n + (size_t)shards - 1) / (size_t)shards + 15) & ~(size_t)15;
    size_t a = (size_t)shard * per;
    *lo = a < n ? a : n;
    *hi = a + per < n ? a + per : n;
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
size_t gf_adamw_offset(const gf_adamw *o) { return o->lo; }

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

double gf_grad_sumsq(const gf_trainable *t, size_t lo, size_t hi) {
    if (hi > t->n_params) hi = t->n_params;
    size_t n = hi > lo ? hi - lo : 0, per = (n + NORM_BLOCKS - 1) / NORM_BLOCKS;
    const float *g = t->grads + lo;
    double part[NORM_BLOCKS];
#pragma omp parallel for schedule(static) if (n >= GF_PAR_MIN)
    for (size_t k = 0; k < NORM_BLOCKS; k++) {
        size_t a = k * per < n ? k * per : n, b = a + per < n ? a + per : n;
        double s = 0.0;
        for (size_t i = a; i < b; i++) s += (double)g[i] * g[i];
        part[k] = s;
    }
    double s = 0.0;
    for (size_t k = 0; k < NORM_BLOCKS; k++) s += part[k];
    return s;
}

double gf_grad_norm(const gf_trainable *t) { return sqrt(gf_grad_sumsq(t, 0, t->n_params)); }

double gf_adamw_update(gf_adamw *o, gf_trainable *t, const gf_adamw_config *c, float lr) {
    double norm = gf_grad_norm(t);
    gf_adamw_apply(o, t, c, lr, norm);
    return norm;
}

void gf_adamw_apply(gf_adamw *o, gf_trainable *t, const gf_adamw_config *c, float lr, double norm) {
    /* a NaN or Inf gradient would spread into every weight (through the
     * clip's scale) and the moments: left unapplied */
    if (!isfinite(norm)) return;
    /* clipping scales the whole gradient, so its direction is kept */
    float clip = c->clip > 0.0f && norm > c->clip ? (float)(c->clip / norm) : 1.0f;
    o->step++;
    float b1 = c->beta1, b2 = c->beta2;
    float bc1 = 1.0f - powf(b1, (float)o->step), bc2 = 1.0f - powf(b2, (float)o->step);
    size_t lo = o->lo, hi = o->lo + o->n;
    for (int k = 0; k < t->n_info; k++) {
        const gf_tensor_info *ti = &t->info[k];
        /* the part of this tensor in the optimiser's range (all of it,
         * unsharded): every element's update reads only its own values, so
         * a shard's elements change exactly as in the whole update */
        size_t a = ti->offset > lo ? ti->offset : lo, b = ti->offset + ti->numel < hi ? ti->offset + ti->numel : hi;
        if (a >= b) continue;
        size_t cnt = b - a;
        float decay = ti->decay ? lr * c->weight_decay : 0.0f;
        float *p = t->params + a, *g = t->grads + a;
        float *m = o->m + (a - lo), *v = o->v + (a - lo);
        /* element by element: threads change nothing but the time */
#pragma omp parallel for simd schedule(static) if (parallel : cnt >= GF_PAR_MIN)
        for (size_t i = 0; i < cnt; i++) {
            float gi = g[i] * clip;
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            float mh = m[i] / bc1, vh = v[i] / bc2;
            /* decoupled: the decay shrinks the weight, not the gradient */
            p[i] -= lr * mh / (sqrtf(vh) + c->eps) + decay * p[i];
        }
    }
}
