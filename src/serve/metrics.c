/* Metrics (metrics.h). Requests are counted per endpoint and status class
 * kept exact (a fixed table of the statuses the server sends); time to
 * first token is a histogram with fixed buckets from 1 ms to 60 s. */
#include "serve/metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const int STATUSES[] = {200, 400, 401, 404, 405, 413, 500, 503};
#define N_STATUS ((int)(sizeof STATUSES / sizeof *STATUSES))
static const double TTFT_BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0, 60.0};
#define N_BUCKETS ((int)(sizeof TTFT_BUCKETS / sizeof *TTFT_BUCKETS))

typedef struct {
    int slots_total, slots_in_use, queue_length;
    uint64_t requests[EP_COUNT][N_STATUS + 1]; /* the last column: any other status */
    uint64_t prompt_tokens, cached_tokens, generated_tokens, cache_hits, cache_misses, cancelled;
    uint64_t ttft_count, ttft_buckets[N_BUCKETS];
    double ttft_sum;
    size_t cache_bytes, cache_entries;
    uint64_t cache_evictions, rounds, slot_rounds;
    double round_seconds;
} counters;

struct serve_metrics {
    pthread_mutex_t mu;
    counters c;
};

const char *serve_endpoint_name(serve_endpoint e) {
    static const char *const names[EP_COUNT] = {"/v1/completions", "/v1/chat/completions", "/v1/models",
                                                "/health", "/metrics", "other"};
    return e >= 0 && e < EP_COUNT ? names[e] : "other";
}

serve_metrics *serve_metrics_new(int slots_total) {
    serve_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->c.slots_total = slots_total;
    return m;
}

