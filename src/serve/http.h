/* The HTTP side of `griffin serve` on libmicrohttpd: routes, API key,
 * body limits, the OpenAI endpoints (turning a body into ids and a
 * scheduler job), plain and server-sent-event responses, /v1/models,
 * /health and /metrics.
 *
 * Threading: one libmicrohttpd thread polls every connection (epoll). It
 * parses and tokenizes a request and queues it with the scheduler; while the
 * request has nothing to send, its connection is suspended (parked). The
 * scheduler's listener resumes the parked connections that have news after
 * each round, so one wake-up of one thread hands a round's tokens to every
 * stream, and a slow client only fills its own socket's buffer. A watcher
 * thread resumes connections parked for 100 ms, so each looks at its
 * socket for a hang-up (POLLRDHUP) and a client that goes away is cancelled
 * at once even while its request waits in the queue or produces nothing;
 * libmicrohttpd's request-completed callback
 * with an error code cancels it too. */
#ifndef GF_SERVE_HTTP_H
#define GF_SERVE_HTTP_H

#include <stddef.h>

#include "griffin.h"
#include "serve/metrics.h"
#include "serve/replies.h"
#include "serve/scheduler.h"

typedef struct {
    const char *host;        /* an address or a name (getaddrinfo) */
    int port;                /* 0: any free port */
    const char *api_key;     /* NULL: none required */
    size_t max_body;         /* bytes */
    int ctx;                 /* most ids a request's context may hold */
    int max_connections;
    const char *model_name;  /* what /v1/models lists and responses name */
    const gf_tokenizer *tk;
    int vocab;               /* the model's V */
    int bos, eos, end_of_turn; /* ids; -1 when the model has none */
    int chat_ok;             /* the tokenizer has the Gemma turn pieces */
    serve_sched *sched;
    serve_metrics *metrics;
    serve_replies *replies;
} serve_http_config;

typedef struct serve_http serve_http;

/* Listens and serves; NULL with a message in err. */
serve_http *serve_http_start(const serve_http_config *c, char *err, size_t err_cap);
/* The port it listens on. */
int serve_http_port(const serve_http *h);
/* Stops accepting connections (those open go on). */
void serve_http_quiesce(serve_http *h);
/* Waits (up to `seconds`) until every request handed to the scheduler has
 * been answered in full: after the scheduler stops, so that the last events
 * of the streams it ended reach their clients. */
void serve_http_wait_idle(serve_http *h, double seconds);
/* Resumes the parked connections (which then end), closes every
 * connection, stops the threads, frees h. */
void serve_http_stop(serve_http *h);

#endif
