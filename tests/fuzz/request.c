/* A request body through the server's steps (request.h): the UTF-8 check,
 * oai_parse, the prompt's ids (the chat turns rendered and tokenized, a
 * reply the server gave kept as its ids), the context checks and generation
 * parameters as post_endpoint makes them, then a slot of a generator over a
 * tiny model decoding a few tokens in rounds, as the scheduler runs it, and
 * the response: every error object, chunk and body must be JSON whose text
 * is the text generated. */
#include "request.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "serve/openai.h"
#include "serve/replies.h"
#include "serve/util.h"

/* The server's --ctx here: prompts past it are refused as they would be. */
#define CTX 96
/* Tokens generated at most per request (a request may ask for 2^30). */
#define MAX_GEN 4

static gf_model *g_model;
static gf_tokenizer *g_tk;
static gf_generator *g_gen;
static serve_replies *g_replies;
static int g_end_of_turn;
static const char REPLY[] = "Hello there.";

void fz_request_init(void) {
    char dir[1024];
    gf_error err;
    fz_init();
    fz_data_path(dir, sizeof dir, "model");
    if (!(g_model = gf_model_load(dir, &err)) || !(g_tk = gf_tokenizer_load(dir, &err)))
        fz_fail("the fixture model: %s (run from the repository's root, or set GRIFFIN_FUZZ_DATA)", err.msg);
    gf_gen_params p;
    gf_gen_params_default(&p);
    if (!(g_gen = gf_generator_new(g_model, g_tk, 1, &p, &err))) fz_fail("gf_generator_new: %s", err.msg);
    if (gf_generator_set_threads(g_gen, 1, &err)) fz_fail("gf_generator_set_threads: %s", err.msg);
    g_end_of_turn = gf_tokenizer_find(g_tk, "<end_of_turn>");
    if (g_end_of_turn < 0 || gf_tokenizer_find(g_tk, "<start_of_turn>") < 0)
        fz_fail("the fixture tokenizer has no Gemma turn pieces");
    /* a reply the server gave earlier, so that chats that send it back take its ids */
    if (!(g_replies = serve_replies_new(8))) fz_fail("out of memory");
    const int32_t ids[3] = {5, 6, 7};
    serve_replies_put(g_replies, REPLY, sizeof REPLY - 1, ids, 3);
}

/* out[0..len) parses as JSON (after `skip` bytes); when want is given, the
 * string at the path key1[0].key2(.key3) is want[0..want_len). */
static void check_json(const sv_buf *out, size_t skip, const char *want, size_t want_len, const char *k1,
                       const char *k2, const char *k3) {
    if (out->len < skip) fz_fail("a response of %zu bytes", out->len);
    cJSON *j = cJSON_ParseWithLength(out->p + skip, out->len - skip);
    if (!j) fz_fail("the server wrote a response that is not JSON: %.*s", (int)out->len, out->p);
    if (want && !memchr(want, 0, want_len)) { /* a NUL cannot travel in a cJSON string */
        const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, k1), 0);
        v = cJSON_GetObjectItemCaseSensitive(v, k2);
        if (k3) v = cJSON_GetObjectItemCaseSensitive(v, k3);
        if (!cJSON_IsString(v) || strlen(v->valuestring) != want_len || memcmp(v->valuestring, want, want_len))
            fz_fail("the response's text is not the text generated");
    }
    cJSON_Delete(j);
}

static void check_error(const oai_error *e) {
    if (e->status < 400 || e->status > 599 || !e->message[0]) fz_fail("an error with status %d", e->status);
    sv_buf b = {0};
    if (oai_error_json(e, &b)) fz_fail("out of memory");
    check_json(&b, 0, NULL, 0, NULL, NULL, NULL);
    sv_buf_free(&b);
}

/* Runs the slot to its end (or MAX_GEN tokens), writing each stream chunk
 * and then the plain response. */
