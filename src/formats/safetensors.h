/* Reading and writing the safetensors format: an 8-byte little-endian header
 * length N, N bytes of JSON {name: {dtype, shape, data_offsets}}, then the
 * tensor bytes. Reading maps the file and checks every length and offset
 * before anything points into it. */
#ifndef GF_SAFETENSORS_H
#define GF_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "griffin.h"
#include "util.h"

/* Element types of tensors in files. I8 and U8 hold the codes of griffin's
 * quantised matrices (see kernels/quant.h); they are not weights by
 * themselves. */
typedef enum { GF_DT_F32 = 0, GF_DT_BF16 = 1, GF_DT_F16 = 2, GF_DT_I32 = 3, GF_DT_I8 = 4, GF_DT_U8 = 5 } gf_dtype;

const char *gf_dtype_name(gf_dtype dt);
size_t gf_dtype_size(gf_dtype dt);

#define GF_ST_MAX_DIMS 8

typedef struct {
    char *name;
    gf_dtype dtype;
    int ndim;
    size_t shape[GF_ST_MAX_DIMS];
    size_t numel;
    const void *data; /* into the mapping */
    size_t nbytes;
    size_t begin, end; /* offsets in the data section */
} gf_st_tensor;

typedef struct {
    char path[4096];
    gf_mapping map;
    gf_st_tensor *tensors; /* sorted by name */
    size_t count;
} gf_st_file;

int gf_st_open(const char *path, gf_st_file *f, gf_error *err);
void gf_st_close(gf_st_file *f);
const gf_st_tensor *gf_st_find(const gf_st_file *f, const char *name);

/* The index of the first NaN or infinity among n elements of a float dtype
 * (F32, BF16, F16) at data; n when every one is finite (and for the integer
 * dtypes, which have none). One pass over the data, in parallel. */
size_t gf_first_nonfinite(const void *data, gf_dtype dt, size_t n);

/* One tensor to write; data holds numel elements of dtype. */
typedef struct {
    const char *name;
    gf_dtype dtype;
    int ndim;
    size_t shape[GF_ST_MAX_DIMS];
    const void *data;
} gf_st_entry;

/* Writes entries to path through a temporary file, fsync and rename. The
 * data are laid out by element size, largest first, so every tensor is
 * aligned to its elements. */
int gf_st_write(const char *path, const gf_st_entry *entries, size_t n, gf_error *err);
/* The same with string pairs in the header's "__metadata__". */
int gf_st_write_meta(const char *path, const gf_st_entry *entries, size_t n,
                     const char *const *meta_keys, const char *const *meta_values, size_t nmeta,
                     gf_error *err);
/* The same into a set of files replaced together (util.h); set NULL:
 * gf_st_write_meta. On failure the set is discarded. */
int gf_st_write_set(gf_file_set *set, const char *path, const gf_st_entry *entries, size_t n,
                    const char *const *meta_keys, const char *const *meta_values, size_t nmeta,
                    gf_error *err);

#endif
