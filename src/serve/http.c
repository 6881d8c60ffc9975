/* HTTP (http.h) on libmicrohttpd: one thread polls every connection (epoll);
 * a connection waiting for its generation is suspended ("parked") and
 * resumed when the scheduler's listener says it has news.
 *
 * Locking: h->mu guards the parked list and each connection's `parked`
 * flag; it is taken before the scheduler's lock (a take under h->mu), never
 * after, and libmicrohttpd's suspend / resume are called under it, so that a
 * connection is parked and checked for news atomically: the listener runs
 * after the news is in, and it needs h->mu, so it cannot miss a connection
 * that is being parked. A parked connection never completes (libmicrohttpd
 * does not look at it), so the list never holds a freed one. */
#define _GNU_SOURCE /* POLLRDHUP */
#include "serve/http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve/openai.h"

#define WAIT_MS 100            /* longest a connection stays parked before it checks its client's socket */
#define KEEPALIVE_S 15.0       /* an SSE comment after this long without a byte */
#define IDLE_TIMEOUT_S 60      /* libmicrohttpd closes connections idle this long */

struct serve_http {
    serve_http_config c;
    struct MHD_Daemon *d;
    int port;
    MHD_socket quiesced;       /* the listening socket once quiesced (ours to close) */
    int active;                /* requests handed to the scheduler and not yet completed (atomic) */
    long started;              /* Unix time, the model's "created" */
    pthread_mutex_t mu;
    struct conn *parked;       /* the suspended connections (a doubly linked list) */
    int n_resumed;             /* resumed, and not yet run again by libmicrohttpd */
    int stopping;              /* no more parking: the daemon is about to stop */
    pthread_t watcher;         /* resumes connections parked for WAIT_MS */
    pthread_cond_t watcher_cv;
    int watcher_started;
};

typedef struct conn {
    serve_http *h;
    serve_endpoint ep;
    struct MHD_Connection *mc;
    MHD_socket fd;
    sv_buf body;
    int too_large;
    /* a queued or running generation */
    serve_req *r;
    char id[64];
    oai_meta meta;
    int include_usage;
    size_t from;               /* bytes of the request's text read so far */
    sv_buf text;               /* text read (plain) / not yet sent as a chunk (stream) */
    sv_buf out;                /* SSE bytes not yet given to libmicrohttpd */
    size_t out_off;
    int streamed;              /* the response is a stream (stream_reader does the work) */
    int opened, closed;        /* stream: first chunk sent / [DONE] queued */
    double last_byte;
    /* under h->mu */
    int parked, resumed;
    double parked_at;
    struct conn *park_prev, *park_next;
} conn;

static uint64_t g_counter;

static uint64_t next_count(void) { return __atomic_add_fetch(&g_counter, 1, __ATOMIC_RELAXED); }

/* ---- responses ------------------------------------------------------------- */

static enum MHD_Result send_buf(conn *k, struct MHD_Connection *c, int status, const char *type, sv_buf *b,
                                const char *h1, const char *v1) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(b->len, b->p ? b->p : (char *)"", MHD_RESPMEM_MUST_COPY);
    sv_buf_free(b);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (h1) MHD_add_response_header(resp, h1, v1);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    serve_metrics_request(k->h->c.metrics, k->ep, status);
    return rc;
}

static enum MHD_Result send_error(conn *k, struct MHD_Connection *c, const oai_error *e) {
    sv_buf b = {0};
    if (oai_error_json(e, &b)) return MHD_NO;
    const char *h1 = NULL, *v1 = NULL;
    if (e->status == 503) h1 = MHD_HTTP_HEADER_RETRY_AFTER, v1 = "1";
    if (e->status == 405) h1 = MHD_HTTP_HEADER_ALLOW, v1 = k->ep <= EP_CHAT ? "POST" : "GET, HEAD";
    if (e->status == 401) h1 = MHD_HTTP_HEADER_WWW_AUTHENTICATE, v1 = "Bearer";
    return send_buf(k, c, e->status, "application/json", &b, h1, v1);
}

static enum MHD_Result fail(conn *k, struct MHD_Connection *c, int status, const char *type, const char *code,
                            const char *msg) {
    oai_error e;
    oai_fail(&e, status, type, NULL, code, "%s", msg);
    return send_error(k, c, &e);
}

