/* The synthetic tasks: configuration, generation into memory, and the files
 * `griffin task` writes (tokens, loss mask, a JSON description). */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/npy.h"
#include "util.h"
#include "tasks.h"

/* 2^31 tokens: 6 GiB of tokens and mask in memory while they are written. */
#define TASK_MAX_TOKENS ((size_t)1 << 31)
#define TASK_MAX_SEQ ((size_t)1 << 24)

static const task_ops *const TASKS[] = {&gf_task_selective_copy, &gf_task_induction_heads, &gf_task_phonebook};
#define N_TASKS (sizeof TASKS / sizeof *TASKS)

static const task_ops *ops_of(gf_task_kind kind) {
    for (size_t i = 0; i < N_TASKS; i++)
        if (TASKS[i]->kind == kind) return TASKS[i];
    return NULL;
}

const char *gf_task_name(gf_task_kind kind) {
    const task_ops *o = ops_of(kind);
    return o ? o->name : "?";
}

int gf_task_from_name(const char *name, gf_task_kind *kind, gf_error *err) {
    for (size_t i = 0; i < N_TASKS; i++)
        if (!strcmp(name, TASKS[i]->name)) {
            *kind = TASKS[i]->kind;
            return 0;
        }
    return gf_fail(err, "unknown task '%s' (selective-copy, induction-heads or phonebook)", name);
}

void gf_task_defaults(gf_task_kind kind, gf_task_config *c) {
    *c = (gf_task_config){.kind = kind, .seq = 256, .symbols = 16};
    const task_ops *o = ops_of(kind);
    if (o) o->defaults(c);
}

int gf_task_check(gf_task_config *c, gf_error *err) {
    const task_ops *o = ops_of(c->kind);
    if (!o) return gf_fail(err, "unknown task kind %d", (int)c->kind);
    if (c->symbols < 1 || c->symbols > TASK_MAX_VOCAB)
        return gf_fail(err, "%s: symbols %d must be in 1..%d", o->name, c->symbols, TASK_MAX_VOCAB);
    if (c->seq > TASK_MAX_SEQ) return gf_fail(err, "%s: seq %zu is past the %zu allowed", o->name, c->seq, TASK_MAX_SEQ);
    if (o->check(c, err)) return -1;
    gf_task_vocab v;
    o->vocab(c, &v);
    if (v.vocab_size > TASK_MAX_VOCAB)
        return gf_fail(err, "%s: %d symbols make a vocabulary of %d, more than the %d uint16 token files hold", o->name,
                       c->symbols, v.vocab_size, TASK_MAX_VOCAB);
    return 0;
}

void gf_task_vocab_of(const gf_task_config *c, gf_task_vocab *v) {
    const task_ops *o = ops_of(c->kind);
    if (o) o->vocab(c, v);
    else *v = gf_task_vocab_base();
}

int gf_task_generate(gf_task_config *c, size_t examples, uint64_t seed, int32_t **tokens, uint8_t **mask,
                     size_t *n, gf_error *err) {
    *tokens = NULL;
    *mask = NULL;
    *n = 0;
    if (gf_task_check(c, err)) return -1;
    const task_ops *o = ops_of(c->kind);
    if (examples == 0) return gf_fail(err, "%s: no examples asked for", o->name);
    size_t cap = gf_mul_sat(examples, c->seq);
    if (cap > TASK_MAX_TOKENS)
        return gf_fail(err, "%s: %zu examples of up to %zu tokens are more than the %zu tokens a task file may hold",
                       o->name, examples, c->seq, TASK_MAX_TOKENS);
    gf_task_vocab v;
    o->vocab(c, &v);
    int32_t *tok = gf_calloc(cap, sizeof *tok, "task tokens", err);
    uint8_t *m = tok ? gf_calloc(cap, 1, "task mask", err) : NULL;
    uint32_t *work = NULL;
    if (m && o->work_slots) work = gf_calloc(o->work_slots(c), sizeof *work, "task work space", err);
    if (!tok || !m || (o->work_slots && !work)) {
        free(tok);
        free(m);
        return -1;
    }
    uint64_t rng[4];
    gf_rng_seed(rng, seed);
    size_t at = 0;
    for (size_t e = 0; e < examples; e++) at += o->example(c, &v, rng, work, tok + at, m + at);
    free(work);
    *tokens = tok;
    *mask = m;
    *n = at;
    return 0;
}

/* ---- files ---------------------------------------------------------------- */

static void add_range(cJSON *o, const char *key, int first, int count) {
    cJSON *a = cJSON_AddArrayToObject(o, key);
    cJSON_AddItemToArray(a, cJSON_CreateNumber(first));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(first + count - 1));
}

