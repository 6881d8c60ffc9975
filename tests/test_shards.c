/* The library's pieces of data-parallel training (griffin_train.h), without
 * MPI: each is checked against the one-process computation it splits.
 *   - gf_shard_range tiles [0, n) in order, each shard but the last a whole
 *     number of 16 floats;
 *   - AdamW over shards (gf_adamw_new_range + gf_adamw_apply with the
 *     whole norm) gives the whole update's bits; gf_grad_sumsq of the
 *     shards adds up to the whole (gf_grad_norm);
 *   - gf_train_loss_grad_part over the rows of a batch, in parts: the
 *     parts' gradients sum to the whole batch's (within float
 *     reassociation: 1e-5 of the largest), the summed losses over the
 *     batch's count to its mean loss; the ready calls cover the arena once,
 *     the layers from the last down, then the model's own tensors;
 *   - gf_token_data_sample_part: a part's rows are those rows of
 *     gf_token_data_sample's batch, rng ends alike, targets_all counts the
 *     whole batch (with and without a mask);
 *   - a checkpoint saved in 3 shards (the steps one by one) loads on 1, 2
 *     and 3 shards with the moments where they were; a manifest whose shards
 *     do not cover the parameters is refused in one line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "train/trainable.h"
#include "util.h"

static void test_shard_ranges(void **state) {
    (void)state;
    const size_t ns[] = {0, 1, 15, 16, 17, 100, 1000, 365184, 1000003};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (int S = 1; S <= 9; S++) {
            size_t next = 0;
            for (int k = 0; k < S; k++) {
                size_t lo, hi;
                gf_shard_range(ns[a], k, S, &lo, &hi);
                assert_int_equal(lo, next);
                assert_true(hi >= lo && hi <= ns[a]);
                if (hi < ns[a]) assert_int_equal((hi - lo) % 16, 0);
                next = hi;
            }
            assert_int_equal(next, ns[a]);
        }
}

static void fill_grads(gf_trainable *t, uint64_t seed) {
    uint64_t rng[4];
    gf_rng_seed(rng, seed);
    float *g = gf_trainable_grads(t);
    for (size_t i = 0; i < gf_trainable_num_params(t); i++)
        g[i] = (float)((double)(gf_rng_next(rng) >> 11) / 9007199254740992.0 - 0.5) * 0.01f;
}

static void test_sharded_adamw(void **state) {
    (void)state;
    gf_trainable *whole = td_random_trainable("griffin", 64, 3), *parts = td_random_trainable("griffin", 64, 3);
    size_t n = gf_trainable_num_params(whole);
    gf_adamw_config c = {1e-2f, 0.1f, 2, 10, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f};
    gf_error err;
    gf_adamw *ow = gf_adamw_new(whole, &err), *os[3];
    assert_non_null(ow);
    for (int k = 0; k < 3; k++) {
        size_t lo, hi;
        gf_shard_range(n, k, 3, &lo, &hi);
        assert_non_null(os[k] = gf_adamw_new_range(parts, lo, hi, &err));
        assert_int_equal(gf_adamw_offset(os[k]), lo);
        assert_int_equal(gf_adamw_num_params(os[k]), hi - lo);
    }
    assert_null(gf_adamw_new_range(parts, 10, n + 1, &err));
    for (int step = 0; step < 3; step++) {
        fill_grads(whole, 10 + (uint64_t)step);
        fill_grads(parts, 10 + (uint64_t)step);
        double norm = gf_adamw_update(ow, whole, &c, gf_lr_at(&c, step));
        double sq = 0;
        for (int k = 0; k < 3; k++)
            sq += gf_grad_sumsq(parts, gf_adamw_offset(os[k]), gf_adamw_offset(os[k]) + gf_adamw_num_params(os[k]));
        /* the shards' sums: the whole's within double rounding */
        assert_true(fabs(sqrt(sq) - norm) <= 1e-12 * norm);
        assert_true(gf_grad_norm(parts) == norm);
        for (int k = 0; k < 3; k++) gf_adamw_apply(os[k], parts, &c, gf_lr_at(&c, step), norm);
        assert_memory_equal(gf_trainable_params(whole), gf_trainable_params(parts), n * sizeof(float));
    }
    gf_adamw_free(ow);
    for (int k = 0; k < 3; k++) gf_adamw_free(os[k]);
    gf_trainable_free(whole);
    gf_trainable_free(parts);
}

typedef struct {
    size_t lo[64], n[64];
    int calls;
} ready_log;

static void on_ready(void *ctx, size_t offset, size_t count) {
    ready_log *r = ctx;
    if (r->calls < 64) r->lo[r->calls] = offset, r->n[r->calls] = count;
    r->calls++;
}

