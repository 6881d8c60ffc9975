/* One safetensors file: the 8-byte header length, the JSON header and the
 * tensor table it describes (dtypes, shapes, offsets checked against the
 * data section), then every tensor found by name and scanned for
 * non-finite values as the model loader does. */
#include <string.h>

#include "formats/safetensors.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FZ_MAX_INPUT) return -1;
    fz_write_one("model.safetensors", data, size);
    char path[1024];
    fz_path(path, sizeof path, "model.safetensors");
    gf_st_file f;
    gf_error err;
    if (gf_st_open(path, &f, &err) != 0) {
        fz_check_error(&err, "gf_st_open");
        return 0;
    }
    size_t data_bytes = f.map.size - 8;
    for (size_t i = 0; i < f.count; i++) {
        const gf_st_tensor *t = &f.tensors[i];
        if (gf_st_find(&f, t->name) != t) fz_fail("tensor '%s' is not found by its name", t->name);
        if (t->end > data_bytes || t->nbytes != t->end - t->begin ||
            t->nbytes != t->numel * gf_dtype_size(t->dtype))
            fz_fail("tensor '%s' was accepted with offsets [%zu, %zu) and %zu elements", t->name, t->begin, t->end,
                    t->numel);
        if (i > 0 && strcmp(f.tensors[i - 1].name, t->name) >= 0) fz_fail("the table is not sorted by name");
        (void)gf_first_nonfinite(t->data, t->dtype, t->numel);
    }
    gf_st_close(&f);
    return 0;
}
