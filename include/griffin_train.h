/* griffin_train — training Hawk, Griffin and MQA Transformer models: the
 * trainable (F32 parameters and gradients), AdamW, token data and
 * evaluation, crash-safe checkpoints, and the paper's synthetic tasks.
 * Built on griffin.h (models, state, tokenizer); the same conventions. */
#ifndef GRIFFIN_TRAIN_H
#define GRIFFIN_TRAIN_H

#include "griffin.h"

/* Exported from libgriffin.so (built with -fvisibility=hidden): what this header declares. */
#ifdef __GNUC__
#pragma GCC visibility push(default)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Writes a randomly initialised model (config.json + model.safetensors, F32)
 * into out_dir, creating it if needed. Initialisation as the paper's code:
 * LeCun-normal linears, zero norm scales and biases, RG-LRU a on [0.9, 0.999]. */
int gf_model_init_write(const gf_config *cfg, uint64_t seed, const char *out_dir,
                        gf_error *err);

/* ---- training --------------------------------------------------------------
 * A gf_trainable holds a model's parameters in F32 (one arena) with a
 * gradient arena of the same layout. gf_trainable_model gives a gf_model
 * over those parameters for prefill, decode and evaluation. */

typedef struct gf_trainable gf_trainable;

/* One parameter tensor: its Hugging Face name and shape, and where it sits in
 * gf_trainable_params / gf_trainable_grads (numel floats from offset; the
 * conv weight, [L, 1, W] in files, is held as [W, L]). decay: whether AdamW's
 * weight decay applies (not to norms, biases and recurrent_param). */
typedef struct {
    const char *name;
    int ndim;
    size_t shape[3];
    size_t numel, offset;
    int decay;
} gf_tensor_info;

/* Copies a loaded model's weights (any dtype) into a new trainable. */
gf_trainable *gf_trainable_from_model(const gf_model *m, gf_error *err);
/* A new model of this config, initialised as the official code does (spec
 * §12; what gf_model_init_write saves). */
gf_trainable *gf_trainable_new(const gf_config *cfg, uint64_t seed, gf_error *err);
/* Re-draws every parameter from seed with that initialisation. */
void gf_trainable_init_weights(gf_trainable *t, uint64_t seed);
void gf_trainable_free(gf_trainable *t);
const gf_model *gf_trainable_model(const gf_trainable *t);
size_t gf_trainable_num_params(const gf_trainable *t);
float *gf_trainable_params(gf_trainable *t);
float *gf_trainable_grads(gf_trainable *t);
int gf_trainable_num_tensors(const gf_trainable *t);
const gf_tensor_info *gf_trainable_tensor(const gf_trainable *t, int i);
void gf_trainable_zero_grads(gf_trainable *t);

/* One forward and backward over B rows of T tokens: inputs [B, T], targets
 * [B, T] (a target < 0 is ignored), segment_pos [B, T] (NULL: 0..T-1 each
 * row). *loss = mean cross-entropy over the targets that count; the
 * gradients of grad_scale * loss are ADDED to the gradient arena (so
 * micro-batches accumulate). Fails, changing nothing, on an input or target
 * id outside the vocabulary or no target to count. */
int gf_train_loss_grad(gf_trainable *t, int B, int T, const int32_t *inputs,
                       const int32_t *targets, const int32_t *segment_pos, float grad_scale,
                       double *loss, gf_error *err);

/* Data-parallel training: one part of a batch (its B rows) whose whole has
 * targets_all targets that count (over every part; 0: this part is the
 * whole batch, as gf_train_loss_grad). The gradients of
 * grad_scale * (the whole batch's mean loss) that this part contributes are
 * ADDED, so the parts' gradients sum to the whole batch's; *loss is this
 * part's SUMMED loss (the whole batch's mean is the parts' sums over
 * targets_all), or with targets_all 0 the mean. ready (may be NULL) is
 * called as the backward finishes each range of the gradient arena
 * (offset, count in floats): each layer's from the last down, then the
 * model's own tensors (the embedding, the final norm); a range's gradients
 * do not change again in this call, so they may be sent while the rest of
 * the backward runs. */
