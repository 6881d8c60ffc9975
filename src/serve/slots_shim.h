/* TEMPORARY — branch wt-serve only; removed when the generator's slot API
 * (developed in parallel in another branch) is merged, after which these
 * declarations come from include/griffin.h.
 *
 * The slot API of the generator as the server is written against: a
 * generator of N slots, each holding one sequence with its own sampling
 * parameters; sequences join and leave between rounds, and one round feeds
 * every joining sequence a chunk of its prompt and steps every running one.
 *
 * While the real API is missing, src/serve/slots_shim.c implements it with one
 * batch-1 gf_generator per slot (gf_generator_feed / gf_generator_step): the
 * same ids and text as the real one, no batching, no chunked prefill. The
 * macros below route the few existing calls whose meaning the shim changes
 * (a "generator" and a "snapshot" are the shim's own objects) to it; the
 * server's code is written exactly as it will be against griffin.h.
 *
 * At merge: delete slots_shim.c and this file, and the lines that include it
 * (`grep -rn slots_shim src/serve`). */
#ifndef GF_SERVE_SLOTS_SHIM_H
#define GF_SERVE_SLOTS_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include "griffin.h"

/* One slot's news from a round: the id it emitted (-1: none), the text that
 * became final, whether its prompt has been fed in full, whether it stopped
 * (reason: gf_gen_stop). */
typedef struct {
    int slot;
    int32_t token;
    const char *text;
    size_t len;
    int prompt_done;
    int finished;
    int reason;
} gf_gen_event;

/* A free slot takes a new sequence: prompt ids [n] and its own params (its
 * sampler seeded from p->seed). The slot, or -1 with err (none free, or bad
 * ids / params). */
int gf_generator_join(gf_generator *g, const int32_t *ids, size_t n, const gf_gen_params *p,
                      gf_error *err);
/* The same, continuing from a snapshot: ids [n] follow its context. */
int gf_generator_join_from(gf_generator *g, const gf_gen_snapshot *s, const int32_t *ids, size_t n,
                           const gf_gen_params *p, gf_error *err);
/* Frees a slot at once (a running sequence is cancelled). 0, or -1 when the
 * slot is not in use. */
int gf_generator_leave(gf_generator *g, int slot);
int gf_generator_slots_in_use(const gf_generator *g);
/* Most prompt ids one round feeds a joining sequence. */
void gf_generator_set_chunk(gf_generator *g, int tokens);
/* One round: ev[*n_ev] (room for one event per slot) for the slots that have
 * news; returns the slots still in use, or -1 with err. */
int gf_generator_round(gf_generator *g, gf_gen_event *ev, int *n_ev, gf_error *err);
/* Ids in the snapshot's context. */
size_t gf_gen_snapshot_context(const gf_gen_snapshot *s);

#ifndef GF_SLOTS_SHIM_IMPL
/* The shim's generator and snapshot stand in for the library's. */
#define gf_generator_new shim_generator_new
#define gf_generator_free shim_generator_free
#define gf_generator_batch shim_generator_batch
#define gf_generator_save shim_generator_save
#define gf_gen_snapshot_free shim_gen_snapshot_free
#define gf_gen_snapshot_bytes shim_gen_snapshot_bytes
#endif
gf_generator *shim_generator_new(const gf_model *m, const gf_tokenizer *tk, int batch,
                                 const gf_gen_params *params, gf_error *err);
void shim_generator_free(gf_generator *g);
int shim_generator_batch(const gf_generator *g);
gf_gen_snapshot *shim_generator_save(const gf_generator *g, int slot, gf_error *err);
void shim_gen_snapshot_free(gf_gen_snapshot *s);
size_t shim_gen_snapshot_bytes(const gf_gen_snapshot *s);

#endif
