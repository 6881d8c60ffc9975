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

/* Exported from libgriffin.so (built with -fvisibility=hidden): what this header declares. */
#ifdef __GNUC__
#pragma GCC visibility push(default)
#endif

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
/* A model's size from its config alone, without its weights: parameters by
 * part (the four sum to gf_config_num_params), and the bytes of tensor data
 * its weight files hold in each weight type (gf_model_tensor_bytes of the
 * model gf_model_init_write writes, F32, and of gf_model_quantize's from
 * it), counted from the tensor table and the quantised layout. */
typedef struct {
    size_t params_embedding; /* the tied embedding and the final norm */
    size_t params_recurrent; /* recurrent blocks, with their pre-norms */
    size_t params_attention; /* attention blocks, with their pre-norms */
    size_t params_mlp;       /* MLP blocks, with their pre-norms */
    size_t bytes_f32, bytes_bf16, bytes_q8, bytes_q4;
} gf_model_sizes;
void gf_config_sizes(const gf_config *cfg, gf_model_sizes *out);

/* ---- models ------------------------------------------------------------- */

typedef struct gf_model gf_model;

/* Loads DIR/config.json and DIR/model.safetensors (or the shards listed in
 * DIR/model.safetensors.index.json). The tensor data stay memory-mapped. */
gf_model *gf_model_load(const char *dir, gf_error *err);
void gf_model_free(gf_model *m);
const gf_config *gf_model_config(const gf_model *m);
/* Bytes mapped from the weight files (their headers included). */
size_t gf_model_weight_bytes(const gf_model *m);
/* Bytes of tensor data in the weight files (no headers): what
 * gf_config_sizes predicts for the model's weight type. */
size_t gf_model_tensor_bytes(const gf_model *m);
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
 * the float product of the weights (docs/formats.md, "Weight types"). Off: the
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
 * (norms, biases, conv, RG-LRU gates) as they were. docs/formats.md: "Weight types". */
typedef enum { GF_QUANT_BF16 = 0, GF_QUANT_Q8 = 1, GF_QUANT_Q4 = 2 } gf_quant_type;

/* Reads the model directory in_dir (F32 / BF16 / F16 weights) and writes
 * out_dir/model.safetensors in `type`, with config.json and the tokenizer
 * files copied. progress, when given, is called after every tensor. Refuses
 * an already quantised model and out_dir == in_dir. */
int gf_model_quantize(const char *in_dir, const char *out_dir, gf_quant_type type,
                      void (*progress)(void *ctx, size_t done, size_t total), void *ctx,
                      gf_error *err);

/* ---- decode state ------------------------------------------------------- */

/* Per-sequence fixed-size state: RG-LRU h [L] and conv tail [W-1, L] per
 * recurrent layer, a ring of w keys (after RoPE) and values [w, hd] per
 * attention layer, and the number of tokens seen. Also holds the scratch the
 * decode step needs, so decoding allocates nothing. */
typedef struct gf_state gf_state;

/* Fails, allocating nothing, when the state (gf_state_bytes_per_seq x batch,
 * zeroed at once) is larger than the memory the system has available: the
 * config's attention window sizes it, and no weight shows how large. */
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
/* The same for the first n of the state's sequences only (1 <= n <= B): the
 * others' state is neither read nor changed, so a server can keep its active
 * sequences in the first rows and step just those. logits [n, V]. */
int gf_decode_step_n(const gf_model *m, gf_state *s, int n, const int32_t *tokens,
                     const int32_t *segment_pos, float *logits, gf_error *err);

/* Feeds T more tokens to sequence b of s, continuing from what it holds
 * (nothing, or an earlier prefill, extend or decode steps), as T decode
 * steps of that sequence alone would, within float rounding; the other
 * sequences are untouched (bit for bit), and so is the state when it fails
 * (a one-line error: b outside the batch, T < 1, a token outside the
 * vocabulary, another model's state, positions past int32, out of memory).
 * Positions continue from its token count. logits [V] (may be NULL): those
 * after the last token. One pass at about gf_prefill's speed: the chunk's
 * matrix products, the Conv1D and RG-LRU scan from the sequence's tail and
 * h, attention over its key/value ring and the chunk; it allocates its
 * activations per call, as gf_prefill does. For a chat's next turn, or a
 * long prompt fed in chunks between other sequences' decode steps. */
