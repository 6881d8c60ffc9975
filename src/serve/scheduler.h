/* The scheduler: one thread owns the model's generator (N slots) and loops
 *
 *   admit queued requests into free slots (continuing a cached state when
 *   one matches the start of the prompt) -> run one round (a prompt chunk
 *   for joining sequences, one decode step for the running ones) -> hand
 *   each slot's new text to its request and tell the listener (the HTTP
 *   side) once -> save the states of the finished ones into the cache and free their
 *   slots; free the slots of cancelled ones at once.
 *
 * The HTTP side submits requests (already tokenized) into a bounded queue and
 * takes their text as it grows, never waiting: the listener tells it when
 * there is news. It never touches the model, so a slow client slows nobody.
 * One mutex guards the queue and every request's shared fields. */
#ifndef GF_SERVE_SCHEDULER_H
#define GF_SERVE_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "griffin.h"
#include "serve/metrics.h"
#include "serve/replies.h"
#include "serve/util.h"

typedef struct serve_sched serve_sched;
typedef struct serve_req serve_req;

typedef struct {
    const gf_model *m;
    const gf_tokenizer *tk;
    int slots;           /* sequences stepped together */
    int queue_max;       /* requests that may wait for a slot */
    int chunk;           /* prompt ids a joining sequence is fed per round */
    long threads;        /* OpenMP threads of the scheduler's loops (0: default) */
    size_t cache_bytes;  /* the state cache's bound (0: no cache) */
    serve_metrics *metrics;
    serve_replies *replies;
} serve_sched_config;

/* Makes the generator and the cache; NULL with err. */
serve_sched *serve_sched_start(const serve_sched_config *c, gf_error *err);

typedef struct {
    const int32_t *ids;          /* [n] the prompt (copied) */
    size_t n;
    const gf_gen_params *params; /* copied, with its stop ids and strings */
    int remember_reply;          /* a chat reply: keep its ids for the next turn (replies.h) */
    double t_arrival;            /* sv_now() when the request arrived */
    int stream;                  /* its text is wanted as it comes (else only at the end) */
} serve_job;

/* Queues a job. NULL when it cannot wait (the queue is full, or the server
 * is stopping): *status gets the HTTP status (503) and msg the reason. */
serve_req *serve_sched_submit(serve_sched *s, const serve_job *j, int *status, char *msg, size_t msg_cap);

typedef struct {
    int done;                 /* finished, for whatever reason */
    int reason;               /* gf_gen_stop, once done */
    int error_status;         /* non-zero when it failed: the HTTP status */
    char error[256];          /* and why */
    size_t prompt_tokens, completion_tokens, cached_tokens;
} serve_req_status;

/* Takes the text past *from without waiting: appends it to out (when not
 * NULL), advances *from and fills st. 1 when there was news (text or the
 * end), 0 when none, -1 when out of memory. */
int serve_sched_take(serve_sched *s, serve_req *r, size_t *from, sv_buf *out, serve_req_status *st);
/* 1 when r has text past `from`, or has ended. */
int serve_sched_has_news(serve_sched *s, const serve_req *r, size_t from);
/* fn(ctx) is called, with no lock of the scheduler's held, after requests
 * got news (text or their end): once per round however many did, and when
 * serve_sched_stop ends the queued ones. Set it before serve_sched_run. */
void serve_sched_set_listener(serve_sched *s, void (*fn)(void *ctx), void *ctx);
/* The client went away: a queued request is dropped, a running one leaves
 * its slot at the scheduler's next turn (before its next round). */
void serve_sched_cancel(serve_sched *s, serve_req *r);
/* The HTTP side is done with r. */
void serve_sched_release(serve_sched *s, serve_req *r);

/* Runs the scheduler's loop in the calling thread (the one that loaded the
 * model) until serve_sched_stop has been called and the loop has drained. */
void serve_sched_run(serve_sched *s);
/* Stops taking requests (from any thread): the queued ones fail (503), the
 * running ones go on for up to drain_s seconds and are cancelled after that,
 * then serve_sched_run returns. */
void serve_sched_stop(serve_sched *s, double drain_s);
void serve_sched_free(serve_sched *s);

#endif