typedef void (*gf_grads_ready_fn)(void *ctx, size_t offset, size_t count);
int gf_train_loss_grad_part(gf_trainable *t, int B, int T, const int32_t *inputs, const int32_t *targets,
                            const int32_t *segment_pos, float grad_scale, size_t targets_all, double *loss,
                            gf_grads_ready_fn ready, void *ready_ctx, gf_error *err);

/* Writes DIR/config.json and DIR/model.safetensors (F32, Hugging Face names
 * and layouts), each through a temporary file, fsync and rename. */
int gf_trainable_save(const gf_trainable *t, const char *dir, gf_error *err);
/* Writes the gradients under the parameters' names, plus `loss` (F32 [1]). */
int gf_trainable_save_grads(const gf_trainable *t, float loss, const char *path, gf_error *err);

/* ---- optimiser -------------------------------------------------------------- */

typedef struct {
    float lr;           /* peak learning rate */
    float min_lr_ratio; /* the cosine ends at lr * min_lr_ratio */
    int64_t warmup;     /* steps of linear warm-up */
    int64_t total_steps;
    float beta1, beta2, eps;
    float weight_decay; /* decoupled; only tensors with gf_tensor_info.decay */
    float clip;         /* global gradient-norm bound; 0 = none */
} gf_adamw_config;

typedef struct gf_adamw gf_adamw;
gf_adamw *gf_adamw_new(const gf_trainable *t, gf_error *err);
/* Data-parallel training with sharded optimiser state (ZeRO-1): an optimiser
 * whose moments cover only the parameters [lo, hi); gf_adamw_apply then
 * updates only those (each element exactly as the whole update would). */
gf_adamw *gf_adamw_new_range(const gf_trainable *t, size_t lo, size_t hi, gf_error *err);
/* Shard `shard` of `shards` of n parameters: [*lo, *hi), contiguous, the
 * shards in order and together all n (each a whole number of 16 floats but
 * the last; the last ones may be empty when n is small). */
void gf_shard_range(size_t n, int shard, int shards, size_t *lo, size_t *hi);
void gf_adamw_free(gf_adamw *o);
/* The learning rate of update number `step` (from 0): linear warm-up to lr,
 * then a cosine down to lr * min_lr_ratio at total_steps. */
float gf_lr_at(const gf_adamw_config *c, int64_t step);
/* The L2 norm of the whole gradient arena. */
double gf_grad_norm(const gf_trainable *t);
/* The sum of squares of the gradients [lo, hi), in a fixed order (the same
 * bits whatever the threads); gf_grad_norm is the root of the whole range's. */
double gf_grad_sumsq(const gf_trainable *t, size_t lo, size_t hi);
/* One update with the gradients in t (clipped to c->clip by global norm);
 * returns the norm before clipping. A gradient holding a NaN or an infinity
 * (a non-finite norm) changes nothing, the weights, the moments and the
 * step count as they were: the norm returned says so, and the caller stops
 * (griffin train does, docs/training.md). */
double gf_adamw_update(gf_adamw *o, gf_trainable *t, const gf_adamw_config *c, float lr);
/* The update of the optimiser's range with the gradient norm given (that of
 * the whole gradient, which a sharded optimiser cannot see alone): what
 * gf_adamw_update does after computing the norm. A non-finite norm changes
 * nothing. */
void gf_adamw_apply(gf_adamw *o, gf_trainable *t, const gf_adamw_config *c, float lr, double norm);
int64_t gf_adamw_step_count(const gf_adamw *o);
void gf_adamw_set_step_count(gf_adamw *o, int64_t step);
/* The moments: m then v, gf_adamw_num_params floats each (for checkpoints). */
float *gf_adamw_moments(gf_adamw *o);
size_t gf_adamw_num_params(const gf_adamw *o);
size_t gf_adamw_offset(const gf_adamw *o); /* the first parameter the moments cover */

/* ---- training data ------------------------------------------------------------
 * A token file is a 1-D .npy of uint16 or int32 ids (griffin prepare writes
 * them, a BOS at every document start), memory-mapped. */

