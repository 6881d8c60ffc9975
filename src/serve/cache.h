/* The state cache: snapshots of finished sequences keyed by the exact token
 * ids of their context (prompt + completion), so that the next turn of a
 * conversation, whose prompt starts with those ids, prefills only its new
 * ones. Bounded in bytes (gf_gen_snapshot_bytes), least recently used
 * evicted first. Used by the scheduler thread only: no locking. */
#ifndef GF_SERVE_CACHE_H
#define GF_SERVE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "griffin.h"

typedef struct serve_cache serve_cache;

/* max_bytes 0: a cache that keeps nothing. NULL when out of memory. */
serve_cache *serve_cache_new(size_t max_bytes);
void serve_cache_free(serve_cache *c);

/* The entry whose key is the longest proper prefix of ids[0..n) (at least
 * one id is left to feed), marked as just used; *matched gets its key's
 * length. NULL (and *matched 0) when none. The snapshot stays the cache's. */
const gf_gen_snapshot *serve_cache_find(serve_cache *c, const int32_t *ids, size_t n, size_t *matched);

/* Takes s (freeing it when it is not kept: larger than the whole cache, or
 * out of memory) under the key ids[0..n); an entry with the same key is
 * replaced. Evicts the least recently used entries until the cache fits.
 * Returns 1 when kept. */
int serve_cache_put(serve_cache *c, const int32_t *ids, size_t n, gf_gen_snapshot *s);

typedef struct {
    size_t bytes, entries, max_bytes;
    uint64_t evictions;
} serve_cache_stats;
void serve_cache_stats_get(const serve_cache *c, serve_cache_stats *out);

#endif
