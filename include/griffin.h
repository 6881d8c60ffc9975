/* griffin — Hawk, Griffin and MQA Transformer language models in C.
 *
 * The library loads a RecurrentGemma-format model directory (Hugging Face
 * config.json + model.safetensors), runs prefill over a [B, T] batch with
 * matrix-matrix products, and decodes token by token from a fixed-size state.
 *
 * Conventions:
 *   - Every function that can fail returns 0 on success (or a non-NULL
 *     pointer) and fills a caller-owned gf_error with one line of text that
 *     names the file and the problem.
 *   - The library holds no mutable global state: several models and states
 *     can live in one process.
 *   - Shapes are given in comments as [dims], row-major.
 */
#ifndef GRIFFIN_H
#define GRIFFIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GF_MAX_LAYERS 512

typedef struct {
    char msg[1024];
} gf_error;

/* The kernel set: which of griffin's hand-written kernels run, named on a
 * ladder scalar < avx2 < avx2-vnni < avx512 < avx512-vnni < avx512-bf16 <
 * amx (src/kernels/cpu.h says what each allows). By default the best the
 * CPU has; the environment variable GRIFFIN_ISA=NAME caps it (for a
 * comparison, or to test a lower path on a higher CPU). The one piece of
 * process-wide state: it describes the CPU, and a model's layout (the
 * packed Q8 / Q4 copy) follows the set in use when the model is loaded.
 *
 * gf_kernels_init: takes GRIFFIN_ISA; -1 with err filled when it names an
 * unknown set or one this CPU lacks (programs call it first: without it a
 * bad name is ignored). gf_kernels_select: the same for a name given. */
int gf_kernels_init(gf_error *err);
int gf_kernels_select(const char *name, gf_error *err);
/* The set in use, and the best this CPU has. */
const char *gf_kernels_name(void);
const char *gf_kernels_best(void);
/* The sets this CPU can run, lowest first: up to max names into names;
 * returns how many there are. */
int gf_kernels_available(const char **names, int max);

typedef enum { GF_BLOCK_RECURRENT = 0, GF_BLOCK_ATTENTION = 1 } gf_block_type;

/* What the model is: the subset of the Hugging Face RecurrentGemma config
 * that changes the computation, with official names in comments. */
typedef struct {
    int vocab_size;        /* V */
    int width;             /* D, hidden_size */
    int mlp_width;         /* E, official mlp_expanded_width = HF intermediate_size / 2 */
    int num_layers;        /* num_hidden_layers */
    int num_heads;         /* H: attention heads and RG-LRU gate blocks */
    int head_dim;          /* hd = D / H */
    int lru_width;         /* L */
    int window;            /* w: a query sees keys i-w .. i (w+1 keys) */
    int conv_width;        /* W: temporal width of the causal Conv1D (4) */
    float logits_soft_cap; /* 0 = off */
    float rms_eps;         /* 1e-6 */
    float rope_theta;      /* 10000 */
    int embed_scale;       /* embeddings_scale_by_sqrt_dim: multiply by bf16(sqrt(D)) */
    float final_w_init_variance_scale; /* used by gf_init only; default 2 / num_layers */
    int bos_id, eos_id, pad_id;
    uint8_t block_types[GF_MAX_LAYERS]; /* gf_block_type per layer, already cycled */
} gf_config;

/* ---- configuration ------------------------------------------------------ */

/* Reads a Hugging Face RecurrentGemma config.json and validates it. */
int gf_config_load(const char *path, gf_config *cfg, gf_error *err);
/* Checks sizes and consistency; `what` names the source in messages. */
int gf_config_validate(const gf_config *cfg, const char *what, gf_error *err);
/* Writes cfg as a Hugging Face RecurrentGemma config.json. */
int gf_config_save(const gf_config *cfg, const char *path, gf_error *err);
/* Counts of derived quantities. */
size_t gf_config_num_params(const gf_config *cfg);
size_t gf_config_num_attention_layers(const gf_config *cfg);
/* bf16(sqrt(D)) when embed_scale is on, else 1: the official embedding scale. */
float gf_config_embed_multiplier(const gf_config *cfg);

/* ---- models ------------------------------------------------------------- */

