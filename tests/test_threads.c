/* The team-size governor (src/threads.h) and the generator's use of it.
 *
 * The policy is driven here by made-up times (each size's seconds per row,
 * changed part way to play a machine that gets busy and quiet again): it
 * must settle on the faster size, spend a bounded share of the time on the
 * slower one, and follow a change within a bounded time. Then the
 * generator: the ids it gives are the same whether it measures or is fixed
 * at one or two threads, and a state's logits with the sizes changing
 * under its steps equal those on a fixed team within float rounding (our
 * loops do not depend on the team size; OpenBLAS's products may sum in
 * another order); the caller's OpenMP setting is left as it was. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "model/model.h"
#include "threads.h"

/* Runs `uses` spans of key 0 on t where size s costs cost[s == 1] seconds
 * per row (rows rows each); returns the total time, and the time spent on
 * the slower size into *slow_time (NULL: not wanted). */
static double drive(gf_threads *t, int uses, double rows, const double cost[2], double *slow_time) {
    double total = 0, slow = 0;
    int slower = cost[0] > cost[1] ? 2 : 1; /* cost[0]: two threads, cost[1]: one */
    for (int i = 0; i < uses; i++) {
        int n = gf_threads_begin(t, 0);
        assert_true(n == 1 || n == 2);
        double sec = cost[n == 1] * rows;
        gf_threads_end(t, 0, sec, rows);
        total += sec;
        if (n == slower) slow += sec;
    }
    if (slow_time) *slow_time = slow;
    return total;
}

/* The machine as the tests say it is, not as it is. */
static int others_now;
static int fake_others(void) { return others_now; }
static void fake_machine(gf_threads *t, int others) {
    others_now = others;
    t->others = fake_others;
    t->crowded = 2 * others >= t->size[0]; /* what gf_threads_init's look would have found */
}

static void test_policy(void **state) {
    (void)state;
    int keep = omp_get_max_threads();
    gf_threads t;
    double slow;
    /* quiet: two threads 1.8x faster; started on one (a busy guess), it
     * moves up once the guess's hold is over, and the
     * trials of one thread take a few per cent at most */
    gf_threads_init(&t, 2, 0);
    fake_machine(&t, 0);
    gf_threads_prior(&t, 1);
    assert_int_equal(gf_threads_current(&t, 0), 1);
    double quiet[2] = {1e-6, 1.8e-6};
    drive(&t, 10, 1, quiet, NULL); /* held back by the prior: 2 ms of trials' cost x the spacing */
    assert_int_equal(gf_threads_current(&t, 0), 1);
    drive(&t, 200000, 1, quiet, NULL);
    drive(&t, 10, 1, quiet, NULL);
    assert_int_equal(gf_threads_current(&t, 0), 2);
    double total = drive(&t, 20000, 1, quiet, &slow);
    print_message("    quiet: %.2f %% of the time on the slower size\n", 100 * slow / total);
    assert_true(slow / total < 0.05);
    /* busy: two threads 30x slower; moves down within a few uses and
     * stays: the whole run within 10 % of one thread's time */
    double busy[2] = {30e-6, 1e-6};
    drive(&t, 20, 1, busy, NULL);
    assert_int_equal(gf_threads_current(&t, 0), 1);
    total = drive(&t, 20000, 1, busy, &slow);
    print_message("    busy: %.2f %% of the time on the slower size\n", 100 * slow / total);
    assert_true(total < 1.1 * 20000 * busy[1]);
    /* quiet again: back on two threads within a bounded time (spacing x
     * the cost of the trial that lost) */
    int uses = 0;
    while (gf_threads_current(&t, 0) != 2 && uses < 100000) uses += (drive(&t, 1, 1, quiet, NULL), 1);
    print_message("    quiet again: back on two threads after %d uses\n", uses);
    assert_true(uses < 100000);
    /* a fresh governor that guessed quiet on a busy machine: starts on
     * two threads; moves down */
    gf_threads_init(&t, 2, 0);
    fake_machine(&t, 0);
    gf_threads_prior(&t, 0);
    assert_int_equal(gf_threads_current(&t, 0), 2);
    drive(&t, 20, 1, busy, NULL);
    assert_int_equal(gf_threads_current(&t, 0), 1);
    /* one that guessed one thread and no hold: the first trial of two
     * threads ends after one use, and holds back the other parts' trials */
    gf_threads_init(&t, 2, 0);
    fake_machine(&t, 0);
    gf_threads_prior(&t, 1);
    t.lost_cost = 0;
    double first = drive(&t, 3, 1, busy, NULL); /* warm-up, a time, the trial's one use */
    assert_true(first <= 2 * busy[1] + busy[0] + 1e-12);
    int n = gf_threads_begin(&t, 1);
    gf_threads_end(&t, 1, busy[1], 1); /* warm-up */
    n = gf_threads_begin(&t, 1);
    gf_threads_end(&t, 1, busy[1], 1);
    n = gf_threads_begin(&t, 1);
    assert_int_equal(n, 1); /* no trial: the lost one's cost not yet paid back */
    gf_threads_end(&t, 1, busy[1], 1);
    /* crowded (another task ready to run beside this one on two cores):
     * two threads are never tried, even where the times would favour them
     * (a trial beside a busy process costs time slices); once the machine
     * is quiet again, the next look lets them be tried */
    gf_threads_init(&t, 2, 0);
    fake_machine(&t, 1);
    gf_threads_prior(&t, 1);
    t.lost_cost = 0;
    int tried = 0;
    for (int i = 0; i < 100000; i++) {
        int m = gf_threads_begin(&t, 0);
        tried += m == 2;
        gf_threads_end(&t, 0, quiet[m - 1], 1);
    }
    assert_int_equal(tried, 0);
    others_now = 0;
    drive(&t, 200000, 1, quiet, NULL);
    assert_int_equal(gf_threads_current(&t, 0), 2);
    /* fixed */
    gf_threads_init(&t, 2, 3);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(gf_threads_begin(&t, 0), 3);
        gf_threads_end(&t, 0, (i % 2 ? 1 : 100) * 1e-6, 1);
    }
    /* enter / leave put the caller's setting back */
    omp_set_num_threads(2);
    gf_threads_init(&t, 2, 0);
    assert_true(gf_threads_others_running() >= 0); /* Linux: /proc/loadavg */
    int saved = gf_threads_enter(&t, 1);
    assert_int_equal(saved, 2);
    gf_threads_begin(&t, 0);
    gf_threads_leave(&t, saved);
    assert_int_equal(omp_get_max_threads(), 2);
    omp_set_num_threads(keep);
}

