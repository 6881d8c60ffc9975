/* The server's counters and gauges, and their Prometheus text exposition
 * (GET /metrics). Every function takes the metrics' own lock: HTTP threads
 * and the scheduler update them concurrently. */
#ifndef GF_SERVE_METRICS_H
#define GF_SERVE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "serve/util.h"

typedef enum {
    EP_COMPLETIONS = 0,
    EP_CHAT = 1,
    EP_MODELS = 2,
    EP_HEALTH = 3,
    EP_METRICS = 4,
    EP_OTHER = 5,
    EP_COUNT = 6
} serve_endpoint;
/* "/v1/completions", ..., "other" */
const char *serve_endpoint_name(serve_endpoint e);

typedef struct serve_metrics serve_metrics;
serve_metrics *serve_metrics_new(int slots_total);
void serve_metrics_free(serve_metrics *m);

/* One response sent: its endpoint and HTTP status. */
void serve_metrics_request(serve_metrics *m, serve_endpoint e, int status);
/* Tokens: a prompt admitted (of which `cached` came from the state cache),
 * and ids generated. */
void serve_metrics_prompt(serve_metrics *m, size_t tokens, size_t cached, int cache_hit, int cache_used);
void serve_metrics_generated(serve_metrics *m, size_t tokens);
/* Seconds from a request's arrival to its first generated token. */
void serve_metrics_ttft(serve_metrics *m, double seconds);
/* The scheduler's view after each change. */
void serve_metrics_gauges(serve_metrics *m, int slots_in_use, int queue_length);
void serve_metrics_cache(serve_metrics *m, size_t bytes, size_t entries, uint64_t evictions);
void serve_metrics_cancelled(serve_metrics *m);
void serve_metrics_rounds(serve_metrics *m, uint64_t rounds, uint64_t slot_rounds, double seconds);
/* Slots in use now (for tests and the health check). */
int serve_metrics_slots_in_use(serve_metrics *m);

/* The Prometheus text format (version 0.0.4) of everything; -1 when out of
 * memory. */
int serve_metrics_render(serve_metrics *m, sv_buf *out);

#endif
