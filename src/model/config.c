/* config.json (Hugging Face RecurrentGemma names) <-> gf_config. */
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "griffin.h"
#include "model/model.h"
#include "model/tensors.h"
#include "util.h"

/* Sizes beyond these are refused: they would only come from a broken file,
 * and keeping them bounded keeps every size_t product far from overflow. */
#define GF_MAX_DIM (1 << 20)
#define GF_MAX_VOCAB (1 << 24)

static int get_int(const cJSON *root, const char *key, int required, int dflt, int *out,
                   const char *path, gf_error *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j)) {
        if (required) return gf_fail(err, "%s: missing field '%s'", path, key);
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsNumber(j) || floor(j->valuedouble) != j->valuedouble ||
        fabs(j->valuedouble) > 2147483647.0)
        return gf_fail(err, "%s: field '%s' must be an integer", path, key);
    *out = (int)j->valuedouble;
    return 0;
}

static int get_float(const cJSON *root, const char *key, float dflt, float *out,
                     const char *path, gf_error *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j)) {
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble))
        return gf_fail(err, "%s: field '%s' must be a finite number", path, key);
    if (fabs(j->valuedouble) > FLT_MAX)
        return gf_fail(err, "%s: field '%s' = %g is outside the float range", path, key, j->valuedouble);
    *out = (float)j->valuedouble;
    return 0;
}

static int parse_block_types(const cJSON *root, gf_config *cfg, const char *path, gf_error *err) {
    const cJSON *bt = cJSON_GetObjectItemCaseSensitive(root, "block_types");
    if (!bt || cJSON_IsNull(bt)) bt = cJSON_GetObjectItemCaseSensitive(root, "_block_types");
    if (!bt) return gf_fail(err, "%s: missing field 'block_types'", path);
    if (!cJSON_IsArray(bt)) return gf_fail(err, "%s: field 'block_types' must be a list", path);
    int n = cJSON_GetArraySize(bt);
    if (n == 0) return gf_fail(err, "%s: field 'block_types' is empty", path);
    uint8_t pattern[GF_MAX_LAYERS];
    if (n > GF_MAX_LAYERS) return gf_fail(err, "%s: 'block_types' has %d entries (at most %d)", path, n, GF_MAX_LAYERS);
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(bt, i);
        if (!cJSON_IsString(e)) return gf_fail(err, "%s: block_types[%d] is not a string", path, i);
        if (!strcmp(e->valuestring, "recurrent") || !strcmp(e->valuestring, "RECURRENT"))
            pattern[i] = GF_BLOCK_RECURRENT;
        else if (!strcmp(e->valuestring, "attention") || !strcmp(e->valuestring, "ATTENTION"))
            pattern[i] = GF_BLOCK_ATTENTION;
        else
            return gf_fail(err, "%s: block_types[%d] is '%.40s' (want 'recurrent' or 'attention')", path, i, e->valuestring);
    }
    /* Hugging Face cycles the list over the layers. */
    if (cfg->num_layers > 0 && cfg->num_layers <= GF_MAX_LAYERS)
        for (int i = 0; i < cfg->num_layers; i++) cfg->block_types[i] = pattern[i % n];
    return 0;
}

