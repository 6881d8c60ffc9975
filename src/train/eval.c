/* Held-out loss: the model's next-token cross-entropy over consecutive
 * windows of a token file, through the inference prefill (any weight
 * dtype), with document starts as segment resets as in training. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"
#include "trainable.h"

/* -log softmax(row)[y], in double for the sum over a large vocabulary. */
static double token_loss(const float *row, size_t V, int32_t y) {
    float mx = row[0];
    for (size_t v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
    double z = 0.0;
    for (size_t v = 0; v < V; v++) z += exp((double)(row[v] - mx));
    return log(z) + mx - row[y];
}

int gf_eval_data(const gf_model *m, const gf_token_data *d, int B_, int T_, size_t max_windows,
                 double *mean_loss, double *pos_loss, size_t *n_windows, gf_error *err) {
    if (B_ <= 0 || T_ <= 0) return gf_fail(err, "evaluation needs B, T >= 1 (got %d, %d)", B_, T_);
    size_t B = (size_t)B_, T = (size_t)T_, V = (size_t)gf_model_config(m)->vocab_size;
    size_t n = gf_token_data_len(d);
    if (n < T + 1)
        return gf_fail(err, "the evaluation data holds %zu tokens, fewer than one window of T + 1 = %zu", n, T + 1);
    size_t windows = (n - 1) / T; /* window k: tokens kT .. kT + T */
    if (max_windows > 0 && windows > max_windows) windows = max_windows;
    int32_t *in = gf_calloc(B * T * 3, sizeof *in, "evaluation batch", err);
    float *logits = gf_calloc(gf_mul_sat(B * T, V), sizeof *logits, "evaluation logits", err);
    int rc = -1;
    if (!in || !logits) goto out;
    int32_t *tg = in + B * T, *pos = tg + B * T;
    if (pos_loss) memset(pos_loss, 0, T * sizeof *pos_loss);
    double sum = 0.0;
    for (size_t w0 = 0; w0 < windows; w0 += B) {
        size_t nb = windows - w0 < B ? windows - w0 : B;
        for (size_t b = 0; b < nb; b++)
            gf_token_data_window(d, (w0 + b) * T, T, in + b * T, tg + b * T, pos + b * T);
        if (gf_prefill(m, (int)nb, (int)T, in, pos, logits, NULL, NULL, err)) goto out;
        for (size_t r = 0; r < nb * T; r++) {
            double l = token_loss(logits + r * V, V, tg[r]);
            sum += l;
            if (pos_loss) pos_loss[r % T] += l;
        }
    }
    *mean_loss = sum / (double)(windows * T);
    if (pos_loss)
        for (size_t t = 0; t < T; t++) pos_loss[t] /= (double)windows;
    if (n_windows) *n_windows = windows;
    rc = 0;
out:
    free(in);
    free(logits);
    return rc;
}
