/* OpenMP conventions for the loops we wrote ourselves (the matrix products
 * thread inside OpenBLAS, always called outside these regions so the two
 * pools never nest).
 *
 * Every parallel loop here gives each output element to exactly one thread,
 * and a parameter-gradient sum over rows is split by channel, each channel
 * summed by one thread in the serial order: results do not depend on the
 * thread count or on scheduling, so a training run resumes bit for bit. */
#ifndef GF_PARALLEL_H
#define GF_PARALLEL_H

#include <omp.h>
#include <stddef.h>

/* Below this many floats of work a loop runs on the calling thread: waking
 * the team costs a few microseconds, more than a small decode loop takes.
 * On a `parallel for simd` the threshold is written `if (parallel : ...)`:
 * an if clause without the name applies to the simd part as well (OpenMP
 * 5.0), and GCC then runs the loop scalar below the threshold, which is
 * every such loop of a batch-1 decode step. */
#define GF_PAR_MIN ((size_t)32768)
/* The same for loops with an exp or a tanh per element (GeLU, the RG-LRU's
 * gates), each element some ten times a plain one's cost: a decode step of
 * batch 16 has 16 x 1024 of them per recurrent layer, which on one thread
 * kept the other waiting for 5 % of the step. */
#define GF_PAR_MIN_HEAVY ((size_t)4096)

/* Per-thread scratch slots to carve (attention scores): one for each thread
 * a parallel region may get, counted when the arena is sized. A region that
 * uses them runs on at most that many threads. */
static inline size_t gf_par_slots(void) {
    int n = omp_get_max_threads();
    return n < 1 ? 1 : (size_t)n;
}

/* Index of the calling thread in the current team (0 outside a region). */
static inline size_t gf_par_tid(void) { return (size_t)omp_get_thread_num(); }

/* out[i] = a[i] + b[i] (out may be a or b): the residual adds. */
static inline void gf_add(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= GF_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

#endif
