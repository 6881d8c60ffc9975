#include <math.h>
#include <string.h>

#include "kernels/combine.h"
#include "parallel.h"
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

void gf_rope_apply(float *x, const int32_t *pos, size_t M, size_t nheads, size_t hd, float theta) {
    rope_rotate(x, pos, M, nheads, hd, theta, 1.0f);
}

/* s[0 .. n) = exp(s - max) in place; returns the sum, the max in *mx. */
static float exp_shifted(float *s, size_t n, float *mx) {
    float m = s[0], sum = 0.0f;
    for (size_t i = 1; i < n; i++) m = s[i] > m ? s[i] : m;
#pragma omp simd reduction(+ : sum)
    for (size_t i = 0; i < n; i++) {
        s[i] = gf_expf(s[i] - m);
        sum += s[i];
    }
    *mx = m;
    return sum;
}

/* Softmax of scores[0..n) in place (max-shifted, float32 as the
 * reference): a decode step's, for one item. Returns log(sum of exp) + max. */
static float softmax_inplace(float *scores, size_t n) {
    float mx, sum = exp_shifted(scores, n, &mx);
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

/* Threads for a loop over per-thread score slots: no more than the slots. */
static int team(size_t nslots) {
    size_t n = gf_par_slots();
    return (int)(n < nslots ? n : nslots);
}

/* Query positions per tile of gf_attention_prefill and its backward (and key
 * positions per tile of the backward's key pass). A tile's queries, all
 * heads of each, meet the keys of the tile's windows in one product, so
 * every key and value row is read once per tile from cache into the
 * kernels' registers; one query (one head) at a time read the whole window
 * once per query and head, which made a training step of the MQA
 * Transformer at 4096 positions several times its matrix products. */
#define GF_ATT_TILE ((size_t)16)

/* Keys per block of a tile's pass over its windows (and query positions,
 * all heads of each, per block of the backward's key pass): a block's scores, 16 query
 * positions x all heads x 64 keys (24 KiB at 6 heads), and the block's keys
 * transposed (16 KiB at head size 64) stay in L1 between the products that
 * make and use them, where a tile's whole window at once (4096 keys: 1.5
 * MiB of scores) went to L3 and back. */
#define GF_ATT_BLOCK ((size_t)64)

/* A decode step's slot: one item's scores, then two items' partial sums
 * (gf_attention_step's split of a ring between threads). */
static size_t step_partial_floats(size_t H, size_t hd) { return H * (hd + 2); }

/* Where item `it` of a split decode step keeps its partial sums: slot
 * it % nslots, past the scores, first or second (there are fewer than
 * 2 nslots items). */
static float *step_partial(float *scores, size_t it, size_t nslots, size_t H, size_t hd, size_t w) {
    size_t slot = gf_attention_scores_floats(H, hd, w);
    return scores + (it % nslots) * slot + H * (w + 1) + (it / nslots) * step_partial_floats(H, hd);
}

size_t gf_attention_scores_floats(size_t H, size_t hd, size_t w) {
    /* a tile's block of scores, each row's running max and sum, and the
     * block's keys (or values) transposed */
    size_t tile = GF_ATT_TILE * H * (GF_ATT_BLOCK + 2) + hd * GF_ATT_BLOCK;
    size_t step = H * (w + 1) + 2 * step_partial_floats(H, hd);
    return tile > step ? tile : step;
}

/* The first key position of the windows of queries [t0, t1) of one row (sp:
 * its segment positions), and each query's first key (window_first) into
 * first[0 .. t1 - t0). */
static size_t tile_firsts(const int32_t *sp, size_t t0, size_t t1, size_t w, size_t *first) {
    for (size_t t = t0; t < t1; t++) first[t - t0] = window_first(sp, t, w);
    return first[0]; /* window_first never decreases with t */
}

/* One row of a tile's products: the entries it does not attend to, outside
 * [a, z) of its n, made zero (so the weighted sums skip them). */
static void zero_outside(float *S, size_t a, size_t z, size_t n) {
    for (size_t j = 0; j < a; j++) S[j] = 0.0f;
    for (size_t j = z; j < n; j++) S[j] = 0.0f;
}

/* Row r of a tile (query position t0 + r / H) against keys [j0, j1): its
 * range [*a, *z) in block coordinates, empty when it sees none of them. */
static void block_range(size_t r, size_t H, size_t t0, const size_t *first, size_t j0, size_t j1,
                        size_t *a, size_t *z) {
    size_t fa = first[r / H], fz = t0 + r / H + 1;
    size_t lo = fa > j0 ? fa : j0, hi = fz < j1 ? fz : j1;
    *a = lo < hi ? lo - j0 : 0;
    *z = lo < hi ? hi - j0 : 0;
}

/* A tile's block of products S [rows, nb] (keys j0 .. j1 - 1) made weights
 * in place: the entries row r sees (block_range) scaled and exponentiated
 * against the row's running max mx[r], the others zero; when the block
 * raises the max, the row's sum so far and its output o [rows, hd] shrink
 * by e^(old - new). sum[r] gains the block's weights. */
static void block_weights(float *S, size_t rows, size_t nb, size_t H, size_t t0, const size_t *first,
                          size_t j0, size_t j1, float scale, float *mx, float *sum, float *o,
                          size_t hd) {
    for (size_t r = 0; r < rows; r++) {
        size_t a, z;
        block_range(r, H, t0, first, j0, j1, &a, &z);
        float *s = S + r * nb;
        if (a < z) {
            float bm = -INFINITY;
            for (size_t j = a; j < z; j++) {
                s[j] *= scale;
                bm = s[j] > bm ? s[j] : bm;
            }
            if (bm > mx[r]) { /* the weights so far, and their sum, shrink by e^(old - new) */
                float c = gf_expf(mx[r] - bm); /* 0 for the first block a row sees */
                if (sum[r] > 0.0f) {
                    sum[r] *= c;
                    for (size_t d = 0; d < hd; d++) o[r * hd + d] *= c;
                }
                mx[r] = bm;
            }
            float bs = 0.0f, m = mx[r];
#pragma omp simd reduction(+ : bs)
            for (size_t j = a; j < z; j++) {
                s[j] = gf_expf(s[j] - m);
                bs += s[j];
            }
            sum[r] += bs;
        }
        zero_outside(s, a, z, nb);
    }
}

/* S[r * nb + j] = x[r * hd ..] . y[j * hd ..] for r < rows, j < nb: the
 * block's nb rows of y (keys or values) transposed into yt [hd, nb], then
 * one weighted sum of yt's rows per x row (gf_combine_rows: 4 rows x 64
 * columns of sums in registers, no horizontal sums). With the gemv kernels
 * (rows of hd = 64 columns, a horizontal sum per 128 multiply-adds) the
 * forward ran at 205-222 GFLOP/s, with this at 244-248 (T = 4096, 6 heads).
 * The backward's key pass keeps the gemv kernels: its blocks of queries
 * are wider than a tile, and transposing them cost more than it saved. */
static void block_products(gf_isa isa, const float *x, size_t rows, const float *y, size_t nb,
                           size_t hd, float *yt, float *S) {
    for (size_t j = 0; j < nb; j++)
        for (size_t e = 0; e < hd; e++) yt[e * nb + j] = y[j * hd + e];
    memset(S, 0, rows * nb * sizeof *S);
    gf_combine_rows(isa, x, hd, rows, yt, nb, hd, nb, S, nb);
}

void gf_attention_prefill(float *out, const float *q, const float *k, const float *v,
                       const int32_t *segment_pos, size_t B, size_t T, size_t H, size_t hd,
                       size_t w, float *scores, size_t nslots, float *lse) {
    float scale = 1.0f / sqrtf((float)hd);
    gf_isa isa = gf_cpu_isa();
    size_t tiles = (T + GF_ATT_TILE - 1) / GF_ATT_TILE, win = w < T ? w + 1 : T;
    /* one task = a tile of query positions, all heads; interleaved, as later
     * tiles see more keys. Its keys go by blocks, each row keeping the max
     * and the sum of its weights so far (the weighted sum of values is
     * rescaled when the max grows), so the block's scores never leave L1. */
#pragma omp parallel for schedule(static, 1) num_threads(team(nslots)) if (B * T * H * hd * win >= GF_PAR_MIN)
    for (size_t task = 0; task < B * tiles; task++) {
        size_t b = task / tiles, t0 = task % tiles * GF_ATT_TILE, t1 = t0 + GF_ATT_TILE < T ? t0 + GF_ATT_TILE : T;
        size_t first[GF_ATT_TILE];
        size_t lo = tile_firsts(segment_pos + b * T, t0, t1, w, first), rows = (t1 - t0) * H;
        float *S = scores + gf_par_tid() * gf_attention_scores_floats(H, hd, w);
        float *mx = S + rows * GF_ATT_BLOCK, *sum = mx + rows, *kt = sum + rows;
        const float *qt = q + (b * T + t0) * H * hd;
        float *o = out + (b * T + t0) * H * hd;
        memset(o, 0, rows * hd * sizeof *o);
        for (size_t r = 0; r < rows; r++) {
            mx[r] = -INFINITY;
            sum[r] = 0.0f;
        }
        for (size_t j0 = lo; j0 < t1; j0 += GF_ATT_BLOCK) {
            size_t j1 = j0 + GF_ATT_BLOCK < t1 ? j0 + GF_ATT_BLOCK : t1, nb = j1 - j0;
            block_products(isa, qt, rows, k + (b * T + j0) * hd, nb, hd, kt, S);
            block_weights(S, rows, nb, H, t0, first, j0, j1, scale, mx, sum, o, hd);
            gf_combine_rows(isa, S, nb, rows, v + (b * T + j0) * hd, hd, nb, hd, o, hd);
        }
        for (size_t r = 0; r < rows; r++) {
            float inv = 1.0f / sum[r];
            for (size_t d = 0; d < hd; d++) o[r * hd + d] *= inv;
            if (lse) lse[(b * T + t0) * H + r] = mx[r] + logf(sum[r]);
        }
    }
}

void gf_attention_extend(float *out, const float *q, const float *k, const float *v, float *ring_k,
                         float *ring_v, size_t n0, size_t T, size_t H, size_t hd, size_t w,
                         float *scores, size_t nslots) {
    float scale = 1.0f / sqrtf((float)hd);
    gf_isa isa = gf_cpu_isa();
    size_t tiles = (T + GF_ATT_TILE - 1) / GF_ATT_TILE, win = n0 + T < w + 1 ? n0 + T : w + 1;
    /* gf_attention_prefill's tiles and blocks, in positions: query t is at
     * n0 + t and sees keys max(0, n0 + t - w) .. n0 + t, those before n0
     * from the ring (position p in slot p % w, as gf_attention_step reads
     * it), the rest from k, v. A block of keys is a run of consecutive
     * positions in one place: it ends at n0 and, in the ring, where the
     * slots wrap. The ring is written after every query has read it. */
#pragma omp parallel for schedule(static, 1) num_threads(team(nslots)) if (T * H * hd * win >= GF_PAR_MIN)
    for (size_t tile = 0; tile < tiles; tile++) {
        size_t t0 = tile * GF_ATT_TILE, t1 = t0 + GF_ATT_TILE < T ? t0 + GF_ATT_TILE : T;
        size_t p0 = n0 + t0, p1 = n0 + t1; /* the tile's query positions */
        size_t first[GF_ATT_TILE];
        for (size_t p = p0; p < p1; p++) first[p - p0] = p > w ? p - w : 0;
        size_t rows = (t1 - t0) * H;
        float *S = scores + gf_par_tid() * gf_attention_scores_floats(H, hd, w);
        float *mx = S + rows * GF_ATT_BLOCK, *sum = mx + rows, *kt = sum + rows;
        const float *qt = q + t0 * H * hd;
        float *o = out + t0 * H * hd;
        memset(o, 0, rows * hd * sizeof *o);
        for (size_t r = 0; r < rows; r++) {
            mx[r] = -INFINITY;
            sum[r] = 0.0f;
        }
        for (size_t j0 = first[0], j1; j0 < p1; j0 = j1) {
            j1 = j0 + GF_ATT_BLOCK < p1 ? j0 + GF_ATT_BLOCK : p1;
            const float *kb, *vb;
            if (j0 < n0) {
                size_t slot = j0 % w, wrap = j0 + (w - slot);
                j1 = j1 < n0 ? j1 : n0;
                j1 = j1 < wrap ? j1 : wrap;
                kb = ring_k + slot * hd;
                vb = ring_v + slot * hd;
            } else {
                kb = k + (j0 - n0) * hd;
                vb = v + (j0 - n0) * hd;
            }
            size_t nb = j1 - j0;
            block_products(isa, qt, rows, kb, nb, hd, kt, S);
            block_weights(S, rows, nb, H, p0, first, j0, j1, scale, mx, sum, o, hd);
            gf_combine_rows(isa, S, nb, rows, vb, hd, nb, hd, o, hd);
        }
        for (size_t r = 0; r < rows; r++) {
            float inv = 1.0f / sum[r];
            for (size_t d = 0; d < hd; d++) o[r * hd + d] *= inv;
        }
    }
    /* the chunk's keys and values into their slots: only the last w stay */
    for (size_t t = T > w ? T - w : 0; t < T; t++) {
        size_t slot = (n0 + t) % w;
        memcpy(ring_k + slot * hd, k + t * hd, hd * sizeof *ring_k);
        memcpy(ring_v + slot * hd, v + t * hd, hd * sizeof *ring_v);
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

void gf_kv_ring_from_prefill(float *ring_k, float *ring_v, const float *k, const float *v,
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

/* Ring slots per part, at least, where gf_attention_step splits one sequence's
 * ring between threads (below this the partial sums' merge is not worth it),
 * and the most parts. */
#define GF_ATT_SPLIT_MIN ((size_t)256)
#define GF_ATT_MAX_PARTS ((size_t)16)

/* The slots a step at n tokens sees in a ring of w (slot j holds the latest
 * position p < n with p % w == j). Before the ring has wrapped (n < w) only
 * slots 0..n-1 can be visible: the rest are skipped, not masked, so a step
 * costs what the tokens seen cost, not the window. */
static size_t ring_slots(long n, size_t w) { return n <= 0 ? 0 : (n < (long)w ? (size_t)n : w); }

/* s[0 .. cnt) = scale * s for the visible slots j0 .. j0 + cnt - 1 of a ring
 * at n tokens, the masked logit for the others (a slot is visible when its
 * position exists and is within w of n). */
static void scale_slots(float *s, size_t j0, size_t cnt, long n, size_t w, float scale) {
    long base = (long)w * floor_div(n, (long)w);
    for (size_t i = 0; i < cnt; i++) {
        long p = base + (long)(j0 + i);
        if (p >= n) p -= (long)w;
        int visible = p >= 0 && n - p <= (long)w;
        s[i] = visible ? s[i] * scale : GF_MASKED_LOGIT;
    }
}

void gf_attention_step(float *out, const float *q, const float *k, const float *v,
                    float *ring_k, float *ring_v, const int64_t *num_tokens, size_t B, size_t H,
                    size_t hd, size_t w, float *scores, size_t nslots) {
    float scale = 1.0f / sqrtf((float)hd);
    gf_isa isa = gf_cpu_isa();
    size_t slot_floats = gf_attention_scores_floats(H, hd, w);
    int nt = team(nslots);
    int par = B * H * hd * (w + 1) >= GF_PAR_MIN;
    /* All the heads share one key and value ring (MQA), so an item's scores
     * are one small product of its heads' queries with the ring's keys, and
     * its outputs one weighted sum of the value rows, each ring row read once
     * for all the heads: with a head per item and a dot product per slot,
     * batch 16 at 4096 positions spent most of an MQA step here. With fewer
     * sequences than threads, each sequence's ring is split into S parts
     * (items: a sequence and a part), each part's sums kept with their max
     * and total and merged after, so the threads share the reading of a long
     * ring; a short one is split by heads instead (items: a sequence and a
     * group of its heads, each reading the whole ring). */
    size_t S = 1, G = 1, fewest = w;
    for (size_t b = 0; b < B; b++) {
        size_t ns = ring_slots((long)num_tokens[b], w);
        fewest = ns < fewest ? ns : fewest;
    }
    if (par && B < (size_t)nt) {
        size_t want = ((size_t)nt + B - 1) / B;
        want = want < GF_ATT_MAX_PARTS ? want : GF_ATT_MAX_PARTS;
        if (fewest >= want * GF_ATT_SPLIT_MIN) S = want;
        else G = want < H ? want : H;
    }
#pragma omp parallel for schedule(static) num_threads(nt) if (par)
    for (size_t it = 0; it < B * S * G; it++) {
        size_t b = it / (S * G), s = it / G % S, g = it % G, h0 = H * g / G, nh = H * (g + 1) / G - h0;
        long n = (long)num_tokens[b];
        size_t nslot = ring_slots(n, w), j0 = nslot * s / S, cnt = nslot * (s + 1) / S - j0;
        int last = s == S - 1; /* the part that also holds the new token */
        size_t ns = cnt + (size_t)last;
        const float *rk = ring_k + (b * w + j0) * hd, *rv = ring_v + (b * w + j0) * hd;
        const float *qb = q + (b * H + h0) * hd;
        /* a whole ring's item writes its output; a part writes its sums [nh, hd],
         * maxima and totals [nh] each, in the partial area of slot it % nslots */
        float *ob = S == 1 ? out + (b * H + h0) * hd : step_partial(scores, it, nslots, H, hd, w);
        float *mx = S > 1 ? ob + H * hd : NULL, *tot = S > 1 ? mx + H : NULL;
        /* each head's scores a row of ns: the slots, then the new token */
        float *sc = scores + gf_par_tid() * slot_floats;
        gf_mat keys = {GF_W_F32, rk, NULL, cnt, hd, NULL, NULL, NULL};
        if (cnt) gf_gemv_rows(isa, &keys, qb, hd, nh, sc, ns, 0, cnt);
        for (size_t h = 0; h < nh; h++) {
            float *sh = sc + h * ns;
            scale_slots(sh, j0, cnt, n, w, scale);
            if (last) sh[cnt] = dot(qb + h * hd, k + b * hd, hd) * scale; /* the new token itself */
            if (S == 1) softmax_inplace(sh, ns);
            else tot[h] = exp_shifted(sh, ns, &mx[h]);
            memset(ob + h * hd, 0, hd * sizeof *ob);
        }
        /* the slots' values, then the new token's */
        gf_combine_rows(isa, sc, ns, nh, rv, hd, cnt, hd, ob, hd);
        if (last) gf_combine_rows(isa, sc + cnt, ns, nh, v + b * hd, hd, 1, hd, ob, hd);
    }
    /* the parts' sums merged: weights exp(max_s - max) over the total */
    for (size_t b = 0; S > 1 && b < B; b++)
        for (size_t h = 0; h < H; h++) {
            float m = -INFINITY, total = 0.0f, wgt[GF_ATT_MAX_PARTS];
            const float *part[GF_ATT_MAX_PARTS];
            for (size_t s = 0; s < S; s++) {
                part[s] = step_partial(scores, b * S + s, nslots, H, hd, w);
                m = part[s][H * hd + h] > m ? part[s][H * hd + h] : m;
            }
            for (size_t s = 0; s < S; s++) {
                wgt[s] = gf_expf(part[s][H * hd + h] - m);
                total += wgt[s] * part[s][H * hd + H + h];
            }
            float *o = out + (b * H + h) * hd;
            for (size_t d = 0; d < hd; d++) {
                float acc = 0.0f;
                for (size_t s = 0; s < S; s++) acc += wgt[s] * part[s][h * hd + d];
                o[d] = acc / total;
            }
        }
    for (size_t b = 0; b < B; b++) {
        size_t slot = (size_t)pos_mod((long)num_tokens[b], (long)w);
        memcpy(ring_k + (b * w + slot) * hd, k + b * hd, hd * sizeof *ring_k);
        memcpy(ring_v + (b * w + slot) * hd, v + b * hd, hd * sizeof *ring_v);
    }
}

void gf_rope_backward(float *dx, const int32_t *pos, size_t M, size_t nheads, size_t hd, float theta) {
    rope_rotate(dx, pos, M, nheads, hd, theta, -1.0f);
}

void gf_attention_prefill_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                const float *k, const float *v, const float *out, const float *lse,
                                const int32_t *segment_pos, size_t B, size_t T, size_t H, size_t hd,
                                size_t w, float *scores, float *dscores, size_t nslots, float *delta) {
    float scale = 1.0f / sqrtf((float)hd);
    gf_isa isa = gf_cpu_isa();
    size_t M = B * T, win = w < T ? w + 1 : T, tiles = (T + GF_ATT_TILE - 1) / GF_ATT_TILE;
    size_t slot = gf_attention_scores_floats(H, hd, w);
    int par = M * H * hd * win >= GF_PAR_MIN;
    /* delta = sum_j p_j ds_j = do . o for every (position, head): [B, T, H] */
#pragma omp parallel for schedule(static) if (par)
    for (size_t i = 0; i < M * H; i++) delta[i] = dot(dout + i * hd, out + i * hd, hd);
    /* Two passes, each owning what it writes (no two threads add into one
     * key's gradient), both over tiles, and within a tile over blocks, the
     * probabilities p recomputed from the forward's log-normalisers.
     * Queries: the output gradient's projections ds = do . v and dq = scale
     * sum p (ds - delta) k. */
#pragma omp parallel for schedule(static, 1) num_threads(team(nslots)) if (par)
    for (size_t task = 0; task < B * tiles; task++) {
        size_t b = task / tiles, t0 = task % tiles * GF_ATT_TILE, t1 = t0 + GF_ATT_TILE < T ? t0 + GF_ATT_TILE : T;
        size_t first[GF_ATT_TILE];
        size_t lo = tile_firsts(segment_pos + b * T, t0, t1, w, first), rows = (t1 - t0) * H;
        float *P = scores + gf_par_tid() * slot, *D = dscores + gf_par_tid() * slot;
        size_t qi = (b * T + t0) * H * hd, si = (b * T + t0) * H;
        memset(dq + qi, 0, rows * hd * sizeof *dq);
        for (size_t j0 = lo; j0 < t1; j0 += GF_ATT_BLOCK) {
            size_t j1 = j0 + GF_ATT_BLOCK < t1 ? j0 + GF_ATT_BLOCK : t1, nb = j1 - j0;
            block_products(isa, q + qi, rows, k + (b * T + j0) * hd, nb, hd, P + rows * GF_ATT_BLOCK, P);
            block_products(isa, dout + qi, rows, v + (b * T + j0) * hd, nb, hd, D + rows * GF_ATT_BLOCK, D);
            for (size_t r = 0; r < rows; r++) {
                size_t a, z;
                block_range(r, H, t0, first, j0, j1, &a, &z);
                float *p = P + r * nb, *d = D + r * nb, l = lse[si + r], dl = delta[si + r];
#pragma omp simd
                for (size_t j = a; j < z; j++) d[j] = gf_expf(p[j] * scale - l) * (d[j] - dl) * scale;
                zero_outside(d, a, z, nb);
            }
            gf_combine_rows(isa, D, nb, rows, k + (b * T + j0) * hd, hd, nb, hd, dq + qi, hd);
        }
    }
    /* Keys: key j of a row is seen by the queries t = j .. j + n_j - 1 of
     * its own document (n_j <= w + 1); a tile of keys meets the union of
     * its keys' queries, all heads, a block of query positions at a time:
     * dk_j = sum scale p (ds - delta) q and dv_j = sum p do. */
#pragma omp parallel for schedule(static, 1) num_threads(team(nslots)) if (par)
    for (size_t task = 0; task < B * tiles; task++) {
        size_t b = task / tiles, j0 = task % tiles * GF_ATT_TILE, j1 = j0 + GF_ATT_TILE < T ? j0 + GF_ATT_TILE : T;
        const int32_t *sp = segment_pos + b * T;
        size_t end[GF_ATT_TILE], hi = 0; /* key j's queries end before end[j - j0] */
        for (size_t j = j0; j < j1; j++) {
            size_t n = 1;
            while (n <= w && j + n < T && sp[j + n] != 0) n++; /* a new document: no later query sees j */
            end[j - j0] = j + n;
            hi = j + n > hi ? j + n : hi;
        }
        size_t kr = j1 - j0;
        float *P = scores + gf_par_tid() * slot, *D = dscores + gf_par_tid() * slot;
        memset(dk + (b * T + j0) * hd, 0, kr * hd * sizeof *dk);
        memset(dv + (b * T + j0) * hd, 0, kr * hd * sizeof *dv);
        for (size_t i0 = j0; i0 < hi; i0 += GF_ATT_BLOCK) { /* query positions [i0, i1) */
            size_t i1 = i0 + GF_ATT_BLOCK < hi ? i0 + GF_ATT_BLOCK : hi, nq = (i1 - i0) * H;
            size_t qi = (b * T + i0) * H * hd, si = (b * T + i0) * H;
            gf_mat qs = {GF_W_F32, q + qi, NULL, nq, hd, NULL, NULL, NULL};
            gf_mat dos = {GF_W_F32, dout + qi, NULL, nq, hd, NULL, NULL, NULL};
            gf_gemv_rows(isa, &qs, k + (b * T + j0) * hd, hd, kr, P, nq, 0, nq);
            gf_gemv_rows(isa, &dos, v + (b * T + j0) * hd, hd, kr, D, nq, 0, nq);
            for (size_t r = 0; r < kr; r++) {
                /* rows (position, head) of this block that see key j0 + r */
                size_t qa = j0 + r > i0 ? j0 + r : i0, qz = end[r] < i1 ? end[r] : i1;
                size_t a = qa < qz ? (qa - i0) * H : 0, z = qa < qz ? (qz - i0) * H : 0;
                float *p = P + r * nq, *d = D + r * nq;
#pragma omp simd
                for (size_t i = a; i < z; i++) {
                    p[i] = gf_expf(p[i] * scale - lse[si + i]);
                    d[i] = p[i] * (d[i] - delta[si + i]) * scale;
                }
                zero_outside(p, a, z, nq);
                zero_outside(d, a, z, nq);
            }
            gf_combine_rows(isa, D, nq, kr, q + qi, hd, nq, hd, dk + (b * T + j0) * hd, hd);
            gf_combine_rows(isa, P, nq, kr, dout + qi, hd, nq, hd, dv + (b * T + j0) * hd, hd);
        }
    }
}