int gf_prefill_extend(const gf_model *m, gf_state *s, int b, int T, const int32_t *tokens,
                      float *logits, gf_error *err);

/* ---- sampling ----------------------------------------------------------- */

typedef struct {
    float temperature; /* <= 0: greedy */
    int top_k;         /* <= 0: off */
    float top_p;       /* >= 1 or <= 0: off */
    uint64_t rng[4];   /* xoshiro256** state, seeded by gf_sampler_init */
    float min_p;       /* <= 0: off (gf_sampler_init sets 0): keeps the ids
                        * with p >= min_p * p_max, p the softmax of the logits
                        * before temperature, as llama.cpp's min-p */
} gf_sampler;

void gf_sampler_init(gf_sampler *s, float temperature, int top_k, float top_p,
                     uint64_t seed);
/* Draws a token id from logits [V]: temperature, then top-k, top-p and
 * min-p, each keeping the best candidates (the best one always), then a draw
 * in proportion to the probabilities kept. scratch: V floats + V ints (work
 * space the caller owns, so sampling allocates nothing). */
int gf_sample(gf_sampler *s, const float *logits, int V, float *scratch_f,
              int *scratch_i);
/* llama.cpp's repeat penalty, in place on logits [V]: each distinct id among
 * recent[0..n) (ids outside [0, V) are skipped) has its logit divided by
 * penalty when positive, multiplied by it otherwise. Apply before sampling
 * (so before temperature). scratch: n ints. */
void gf_repeat_penalty(float *logits, int V, const int32_t *recent, int n, float penalty,
                       int32_t *scratch);
/* Next 64 random bits / a uniform float in [0, 1) / a standard normal. */
uint64_t gf_rng_next(uint64_t rng[4]);
double gf_rng_uniform(uint64_t rng[4]);
double gf_rng_normal(uint64_t rng[4]);
void gf_rng_seed(uint64_t rng[4], uint64_t seed);

/* ---- generation ----------------------------------------------------------
 * A generator: prompt ids in, sampled ids (and their text) out, one step at a
 * time, for `batch` sequences that step together through gf_decode_step.
 * What `griffin generate`, `griffin chat` and a server share:
 *
 *   gf_generator_feed(g, prompt, n)        the prompt, to every sequence
 *   while ((r = gf_generator_step(g, tokens)) >= 0) {
 *       ... tokens[b] (-1: none this step), gf_generator_text(g, b, &len) ...
 *       if (r == 0) break;                  every sequence has stopped
 *   }
 *   gf_generator_feed(g, next_turn, n)     a chat continues from the state
 *
 * Each sequence has its own sampler (seeded from params.seed and its index),
 * the last repeat_last_n ids of its context, its detokenizer and the text it
 * holds back. A sampled id is fed to the model at the start of the next step
 * (or feed), so a sequence that stops by max_tokens or a stop string costs no
 * decode step nobody reads; the ids it emitted all count as context. Sampling
 * takes only ids below the tokenizer's vocabulary size when it has fewer ids
 * than the model (padded vocabularies), since others could not be printed.
 *
 * A sequence that is not running (stopped, or idle) while others go on is
 * stepped along in their decode steps (with its last id), so its state no
 * longer matches its tokens: gf_generator_feed and gf_generator_save refuse
 * it until gf_generator_reset or gf_generator_restore (as they refuse every
 * sequence after a decode step failed). One thread at a time per generator.
 *
 * The same generator can instead run slots (gf_generator_join, below):
 * sequences with prompts and parameters of their own that join and leave
 * a batch that keeps decoding, what a server needs. A generator is in one
 * mode at a time: the first join takes it from fresh (or reset) to slots,
 * gf_generator_reset back. */