static void generate(const int32_t *ids, size_t n, const gf_gen_params *p, int chat, int stream) {
    gf_error err;
    gf_generator_reset(g_gen);
    int slot = gf_generator_join(g_gen, ids, n, p, &err);
    if (slot < 0) fz_fail("gf_generator_join of checked ids: %s", err.msg);
    oai_meta meta = {chat, chat ? "chatcmpl-1" : "cmpl-1", "fuzz \"model\"", 1};
    sv_buf all = {0}, ev_out = {0};
    int finished = 0, reason = GF_GEN_RUNNING;
    size_t generated = 0;
    for (int round = 0; round < 64 && !finished; round++) {
        gf_gen_event ev[1];
        int n_ev = 0;
        if (gf_generator_round(g_gen, ev, &n_ev, &err) < 0) fz_fail("gf_generator_round: %s", err.msg);
        for (int i = 0; i < n_ev; i++) {
            if (ev[i].slot != slot) fz_fail("an event for slot %d", ev[i].slot);
            if (sv_buf_add(&all, ev[i].text, ev[i].len)) fz_fail("out of memory");
            generated += ev[i].token >= 0;
            if (ev[i].finished) {
                finished = 1;
                reason = ev[i].reason;
            }
            if (stream && (ev[i].len || ev[i].finished)) {
                ev_out.len = 0;
                const char *fin = ev[i].finished ? oai_finish_reason(reason) : NULL;
                if (oai_chunk_event(&meta, ev[i].text, ev[i].len, fin, 0, 1, &ev_out)) fz_fail("out of memory");
                if (ev_out.len < 8 || memcmp(ev_out.p + ev_out.len - 2, "\n\n", 2)) fz_fail("a chunk not ended by a blank line");
                ev_out.len -= 2;
                if (chat && fin && ev[i].len == 0) check_json(&ev_out, 6, NULL, 0, NULL, NULL, NULL);
                else check_json(&ev_out, 6, ev[i].text, ev[i].len, "choices", chat ? "delta" : "text", chat ? "content" : NULL);
            }
        }
        if (!finished && generated >= MAX_GEN) {
            gf_generator_leave(g_gen, slot);
            finished = 1;
            reason = GF_GEN_MAX_TOKENS;
        }
    }
    if (!finished) fz_fail("a slot still running after 64 rounds of %zu tokens of prompt", n);
    sv_buf out = {0};
    if (oai_response_json(&meta, all.p ? all.p : "", all.len, oai_finish_reason(reason), n, generated, &out))
        fz_fail("out of memory");
    check_json(&out, 0, all.p ? all.p : "", all.len, "choices", chat ? "message" : "text", chat ? "content" : NULL);
    sv_buf_free(&out);
    sv_buf_free(&all);
    sv_buf_free(&ev_out);
}

int fz_request(const uint8_t *data, size_t size, int chat) {
    if (size > FZ_MAX_INPUT) return -1;
    const char *body = (const char *)data;
    if (!sv_utf8_valid(body, size)) return 0; /* 400 before any parsing */
    const gf_config *c = gf_model_config(g_model);
    oai_request rq;
    oai_error e;
    if (oai_parse(body, size, chat, &rq, &e)) {
        check_error(&e);
        return 0;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    if (chat ? oai_chat_ids(&rq, g_tk, c->bos_id, g_replies, &ids, &n, &e)
             : oai_completion_ids(&rq, g_tk, c->bos_id, c->vocab_size, &ids, &n, &e)) {
        check_error(&e);
        oai_request_free(&rq);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size) fz_fail("prompt id %d outside the vocabulary", ids[i]);
    /* post_endpoint's context checks and parameters: the server's own */
    gf_gen_params p;
    int32_t stops[2];
    if (oai_gen_params(&rq, chat, n, CTX, c->eos_id, g_end_of_turn, c->vocab_size, 1, stops, &p, &e)) {
        check_error(&e);
        goto out;
    }
    generate(ids, n, &p, chat, rq.stream);
out:
    free(ids);
    oai_request_free(&rq);
    return 0;
}
