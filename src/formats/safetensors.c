#include "safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The format's own limit on the JSON header. */
#define GF_ST_MAX_HEADER (100u * 1024u * 1024u)

const char *gf_dtype_name(gf_dtype dt) {
    switch (dt) {
    case GF_DT_F32: return "F32";
    case GF_DT_BF16: return "BF16";
    case GF_DT_F16: return "F16";
    case GF_DT_I32: return "I32";
    case GF_DT_I8: return "I8";
    case GF_DT_U8: return "U8";
    }
    return "?";
}

size_t gf_dtype_size(gf_dtype dt) {
    return dt == GF_DT_F32 || dt == GF_DT_I32 ? 4 : dt == GF_DT_I8 || dt == GF_DT_U8 ? 1 : 2;
}

static int parse_dtype(const char *s, gf_dtype *dt) {
    static const char *const known_unsupported[] = {"F64", "I64", "I16", "U16",
                                                    "U32", "U64", "BOOL", "F8_E4M3",
                                                    "F8_E5M2", NULL};
    if (!strcmp(s, "F32")) *dt = GF_DT_F32;
    else if (!strcmp(s, "BF16")) *dt = GF_DT_BF16;
    else if (!strcmp(s, "F16")) *dt = GF_DT_F16;
    else if (!strcmp(s, "I32")) *dt = GF_DT_I32;
    else if (!strcmp(s, "I8")) *dt = GF_DT_I8;
    else if (!strcmp(s, "U8")) *dt = GF_DT_U8;
    else {
        for (int i = 0; known_unsupported[i]; i++)
            if (!strcmp(s, known_unsupported[i])) return 1;
        return 2;
    }
    return 0;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static int json_size(const cJSON *j, size_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d) return -1;
    *out = (size_t)d;
    return 0;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const gf_st_tensor *)a)->name, ((const gf_st_tensor *)b)->name);
}

static int cmp_begin(const void *a, const void *b) {
    const gf_st_tensor *x = *(const gf_st_tensor *const *)a, *y = *(const gf_st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

static int parse_entry(const char *path, const cJSON *item, size_t data_size,
                       const uint8_t *data, gf_st_tensor *t, gf_error *err) {
    const char *name = item->string;
    if (!cJSON_IsObject(item)) return gf_fail(err, "%s: tensor '%s' is not a JSON object", path, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(jd)) return gf_fail(err, "%s: tensor '%s' has no dtype string", path, name);
    int r = parse_dtype(jd->valuestring, &t->dtype);
    if (r == 1) return gf_fail(err, "%s: tensor '%s' has unsupported dtype %s (F32, BF16, F16 load)", path, name, jd->valuestring);
    if (r == 2) return gf_fail(err, "%s: tensor '%s' has unknown dtype '%.40s'", path, name, jd->valuestring);
    if (!cJSON_IsArray(js)) return gf_fail(err, "%s: tensor '%s' has no shape array", path, name);
    int nd = cJSON_GetArraySize(js);
    if (nd > GF_ST_MAX_DIMS) return gf_fail(err, "%s: tensor '%s' has %d dimensions (at most %d)", path, name, nd, GF_ST_MAX_DIMS);
    t->ndim = nd;
    size_t numel = 1;
    for (int i = 0; i < nd; i++) {
        if (json_size(cJSON_GetArrayItem(js, i), &t->shape[i]) != 0)
            return gf_fail(err, "%s: tensor '%s' shape entry %d is not a non-negative integer", path, name, i);
        numel = gf_mul_sat(numel, t->shape[i]);
    }
    t->numel = numel;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 ||
        json_size(cJSON_GetArrayItem(jo, 0), &t->begin) != 0 ||
        json_size(cJSON_GetArrayItem(jo, 1), &t->end) != 0)
        return gf_fail(err, "%s: tensor '%s' data_offsets is not a pair of non-negative integers", path, name);
    if (t->begin > t->end || t->end > data_size)
        return gf_fail(err, "%s: tensor '%s' offsets [%zu, %zu) outside the data section of %zu bytes", path, name, t->begin, t->end, data_size);
    size_t want = gf_mul_sat(numel, gf_dtype_size(t->dtype));
    if (t->end - t->begin != want)
        return gf_fail(err, "%s: tensor '%s' has %zu bytes but dtype %s x shape needs %zu", path, name, t->end - t->begin, gf_dtype_name(t->dtype), want);
    t->nbytes = want;
    t->data = data + t->begin;
    if (((uintptr_t)t->data) % gf_dtype_size(t->dtype) != 0)
        return gf_fail(err, "%s: tensor '%s' data is not aligned to its %zu-byte elements", path, name, gf_dtype_size(t->dtype));
    size_t nlen = strlen(name);
    t->name = malloc(nlen + 1);
    if (!t->name) return gf_fail(err, "%s: out of memory", path);
    memcpy(t->name, name, nlen + 1);
    return 0;
}

int gf_st_open(const char *path, gf_st_file *f, gf_error *err) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    if (gf_map_file(path, &f->map, err) != 0) return -1;
    const uint8_t *base = f->map.data;
    size_t size = f->map.size;
    cJSON *root = NULL;
    gf_st_tensor **by_begin = NULL;
    if (size < 8) {
        gf_fail(err, "%s: %zu bytes is too short for a safetensors file (8-byte header length missing)", path, size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
    if (hlen > size - 8) {
        gf_fail(err, "%s: header length %llu runs past the end of the file (%zu bytes)", path, (unsigned long long)hlen, size);
        goto fail;
    }
    if (hlen < 2 || hlen > GF_ST_MAX_HEADER) {
        gf_fail(err, "%s: header length %llu is not plausible for a safetensors file", path, (unsigned long long)hlen);
        goto fail;
    }
    if (base[8] != '{') {
        gf_fail(err, "%s: not a safetensors file (header does not start with '{')", path);
        goto fail;
    }
    root = cJSON_ParseWithLength((const char *)base + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        gf_fail(err, "%s: safetensors header is not valid JSON", path);
        goto fail;
    }
    const uint8_t *data = base + 8 + hlen;
    size_t data_size = size - 8 - (size_t)hlen;
    size_t n = 0;
    for (cJSON *it = root->child; it; it = it->next)
        if (strcmp(it->string, "__metadata__") != 0) n++;
    f->tensors = gf_calloc(n, sizeof *f->tensors, path, err);
    if (!f->tensors) goto fail;
    for (cJSON *it = root->child; it; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) continue;
        if (parse_entry(path, it, data_size, data, &f->tensors[f->count], err) != 0) goto fail;
        f->count++;
    }
    qsort(f->tensors, f->count, sizeof *f->tensors, cmp_name);
    for (size_t i = 1; i < f->count; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name)) {
            gf_fail(err, "%s: tensor '%s' is listed twice", path, f->tensors[i].name);
            goto fail;
        }
    by_begin = gf_calloc(f->count, sizeof *by_begin, path, err);
    if (!by_begin) goto fail;
    size_t nz = 0;
    for (size_t i = 0; i < f->count; i++)
        if (f->tensors[i].nbytes > 0) by_begin[nz++] = &f->tensors[i];
    qsort(by_begin, nz, sizeof *by_begin, cmp_begin);
    for (size_t i = 1; i < nz; i++)
        if (by_begin[i]->begin < by_begin[i - 1]->end) {
            gf_fail(err, "%s: tensors '%s' and '%s' overlap in the data section", path, by_begin[i - 1]->name, by_begin[i]->name);
            goto fail;
        }
    free(by_begin);
    cJSON_Delete(root);
    return 0;
fail:
    free(by_begin);
    cJSON_Delete(root);
    gf_st_close(f);
    return -1;
}

