/* Induction heads (the paper's appendix H, after Olsson et al. and Mamba):
 * random tokens among which a trigger appears once, followed by some token
 * Y; at the end the trigger comes again and the answer is Y. A model has to
 * find the earlier trigger wherever it was and recall what came next. */
#include "util.h"
#include "tasks.h"

enum { TRIGGER = TASK_FIRST_MARK, FIRST_SYMBOL };

static void defaults(gf_task_config *c) { (void)c; }

static int check(gf_task_config *c, gf_error *err) {
    if (c->seq < 5)
        return gf_fail(err, "induction-heads: an example of %zu tokens cannot hold BOS, the trigger and its token, "
                       "and the trigger and the answer at the end (seq >= 5)", c->seq);
    return 0;
}

static void vocab(const gf_task_config *c, gf_task_vocab *v) {
    *v = gf_task_vocab_base();
    v->marker = TRIGGER;
    v->first_symbol = FIRST_SYMBOL;
    v->n_symbols = c->symbols;
    v->vocab_size = FIRST_SYMBOL + c->symbols;
}

/* BOS at 0, the context at 1..L - 3 with the trigger at p (and Y at p + 1),
 * the trigger at L - 2, Y at L - 1. */
static size_t example(const gf_task_config *c, const gf_task_vocab *v, uint64_t rng[4], uint32_t *work,
                      int32_t *tok, uint8_t *mask) {
    (void)work;
    size_t L = c->seq, C = L - 3;
    for (size_t i = 0; i < L; i++) mask[i] = i == L - 1;
    tok[0] = v->bos;
    for (size_t j = 1; j <= C; j++) tok[j] = v->first_symbol + (int32_t)task_below(rng, (uint64_t)v->n_symbols);
    size_t p = 1 + (size_t)task_below(rng, C - 1); /* 1..C-1: Y at p + 1 is still context */
    tok[p] = v->marker;
    tok[L - 2] = v->marker;
    tok[L - 1] = tok[p + 1];
    return L;
}

const task_ops gf_task_induction_heads = {GF_TASK_INDUCTION_HEADS, "induction-heads", "trigger", defaults, check, vocab,
                                       NULL, example};
