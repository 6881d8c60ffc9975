/* The team-size governor (threads.h). */
#include "threads.h"

#include <omp.h>
#include <string.h>
#include <time.h>

void gf_threads_init(gf_threads *t, int max, int fixed) {
    memset(t, 0, sizeof *t);
    if (fixed > 0) {
        t->n = 1;
        t->size[0] = fixed;
    } else {
        if (max <= 0) max = omp_get_max_threads();
        if (max < 1) max = 1;
        /* halving: the sizes a trial moves between differ by a factor of
         * two, enough to show in a noisy time */
        for (int s = max; t->n < GF_TUNE_MAXC; s /= 2) {
            t->size[t->n++] = s;
            if (s == 1) break;
        }
        if (t->size[t->n - 1] != 1) t->size[t->n - 1] = 1;
    }
    for (int k = 0; k < GF_TUNE_KEYS; k++) t->key[k].trial = -1;
}

int gf_threads_enter(const gf_threads *t, int decode) {
    if (!t) return 0;
    int saved = omp_get_max_threads();
    omp_set_num_threads(gf_threads_current(t, GF_TUNE_KEY(GF_TUNE_HEAD, decode)));
    return saved;
}

void gf_threads_leave(const gf_threads *t, int saved) {
    if (t && saved > 0) omp_set_num_threads(saved);
}

/* Whether a trial of size c is due while cur is in use. */
static int due(const gf_tune_key *k, int c) {
    if (k->per_row[c] <= 0) return 1;                                /* never tried */
    if (k->per_row[k->cur] > k->per_row[c]) return 1;                /* the one in use got slower */
    return k->since[c] >= GF_TUNE_SPACING * k->cost[c];
}

static int pick(gf_threads *t, gf_tune_key *k) {
    if (t->n == 1 || !k->warm) return k->cur;
    if (k->trial >= 0) return k->trial;
    int up = k->cur - 1, down = k->cur + 1; /* more threads, fewer */
    int first = k->flip ? up : down, second = k->flip ? down : up;
    int c = -1;
    if (first >= 0 && first < t->n && due(k, first)) c = first;
    else if (second >= 0 && second < t->n && due(k, second)) c = second;
    if (c < 0) return k->cur;
    k->flip ^= 1;
    k->trial = c;
    k->trial_left = GF_TUNE_TRIAL;
    k->trial_s = k->trial_rows = 0;
    return c;
}

int gf_threads_begin(gf_threads *t, int key) {
    if (!t) return 0;
    gf_tune_key *k = &t->key[key];
    k->on = pick(t, k);
    int n = t->size[k->on];
    omp_set_num_threads(n);
    return n;
}

void gf_threads_end(gf_threads *t, int key, double seconds, double rows) {
    if (!t || t->n == 1) return;
    gf_tune_key *k = &t->key[key];
    if (rows < 1) rows = 1;
    if (seconds < 0) seconds = 0;
    if (!k->warm) {
        k->warm = 1;
        return;
    }
    for (int c = 0; c < t->n; c++)
        if (c != k->on) k->since[c] += seconds;
    if (k->on != k->trial) {
        double r = seconds / rows, *avg = &k->per_row[k->cur];
        /* an eighth: one time slice lost among a few fast steps moves the
         * average past a slower size's, so a busier machine is noticed
         * within a step or two */
        *avg = *avg > 0 ? *avg + (r - *avg) / 8 : r;
        return;
    }
    k->trial_s += seconds;
    k->trial_rows += rows;
    if (--k->trial_left > 0) return;
    int c = k->trial, old = k->cur;
    double mean = k->trial_s / k->trial_rows;
    k->trial = -1;
    k->per_row[c] = mean;
    k->cost[c] = k->trial_s;
    k->since[c] = 0;
    if (k->per_row[old] > 0 && mean >= k->per_row[old]) return;
    /* switch; trying the old size again costs a trial at its estimate */
    k->cur = c;
    k->cost[old] = k->per_row[old] * k->trial_rows;
    k->since[old] = 0;
}

int gf_threads_current(const gf_threads *t, int key) { return t->size[t->key[key].cur]; }

double gf_threads_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
