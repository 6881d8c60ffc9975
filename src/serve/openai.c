/* OpenAI request parsing and response writing (openai.h). */
#include "serve/openai.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STOP_BYTES 1024
/* Appends a string literal. */
#define ADDL(out, lit) sv_buf_add(out, lit, sizeof lit - 1)
#define MAX_IDS_FIELD (1 << 20)

int oai_fail(oai_error *e, int status, const char *type, const char *param, const char *code, const char *fmt, ...) {
    e->status = status;
    e->type = type;
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int bad(oai_error *e, const char *param, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int bad(oai_error *e, const char *param, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return oai_fail(e, 400, "invalid_request_error", param, NULL, "%s", msg);
}

int oai_json_string(sv_buf *out, const char *s, size_t n) {
    int rc = ADDL(out, "\"");
    size_t run = 0; /* bytes copied as they are, written in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c < 0x20) {
            snprintf(u, sizeof u, "\\u%04x", c);
            esc = u;
        }
        if (!esc) {
            run++;
            continue;
        }
        rc |= sv_buf_add(out, s + i - run, run);
        run = 0;
        rc |= sv_buf_add(out, esc, strlen(esc));
    }
    rc |= sv_buf_add(out, s + n - run, run);
    rc |= ADDL(out, "\"");
    return rc ? -1 : 0;
}

int oai_error_json(const oai_error *e, sv_buf *out) {
    int rc = ADDL(out, "{\"error\":{\"message\":");
    rc |= oai_json_string(out, e->message, strlen(e->message));
    rc |= sv_buf_printf(out, ",\"type\":\"%s\",\"param\":", e->type ? e->type : "invalid_request_error");
    rc |= e->param[0] ? oai_json_string(out, e->param, strlen(e->param)) : ADDL(out, "null");
    rc |= ADDL(out, ",\"code\":");
    rc |= e->code ? oai_json_string(out, e->code, strlen(e->code)) : ADDL(out, "null");
    rc |= ADDL(out, "}}");
    return rc ? -1 : 0;
}

/* ---- parsing -------------------------------------------------------------- */

/* The field, or NULL when absent or null (JSON null means "the default"). */
static const cJSON *field(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static int get_number(const cJSON *o, const char *k, double lo, double hi, double *out, oai_error *e) {
    const cJSON *v = field(o, k);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return bad(e, k, "'%s' must be a number from %g to %g", k, lo, hi);
    *out = v->valuedouble;
    return 0;
}

static int is_int(const cJSON *v, double lo, double hi) {
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && floor(v->valuedouble) == v->valuedouble &&
           v->valuedouble >= lo && v->valuedouble <= hi;
}

static int get_int(const cJSON *o, const char *k, long lo, long hi, long *out, oai_error *e) {
    const cJSON *v = field(o, k);
    if (!v) return 0;
    if (!is_int(v, (double)lo, (double)hi)) return bad(e, k, "'%s' must be an integer from %ld to %ld", k, lo, hi);
    *out = (long)v->valuedouble;
    return 0;
}

static int get_bool(const cJSON *o, const char *k, int *out, oai_error *e) {
    const cJSON *v = field(o, k);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return bad(e, k, "'%s' must be true or false", k);
    *out = cJSON_IsTrue(v);
    return 0;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static int oom(oai_error *e) {
    return oai_fail(e, 500, "server_error", NULL, NULL, "out of memory");
}

static int parse_stop(const cJSON *root, oai_request *r, oai_error *e) {
    const cJSON *v = field(root, "stop");
    if (!v) return 0;
    const cJSON *one = cJSON_IsString(v) ? v : NULL;
    if (!one && !cJSON_IsArray(v)) return bad(e, "stop", "'stop' must be a string or an array of strings");
    int n = one ? 1 : cJSON_GetArraySize(v);
    if (n > OAI_MAX_STOP) return bad(e, "stop", "'stop' has %d strings, more than the %d allowed", n, OAI_MAX_STOP);
    for (int i = 0; i < n; i++) {
        const cJSON *s = one ? one : cJSON_GetArrayItem(v, i);
        if (!cJSON_IsString(s)) return bad(e, "stop", "'stop' must be a string or an array of strings");
        size_t len = strlen(s->valuestring);
        if (len == 0 || len > MAX_STOP_BYTES)
            return bad(e, "stop", "each stop string must have 1 to %d bytes", MAX_STOP_BYTES);
        if (!(r->stop[r->n_stop] = dup_n(s->valuestring, len))) return oom(e);
        r->n_stop++;
    }
    return 0;
}

static int parse_ids(const cJSON *arr, oai_request *r, oai_error *e) {
    int n = cJSON_GetArraySize(arr);
    if (n < 1 || n > MAX_IDS_FIELD) return bad(e, "prompt", "a prompt of token ids must have 1 to %d ids", MAX_IDS_FIELD);
    if (!(r->prompt_ids = malloc((size_t)n * sizeof *r->prompt_ids))) return oom(e);
    int i = 0;
    for (const cJSON *x = arr->child; x; x = x->next, i++) {
        if (!is_int(x, 0, 2147483647.0)) return bad(e, "prompt", "token ids must be integers from 0");
        r->prompt_ids[i] = (int32_t)x->valuedouble;
    }
    r->n_prompt_ids = (size_t)n;
    return 0;
}

static int parse_prompt(const cJSON *root, oai_request *r, oai_error *e) {
    const cJSON *v = field(root, "prompt");
    const char *what = "'prompt' must be a string, an array of one string, or an array of token ids";
    if (!v) return bad(e, "prompt", "'prompt' is required");
    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        const cJSON *first = cJSON_GetArrayItem(v, 0);
        if (n == 1 && cJSON_IsString(first)) v = first;
        else if (n == 1 && cJSON_IsArray(first)) return parse_ids(first, r, e);
        else if (n >= 1 && cJSON_IsNumber(first)) return parse_ids(v, r, e);
        else if (n > 1 && (cJSON_IsString(first) || cJSON_IsArray(first)))
            return bad(e, "prompt", "one prompt per request: 'prompt' has %d", n);
        else return bad(e, "prompt", "%s", what);
    }
    if (!cJSON_IsString(v)) return bad(e, "prompt", "%s", what);
    r->prompt_len = strlen(v->valuestring);
    if (!(r->prompt = dup_n(v->valuestring, r->prompt_len))) return oom(e);
    return 0;
}

/* content: a string, or an array of {"type": "text", "text": ...} parts. */
static int parse_content(const cJSON *m, int i, oai_message *out, oai_error *e) {
    char param[64];
    snprintf(param, sizeof param, "messages[%d].content", i);
    const cJSON *c = field(m, "content");
    sv_buf b = {0};
    if (!c) {
        if (out->role != OAI_ASSISTANT) return bad(e, param, "'%s' is required", param);
    } else if (cJSON_IsString(c)) {
        if (sv_buf_add(&b, c->valuestring, strlen(c->valuestring))) return oom(e);
    } else if (cJSON_IsArray(c)) {
        for (const cJSON *p = c->child; p; p = p->next) {
            const cJSON *t = cJSON_IsObject(p) ? cJSON_GetObjectItemCaseSensitive(p, "type") : NULL;
            const cJSON *x = cJSON_IsObject(p) ? cJSON_GetObjectItemCaseSensitive(p, "text") : NULL;
            if (!cJSON_IsString(t) || strcmp(t->valuestring, "text") != 0 || !cJSON_IsString(x)) {
                sv_buf_free(&b);
                return bad(e, param, "'%s': only text parts ({\"type\": \"text\", \"text\": ...}) are supported", param);
            }
            if (sv_buf_add(&b, x->valuestring, strlen(x->valuestring))) {
                sv_buf_free(&b);
                return oom(e);
            }
        }
    } else {
        return bad(e, param, "'%s' must be a string or an array of text parts", param);
    }
    if (!b.p && ADDL(&b, "")) return oom(e);
    out->content = b.p;
    out->len = b.len;
    return 0;
}

static int parse_messages(const cJSON *root, oai_request *r, oai_error *e) {
    const cJSON *v = field(root, "messages");
    if (!v) return bad(e, "messages", "'messages' is required");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1)
        return bad(e, "messages", "'messages' must be a non-empty array of messages");
    int n = cJSON_GetArraySize(v);
    if (!(r->msgs = calloc((size_t)n, sizeof *r->msgs))) return oom(e);
    int i = 0;
    for (const cJSON *m = v->child; m; m = m->next, i++) {
        char param[64];
        snprintf(param, sizeof param, "messages[%d].role", i);
        if (!cJSON_IsObject(m)) return bad(e, "messages", "messages[%d] must be an object", i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsString(role)) return bad(e, param, "'%s' must be a string", param);
        const char *s = role->valuestring;
        oai_message *out = &r->msgs[i];
        if (!strcmp(s, "system") || !strcmp(s, "developer")) out->role = OAI_SYSTEM;
        else if (!strcmp(s, "user")) out->role = OAI_USER;
        else if (!strcmp(s, "assistant")) out->role = OAI_ASSISTANT;
        else return bad(e, param, "'%s': role '%.32s' is not one of system, developer, user, assistant", param, s);
        r->n_msgs = i + 1;
        if (parse_content(m, i, out, e)) return -1;
    }
    return 0;
}

int oai_parse(const char *body, size_t n, int chat, oai_request *r, oai_error *e) {
    memset(r, 0, sizeof *r);
    r->chat = chat;
    r->max_tokens = -1;
    gf_gen_params d;
    gf_gen_params_default(&d);
    r->temperature = d.temperature;
    r->top_p = d.top_p;
    r->top_k = d.top_k;
    r->min_p = d.min_p;
    r->repeat_penalty = d.repeat_penalty;
    cJSON *root = cJSON_ParseWithLength(body, n);
    if (!root) return bad(e, NULL, "the body is not valid JSON");
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        bad(e, NULL, "the body must be a JSON object");
        goto out;
    }
    const cJSON *model = field(root, "model");
    if (model && !cJSON_IsString(model)) {
        bad(e, "model", "'model' must be a string");
        goto out;
    }
    long n_choices = 1, max_completion = -1;
    int echo = 0;
    if (get_int(root, "max_tokens", 1, 1L << 30, &r->max_tokens, e) ||
        get_int(root, "max_completion_tokens", 1, 1L << 30, &max_completion, e) ||
        get_number(root, "temperature", 0, 100, &r->temperature, e) ||
        get_number(root, "top_p", 0, 1, &r->top_p, e) || get_int(root, "top_k", 0, 1L << 30, &r->top_k, e) ||
        get_number(root, "min_p", 0, 1, &r->min_p, e) ||
        get_number(root, "repeat_penalty", 0.01, 100, &r->repeat_penalty, e) ||
        get_bool(root, "stream", &r->stream, e) || get_bool(root, "ignore_eos", &r->ignore_eos, e) ||
        get_int(root, "n", 1, 1L << 30, &n_choices, e) || get_bool(root, "echo", &echo, e) || parse_stop(root, r, e))
        goto out;
    if (r->max_tokens < 0) r->max_tokens = max_completion;
    if (n_choices != 1) {
        bad(e, "n", "only one choice per request is supported ('n' must be 1)");
        goto out;
    }
    if (echo) {
        bad(e, "echo", "'echo' is not supported");
        goto out;
    }
    const cJSON *lp = field(root, "logprobs");
    if (lp && !(cJSON_IsFalse(lp) || (cJSON_IsNumber(lp) && lp->valuedouble == 0))) {
        bad(e, "logprobs", "'logprobs' is not supported");
        goto out;
    }
    const cJSON *seed = field(root, "seed");
    if (seed) {
        if (!is_int(seed, -9007199254740992.0, 9007199254740992.0)) {
            bad(e, "seed", "'seed' must be an integer");
            goto out;
        }
        r->has_seed = 1;
        r->seed = (uint64_t)(int64_t)seed->valuedouble;
    }
    const cJSON *so = field(root, "stream_options");
    if (so) {
        if (!cJSON_IsObject(so)) {
            bad(e, "stream_options", "'stream_options' must be an object");
            goto out;
        }
        if (get_bool(so, "include_usage", &r->include_usage, e)) goto out;
    }
    if (chat ? parse_messages(root, r, e) : parse_prompt(root, r, e)) goto out;
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc) oai_request_free(r);
    return rc;
}

void oai_request_free(oai_request *r) {
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    for (int i = 0; i < r->n_msgs; i++) free(r->msgs[i].content);
    free(r->msgs);
    free(r->prompt);
    free(r->prompt_ids);
    memset(r, 0, sizeof *r);
}

/* ---- prompts -------------------------------------------------------------- */

typedef struct {
    int32_t *p;
    size_t n, cap;
} ids_vec;

static int ids_add(ids_vec *v, const int32_t *ids, size_t n) {
    if (v->n + n > v->cap) {
        size_t cap = v->cap ? v->cap : 256;
        while (cap < v->n + n) cap *= 2;
        int32_t *g = realloc(v->p, cap * sizeof *g);
        if (!g) return -1;
        v->p = g;
        v->cap = cap;
    }
    if (n) memcpy(v->p + v->n, ids, n * sizeof *ids);
    v->n += n;
    return 0;
}

static int encode_add(const gf_tokenizer *tk, gf_tok_buf *tb, const char *text, size_t len, ids_vec *v,
                      oai_error *e) {
    if (len == 0) return 0;
    gf_error err;
    const int32_t *ids;
    size_t n;
    if (gf_encode(tk, text, len, tb, &ids, &n, &err)) return bad(e, NULL, "cannot tokenize the prompt: %s", err.msg);
    return ids_add(v, ids, n) ? oom(e) : 0;
}

int oai_completion_ids(const oai_request *r, const gf_tokenizer *tk, int bos, int V, int32_t **ids, size_t *n,
                       oai_error *e) {
    ids_vec v = {0};
    if (r->prompt_ids) {
        for (size_t i = 0; i < r->n_prompt_ids; i++)
            if (r->prompt_ids[i] >= V)
                return bad(e, "prompt", "token id %d is outside the vocabulary [0, %d)", (int)r->prompt_ids[i], V);
        if (ids_add(&v, r->prompt_ids, r->n_prompt_ids)) return oom(e);
    } else {
        gf_tok_buf *tb = gf_tok_buf_new();
        if (!tb) return oom(e);
        int32_t b = bos;
        int rc = (bos >= 0 && ids_add(&v, &b, 1)) ? oom(e) : encode_add(tk, tb, r->prompt, r->prompt_len, &v, e);
        gf_tok_buf_free(tb);
        if (rc) {
            free(v.p);
            return -1;
        }
    }
    if (v.n == 0) {
        free(v.p);
        return bad(e, "prompt", "the prompt is empty, and the model has no BOS token to start from");
    }
    *ids = v.p;
    *n = v.n;
    return 0;
}

int oai_chat_ids(const oai_request *r, const gf_tokenizer *tk, int bos, serve_replies *replies, int32_t **ids,
                 size_t *n, oai_error *e) {
    ids_vec v = {0};
    sv_buf seg = {0}, sys = {0};
    gf_tok_buf *tb = gf_tok_buf_new();
    int rc = tb ? 0 : oom(e), mem = 0;
    int32_t b = bos;
    if (!rc && bos >= 0 && ids_add(&v, &b, 1)) rc = oom(e);
#define ADD(buf, s, len) (mem |= sv_buf_add(buf, s, len))
#define ADDS(buf, s) ADD(buf, s, strlen(s))
    for (int i = 0; i < r->n_msgs && !rc && !mem; i++) {
        const oai_message *m = &r->msgs[i];
        if (m->role == OAI_SYSTEM) {
            if (sys.len) ADDS(&sys, "\n\n");
            ADD(&sys, m->content, m->len);
        } else if (m->role == OAI_USER) {
            ADDS(&seg, "<start_of_turn>user\n");
            if (sys.len) {
                ADD(&seg, sys.p, sys.len);
                ADDS(&seg, "\n\n");
                sys.len = 0;
            }
            ADD(&seg, m->content, m->len);
            ADDS(&seg, "<end_of_turn>\n");
        } else {
            ADDS(&seg, "<start_of_turn>model\n");
            if (mem || (rc = encode_add(tk, tb, seg.p, seg.len, &v, e))) break;
            seg.len = 0;
            int32_t *rids = NULL;
            size_t rn = 0;
            int found = serve_replies_find(replies, m->content, m->len, &rids, &rn);
            if (found < 0) rc = oom(e);
            else if (found) rc = ids_add(&v, rids, rn) ? oom(e) : 0;
            else rc = encode_add(tk, tb, m->content, m->len, &v, e);
            free(rids);
            ADDS(&seg, "<end_of_turn>\n");
        }
    }
    if (!rc && !mem && sys.len) { /* system text with no user message after it */
        ADDS(&seg, "<start_of_turn>user\n");
        ADD(&seg, sys.p, sys.len);
        ADDS(&seg, "<end_of_turn>\n");
    }
    if (!rc && !mem) ADDS(&seg, "<start_of_turn>model\n");
    if (!rc && !mem) rc = encode_add(tk, tb, seg.p, seg.len, &v, e);
#undef ADD
#undef ADDS
    if (!rc && mem) rc = oom(e);
    gf_tok_buf_free(tb);
    sv_buf_free(&seg);
    sv_buf_free(&sys);
    if (rc) {
        free(v.p);
        return -1;
    }
    *ids = v.p;
    *n = v.n;
    return 0;
}

/* ---- responses ------------------------------------------------------------ */

const char *oai_finish_reason(int reason) {
    switch (reason) {
    case GF_GEN_STOP_ID:
    case GF_GEN_STOP_STRING: return "stop";
    case GF_GEN_MAX_TOKENS:
    case GF_GEN_CONTEXT: return "length";
    case GF_GEN_RUNNING:
    case GF_GEN_IDLE: return NULL;
    default: return "stop";
    }
}

static int head(const oai_meta *m, const char *object, sv_buf *out) {
    int rc = sv_buf_printf(out, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%ld,\"model\":", m->id, object,
                           m->created);
    rc |= oai_json_string(out, m->model, strlen(m->model));
    return rc;
}

static int usage(size_t p, size_t c, sv_buf *out) {
    return sv_buf_printf(out, "\"usage\":{\"prompt_tokens\":%zu,\"completion_tokens\":%zu,\"total_tokens\":%zu}", p,
                         c, p + c);
}

int oai_response_json(const oai_meta *m, const char *text, size_t len, const char *finish, size_t prompt_tokens,
                      size_t completion_tokens, sv_buf *out) {
    int rc = head(m, m->chat ? "chat.completion" : "text_completion", out);
    rc |= ADDL(out, ",\"choices\":[{\"index\":0,");
    if (m->chat) {
        rc |= ADDL(out, "\"message\":{\"role\":\"assistant\",\"content\":");
        rc |= oai_json_string(out, text, len);
        rc |= ADDL(out, "}");
    } else {
        rc |= ADDL(out, "\"text\":");
        rc |= oai_json_string(out, text, len);
    }
    rc |= sv_buf_printf(out, ",\"logprobs\":null,\"finish_reason\":\"%s\"}],", finish ? finish : "stop");
    rc |= usage(prompt_tokens, completion_tokens, out);
    rc |= ADDL(out, "}");
    return rc ? -1 : 0;
}

int oai_chunk_event(const oai_meta *m, const char *text, size_t len, const char *finish, int role_first,
                    int usage_null, sv_buf *out) {
    int rc = ADDL(out, "data: ");
    rc |= head(m, m->chat ? "chat.completion.chunk" : "text_completion", out);
    rc |= ADDL(out, ",\"choices\":[{\"index\":0,");
    if (m->chat) {
        if (role_first) rc |= ADDL(out, "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}");
        else if (finish && len == 0) rc |= ADDL(out, "\"delta\":{}");
        else {
            rc |= ADDL(out, "\"delta\":{\"content\":");
            rc |= oai_json_string(out, text, len);
            rc |= ADDL(out, "}");
        }
    } else {
        rc |= ADDL(out, "\"text\":");
        rc |= oai_json_string(out, text, len);
    }
    rc |= ADDL(out, ",\"logprobs\":null,\"finish_reason\":");
    rc |= finish ? sv_buf_printf(out, "\"%s\"", finish) : ADDL(out, "null");
    rc |= ADDL(out, "}]");
    if (usage_null) rc |= ADDL(out, ",\"usage\":null");
    rc |= ADDL(out, "}\n\n");
    return rc ? -1 : 0;
}

int oai_usage_event(const oai_meta *m, size_t prompt_tokens, size_t completion_tokens, sv_buf *out) {
    int rc = ADDL(out, "data: ");
    rc |= head(m, m->chat ? "chat.completion.chunk" : "text_completion", out);
    rc |= ADDL(out, ",\"choices\":[],");
    rc |= usage(prompt_tokens, completion_tokens, out);
    rc |= ADDL(out, "}\n\n");
    return rc ? -1 : 0;
}

int oai_models_json(const char *model, long created, sv_buf *out) {
    int rc = ADDL(out, "{\"object\":\"list\",\"data\":[{\"id\":");
    rc |= oai_json_string(out, model, strlen(model));
    rc |= sv_buf_printf(out, ",\"object\":\"model\",\"created\":%ld,\"owned_by\":\"griffin\"}]}", created);
    return rc ? -1 : 0;
}

int oai_gen_params(const oai_request *r, int chat, size_t n, long ctx, int eos, int end_of_turn, int V,
                   uint64_t seed, int32_t stops[2], gf_gen_params *p, oai_error *e) {
    if ((long)n >= ctx)
        return oai_fail(e, 400, "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded",
                        "the prompt has %zu tokens, and this server's context (--ctx) of %ld tokens must hold the "
                        "prompt and at least one generated token", n, ctx);
    long max_tokens = r->max_tokens;
    if (max_tokens > ctx - (long)n)
        return oai_fail(e, 400, "invalid_request_error", "max_tokens", "context_length_exceeded",
                        "this server's context (--ctx) is %ld tokens, but %zu tokens of prompt and max_tokens %ld "
                        "make %ld", ctx, n, max_tokens, (long)n + max_tokens);
    if (max_tokens < 0) max_tokens = chat ? ctx - (long)n : (ctx - (long)n < 16 ? ctx - (long)n : 16);
    gf_gen_params_default(p);
    p->temperature = (float)r->temperature;
    p->top_k = (int)r->top_k;
    p->top_p = (float)r->top_p;
    p->min_p = (float)r->min_p;
    p->repeat_penalty = (float)r->repeat_penalty;
    p->max_tokens = max_tokens;
    p->seed = r->has_seed ? r->seed : seed;
    int n_stops = 0;
    if (!r->ignore_eos) {
        int first = chat ? end_of_turn : eos, second = chat ? eos : end_of_turn;
        if (first >= 0 && first < V) stops[n_stops++] = first;
        if (second >= 0 && second < V && second != first) stops[n_stops++] = second;
    }
    p->stop_ids = stops;
    p->n_stop_ids = n_stops;
    p->stop_strings = (const char *const *)r->stop;
    p->n_stop_strings = r->n_stop;
    return 0;
}