/* ids of a greedy generation of `steps` after a long prompt (long enough
 * that the prefill's loops run on a team); threads < 0: measured. */
static void generate(const gf_model *m, int threads, int32_t *ids, int steps) {
    gf_gen_params p;
    gf_gen_params_default(&p);
    p.temperature = 0;
    p.max_tokens = steps;
    gf_error err;
    gf_generator *g = gf_generator_new(m, NULL, 1, &p, &err);
    if (!g) fail_msg("%s", err.msg);
    if (threads >= 0 && gf_generator_set_threads(g, threads, &err)) fail_msg("%s", err.msg);
    int V = gf_model_config(m)->vocab_size;
    int32_t prompt[700];
    for (int i = 0; i < 700; i++) prompt[i] = (int32_t)((i * 7919) % V);
    if (gf_generator_feed(g, prompt, 700, &err)) fail_msg("%s", err.msg);
    for (int i = 0; i < steps; i++) {
        int32_t tok;
        if (gf_generator_step(g, &tok, &err) < 0) fail_msg("%s", err.msg);
        ids[i] = tok;
    }
    int now = gf_generator_threads(g);
    assert_true(now >= 1 && now <= (threads > 0 ? threads : 2));
    gf_generator_free(g);
}

/* Logits [steps, V] of a prefill of 700 ids then steps decode steps, on a
 * state with governor t (NULL: none), which is made to try a size every
 * few uses (its costs forgotten) so that sizes change mid-run. */
static void run_state(const gf_model *m, gf_threads *t, float *logits, int steps) {
    gf_error err;
    gf_state *st = gf_state_new(m, 1, &err);
    if (!st) fail_msg("%s", err.msg);
    st->tune = t;
    int V = gf_model_config(m)->vocab_size;
    int32_t ids[700 + 64];
    for (int i = 0; i < 700 + steps; i++) ids[i] = (int32_t)((i * 104729) % V);
    if (gf_prefill(m, 1, 700, ids, NULL, NULL, NULL, st, &err)) fail_msg("%s", err.msg);
    for (int i = 0; i < steps; i++) {
        if (t)
            for (int k = 0; k < GF_TUNE_KEYS; k++) memset(t->key[k].cost, 0, sizeof t->key[k].cost);
        if (gf_decode_step(m, st, ids + 700 + i, NULL, logits + (size_t)i * V, &err)) fail_msg("%s", err.msg);
    }
    gf_state_free(st);
}

static void test_generator_threads(void **state) {
    (void)state;
    int keep = omp_get_max_threads();
    omp_set_num_threads(2);
    gf_trainable *t = td_random_trainable("griffin", 300, 5);
    const gf_model *m = gf_trainable_model(t);
    enum { STEPS = 40 };
    int V = gf_model_config(m)->vocab_size;
    int32_t ids[3][STEPS];
    generate(m, -1, ids[0], STEPS); /* measured */
    generate(m, 1, ids[1], STEPS);  /* one thread */
    generate(m, 2, ids[2], STEPS);  /* two */
    assert_int_equal(omp_get_max_threads(), 2);
    assert_memory_equal(ids[0], ids[1], sizeof ids[0]);
    assert_memory_equal(ids[0], ids[2], sizeof ids[0]);
    /* the logits themselves, sizes changing under the steps */
    size_t n = (size_t)STEPS * (size_t)V;
    float *l = malloc(3 * n * sizeof *l);
    assert_non_null(l);
    gf_threads one, mixed;
    gf_threads_init(&one, 2, 1);
    gf_threads_init(&mixed, 2, 0);
    run_state(m, NULL, l, STEPS);
    run_state(m, &one, l + n, STEPS);
    run_state(m, &mixed, l + 2 * n, STEPS);
    assert_int_equal(omp_get_max_threads(), 2);
    /* the prefill's products (OpenBLAS) may sum in another order on
     * another team: equal within float rounding, as test_grad has it */
    double scale = td_max_abs(l, n), d1 = td_max_abs_diff(l, l + n, n), d2 = td_max_abs_diff(l, l + 2 * n, n);
    print_message("    logits: max |d| %.2g (one thread), %.2g (measured), of max |l| %.2g\n", d1, d2, scale);
    assert_true(d1 <= 1e-5 * scale && d2 <= 1e-5 * scale);
    free(l);
    /* refusals */
    gf_gen_params p;
    gf_gen_params_default(&p);
    gf_error err;
    gf_generator *g = gf_generator_new(m, NULL, 1, &p, &err);
    assert_non_null(g);
    assert_int_equal(gf_generator_set_threads(g, -1, &err), -1);
    td_expect_one_line(&err, "threads");
    assert_int_equal(gf_generator_set_threads(g, 5000, &err), -1);
    assert_int_equal(gf_generator_set_threads(g, 0, &err), 0);
    gf_generator_free(g);
    gf_trainable_free(t);
    omp_set_num_threads(keep);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_generator_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