typedef struct gf_model gf_model;

/* Loads DIR/config.json and DIR/model.safetensors (or the shards listed in
 * DIR/model.safetensors.index.json). The tensor data stay memory-mapped. */
gf_model *gf_model_load(const char *dir, gf_error *err);
void gf_model_free(gf_model *m);
const gf_config *gf_model_config(const gf_model *m);
/* Bytes of tensor data mapped from the weight files. */
size_t gf_model_weight_bytes(const gf_model *m);
/* The type of the large matrices ("F32", "BF16", "F16", "Q8", "Q4" or
 * "mixed"). */
const char *gf_model_weight_dtype(const gf_model *m);
/* Bytes of weights one decode step reads whatever the batch: every matrix of
 * every layer (codes and scales) and the embedding as the unembedding. */
size_t gf_model_decode_bytes(const gf_model *m);
/* Whether products narrow their inputs to the weights' width: Q8 / Q4 ones
 * round them to int8 per block of 32 and multiply in integers (AVX512-VNNI
 * or AVX2), BF16 ones round them to bfloat16 and use AVX512-BF16 dot
 * products. On by
 * default where the CPU has the instructions; faster, and no longer equal to
 * the float product of the weights (see README, Weight types). Off: the
 * inputs stay float. Applies to the prefills and the states made after the
 * call. For Q8 / Q4 weights on is also the copy of them in the integer
 * kernel's order (made at load; off frees it, on makes it again): call it
 * while no product of the model runs. */
void gf_model_set_narrow_inputs(gf_model *m, int on);
int gf_model_narrow_inputs(const gf_model *m);
/* The number of input rows (batch, or prefill positions) from which the
 * model's products take the AMX tile kernels (Q4 and BF16 weights with
 * narrowed inputs, in the amx kernel set; GRIFFIN_AMX=0 turns them off), or 0
 * where they never do. */
size_t gf_model_amx_from(const gf_model *m);

/* Copies the F32 / BF16 / F16 matrices of the products (the embedding, the
 * MLP, attention and recurrent-block projections) out of the file mapping
 * into one arena in huge pages where the kernel grants them, and releases
 * the mapped pages. Decode streams them faster (one TLB entry per 2 MiB: on
 * the machine of bench/results 5 % for F32 batch 1 and 15 % for BF16) at
 * the cost of the copy and of memory the system can no longer drop and read
 * back from the file. Q8 / Q4 matrices are left alone (where the CPU has an
 * integer kernel their packed copy already is such an arena), and so are
 * matrices that are not
 * read from a file (a trainable's model). A second call does nothing. It
 * fails, leaving the weights mapped and usable, when the copy would leave
 * less than 1 GiB of the memory the system has available, or when the
 * memory cannot be had. Call it while no product of the model runs. */
int gf_model_copy_weights(gf_model *m, gf_error *err);
/* Bytes gf_model_copy_weights copied (0 before it or for Q8 / Q4 models). */
size_t gf_model_copied_bytes(const gf_model *m);

/* Weight types `gf_model_quantize` writes. BF16: every float tensor in
 * bfloat16. Q8 / Q4: every 2-D ".weight" matrix (the embedding, the MLP,
 * attention and recurrent-block projections) in griffin's block formats — 32
 * weights to an F16 scale, 8-bit codes (8.5 bits a weight) or 4-bit codes
 * (4.5 bits) — under the matrix's own name (dtype I8 / U8) with the scales
 * beside it as NAME_scale (F16 [rows, ceil(cols / 32)]); the other tensors
 * (norms, biases, conv, RG-LRU gates) as they were. README: "Weight types". */
typedef enum { GF_QUANT_BF16 = 0, GF_QUANT_Q8 = 1, GF_QUANT_Q4 = 2 } gf_quant_type;

/* Reads the model directory in_dir (F32 / BF16 / F16 weights) and writes
 * out_dir/model.safetensors in `type`, with config.json and the tokenizer
 * files copied. progress, when given, is called after every tensor. Refuses
 * an already quantised model and out_dir == in_dir. */
int gf_model_quantize(const char *in_dir, const char *out_dir, gf_quant_type type,
                      void (*progress)(void *ctx, size_t done, size_t total), void *ctx,
                      gf_error *err);