typedef struct {
    float temperature;     /* <= 0: greedy (default 0.8) */
    int top_k;             /* <= 0: off (40) */
    float top_p;           /* >= 1 or <= 0: off (0.95) */
    float min_p;           /* <= 0: off (0); see gf_sampler */
    float repeat_penalty;  /* 1: off (1); > 0; see gf_repeat_penalty */
    int repeat_last_n;     /* ids of context the penalty looks at (64); 0: off */
    uint64_t seed;         /* sequence b's sampler: seed + 0x9e3779b97f4a7c15 * b (0) */
    long max_tokens;       /* ids emitted per sequence after each feed; < 0: no limit (64) */
    const int32_t *stop_ids;        /* [n_stop_ids]: sampling one ends the sequence;
                                     * it is neither emitted nor fed (NULL, 0) */
    int n_stop_ids;
    const char *const *stop_strings; /* [n_stop_strings], NUL-terminated, non-empty:
                                     * the text stops before the first one (NULL, 0) */
    int n_stop_strings;
} gf_gen_params;

/* Fills p with the defaults above (`griffin generate`'s). */
void gf_gen_params_default(gf_gen_params *p);

/* Why a sequence is not running (gf_generator_stop_reason). */
typedef enum {
    GF_GEN_RUNNING = 0,
    GF_GEN_IDLE = 1,        /* nothing fed since gf_generator_new / _reset */
    GF_GEN_STOP_ID = 2,     /* it sampled one of stop_ids */
    GF_GEN_STOP_STRING = 3, /* its text reached one of stop_strings */
    GF_GEN_MAX_TOKENS = 4,  /* it emitted max_tokens ids */
    GF_GEN_CONTEXT = 5,     /* its positions reached the int32 limit */
    GF_GEN_CANCELLED = 6,   /* gf_generator_cancel */
    GF_GEN_ERROR = 7        /* a decode step failed */
} gf_gen_stop;
/* "running", "idle", "stop id", "stop string", "max tokens", "context",
 * "cancelled", "error" ("?" for another value). */
const char *gf_gen_stop_name(int reason);

typedef struct gf_generator gf_generator;
typedef struct gf_tokenizer gf_tokenizer; /* the tokenizer section's, declared early */

/* A generator of `batch` sequences (1 .. 65536) over model m. tk may be NULL
 * (ids only: no text, no stop strings); it and m must outlive the generator.
 * params are checked (NaN temperature, top_p or min_p, min_p > 1, penalty
 * <= 0 or not finite, repeat_last_n outside 0 .. 1048576, a stop id outside
 * the model's vocabulary, an empty stop string or stop strings without a
 * tokenizer are errors) and copied, stop ids and strings included. Allocates
 * everything gf_generator_step needs: the state [batch], logits [batch, V],
 * the sampler's scratch and each sequence's text buffers. */
gf_generator *gf_generator_new(const gf_model *m, const gf_tokenizer *tk, int batch,
                               const gf_gen_params *params, gf_error *err);
void gf_generator_free(gf_generator *g);
int gf_generator_batch(const gf_generator *g);

/* Appends ids [n] (n >= 1) to every sequence's context and starts them all
 * running again (max_tokens counts afresh, the text starts afresh). When
 * every sequence is empty the first n - 1 ids go through one gf_prefill
 * (shared by the batch) and the last through a decode step; otherwise (a
 * chat's next turn) n > 1 ids extend each sequence through one
 * gf_prefill_extend, and a single id is one decode step. Afterwards the
 * logits of the next id are ready. An id outside [0, V), a sequence whose
 * state was stepped after it stopped, a context past the int32 positions,
 * or a generator running slots is an error that changes nothing. */
int gf_generator_feed(gf_generator *g, const int32_t *ids, size_t n, gf_error *err);

