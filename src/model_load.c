/* Loading a model directory: config.json, then every tensor under its
 * Hugging Face name, checked for presence, dtype and shape. Large matrices
 * stay in the mapping; the small vectors (norms, biases, conv, a_param) are
 * converted to float into one arena. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"
#include "util.h"

#define GF_MAX_SHARDS 1024

typedef struct {
    gf_model *m;
    const char *dir;
    float *arena_next;
    float *arena_end;
    int dtype_seen[3];
    int sharded; /* weights listed by model.safetensors.index.json */
} loader;

static const gf_st_tensor *find_tensor(loader *ld, const char *name, const gf_st_file **file) {
    for (int i = 0; i < ld->m->nfiles; i++) {
        const gf_st_tensor *t = gf_st_find(&ld->m->files[i], name);
        if (t) {
            *file = &ld->m->files[i];
            return t;
        }
    }
    return NULL;
}

static void shape_str(char *buf, size_t n, const size_t *dims, int nd) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%zu", i ? ", " : "", dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* Finds `name` and checks it has exactly the dims given (ndim of them). */
static const gf_st_tensor *get(loader *ld, gf_error *err, const char *name, int ndim,
                               const size_t *dims) {
    const gf_st_file *f = NULL;
    const gf_st_tensor *t = find_tensor(ld, name, &f);
    if (!t) {
        gf_fail(err, "%s/%s: missing tensor '%s'", ld->dir,
                ld->sharded ? "model.safetensors.index.json" : "model.safetensors", name);
        return NULL;
    }
    if (t->dtype != GF_DT_F32 && t->dtype != GF_DT_BF16 && t->dtype != GF_DT_F16) {
        gf_fail(err, "%s: tensor '%s' has dtype %s; weights must be F32, BF16 or F16", f->path, name, gf_dtype_name(t->dtype));
        return NULL;
    }
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == dims[i];
    if (!ok) {
        char got[128], want[128];
        shape_str(got, sizeof got, t->shape, t->ndim);
        shape_str(want, sizeof want, dims, ndim);
        gf_fail(err, "%s: tensor '%s' has shape %s, expected %s", f->path, name, got, want);
        return NULL;
    }
    ld->dtype_seen[t->dtype]++;
    return t;
}

static int get_mat(loader *ld, gf_error *err, gf_mat *out, const char *name, size_t rows,
                   size_t cols) {
    size_t dims[2] = {rows, cols};
    const gf_st_tensor *t = get(ld, err, name, 2, dims);
    if (!t) return -1;
    out->dtype = t->dtype;
    out->data = t->data;
    out->rows = rows;
    out->cols = cols;
    return 0;
}

/* A small tensor converted to float into the arena. */
static int get_vec(loader *ld, gf_error *err, const float **out, const char *name, int ndim,
                   const size_t *dims) {
    const gf_st_tensor *t = get(ld, err, name, ndim, dims);
    if (!t) return -1;
    if ((size_t)(ld->arena_end - ld->arena_next) < t->numel)
        return gf_fail(err, "%s: internal error: small-tensor arena too small", name);
    gf_convert_to_f32(ld->arena_next, t->data, t->dtype, t->numel);
    *out = ld->arena_next;
    ld->arena_next += t->numel;
    return 0;
}

static int get_vec1(loader *ld, gf_error *err, const float **out, const char *name, size_t n) {
    return get_vec(ld, err, out, name, 1, &n);
}

