/* The scheduler (scheduler.h). Locking: s->mu guards the queue, the slot
 * table, `stopping`, and each request's state, text, cancel flag and
 * reference count. The generator, the cache and a running request's ids are
 * the scheduler thread's alone; it calls the generator with the lock
 * released, so the HTTP side submits, reads and cancels while a round runs.
 * The listener (serve_sched_set_listener) is called with the lock released
 * too, so that it may take locks of its own and call into the scheduler. */
#include "serve/scheduler.h"

#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/cache.h"

enum { R_QUEUED, R_RUNNING, R_DONE };

struct serve_req {
    serve_req *next;          /* queue link */
    int32_t *ids;             /* [n] the prompt */
    size_t n;
    gf_gen_params p;          /* its stop arrays point at the copies below */
    int32_t *stop_ids;
    char **stops;
    int remember;
    int stream;               /* news for every piece of text, else only when done */
    double t_arrival;
    /* under s->mu */
    int state, slot, cancel, refs, got_first;
    sv_buf text;
    int reason, error_status;
    char error[256];
    size_t cached;
    /* the scheduler's: the ids generated */
    int32_t *out;
    size_t n_out, cap_out;
};

struct serve_sched {
    serve_sched_config c;
    gf_generator *g;
    serve_cache *cache;
    gf_gen_event *ev;         /* [slots] */
    serve_req **running;      /* [slots]: the request in each slot */
    int *done;                /* [slots]: the slots a round finished */
    int n_running;
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* the scheduler's: work arrived, or a cancel */
    void (*listener)(void *); /* told when requests have news (set once, before the loop) */
    void *listener_ctx;
    int news;                 /* some request has news the listener has not been told of */
    serve_req *head, *tail;
    int queued;
    int stopping;
    double deadline;
};

/* ---- requests ------------------------------------------------------------ */

static void req_free(serve_req *r) {
    if (!r) return;
    if (r->stops)
        for (int i = 0; i < r->p.n_stop_strings; i++) free(r->stops[i]);
    free(r->stops);
    free(r->stop_ids);
    free(r->ids);
    free(r->out);
    sv_buf_free(&r->text);
    free(r);
}

static void unref_locked(serve_req *r) {
    if (--r->refs == 0) req_free(r);
}

static void cond_init_monotonic(pthread_cond_t *cv) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

static serve_req *req_new(const serve_job *j) {
    serve_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    const gf_gen_params *p = j->params;
    r->p = *p;
    r->ids = malloc((j->n ? j->n : 1) * sizeof *r->ids);
    r->stop_ids = malloc((p->n_stop_ids > 0 ? (size_t)p->n_stop_ids : 1) * sizeof *r->stop_ids);
    r->stops = calloc(p->n_stop_strings > 0 ? (size_t)p->n_stop_strings : 1, sizeof *r->stops);
    if (!r->ids || !r->stop_ids || !r->stops) goto fail;
    memcpy(r->ids, j->ids, j->n * sizeof *r->ids);
    r->n = j->n;
    if (p->n_stop_ids > 0) memcpy(r->stop_ids, p->stop_ids, (size_t)p->n_stop_ids * sizeof *r->stop_ids);
    for (int i = 0; i < p->n_stop_strings; i++)
        if (!(r->stops[i] = strdup(p->stop_strings[i]))) goto fail;
    r->p.stop_ids = r->stop_ids;
    r->p.stop_strings = (const char *const *)r->stops;
    r->remember = j->remember_reply;
    r->stream = j->stream;
    r->t_arrival = j->t_arrival;
    r->slot = -1;
    return r;
fail:
    req_free(r);
    return NULL;
}

/* Ends a request (the scheduler's reference); its reader has news. */
static void finish_locked(serve_sched *s, serve_req *r, int reason, int error_status, const char *error) {
    r->state = R_DONE;
    r->reason = reason;
    if (error_status) {
        r->error_status = error_status;
        if (error != r->error) snprintf(r->error, sizeof r->error, "%.*s", (int)sizeof r->error - 1, error);
    }
    s->news = 1;
    unref_locked(r);
}

static void gauges_locked(serve_sched *s) {
    serve_metrics_gauges(s->c.metrics, s->n_running, s->queued);
}

/* ---- the loop ------------------------------------------------------------- */

/* Puts r into a slot: the longest cached state its prompt starts with, else
 * from nothing. The slot, or -1 with err. Called unlocked. */