/* Writes a randomly initialised model (config.json + model.safetensors, F32)
 * into out_dir, creating it if needed. Initialisation as the paper's code:
 * LeCun-normal linears, zero norm scales and biases, RG-LRU a on [0.9, 0.999]. */
int gf_model_init_write(const gf_config *cfg, uint64_t seed, const char *out_dir,
                        gf_error *err);

/* ---- decode state ------------------------------------------------------- */

/* Per-sequence fixed-size state: RG-LRU h [L] and conv tail [W-1, L] per
 * recurrent layer, a ring of w keys (after RoPE) and values [w, hd] per
 * attention layer, and the number of tokens seen. Also holds the scratch the
 * decode step needs, so decoding allocates nothing. */
typedef struct gf_state gf_state;

gf_state *gf_state_new(const gf_model *m, int batch, gf_error *err);
void gf_state_free(gf_state *s);
void gf_state_reset(gf_state *s);
int gf_state_batch(const gf_state *s);
/* Bytes of recurrent / attention state for one sequence (no scratch). */
size_t gf_state_bytes_per_seq(const gf_config *cfg);
/* Tokens seen by sequence b (the official num_tokens). */
int64_t gf_state_num_tokens(const gf_state *s, int b);

/* Copies sequence src_b of src into sequence dst_b of dst (same model), e.g.
 * to prefill a prompt once and continue it in several sequences. */
int gf_state_copy(gf_state *dst, int dst_b, const gf_state *src, int src_b, gf_error *err);

/* Views of one layer's state for sequence-major inspection (tests, tools).
 * Recurrent layer: h [L], conv [W-1, L] (oldest first). Attention layer:
 * keys, values [w, hd] (slot = position % w). Pointers stay valid until the
 * state is freed; NULL for the parts the layer does not have. */
typedef struct {
    float *rg_lru;    /* [L] */
    float *conv;      /* [W-1, L] */
    float *keys;      /* [w, hd] */
    float *values;    /* [w, hd] */
} gf_layer_state;
int gf_state_layer(gf_state *s, int layer, int b, gf_layer_state *out);

/* ---- running ------------------------------------------------------------ */

/* Runs T tokens of B sequences through the model in one pass, starting from an
 * empty state. tokens, segment_pos: [B, T] (segment_pos == 0 starts a
 * document; NULL means 0..T-1). Outputs are optional (NULL = not wanted):
 *   logits [B, T, V];
 *   trace  [num_layers + 2, B, T, D]: the scaled embedding, the residual
 *          stream after each layer, and the final-normed stream;
 *   state  (batch B): left exactly as token-by-token decoding would leave it. */
int gf_prefill(const gf_model *m, int B, int T, const int32_t *tokens,
               const int32_t *segment_pos, float *logits, float *trace,
               gf_state *state, gf_error *err);

/* One token for each of the state's B sequences. tokens, segment_pos: [B]
 * (NULL: each sequence's token count, i.e. positions continue from the
 * state); logits [B, V] (may be NULL). Allocates nothing. */
int gf_decode_step(const gf_model *m, gf_state *s, const int32_t *tokens,
                   const int32_t *segment_pos, float *logits, gf_error *err);

/* ---- sampling ----------------------------------------------------------- */

typedef struct {
    float temperature; /* <= 0: greedy */
    int top_k;         /* <= 0: off */
    float top_p;       /* >= 1 or <= 0: off */
    uint64_t rng[4];   /* xoshiro256** state, seeded by gf_sampler_init */
} gf_sampler;

void gf_sampler_init(gf_sampler *s, float temperature, int top_k, float top_p,
                     uint64_t seed);
/* Draws a token id from logits [V]. scratch: V floats + V ints (work space
 * the caller owns, so sampling allocates nothing). */
int gf_sample(gf_sampler *s, const float *logits, int V, float *scratch_f,
              int *scratch_i);
/* Next 64 random bits / a uniform float in [0, 1) / a standard normal. */
uint64_t gf_rng_next(uint64_t rng[4]);
double gf_rng_uniform(uint64_t rng[4]);
double gf_rng_normal(uint64_t rng[4]);
void gf_rng_seed(uint64_t rng[4], uint64_t seed);