/* One step: every running sequence samples its next id (after the repeat
 * penalty), checks the stop conditions and keeps what it emits; the ids the
 * last step kept are fed first, in one decode step for the batch. tokens
 * [batch]: the id sequence b emitted, or -1 (stopped now or before, or a stop
 * id). Returns how many sequences are still running (0: all have stopped;
 * the tokens and text of this last step still count), -1 with err on
 * failure (the running sequences then stop with GF_GEN_ERROR; or the
 * generator runs slots). Allocates nothing. */
int gf_generator_step(gf_generator *g, int32_t *tokens, gf_error *err);

/* The text the last gf_generator_step (or gf_generator_cancel, or for a
 * slot gf_generator_round) made final for sequence b: NUL-terminated, *len
 * bytes, valid until the next call that changes g; "" without a tokenizer. Text that could be the start of a stop
 * string is held back until it cannot; when a sequence stops, the step's
 * text ends it (held-back text and incomplete UTF-8 flushed, stop string and
 * anything after it left out). A reply's text continues its context (a
 * leading space is kept), as gf_detok_stream_new(at_start = 0). */
const char *gf_generator_text(const gf_generator *g, int b, size_t *len);

/* Why sequence b is not running, as gf_gen_stop (GF_GEN_RUNNING while it is;
 * a slot: while it prefills or decodes, GF_GEN_IDLE when free); -1 for b
 * outside the batch. */
int gf_generator_stop_reason(const gf_generator *g, int b);

/* Stops sequence b now (GF_GEN_CANCELLED) if it is running; its held-back
 * text becomes gf_generator_text's. 0, or -1 for b outside the batch or a
 * generator running slots (gf_generator_leave ends a slot). */
int gf_generator_cancel(gf_generator *g, int b);

/* Empties every sequence (gf_state_reset; contexts, text and counts of
 * emitted ids cleared; all GF_GEN_IDLE). The samplers carry on: they are not
 * re-seeded. gf_generator_counts keeps counting. Ends slot mode: every slot
 * is dropped, and the generator is a batch again with its own parameters
 * and the samplers it had before the first join. */
void gf_generator_reset(gf_generator *g);

/* Ids in sequence b's context: fed plus emitted (a joining slot: its whole
 * prompt, prefilled or not; a free slot: 0; -1 for b outside). */
int64_t gf_generator_context(const gf_generator *g, int b);
/* Ids sequence b emitted since the last feed or join (-1 for b outside). */
int64_t gf_generator_generated(const gf_generator *g, int b);

/* Totals since gf_generator_new. */
typedef struct {
    int64_t fed;       /* ids given to gf_generator_feed (once each, whatever the batch) or a join */
    int64_t generated; /* ids emitted by gf_generator_step or _round, all sequences */
    int64_t decoded;   /* emitted ids fed back through decode steps, all sequences */
    int64_t prefills;  /* passes over the weights for prompt ids alone (a gf_prefill or
                        * gf_prefill_extend of any length); a round feeds a prompt's lone
                        * last id in its decode step, which is not one */
} gf_gen_counts;
void gf_generator_counts(const gf_generator *g, gf_gen_counts *out);

/* Threads. By default each part of a pass (a recurrent layer, an attention
 * layer, the logits; prefill and decode apart) runs on the team size that
 * it measures fastest, between 1 and the OpenMP team size at
 * gf_generator_new, trying the others now and then: where other busy
 * processes share the cores one thread can be many times faster than two,
 * and the choice follows the machine as it gets busier or quieter. Results
 * do not depend on it (but for float rounding in OpenBLAS's products, as
 * between --threads values). n > 0 fixes every part at n threads (at most the
 * team size at gf_generator_new for the attention); n = 0 measures again.
 * 0, or -1 for n outside 0..4096. */
int gf_generator_set_threads(gf_generator *g, int n, gf_error *err);
/* The team size a decode step's recurrent layers use now. */
int gf_generator_threads(const gf_generator *g);

