/* Remembered replies (replies.h): a ring of the last max_entries, searched
 * newest first. */
#include "serve/replies.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *text;
    size_t len;
    int32_t *ids;
    size_t n;
} reply;

struct serve_replies {
    pthread_mutex_t mu;
    reply *ring;
    size_t cap, next, count;
};

serve_replies *serve_replies_new(size_t max_entries) {
    serve_replies *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->cap = max_entries ? max_entries : 1;
    if (!(r->ring = calloc(r->cap, sizeof *r->ring))) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void serve_replies_free(serve_replies *r) {
    if (!r) return;
    for (size_t i = 0; i < r->cap; i++) {
        free(r->ring[i].text);
        free(r->ring[i].ids);
    }
    free(r->ring);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void serve_replies_put(serve_replies *r, const char *text, size_t len, const int32_t *ids, size_t n) {
    if (n == 0) return;
    char *t = malloc(len + 1);
    int32_t *c = malloc(n * sizeof *c);
    if (!t || !c) {
        free(t);
        free(c);
        return;
    }
    memcpy(t, text, len);
    t[len] = 0;
    memcpy(c, ids, n * sizeof *c);
    pthread_mutex_lock(&r->mu);
    reply *slot = &r->ring[r->next];
    free(slot->text);
    free(slot->ids);
    *slot = (reply){t, len, c, n};
    r->next = (r->next + 1) % r->cap;
    if (r->count < r->cap) r->count++;
    pthread_mutex_unlock(&r->mu);
}

int serve_replies_find(serve_replies *r, const char *text, size_t len, int32_t **ids, size_t *n) {
    int found = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t k = 1; k <= r->count && !found; k++) {
        const reply *e = &r->ring[(r->next + r->cap - k) % r->cap];
        if (e->len != len || memcmp(e->text, text, len) != 0) continue;
        if (!(*ids = malloc(e->n * sizeof **ids))) {
            found = -1;
            break;
        }
        memcpy(*ids, e->ids, e->n * sizeof **ids);
        *n = e->n;
        found = 1;
    }
    pthread_mutex_unlock(&r->mu);
    return found;
}