void gf_st_close(gf_st_file *f) {
    for (size_t i = 0; i < f->count; i++) free(f->tensors[i].name);
    free(f->tensors);
    f->tensors = NULL;
    f->count = 0;
    gf_unmap_file(&f->map);
}

const gf_st_tensor *gf_st_find(const gf_st_file *f, const char *name) {
    gf_st_tensor key;
    key.name = (char *)name;
    return bsearch(&key, f->tensors, f->count, sizeof *f->tensors, cmp_name);
}

/* Larger elements first, so that every tensor's offset is a multiple of its
 * element size (the format allows no gaps to pad with). */
static int cmp_entry_size(const void *a, const void *b) {
    const gf_st_entry *x = *(const gf_st_entry *const *)a, *y = *(const gf_st_entry *const *)b;
    size_t sx = gf_dtype_size(x->dtype), sy = gf_dtype_size(y->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return x < y ? -1 : x > y; /* stable: the caller's order within a size */
}

int gf_st_write(const char *path, const gf_st_entry *entries, size_t n, gf_error *err) {
    return gf_st_write_meta(path, entries, n, NULL, NULL, 0, err);
}

int gf_st_write_meta(const char *path, const gf_st_entry *entries, size_t n,
                     const char *const *meta_keys, const char *const *meta_values, size_t nmeta,
                     gf_error *err) {
    return gf_st_write_set(NULL, path, entries, n, meta_keys, meta_values, nmeta, err);
}

int gf_st_write_set(gf_file_set *set, const char *path, const gf_st_entry *entries_in, size_t n,
                    const char *const *meta_keys, const char *const *meta_values, size_t nmeta,
                    gf_error *err) {
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        if (set) gf_file_set_discard(set);
        return gf_fail(err, "%s: out of memory", path);
    }
    size_t offset = 0;
    int rc = -1;
    char *json = NULL;
    const void **parts = NULL;
    size_t *lens = NULL;
    int parts_done = 0; /* whether gf_file_set_add ran (it discards the set itself) */
    const gf_st_entry **order = calloc(n ? n : 1, sizeof *order);
    if (!order) {
        gf_fail(err, "%s: out of memory", path);
        goto out;
    }
    for (size_t i = 0; i < n; i++) order[i] = &entries_in[i];
    qsort(order, n, sizeof *order, cmp_entry_size);
    if (nmeta) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        if (!meta) {
            gf_fail(err, "%s: out of memory", path);
            goto out;
        }
        for (size_t i = 0; i < nmeta; i++) cJSON_AddStringToObject(meta, meta_keys[i], meta_values[i]);
    }
    for (size_t i = 0; i < n; i++) {
        const gf_st_entry *e = order[i];
        size_t numel = 1;
        for (int d = 0; d < e->ndim; d++) numel = gf_mul_sat(numel, e->shape[d]);
        size_t bytes = gf_mul_sat(numel, gf_dtype_size(e->dtype));
        cJSON *t = cJSON_CreateObject();
        cJSON *shape = cJSON_CreateArray();
        cJSON *offs = cJSON_CreateArray();
        if (!t || !shape || !offs) {
            cJSON_Delete(t); cJSON_Delete(shape); cJSON_Delete(offs);
            gf_fail(err, "%s: out of memory", path);
            goto out;
        }
        cJSON_AddItemToObject(root, e->name, t);
        cJSON_AddStringToObject(t, "dtype", gf_dtype_name(e->dtype));
        for (int d = 0; d < e->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        cJSON_AddItemToObject(t, "shape", shape);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(offset + bytes)));
        cJSON_AddItemToObject(t, "data_offsets", offs);
        offset += bytes;
    }
    json = cJSON_PrintUnformatted(root);
    if (!json) {
        gf_fail(err, "%s: out of memory", path);
        goto out;
    }
    size_t jlen = strlen(json);
    /* Pad the header with spaces so the data section starts 8-byte aligned. */
    size_t padded = (jlen + 7) / 8 * 8;
    char *hdr = realloc(json, 8 + padded);
    if (!hdr) {
        gf_fail(err, "%s: out of memory", path);
        goto out;
    }
    json = hdr;
    memmove(hdr + 8, hdr, jlen);
    memset(hdr + 8 + jlen, ' ', padded - jlen);
    uint64_t h = padded;
    for (int i = 0; i < 8; i++) hdr[i] = (char)((h >> (8 * i)) & 0xff);
    parts = calloc(n + 1, sizeof *parts);
    lens = calloc(n + 1, sizeof *lens);
    if (!parts || !lens) {
        gf_fail(err, "%s: out of memory", path);
        goto out;
    }
    parts[0] = hdr;
    lens[0] = 8 + padded;
    for (size_t i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < order[i]->ndim; d++) numel *= order[i]->shape[d];
        parts[i + 1] = order[i]->data;
        lens[i + 1] = numel * gf_dtype_size(order[i]->dtype);
    }
    rc = set ? gf_file_set_add(set, path, parts, lens, (int)(n + 1), err)
             : gf_write_file_atomic(path, parts, lens, (int)(n + 1), err);
    parts_done = 1;
