/* NumPy .npy files: magic "\x93NUMPY", version, header length, a Python dict
 * literal {'descr': '<i4', 'fortran_order': False, 'shape': (2, 24), }, then
 * the raw array. Everything in the header is checked against the file size. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "griffin.h"
#include "formats/npy.h"
#include "util.h"

#define NPY_MAX_HEADER 65536

static const char *dtype_descr(gf_npy_dtype dt) {
    switch (dt) {
    case GF_NPY_I32: return "<i4";
    case GF_NPY_F32: return "<f4";
    case GF_NPY_U16: return "<u2";
    case GF_NPY_U8: return "|u1";
    }
    return "?";
}

static size_t dtype_size(gf_npy_dtype dt) { return dt == GF_NPY_U8 ? 1 : dt == GF_NPY_U16 ? 2 : 4; }

/* Finds 'key': in the header dict and returns a pointer past the colon. */
static const char *find_key(const char *h, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) {
        snprintf(pat, sizeof pat, "\"%s\"", key);
        p = strstr(h, pat);
    }
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

/* Reads and checks the header of an open .npy file: dtype, shape, and that
 * the file holds exactly the data the header promises, which starts at
 * *data_off. */
static int read_header(FILE *f, const char *path, gf_npy *out, long *data_off, gf_error *err) {
    unsigned char pre[12];
    char *hdr = NULL;
    int rc = -1;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        gf_fail(err, "%s: not a .npy file (bad magic)", path);
        goto out;
    }
    int major = pre[6];
    size_t hlen;
    if (major == 1) {
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            gf_fail(err, "%s: truncated .npy header", path);
            goto out;
        }
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)pre[10] << 16) | ((size_t)pre[11] << 24);
    } else {
        gf_fail(err, "%s: unsupported .npy version %d", path, major);
        goto out;
    }
    if (hlen == 0 || hlen > NPY_MAX_HEADER) {
        gf_fail(err, "%s: .npy header length %zu is not plausible", path, hlen);
        goto out;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        gf_fail(err, "%s: out of memory", path);
        goto out;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        gf_fail(err, "%s: .npy header runs past the end of the file", path);
        goto out;
    }
    hdr[hlen] = 0;
    if (strlen(hdr) != hlen) {
        gf_fail(err, "%s: .npy header contains a NUL byte", path);
        goto out;
    }
    const char *p = find_key(hdr, "descr");
    if (!p || (*p != '\'' && *p != '"')) {
        gf_fail(err, "%s: .npy header has no 'descr'", path);
        goto out;
    }
    char descr[16] = {0};
    {
        char q = *p++;
        size_t i = 0;
        while (*p && *p != q && i < sizeof descr - 1) descr[i++] = *p++;
        if (*p != q) {
            gf_fail(err, "%s: .npy header 'descr' is malformed", path);
            goto out;
        }
    }
    if (!strcmp(descr, "<i4") || !strcmp(descr, "=i4")) out->dtype = GF_NPY_I32;
    else if (!strcmp(descr, "<f4") || !strcmp(descr, "=f4")) out->dtype = GF_NPY_F32;
    else if (!strcmp(descr, "<u2") || !strcmp(descr, "=u2")) out->dtype = GF_NPY_U16;
    /* NumPy writes single bytes with '|' (no byte order); bool '|b1' stays
     * refused so that a mask is always explicit 0/1 bytes */
    else if (!strcmp(descr, "|u1") || !strcmp(descr, "<u1") || !strcmp(descr, "=u1")) out->dtype = GF_NPY_U8;
    else {
        gf_fail(err, "%s: .npy dtype '%s' is not supported (int32 '<i4', float32 '<f4', uint16 '<u2' or uint8 '|u1')", path, descr);
        goto out;
    }
    p = find_key(hdr, "fortran_order");
    if (!p) {
        gf_fail(err, "%s: .npy header has no 'fortran_order'", path);
        goto out;
    }
    if (strncmp(p, "False", 5) != 0) {
        gf_fail(err, "%s: .npy array is in Fortran order; write it C-contiguous", path);
        goto out;
    }
    p = find_key(hdr, "shape");
    if (!p || *p != '(') {
        gf_fail(err, "%s: .npy header has no 'shape' tuple", path);
        goto out;
    }
    p++;
    out->count = 1;
    for (;;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        if (!isdigit((unsigned char)*p)) {
            gf_fail(err, "%s: .npy 'shape' is malformed", path);
            goto out;
        }
        if (out->ndim == 8) {
            gf_fail(err, "%s: .npy array has more than 8 dimensions", path);
            goto out;
        }
        errno = 0;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno || v > (1ull << 40)) {
            gf_fail(err, "%s: .npy shape entry is too large", path);
            goto out;
        }
        out->shape[out->ndim++] = (size_t)v;
        out->count = gf_mul_sat(out->count, (size_t)v);
        p = end;
    }
    size_t want = gf_mul_sat(out->count, dtype_size(out->dtype));
    long here = ftell(f);
    if (fseek(f, 0, SEEK_END) != 0) {
        gf_fail(err, "%s: cannot seek", path);
        goto out;
    }
    long total = ftell(f);
    if (here < 0 || total < here || (size_t)(total - here) != want) {
        gf_fail(err, "%s: .npy header promises %zu data bytes but the file holds %ld", path,
                want, (here < 0 || total < here) ? -1L : total - here);
        goto out;
    }
    *data_off = here;
    rc = 0;