/* A self-contained copy of one sequence: its decode state (a batch-1
 * gf_state), the logits of its next id, its sampler (settings and random
 * state), the id it has yet to feed, the last repeat_last_n ids of its
 * context, the bytes its detokenizer and stop-string matcher hold back, its
 * stop reason and count of emitted ids. Restoring it into a sequence of a
 * generator of the same model, and stepping, gives exactly the ids and text
 * the original would have given; the generator's own params (stops,
 * max_tokens, penalty) apply. gf_generator_save refuses a sequence whose
 * state was stepped after it stopped.
 *
 * A snapshot's context is exactly the sequence's at the save: every id fed
 * (prompts, turns) and every id it emitted, in order (a stop id is never
 * emitted, so never part of it). The last emitted id is fed only when the
 * sequence steps again, so the state may hold all of them but that one,
 * kept as the id to feed; gf_gen_snapshot_context counts both (it is
 * gf_generator_context at the save), and a server can key a cache of
 * snapshots by that prefix of ids (gf_generator_join_from continues one).
 *
 * Slots: b is the slot. A decoding slot can be saved between rounds, a
 * finished one from the round it finished until a join takes the slot again
 * (a finished slot keeps its state until then; gf_generator_join takes free
 * slots before finished ones, and of those the one that finished first);
 * a joining slot (prompt not done) or a free one is refused. */
typedef struct gf_gen_snapshot gf_gen_snapshot;
gf_gen_snapshot *gf_generator_save(const gf_generator *g, int b, gf_error *err);
/* Overwrites sequence b with s (the other sequences are untouched). Fails,
 * changing nothing, for another model, held-back text longer than this
 * generator's stop strings allow, or a generator running slots. */
int gf_generator_restore(gf_generator *g, int b, const gf_gen_snapshot *s, gf_error *err);
void gf_gen_snapshot_free(gf_gen_snapshot *s);
/* Bytes the snapshot holds (its state, logits [V], ids and text). */
size_t gf_gen_snapshot_bytes(const gf_gen_snapshot *s);
/* Ids in the snapshot's context (see above). */
size_t gf_gen_snapshot_context(const gf_gen_snapshot *s);

/* A snapshot in a file, to continue a sequence in another process without
 * feeding its context again (`griffin chat`'s /save and /load): everything
 * gf_generator_save keeps, in a fixed layout (little-endian) whose size is
 * the model's decode state per sequence plus its logits [V], the penalty's
 * ids and a few hundred bytes, however long the context. The header names
 * the model's shape and a fingerprint of its weights, and a checksum ends
 * the file. docs/formats.md: "Snapshot files".
 *
 * gf_gen_snapshot_write: writes path (through path.tmp, renamed over it, so
 * a failed write leaves an earlier file of that name intact).
 * gf_gen_snapshot_read: a snapshot for model m, to give gf_generator_restore
 * or gf_generator_join_from; NULL with a one-line error for a file that is
 * not a snapshot, of another version, of another model (a different shape,
 * or the same shape with other weights), truncated, longer than it should
 * be, failing its checksum or holding values out of range. */
int gf_gen_snapshot_write(const gf_gen_snapshot *s, const char *path, gf_error *err);
gf_gen_snapshot *gf_gen_snapshot_read(const gf_model *m, const char *path, gf_error *err);

/* ---- slots: continuous batching ------------------------------------------
 * The generator's `batch` sequences as slots that sequences take and give
 * up while the others keep decoding:
 *
 *   slot = gf_generator_join(g, prompt, n, &params, &err)   a request comes
 *   while (gf_generator_slots_in_use(g) > 0) {
 *       gf_generator_round(g, ev, &n_ev, &err)               prefill some, decode all
 *       for each ev[i]: send ev[i].text to its slot's client; if
 *           ev[i].finished: the reply is complete (gf_generator_save now to
 *           cache its context); joins and leaves may come between rounds
 *   }
 *
 * A slot is a sequence's name from its join until it finishes or leaves;
 * the sequences it names one after another share nothing but the
 * generator. Each has its own parameters (copied at the join, arrays
 * included), its own sampler seeded with params.seed (no offset: a slot gives
 * what sequence 0 of a generator with those params would), context, text
 * and stops. Its ids are the ones a batch-1 generator fed the same prompt
 * gives, within float rounding (the prompt goes through gf_prefill_extend,
 * or its last id through the batched decode step, and the decode steps batch
 * the slots together). A prompt is prefilled in
 * chunks by the rounds, so a long one adds at most `chunk` ids of prefill
 * to the others' time between tokens. Nothing but a join allocates, and a
 * round only what gf_prefill_extend does. gf_generator_text,
 * gf_generator_stop_reason, _context, _generated and _save take a slot. */