static void test_loss_grad_parts(void **state) {
    (void)state;
    enum { B = 4, T = 12, V = 64 };
    gf_trainable *t = td_random_trainable("griffin", V, 5);
    size_t n = gf_trainable_num_params(t);
    int32_t in[B * T], tg[B * T];
    uint64_t rng[4];
    gf_rng_seed(rng, 7);
    size_t count = 0;
    for (int i = 0; i < B * T; i++) {
        in[i] = (int32_t)(gf_rng_next(rng) % V);
        tg[i] = i % 5 == 0 ? -1 : (int32_t)(gf_rng_next(rng) % V);
        count += tg[i] >= 0;
    }
    gf_error err;
    double whole_loss;
    gf_trainable_zero_grads(t);
    assert_int_equal(gf_train_loss_grad(t, B, T, in, tg, NULL, 0.5f, &whole_loss, &err), 0);
    float *whole = malloc(n * sizeof *whole);
    memcpy(whole, gf_trainable_grads(t), n * sizeof *whole);
    /* rows 0-2 and 3, added into one arena */
    gf_trainable_zero_grads(t);
    ready_log r = {0};
    double s1, s2;
    assert_int_equal(gf_train_loss_grad_part(t, 3, T, in, tg, NULL, 0.5f, count, &s1, on_ready, &r, &err), 0);
    assert_int_equal(gf_train_loss_grad_part(t, 1, T, in + 3 * T, tg + 3 * T, NULL, 0.5f, count, &s2, NULL, NULL, &err), 0);
    double mean = (s1 + s2) / (double)count;
    assert_true(fabs(mean - whole_loss) <= 1e-9 * whole_loss);
    double diff = td_max_abs_diff(whole, gf_trainable_grads(t), n), big = td_max_abs(whole, n);
    print_message("    parts vs whole: loss %.3g relative, gradients %.3g of the largest\n",
                  fabs(mean - whole_loss) / whole_loss, diff / big);
    assert_true(diff <= 1e-5 * big);
    /* the ready calls: the arena once, the last layer first, the model's own last */
    const gf_config *c = gf_model_config(gf_trainable_model(t));
    assert_int_equal(r.calls, c->num_layers + 1);
    char *seen = calloc(n, 1);
    for (int k = 0; k < r.calls; k++)
        for (size_t i = r.lo[k]; i < r.lo[k] + r.n[k]; i++) seen[i]++;
    for (size_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);
    for (int k = 1; k < c->num_layers; k++) assert_true(r.lo[k] < r.lo[k - 1]);
    assert_int_equal(r.lo[r.calls - 1], 0);
    /* a part cannot hold more targets than its batch */
    assert_int_equal(gf_train_loss_grad_part(t, 3, T, in, tg, NULL, 1, 2, &s1, NULL, NULL, &err), -1);
    td_expect_one_line(&err, "more than the 2 of the whole batch");
    free(seen);
    free(whole);
    gf_trainable_free(t);
}

static void check_sample_parts(const gf_token_data *d, size_t T) {
    enum { BALL = 6 };
    uint64_t r0[4], r1[4];
    gf_rng_seed(r0, 11);
    memcpy(r1, r0, sizeof r0);
    int32_t *all = calloc(3 * BALL * T, sizeof *all), *part = calloc(3 * BALL * T, sizeof *part);
    gf_error err;
    assert_int_equal(gf_token_data_sample(d, r0, BALL, T, all, all + BALL * T, all + 2 * BALL * T, &err), 0);
    size_t count = 0;
    for (size_t i = 0; i < BALL * T; i++) count += all[BALL * T + i] >= 0;
    /* rows 2..4 of the same draw */
    size_t tall = 0;
    assert_int_equal(gf_token_data_sample_part(d, r1, BALL, 2, 3, T, part, part + 3 * T, part + 6 * T, &tall, &err), 0);
    assert_memory_equal(r0, r1, sizeof r0);
    assert_int_equal(tall, count);
    for (int k = 0; k < 3; k++) /* inputs, targets, positions */
        assert_memory_equal(part + (size_t)k * 3 * T, all + (size_t)k * BALL * T + 2 * T, 3 * T * sizeof *part);
    assert_int_equal(gf_token_data_sample_part(d, r1, BALL, 4, 3, T, part, part + 3 * T, part + 6 * T, NULL, &err), -1);
    td_expect_one_line(&err, "not within a batch of 6");
    free(all);
    free(part);
}

static void test_sample_parts(void **state) {
    (void)state;
    /* documents of 5..24 tokens, each BOS then a count; the mask marks the
     * second half of each as answers */
    size_t n = 3000;
    uint16_t *tok = malloc(n * sizeof *tok);
    uint8_t *mask = malloc(n);
    uint64_t rng[4];
    gf_rng_seed(rng, 3);
    for (size_t i = 0; i < n;) {
        size_t len = 5 + gf_rng_next(rng) % 20;
        if (len > n - i) len = n - i;
        for (size_t k = 0; k < len; k++) {
            tok[i + k] = k == 0 ? 2 : (uint16_t)(4 + (i + k) % 50);
            mask[i + k] = k > 0 && k >= len / 2;
        }
        i += len;
    }
    gf_error err;
    char tpath[4096], mp[4096];
    snprintf(tpath, sizeof tpath, "%s/shard_tokens.npy", td_tmpdir());
    snprintf(mp, sizeof mp, "%s/shard_mask.npy", td_tmpdir());
    if (gf_npy_write(tpath, GF_NPY_U16, (size_t[]){n}, 1, tok, &err)) fail_msg("%s", err.msg);
    if (gf_npy_write(mp, GF_NPY_U8, (size_t[]){n}, 1, mask, &err)) fail_msg("%s", err.msg);
    gf_token_data *d = gf_token_data_open(tpath, 64, 2, &err);
    assert_non_null(d);
    check_sample_parts(d, 16);
    assert_int_equal(gf_token_data_set_mask(d, mp, &err), 0);
    check_sample_parts(d, 32);
    gf_token_data_free(d);
    free(tok);
    free(mask);
}

