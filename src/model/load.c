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

#include "kernels/actq.h"
#include "model.h"
#include "kernels/quant.h"
#include "util.h"

#define GF_MAX_SHARDS 1024

typedef struct {
    gf_model *m;
    const char *dir;
    float *arena_next;
    float *arena_end;
    int type_seen[GF_W_COUNT]; /* 2-D matrices of each weight type */
    int gates_float;           /* RG-LRU gate weights not in F32 */
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

/* Finds `name` and checks it has exactly the dims given (ndim of them) and
 * the dtype: a float type, or `codes` (I8 / U8, the quantised codes) when
 * that is not F32. */
static const gf_st_tensor *get_typed(loader *ld, gf_error *err, const char *name, int ndim,
                                     const size_t *dims, gf_dtype codes) {
    const gf_st_file *f = NULL;
    const gf_st_tensor *t = find_tensor(ld, name, &f);
    if (!t) {
        gf_fail(err, "%s/%s: missing tensor '%s'", ld->dir,
                ld->sharded ? "model.safetensors.index.json" : "model.safetensors", name);
        return NULL;
    }
    if (codes != GF_DT_F32 ? t->dtype != codes
                           : t->dtype != GF_DT_F32 && t->dtype != GF_DT_BF16 && t->dtype != GF_DT_F16) {
        if (codes != GF_DT_F32)
            gf_fail(err, "%s: tensor '%s' has dtype %s; quantisation scales must be F16", f->path, name, gf_dtype_name(t->dtype));
        else
            gf_fail(err, "%s: tensor '%s' has dtype %s; weights must be F32, BF16 or F16 (or I8 / U8 codes of a Q8 / Q4 matrix)", f->path, name, gf_dtype_name(t->dtype));
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
    if (gf_check_finite(f->path, t, err)) return NULL;
    return t;
}

/* Refuses a tensor that holds a NaN or an infinity, naming it and the first
 * such element: every weight is checked at load (docs/formats.md has the
 * cost, about a page-in of the weights, which the copy into memory or the
 * packing pays anyway), so a damaged file fails here in one line rather
 * than as NaN logits, or undefined behaviour in a quantiser, later. */
int gf_check_finite(const char *path, const gf_st_tensor *t, gf_error *err) {
    size_t i = gf_first_nonfinite(t->data, t->dtype, t->numel);
    if (i == t->numel) return 0;
    float v;
    gf_convert_to_f32(&v, (const char *)t->data + i * gf_dtype_size(t->dtype), t->dtype, 1);
    const char *what = v != v ? "NaN" : v > 0 ? "+Inf" : "-Inf";
    if (t->ndim == 2)
        return gf_fail(err, "%s: tensor '%s' holds %s at element %zu (row %zu, column %zu): non-finite weights", path,
                       t->name, what, i, i / t->shape[1], i % t->shape[1]);
    return gf_fail(err, "%s: tensor '%s' holds %s at element %zu: non-finite weights", path, t->name, what, i);
}

static const gf_st_tensor *get(loader *ld, gf_error *err, const char *name, int ndim,
                               const size_t *dims) {
    return get_typed(ld, err, name, ndim, dims, GF_DT_F32);
}

static gf_wtype wtype_of(gf_dtype dt) {
    return dt == GF_DT_BF16 ? GF_W_BF16 : dt == GF_DT_F16 ? GF_W_F16 : GF_W_F32;
}

/* A matrix [rows, cols]: a float tensor, or griffin's Q8 (I8 codes [rows,
 * cols]) or Q4 (U8 codes [rows, nblocks * 16]) with its F16 block scales
 * [rows, nblocks] in `name`_scale (kernels/quant.h). */
static int get_mat(loader *ld, gf_error *err, gf_mat *out, const char *name, size_t rows,
                   size_t cols) {
    const gf_st_file *f = NULL;
    const gf_st_tensor *t = find_tensor(ld, name, &f);
    gf_dtype dt = t && (t->dtype == GF_DT_I8 || t->dtype == GF_DT_U8) ? t->dtype : GF_DT_F32;
    size_t nb = gf_q_nblocks(cols);
    size_t dims[2] = {rows, dt == GF_DT_U8 ? gf_q4_row_bytes(cols) : cols};
    if (!(t = get_typed(ld, err, name, 2, dims, dt))) return -1;
    *out = (gf_mat){wtype_of(t->dtype), t->data, NULL, rows, cols, NULL, NULL, NULL};
    if (dt != GF_DT_F32) {
        char sn[300];
        snprintf(sn, sizeof sn, "%s_scale", name);
        size_t sd[2] = {rows, nb};
        const gf_st_tensor *s = get_typed(ld, err, sn, 2, sd, GF_DT_F16);
        if (!s) return -1;
        out->type = dt == GF_DT_I8 ? GF_W_Q8 : GF_W_Q4;
        out->scale = s->data;
    }
    ld->type_seen[out->type]++;
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

/* One tensor of the table into its view: a matrix stays in the mapping, the
 * small ones are converted into the arena. */
static int bind(loader *ld, const gf_tensor_slot *s, gf_error *err) {
    void *view = gf_tensor_view(ld->m, s);
    if (s->def->kind == GF_TK_MAT) return get_mat(ld, err, view, s->name, s->shape[0], s->shape[1]);
    if (s->def->kind == GF_TK_VEC) return get_vec(ld, err, view, s->name, s->ndim, s->shape);
    const gf_st_tensor *t = get(ld, err, s->name, s->ndim, s->shape);
    if (!t) return -1;
    if (s->def->kind == GF_TK_GATES) { /* [H, bw, bw] viewed as [H*bw, bw] */
        *(gf_mat *)view = (gf_mat){wtype_of(t->dtype), t->data, NULL, s->shape[0] * s->shape[1],
                                   s->shape[2], NULL, NULL, NULL};
        ld->gates_float += t->dtype != GF_DT_F32;
        return 0;
    }
    size_t L = s->shape[0], W = s->shape[2]; /* CONV */
    if ((size_t)(ld->arena_end - ld->arena_next) < W * L)
        return gf_fail(err, "internal error: small-tensor arena too small");
    gf_conv_from_file(ld->arena_next, t->data, t->dtype, L, W);
    *(const float **)view = ld->arena_next;
    ld->arena_next += W * L;
    return 0;
}

/* The decode step's copy of the RG-LRU gate weights: F32 with each block
 * transposed, so a batch of a few rows reads every output channel's weights
 * contiguously (gf_block_diag). 2 L bw floats per recurrent layer. */
static int make_gates_t(gf_model *m, gf_error *err) {
    size_t n = 0, bw = 0;
    for (int i = 0; i < m->n_slots; i++)
        if (m->slots[i].def->kind == GF_TK_GATES) {
            n += m->slots[i].numel;
            bw = m->slots[i].shape[2];
        }
    if (n == 0) return 0;
    m->gates_t = gf_calloc(n, sizeof(float), "transposed gate weights", err);
    if (!m->gates_t) return -1;
    float *row = gf_calloc(bw, sizeof(float), "gate row", err);
    if (!row) return -1;
    float *p = m->gates_t;
    for (int i = 0; i < m->n_slots; i++) {
        const gf_tensor_slot *s = &m->slots[i];
        if (s->def->kind != GF_TK_GATES) continue;
        gf_mat *g = gf_tensor_view(m, s);
        size_t H = s->shape[0];
        for (size_t h = 0; h < H; h++)
            for (size_t r = 0; r < bw; r++) { /* w[h, r, :] -> column r of block h */
                gf_mat_row(g, h * bw + r, row);
                for (size_t j = 0; j < bw; j++) p[h * bw * bw + j * bw + r] = row[j];
            }
        g->blocks_t = p;
        p += s->numel;
    }
    free(row);
    return 0;
}

/* The products' mats (the table's MAT tensors: the embedding, as the
 * unembedding, and every layer's projections; the gates are apart, they go
 * through gf_block_diag) that are Q8 / Q4 (quantised) or not (the float
 * ones), in the order make_packed and gf_model_copy_weights fill their
 * arenas. out: room for m->n_slots. */
static int product_mats(gf_model *m, int quantised, gf_mat **out) {
    int n = 0;
    for (int i = 0; i < m->n_slots; i++) {
        if (m->slots[i].def->kind != GF_TK_MAT) continue;
        gf_mat *w = gf_tensor_view(m, &m->slots[i]);
        if (w->data && !gf_actq_type(w->type) == !quantised) out[n++] = w;
    }
    return n;
}

static size_t round64(size_t n) { return (n + 63) / 64 * 64; }

/* Whether [p, p + n) lies in one of the model's file mappings. */
static int in_mapping(const gf_model *m, const void *p, size_t n) {
    const uint8_t *q = p;
    for (int i = 0; i < m->nfiles; i++) {
        const uint8_t *a = m->files[i].map.data;
        if (a && q >= a && n <= m->files[i].map.size && (size_t)(q - a) <= m->files[i].map.size - n) return 1;
    }
    return 0;
}

/* Releases [p, p + n) once copied elsewhere, if it is mapped from a file:
 * a later read maps the file's pages again, where on other memory (a
 * trainable model's parameters) MADV_DONTNEED would zero them. */
static void release_mapped(const gf_model *m, const void *p, size_t n) {
    if (in_mapping(m, p, n)) gf_release_pages(p, n);
}

/* On CPUs with an integer kernel (AVX512-VNNI or AVX2), the Q8 / Q4 products' weights copied into the
 * packed order of the integer-dot kernel (kernels/quant.h), in one arena.
 * The copy replaces the file's pages in memory: those are released once
 * copied (the embedding lookup and the float-input path read them again
 * from the file when they need them), so a model costs its size once. */
static int make_packed(gf_model *m, gf_error *err) {
    if (m->packed || !m->has_int8_weights || !gf_cpu_has_int8_dot()) return 0;
    gf_mat **mats = gf_calloc((size_t)m->n_slots, sizeof *mats, "packed weights", err);
    if (!mats) return -1;
    int n = product_mats(m, 1, mats);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += round64(gf_q_packed_bytes(mats[i])) + round64(gf_q_packed_scale_bytes(mats[i]));
    m->packed = total ? gf_alloc_huge(total) : NULL;
    if (total && !m->packed) {
        free(mats);
        return gf_fail(err, "out of memory for the packed weights (%zu bytes)", total);
    }
    uint8_t *p = m->packed;
    for (int i = 0; i < n; i++) {
        size_t cb = round64(gf_q_packed_bytes(mats[i])), sb = round64(gf_q_packed_scale_bytes(mats[i]));
        gf_q_pack(mats[i], p, (uint16_t *)(p + cb));
        p += cb + sb;
        release_mapped(m, mats[i]->data, mats[i]->rows * gf_mat_row_bytes(mats[i]));
        release_mapped(m, mats[i]->scale, mats[i]->rows * gf_q_nblocks(mats[i]->cols) * sizeof(uint16_t));
    }
    free(mats);
    return 0;
}

int gf_model_copy_weights(gf_model *m, gf_error *err) {
    if (m->copied) return 0;
    gf_mat **mats = gf_calloc((size_t)m->n_slots, sizeof *mats, "weight copy", err);
    if (!mats) return -1;
    int n = 0, all = product_mats(m, 0, mats);
    for (int i = 0; i < all; i++) /* only what is read from a file (a trainable's are in memory already) */
        if (in_mapping(m, mats[i]->data, mats[i]->rows * gf_mat_row_bytes(mats[i]))) mats[n++] = mats[i];
    size_t total = 0;
    for (int i = 0; i < n; i++) total += round64(mats[i]->rows * gf_mat_row_bytes(mats[i]));
    if (total == 0) {
        free(mats);
        return 0;
    }
    /* A model that would not fit in memory beside the rest of the system
     * stays mapped: mapped, the system can still drop its pages and read
     * them back, where a copy past the available memory would swap or get
     * the process killed. */
    size_t avail = gf_mem_available();
    if (!gf_mem_fits(total, avail)) {
        free(mats);
        return gf_fail(err, "weights not copied: %zu MiB would leave under 1 GiB of the %zu MiB available; they stay mapped from the file",
                       total >> 20, avail >> 20);
    }
    uint8_t *a = gf_alloc_huge(total);
    if (!a) {
        free(mats);
        return gf_fail(err, "out of memory for a copy of the weights (%zu MiB): they stay mapped from the file",
                       total >> 20);
    }
    uint8_t *p = a;
    for (int i = 0; i < n; i++) {
        size_t bytes = mats[i]->rows * gf_mat_row_bytes(mats[i]);
        gf_copy_parallel(p, mats[i]->data, bytes);
        gf_release_pages(mats[i]->data, bytes);
        mats[i]->data = p;
        p += round64(bytes);
    }
    free(mats);
    m->copied = a;
    m->copied_bytes = total;
    return 0;
}

size_t gf_model_copied_bytes(const gf_model *m) { return m->copied ? m->copied_bytes : 0; }

/* Frees the packed copy (the products then read the file's codes, paged in
 * again as they are read). */
static void drop_packed(gf_model *m) {
    if (!m->packed) return;
    for (int i = 0; i < m->n_slots; i++)
        if (m->slots[i].def->kind == GF_TK_MAT) {
            gf_mat *w = gf_tensor_view(m, &m->slots[i]);
            w->packed = NULL;
            w->packed_scale = NULL;
        }
    free(m->packed);
    m->packed = NULL;
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
    size_t L = (size_t)c->lru_width;
    m->n_slots = gf_tensor_slots(c, NULL);
    m->slots = gf_calloc((size_t)m->n_slots, sizeof *m->slots, "tensor table", err);
    if (!m->slots) goto fail;
    gf_tensor_slots(c, m->slots);
    /* the small tensors, held as F32 */
    size_t small = 0;
    for (int i = 0; i < m->n_slots; i++)
        if (m->slots[i].def->kind == GF_TK_VEC || m->slots[i].def->kind == GF_TK_CONV) small += m->slots[i].numel;
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
    for (int i = 0; i < c->num_layers; i++) m->layers[i].type = (gf_block_type)c->block_types[i];
    loader ld = {m, dir, m->small, m->small + small, {0}, 0, sharded};
    for (int i = 0; i < m->n_slots; i++)
        if (bind(&ld, &m->slots[i], err) != 0) goto fail;
    if (make_gates_t(m, err) != 0) goto fail;
    for (int i = 0; i < m->nfiles; i++) m->weight_bytes += m->files[i].map.size;
    int kinds = 0;
    gf_wtype only = GF_W_F32;
    for (int k = 0; k < GF_W_COUNT; k++)
        if (ld.type_seen[k]) {
            kinds++;
            only = (gf_wtype)k;
        }
    m->all_f32 = kinds == 1 && only == GF_W_F32 && ld.gates_float == 0;
    m->dtype_name = kinds > 1 ? "mixed" : gf_wtype_name(only);
    m->scratch_floats = m->all_f32 ? 0 : gf_kernel_scratch_floats(L / (size_t)c->num_heads);
    m->has_int8_weights = ld.type_seen[GF_W_Q8] || ld.type_seen[GF_W_Q4];
    m->has_bf16_weights = ld.type_seen[GF_W_BF16];
    if (make_packed(m, err) != 0) goto fail;
    gf_model_set_narrow_inputs(m, 1);
    return m;
fail:
    gf_model_free(m);
    return NULL;
}

void gf_model_set_narrow_inputs(gf_model *m, int on) {
    const gf_config *c = &m->cfg;
    /* the widest input of any product: the residual stream (projections in,
     * unembedding), the recurrence (out projection), the MLP (down) */
    size_t K = (size_t)c->width;
    if ((size_t)c->lru_width > K) K = (size_t)c->lru_width;
    if ((size_t)c->mlp_width > K) K = (size_t)c->mlp_width;
    if ((size_t)c->num_heads * (size_t)c->head_dim > K) K = (size_t)c->num_heads * (size_t)c->head_dim;
    /* the integer path needs the packed copy: made when turned on (if memory
     * for it cannot be had, the products stay float), freed when off */
    if (!on) drop_packed(m);
    else {
        gf_error e;
        (void)make_packed(m, &e);
    }
    int usable = m->packed || (m->has_bf16_weights && gf_cpu_has_avx512bf16());
    m->xq_cols = on && usable ? K : 0;
}

int gf_model_narrow_inputs(const gf_model *m) { return m->xq_cols != 0; }

size_t gf_model_amx_from(const gf_model *m) {
    if (!gf_model_narrow_inputs(m) || !gf_cpu_has_amx()) return 0;
    switch (m->embed.type) { /* the unembedding's type: most of a step's products */
    case GF_W_Q4: return GF_AMX_MIN_INPUTS_Q4;
    case GF_W_BF16: return GF_AMX_MIN_INPUTS_BF16;
    default: return 0;
    }
}

void gf_model_free(gf_model *m) {
    if (!m) return;
    for (int i = 0; i < m->nfiles; i++) gf_st_close(&m->files[i]);
    free(m->files);
    free(m->layers);
    free(m->slots);
    free(m->small);
    free(m->gates_t);
    free(m->packed);
    free(m->copied);
    free(m);
}

const gf_config *gf_model_config(const gf_model *m) { return &m->cfg; }
size_t gf_model_weight_bytes(const gf_model *m) { return m->weight_bytes; }

size_t gf_model_tensor_bytes(const gf_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->nfiles; i++)
        for (size_t j = 0; j < m->files[i].count; j++) n += m->files[i].tensors[j].nbytes;
    return n;
}
const char *gf_model_weight_dtype(const gf_model *m) { return m->dtype_name; }

size_t gf_model_decode_bytes(const gf_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->n_slots; i++) {
        const gf_tensor_slot *s = &m->slots[i];
        if (s->def->kind != GF_TK_MAT && s->def->kind != GF_TK_GATES) continue;
        const gf_mat *w = gf_tensor_view((gf_model *)m, s);
        /* the gates as decode reads them: the F32 transposed copy */
        n += s->def->kind == GF_TK_GATES && w->blocks_t ? w->rows * w->cols * sizeof(float) : gf_mat_bytes(w);
    }
    return n;
}
