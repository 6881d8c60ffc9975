/* The team-size governor: picks how many threads each part of a forward
 * pass runs on, from the time that part took.
 *
 * On a machine whose cores are shared with other busy processes a team of
 * two threads is often slower than one: a parallel region ends only when
 * every member has done its share, and a member the kernel has given to
 * another process for a time slice (milliseconds) holds the whole team that
 * long, where a decode step's region takes microseconds. With `stress-ng
 * --cpu 2` beside it a demo decode at the full team ran 3-30x slower than
 * on one thread. Which size is faster depends on what else runs, and that
 * changes, so the governor measures: each part (a recurrent layer, an
 * attention layer, the logits; decode and prefill apart) keeps the time per
 * row of the size in use, tries a neighbouring size now and then, and keeps
 * the faster.
 *
 * A trial costs the difference between the two sizes for a few uses. Trials
 * of a size are spaced so that the time spent on the others since its last
 * trial is at least GF_TUNE_SPACING times what that trial (or, for the size
 * just left, a trial at its last estimate) cost: a slow size costs at most
 * about 1/GF_TUNE_SPACING of the time, and a size that was only a little
 * slower is tried again soon. A trial that lost holds back every part's
 * trials the same way (the parts share one machine), and one twice as slow
 * as the size in use ends after its first use. Where each part starts is
 * guessed from the tasks ready to run at creation (gf_threads_prior), and
 * no size larger than the one in use is tried while other tasks ready to
 * run could take half the cores (looked at every GF_TUNE_LOOK seconds):
 * beside a busy process on every core even the spaced trials of two
 * threads cost decode 10-20 % against one thread, and they cannot win.
 *
 * Results do not depend on the team size (parallel.h; OpenBLAS's products
 * only within float rounding), so the choice changes the speed. The state
 * lives in the caller's struct (the generator's), and the team size is set
 * with omp_set_num_threads, an OpenMP setting of the calling thread only;
 * gf_threads_leave puts back what the caller had. With Debian's OpenMP
 * OpenBLAS (the Makefile's choice) the matrix products follow the same
 * setting; a pthreads OpenBLAS keeps its own count. */
#ifndef GF_THREADS_H
#define GF_THREADS_H

#define GF_TUNE_MAXC 8     /* team sizes: the full team, halved down to 1 */
#define GF_TUNE_SPACING 64 /* time on other sizes per unit of a trial's cost */
#define GF_TUNE_TRIAL 3    /* uses a trial lasts */
#define GF_TUNE_LOOK 0.05  /* seconds of spans between looks at the tasks ready to run */

/* What a span times: the part of the pass, and decode or prefill. */
enum { GF_TUNE_RECURRENT, GF_TUNE_ATTENTION, GF_TUNE_HEAD, GF_TUNE_PARTS };
#define GF_TUNE_KEYS (2 * GF_TUNE_PARTS)
#define GF_TUNE_KEY(part, decode) ((decode) ? GF_TUNE_PARTS + (part) : (part))

typedef struct {
    int cur;                     /* index of the size in use */
    int on;                      /* index of the size the running span uses */
    int trial, trial_left;       /* index on trial (-1: none) and its uses left */
    int warm;                    /* the first use (first touches, thread start) is not measured */
    int flip;                    /* which neighbour to try first */
    double trial_s, trial_rows;  /* the running trial's time and rows */
    double per_row[GF_TUNE_MAXC]; /* seconds per row: the size in use's moving average, the others' last trial; 0 unknown */
    double cost[GF_TUNE_MAXC];   /* what the last trial of each size cost, seconds */
    double since[GF_TUNE_MAXC];  /* seconds spent on other sizes since then */
} gf_tune_key;

typedef struct {
    int n;                 /* sizes: size[0] the full team ... size[n-1] = 1; n = 1: fixed */
    int size[GF_TUNE_MAXC];
    gf_tune_key key[GF_TUNE_KEYS];
    double since_lost, lost_cost; /* seconds since the last trial that lost (any part), what it cost */
    double since_look;     /* seconds of spans since the last look at the machine */
    int (*others)(void);   /* the look: gf_threads_others_running (a test's own elsewhere) */
    int crowded;           /* then: other tasks could take half the cores (no trial of more) */
} gf_threads;

/* Adaptive between 1 and max threads (max <= 0: omp_get_max_threads()),
 * or fixed at `fixed` threads when fixed > 0. Adaptive, it starts as
 * gf_threads_prior says for what runs now (gf_threads_others_running). */
void gf_threads_init(gf_threads *t, int max, int fixed);
/* Where every part starts: busy (other processes could take half the cores of
 * the team) on one thread, trials of more held back for a while; else on
 * the full team. */
void gf_threads_prior(gf_threads *t, int busy);
/* Tasks other than the caller ready to run now (Linux's /proc/loadavg), or
 * -1 when unknown. One look: a prior, which the measurements correct. */
int gf_threads_others_running(void);

/* Around a forward call: enter returns the caller's OpenMP team size and
 * sets the one the call's head (the logits) uses now, for what runs outside
 * the spans (the embedding); leave puts the caller's back. Both accept
 * t == NULL (no governor: nothing changes). */
int gf_threads_enter(const gf_threads *t, int decode);
void gf_threads_leave(const gf_threads *t, int saved);

/* A span: begin picks the size for key and sets it (returns it; 0 when t is
 * NULL); end records that the span took `seconds` for `rows` rows. */
int gf_threads_begin(gf_threads *t, int key);
void gf_threads_end(gf_threads *t, int key, double seconds, double rows);

/* The size key uses now (the one a span would get outside trials). */
int gf_threads_current(const gf_threads *t, int key);

/* Monotonic seconds, for the spans. */
double gf_threads_now(void);

#endif
