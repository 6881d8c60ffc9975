/* The generator's pieces on small inputs, against direct computations:
 *  - gf_stop_scan, the stop-string matcher, on text given in pieces: a match
 *    inside or across pieces, a partial match held back and released when it
 *    fails, overlapping stop strings, held text at the end;
 *  - min-p and the repeat penalty of the sampler on hand-made logits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate/stop.h"
#include "testutil.h"

/* ---- stop strings ----------------------------------------------------------------- */

/* Feeds text pieces through gf_stop_scan as the generator does: held-back
 * bytes first, then the piece; returns what is emitted, and whether it stopped. */
static int feed_pieces(const char *const *stops, int k, const char *const *pieces, int n, char *out) {
    size_t lens[8];
    for (int i = 0; i < k; i++) lens[i] = strlen(stops[i]);
    char buf[256];
    size_t nb = 0, no = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(pieces[i]);
        memcpy(buf + nb, pieces[i], l);
        nb += l;
        size_t held, at = gf_stop_scan(stops, lens, k, buf, nb, &held);
        if (at < nb) {
            memcpy(out + no, buf, at);
            out[no + at] = 0;
            return 1;
        }
        memcpy(out + no, buf, nb - held);
        no += nb - held;
        memmove(buf, buf + nb - held, held);
        nb = held;
    }
    memcpy(out + no, buf, nb); /* the end: what was held is text */
    out[no + nb] = 0;
    return 0;
}

static void test_stop_scan(void **state) {
    (void)state;
    const char *stops[] = {"</s>", "User:", "abcabd"};
    size_t lens[] = {4, 5, 6}, held;
    assert_int_equal(gf_stop_scan(stops, lens, 3, "hello", 5, &held), 5);
    assert_int_equal(held, 0);
    assert_int_equal(gf_stop_scan(stops, lens, 3, "hello </", 8, &held), 8);
    assert_int_equal(held, 2);
    assert_int_equal(gf_stop_scan(stops, lens, 3, "hello Use", 9, &held), 9);
    assert_int_equal(held, 3);
    assert_int_equal(gf_stop_scan(stops, lens, 3, "x abcab", 7, &held), 7);
    assert_int_equal(held, 5); /* "abcab" could still become "abcabd" */
    assert_int_equal(gf_stop_scan(stops, lens, 3, "hi</s> and User:", 16, &held), 2);
    assert_int_equal(gf_stop_scan(stops, lens, 3, "User:</s>", 9, &held), 0);
    assert_int_equal(gf_stop_scan(stops, lens, 3, "<", 1, &held), 1);
    assert_int_equal(held, 1);
    assert_int_equal(gf_stop_scan(stops, lens, 3, "s>", 2, &held), 2);
    assert_int_equal(held, 0);
    char out[256];
    /* across pieces */
    assert_int_equal(feed_pieces(stops, 3, (const char *const[]){"Hi <", "/", "s> more"}, 3, out), 1);
    assert_string_equal(out, "Hi ");
    /* a partial match released when it fails */
    assert_int_equal(feed_pieces(stops, 3, (const char *const[]){"a <", "/x", " Us", "e", "d"}, 5, out), 0);
    assert_string_equal(out, "a </x Used");
    /* the overlapping case: "abcab" then "cabd" holds "abcab", finds "abcabd" at 3 */
    assert_int_equal(feed_pieces(stops, 3, (const char *const[]){"abcab", "cabd!"}, 2, out), 1);
    assert_string_equal(out, "abc");
    /* held to the end: it is text */
    assert_int_equal(feed_pieces(stops, 3, (const char *const[]){"end </"}, 1, out), 0);
    assert_string_equal(out, "end </");
}

/* ---- min-p and the repeat penalty on small logits --------------------------------- */