/* Creates dir and any missing parents (like mkdir -p). */
int gf_mkdir_p(const char *dir, gf_error *err);

/* ---- .npy arrays -------------------------------------------------------- */

typedef enum { GF_NPY_I32 = 0, GF_NPY_F32 = 1, GF_NPY_U16 = 2, GF_NPY_U8 = 3 } gf_npy_dtype;

typedef struct {
    gf_npy_dtype dtype;
    int ndim;
    size_t shape[8];
    size_t count; /* product of shape */
    void *data;   /* malloc'ed, count elements */
} gf_npy;

/* Reads a little-endian, C-order NumPy v1/v2/v3 file of i4, f4, u2 or u1. */
int gf_npy_read(const char *path, gf_npy *out, gf_error *err);
void gf_npy_free(gf_npy *a);
int gf_npy_write(const char *path, gf_npy_dtype dtype, const size_t *shape, int ndim,
                 const void *data, gf_error *err);
/* The same file memory-mapped read-only (info.data points into the mapping;
 * for token files larger than memory). */
typedef struct {
    gf_npy info;
    void *map_data;
    size_t map_size;
} gf_npy_mapped;
int gf_npy_map(const char *path, gf_npy_mapped *out, gf_error *err);
void gf_npy_unmap(gf_npy_mapped *a);

/* ---- tokenizer (SentencePiece) -------------------------------------------
 * A SentencePiece tokenizer.model (BPE or unigram, with byte fallback,
 * user-defined symbols and the nmt_nfkc / identity normalisers) that encodes
 * and decodes exactly as SentencePiece does. The tokenizer is read-only once
 * loaded: threads may share it, each with its own gf_tok_buf. */

typedef struct gf_tokenizer gf_tokenizer;
typedef struct gf_tok_buf gf_tok_buf;

/* path: a tokenizer.model file, or a directory holding one. */
gf_tokenizer *gf_tokenizer_load(const char *path, gf_error *err);
/* Parses a serialized ModelProto; name labels error messages. */
gf_tokenizer *gf_tokenizer_from_memory(const void *data, size_t n, const char *name,
                                       gf_error *err);
void gf_tokenizer_free(gf_tokenizer *t);
int gf_tokenizer_vocab_size(const gf_tokenizer *t);
/* The piece string of id (as stored, with U+2581 for spaces); NULL when id
 * is outside the vocabulary. */
const char *gf_tokenizer_piece(const gf_tokenizer *t, int id);
/* The id whose piece is exactly `piece`, or -1. */
int gf_tokenizer_find(const gf_tokenizer *t, const char *piece);
/* The trainer's special ids (-1 when the model has none). */
int gf_tokenizer_bos_id(const gf_tokenizer *t);
int gf_tokenizer_eos_id(const gf_tokenizer *t);
int gf_tokenizer_unk_id(const gf_tokenizer *t);

/* Work space and results of gf_encode / gf_decode, reusable across calls. */
gf_tok_buf *gf_tok_buf_new(void);
void gf_tok_buf_free(gf_tok_buf *b);

/* Encodes n bytes of text (any bytes: invalid UTF-8 is read as U+FFFD per
 * bad byte, as SentencePiece does). *ids points into b until its next use.
 * No BOS or EOS is added. */
int gf_encode(const gf_tokenizer *t, const char *text, size_t n, gf_tok_buf *b,
              const int32_t **ids, size_t *n_ids, gf_error *err);
/* Decodes ids to text as spm_decode does; an id outside the vocabulary is an
 * error. *text points into b (NUL-terminated) until its next use. */
int gf_decode(const gf_tokenizer *t, const int32_t *ids, size_t n, gf_tok_buf *b,
              const char **text, size_t *len, gf_error *err);

/* Incremental decoding for streaming output: push ids one at a time and get
 * the text that is now final. Bytes of a UTF-8 character split across
 * byte-fallback pieces are held back until the character is complete (or
 * proves invalid, giving U+FFFD). Pushing a whole sequence with at_start = 1
 * and flushing gives exactly gf_decode's text; at_start = 0 continues a text
 * (a leading space is kept). */