static int admit(serve_sched *s, serve_req *r, gf_error *err) {
    size_t matched = 0;
    const gf_gen_snapshot *snap = s->cache ? serve_cache_find(s->cache, r->ids, r->n, &matched) : NULL;
    int slot = -1;
    if (snap) {
        slot = gf_generator_join_from(s->g, snap, r->ids + matched, r->n - matched, &r->p, err);
        if (slot < 0) matched = 0; /* e.g. a snapshot this generator refuses: start afresh */
    }
    if (slot < 0) slot = gf_generator_join(s->g, r->ids, r->n, &r->p, err);
    if (slot >= 0) {
        r->cached = matched;
        serve_metrics_prompt(s->c.metrics, r->n, matched, matched > 0, s->c.cache_bytes > 0);
    }
    return slot;
}

/* Keeps a finished slot's state in the cache, keyed by its context (the
 * prompt and the ids generated). Called unlocked, before the slot leaves. */
static void remember(serve_sched *s, serve_req *r, int slot) {
    if (r->remember && (r->reason == GF_GEN_STOP_ID || r->reason == GF_GEN_MAX_TOKENS) && r->n_out > 0)
        serve_replies_put(s->c.replies, r->text.p ? r->text.p : "", r->text.len, r->out, r->n_out);
    if (!s->cache || r->reason == GF_GEN_ERROR || r->reason == GF_GEN_CANCELLED) return;
    size_t n = r->n + r->n_out;
    int32_t *key = malloc(n * sizeof *key);
    gf_error err;
    gf_gen_snapshot *snap = key ? gf_generator_save(s->g, slot, &err) : NULL;
    if (snap && gf_gen_snapshot_context(snap) == n) {
        memcpy(key, r->ids, r->n * sizeof *key);
        if (r->n_out) memcpy(key + r->n, r->out, r->n_out * sizeof *key);
        serve_cache_put(s->cache, key, n, snap);
    } else {
        gf_gen_snapshot_free(snap); /* a context the key cannot describe: keep nothing */
    }
    free(key);
    serve_cache_stats st;
    serve_cache_stats_get(s->cache, &st);
    serve_metrics_cache(s->c.metrics, st.bytes, st.entries, st.evictions);
}

/* Delivers one event to its request; returns 1 when the slot finished. */
static int deliver_locked(serve_sched *s, const gf_gen_event *e) {
    serve_req *r = e->slot >= 0 && e->slot < s->c.slots ? s->running[e->slot] : NULL;
    if (!r) return 0;
    int news = 0;
    if (e->token >= 0) {
        if (r->n_out == r->cap_out) {
            size_t cap = r->cap_out ? 2 * r->cap_out : 64;
            int32_t *g = realloc(r->out, cap * sizeof *g);
            if (g) r->out = g, r->cap_out = cap;
        }
        if (r->n_out < r->cap_out) r->out[r->n_out++] = e->token;
        serve_metrics_generated(s->c.metrics, 1);
        if (!r->got_first) {
            r->got_first = 1;
            serve_metrics_ttft(s->c.metrics, sv_now() - r->t_arrival);
        }
        news = 1;
    }
    if (e->len > 0) {
        if (sv_buf_add(&r->text, e->text, e->len) == 0) news = 1;
        else r->error_status = 500, snprintf(r->error, sizeof r->error, "out of memory for the reply's text");
    }
    if (e->finished) r->reason = e->reason;
    /* A plain response has news once, when it is done (finish_locked): on
     * a machine with few cores every wake-up of the HTTP side takes a core
     * from the decode step for a moment. */
    if (news && r->stream) s->news = 1;
    return e->finished;
}

/* Frees slot b at once and ends its request. Locked; unlocks around the
 * generator call (no other thread touches the slot table's entry). */
static void leave_locked(serve_sched *s, int b, int reason, int error_status, const char *error) {
    serve_req *r = s->running[b];
    s->running[b] = NULL;
    s->n_running--;
    pthread_mutex_unlock(&s->mu);
    gf_generator_leave(s->g, b);
    pthread_mutex_lock(&s->mu);
    finish_locked(s, r, reason, error_status, error);
}

/* Tells the listener, unlocked, when requests have news. Locked. */
static void tell_locked(serve_sched *s) {
    if (!s->news || !s->listener) return;
    s->news = 0;
    pthread_mutex_unlock(&s->mu);
    s->listener(s->listener_ctx);
    pthread_mutex_lock(&s->mu);
}

