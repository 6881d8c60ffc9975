/* A training checkpoint (an archive, fuzz_common.h): a run folder whose
 * `latest` links to a step folder, or a step folder itself, with
 * trainer_state.json, config.json, model.safetensors and
 * optimizer.safetensors, or a data-parallel run's optimizer shards and their
 * manifest (optimizer_shards.json). gf_checkpoint_load_shard reads the
 * trainer state, makes a trainable model of the weights and the AdamW
 * moments of one shard of 1-3 (from the input's length, so the corpus
 * keeps each case), re-sharded from however the files split them; what it
 * accepts must be consistent. */
#include "fuzz_common.h"
#include "griffin_train.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FZ_MAX_INPUT || fz_unpack(data, size) != 0) return -1;
    gf_trainable *t;
    gf_adamw *o;
    gf_train_state s;
    gf_error err;
    int shards = 1 + (int)(size % 3), shard = (int)((size / 3) % (size_t)shards);
    if (gf_checkpoint_load_shard(fz_dir(), shard, shards, &t, &o, &s, &err) != 0) {
        fz_check_error(&err, "gf_checkpoint_load_shard");
        return 0;
    }
    size_t lo, hi;
    gf_shard_range(gf_trainable_num_params(t), shard, shards, &lo, &hi);
    if (gf_adamw_offset(o) != lo || gf_adamw_num_params(o) != hi - lo)
        fz_fail("moments [%zu, +%zu) for shard %d of %d, not [%zu, %zu)", gf_adamw_offset(o), gf_adamw_num_params(o),
                shard, shards, lo, hi);
    if (gf_adamw_step_count(o) != s.step) fz_fail("the optimiser's step is not the trainer state's");
    if (s.batch < 1 || s.seq < 1 || s.accum < 1) fz_fail("a trainer state with batch %d, seq %d, accum %d", s.batch, s.seq, s.accum);
    /* the moments an update divides by: finite, and v (a mean of squares)
     * never negative, else the first step after a resume is NaN */
    size_t n = gf_adamw_num_params(o);
    const float *mv = gf_adamw_moments(o);
    for (size_t i = 0; i < 2 * n; i++)
        if (!(mv[i] - mv[i] == 0) || (i >= n && mv[i] < 0))
            fz_fail("a checkpoint was loaded with %s[%zu] = %g", i < n ? "adam_m" : "adam_v", i % n, mv[i]);
    (void)gf_lr_at(&s.opt, s.step);
    gf_adamw_free(o);
    gf_trainable_free(t);
    return 0;
}