out:
    free(hdr);
    return rc;
}

int gf_npy_read(const char *path, gf_npy *out, gf_error *err) {
    memset(out, 0, sizeof *out);
    if (gf_check_regular(path, err) != 0) return -1;
    FILE *f = fopen(path, "rb");
    if (!f) return gf_fail(err, "%s: cannot open: %s", path, strerror(errno));
    long here;
    int rc = -1;
    if (read_header(f, path, out, &here, err)) goto out;
    size_t want = gf_mul_sat(out->count, dtype_size(out->dtype));
    if (fseek(f, here, SEEK_SET) != 0) {
        gf_fail(err, "%s: cannot seek", path);
        goto out;
    }
    out->data = malloc(want ? want : 1);
    if (!out->data) {
        gf_fail(err, "%s: out of memory for %zu bytes", path, want);
        goto out;
    }
    if (fread(out->data, 1, want, f) != want) {
        gf_fail(err, "%s: read error", path);
        goto out;
    }
    rc = 0;
out:
    fclose(f);
    if (rc != 0) gf_npy_free(out);
    return rc;
}

int gf_npy_map(const char *path, gf_npy_mapped *out, gf_error *err) {
    memset(out, 0, sizeof *out);
    if (gf_check_regular(path, err) != 0) return -1;
    FILE *f = fopen(path, "rb");
    if (!f) return gf_fail(err, "%s: cannot open: %s", path, strerror(errno));
    long here;
    int rc = read_header(f, path, &out->info, &here, err);
    fclose(f);
    if (rc) return -1;
    gf_mapping map;
    if (gf_map_file(path, &map, err)) return -1;
    /* the file may have changed between the two opens: check again */
    size_t want = gf_mul_sat(out->info.count, dtype_size(out->info.dtype));
    if (map.size < (size_t)here || map.size - (size_t)here != want) {
        gf_unmap_file(&map);
        return gf_fail(err, "%s: changed while it was being opened", path);
    }
    out->map_data = map.data;
    out->map_size = map.size;
    out->info.data = (char *)map.data + here;
    return 0;
}

void gf_npy_unmap(gf_npy_mapped *a) {
    if (a->map_data) {
        gf_mapping map = {a->map_data, a->map_size};
        gf_unmap_file(&map);
    }
    memset(a, 0, sizeof *a);
}

void gf_npy_free(gf_npy *a) {
    free(a->data);
    a->data = NULL;
    a->count = 0;
    a->ndim = 0;
}

int gf_npy_write(const char *path, gf_npy_dtype dtype, const size_t *shape, int ndim,
                 const void *data, gf_error *err) {
    return gf_npy_write_set(NULL, path, dtype, shape, ndim, data, err);
}

int gf_npy_write_set(gf_file_set *set, const char *path, gf_npy_dtype dtype, const size_t *shape, int ndim,
                     const void *data, gf_error *err) {
    if (ndim < 0 || ndim > 8) {
        if (set) gf_file_set_discard(set);
        return gf_fail(err, "%s: cannot write a %d-dimensional array", path, ndim);
    }
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", dtype_descr(dtype));
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%zu%s", shape[i], ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
        count = gf_mul_sat(count, shape[i]);
    }
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* Pad with spaces and a newline so the data starts 64-byte aligned. */
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    char hdr[640];
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    size_t hlen = padded - 10;
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    memcpy(hdr + 10, dict, (size_t)n);
    memset(hdr + 10 + n, ' ', padded - 10 - (size_t)n - 1);
    hdr[padded - 1] = '\n';
    const void *parts[2] = {hdr, data};
    size_t lens[2] = {padded, gf_mul_sat(count, dtype_size(dtype))};
    return set ? gf_file_set_add(set, path, parts, lens, 2, err) : gf_write_file_atomic(path, parts, lens, 2, err);
}