typedef struct gf_token_data gf_token_data;
/* Opens and checks every id against [0, vocab); bos marks document starts. */
gf_token_data *gf_token_data_open(const char *path, int vocab, int bos, gf_error *err);
void gf_token_data_free(gf_token_data *d);
size_t gf_token_data_len(const gf_token_data *d);
int32_t gf_token_data_at(const gf_token_data *d, size_t i); /* -1 past the end */
/* Documents (BOS tokens) in the file, and the tokens of the longest one (BOS
 * to the next BOS; tokens before the first BOS count as one). */
size_t gf_token_data_num_docs(const gf_token_data *d);
size_t gf_token_data_longest_doc(const gf_token_data *d);
/* The window of T + 1 tokens from `start` (start + T < length): inputs[T],
 * targets[T] (the next tokens), segment_pos[T] (each token's position in its
 * document: 0 at a BOS, so packed documents never see each other). Ignores
 * any mask. */
void gf_token_data_window(const gf_token_data *d, size_t start, size_t T, int32_t *inputs,
                          int32_t *targets, int32_t *segment_pos);

/* Loss masks. A mask is a 1-D uint8 .npy with one value per token: 1 where
 * the token is an answer whose prediction counts, else 0 (gf_task_write
 * writes one beside every task's tokens). Every document is then an example
 * that starts with BOS. Attaching one (the file must start with BOS, hold
 * only 0 / 1, 0 on every BOS, and mark at least one answer) changes what
 * gf_token_data_sample and gf_eval_data give: rows are packed from whole
 * examples (gf_token_data_pack), never windows that cut one, and only the
 * answers' targets count (the others are -1). */
int gf_token_data_set_mask(gf_token_data *d, const char *mask_path, gf_error *err);
int gf_token_data_masked(const gf_token_data *d);
size_t gf_token_data_num_answers(const gf_token_data *d); /* mask values that are 1 */
/* One row of T positions from document `doc`: that document and the ones
 * after it while they fit whole (a document of n tokens takes n - 1
 * positions: the inputs, its last token being only a target), then padding
 * (input BOS at position 0, target -1). With a mask the targets of tokens
 * whose mask is 0 are -1. Returns the documents taken (0 when the first
 * does not fit). */
size_t gf_token_data_pack(const gf_token_data *d, size_t doc, size_t T, int32_t *inputs, int32_t *targets,
                          int32_t *segment_pos);

/* What an evaluation found. The per-position arrays are the caller's ([T]
 * each, NULL = not wanted), filled by the evaluation. */
typedef struct {
    double loss;             /* mean next-token loss (nats) over the targets counted */
    size_t windows;          /* rows of T positions evaluated */
    size_t targets;          /* the targets counted: every one, or with a mask the answers */
    size_t correct;          /* of them, those that are their logits' argmax (first of ties) */
    size_t examples;         /* with a mask: the examples with an answer token in the rows */
    size_t examples_correct; /* of them, those whose every answer token is right */
    double *pos_loss;        /* the summed loss at each position of the window */
    size_t *pos_count;       /* the targets counted there */
    size_t *pos_correct;     /* and of them, the right ones */
} gf_eval_stats;
/* Evaluates m on consecutive rows of d, B rows per prefill, at most
 * max_windows rows (0 = all): without a mask window k is tokens kT .. kT + T;
 * with one, rows are packed from the examples in order, every example once. */
int gf_eval_data_stats(const gf_model *m, const gf_token_data *d, int B, int T, size_t max_windows,
                       gf_eval_stats *s, gf_error *err);
/* The mean loss alone (gf_eval_data_stats' loss); pos_loss, when non-NULL,
 * receives [T] the mean loss at each position (NaN where nothing counted);
 * *n_windows the windows used. */
int gf_eval_data(const gf_model *m, const gf_token_data *d, int B, int T, size_t max_windows,
                 double *mean_loss, double *pos_loss, size_t *n_windows, gf_error *err);
/* B rows drawn from rng, [B, T]: without a mask windows at uniformly random
 * starts; with one, each row packed from a uniformly drawn example that has
 * an answer (fails when an example does not fit T + 1 tokens). */
