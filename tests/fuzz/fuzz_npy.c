/* A .npy file (token files, loss masks, token batches, segment positions):
 * read into memory and memory-mapped, and the two must agree on the dtype,
 * the shape and every byte of the data. */
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init();
    return 0;
}

static size_t elem_size(gf_npy_dtype dt) { return dt == GF_NPY_U8 ? 1 : dt == GF_NPY_U16 ? 2 : 4; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FZ_MAX_INPUT) return -1;
    fz_write_one("a.npy", data, size);
    char path[1024];
    fz_path(path, sizeof path, "a.npy");
    gf_npy a;
    gf_npy_mapped b;
    gf_error err, err_b;
    int ra = gf_npy_read(path, &a, &err), rb = gf_npy_map(path, &b, &err_b);
    if (ra != 0) fz_check_error(&err, "gf_npy_read");
    if (rb != 0) fz_check_error(&err_b, "gf_npy_map");
    if ((ra == 0) != (rb == 0)) fz_fail("gf_npy_read and gf_npy_map disagree: %s", ra ? err.msg : err_b.msg);
    if (ra != 0) return 0;
    size_t count = 1;
    for (int i = 0; i < a.ndim; i++) count *= a.shape[i];
    if (a.dtype != b.info.dtype || a.ndim != b.info.ndim || a.count != b.info.count || count != a.count ||
        memcmp(a.shape, b.info.shape, sizeof a.shape) != 0)
        fz_fail("gf_npy_read and gf_npy_map read different headers");
    size_t bytes = a.count * elem_size(a.dtype);
    if (bytes > size || memcmp(a.data, b.info.data, bytes) != 0 ||
        memcmp(a.data, data + size - bytes, bytes) != 0)
        fz_fail("the array is not the file's last %zu bytes", bytes);
    gf_npy_free(&a);
    gf_npy_unmap(&b);
    return 0;
}