/* What a round did for one slot. */
typedef struct {
    int slot;            /* the slot this event is about */
    int32_t token;       /* the id it emitted this round, or -1 (a stop id, a stop, a prompt not done) */
    const char *text;    /* the text this round made final for the slot (gf_generator_text's; valid
                          * until the next round, or a join or leave of that slot) */
    size_t len;
    int prompt_done;     /* its prompt finished prefilling this round (its first id comes with it) */
    int finished;        /* its sequence ended this round; the slot is free again (its state kept
                          * for gf_generator_save until a join takes it) */
    int reason;          /* gf_gen_stop when finished (GF_GEN_RUNNING otherwise) */
} gf_gen_event;

/* Takes a free slot for a new sequence: its prompt ids[n] (n >= 1) and its
 * own parameters (NULL: the generator's); the prompt is prefilled by later
 * rounds, in chunks. Returns the slot, or -1 with err when none is free or
 * the input is bad (ids outside the vocabulary, bad parameters, a generator
 * fed as a batch and not reset), changing nothing. */
int gf_generator_join(gf_generator *g, const int32_t *ids, size_t n, const gf_gen_params *p, gf_error *err);
/* The same, starting from a snapshot (gf_generator_save, any generator of
 * the same model) instead of an empty state: ids are the ids that follow
 * the snapshot's context (n may be 0 only if the snapshot has a context).
 * Of the snapshot only its state, its context (its id to feed is fed first)
 * and the ids it kept for the repeat penalty are used: the sampler, text and
 * counts start afresh from p as in a join, so joining from a snapshot of
 * context C with ids X gives what joining with C then X gives (the penalty
 * sees as many of C's ids as the snapshot kept: its repeat_last_n). */
int gf_generator_join_from(gf_generator *g, const gf_gen_snapshot *s, const int32_t *ids, size_t n,
                           const gf_gen_params *p, gf_error *err);
/* Ends slot's sequence now (a client gone): the slot is free at once, with
 * no event; a finished slot drops its kept state. 0, or -1 for a slot
 * outside the batch or already free. */
int gf_generator_leave(gf_generator *g, int slot);
/* Slots prefilling or decoding (not free, not finished). */
int gf_generator_slots_in_use(const gf_generator *g);
/* Prompt ids prefilled per round at most (default 256; less than 1: 1): the
 * most a round's prefill adds to the running sequences' time between
 * tokens. */
void gf_generator_set_chunk(gf_generator *g, int tokens);
/* One round: first the ids the decoding slots sampled the round before are
 * fed, all in one gf_decode_step_n, together with the last prompt id of
 * each joining slot that has one left (a one-id prompt costs the step a row,
 * not a pass over the weights of its own); then up to `chunk` prompt ids of
 * the joining slots are prefilled (oldest join first, through
 * gf_prefill_extend on the slot's row); then every decoding slot, those
 * whose prompt just finished included, samples its next id with its own
 * sampler and stops. Fills ev[0 .. *n_ev) (room for the generator's batch
 * size), one event per slot that emitted an id or text, finished, or
 * finished its prompt, by slot. Returns the slots still in use (0: none, and
 * nothing to do), or -1 with err when a step failed: the slots it concerned
 * are finished with GF_GEN_ERROR and reported in ev (their state unusable),
 * the others go on. */
int gf_generator_round(gf_generator *g, gf_gen_event *ev, int *n_ev, gf_error *err);

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

#ifdef __GNUC__
#pragma GCC visibility pop
#endif

#endif
