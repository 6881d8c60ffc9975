/* The team-size governor (threads.h). */
#include "threads.h"

#include <omp.h>
#include <stdio.h>
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
    t->others = gf_threads_others_running;
    if (t->n > 1) {
        /* busy once others could take half the cores: a team of all of
         * them then shares a core with another process, and with the short
         * spin of the griffin tool (cli.h) a prompt's one pass on that team
         * ran at a quarter of one thread's speed beside one `stress-ng
         * --cpu 1` on two cores */
        int others = gf_threads_others_running();
        t->crowded = others >= 0 && 2 * others >= t->size[0];
        gf_threads_prior(t, t->crowded);
    }
}

void gf_threads_prior(gf_threads *t, int busy) {
    /* A prompt's prefill is a few uses of each part: too few to learn from
     * before it is over, so where it starts matters. Busy: on one thread,
     * and no trial of more until the time a lost trial of a few
     * milliseconds would hold them back has passed (a trial of the full
     * team there can cost a time slice per parallel region). Quiet: on the
     * full team, whose first use also starts its threads. */
    for (int k = 0; k < GF_TUNE_KEYS; k++) t->key[k].cur = busy ? t->n - 1 : 0;
    t->since_lost = 0;
    t->lost_cost = busy ? 2e-3 : 0;
}

int gf_threads_others_running(void) {
    /* /proc/loadavg's fourth field: runnable tasks / all tasks, this one
     * among the runnable */
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return -1;
    double a, b, c;
    int running = -1, total;
    if (fscanf(f, "%lf %lf %lf %d/%d", &a, &b, &c, &running, &total) != 5) running = -1;
    fclose(f);
    return running > 0 ? running - 1 : -1;
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
static int due(const gf_threads *t, const gf_tune_key *k, int c) {
    /* after a trial that lost, no part tries anything until the time since
     * is GF_TUNE_SPACING times what it cost: the parts share one machine,
     * and on a busy one the first trial of each would cost as much again */
    if (t->since_lost < GF_TUNE_SPACING * t->lost_cost) return 0;
    if (k->per_row[c] <= 0) return 1; /* never tried */
    /* Not sooner when the size in use got slower: on a busy machine one
     * thread is preempted too, and a time slice lost makes its average
     * look worse than a lucky trial's of the full team. A machine that got
     * busy is noticed anyway: the slow steps make the time pass. */
    return k->since[c] >= GF_TUNE_SPACING * k->cost[c];
}

static int pick(gf_threads *t, gf_tune_key *k) {
    /* a trial is judged against the size in use: not before it has a time */
    if (t->n == 1 || !k->warm || k->per_row[k->cur] <= 0) return k->cur;
    if (k->trial >= 0) return k->trial;
    int up = k->cur - 1, down = k->cur + 1; /* more threads, fewer */
    if (up >= 0 && t->since_look >= GF_TUNE_LOOK) {
        int others = t->others();
        t->crowded = others >= 0 && 2 * others >= t->size[0];
        t->since_look = 0;
    }
    if (t->crowded) up = -1;
    int first = k->flip ? up : down, second = k->flip ? down : up;
    int c = -1;
    if (first >= 0 && first < t->n && due(t, k, first)) c = first;
    else if (second >= 0 && second < t->n && due(t, k, second)) c = second;
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
    t->since_lost += seconds;
    t->since_look += seconds;
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
    int c = k->trial, old = k->cur;
    double mean = k->trial_s / k->trial_rows, known = k->per_row[old];
    /* a trial twice as slow as the size in use ends at once: on a busy
     * machine one use of the full team can cost a hundred of one thread */
    if (--k->trial_left > 0 && !(known > 0 && mean > 2 * known)) return;
    k->trial = -1;
    k->per_row[c] = mean;
    k->cost[c] = k->trial_s;
    k->since[c] = 0;
    if (known > 0 && mean >= known) {
        t->lost_cost = k->trial_s;
        t->since_lost = 0;
        return;
    }
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
