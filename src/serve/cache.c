/* The state cache (cache.h): a list of entries, each a key of token ids and
 * a snapshot, with a use stamp for the LRU order. Lookups scan every entry:
 * the cache holds as many entries as its bytes allow snapshots (a few
 * hundred to a few thousand), and comparing ids is cheap beside the prefill
 * a hit saves. */
#include "serve/cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t *key;
    size_t n;
    gf_gen_snapshot *snap;
    size_t bytes;
    uint64_t used;
} entry;

struct serve_cache {
    entry *e;
    size_t n, cap;
    size_t bytes, max_bytes;
    uint64_t clock, evictions;
};

serve_cache *serve_cache_new(size_t max_bytes) {
    serve_cache *c = calloc(1, sizeof *c);
    if (c) c->max_bytes = max_bytes;
    return c;
}

static void drop(serve_cache *c, size_t i) {
    gf_gen_snapshot_free(c->e[i].snap);
    free(c->e[i].key);
    c->bytes -= c->e[i].bytes;
    c->e[i] = c->e[--c->n];
}

void serve_cache_free(serve_cache *c) {
    if (!c) return;
    while (c->n) drop(c, c->n - 1);
    free(c->e);
    free(c);
}

const gf_gen_snapshot *serve_cache_find(serve_cache *c, const int32_t *ids, size_t n, size_t *matched) {
    size_t best = SIZE_MAX, best_n = 0;
    for (size_t i = 0; i < c->n; i++) {
        const entry *e = &c->e[i];
        if (e->n >= n || e->n <= best_n) continue;
        if (memcmp(e->key, ids, e->n * sizeof *ids) == 0) best = i, best_n = e->n;
    }
    *matched = best_n;
    if (best == SIZE_MAX) return NULL;
    c->e[best].used = ++c->clock;
    return c->e[best].snap;
}

int serve_cache_put(serve_cache *c, const int32_t *ids, size_t n, gf_gen_snapshot *s) {
    size_t bytes = gf_gen_snapshot_bytes(s) + n * sizeof *ids + sizeof(entry);
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].n == n && memcmp(c->e[i].key, ids, n * sizeof *ids) == 0) {
            drop(c, i);
            break;
        }
    int32_t *key = NULL;
    if (bytes > c->max_bytes || !(key = malloc(n * sizeof *ids + 1))) {
        gf_gen_snapshot_free(s);
        return 0;
    }
    while (c->n > 0 && c->bytes + bytes > c->max_bytes) {
        size_t lru = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->e[i].used < c->e[lru].used) lru = i;
        drop(c, lru);
        c->evictions++;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        entry *g = realloc(c->e, cap * sizeof *g);
        if (!g) {
            free(key);
            gf_gen_snapshot_free(s);
            return 0;
        }
        c->e = g;
        c->cap = cap;
    }
    memcpy(key, ids, n * sizeof *ids);
    c->e[c->n++] = (entry){key, n, s, bytes, ++c->clock};
    c->bytes += bytes;
    return 1;
}

void serve_cache_stats_get(const serve_cache *c, serve_cache_stats *out) {
    out->bytes = c->bytes;
    out->entries = c->n;
    out->max_bytes = c->max_bytes;
    out->evictions = c->evictions;
}
