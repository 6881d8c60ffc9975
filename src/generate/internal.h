/* The generator's insides, shared by generator.c (creation, the batch API
 * of gf_generator_feed / gf_generator_step, snapshots) and slots.c (the
 * slots that join and leave a running batch: gf_generator_join / _round).
 * slots.c calls into generator.c, never the other way round. */
#ifndef GF_GENERATE_INTERNAL_H
#define GF_GENERATE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "griffin.h"
#include "threads.h"

/* One set of generation parameters, its arrays copied: the generator's, or
 * a slot's own (gf_generator_join with params). */
typedef struct {
    gf_gen_params p;      /* stop_ids and stop_strings point at the copies below */
    int32_t *stop_ids;
    char **stop_str;
    size_t *stop_len, max_stop;
    int penalize;         /* repeat_penalty != 1 and repeat_last_n > 0 */
} gf_gen_pset;

/* What a slot is doing (slot mode only; a batch-mode sequence is FREE). */
enum { GF_SLOT_FREE = 0, GF_SLOT_JOINING = 1, GF_SLOT_DECODING = 2, GF_SLOT_FINISHED = 3 };

/* Event flags of a slot in the current round. */
enum { GF_EV_TOKEN = 1, GF_EV_PROMPT = 2, GF_EV_FINISHED = 4 };

/* One sequence (batch mode) or slot (slot mode): keyed by its index, never
 * by the row of the state it occupies (g->row_of). */
typedef struct {
    const gf_gen_pset *ps; /* its parameters: &g->ps, or own */
    gf_gen_pset *own;     /* a slot's own copy (join with params), or NULL */
    gf_sampler smp;
    gf_sampler batch_smp; /* the batch-mode sampler while slots use smp */
    int32_t *ring;        /* [ring_cap]: the last ids of the context, oldest at ring_pos once full */
    int ring_cap, ring_n, ring_pos;
    int32_t pend;         /* sampled, emitted, not yet fed (-1: none) */
    int32_t last;         /* what the decode steps feed it while it is not running */
    int valid;            /* the state holds exactly its context (but pend) */
    int reason;           /* gf_gen_stop */
    int64_t generated;    /* emitted since the last feed / join */
    int32_t tail[3];      /* the last byte pieces pushed to the detokenizer, oldest first */
    int n_tail;
    gf_detok_stream *ds;
    char *hold, *out;     /* [text_cap] each */
    size_t text_cap, n_hold, n_out;
    /* slot mode */
    int slot;             /* GF_SLOT_* */
    int32_t *prompt;      /* [prompt_cap]: ids still to prefill from prompt_at */
    size_t prompt_cap, n_prompt, prompt_at;
    uint64_t finished_at; /* the round it finished (the oldest finished slot is reused first) */
    int ev;               /* GF_EV_* this round */
    int32_t ev_token;
} gf_gen_seq;

struct gf_generator {
    const gf_model *m;
    const gf_tokenizer *tk;
    int B, V, V_sample;
    gf_gen_pset ps;       /* the generator's parameters */
    size_t push_bytes;    /* the most text one detokenizer push gives */
    gf_state *st, *one;   /* one: batch 1, for a shared prefill, single-row steps, row swaps (B > 1) */
    float *logits;        /* [B, V], by row */
    float *work, *probs;  /* [V]: penalised logits (and a row being swapped), sampler scratch */
    int *idx;             /* [V] */
    int32_t *sorted;      /* [sorted_cap]: the penalty's scratch */
    size_t sorted_cap;
    int32_t *toks;        /* [B] */
    gf_gen_seq *seq;      /* [B] */
    gf_gen_counts counts;
    /* rows: the identity in batch mode; in slot mode the decoding slots hold
     * rows 0 .. n_dec-1, joining and finished ones rows after them, free
     * slots none (row_of -1, slot_of -1 for a free row) */
    int *row_of, *slot_of; /* [B] each */
    int slots;            /* slot mode: joined since gf_generator_new / _reset */
    int n_dec;
    int *queue, n_queue;  /* [B]: the joining slots, oldest first */
    int chunk;
    uint64_t rounds;
    gf_threads threads;   /* the team-size governor both states point at (threads.h) */
};

struct gf_gen_snapshot {
    const gf_model *m;
    int V;
    gf_state *st;         /* batch 1 */
    float *logits;        /* [V] */
    gf_gen_seq s;         /* ring (oldest first, ring_n ids), hold: owned by the snapshot; the rest unused */
};

/* Checks params as gf_generator_new does (without the batch); `what`
 * starts the messages ("generator", "generator: join"). */
int gf_gen_check_params(const gf_model *m, const gf_tokenizer *tk, const gf_gen_params *p, const char *what,
                        gf_error *err);
/* Copies p into ps (arrays included); 0, or -1 out of memory (ps then
 * freed). */
int gf_gen_pset_init(gf_gen_pset *ps, const gf_gen_params *p, gf_error *err);
void gf_gen_pset_free(gf_gen_pset *ps);
/* Bytes of hold and out a sequence with parameters ps needs. */
size_t gf_gen_text_cap(const gf_generator *g, const gf_gen_pset *ps);
/* Grows q's ring, text buffers and g's penalty scratch for parameters ps
 * (nothing shrinks); 0, or -1 out of memory. */
int gf_gen_fit(gf_generator *g, gf_gen_seq *q, const gf_gen_pset *ps, gf_error *err);

void gf_gen_ring_add(gf_gen_seq *q, int32_t id);
/* A new text: whatever the detokenizer held is dropped. */
void gf_gen_text_restart(gf_generator *g, gf_gen_seq *q);
/* q stops now for reason: its held-back text becomes its last text. */
void gf_gen_stop_seq(gf_generator *g, gf_gen_seq *q, int reason);
/* The sampling part of a step for a running sequence whose logits are in
 * row `row` of g->logits (and whose state is row `row` of g->st): the stop
 * checks, a draw, its text. *tok: the id it emitted, or -1. -1 with err
 * when the logits hold a NaN or an infinity ("decode step N: non-finite
 * logits ...", nothing drawn) or the detokenizer fails; q is then stopped
 * with GF_GEN_ERROR. */
int gf_gen_next(gf_generator *g, gf_gen_seq *q, int row, int32_t *tok, gf_error *err);

#endif