static void test_sharded_checkpoint(void **state) {
    (void)state;
    gf_trainable *t = td_random_trainable("hawk", 64, 9);
    size_t n = gf_trainable_num_params(t);
    gf_train_state s = {.step = 7, .tokens = 700, .seed = 1, .batch = 6, .seq = 8, .accum = 1, .eval_windows = 1};
    s.opt = (gf_adamw_config){1e-3f, 0.1f, 1, 20, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};
    gf_rng_seed(s.rng, 4);
    gf_error err;
    char out[4096];
    snprintf(out, sizeof out, "%s/sharded-run", td_tmpdir());
    /* moments that say where they are: m[i] = -i, v[i] = i (a second moment is never negative) */
    gf_adamw *o[3];
    for (int k = 0; k < 3; k++) {
        size_t lo, hi;
        gf_shard_range(n, k, 3, &lo, &hi);
        assert_non_null(o[k] = gf_adamw_new_range(t, lo, hi, &err));
        float *mv = gf_adamw_moments(o[k]);
        for (size_t i = 0; i < hi - lo; i++) mv[i] = -(float)(lo + i), mv[hi - lo + i] = (float)(lo + i);
    }
    assert_int_equal(gf_checkpoint_begin(out, s.step, &err), 0);
    assert_int_equal(gf_checkpoint_write_model(out, t, &s, NULL, 3, &err), 0);
    for (int k = 0; k < 3; k++) assert_int_equal(gf_checkpoint_write_optimizer(out, s.step, o[k], k, 3, &err), 0);
    assert_int_equal(gf_checkpoint_commit(out, s.step, &err), 0);
    for (int S = 1; S <= 3; S++)
        for (int k = 0; k < S; k++) {
            gf_trainable *t2;
            gf_adamw *o2;
            gf_train_state s2;
            if (gf_checkpoint_load_shard(out, k, S, &t2, &o2, &s2, &err)) fail_msg("%d of %d: %s", k, S, err.msg);
            size_t lo, hi;
            gf_shard_range(n, k, S, &lo, &hi);
            assert_int_equal(gf_adamw_offset(o2), lo);
            assert_int_equal(gf_adamw_num_params(o2), hi - lo);
            const float *mv = gf_adamw_moments(o2);
            for (size_t i = 0; i < hi - lo; i++) {
                assert_true(mv[i] == -(float)(lo + i));
                assert_true(mv[hi - lo + i] == (float)(lo + i));
            }
            assert_int_equal(s2.step, 7);
            assert_memory_equal(gf_trainable_params(t2), gf_trainable_params(t), n * sizeof(float));
            gf_adamw_free(o2);
            gf_trainable_free(t2);
        }
    /* a manifest with a gap: refused, naming it */
    char manifest[8192];
    snprintf(manifest, sizeof manifest, "%s/latest/optimizer_shards.json", out);
    size_t len;
    char *text = td_read(manifest, &len);
    char *at = strstr(text, "\"offset\":\t0");
    assert_non_null(at);
    at[strlen("\"offset\":\t")] = '5';
    td_write(manifest, text, len);
    free(text);
    gf_trainable *t3;
    gf_adamw *o3;
    gf_train_state s3;
    assert_int_equal(gf_checkpoint_load_shard(out, 0, 2, &t3, &o3, &s3, &err), -1);
    td_expect_one_line(&err, "the shards must cover the");
    assert_int_equal(gf_checkpoint_load_shard(out, 2, 2, &t3, &o3, &s3, &err), -1);
    /* an abandoned save leaves nothing */
    assert_int_equal(gf_checkpoint_begin(out, 9, &err), 0);
    gf_checkpoint_abandon(out, 9);
    char part[8192];
    snprintf(part, sizeof part, "%s/.partial-00000009", out);
    assert_int_equal(access(part, F_OK), -1);
    for (int k = 0; k < 3; k++) gf_adamw_free(o[k]);
    gf_trainable_free(t);
}

int main(void) {
    atexit(td_remove_tmpdir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_ranges),     cmocka_unit_test(test_sharded_adamw),
        cmocka_unit_test(test_loss_grad_parts),  cmocka_unit_test(test_sample_parts),
        cmocka_unit_test(test_sharded_checkpoint),
    };
    return cmocka_run_group_tests_name("shards", tests, NULL, NULL);
}
