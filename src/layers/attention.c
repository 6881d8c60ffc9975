#include <math.h>
#include <string.h>

#include "../kernels/combine.h"
#include "../parallel.h"
#include "layers.h"

/* The reference's stand-in for -inf in masked logits. */
#define GF_MASKED_LOGIT (-2.3819763e38f)

/* Rotates the first half of each head by +angle (dir 1) or -angle (dir -1,
 * the transpose, for the backward). sin is odd and cos even, so the two
 * directions use the same angles and differ only in the sign of s. */
static void rope_rotate(float *x, const int32_t *pos, size_t M, size_t nheads, size_t hd, float theta,
                        float dir) {
    size_t R = hd / 2, half = R / 2;
#pragma omp parallel for schedule(static) if (M * nheads * hd >= GF_PAR_MIN)
    for (size_t m = 0; m < M; m++) {
        float p = (float)pos[m];
        for (size_t k = 0; k < half; k++) {
            /* float32 throughout, as the reference computes it */
            float expo = (float)(2 * k) / (float)R;
            float inv_freq = 1.0f / powf(theta, expo);
            float ang = p * inv_freq;
            float s = dir * sinf(ang), c = cosf(ang);
            for (size_t n = 0; n < nheads; n++) {
                float *hx = x + (m * nheads + n) * hd;
                float x1 = hx[k], x2 = hx[k + half];
                hx[k] = x1 * c - x2 * s;
                hx[k + half] = x2 * c + x1 * s;
            }
        }
    }
}

void rope_apply(float *x, const int32_t *pos, size_t M, size_t nheads, size_t hd, float theta) {
    rope_rotate(x, pos, M, nheads, hd, theta, 1.0f);
}

/* Softmax of scores[0..n) in place (max-shifted, float32 as the
 * reference). Returns log(sum of exp) + max, the log-normaliser the backward
 * recomputes probabilities from. */
static float softmax_inplace(float *scores, size_t n) {
    float mx = scores[0];
    for (size_t i = 1; i < n; i++) mx = scores[i] > mx ? scores[i] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (size_t i = 0; i < n; i++) {
        scores[i] = gf_expf(scores[i] - mx);
        sum += scores[i];
    }
    float inv = 1.0f / sum;
    for (size_t i = 0; i < n; i++) scores[i] *= inv;
    return mx + logf(sum);
}

/* Reassociated (vector lanes): the order of a float dot product is not the
 * reference's either way. */
