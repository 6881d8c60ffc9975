/* Selective copying (the paper's appendix H, after Gu and Dao's Mamba):
 * data tokens at random places among blanks, a delimiter, then the data
 * tokens in order. The gaps differ from example to example, so a model has
 * to pick the tokens out by their content; a fixed delay will not do. */
#include "util.h"
#include "tasks.h"

enum { NOISE = TASK_FIRST_MARK, DELIMITER, FIRST_SYMBOL };

static void defaults(gf_task_config *c) { c->data_tokens = 16; }

static int check(gf_task_config *c, gf_error *err) {
    if (c->data_tokens < 1 || c->data_tokens > (1 << 20))
        return gf_fail(err, "selective-copy: data_tokens %d must be in 1..%d", c->data_tokens, 1 << 20);
    size_t K = (size_t)c->data_tokens;
    /* the context must hold the K data tokens, blanks or not */
    if (c->seq < 2 * K + 2)
        return gf_fail(err, "selective-copy: an example of %zu tokens cannot hold BOS, %zu data tokens in the context, "
                       "the delimiter and %zu answers (seq >= %zu)", c->seq, K, K, 2 * K + 2);
    return 0;
}

static void vocab(const gf_task_config *c, gf_task_vocab *v) {
    *v = gf_task_vocab_base();
    v->noise = NOISE;
    v->marker = DELIMITER;
    v->first_symbol = FIRST_SYMBOL;
    v->n_symbols = c->symbols;
    v->vocab_size = FIRST_SYMBOL + c->symbols;
}

/* BOS at 0, the context at 1..C, the delimiter at C + 1, the answers at
 * L - K .. L - 1. */
static size_t example(const gf_task_config *c, const gf_task_vocab *v, uint64_t rng[4], uint32_t *work,
                      int32_t *tok, uint8_t *mask) {
    (void)work;
    size_t L = c->seq, K = (size_t)c->data_tokens, C = L - K - 2, placed = 0;
    for (size_t i = 0; i < L; i++) mask[i] = i >= L - K;
    tok[0] = v->bos;
    for (size_t j = 0; j < C; j++) {
        /* selection sampling: a place takes data with probability (data
         * still to place) / (places left), which makes every set of K
         * places equally likely */
        if (task_below(rng, C - j) < K - placed) {
            int32_t x = v->first_symbol + (int32_t)task_below(rng, (uint64_t)v->n_symbols);
            tok[1 + j] = x;
            tok[L - K + placed++] = x;
        } else {
            tok[1 + j] = v->noise;
        }
    }
    tok[C + 1] = v->marker;
    return L;
}

const task_ops gf_task_selective_copy = {GF_TASK_SELECTIVE_COPY, "selective-copy", "delimiter", defaults, check, vocab,
                                      NULL, example};