int gf_token_data_sample(const gf_token_data *d, uint64_t rng[4], size_t B, size_t T,
                         int32_t *inputs, int32_t *targets, int32_t *segment_pos, gf_error *err);
/* Data-parallel training: rows [row0, row0 + B) of the batch of B_all rows
 * gf_token_data_sample would draw (rng advances as it would for all B_all),
 * and *targets_all (may be NULL) the targets that count in all B_all rows. */
int gf_token_data_sample_part(const gf_token_data *d, uint64_t rng[4], size_t B_all, size_t row0, size_t B,
                              size_t T, int32_t *inputs, int32_t *targets, int32_t *segment_pos,
                              size_t *targets_all, gf_error *err);

/* ---- checkpoints ----------------------------------------------------------------
 * OUT/step-NNNNNNNN/ holds config.json + model.safetensors (a model
 * directory), optimizer.safetensors (`adam_m`, `adam_v`: F32 [parameters])
 * and trainer_state.json; OUT/latest links to the newest. Written so that a
 * crash at any moment leaves OUT/latest naming a complete checkpoint. */

typedef struct {
    int64_t step;     /* optimiser updates done */
    int64_t tokens;   /* training tokens consumed */
    uint64_t rng[4];  /* the batch sampler's state after `step` updates */
    uint64_t seed;
    gf_adamw_config opt;
    int batch, seq, accum;
    /* the run's cadence (0 = never), kept by a resume unless given again */
    int64_t save_every, eval_every, eval_windows;
    int masked; /* trained on a loss mask (rows of whole examples): a resume must give one too */
} gf_train_state;

/* tokenizer (may be NULL): a tokenizer.model copied into the checkpoint, so
 * that it is a complete model directory for generate and chat. */
int gf_checkpoint_save(const char *out_dir, const gf_trainable *t, gf_adamw *o,
                       const gf_train_state *s, const char *tokenizer, gf_error *err);
/* dir: OUT (its latest checkpoint) or a step folder. */
int gf_checkpoint_load(const char *dir, gf_trainable **t, gf_adamw **o, gf_train_state *s,
                       gf_error *err);

/* A checkpoint written by several processes (data-parallel training), in
 * steps: gf_checkpoint_begin makes OUT/.partial-N (one process); into it
 * gf_checkpoint_write_model writes the model, trainer_state.json, the
 * tokenizer and, with shards > 1, optimizer_shards.json (the manifest: each
 * shard's file and the parameters it covers, gf_shard_range's split) (one
 * process), and gf_checkpoint_write_optimizer each shard's moments
 * (optimizer-KKKKK-of-NNNNN.safetensors; with shards 1 optimizer.safetensors)
 * (every process, its own); once all are written, gf_checkpoint_commit
 * renames the folder to OUT/step-N and points OUT/latest at it (one
 * process). gf_checkpoint_abandon removes a save cut short.
 * gf_checkpoint_save is all four in one process. */
int gf_checkpoint_begin(const char *out_dir, int64_t step, gf_error *err);
int gf_checkpoint_write_model(const char *out_dir, const gf_trainable *t, const gf_train_state *s,
                              const char *tokenizer, int shards, gf_error *err);
int gf_checkpoint_write_optimizer(const char *out_dir, int64_t step, gf_adamw *o, int shard, int shards,
                                  gf_error *err);
int gf_checkpoint_commit(const char *out_dir, int64_t step, gf_error *err);
void gf_checkpoint_abandon(const char *out_dir, int64_t step);
/* gf_checkpoint_load with the optimiser's moments of shard `shard` of
 * `shards` only (gf_adamw_new_range of gf_shard_range's split), from a
 * checkpoint saved by any number of processes (re-sharded as it loads). */
int gf_checkpoint_load_shard(const char *dir, int shard, int shards, gf_trainable **t, gf_adamw **o,
                             gf_train_state *s, gf_error *err);

