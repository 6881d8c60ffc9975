/* Writing a model directory in another weight type (BF16, Q8, Q4): the
 * tensors of the loaded model's files, one by one, each converted or
 * quantised row by row, then one safetensors file, config.json and the
 * tokenizer files. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/quant.h"
#include "model.h"
#include "util.h"

static const char *const TYPE_NAMES[] = {"bf16", "q8", "q4"};

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Byte copy of dir/name into the set as out/name when it exists. */
static int copy_if_present(gf_file_set *set, const char *dir, const char *out, const char *name, gf_error *err) {
    char src[4096], dst[4096];
    gf_mapping map;
    if (gf_path_join(src, sizeof src, dir, name, err) || gf_path_join(dst, sizeof dst, out, name, err)) goto fail;
    FILE *f = fopen(src, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        gf_fail(err, "%s: cannot read: %s", src, strerror(errno));
        goto fail;
    }
    fclose(f);
    if (gf_map_file(src, &map, err)) goto fail;
    const void *parts[1] = {map.data};
    size_t lens[1] = {map.size};
    int rc = gf_file_set_add(set, dst, parts, lens, 1, err);
    gf_unmap_file(&map);
    return rc;
fail:
    gf_file_set_discard(set);
    return -1;
}

typedef struct {
    gf_st_entry *e;
    size_t n, cap;
    void **owned; /* the converted tensors and names, freed at the end */
    size_t nowned, owned_cap;
} entries;

static gf_st_entry *add_entry(entries *es, gf_error *err) {
    if (es->n == es->cap) {
        size_t cap = es->cap ? 2 * es->cap : 64;
        gf_st_entry *e = realloc(es->e, cap * sizeof *e);
        if (!e) {
            gf_fail(err, "out of memory for the tensor list");
            return NULL;
        }
        es->e = e;
        es->cap = cap;
    }
    memset(&es->e[es->n], 0, sizeof es->e[es->n]);
    return &es->e[es->n++];
}

static void *own(entries *es, size_t bytes, const char *what, gf_error *err) {
    if (es->nowned == es->owned_cap) {
        size_t cap = es->owned_cap ? 2 * es->owned_cap : 64;
        void **o = realloc(es->owned, cap * sizeof *o);
        if (!o) {
            gf_fail(err, "out of memory for the tensor list");
            return NULL;
        }
        es->owned = o;
        es->owned_cap = cap;
    }
    void *p = gf_calloc(bytes ? bytes : 1, 1, what, err);
    if (p) es->owned[es->nowned++] = p;
    return p;
}