static void *sched_main(void *arg) {
    serve_sched *s = arg;
    if (s->c.threads > 0) omp_set_num_threads((int)s->c.threads); /* per thread: set it here */
    int *done = s->done;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        /* one call for everything the last round delivered or ended: the
         * HTTP side then hands it all to its clients in one go */
        tell_locked(s);
        /* the cancelled, and everything once the drain's time is up */
        int late = s->stopping && sv_now() >= s->deadline;
        for (int b = 0; b < s->c.slots; b++) {
            serve_req *r = s->running[b];
            if (!r || !(r->cancel || late)) continue;
            if (r->cancel) serve_metrics_cancelled(s->c.metrics);
            leave_locked(s, b, GF_GEN_CANCELLED, late && !r->cancel ? 503 : 0,
                         "the server stopped before the reply was complete");
        }
        while (!s->stopping && s->head && s->n_running < s->c.slots) {
            serve_req *r = s->head;
            s->head = r->next;
            if (!s->head) s->tail = NULL;
            s->queued--;
            pthread_mutex_unlock(&s->mu);
            gf_error err;
            int slot = admit(s, r, &err);
            pthread_mutex_lock(&s->mu);
            if (slot < 0 || slot >= s->c.slots || s->running[slot]) {
                if (slot >= 0) gf_generator_leave(s->g, slot); /* a slot we think busy: a bug, refuse */
                finish_locked(s, r, GF_GEN_ERROR, 500, slot < 0 ? err.msg : "the generator gave a busy slot");
                continue;
            }
            r->state = R_RUNNING;
            r->slot = slot;
            s->running[slot] = r;
            s->n_running++;
        }
        gauges_locked(s);
        if (s->n_running == 0) {
            tell_locked(s);
            if (s->stopping) break;
            if (s->news) continue;
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        int n_ev = s->c.slots;
        pthread_mutex_unlock(&s->mu);
        gf_error err;
        double t0 = sv_now();
        int rc = gf_generator_round(s->g, s->ev, &n_ev, &err);
        double dt = sv_now() - t0;
        pthread_mutex_lock(&s->mu);
        serve_metrics_rounds(s->c.metrics, 1, (uint64_t)s->n_running, dt);
        /* A failed round ends only the sequences it concerned, reported as
         * finished with GF_GEN_ERROR among the events; the others carry on.
         * A failure that names none ends them all. */
        if (rc < 0 && n_ev == 0) {
            for (int b = 0; b < s->c.slots; b++)
                if (s->running[b]) leave_locked(s, b, GF_GEN_ERROR, 500, err.msg);
            continue;
        }
        int n_done = 0;
        for (int i = 0; i < n_ev; i++)
            if (deliver_locked(s, &s->ev[i])) done[n_done++] = s->ev[i].slot;
        if (n_done == 0) continue;
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < n_done; i++) remember(s, s->running[done[i]], done[i]);
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < n_done; i++) {
            serve_req *r = s->running[done[i]];
            int failed = r->reason == GF_GEN_ERROR;
            /* the round's error names the cause (e.g. non-finite logits) */
            leave_locked(s, done[i], r->reason, failed ? 500 : r->error_status,
                         failed ? (rc < 0 ? err.msg : "a decode step failed") : r->error);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the HTTP side ------------------------------------------------------ */

serve_sched *serve_sched_start(const serve_sched_config *c, gf_error *err) {
    serve_sched *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err->msg, sizeof err->msg, "serve: out of memory");
        return NULL;
    }
    s->c = *c;
    pthread_mutex_init(&s->mu, NULL);
    cond_init_monotonic(&s->cv);
    gf_gen_params defaults;
    gf_gen_params_default(&defaults);
    s->ev = calloc((size_t)c->slots, sizeof *s->ev);
    s->running = calloc((size_t)c->slots, sizeof *s->running);
    s->done = calloc((size_t)c->slots, sizeof *s->done);
    if (!s->ev || !s->running || !s->done || (c->cache_bytes > 0 && !(s->cache = serve_cache_new(c->cache_bytes)))) {
        snprintf(err->msg, sizeof err->msg, "serve: out of memory");
        goto fail;
    }
    if (!(s->g = gf_generator_new(c->m, c->tk, c->slots, &defaults, err))) goto fail;
    gf_generator_set_chunk(s->g, c->chunk);
    if (c->threads > 0) gf_generator_set_threads(s->g, (int)c->threads, NULL); /* as asked; else measured */
    return s;
fail:
    serve_sched_free(s);
    return NULL;
}

