#include <math.h>
#include <string.h>

#include "layers.h"

/* The reference's stand-in for -inf in masked logits. */
#define GF_MASKED_LOGIT (-2.3819763e38f)

/* Rotates the first half of each head by +angle (dir 1) or -angle (dir -1,
 * the transpose, for the backward). sin is odd and cos even, so the two
 * directions use the same angles and differ only in the sign of s. */
static void rope_rotate(float *x, const int32_t *pos, size_t M, size_t nheads, size_t hd, float theta,
                        float dir) {
    size_t R = hd / 2, half = R / 2;
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

/* Softmax of scores[0..n) in place (max-shifted, float32 as the reference). */
static void softmax_inplace(float *scores, size_t n) {
    float mx = scores[0];
    for (size_t i = 1; i < n; i++) mx = scores[i] > mx ? scores[i] : mx;
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        scores[i] = expf(scores[i] - mx);
        sum += scores[i];
    }
    for (size_t i = 0; i < n; i++) scores[i] /= sum;
}

static float dot(const float *a, const float *b, size_t n) {
    float s = 0.0f;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* The softmax weights p[0..n) of query qh over the keys it sees in its row
 * (krow: the row's keys): indices lo..t, same document (from doc_start) and
 * t - s <= w. Returns n; *lo receives the first index. */
static size_t window_probs(float *p, const float *qh, const float *krow, size_t t, long doc_start,
                           size_t w, size_t hd, size_t *lo) {
    long first = (long)t - (long)w;
    if (first < doc_start) first = doc_start;
    size_t n = (size_t)((long)t - first + 1);
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t i = 0; i < n; i++) p[i] = dot(qh, krow + ((size_t)first + i) * hd, hd) * scale;
    softmax_inplace(p, n);
    *lo = (size_t)first;
    return n;
}

void attention_prefill(float *out, const float *q, const float *k, const float *v,
                       const int32_t *segment_pos, size_t B, size_t T, size_t H, size_t hd,
                       size_t w, float *scores) {
    for (size_t b = 0; b < B; b++) {
        const int32_t *sp = segment_pos + b * T;
        long doc_start = 0;
        for (size_t t = 0; t < T; t++) {
            if (sp[t] == 0) doc_start = (long)t;
            for (size_t hh = 0; hh < H; hh++) {
                const float *qh = q + ((b * T + t) * H + hh) * hd;
                size_t lo, n = window_probs(scores, qh, k + b * T * hd, t, doc_start, w, hd, &lo);
                float *o = out + ((b * T + t) * H + hh) * hd;
                memset(o, 0, hd * sizeof *o);
                for (size_t i = 0; i < n; i++) {
                    float p = scores[i];
                    const float *vi = v + (b * T + lo + i) * hd;
                    for (size_t d = 0; d < hd; d++) o[d] += p * vi[d];
                }
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
                    size_t hd, size_t w, float *scores) {
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t b = 0; b < B; b++) {
        long n = (long)num_tokens[b];
        float *rk = ring_k + b * w * hd, *rv = ring_v + b * w * hd;
        long base = (long)w * floor_div(n, (long)w);
        /* Slot j holds the latest position p < n with p % w == j, visible when
         * it exists and is within w of n. Before the ring has wrapped (n < w)
         * only slots 0..n-1 can be visible: the rest are skipped, not masked,
         * so a step costs what the tokens seen cost, not the window. */
        size_t nslots = n <= 0 ? 0 : (n < (long)w ? (size_t)n : w);
        for (size_t hh = 0; hh < H; hh++) {
            const float *qh = q + (b * H + hh) * hd;
            float *o = out + (b * H + hh) * hd;
            for (size_t j = 0; j < nslots; j++) {
                long p = base + (long)j;
                if (p >= n) p -= (long)w;
                int visible = p >= 0 && n - p <= (long)w;
                scores[j] = visible ? dot(qh, rk + j * hd, hd) * scale : GF_MASKED_LOGIT;
            }
            scores[nslots] = dot(qh, k + b * hd, hd) * scale; /* the new token itself */
            softmax_inplace(scores, nslots + 1);
            memset(o, 0, hd * sizeof *o);
            for (size_t j = 0; j <= nslots; j++) {
                float p = scores[j];
                const float *vj = j < nslots ? rv + j * hd : v + b * hd;
                for (size_t d = 0; d < hd; d++) o[d] += p * vj[d];
            }
        }
        size_t slot = (size_t)pos_mod(n, (long)w);
        memcpy(rk + slot * hd, k + b * hd, hd * sizeof *rk);
        memcpy(rv + slot * hd, v + b * hd, hd * sizeof *rv);
    }
}

void rope_backward(float *dx, const int32_t *pos, size_t M, size_t nheads, size_t hd, float theta) {
    rope_rotate(dx, pos, M, nheads, hd, theta, -1.0f);
}

void attention_prefill_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                const float *k, const float *v, const int32_t *segment_pos,
                                size_t B, size_t T, size_t H, size_t hd, size_t w, float *scores,
                                float *dscores) {
    float scale = 1.0f / sqrtf((float)hd);
    memset(dq, 0, B * T * H * hd * sizeof *dq);
    memset(dk, 0, B * T * hd * sizeof *dk);
    memset(dv, 0, B * T * hd * sizeof *dv);
    for (size_t b = 0; b < B; b++) {
        const int32_t *sp = segment_pos + b * T;
        long doc_start = 0;
        for (size_t t = 0; t < T; t++) {
            if (sp[t] == 0) doc_start = (long)t;
            for (size_t hh = 0; hh < H; hh++) {
                size_t qi = ((b * T + t) * H + hh) * hd;
                const float *qh = q + qi, *doh = dout + qi;
                float *dqh = dq + qi;
                /* the forward's probabilities, recomputed */
                size_t lo, n = window_probs(scores, qh, k + b * T * hd, t, doc_start, w, hd, &lo);
                float sum = 0.0f;
                for (size_t i = 0; i < n; i++) {
                    size_t ki = (b * T + lo + i) * hd;
                    dscores[i] = dot(doh, v + ki, hd);
                    sum += scores[i] * dscores[i];
                    for (size_t d = 0; d < hd; d++) dv[ki + d] += scores[i] * doh[d];
                }
                for (size_t i = 0; i < n; i++) {
                    size_t ki = (b * T + lo + i) * hd;
                    float ds = scores[i] * (dscores[i] - sum) * scale;
                    for (size_t d = 0; d < hd; d++) {
                        dqh[d] += ds * k[ki + d];
                        dk[ki + d] += ds * qh[d];
                    }
                }
            }
        }
    }
}
