/* .npy writing into a set of files replaced together (util.h's
 * gf_file_set): gf_npy_write's bytes, staged by gf_file_set_add. */
#ifndef GF_NPY_H
#define GF_NPY_H

#include "griffin.h"
#include "util.h"

/* set NULL: gf_npy_write. On failure the set is discarded. */
int gf_npy_write_set(gf_file_set *set, const char *path, gf_npy_dtype dtype, const size_t *shape, int ndim,
                     const void *data, gf_error *err);

#endif