/* One source tensor into its entries (one, or codes + scales). */
static int convert_tensor(entries *es, const gf_st_file *f, const gf_st_tensor *t,
                          gf_quant_type type, gf_error *err) {
    /* the table's matrices (model/tensors.h) are the quantisable ones */
    int layer;
    const gf_tensor_def *def = gf_tensor_def_by_name(t->name, &layer);
    int is_matrix = def && def->kind == GF_TK_MAT && t->ndim == 2;
    int is_float = t->dtype == GF_DT_F32 || t->dtype == GF_DT_BF16 || t->dtype == GF_DT_F16;
    if (t->dtype == GF_DT_I8 || t->dtype == GF_DT_U8 || ends_with(t->name, ".weight_scale"))
        return gf_fail(err, "%s: tensor '%s' is already quantised; quantise from the F32 / BF16 / F16 model", f->path, t->name);
    /* the loader checked the model's own tensors; this covers any other
     * float tensor the file carries along (quantising a NaN would be
     * undefined behaviour, and copying one would pass the damage on) */
    if (gf_check_finite(f->path, t, err)) return -1;
    gf_st_entry *e = add_entry(es, err);
    if (!e) return -1;
    e->name = t->name;
    e->ndim = t->ndim;
    memcpy(e->shape, t->shape, sizeof e->shape);
    e->dtype = t->dtype;
    e->data = t->data;
    if (!is_float) return 0;
    if (type == GF_QUANT_BF16 || !is_matrix) {
        if (type != GF_QUANT_BF16 || t->dtype == GF_DT_BF16) return 0; /* kept as it is */
        uint16_t *h = own(es, t->numel * 2, "BF16 tensor", err);
        if (!h) return -1;
        size_t es_in = gf_dtype_size(t->dtype);
        float buf[1024];
        for (size_t i = 0; i < t->numel; i += 1024) {
            size_t n = t->numel - i < 1024 ? t->numel - i : 1024;
            gf_convert_to_f32(buf, (const char *)t->data + i * es_in, t->dtype, n);
            for (size_t k = 0; k < n; k++) h[i + k] = gf_f32_to_bf16(buf[k]);
        }
        e->dtype = GF_DT_BF16;
        e->data = h;
        return 0;
    }
    size_t rows = t->shape[0], cols = t->shape[1], nb = gf_q_nblocks(cols);
    size_t row_bytes = type == GF_QUANT_Q8 ? gf_q8_row_bytes(cols) : gf_q4_row_bytes(cols);
    uint8_t *codes = own(es, rows * row_bytes, "quantised codes", err);
    uint16_t *scales = own(es, rows * nb * 2, "quantisation scales", err);
    if (!codes || !scales) return -1;
    size_t es_in = gf_dtype_size(t->dtype);
    int failed = 0;
    float big = 0.0f;
#pragma omp parallel reduction(| : failed) reduction(max : big)
    {
        float *row = malloc(cols * sizeof *row);
        if (!row) failed = 1;
#pragma omp for schedule(dynamic, 16)
        for (size_t r = 0; r < rows; r++) {
            if (!row) continue;
            gf_convert_to_f32(row, (const char *)t->data + r * cols * es_in, t->dtype, cols);
            for (size_t k = 0; k < cols; k++) big = fmaxf(big, fabsf(row[k]));
            if (type == GF_QUANT_Q8) gf_q8_quantize_row(row, cols, (int8_t *)codes + r * row_bytes, scales + r * nb);
            else gf_q4_quantize_row(row, cols, codes + r * row_bytes, scales + r * nb);
        }
        free(row);
    }
    if (failed) return gf_fail(err, "out of memory quantising '%s'", t->name);
    /* A block's scale is an F16 (largest 65504) of about its largest
     * magnitude / 127 (Q8) or / 7 (Q4, the scale that fits both signs):
     * past that a Q8 scale is infinite, a Q4 block loses the scale that
     * fits both signs (a little further, every candidate, and it decodes
     * to zeros). Checked before any file is written, so nothing on disk
     * changes. */
    float limit = 65504.0f * (type == GF_QUANT_Q8 ? 127.0f : 7.0f);
    if (big > limit)
        return gf_fail(err, "%s: tensor '%s' holds a weight of magnitude %.3g, beyond what %s's F16 scales reach (%.3g): "
                            "keep this model in F32 or BF16",
                       f->path, t->name, (double)big, type == GF_QUANT_Q8 ? "Q8" : "Q4", (double)limit);
    e->dtype = type == GF_QUANT_Q8 ? GF_DT_I8 : GF_DT_U8;
    e->shape[1] = row_bytes;
    e->data = codes;
    gf_st_entry *s = add_entry(es, err);
    if (!s) return -1;
    size_t len = strlen(t->name) + sizeof "_scale";
    char *name = own(es, len, "tensor name", err);
    if (!name) return -1;
    snprintf(name, len, "%s_scale", t->name);
    *s = (gf_st_entry){name, GF_DT_F16, 2, {rows, nb}, scales};
    return 0;
}

/* What convert_tensor makes of each tensor of an F32 model (as
 * gf_model_init_write saves it), counted without the data. */