void serve_metrics_free(serve_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void serve_metrics_request(serve_metrics *m, serve_endpoint e, int status) {
    int k = 0;
    while (k < N_STATUS && STATUSES[k] != status) k++;
    if (e < 0 || e >= EP_COUNT) e = EP_OTHER;
    pthread_mutex_lock(&m->mu);
    m->c.requests[e][k]++;
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_prompt(serve_metrics *m, size_t tokens, size_t cached, int cache_hit, int cache_used) {
    pthread_mutex_lock(&m->mu);
    m->c.prompt_tokens += tokens;
    m->c.cached_tokens += cached;
    if (cache_used) {
        if (cache_hit) m->c.cache_hits++;
        else m->c.cache_misses++;
    }
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_generated(serve_metrics *m, size_t tokens) {
    pthread_mutex_lock(&m->mu);
    m->c.generated_tokens += tokens;
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_ttft(serve_metrics *m, double s) {
    pthread_mutex_lock(&m->mu);
    m->c.ttft_count++;
    m->c.ttft_sum += s;
    for (int i = 0; i < N_BUCKETS; i++)
        if (s <= TTFT_BUCKETS[i]) m->c.ttft_buckets[i]++;
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_gauges(serve_metrics *m, int slots_in_use, int queue_length) {
    pthread_mutex_lock(&m->mu);
    m->c.slots_in_use = slots_in_use;
    m->c.queue_length = queue_length;
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_cache(serve_metrics *m, size_t bytes, size_t entries, uint64_t evictions) {
    pthread_mutex_lock(&m->mu);
    m->c.cache_bytes = bytes;
    m->c.cache_entries = entries;
    m->c.cache_evictions = evictions;
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_cancelled(serve_metrics *m) {
    pthread_mutex_lock(&m->mu);
    m->c.cancelled++;
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_rounds(serve_metrics *m, uint64_t rounds, uint64_t slot_rounds, double seconds) {
    pthread_mutex_lock(&m->mu);
    m->c.round_seconds += seconds;
    m->c.rounds += rounds;
    m->c.slot_rounds += slot_rounds;
    pthread_mutex_unlock(&m->mu);
}

int serve_metrics_slots_in_use(serve_metrics *m) {
    pthread_mutex_lock(&m->mu);
    int n = m->c.slots_in_use;
    pthread_mutex_unlock(&m->mu);
    return n;
}

#define P(...) rc |= sv_buf_printf(out, __VA_ARGS__)

int serve_metrics_render(serve_metrics *m, sv_buf *out) {
    pthread_mutex_lock(&m->mu);
    counters c = m->c; /* a consistent copy, printed unlocked */
    pthread_mutex_unlock(&m->mu);
    int rc = 0;
    P("# HELP griffin_requests_total HTTP responses sent, by endpoint and status.\n"
      "# TYPE griffin_requests_total counter\n");
    for (int e = 0; e < EP_COUNT; e++)
        for (int k = 0; k <= N_STATUS; k++) {
            if (c.requests[e][k] == 0) continue;
            if (k < N_STATUS)
                P("griffin_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", serve_endpoint_name(e),
                  STATUSES[k], (unsigned long long)c.requests[e][k]);
            else
                P("griffin_requests_total{endpoint=\"%s\",status=\"other\"} %llu\n", serve_endpoint_name(e),
                  (unsigned long long)c.requests[e][k]);
        }
    P("# HELP griffin_prompt_tokens_total Prompt tokens of the requests admitted to a slot.\n"
      "# TYPE griffin_prompt_tokens_total counter\n"
      "griffin_prompt_tokens_total %llu\n",
      (unsigned long long)c.prompt_tokens);
    P("# HELP griffin_prompt_tokens_cached_total Prompt tokens not prefilled, taken from the state cache.\n"
      "# TYPE griffin_prompt_tokens_cached_total counter\n"
      "griffin_prompt_tokens_cached_total %llu\n",
      (unsigned long long)c.cached_tokens);
    P("# HELP griffin_generated_tokens_total Tokens generated.\n"
      "# TYPE griffin_generated_tokens_total counter\n"
      "griffin_generated_tokens_total %llu\n",
      (unsigned long long)c.generated_tokens);
    P("# HELP griffin_slots Slots: sequences the generator can step together.\n"
      "# TYPE griffin_slots gauge\n"
      "griffin_slots %d\n",
      c.slots_total);
    P("# HELP griffin_slots_in_use Slots holding a request now (the batch occupancy).\n"
      "# TYPE griffin_slots_in_use gauge\n"
      "griffin_slots_in_use %d\n",
      c.slots_in_use);
    P("# HELP griffin_queue_length Requests waiting for a slot.\n"
      "# TYPE griffin_queue_length gauge\n"
      "griffin_queue_length %d\n",
      c.queue_length);
    P("# HELP griffin_rounds_total Generator rounds run, and the slots they stepped (mean batch = ratio).\n"
      "# TYPE griffin_rounds_total counter\n"
      "griffin_rounds_total %llu\n"
      "# TYPE griffin_round_slots_total counter\n"
      "griffin_round_slots_total %llu\n"
      "# HELP griffin_round_seconds_total Time spent in the rounds (prefill chunks and decode steps).\n"
      "# TYPE griffin_round_seconds_total counter\n"
      "griffin_round_seconds_total %.6f\n",
      (unsigned long long)c.rounds, (unsigned long long)c.slot_rounds, c.round_seconds);
    P("# HELP griffin_time_to_first_token_seconds From a request's arrival to its first generated token.\n"
      "# TYPE griffin_time_to_first_token_seconds histogram\n");
    for (int i = 0; i < N_BUCKETS; i++)
        P("griffin_time_to_first_token_seconds_bucket{le=\"%g\"} %llu\n", TTFT_BUCKETS[i],
          (unsigned long long)c.ttft_buckets[i]);
    P("griffin_time_to_first_token_seconds_bucket{le=\"+Inf\"} %llu\n"
      "griffin_time_to_first_token_seconds_sum %.6f\n"
      "griffin_time_to_first_token_seconds_count %llu\n",
      (unsigned long long)c.ttft_count, c.ttft_sum, (unsigned long long)c.ttft_count);
    P("# HELP griffin_cache_hits_total Requests that continued from a cached state.\n"
      "# TYPE griffin_cache_hits_total counter\n"
      "griffin_cache_hits_total %llu\n"
      "# HELP griffin_cache_misses_total Requests that found no cached state to continue.\n"
      "# TYPE griffin_cache_misses_total counter\n"
      "griffin_cache_misses_total %llu\n"
      "# HELP griffin_cache_evictions_total Cached states evicted (least recently used first).\n"
      "# TYPE griffin_cache_evictions_total counter\n"
      "griffin_cache_evictions_total %llu\n"
      "# HELP griffin_cache_bytes Bytes the state cache holds.\n"
      "# TYPE griffin_cache_bytes gauge\n"
      "griffin_cache_bytes %zu\n"
      "# HELP griffin_cache_entries States the cache holds.\n"
      "# TYPE griffin_cache_entries gauge\n"
      "griffin_cache_entries %zu\n",
      (unsigned long long)c.cache_hits, (unsigned long long)c.cache_misses,
      (unsigned long long)c.cache_evictions, c.cache_bytes, c.cache_entries);
    P("# HELP griffin_requests_cancelled_total Requests cancelled because the client went away.\n"
      "# TYPE griffin_requests_cancelled_total counter\n"
      "griffin_requests_cancelled_total %llu\n",
      (unsigned long long)c.cancelled);
    return rc ? -1 : 0;
}