typedef struct gf_detok_stream gf_detok_stream;
gf_detok_stream *gf_detok_stream_new(const gf_tokenizer *t, int at_start, gf_error *err);
int gf_detok_stream_push(gf_detok_stream *s, int32_t id, const char **text, size_t *len,
                         gf_error *err);
/* Emits any held-back bytes (as U+FFFD) at the end of the text. */
void gf_detok_stream_flush(gf_detok_stream *s, const char **text, size_t *len);
void gf_detok_stream_free(gf_detok_stream *s);

#ifdef __cplusplus
}
#endif
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
void gf_adamw_free(gf_adamw *o);
/* The learning rate of update number `step` (from 0): linear warm-up to lr,
 * then a cosine down to lr * min_lr_ratio at total_steps. */
float gf_lr_at(const gf_adamw_config *c, int64_t step);
/* The L2 norm of the whole gradient arena. */
double gf_grad_norm(const gf_trainable *t);
/* One update with the gradients in t (clipped to c->clip by global norm);
 * returns the norm before clipping. */
double gf_adamw_update(gf_adamw *o, gf_trainable *t, const gf_adamw_config *c, float lr);
int64_t gf_adamw_step_count(const gf_adamw *o);
void gf_adamw_set_step_count(gf_adamw *o, int64_t step);
/* The moments: m then v, gf_adamw_num_params floats each (for checkpoints). */
float *gf_adamw_moments(gf_adamw *o);
size_t gf_adamw_num_params(const gf_adamw *o);

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

/* ---- the machine's limits ------------------------------------------------------ */

typedef struct {
    double read_gb_s;     /* memory read bandwidth: a buffer streamed by all threads */
    double sgemv_gb_s;    /* the same bytes read as a matrix by OpenBLAS sgemv */
    double sgemm_gflop_s; /* OpenBLAS F32 sgemm, 2048 x 2048 x 2048 */
    double fma_gflop_s;   /* F32 fused multiply-adds on registers only: the cores' own ceiling */
    double int8_gop_s;    /* AVX512-VNNI int8 dot products (vpdpbusd) on registers, 2 ops a
                           * multiply-add: the integer path's ceiling; 0 without VNNI */
    double bf16_gflop_s;  /* AVX512-BF16 dot products (vdpbf16ps) on registers: the ceiling of
                           * BF16 weights with bfloat16 inputs; 0 without the instruction */
    double amx_int8_gop_s;   /* AMX tile products on registers only (16 x 16 x 64 int8, and */
    double amx_bf16_gflop_s; /* 16 x 16 x 32 bfloat16 pairs): the ceilings of the AMX kernels
                              * (batches and prefill); 0 without AMX */
    const char *isa;      /* the instruction set griffin's kernels use here */
    int threads;
} gf_limits;

/* Measures them (best of several passes) with a read buffer of `bytes` (make
 * it several times the last-level cache) and `threads` readers (0 = all). */
int gf_measure_limits(size_t bytes, int threads, gf_limits *out, gf_error *err);

/* The F32 products of prefill and training, y [M, N] = x [M, K] W^T, timed
 * (best of 5, interleaved) through OpenBLAS sgemm and through griffin's
 * kernels, and their backward (dx and dW, through OpenBLAS), with the way
 * gf_linear's rule takes for M rows on this kernel set. */
typedef struct {
    double sgemm_gflop_s, own_gflop_s, backward_gflop_s;
    int rule_sgemm;
} gf_product_rates;
int gf_measure_f32_products(size_t M, size_t N, size_t K, gf_product_rates *out, gf_error *err);

/* One read-bandwidth probe, kept to be run again and again: the benchmark
 * runs it right before every timed decode step, so that on a machine whose
 * bandwidth drifts each step is set against the limit of its own moment.
 * new: a buffer of `bytes` (several times the last-level cache), its pages
 * touched by the `threads` readers (0 = all); run: one pass, every thread
 * summing its slice, in GB/s. */
typedef struct gf_bw_probe gf_bw_probe;
gf_bw_probe *gf_bw_probe_new(size_t bytes, int threads, gf_error *err);
double gf_bw_probe_run(gf_bw_probe *p);
void gf_bw_probe_free(gf_bw_probe *p);

#endif