void gf_config_sizes(const gf_config *c, gf_model_sizes *out) {
    memset(out, 0, sizeof *out);
    int n = gf_tensor_slots(c, NULL);
    gf_tensor_slot *slots = n > 0 ? calloc((size_t)n, sizeof *slots) : NULL;
    if (!slots) return;
    gf_tensor_slots(c, slots);
    for (int i = 0; i < n; i++) {
        const gf_tensor_slot *t = &slots[i];
        const gf_tensor_def *d = t->def;
        /* the part: the model-level tensors, the block a layer's tensor
         * belongs to (a pre-norm: the block it feeds) */
        size_t *part;
        if (d->where == GF_TW_MODEL) part = &out->params_embedding;
        else if (d->where == GF_TW_RECURRENT) part = &out->params_recurrent;
        else if (d->where == GF_TW_ATTENTION) part = &out->params_attention;
        else if (strncmp(d->name, "mlp_block.", 10) == 0 || strcmp(d->name, "channel_pre_norm.weight") == 0)
            part = &out->params_mlp;
        else if (c->block_types[t->layer] == GF_BLOCK_RECURRENT) part = &out->params_recurrent;
        else part = &out->params_attention;
        *part += t->numel;
        out->bytes_f32 += t->numel * 4;
        out->bytes_bf16 += t->numel * 2; /* every float tensor converted */
        if (d->kind == GF_TK_MAT && t->ndim == 2) {
            /* codes, and an F16 scale per block of a row */
            size_t rows = t->shape[0], cols = t->shape[1], scales = rows * gf_q_nblocks(cols) * 2;
            out->bytes_q8 += rows * gf_q8_row_bytes(cols) + scales;
            out->bytes_q4 += rows * gf_q4_row_bytes(cols) + scales;
        } else {
            out->bytes_q8 += t->numel * 4; /* kept as they were */
            out->bytes_q4 += t->numel * 4;
        }
    }
    free(slots);
}

int gf_model_quantize(const char *in_dir, const char *out_dir, gf_quant_type type,
                      void (*progress)(void *ctx, size_t done, size_t total), void *ctx,
                      gf_error *err) {
    if ((int)type < 0 || type > GF_QUANT_Q4) return gf_fail(err, "unknown weight type %d", (int)type);
    char a[PATH_MAX], b[PATH_MAX];
    if (gf_mkdir_p(out_dir, err)) return -1;
    if (realpath(in_dir, a) && realpath(out_dir, b) && !strcmp(a, b))
        return gf_fail(err, "%s: the output directory is the input; give another", out_dir);
    gf_model *m = gf_model_load(in_dir, err);
    if (!m) return -1;
    entries es = {0};
    int rc = -1;
    size_t total = 0, done = 0;
    for (int i = 0; i < m->nfiles; i++) total += m->files[i].count;
    for (int i = 0; i < m->nfiles; i++)
        for (size_t j = 0; j < m->files[i].count; j++) {
            if (convert_tensor(&es, &m->files[i], &m->files[i].tensors[j], type, err)) goto out;
            if (progress) progress(ctx, ++done, total);
        }
    char path[4096];
    const char *keys[] = {"format", "griffin_weight_type", "griffin_quant_block"};
    const char *vals[] = {"pt", TYPE_NAMES[type], "32 weights per F16 scale (NAME_scale); see griffin's docs/formats.md"};
    /* every file is on disk before any replaces what out_dir held: a full
     * disk leaves an earlier model there whole */
    gf_file_set set = {0};
    if (gf_path_join(path, sizeof path, out_dir, "model.safetensors", err) ||
        gf_st_write_set(&set, path, es.e, es.n, keys, vals, type == GF_QUANT_BF16 ? 2 : 3, err))
        goto out;
    const char *copies[] = {"config.json", "tokenizer.model", "tokenizer.json", "tokenizer_config.json",
                            "special_tokens_map.json", "generation_config.json"};
    for (size_t i = 0; i < sizeof copies / sizeof *copies; i++)
        if (copy_if_present(&set, in_dir, out_dir, copies[i], err)) goto out;
    if (gf_file_set_commit(&set, err)) goto out;
    /* a stale index would send the loader to shards that are not there */
    if (gf_path_join(path, sizeof path, out_dir, "model.safetensors.index.json", err)) goto out;
    if (remove(path) != 0 && errno != ENOENT) {
        gf_fail(err, "%s: cannot remove: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < es.nowned; i++) free(es.owned[i]);
    free(es.owned);
    free(es.e);
    gf_model_free(m);
    return rc;
}
