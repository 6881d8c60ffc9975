/* Data-parallel training over MPI (OpenMPI's mpirun): the processes
 * ("ranks") of one run, and the exchanges a training step needs.
 *
 * Linked into the griffin binary only, like the server: libgriffin never
 * depends on MPI. What the library gives the loop (griffin_train.h): a batch
 * drawn in parts (gf_token_data_sample_part), the gradient of one part with
 * a call as each range of it is final (gf_train_loss_grad_part), AdamW over
 * a shard of the parameters (gf_adamw_new_range, gf_adamw_apply) and
 * checkpoints written in parts (gf_checkpoint_begin ... _commit).
 *
 * One step, with N ranks, each owning the parameters gf_shard_range gives it:
 *   - every rank draws the whole batch's rows (the rng advancing alike) and
 *     runs its own B rows forward and backward;
 *   - as the backward finishes each bucket of the gradient, the bucket's
 *     slice of every other rank's shard is sent to that rank (reduce-scatter);
 *   - each rank adds the N copies of its shard in rank order (the same bits
 *     however the messages arrive), and the shards' sums of squares and the
 *     ranks' losses are gathered, added in rank order too;
 *   - each rank updates its shard (its AdamW moments only: ZeRO-1), and the
 *     shards are sent to every rank (all-gather), so the ranks' weights stay
 *     the same bits.
 * Every wait has a deadline, and mpirun's SIGTERM (sent when a rank dies) is
 * turned into one line naming the rank that is gone. */
#ifndef GF_DIST_H
#define GF_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "griffin_train.h"

typedef struct gf_dist gf_dist;

/* Whether this process was started by mpirun as one of several (its
 * environment says so), without starting MPI. */
int gf_dist_launched(void);
/* Starts MPI (one rank of several); NULL with err set when MPI cannot
 * start or griffin was built without MPI (a failure once MPI is up is
 * printed here, and the run stopped: MPI_Abort). timeout_s: the longest a
 * training step's exchange may wait for the other ranks before the run is
 * stopped as stuck. */
gf_dist *gf_dist_start(int *argc, char ***argv, double timeout_s, gf_error *err);
/* Ends MPI after a run every rank finished (ok) or stops every rank at once
 * (not ok: MPI_Abort, so no rank waits on one that has left). */
void gf_dist_end(gf_dist *d, int ok);
int gf_dist_rank(const gf_dist *d);
int gf_dist_size(const gf_dist *d);
/* The ranks on this machine (for the thread count). */
int gf_dist_local_size(const gf_dist *d);

/* Installs the SIGTERM handler that prints which rank is gone; resume_hint
 * (kept, not copied, until gf_dist_end) goes at the end of its line. The
 * handler's state is the one global of src/dist: a signal handler has no
 * other way to it. */
void gf_dist_watch(gf_dist *d, const char *resume_hint);

/* Every rank's ok (non-zero) gathered, waiting as long as it takes: returns
 * the lowest rank that is not ok (every rank gets the same), -1 when all
 * are, or -2 with err set when MPI fails (this rank alone may see it: stop
 * the run with gf_dist_end(d, 0)). */
int gf_dist_first_failed(gf_dist *d, int ok, gf_error *err);
/* -1 (on every rank alike) when some rank's value differs from rank 0's:
 * "rank K disagrees with rank 0 on WHAT"; waits as long as it takes; -2 when
 * MPI fails (this rank alone may see it). */
int gf_dist_agree(gf_dist *d, const char *what, uint64_t value, gf_error *err);
/* Sums n doubles over the ranks, in rank order (the same bits on every
 * rank, and from run to run). */
int gf_dist_sum(gf_dist *d, double *v, int n, gf_error *err);

/* 64-bit hashes of what the ranks must agree on. */
uint64_t gf_hash_bytes(uint64_t h, const void *p, size_t n);
int gf_hash_file(const char *path, uint64_t *h, gf_error *err);

/* The gradient exchange of a trainable over the ranks of d. */
typedef struct gf_dp gf_dp;
/* bucket_floats: floats per bucket (0: the default, 4M); overlap: send
 * buckets during the backward (else all after it). */
gf_dp *gf_dp_new(gf_dist *d, gf_trainable *t, size_t bucket_floats, int overlap, gf_error *err);
void gf_dp_free(gf_dp *p);
/* This rank's shard [lo, hi) of the parameters. */
void gf_dp_shard(const gf_dp *p, size_t *lo, size_t *hi);
/* Before the last micro-batch's backward: posts the receives. */
int gf_dp_begin(gf_dp *p, gf_error *err);
/* gf_train_loss_grad_part's ready callback (ctx: the gf_dp). */
void gf_dp_ready(void *ctx, size_t offset, size_t count);
/* After the backward: sends what is left, waits, and leaves the sum over the
 * ranks of this rank's shard of the gradient in the trainable's gradients
 * [lo, hi) (the rest of the arena is this rank's own part, now stale). */
int gf_dp_reduce(gf_dp *p, gf_error *err);
/* After the shard's update: every rank's shard of the parameters to every
 * rank. */
int gf_dp_gather_params(gf_dp *p, gf_error *err);

#endif