static int open_shards(gf_model *m, const char *dir, int *sharded, gf_error *err) {
    char path[4096];
    if (gf_path_join(path, sizeof path, dir, "model.safetensors.index.json", err)) return -1;
    struct stat st;
    *sharded = 0;
    if (stat(path, &st) != 0) {
        m->files = gf_calloc(1, sizeof *m->files, "model files", err);
        if (!m->files) return -1;
        if (gf_path_join(path, sizeof path, dir, "model.safetensors", err)) return -1;
        if (gf_st_open(path, &m->files[0], err) != 0) return -1;
        m->nfiles = 1;
        return 0;
    }
    *sharded = 1;
    size_t len;
    char *text = gf_read_text_file(path, 64u << 20, &len, err);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    int rc = -1;
    const cJSON *map = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(map)) {
        gf_fail(err, "%s: not JSON with a 'weight_map' object", path);
        goto out;
    }
    /* Distinct shard names, in order of first appearance. */
    const char *names[GF_MAX_SHARDS];
    int n = 0;
    for (const cJSON *it = map->child; it; it = it->next) {
        if (!cJSON_IsString(it)) {
            gf_fail(err, "%s: weight_map entry '%s' is not a file name", path, it->string);
            goto out;
        }
        const char *fn = it->valuestring;
        if (!*fn || strchr(fn, '/') || strstr(fn, "..")) {
            gf_fail(err, "%s: shard name '%.80s' must be a plain file name in the model directory", path, fn);
            goto out;
        }
        int seen = 0;
        for (int i = 0; i < n && !seen; i++) seen = !strcmp(names[i], fn);
        if (seen) continue;
        if (n == GF_MAX_SHARDS) {
            gf_fail(err, "%s: more than %d shards", path, GF_MAX_SHARDS);
            goto out;
        }
        names[n++] = fn;
    }
    if (n == 0) {
        gf_fail(err, "%s: weight_map is empty", path);
        goto out;
    }
    m->files = gf_calloc((size_t)n, sizeof *m->files, "model files", err);
    if (!m->files) goto out;
    for (int i = 0; i < n; i++) {
        char sp[4096];
        if (gf_path_join(sp, sizeof sp, dir, names[i], err)) goto out;
        if (gf_st_open(sp, &m->files[i], err) != 0) goto out;
        m->nfiles++;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

static int bind_layer(loader *ld, int i, gf_error *err) {
    gf_model *m = ld->m;
    const gf_config *c = &m->cfg;
    gf_layer_weights *lw = &m->layers[i];
    size_t D = (size_t)c->width, E = (size_t)c->mlp_width, L = (size_t)c->lru_width;
    size_t H = (size_t)c->num_heads, hd = (size_t)c->head_dim, W = (size_t)c->conv_width;
    char n[256];
#define NAME(suffix) (snprintf(n, sizeof n, "model.layers.%d.%s", i, suffix), n)
    lw->type = (gf_block_type)c->block_types[i];
    if (get_vec1(ld, err, &lw->temporal_norm, NAME("temporal_pre_norm.weight"), D) ||
        get_vec1(ld, err, &lw->channel_norm, NAME("channel_pre_norm.weight"), D) ||
        get_mat(ld, err, &lw->gate, NAME("mlp_block.gate_proj.weight"), E, D) ||
        get_vec1(ld, err, &lw->gate_b, NAME("mlp_block.gate_proj.bias"), E) ||
        get_mat(ld, err, &lw->up, NAME("mlp_block.up_proj.weight"), E, D) ||
        get_vec1(ld, err, &lw->up_b, NAME("mlp_block.up_proj.bias"), E) ||
        get_mat(ld, err, &lw->down, NAME("mlp_block.down_proj.weight"), D, E) ||
        get_vec1(ld, err, &lw->down_b, NAME("mlp_block.down_proj.bias"), D))
        return -1;
    if (lw->type == GF_BLOCK_ATTENTION) {
        return get_mat(ld, err, &lw->q, NAME("temporal_block.q_proj.weight"), D, D) ||
               get_mat(ld, err, &lw->k, NAME("temporal_block.k_proj.weight"), hd, D) ||
               get_mat(ld, err, &lw->v, NAME("temporal_block.v_proj.weight"), hd, D) ||
               get_mat(ld, err, &lw->o, NAME("temporal_block.o_proj.weight"), D, D) ||
               get_vec1(ld, err, &lw->o_b, NAME("temporal_block.o_proj.bias"), D)
                   ? -1 : 0;
    }
    size_t conv_dims[3] = {L, 1, W}, gate_dims[3] = {H, L / H, L / H}, gb_dims[2] = {H, L / H};
    if (get_mat(ld, err, &lw->lin_x, NAME("temporal_block.linear_x.weight"), L, D) ||
        get_vec1(ld, err, &lw->lin_x_b, NAME("temporal_block.linear_x.bias"), L) ||
        get_mat(ld, err, &lw->lin_y, NAME("temporal_block.linear_y.weight"), L, D) ||
        get_vec1(ld, err, &lw->lin_y_b, NAME("temporal_block.linear_y.bias"), L) ||
        get_mat(ld, err, &lw->lin_out, NAME("temporal_block.linear_out.weight"), D, L) ||
        get_vec1(ld, err, &lw->lin_out_b, NAME("temporal_block.linear_out.bias"), D) ||
        get_vec1(ld, err, &lw->conv_b, NAME("temporal_block.conv_1d.bias"), L) ||
        get_vec1(ld, err, &lw->a_param, NAME("temporal_block.rg_lru.recurrent_param"), L) ||
        get_vec(ld, err, &lw->input_gate_b, NAME("temporal_block.rg_lru.input_gate_bias"), 2, gb_dims) ||
        get_vec(ld, err, &lw->a_gate_b, NAME("temporal_block.rg_lru.recurrent_gate_bias"), 2, gb_dims))
        return -1;
    /* The gate weights [H, bw, bw] are viewed as a [H*bw, bw] matrix. */
    const gf_st_tensor *t;
    if (!(t = get(ld, err, NAME("temporal_block.rg_lru.input_gate_weight"), 3, gate_dims))) return -1;
    lw->input_gate = (gf_mat){t->dtype, t->data, L, L / H};
    if (!(t = get(ld, err, NAME("temporal_block.rg_lru.recurrent_gate_weight"), 3, gate_dims))) return -1;
    lw->a_gate = (gf_mat){t->dtype, t->data, L, L / H};
    /* HF stores the conv as [L, 1, W]; the kernels want the official [W, L]. */
    if (!(t = get(ld, err, NAME("temporal_block.conv_1d.weight"), 3, conv_dims))) return -1;
    if ((size_t)(ld->arena_end - ld->arena_next) < W * L)
        return gf_fail(err, "internal error: small-tensor arena too small");
    float *cw = ld->arena_next;
    size_t es = gf_dtype_size(t->dtype);
    for (size_t k = 0; k < W; k++)
        for (size_t ch = 0; ch < L; ch++)
            gf_convert_to_f32(&cw[k * L + ch], (const char *)t->data + (ch * W + k) * es, t->dtype, 1);
    ld->arena_next += W * L;
    lw->conv_w = cw;
#undef NAME
    return 0;
}

gf_model *gf_model_load(const char *dir, gf_error *err) {
    gf_model *m = gf_calloc(1, sizeof *m, "model", err);
    if (!m) return NULL;
    char path[4096];
    int sharded = 0;
    if (gf_path_join(path, sizeof path, dir, "config.json", err) ||
        gf_config_load(path, &m->cfg, err) != 0 || open_shards(m, dir, &sharded, err) != 0)
        goto fail;
    const gf_config *c = &m->cfg;
    size_t D = (size_t)c->width, E = (size_t)c->mlp_width, L = (size_t)c->lru_width;
    size_t W = (size_t)c->conv_width;
    /* Per layer at most: 2 norms + MLP biases + recurrent vectors. */
    size_t per_layer = 2 * D + 2 * E + D + 3 * L + D + W * L + L + 2 * L + D;
    size_t small = D + (size_t)c->num_layers * per_layer;
    /* The vectors are copies of tensors in the files (at 2 or more bytes an
     * element), so never more floats than mapped bytes: a config
     * that claims sizes the weights do not have then fails on a tensor shape,
     * not on allocating for the claim. */
    size_t mapped = 0;
    for (int i = 0; i < m->nfiles; i++) mapped += m->files[i].map.size;
    if (small > mapped) small = mapped;
    m->small = gf_calloc(small, sizeof(float), "model vectors", err);
    m->layers = gf_calloc((size_t)c->num_layers, sizeof *m->layers, "model layers", err);
    if (!m->small || !m->layers) goto fail;
    loader ld = {m, dir, m->small, m->small + small, {0, 0, 0}, sharded};
    if (get_mat(&ld, err, &m->embed, "model.embed_tokens.weight", (size_t)c->vocab_size, D) ||
        get_vec1(&ld, err, &m->final_norm, "model.final_norm.weight", D))
        goto fail;
    for (int i = 0; i < c->num_layers; i++)
        if (bind_layer(&ld, i, err) != 0) goto fail;
    for (int i = 0; i < m->nfiles; i++) m->weight_bytes += m->files[i].map.size;
    int kinds = (ld.dtype_seen[0] > 0) + (ld.dtype_seen[1] > 0) + (ld.dtype_seen[2] > 0);
    m->all_f32 = ld.dtype_seen[1] == 0 && ld.dtype_seen[2] == 0;
    m->dtype_name = kinds > 1 ? "mixed" : ld.dtype_seen[1] ? "BF16" : ld.dtype_seen[2] ? "F16" : "F32";
    size_t maxc = D > E ? D : E;
    if (L > maxc) maxc = L;
    m->scratch_floats = m->all_f32 ? 0 : gf_kernel_scratch_floats(maxc, L / (size_t)c->num_heads);
    return m;
fail:
    gf_model_free(m);
    return NULL;
}

void gf_model_free(gf_model *m) {
    if (!m) return;
    for (int i = 0; i < m->nfiles; i++) gf_st_close(&m->files[i]);
    free(m->files);
    free(m->layers);
    free(m->small);
    free(m);
}

const gf_config *gf_model_config(const gf_model *m) { return &m->cfg; }
size_t gf_model_weight_bytes(const gf_model *m) { return m->weight_bytes; }
const char *gf_model_weight_dtype(const gf_model *m) { return m->dtype_name; }
