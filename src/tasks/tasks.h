/* The synthetic tasks' shared pieces: one table of operations per task, the
 * common vocabulary layout, and an exactly uniform bounded draw. */
#ifndef GF_TASKS_H
#define GF_TASKS_H

#include <stddef.h>
#include <stdint.h>
#include "griffin_train.h"

#include "griffin.h"

/* 0 pad, 1 eos, 2 bos: the defaults of gf_config_load, so a config that sets
 * only vocab_size fits every task. Each task's marks follow from 3. */
enum { TASK_PAD = 0, TASK_EOS = 1, TASK_BOS = 2, TASK_FIRST_MARK = 3 };

/* Uint16 token files hold every id. */
#define TASK_MAX_VOCAB 65536

typedef struct {
    gf_task_kind kind;
    const char *name;
    const char *marker_name; /* what the answer's cue is called in PREFIX.task.json */
    void (*defaults)(gf_task_config *c);
    /* seq and symbols are checked before; fills what defaults to 0 */
    int (*check)(gf_task_config *c, gf_error *err);
    void (*vocab)(const gf_task_config *c, gf_task_vocab *v);
    /* uint32 slots of work space one example needs (NULL: none) */
    size_t (*work_slots)(const gf_task_config *c);
    /* One example into tok / mask (room for c->seq); returns its length. */
    size_t (*example)(const gf_task_config *c, const gf_task_vocab *v, uint64_t rng[4], uint32_t *work,
                      int32_t *tok, uint8_t *mask);
} task_ops;

extern const task_ops gf_task_selective_copy, gf_task_induction_heads, gf_task_phonebook;

/* A vocabulary with only BOS: what each task's vocab() starts from. */
static inline gf_task_vocab gf_task_vocab_base(void) {
    return (gf_task_vocab){.vocab_size = TASK_BOS + 1, .bos = TASK_BOS, .marker = -1, .noise = -1, .sep = -1,
                           .end = -1, .first_digit = -1, .first_symbol = -1, .n_symbols = 0};
}

/* A uniform draw from [0, n), n >= 1. Rejection rather than a bare modulo, so
 * every value is exactly equally likely whatever n. */
static inline uint64_t task_below(uint64_t rng[4], uint64_t n) {
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
    do x = gf_rng_next(rng);
    while (x >= lim);
    return x % n;
}

#endif