static int write_description(gf_file_set *set, const char *path, const gf_task_config *c, size_t examples,
                             uint64_t seed, const gf_task_summary *s, gf_error *err) {
    const task_ops *o = ops_of(c->kind);
    gf_task_vocab v;
    o->vocab(c, &v);
    cJSON *r = cJSON_CreateObject();
    if (!r) {
        gf_file_set_discard(set);
        return gf_fail(err, "%s: out of memory", path);
    }
    char num[32];
    cJSON_AddStringToObject(r, "format", "griffin-task-1");
    cJSON_AddStringToObject(r, "task", o->name);
    cJSON_AddNumberToObject(r, "vocab_size", v.vocab_size);
    cJSON_AddNumberToObject(r, "examples", (double)examples);
    snprintf(num, sizeof num, "%" PRIu64, seed); /* a string: JSON numbers lose 64-bit seeds */
    cJSON_AddStringToObject(r, "seed", num);
    cJSON_AddNumberToObject(r, "seq", (double)c->seq);
    cJSON_AddNumberToObject(r, "tokens", (double)s->tokens);
    cJSON_AddNumberToObject(r, "answers", (double)s->answers);
    cJSON_AddNumberToObject(r, "shortest", (double)s->shortest);
    cJSON_AddNumberToObject(r, "longest", (double)s->longest);
    cJSON *opt = cJSON_AddObjectToObject(r, "options");
    cJSON_AddNumberToObject(opt, "symbols", c->symbols);
    if (c->kind == GF_TASK_SELECTIVE_COPY) cJSON_AddNumberToObject(opt, "data_tokens", c->data_tokens);
    if (c->kind == GF_TASK_PHONEBOOK) {
        cJSON_AddNumberToObject(opt, "entries", c->entries);
        cJSON_AddNumberToObject(opt, "min_entries", c->min_entries);
        cJSON_AddNumberToObject(opt, "name_len", c->name_len);
        cJSON_AddNumberToObject(opt, "number_len", c->number_len);
    }
    cJSON *ids = cJSON_AddObjectToObject(r, "ids");
    cJSON_AddNumberToObject(ids, "pad", TASK_PAD);
    cJSON_AddNumberToObject(ids, "eos", TASK_EOS);
    cJSON_AddNumberToObject(ids, "bos", v.bos);
    if (v.noise >= 0) cJSON_AddNumberToObject(ids, "noise", v.noise);
    if (v.sep >= 0) cJSON_AddNumberToObject(ids, "separator", v.sep);
    if (v.end >= 0) cJSON_AddNumberToObject(ids, "end", v.end);
    cJSON_AddNumberToObject(ids, o->marker_name, v.marker);
    if (v.first_digit >= 0) add_range(ids, "digits", v.first_digit, 10);
    add_range(ids, "symbols", v.first_symbol, v.n_symbols);
    return gf_write_json_set(set, path, r, err);
}

/* PREFIX's folder, when it names one that is not there yet. */
static int make_parent(const char *prefix, gf_error *err) {
    const char *slash = strrchr(prefix, '/');
    if (!slash || slash == prefix) return 0;
    char dir[4096];
    size_t n = (size_t)(slash - prefix);
    if (n >= sizeof dir) return gf_fail(err, "%s: path too long", prefix);
    memcpy(dir, prefix, n);
    dir[n] = 0;
    return gf_mkdir_p(dir, err);
}

int gf_task_write(gf_task_config *c, size_t examples, uint64_t seed, const char *prefix,
                  gf_task_summary *summary, gf_error *err) {
    char tok_path[4096], mask_path[4096], json_path[4096];
    if (snprintf(tok_path, sizeof tok_path, "%s.tokens.npy", prefix) >= (int)sizeof tok_path ||
        snprintf(mask_path, sizeof mask_path, "%s.mask.npy", prefix) >= (int)sizeof mask_path ||
        snprintf(json_path, sizeof json_path, "%s.task.json", prefix) >= (int)sizeof json_path)
        return gf_fail(err, "%s: path too long", prefix);
    int32_t *tok;
    uint8_t *m;
    size_t n;
    if (gf_task_generate(c, examples, seed, &tok, &m, &n, err)) return -1;
    int rc = -1;
    gf_task_summary s = {.tokens = n, .shortest = SIZE_MAX};
    /* the ids fit 16 bits (gf_task_check) */
    uint16_t *u = gf_calloc(n, sizeof *u, "task tokens", err);
    if (!u) goto out;
    for (size_t i = 0, from = 0; i < n; i++) {
        s.answers += m[i];
        if (i > 0 && tok[i] == TASK_BOS) {
            size_t len = i - from;
            s.shortest = len < s.shortest ? len : s.shortest;
            s.longest = len > s.longest ? len : s.longest;
            from = i;
        }
        if (i + 1 == n) {
            size_t len = n - from;
            s.shortest = len < s.shortest ? len : s.shortest;
            s.longest = len > s.longest ? len : s.longest;
        }
        u[i] = (uint16_t)tok[i];
    }
    size_t shape[1] = {n};
    /* the three replace an earlier set together: tokens beside another
     * set's masks of the same length would train on the wrong positions */
    gf_file_set set = {0};
    if (make_parent(prefix, err) || gf_npy_write_set(&set, tok_path, GF_NPY_U16, shape, 1, u, err) ||
        gf_npy_write_set(&set, mask_path, GF_NPY_U8, shape, 1, m, err) ||
        write_description(&set, json_path, c, examples, seed, &s, err) || gf_file_set_commit(&set, err))
        goto out;
    if (summary) *summary = s;
    rc = 0;
out:
    free(u);
    free(tok);
    free(m);
    return rc;
}