int gf_config_load(const char *path, gf_config *cfg, gf_error *err) {
    memset(cfg, 0, sizeof *cfg);
    size_t len;
    char *text = gf_read_text_file(path, 1 << 20, &len, err);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) return gf_fail(err, "%s: not valid JSON", path);
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        gf_fail(err, "%s: top level is not a JSON object", path);
        goto out;
    }
    int inter = 0, kv_heads = 0;
    if (get_int(root, "vocab_size", 1, 0, &cfg->vocab_size, path, err) ||
        get_int(root, "hidden_size", 1, 0, &cfg->width, path, err) ||
        get_int(root, "intermediate_size", 1, 0, &inter, path, err) ||
        get_int(root, "num_hidden_layers", 1, 0, &cfg->num_layers, path, err) ||
        get_int(root, "num_attention_heads", 1, 0, &cfg->num_heads, path, err) ||
        get_int(root, "attention_window_size", 1, 0, &cfg->window, path, err) ||
        get_int(root, "num_key_value_heads", 0, 1, &kv_heads, path, err) ||
        get_int(root, "conv1d_width", 0, 4, &cfg->conv_width, path, err) ||
        get_int(root, "bos_token_id", 0, 2, &cfg->bos_id, path, err) ||
        get_int(root, "eos_token_id", 0, 1, &cfg->eos_id, path, err) ||
        get_int(root, "pad_token_id", 0, 0, &cfg->pad_id, path, err))
        goto out;
    if (cfg->num_heads == 0) {
        gf_fail(err, "%s: num_attention_heads must be positive", path);
        goto out;
    }
    if (get_int(root, "head_dim", 0, cfg->width / cfg->num_heads, &cfg->head_dim, path, err) ||
        get_int(root, "lru_width", 0, cfg->width, &cfg->lru_width, path, err))
        goto out;
    if (get_float(root, "logits_soft_cap", 30.0f, &cfg->logits_soft_cap, path, err) ||
        get_float(root, "rms_norm_eps", 1e-6f, &cfg->rms_eps, path, err) ||
        get_float(root, "rope_theta", 10000.0f, &cfg->rope_theta, path, err) ||
        get_float(root, "final_w_init_variance_scale", 0.0f, &cfg->final_w_init_variance_scale, path, err))
        goto out;
    float rot = 0.5f;
    if (get_float(root, "partial_rotary_factor", 0.5f, &rot, path, err)) goto out;
    if (rot != 0.5f) {
        gf_fail(err, "%s: partial_rotary_factor %g is not supported (RecurrentGemma rotates half of each head: 0.5)", path, rot);
        goto out;
    }
    if (kv_heads != 1) {
        gf_fail(err, "%s: num_key_value_heads is %d, but Griffin's attention is multi-query (1)", path, kv_heads);
        goto out;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_activation");
    if (act && cJSON_IsString(act) && strcmp(act->valuestring, "gelu_pytorch_tanh") != 0) {
        gf_fail(err, "%s: hidden_activation '%.40s' is not supported (gelu_pytorch_tanh)", path, act->valuestring);
        goto out;
    }
    const cJSON *es = cJSON_GetObjectItemCaseSensitive(root, "embeddings_scale_by_sqrt_dim");
    cfg->embed_scale = es ? cJSON_IsTrue(es) : 1; /* HF always scales */
    if (inter <= 0 || inter % 2 != 0) {
        gf_fail(err, "%s: intermediate_size %d must be a positive even number (2 x the MLP width)", path, inter);
        goto out;
    }
    cfg->mlp_width = inter / 2;
    if (cfg->num_layers <= 0 || cfg->num_layers > GF_MAX_LAYERS) {
        gf_fail(err, "%s: num_hidden_layers %d must be in 1..%d", path, cfg->num_layers, GF_MAX_LAYERS);
        goto out;
    }
    if (parse_block_types(root, cfg, path, err)) goto out;
    if (cfg->final_w_init_variance_scale <= 0) cfg->final_w_init_variance_scale = 2.0f / (float)cfg->num_layers;
    rc = gf_config_validate(cfg, path, err);
out:
    cJSON_Delete(root);
    return rc;
}