serve_req *serve_sched_submit(serve_sched *s, const serve_job *j, int *status, char *msg, size_t msg_cap) {
    serve_req *r = req_new(j);
    if (!r) {
        *status = 500;
        snprintf(msg, msg_cap, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    int free_slots = s->c.slots - s->n_running;
    if (s->stopping || s->queued >= s->c.queue_max + free_slots) {
        *status = 503;
        snprintf(msg, msg_cap,
                 s->stopping ? "the server is shutting down"
                             : "the server is busy: every slot is in use and the queue is full; retry later");
        pthread_mutex_unlock(&s->mu);
        req_free(r);
        return NULL;
    }
    r->refs = 2; /* the HTTP thread's and the scheduler's */
    r->state = R_QUEUED;
    if (s->tail) s->tail->next = r;
    else s->head = r;
    s->tail = r;
    s->queued++;
    gauges_locked(s);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void status_locked(const serve_req *r, serve_req_status *st) {
    st->done = r->state == R_DONE;
    st->reason = r->reason;
    st->error_status = r->error_status;
    snprintf(st->error, sizeof st->error, "%s", r->error);
    st->prompt_tokens = r->n;
    st->cached_tokens = r->cached;
    st->completion_tokens = r->state == R_DONE ? r->n_out : 0;
}

int serve_sched_take(serve_sched *s, serve_req *r, size_t *from, sv_buf *out, serve_req_status *st) {
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    if (r->text.len > *from) {
        if (out && sv_buf_add(out, r->text.p + *from, r->text.len - *from)) rc = -1;
        else *from = r->text.len, rc = 1;
    }
    if (r->state == R_DONE && rc == 0) rc = 1;
    status_locked(r, st);
    /* done, but text still to hand over: not done yet for the reader */
    if (r->text.len > *from) st->done = 0;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int serve_sched_has_news(serve_sched *s, const serve_req *r, size_t from) {
    pthread_mutex_lock(&s->mu);
    int news = r->text.len > from || r->state == R_DONE;
    pthread_mutex_unlock(&s->mu);
    return news;
}

void serve_sched_set_listener(serve_sched *s, void (*fn)(void *ctx), void *ctx) {
    pthread_mutex_lock(&s->mu);
    s->listener = fn;
    s->listener_ctx = ctx;
    pthread_mutex_unlock(&s->mu);
}

void serve_sched_cancel(serve_sched *s, serve_req *r) {
    pthread_mutex_lock(&s->mu);
    if (r->state == R_QUEUED) {
        serve_req **pp = &s->head, *prev = NULL;
        while (*pp && *pp != r) prev = *pp, pp = &(*pp)->next;
        if (*pp) {
            *pp = r->next;
            if (s->tail == r) s->tail = prev;
            s->queued--;
            gauges_locked(s);
            serve_metrics_cancelled(s->c.metrics);
            finish_locked(s, r, GF_GEN_CANCELLED, 0, "");
        }
    } else if (r->state == R_RUNNING) {
        r->cancel = 1;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
}

void serve_sched_release(serve_sched *s, serve_req *r) {
    if (!r) return;
    pthread_mutex_lock(&s->mu);
    unref_locked(r);
    pthread_mutex_unlock(&s->mu);
}

/* The loop runs on the thread that loaded the model, the one whose OpenMP
 * team every product then uses. A second thread with a team of its own
 * would double the threads libgomp manages: past the cores, it stops
 * spinning between parallel regions after a few iterations and sleeps, and
 * the futex wake-ups took a third of each decode step here. */
void serve_sched_run(serve_sched *s) { sched_main(s); }

void serve_sched_stop(serve_sched *s, double drain_s) {
    pthread_mutex_lock(&s->mu);
    if (!s->stopping) {
        s->stopping = 1;
        s->deadline = sv_now() + drain_s;
        while (s->head) {
            serve_req *r = s->head;
            s->head = r->next;
            s->queued--;
            finish_locked(s, r, GF_GEN_CANCELLED, 503, "the server is shutting down");
        }
        s->tail = NULL;
        gauges_locked(s);
        pthread_cond_signal(&s->cv);
        tell_locked(s); /* the queued requests' 503s */
    }
    pthread_mutex_unlock(&s->mu);
}

void serve_sched_free(serve_sched *s) {
    if (!s) return;
    gf_generator_free(s->g);
    serve_cache_free(s->cache);
    free(s->ev);
    free(s->running);
    free(s->done);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