/* ---- synthetic tasks ---------------------------------------------------------
 * The copy and retrieval tasks of the paper's section 6.2 and appendix H, and
 * a phonebook lookup, as a token file with a loss mask (the mask's 1s on the
 * answer tokens only). Every example is BOS, a prompt, then its answer:
 *   selective copy:  BOS, a context of blanks with data_tokens data tokens at
 *                    random places, the delimiter, then the data tokens in order;
 *   induction heads: BOS, random tokens among which the trigger appears once,
 *                    followed by some token Y; at the end the trigger again,
 *                    then Y;
 *   phonebook:       BOS, entries "NAME : NUMBER ;" with distinct names, then
 *                    "? NAME :" for one of them, then its NUMBER.
 * Ids: 0 pad, 1 eos, 2 bos (the config defaults, so a `griffin init` model
 * of the right vocab_size needs no ids set), then the task's marks, then its
 * symbols (gf_task_vocab). Examples come one after another from one
 * xoshiro256** stream seeded by the seed: the first k examples of a set of
 * N are the set of k. */

typedef enum { GF_TASK_SELECTIVE_COPY = 0, GF_TASK_INDUCTION_HEADS = 1, GF_TASK_PHONEBOOK = 2 } gf_task_kind;

typedef struct {
    gf_task_kind kind;
    size_t seq;      /* tokens per example, BOS included; phonebook: the most an example
                        may have (0 = what `entries` needs) */
    int symbols;     /* content tokens: the data (selective copy), the random tokens
                        (induction heads), the letters of names (phonebook) */
    int data_tokens; /* selective copy: tokens to copy */
    int entries;     /* phonebook: entries of the largest book (0 = as many as seq holds) */
    int min_entries; /* phonebook: each book has min_entries..entries, uniformly (0 = entries) */
    int name_len;    /* phonebook: letters per name */
    int number_len;  /* phonebook: digits per number */
} gf_task_config;

/* Where a task's tokens lie (-1: not in this task). */
typedef struct {
    int vocab_size;              /* the least vocab_size a model for the task needs */
    int bos;                     /* 2 */
    int marker;                  /* the answer's cue: the delimiter, the trigger, the query mark */
    int noise;                   /* selective copy: the blank */
    int sep, end;                /* phonebook: between a name and its number; after an entry */
    int first_digit;             /* phonebook: digits 0..9 are first_digit..first_digit + 9 */
    int first_symbol, n_symbols; /* the content tokens */
} gf_task_vocab;

/* "selective-copy", "induction-heads", "phonebook". */
const char *gf_task_name(gf_task_kind kind);
int gf_task_from_name(const char *name, gf_task_kind *kind, gf_error *err);
/* The kind's defaults: seq 256, 16 symbols, 16 data tokens; phonebook: 20
 * entries, names of 3 of 26 letters, numbers of 4 digits, seq 0 (from them). */
void gf_task_defaults(gf_task_kind kind, gf_task_config *c);
/* Checks c (what fits, what the uint16 token files hold) and fills what
 * defaults to 0 (phonebook seq, entries, min_entries). */
int gf_task_check(gf_task_config *c, gf_error *err);
void gf_task_vocab_of(const gf_task_config *c, gf_task_vocab *v);
/* Checks c and generates `examples` examples: *tokens and *mask (malloc'ed,
 * *n values each) one after another. */
int gf_task_generate(gf_task_config *c, size_t examples, uint64_t seed, int32_t **tokens, uint8_t **mask,
                     size_t *n, gf_error *err);

typedef struct {
    size_t tokens, answers;   /* in the files; answers: mask values that are 1 */
    size_t shortest, longest; /* example lengths, BOS included */
} gf_task_summary;
/* gf_task_generate, then PREFIX.tokens.npy (uint16 [n]), PREFIX.mask.npy
 * (uint8 [n]) and PREFIX.task.json (the task, its options, seed, counts and
 * ids), creating PREFIX's folder when missing. summary may be NULL. */
int gf_task_write(gf_task_config *c, size_t examples, uint64_t seed, const char *prefix,
                  gf_task_summary *summary, gf_error *err);

#ifdef __cplusplus
}
#endif

#ifdef __GNUC__
#pragma GCC visibility pop
#endif

#endif
