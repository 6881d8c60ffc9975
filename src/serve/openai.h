/* The OpenAI API's shapes: request bodies of /v1/completions and
 * /v1/chat/completions parsed and checked (cJSON), the chat messages
 * rendered in the Gemma turn format `griffin chat` uses and tokenized, and
 * the response bodies, stream chunks and error objects written. */
#ifndef GF_SERVE_OPENAI_H
#define GF_SERVE_OPENAI_H

#include <stddef.h>
#include <stdint.h>

#include "griffin.h"
#include "serve/replies.h"
#include "serve/util.h"

/* An error as OpenAI's {"error": {"message", "type", "param", "code"}}, with
 * its HTTP status. */
typedef struct {
    int status;
    const char *type;  /* "invalid_request_error", "server_error", ... */
    const char *code;  /* NULL or e.g. "context_length_exceeded" */
    char param[64];    /* "" for null */
    char message[512];
} oai_error;

/* Fills e; returns -1. */
int oai_fail(oai_error *e, int status, const char *type, const char *param, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
int oai_error_json(const oai_error *e, sv_buf *out);

typedef enum { OAI_SYSTEM, OAI_USER, OAI_ASSISTANT } oai_role;
typedef struct {
    oai_role role;
    char *content;
    size_t len;
} oai_message;

#define OAI_MAX_STOP 16

typedef struct {
    int chat;
    int stream, include_usage;
    long max_tokens;         /* -1: not given */
    double temperature, top_p, min_p, repeat_penalty;
    long top_k;
    int has_seed;
    uint64_t seed;
    char *stop[OAI_MAX_STOP];
    int n_stop;
    int ignore_eos;          /* llama.cpp's extension: no stop at EOS / <end_of_turn> */
    /* /v1/completions: the prompt as text, or as token ids */
    char *prompt;
    size_t prompt_len;
    int32_t *prompt_ids;
    size_t n_prompt_ids;
    /* /v1/chat/completions */
    oai_message *msgs;
    int n_msgs;
} oai_request;

/* Parses and checks a body (which must be valid UTF-8: the caller checks).
 * Unknown fields are ignored; defaults are the generator's (temperature
 * 0.8, top_k 40, top_p 0.95). 0, or -1 with e (400). */
int oai_parse(const char *body, size_t n, int chat, oai_request *r, oai_error *e);
void oai_request_free(oai_request *r);

/* The prompt's ids (malloc'ed): BOS then the text's ids, or the ids given
 * (checked against the vocabulary of V ids). */
int oai_completion_ids(const oai_request *r, const gf_tokenizer *tk, int bos, int V, int32_t **ids, size_t *n,
                       oai_error *e);
/* The chat's ids (malloc'ed) in the Gemma turn format: BOS, then
 *   <start_of_turn>user\n{system}\n\n{message}<end_of_turn>\n
 *   <start_of_turn>model\n{reply}<end_of_turn>\n ... <start_of_turn>model\n
 * (system messages go before the next user message's text). A reply the
 * server generated keeps the ids it was generated as (replies.h); other
 * text is encoded in the pieces between replies. */
int oai_chat_ids(const oai_request *r, const gf_tokenizer *tk, int bos, serve_replies *replies, int32_t **ids,
                 size_t *n, oai_error *e);

/* The generation parameters of request r whose prompt has n tokens, in a
 * context of ctx tokens: refused (400, context_length_exceeded, naming the
 * field) when the prompt leaves no room or prompt + max_tokens exceed ctx;
 * max_tokens left out is the rest of the context for chat, 16 (as
 * OpenAI's) for completions; the sampling fields; r's seed, else `seed`;
 * the stop ids (chat: end_of_turn then eos, completions the other way
 * round; ids outside [0, V) left out; none with ignore_eos) in stops,
 * which p points into, as into r's stop strings. 0, or -1 with e. */
int oai_gen_params(const oai_request *r, int chat, size_t n, long ctx, int eos, int end_of_turn, int V,
                   uint64_t seed, int32_t stops[2], gf_gen_params *p, oai_error *e);

/* What every response of one request shares. */
typedef struct {
    int chat;
    const char *id;     /* "cmpl-..." / "chatcmpl-..." */
    const char *model;
    long created;       /* Unix time */
} oai_meta;

/* "stop" / "length" for a gf_gen_stop (NULL while running). */
const char *oai_finish_reason(int reason);
/* The whole response of a plain request. */
int oai_response_json(const oai_meta *m, const char *text, size_t len, const char *finish, size_t prompt_tokens,
                      size_t completion_tokens, sv_buf *out);
/* One server-sent event "data: {chunk}\n\n": text (may be empty), finish
 * (NULL but for the last), role_first: the chat's opening chunk (role
 * "assistant", empty content); usage_null: "usage": null in the chunk (when
 * the client asked for stream_options.include_usage). */
int oai_chunk_event(const oai_meta *m, const char *text, size_t len, const char *finish, int role_first,
                    int usage_null, sv_buf *out);
/* The closing usage chunk (stream_options.include_usage): empty choices. */
int oai_usage_event(const oai_meta *m, size_t prompt_tokens, size_t completion_tokens, sv_buf *out);
int oai_models_json(const char *model, long created, sv_buf *out);
/* s[0..n) as a JSON string literal, quotes included. */
int oai_json_string(sv_buf *out, const char *s, size_t n);

#endif
