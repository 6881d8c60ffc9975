/* Held-out loss: the model's next-token cross-entropy over consecutive
 * windows of a token file, through the inference prefill (any weight
 * dtype), with document starts as segment resets as in training. With a
 * loss mask the rows are packed from whole examples as in training, only
 * the answer tokens count, and an example is right when all of its answer
 * tokens are the argmax of their logits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "trainable.h"

/* -log softmax(row)[y], in double for the sum over a large vocabulary;
 * *argmax gets the first largest logit's id. */
static double token_loss(const float *row, size_t V, int32_t y, int32_t *argmax) {
    float mx = row[0];
    size_t best = 0;
    for (size_t v = 1; v < V; v++)
        if (row[v] > mx) mx = row[v], best = v;
    double z = 0.0;
    for (size_t v = 0; v < V; v++) z += exp((double)(row[v] - mx));
    *argmax = (int32_t)best;
    return log(z) + mx - row[y];
}

int gf_eval_data_stats(const gf_model *m, const gf_token_data *d, int B_, int T_, size_t max_windows,
                       gf_eval_stats *s, gf_error *err) {
    if (B_ <= 0 || T_ <= 0) return gf_fail(err, "evaluation needs B, T >= 1 (got %d, %d)", B_, T_);
    size_t B = (size_t)B_, T = (size_t)T_, V = (size_t)gf_model_config(m)->vocab_size;
    size_t n = gf_token_data_len(d);
    int masked = gf_token_data_masked(d);
    size_t windows, docs = gf_token_data_num_docs(d);
    if (masked) {
        size_t longest = gf_token_data_longest_doc(d);
        if (longest > T + 1)
            return gf_fail(err, "an example of %zu tokens does not fit a window of T + 1 = %zu", longest, T + 1);
        windows = SIZE_MAX; /* as many rows as the examples fill */
    } else {
        if (n < T + 1)
            return gf_fail(err, "the evaluation data holds %zu tokens, fewer than one window of T + 1 = %zu", n, T + 1);
        windows = (n - 1) / T; /* window k: tokens kT .. kT + T */
    }
    if (max_windows > 0 && windows > max_windows) windows = max_windows;
    int32_t *in = gf_calloc(B * T * 3, sizeof *in, "evaluation batch", err);
    float *logits = gf_calloc(gf_mul_sat(B * T, V), sizeof *logits, "evaluation logits", err);
    int rc = -1;
    if (!in || !logits) goto out;
    int32_t *tg = in + B * T, *pos = tg + B * T;
    if (s->pos_loss) memset(s->pos_loss, 0, T * sizeof *s->pos_loss);
    if (s->pos_count) memset(s->pos_count, 0, T * sizeof *s->pos_count);
    if (s->pos_correct) memset(s->pos_correct, 0, T * sizeof *s->pos_correct);
    s->windows = s->targets = s->correct = s->examples = s->examples_correct = 0;
    double sum = 0.0;
    size_t next_doc = 0; /* masked: the first example of the next row */
    for (size_t w0 = 0; w0 < windows; w0 += B) {
        size_t nb = 0;
        for (; nb < B && w0 + nb < windows; nb++) {
            int32_t *ri = in + nb * T, *rt = tg + nb * T, *rp = pos + nb * T;
            if (!masked) {
                gf_token_data_window(d, (w0 + nb) * T, T, ri, rt, rp);
                continue;
            }
            if (next_doc >= docs) break;
            next_doc += gf_token_data_pack(d, next_doc, T, ri, rt, rp);
        }
        if (nb == 0) break;
        if (gf_prefill(m, (int)nb, (int)T, in, pos, logits, NULL, NULL, err)) goto out;
        for (size_t b = 0; b < nb; b++) {
            /* masked: an example runs from one position 0 to the next (a
             * padding position is one too, with nothing to count) */
            int open = 0, all_right = 0;
            for (size_t t = 0; t < T; t++) {
                size_t r = b * T + t;
                if (masked && pos[r] == 0) {
                    if (open) s->examples++, s->examples_correct += (size_t)all_right;
                    open = 0, all_right = 1;
                }
                if (tg[r] < 0) continue;
                int32_t best;
                double l = token_loss(logits + r * V, V, tg[r], &best);
                int right = best == tg[r];
                sum += l;
                s->targets++;
                s->correct += (size_t)right;
                open = 1;
                all_right &= right;
                if (s->pos_loss) s->pos_loss[t] += l;
                if (s->pos_count) s->pos_count[t]++;
                if (s->pos_correct) s->pos_correct[t] += (size_t)right;
            }
            if (masked && open) s->examples++, s->examples_correct += (size_t)all_right;
        }
        s->windows += nb;
    }
    if (s->targets == 0) {
        gf_fail(err, "the evaluation windows hold no target to count");
        goto out;
    }
    s->loss = sum / (double)s->targets;
    rc = 0;
out:
    free(in);
    free(logits);
    return rc;
}

int gf_eval_data(const gf_model *m, const gf_token_data *d, int B, int T, size_t max_windows,
                 double *mean_loss, double *pos_loss, size_t *n_windows, gf_error *err) {
    gf_eval_stats s = {.pos_loss = pos_loss};
    size_t *count = NULL;
    if (pos_loss && T > 0 && !(count = gf_calloc((size_t)T, sizeof *count, "evaluation counts", err))) return -1;
    s.pos_count = count;
    int rc = gf_eval_data_stats(m, d, B, T, max_windows, &s, err);
    if (rc == 0) {
        *mean_loss = s.loss;
        if (pos_loss)
            for (int t = 0; t < T; t++) pos_loss[t] = count[t] ? pos_loss[t] / (double)count[t] : NAN;
        if (n_windows) *n_windows = s.windows;
    }
    free(count);
    return rc;
}
