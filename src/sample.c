/* Token sampling (greedy, temperature, top-k, top-p) and the random number
 * generator (xoshiro256** seeded by splitmix64). State lives in the caller's
 * gf_sampler, so sequences sample independently and reproducibly. */
#include <math.h>

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
    gf_rng_seed(s->rng, seed);
}

/* Orders idx[0..n) by p[idx] descending (heap sort: no recursion, no
 * allocation, O(n log n) worst case). Ties keep the lower id first. */
static int before(const float *p, int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); }

static void sift_down(int *idx, const float *p, int root, int n) {
    for (;;) {
        int c = 2 * root + 1;
        if (c >= n) return;
        /* min-heap by "before", so the end of the array receives the best */
        if (c + 1 < n && before(p, idx[c], idx[c + 1])) c++;
        if (!before(p, idx[root], idx[c])) return;
        int t = idx[root];
        idx[root] = idx[c];
        idx[c] = t;
        root = c;
    }
}

static void sort_desc(int *idx, const float *p, int n) {
    for (int i = n / 2 - 1; i >= 0; i--) sift_down(idx, p, i, n);
    for (int end = n - 1; end > 0; end--) {
        int t = idx[0];
        idx[0] = idx[end];
        idx[end] = t;
        sift_down(idx, p, 0, end);
    }
}

int gf_sample(gf_sampler *s, const float *logits, int V, float *p, int *idx) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (!(s->temperature > 0.0f)) return best;
    float mx = logits[best];
    for (int i = 0; i < V; i++) p[i] = expf((logits[i] - mx) / s->temperature);
    int n = V;
    int filter_p = s->top_p > 0.0f && s->top_p < 1.0f;
    int filter_k = s->top_k > 0 && s->top_k < V;
    for (int i = 0; i < V; i++) idx[i] = i;
    if (filter_k || filter_p) {
        sort_desc(idx, p, V);
        if (filter_k) n = s->top_k;
        if (filter_p) {
            double total = 0.0, cum = 0.0;
            for (int i = 0; i < n; i++) total += p[idx[i]];
            int keep = n;
            for (int i = 0; i < n; i++) {
                cum += p[idx[i]];
                if (cum >= s->top_p * total) {
                    keep = i + 1;
                    break;
                }
            }
            n = keep;
        }
    }
    double total = 0.0;
    for (int i = 0; i < n; i++) total += p[idx[i]];
    double r = gf_rng_uniform(s->rng) * total, cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += p[idx[i]];
        if (r < cum) return idx[i];
    }
    return idx[n - 1];
}