/* Whether the client closed its end (or the connection broke). */
static int client_gone(MHD_socket fd) {
    if (fd == MHD_INVALID_SOCKET) return 0;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* ---- GET endpoints --------------------------------------------------------- */

static enum MHD_Result get_endpoint(conn *k, struct MHD_Connection *c) {
    serve_http *h = k->h;
    sv_buf b = {0};
    if (k->ep == EP_MODELS) {
        if (oai_models_json(h->c.model_name, h->started, &b)) return MHD_NO;
        return send_buf(k, c, 200, "application/json", &b, NULL, NULL);
    }
    if (k->ep == EP_HEALTH) {
        if (sv_buf_printf(&b, "{\"status\":\"ok\",\"slots_in_use\":%d}",
                          serve_metrics_slots_in_use(h->c.metrics)))
            return MHD_NO;
        return send_buf(k, c, 200, "application/json", &b, NULL, NULL);
    }
    /* the request is counted before the text is made, so it counts itself */
    serve_metrics_request(h->c.metrics, EP_METRICS, 200);
    if (serve_metrics_render(h->c.metrics, &b)) return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_COPY);
    sv_buf_free(&b);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result rc = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* ---- parking ------------------------------------------------------------------ */

/* Takes the request's news; when there is none, parks the connection
 * unless the response must end (*stop set: the daemon stops, or the client
 * hung up). 1 news, 0 parked or *stop, -1 out of memory. Called by
 * libmicrohttpd's thread, from the handler or the content reader of k.
 * The client's socket is looked at only when there is nothing to send: a
 * stream that gets a chunk every round would pay a poll() a round for
 * nothing, and libmicrohttpd's send to a closed socket ends it anyway. */
static int take_or_park(conn *k, serve_req_status *st, int *stop) {
    serve_http *h = k->h;
    *stop = 0;
    pthread_mutex_lock(&h->mu);
    int rc = serve_sched_take(h->c.sched, k->r, &k->from, &k->text, st);
    if (rc == 0) {
        if (h->stopping || client_gone(k->fd)) {
            *stop = 1;
        } else {
            MHD_suspend_connection(k->mc);
            k->parked = 1;
            k->parked_at = sv_now();
            k->park_prev = NULL;
            k->park_next = h->parked;
            if (h->parked) h->parked->park_prev = k;
            h->parked = k;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* Under h->mu. */
static void unpark_locked(serve_http *h, conn *k) {
    if (k->park_prev) k->park_prev->park_next = k->park_next;
    else h->parked = k->park_next;
    if (k->park_next) k->park_next->park_prev = k->park_prev;
    k->park_prev = k->park_next = NULL;
    k->parked = 0;
    k->resumed = 1;
    h->n_resumed++;
    MHD_resume_connection(k->mc);
}

/* libmicrohttpd runs k again (or closes it): it is no longer counted as
 * resumed. */
static void running_again(conn *k) {
    pthread_mutex_lock(&k->h->mu);
    if (k->resumed) k->resumed = 0, k->h->n_resumed--;
    pthread_mutex_unlock(&k->h->mu);
}

/* The scheduler's listener: resumes the parked connections that have news,
 * after a round, all at once (one wake-up of the polling thread). */
static void on_news(void *ctx) {
    serve_http *h = ctx;
    pthread_mutex_lock(&h->mu);
    for (conn *k = h->parked, *next; k; k = next) {
        next = k->park_next;
        if (serve_sched_has_news(h->c.sched, k->r, k->from)) unpark_locked(h, k);
    }
    pthread_mutex_unlock(&h->mu);
}

/* Resumes connections parked for WAIT_MS, so they look at their client's
 * socket (a hang-up cancels the request even while it waits in the queue
 * or produces nothing) and send a stream's keep-alive. */
static void *watch_parked(void *arg) {
    serve_http *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += WAIT_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&h->watcher_cv, &h->mu, &until);
        double now = sv_now();
        for (conn *k = h->parked, *next; k; k = next) {
            next = k->park_next;
            if (h->stopping || now - k->parked_at >= WAIT_MS * 1e-3) unpark_locked(h, k);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ---- streams --------------------------------------------------------------- */

static int error_event(const oai_error *e, sv_buf *out) {
    int rc = sv_buf_add(out, "data: ", 6);
    rc |= oai_error_json(e, out);
    rc |= sv_buf_add(out, "\n\n", 2);
    return rc;
}

/* Fills k->out with the next events, or parks the connection when there
 * are none (k->out stays empty); 0, or -1 when the stream must end with an
 * error (the client went away, the server stops, or out of memory). */
static int next_events(conn *k) {
    serve_http *h = k->h;
    if (!k->opened) {
        k->opened = 1;
        if (k->meta.chat) return oai_chunk_event(&k->meta, "", 0, NULL, 1, k->include_usage, &k->out);
    }
    /* a keep-alive when the client has heard nothing for long; the next
     * call takes the news or parks */
    if (sv_now() - k->last_byte > KEEPALIVE_S && !serve_sched_has_news(h->c.sched, k->r, k->from))
        return sv_buf_add(&k->out, ": keep-alive\n\n", 14) ? -1 : 0;
    serve_req_status st;
    k->text.len = 0;
    int stop;
    int news = take_or_park(k, &st, &stop);
    if (news < 0 || stop) {
        serve_sched_cancel(h->c.sched, k->r);
        return -1;
    }
    if (news == 0) return 0; /* parked, k->out empty */
    int rc = 0;
    if (k->text.len) rc |= oai_chunk_event(&k->meta, k->text.p, k->text.len, NULL, 0, k->include_usage, &k->out);
    if (st.done) {
        if (st.error_status) {
            oai_error e;
            oai_fail(&e, st.error_status, "server_error", NULL, NULL, "%s", st.error);
            rc |= error_event(&e, &k->out);
        } else {
            rc |= oai_chunk_event(&k->meta, "", 0, oai_finish_reason(st.reason), 0, k->include_usage, &k->out);
            if (k->include_usage) rc |= oai_usage_event(&k->meta, st.prompt_tokens, st.completion_tokens, &k->out);
        }
        rc |= sv_buf_add(&k->out, "data: [DONE]\n\n", 14);
        k->closed = 1;
    }
    return rc ? -1 : 0;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    conn *k = cls;
    (void)pos;
    running_again(k);
    if (k->out_off >= k->out.len) {
        if (k->closed) return MHD_CONTENT_READER_END_OF_STREAM;
        k->out.len = 0;
        k->out_off = 0;
        if (next_events(k)) return MHD_CONTENT_READER_END_WITH_ERROR;
        /* parked with nothing to send: libmicrohttpd calls again once resumed */
        if (k->out.len == 0) return 0;
    }
    size_t n = k->out.len - k->out_off;
    if (n > max) n = max;
    memcpy(buf, k->out.p + k->out_off, n);
    k->out_off += n;
    k->last_byte = sv_now();
    return (ssize_t)n;
}

/* ---- the OpenAI endpoints ---------------------------------------------------- */

static enum MHD_Result plain_reply(conn *k, struct MHD_Connection *c);

static enum MHD_Result post_endpoint(conn *k, struct MHD_Connection *c) {
    serve_http *h = k->h;
    int chat = k->ep == EP_CHAT;
    oai_error e;
    oai_request rq;
    if (!sv_utf8_valid(k->body.p ? k->body.p : "", k->body.len))
        return fail(k, c, 400, "invalid_request_error", NULL, "the body is not valid UTF-8 (or holds a NUL byte)");
    if (oai_parse(k->body.p ? k->body.p : "", k->body.len, chat, &rq, &e)) return send_error(k, c, &e);
    int32_t *ids = NULL;
    size_t n = 0;
    enum MHD_Result res;
    if (chat && !h->c.chat_ok) {
        oai_fail(&e, 400, "invalid_request_error", "messages", NULL,
                 "this model's tokenizer has no <start_of_turn> / <end_of_turn> pieces, so it is not an "
                 "instruction-tuned Gemma model: use /v1/completions");
        goto error;
    }
    if (chat ? oai_chat_ids(&rq, h->c.tk, h->c.bos, h->c.replies, &ids, &n, &e)
             : oai_completion_ids(&rq, h->c.tk, h->c.bos, h->c.vocab, &ids, &n, &e))
        goto error;
    gf_gen_params p;
    int32_t stops[2];
    uint64_t seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull + next_count();
    if (oai_gen_params(&rq, chat, n, h->c.ctx, h->c.eos, h->c.end_of_turn, h->c.vocab, seed, stops, &p, &e))
        goto error;
    serve_job job = {ids, n, &p, chat, sv_now(), rq.stream};
    int status = 0;
    char why[256];
    if (!(k->r = serve_sched_submit(h->c.sched, &job, &status, why, sizeof why))) {
        oai_fail(&e, status, "server_error", NULL, status == 503 ? "server_overloaded" : NULL, "%s", why);
        goto error;
    }
    __atomic_add_fetch(&h->active, 1, __ATOMIC_RELAXED);
    free(ids);
    ids = NULL;
    snprintf(k->id, sizeof k->id, "%s-%lx%llx", chat ? "chatcmpl" : "cmpl", h->started, (unsigned long long)next_count());
    k->meta = (oai_meta){chat, k->id, h->c.model_name, (long)time(NULL)};
    k->include_usage = rq.stream && rq.include_usage;
    if (rq.stream) {
        oai_request_free(&rq);
        k->last_byte = sv_now();
        k->streamed = 1;
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, k, NULL);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        res = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        serve_metrics_request(h->c.metrics, k->ep, 200);
        return res;
    }
    oai_request_free(&rq);
    return plain_reply(k, c);
error:
    free(ids);
    oai_request_free(&rq);
    return send_error(k, c, &e);
}

/* A plain response: sends it once the generation is done, else parks the
 * connection (the handler runs again when it is resumed). */
static enum MHD_Result plain_reply(conn *k, struct MHD_Connection *c) {
    serve_http *h = k->h;
    serve_req_status st;
    int stop;
    for (;;) {
        int news = take_or_park(k, &st, &stop);
        if (news < 0) {
            serve_sched_cancel(h->c.sched, k->r);
            return fail(k, c, 500, "server_error", NULL, "out of memory");
        }
        if (stop) {
            serve_sched_cancel(h->c.sched, k->r);
            return MHD_NO;
        }
        if (news == 0) return MHD_YES; /* parked */
        if (st.done) break;
    }
    if (st.error_status) return fail(k, c, st.error_status, "server_error", NULL, st.error);
    sv_buf b = {0};
    if (oai_response_json(&k->meta, k->text.p ? k->text.p : "", k->text.len, oai_finish_reason(st.reason),
                          st.prompt_tokens, st.completion_tokens, &b)) {
        sv_buf_free(&b);
        return MHD_NO;
    }
    return send_buf(k, c, 200, "application/json", &b, NULL, NULL);
}

/* ---- routing ----------------------------------------------------------------- */

static serve_endpoint route(const char *url) {
    static const struct { const char *path; serve_endpoint ep; } table[] = {
        {"/v1/completions", EP_COMPLETIONS}, {"/v1/chat/completions", EP_CHAT}, {"/v1/models", EP_MODELS},
        {"/health", EP_HEALTH}, {"/metrics", EP_METRICS}};
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (!strcmp(url, table[i].path)) return table[i].ep;
    return EP_OTHER;
}

/* Compares without stopping at the first difference. */
static int same_secret(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = na != nb;
    for (size_t i = 0; i < na; i++) d |= (unsigned char)(a[i] ^ b[i % (nb ? nb : 1)]);
    return d == 0;
}

static int authorized(serve_http *h, struct MHD_Connection *c) {
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!v || strncasecmp(v, "Bearer ", 7) != 0) return 0;
    v += 7;
    while (*v == ' ') v++;
    return same_secret(v, h->c.api_key);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **req_cls) {
    serve_http *h = cls;
    conn *k = *req_cls;
    (void)version;
    if (!k) {
        if (!(k = calloc(1, sizeof *k))) return MHD_NO;
        *req_cls = k;
        k->h = h;
        k->ep = route(url);
        k->mc = c;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        k->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
        int post = !strcmp(method, MHD_HTTP_METHOD_POST);
        int get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
        if (k->ep == EP_OTHER)
            return fail(k, c, 404, "invalid_request_error", "not_found", "no such endpoint (see GET /v1/models)");
        if (k->ep <= EP_CHAT ? !post : !get)
            return fail(k, c, 405, "invalid_request_error", "method_not_allowed",
                        k->ep <= EP_CHAT ? "this endpoint takes POST" : "this endpoint takes GET");
        if (h->c.api_key && k->ep != EP_HEALTH && !authorized(h, c))
            return fail(k, c, 401, "invalid_request_error", "invalid_api_key",
                        "a valid API key is required: send 'Authorization: Bearer KEY'");
        if (get) return get_endpoint(k, c);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > h->c.max_body) {
            char msg[128];
            snprintf(msg, sizeof msg, "the body is larger than this server's limit of %zu bytes (--max-body)",
                     h->c.max_body);
            return fail(k, c, 413, "invalid_request_error", "request_too_large", msg);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!k->too_large && k->body.len + *upload_size > h->c.max_body) {
            k->too_large = 1;
            sv_buf_free(&k->body);
        }
        if (!k->too_large && sv_buf_add(&k->body, upload_data, *upload_size)) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (k->r) {
        /* resumed: a stream's reader does the work; a plain reply's is here */
        running_again(k);
        return k->streamed ? MHD_YES : plain_reply(k, c);
    }
    if (k->too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is larger than this server's limit of %zu bytes (--max-body)",
                 h->c.max_body);
        return fail(k, c, 413, "invalid_request_error", "request_too_large", msg);
    }
    return post_endpoint(k, c);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe) {
    serve_http *h = cls;
    conn *k = *req_cls;
    (void)c;
    if (!k) return;
    running_again(k);
    if (k->r) {
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) serve_sched_cancel(h->c.sched, k->r);
        serve_sched_release(h->c.sched, k->r);
        __atomic_sub_fetch(&h->active, 1, __ATOMIC_RELAXED);
    }
    sv_buf_free(&k->body);
    sv_buf_free(&k->text);
    sv_buf_free(&k->out);
    free(k);
    *req_cls = NULL;
}

static void free_http(serve_http *h) {
    pthread_cond_destroy(&h->watcher_cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

serve_http *serve_http_start(const serve_http_config *c, char *err, size_t err_cap) {
    serve_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    h->c = *c;
    h->quiesced = MHD_INVALID_SOCKET;
    h->started = (long)time(NULL);
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->watcher_cv, &ca);
    pthread_condattr_destroy(&ca);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    int gai = getaddrinfo(c->host, port, &hints, &ai);
    if (gai) {
        snprintf(err, err_cap, "--host %s: %s", c->host, gai_strerror(gai));
        free_http(h);
        return NULL;
    }
    /* One polling thread for every connection: the streams' chunks of a round
     * go out in one wake-up of one thread, not one per connection (on two
     * cores those wake-ups took a tenth of the decode's time). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, (uint16_t)c->port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d) {
        snprintf(err, err_cap, "cannot listen on %s port %d (in use, or not an address of this machine?)",
                 c->host, c->port);
        free_http(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : c->port;
    if (pthread_create(&h->watcher, NULL, watch_parked, h) != 0) {
        snprintf(err, err_cap, "cannot start a thread");
        MHD_stop_daemon(h->d);
        free_http(h);
        return NULL;
    }
    h->watcher_started = 1;
    serve_sched_set_listener(c->sched, on_news, h);
    return h;
}

int serve_http_port(const serve_http *h) { return h->port; }

void serve_http_quiesce(serve_http *h) {
    if (h->quiesced == MHD_INVALID_SOCKET) h->quiesced = MHD_quiesce_daemon(h->d);
}

void serve_http_wait_idle(serve_http *h, double seconds) {
    double until = sv_now() + seconds;
    while (__atomic_load_n(&h->active, __ATOMIC_RELAXED) > 0 && sv_now() < until) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void serve_http_stop(serve_http *h) {
    if (!h) return;
    serve_sched_set_listener(h->c.sched, NULL, NULL);
    /* libmicrohttpd must not be stopped with suspended connections: resume
     * them all (they end, as nothing parks any more) and give its thread a
     * moment to run them */
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    while (h->parked) unpark_locked(h, h->parked);
    pthread_cond_signal(&h->watcher_cv);
    pthread_mutex_unlock(&h->mu);
    if (h->watcher_started) pthread_join(h->watcher, NULL);
    for (double until = sv_now() + 2.0; sv_now() < until;) {
        pthread_mutex_lock(&h->mu);
        int left = h->n_resumed + (h->parked != NULL);
        pthread_mutex_unlock(&h->mu);
        if (!left) break;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(h->d);
    if (h->quiesced != MHD_INVALID_SOCKET) close(h->quiesced);
    free_http(h);
}