static inline float dot(const float *a, const float *b, size_t n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* The first key query t sees in its row: t - w at most back, and not before
 * the start of its document (a position whose segment_pos is 0). */
static size_t window_first(const int32_t *sp, size_t t, size_t w) {
    size_t first = t;
    while (first > 0 && t - first < w && sp[first] != 0) first--;
    return first;
}

/* [B, T, G, hd] -> [B, G, hd, T]: keys (G = 1) or every head's queries or
 * output gradients with positions innermost, so that a query's scores
 * against its window (or a key's against its queries) are one vector loop
 * over positions instead of a horizontal sum per pair. */
static void to_position_major(float *dst, const float *src, size_t B, size_t T, size_t G, size_t hd) {
#pragma omp parallel for collapse(2) schedule(static) if (B * T * G * hd >= GF_PAR_MIN)
    for (size_t b = 0; b < B; b++)
        for (size_t g = 0; g < G; g++)
            for (size_t d = 0; d < hd; d++) {
                float *o = dst + ((b * G + g) * hd + d) * T;
                const float *x = src + (b * T * G + g) * hd + d;
                for (size_t t = 0; t < T; t++) o[t] = x[t * G * hd];
            }
}

/* s[i] = scale * x . col(first + i) for i < n, where cols is [hd, T]
 * (position-major): the scores of one query against its window, or of one
 * key against the queries that see it. */
static void scores_pm(float *s, const float *x, const float *cols, size_t T, size_t first, size_t n,
                      size_t hd, float scale) {
    for (size_t i = 0; i < n; i++) s[i] = 0.0f;
    for (size_t d = 0; d < hd; d++) {
        float xd = x[d] * scale;
        const float *c = cols + d * T + first;
        for (size_t i = 0; i < n; i++) s[i] += xd * c[i];
    }
}

/* Threads for a loop over per-thread score slots: no more than the slots. */
static int team(size_t nslots) {
    size_t n = gf_par_slots();
    return (int)(n < nslots ? n : nslots);
}

void attention_prefill(float *out, const float *q, const float *k, const float *v,
                       const int32_t *segment_pos, size_t B, size_t T, size_t H, size_t hd,
                       size_t w, float *scores, size_t nslots, float *kt) {
    size_t M = B * T, win = w < T ? w + 1 : T;
    float scale = 1.0f / sqrtf((float)hd);
    to_position_major(kt, k, B, T, 1, hd);
    /* one task = one query position, all heads: they share the key window */
#pragma omp parallel for schedule(static) num_threads(team(nslots)) if (M * H * hd * win >= GF_PAR_MIN)
    for (size_t r = 0; r < M; r++) {
        float *sc = scores + gf_par_tid() * (w + 1);
        size_t t = r % T, b = r / T;
        size_t first = window_first(segment_pos + b * T, t, w), n = t - first + 1;
        for (size_t hh = 0; hh < H; hh++) {
            scores_pm(sc, q + (r * H + hh) * hd, kt + b * hd * T, T, first, n, hd, scale);
            softmax_inplace(sc, n);
            float *o = out + (r * H + hh) * hd;
            memset(o, 0, hd * sizeof *o);
            for (size_t i = 0; i < n; i++) {
                float p = sc[i];
                const float *vi = v + (b * T + first + i) * hd;
                for (size_t d = 0; d < hd; d++) o[d] += p * vi[d];
            }
        }
    }
}

static long floor_div(long a, long b) {
    long q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

static long pos_mod(long a, long b) {
    long r = a % b;
    return r < 0 ? r + b : r;
}

void kv_ring_from_prefill(float *ring_k, float *ring_v, const float *k, const float *v,
                          const int64_t *num_tokens, size_t B, size_t T, size_t hd, size_t w) {
    size_t n_fill = T < w ? T : w;
    for (size_t b = 0; b < B; b++) {
        float *rk = ring_k + b * w * hd, *rv = ring_v + b * w * hd;
        memset(rk, 0, w * hd * sizeof *rk);
        memset(rv, 0, w * hd * sizeof *rv);
        if (n_fill == 0) continue;
        /* The last n_fill keys, rolled by num_tokens % w within n_fill slots:
         * with num_tokens == T this puts position p in slot p % w. */
        size_t shift = (size_t)pos_mod((long)pos_mod((long)num_tokens[b], (long)w), (long)n_fill);
        for (size_t i = 0; i < n_fill; i++) {
            size_t src = b * T + (T - n_fill + i);
            size_t dst = (i + shift) % n_fill;
            memcpy(rk + dst * hd, k + src * hd, hd * sizeof *rk);
            memcpy(rv + dst * hd, v + src * hd, hd * sizeof *rv);
        }
    }
}

void attention_step(float *out, const float *q, const float *k, const float *v,
                    float *ring_k, float *ring_v, const int64_t *num_tokens, size_t B, size_t H,
                    size_t hd, size_t w, float *scores, size_t nslots) {
    float scale = 1.0f / sqrtf((float)hd);
    gf_isa isa = gf_cpu_isa();
    /* Items are a sequence and a group of its heads. All the heads share one
     * key and value ring (MQA), so an item's scores are one small product of
     * its heads' queries with the ring's keys, and its outputs one weighted
     * sum of the value rows, each ring row read once for all the heads: with
     * a head per item and a dot product per slot, batch 16 at 4096 positions
     * spent most of an MQA step here. Heads are split into groups only so
     * that every thread has an item at small batches. */
    int nt = team(nslots);
    size_t G = B >= (size_t)nt ? 1 : ((size_t)nt + B - 1) / B;
    if (G > H) G = H;
#pragma omp parallel for schedule(static) num_threads(nt) if (B * H * hd * (w + 1) >= GF_PAR_MIN)
    for (size_t it = 0; it < B * G; it++) {
        size_t b = it / G, g = it % G, h0 = H * g / G, nh = H * (g + 1) / G - h0;
        long n = (long)num_tokens[b];
        const float *rk = ring_k + b * w * hd, *rv = ring_v + b * w * hd;
        long base = (long)w * floor_div(n, (long)w);
        /* Slot j holds the latest position p < n with p % w == j, visible when
         * it exists and is within w of n. Before the ring has wrapped (n < w)
         * only slots 0..n-1 can be visible: the rest are skipped, not masked,
         * so a step costs what the tokens seen cost, not the window. */
        size_t nslot = n <= 0 ? 0 : (n < (long)w ? (size_t)n : w), ns = nslot + 1;
        const float *qb = q + (b * H + h0) * hd;
        float *ob = out + (b * H + h0) * hd;
        /* each head's scores a row of ns: the slots, then the new token */
        float *sc = scores + gf_par_tid() * H * (w + 1);
        gf_mat keys = {GF_W_F32, rk, NULL, nslot, hd, NULL, NULL, NULL};
        if (nslot) gf_gemv_rows(isa, &keys, qb, hd, nh, sc, ns, 0, nslot);
        for (size_t h = 0; h < nh; h++) {
            float *sh = sc + h * ns;
            for (size_t j = 0; j < nslot; j++) {
                long p = base + (long)j;
                if (p >= n) p -= (long)w;
                int visible = p >= 0 && n - p <= (long)w;
                sh[j] = visible ? sh[j] * scale : GF_MASKED_LOGIT;
            }
            sh[nslot] = dot(qb + h * hd, k + b * hd, hd) * scale; /* the new token itself */
            softmax_inplace(sh, ns);
            memset(ob + h * hd, 0, hd * sizeof *ob);
        }
        /* the slots' values, then the new token's */
        gf_combine_rows(isa, sc, ns, nh, rv, hd, nslot, hd, ob, hd);
        gf_combine_rows(isa, sc + nslot, ns, nh, v + b * hd, hd, 1, hd, ob, hd);
    }
    for (size_t b = 0; b < B; b++) {
        size_t slot = (size_t)pos_mod((long)num_tokens[b], (long)w);
        memcpy(ring_k + (b * w + slot) * hd, k + b * hd, hd * sizeof *ring_k);
        memcpy(ring_v + (b * w + slot) * hd, v + b * hd, hd * sizeof *ring_v);
    }
}

void rope_backward(float *dx, const int32_t *pos, size_t M, size_t nheads, size_t hd, float theta) {
    rope_rotate(dx, pos, M, nheads, hd, theta, -1.0f);
}

void attention_prefill_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                const float *k, const float *v, const int32_t *segment_pos,
                                size_t B, size_t T, size_t H, size_t hd, size_t w, float *scores,
                                float *dscores, size_t nslots, float *stats, float *work) {
    float scale = 1.0f / sqrtf((float)hd);
    size_t M = B * T, win = w < T ? w + 1 : T;
    /* lse, delta: [B, H, T], positions innermost for the key pass */
    float *lse = stats, *delta = stats + M * H;
    float *kt = work, *vt = kt + M * hd, *qt = vt + M * hd, *dot_t = qt + M * H * hd;
    to_position_major(kt, k, B, T, 1, hd);
    to_position_major(vt, v, B, T, 1, hd);
    to_position_major(qt, q, B, T, H, hd);
    to_position_major(dot_t, dout, B, T, H, hd);
    int par = M * H * hd * win >= GF_PAR_MIN;
    /* Two passes, each owning what it writes (no two threads add into one
     * key's gradient). Queries: the probabilities p_i (recomputed), the
     * output gradient's projections ds_i = do . v_i, delta = sum_i p_i ds_i,
     * and dq = scale sum_i p_i (ds_i - delta) k_i; each query's
     * log-normaliser and delta are kept for the second pass. */
#pragma omp parallel for schedule(static) num_threads(team(nslots)) if (par)
    for (size_t r = 0; r < M; r++) {
        float *sc = scores + gf_par_tid() * (w + 1), *dsc = dscores + gf_par_tid() * (w + 1);
        size_t t = r % T, b = r / T;
        size_t first = window_first(segment_pos + b * T, t, w), n = t - first + 1;
        for (size_t hh = 0; hh < H; hh++) {
            size_t qi = (r * H + hh) * hd, si = (b * H + hh) * T + t;
            float *dqh = dq + qi;
            scores_pm(sc, q + qi, kt + b * hd * T, T, first, n, hd, scale);
            lse[si] = softmax_inplace(sc, n);
            scores_pm(dsc, dout + qi, vt + b * hd * T, T, first, n, hd, 1.0f);
            float sum = 0.0f;
            for (size_t i = 0; i < n; i++) sum += sc[i] * dsc[i];
            delta[si] = sum;
            memset(dqh, 0, hd * sizeof *dqh);
            for (size_t i = 0; i < n; i++) {
                const float *ki = k + (b * T + first + i) * hd;
                float ds = sc[i] * (dsc[i] - sum) * scale;
                for (size_t d = 0; d < hd; d++) dqh[d] += ds * ki[d];
            }
        }
    }
    /* Keys: key j of a row is seen by the queries t = j .. j + n - 1 of its
     * own document (n <= w + 1); dk_j = sum scale p (ds - delta) q, dv_j =
     * sum p do, with p recomputed from the kept log-normaliser. */
#pragma omp parallel for schedule(static) num_threads(team(nslots)) if (par)
    for (size_t r = 0; r < M; r++) {
        float *pp = scores + gf_par_tid() * (w + 1), *dsc = dscores + gf_par_tid() * (w + 1);
        size_t j = r % T, b = r / T;
        const int32_t *sp = segment_pos + b * T;
        size_t n = 1;
        while (n <= w && j + n < T && sp[j + n] != 0) n++; /* a new document: no later query sees j */
        float *dkj = dk + r * hd, *dvj = dv + r * hd;
        memset(dkj, 0, hd * sizeof *dkj);
        memset(dvj, 0, hd * sizeof *dvj);
        for (size_t hh = 0; hh < H; hh++) {
            size_t g = (b * H + hh) * T;
            scores_pm(pp, k + r * hd, qt + g * hd, T, j, n, hd, scale);
            scores_pm(dsc, v + r * hd, dot_t + g * hd, T, j, n, hd, 1.0f);
            for (size_t i = 0; i < n; i++) {
                pp[i] = gf_expf(pp[i] - lse[g + j + i]);
                dsc[i] = pp[i] * (dsc[i] - delta[g + j + i]) * scale;
            }
            for (size_t i = 0; i < n; i++) {
                size_t qi = ((b * T + j + i) * H + hh) * hd;
                const float *qh = q + qi, *doh = dout + qi;
                float ds = dsc[i], p = pp[i];
                for (size_t d = 0; d < hd; d++) {
                    dkj[d] += ds * qh[d];
                    dvj[d] += p * doh[d];
                }
            }
        }
    }
}