int gf_config_validate(const gf_config *c, const char *what, gf_error *err) {
    if (c->vocab_size <= 0 || c->vocab_size > GF_MAX_VOCAB)
        return gf_fail(err, "%s: vocab_size %d must be in 1..%d", what, c->vocab_size, GF_MAX_VOCAB);
    if (c->width <= 0 || c->width > GF_MAX_DIM) return gf_fail(err, "%s: hidden_size %d must be in 1..%d", what, c->width, GF_MAX_DIM);
    if (c->mlp_width <= 0 || c->mlp_width > GF_MAX_DIM) return gf_fail(err, "%s: MLP width %d must be in 1..%d", what, c->mlp_width, GF_MAX_DIM);
    if (c->num_layers <= 0 || c->num_layers > GF_MAX_LAYERS) return gf_fail(err, "%s: num_hidden_layers %d must be in 1..%d", what, c->num_layers, GF_MAX_LAYERS);
    if (c->num_heads <= 0 || c->num_heads > c->width) return gf_fail(err, "%s: num_attention_heads %d must be in 1..hidden_size", what, c->num_heads);
    if (c->width % c->num_heads != 0)
        return gf_fail(err, "%s: hidden_size %d is not divisible by num_attention_heads %d", what, c->width, c->num_heads);
    if (c->head_dim != c->width / c->num_heads)
        return gf_fail(err, "%s: head_dim %d must equal hidden_size / num_attention_heads = %d", what, c->head_dim, c->width / c->num_heads);
    if (c->head_dim % 4 != 0)
        return gf_fail(err, "%s: head_dim %d must be a multiple of 4 (RoPE rotates pairs in the first half of each head)", what, c->head_dim);
    if (c->lru_width <= 0 || c->lru_width > GF_MAX_DIM) return gf_fail(err, "%s: lru_width %d must be in 1..%d", what, c->lru_width, GF_MAX_DIM);
    if (c->lru_width % c->num_heads != 0)
        return gf_fail(err, "%s: lru_width %d is not divisible by num_attention_heads %d (RG-LRU gate blocks)", what, c->lru_width, c->num_heads);
    if (c->window <= 0 || c->window > (1 << 24)) return gf_fail(err, "%s: attention_window_size %d must be in 1..%d", what, c->window, 1 << 24);
    if (c->conv_width <= 0 || c->conv_width > 64) return gf_fail(err, "%s: conv1d_width %d must be in 1..64", what, c->conv_width);
    if (!(c->logits_soft_cap >= 0) || !isfinite(c->logits_soft_cap)) return gf_fail(err, "%s: logits_soft_cap must be >= 0", what);
    if (!(c->rms_eps > 0)) return gf_fail(err, "%s: rms_norm_eps must be positive", what);
    if (!(c->rope_theta > 1)) return gf_fail(err, "%s: rope_theta must be > 1", what);
    const int ids[3] = {c->bos_id, c->eos_id, c->pad_id};
    const char *id_names[3] = {"bos_token_id", "eos_token_id", "pad_token_id"};
    for (int i = 0; i < 3; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return gf_fail(err, "%s: %s %d is outside the vocabulary [0, %d)", what, id_names[i], ids[i], c->vocab_size);
    for (int i = 0; i < c->num_layers; i++)
        if (c->block_types[i] > GF_BLOCK_ATTENTION) return gf_fail(err, "%s: layer %d has an unknown block type", what, i);
    return 0;
}

int gf_config_save(const gf_config *c, const char *path, gf_error *err) {
    return gf_config_save_set(NULL, c, path, err);
}

int gf_config_save_set(gf_file_set *set, const gf_config *c, const char *path, gf_error *err) {
    cJSON *r = cJSON_CreateObject();
    if (!r) {
        if (set) gf_file_set_discard(set);
        return gf_fail(err, "%s: out of memory", path);
    }
    cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("RecurrentGemmaForCausalLM"));
    cJSON_AddStringToObject(r, "model_type", "recurrent_gemma");
    cJSON_AddNumberToObject(r, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(r, "hidden_size", c->width);
    cJSON_AddNumberToObject(r, "intermediate_size", 2.0 * c->mlp_width);
    cJSON_AddNumberToObject(r, "num_hidden_layers", c->num_layers);
    cJSON_AddNumberToObject(r, "num_attention_heads", c->num_heads);
    cJSON_AddNumberToObject(r, "num_key_value_heads", 1);
    cJSON_AddNumberToObject(r, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(r, "lru_width", c->lru_width);
    cJSON_AddNumberToObject(r, "attention_window_size", c->window);
    cJSON_AddNumberToObject(r, "conv1d_width", c->conv_width);
    cJSON_AddNumberToObject(r, "logits_soft_cap", c->logits_soft_cap);
    cJSON_AddBoolToObject(r, "embeddings_scale_by_sqrt_dim", c->embed_scale);
    cJSON_AddNumberToObject(r, "rms_norm_eps", c->rms_eps);
    cJSON_AddNumberToObject(r, "partial_rotary_factor", 0.5);
    cJSON_AddNumberToObject(r, "rope_theta", c->rope_theta);
    cJSON_AddStringToObject(r, "hidden_activation", "gelu_pytorch_tanh");
    cJSON_AddBoolToObject(r, "attention_bias", 0);
    cJSON_AddBoolToObject(r, "tie_word_embeddings", 1);
    cJSON_AddNumberToObject(r, "final_w_init_variance_scale", c->final_w_init_variance_scale);
    cJSON *bt = cJSON_AddArrayToObject(r, "block_types");
    for (int i = 0; i < c->num_layers; i++)
        cJSON_AddItemToArray(bt, cJSON_CreateString(c->block_types[i] == GF_BLOCK_ATTENTION ? "attention" : "recurrent"));
    cJSON_AddStringToObject(r, "torch_dtype", "float32");
    cJSON_AddNumberToObject(r, "bos_token_id", c->bos_id);
    cJSON_AddNumberToObject(r, "eos_token_id", c->eos_id);
    cJSON_AddNumberToObject(r, "pad_token_id", c->pad_id);
    return gf_write_json_set(set, path, r, err);
}

size_t gf_config_num_attention_layers(const gf_config *c) {
    size_t n = 0;
    for (int i = 0; i < c->num_layers; i++) n += c->block_types[i] == GF_BLOCK_ATTENTION;
    return n;
}

size_t gf_config_num_params(const gf_config *c) { return gf_tensor_count_params(c); }

float gf_config_embed_multiplier(const gf_config *c) {
    if (!c->embed_scale) return 1.0f;
    return gf_bf16_to_f32(gf_f32_to_bf16(sqrtf((float)c->width)));
}