static void test_min_p_direct(void **state) {
    (void)state;
    enum { V = 8 };
    const float logits[V] = {2.0f, 1.5f, 1.0f, 0.2f, -1.0f, -3.0f, 0.9f, 1.9f};
    float p[V];
    int idx[V];
    const float temps[] = {1.0f, 0.7f, 2.0f};
    const float minps[] = {0.3f, 0.55f, 0.05f, 1.0f};
    const int topks[] = {0, 3};
    for (int ti = 0; ti < 3; ti++)
        for (int mi = 0; mi < 4; mi++)
            for (int ki = 0; ki < 2; ki++) {
                float T = temps[ti], mp = minps[mi];
                int K = topks[ki];
                /* kept: p >= min_p * p_max on the softmax before temperature,
                 * among the K best; best first */
                int order[V], kept = 0;
                for (int i = 0; i < V; i++) order[i] = i;
                for (int i = 0; i < V; i++)
                    for (int j = i + 1; j < V; j++)
                        if (logits[order[j]] > logits[order[i]]) {
                            int x = order[i];
                            order[i] = order[j];
                            order[j] = x;
                        }
                for (int i = 0; i < V; i++) {
                    double ratio = exp((double)logits[order[i]] - (double)logits[order[0]]);
                    if (ratio >= mp && (K == 0 || i < K)) kept++;
                }
                int hits[V] = {0};
                for (uint64_t seed = 1; seed <= 300; seed++) {
                    gf_sampler s;
                    gf_sampler_init(&s, T, K, 1.0f, seed);
                    s.min_p = mp;
                    uint64_t rng[4];
                    memcpy(rng, s.rng, sizeof rng);
                    int got = gf_sample(&s, logits, V, p, idx);
                    /* the draw: uniform * total over the kept weights */
                    double w[V], total = 0;
                    for (int i = 0; i < kept; i++) total += w[i] = expf((logits[order[i]] - logits[order[0]]) / T);
                    double r = gf_rng_uniform(rng) * total, cum = 0;
                    int want = order[kept - 1];
                    for (int i = 0; i < kept; i++)
                        if (r < (cum += w[i])) {
                            want = order[i];
                            break;
                        }
                    assert_int_equal(got, want);
                    hits[got]++;
                }
                int distinct = 0;
                for (int i = 0; i < V; i++) distinct += hits[i] > 0;
                if (kept <= 3) assert_int_equal(distinct, kept); /* 300 draws see every one kept */
            }
    /* min_p 0 leaves the draw as it was: same ids as a sampler that never had it */
    gf_sampler a, b;
    gf_sampler_init(&a, 1.0f, 0, 1.0f, 9);
    gf_sampler_init(&b, 1.0f, 0, 1.0f, 9);
    b.min_p = 0.0f;
    for (int i = 0; i < 100; i++) assert_int_equal(gf_sample(&a, logits, V, p, idx), gf_sample(&b, logits, V, p, idx));
}

static void test_repeat_penalty_direct(void **state) {
    (void)state;
    float l[6] = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f};
    const int32_t recent[] = {3, 1, 3, 7, -2, 5, 1};
    int32_t scratch[7];
    gf_repeat_penalty(l, 6, recent, 7, 1.5f, scratch);
    const float want[6] = {2.0f, -1.5f, 0.5f, 2.0f, -2.0f, 0.0f}; /* 3 once, 1 once, 0 stays 0 */
    for (int i = 0; i < 6; i++) assert_true(l[i] == want[i]);
    /* a penalty below 1 rewards */
    float u[3] = {1.0f, -1.0f, 2.0f};
    const int32_t r2[] = {0, 1};
    gf_repeat_penalty(u, 3, r2, 2, 0.5f, scratch);
    assert_true(u[0] == 2.0f && u[1] == -0.5f && u[2] == 2.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_scan),
        cmocka_unit_test(test_min_p_direct),
        cmocka_unit_test(test_repeat_penalty_direct),
    };
    return cmocka_run_group_tests_name("sampling", tests, NULL, NULL);
}