out:
    if (set && !parts_done) gf_file_set_discard(set);
    free(order);
    free(parts);
    free(lens);
    free(json);
    cJSON_Delete(root);
    return rc;
}

/* The exponent field all ones: an infinity or a NaN. The largest magnitude
 * (sign cleared) of a run of elements compared once with the field's value:
 * a max reduction, which both compilers vectorise, where a search for the
 * first bad one would stop to branch on each element. */
#define NONFINITE_CHUNK ((size_t)1 << 16)
static uint32_t max_magnitude32(const uint32_t *u, size_t n) {
    uint32_t mx = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t a = u[i] & 0x7fffffffu;
        mx = a > mx ? a : mx;
    }
    return mx;
}
static uint16_t max_magnitude16(const uint16_t *h, size_t n) {
    uint16_t mx = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t a = h[i] & 0x7fffu;
        mx = a > mx ? a : mx;
    }
    return mx;
}
static int chunk_bad(const void *data, gf_dtype dt, size_t i0, size_t n) {
    if (dt == GF_DT_F32) return max_magnitude32((const uint32_t *)data + i0, n) >= 0x7f800000u;
    return max_magnitude16((const uint16_t *)data + i0, n) >= (dt == GF_DT_BF16 ? 0x7f80u : 0x7c00u);
}

size_t gf_first_nonfinite(const void *data, gf_dtype dt, size_t n) {
    if (dt != GF_DT_F32 && dt != GF_DT_BF16 && dt != GF_DT_F16) return n;
    size_t chunks = (n + NONFINITE_CHUNK - 1) / NONFINITE_CHUNK, first = chunks;
#pragma omp parallel for schedule(static) reduction(min : first) if (chunks > 1)
    for (size_t c = 0; c < chunks; c++) {
        size_t i0 = c * NONFINITE_CHUNK, len = n - i0 < NONFINITE_CHUNK ? n - i0 : NONFINITE_CHUNK;
        if (c < first && chunk_bad(data, dt, i0, len)) first = c;
    }
    if (first == chunks) return n;
    /* the chunk that has one: element by element */
    size_t i0 = first * NONFINITE_CHUNK, end = n - i0 < NONFINITE_CHUNK ? n : i0 + NONFINITE_CHUNK;
    for (size_t i = i0; i < end; i++)
        if (chunk_bad(data, dt, i, 1)) return i;
    return n; /* not reached */
}
