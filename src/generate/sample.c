/* Token sampling (greedy, temperature, top-k, top-p, min-p, the repeat
 * penalty) and the random number
 * generator (xoshiro256** seeded by splitmix64). State lives in the caller's
 * gf_sampler, so sequences sample independently and reproducibly. */
#include <math.h>
#include <string.h>

#include "griffin.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void gf_rng_seed(uint64_t rng[4], uint64_t seed) {
    for (int i = 0; i < 4; i++) rng[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t gf_rng_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double gf_rng_uniform(uint64_t rng[4]) { return (double)(gf_rng_next(rng) >> 11) * 0x1.0p-53; }

double gf_rng_normal(uint64_t rng[4]) {
    /* Box-Muller; 1 - u keeps the logarithm's argument in (0, 1]. */
    double u1 = 1.0 - gf_rng_uniform(rng), u2 = gf_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void gf_sampler_init(gf_sampler *s, float temperature, int top_k, float top_p, uint64_t seed) {
    s->temperature = temperature;
    s->top_k = top_k;
    s->top_p = top_p;
    s->min_p = 0.0f;
    gf_rng_seed(s->rng, seed);
}

/* Candidates are taken best-first from a binary max-heap of ids: building it
 * is O(V) and each pop O(log V), so top-k and top-p cost O(V + kept log V)
 * rather than a full sort of the vocabulary every token. Ties keep the lower
 * id first. */
static int before(const float *p, int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); }

static void sift_down(int *idx, const float *p, int root, int n) {
    for (;;) {
        int c = 2 * root + 1;
        if (c >= n) return;
        if (c + 1 < n && before(p, idx[c + 1], idx[c])) c++;
        if (!before(p, idx[c], idx[root])) return;
        int t = idx[root];
        idx[root] = idx[c];
        idx[c] = t;
        root = c;
    }
}

/* Moves the best of heap idx[0..n) to idx[n-1]; the heap shrinks by one. */
static int pop_best(int *idx, const float *p, int n) {
    int best = idx[0];
    idx[0] = idx[n - 1];
    idx[n - 1] = best;
    sift_down(idx, p, 0, n - 1);
    return best;
}

/* Draws from candidates ids[0..n) (NULL: ids 0..n-1) with weights p[id]
 * summing to total; fallback when rounding leaves the draw above the sum. */
static int draw(gf_sampler *s, const float *p, const int *ids, int n, double total, int fallback) {
    double r = gf_rng_uniform(s->rng) * total, cum = 0.0;
    for (int i = 0; i < n; i++) {
        int id = ids ? ids[i] : i;
        cum += p[id];
        if (r < cum) return id;
    }
    return fallback;
}

int gf_sample(gf_sampler *s, const float *logits, int V, float *p, int *idx) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (!(s->temperature > 0.0f)) return best;
    float mx = logits[best];
    double total_all = 0.0;
    for (int i = 0; i < V; i++) {
        p[i] = expf((logits[i] - mx) / s->temperature);
        total_all += p[i];
    }
    int filter_p = s->top_p > 0.0f && s->top_p < 1.0f;
    int filter_k = s->top_k > 0 && s->top_k < V;
    /* min-p on the probabilities before temperature: p_i >= min_p * p_max is
     * logit_i - logit_max >= log(min_p), i.e. p[i] >= min_p^(1/T) for these
     * weights (p[best] = 1), which keeps the test in the heap's order. */
    int filter_m = s->min_p > 0.0f;
    float min_w = filter_m ? expf(logf(s->min_p) / s->temperature) : 0.0f;
    if (!filter_k && !filter_p && !filter_m) return draw(s, p, NULL, V, total_all, best);
    for (int i = 0; i < V; i++) idx[i] = i;
    for (int i = V / 2 - 1; i >= 0; i--) sift_down(idx, p, i, V);
    /* Popped candidates collect at the end: idx[V-1] best, idx[V-2] next... */
    int kept = 0;
    double total = 0.0;
    if (filter_k) {
        for (; kept < s->top_k; kept++) total += p[pop_best(idx, p, V - kept)];
        if (filter_p) {
            double cum = 0.0, target = s->top_p * total;
            int keep = kept;
            for (int i = 0; i < kept; i++) {
                cum += p[idx[V - 1 - i]];
                if (cum >= target) {
                    keep = i + 1;
                    break;
                }
            }
            kept = keep;
            total = cum;
        }
    } else if (filter_p) {
        double target = s->top_p * total_all;
        while (kept < V && total < target) total += p[pop_best(idx, p, V - kept++)];
    } else { /* min-p alone: candidates while they pass */
        while (kept < V && (kept == 0 || p[idx[0]] >= min_w)) total += p[pop_best(idx, p, V - kept++)];
        filter_m = 0;
    }
    /* Best first, as the candidates were taken. */
    int *cand = idx + V - kept;
    for (int i = 0, j = kept - 1; i < j; i++, j--) {
        int t = cand[i];
        cand[i] = cand[j];
        cand[j] = t;
    }
    if (filter_m) { /* after top-k / top-p: the best that pass, the best always */
        int keep = 1;
        while (keep < kept && p[cand[keep]] >= min_w) keep++;
        kept = keep;
        total = 0.0;
        for (int i = 0; i < kept; i++) total += p[cand[i]];
    }
    return draw(s, p, cand, kept, total, cand[kept - 1]);
}

/* In-place heapsort of a[0..n) (no allocation, unlike some qsorts). */
static void sift_ids(int32_t *a, int root, int n) {
    for (;;) {
        int c = 2 * root + 1;
        if (c >= n) return;
        if (c + 1 < n && a[c + 1] > a[c]) c++;
        if (a[c] <= a[root]) return;
        int32_t t = a[root];
        a[root] = a[c];
        a[c] = t;
        root = c;
    }
}

void gf_repeat_penalty(float *logits, int V, const int32_t *recent, int n, float penalty,
                       int32_t *scratch) {
    if (n <= 0) return;
    memcpy(scratch, recent, (size_t)n * sizeof *scratch);
    for (int i = n / 2 - 1; i >= 0; i--) sift_ids(scratch, i, n);
    for (int end = n - 1; end > 0; end--) {
        int32_t t = scratch[0];
        scratch[0] = scratch[end];
        scratch[end] = t;
        sift_ids(scratch, 0, end);
    }
    for (int i = 0; i < n; i++) {
        int32_t id = scratch[i];
        if (id < 0 || id >= V || (i > 0 && scratch[i - 1] == id)) continue;
        float l = logits[id];
        logits[id] = l > 0.0f ? l / penalty : l * penalty;
    }
}
