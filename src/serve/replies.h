/* The replies the server generated, text -> the ids it sampled, so that when
 * a client sends a reply back as an assistant message of the next chat
 * request, the prompt holds the ids the model produced (as `griffin chat`'s
 * state does) rather than the text encoded afresh, which can split it into
 * other tokens. The prompt then starts with the exact ids of the earlier
 * request's context, and the state cache can continue it. Bounded in count,
 * the oldest forgotten first; its own lock (HTTP threads look up, the
 * scheduler adds). Only replies whose text is exactly their ids' text are
 * kept (ended by a stop id or max_tokens, not cut by a stop string). */
#ifndef GF_SERVE_REPLIES_H
#define GF_SERVE_REPLIES_H

#include <stddef.h>
#include <stdint.h>

typedef struct serve_replies serve_replies;

serve_replies *serve_replies_new(size_t max_entries);
void serve_replies_free(serve_replies *r);
void serve_replies_put(serve_replies *r, const char *text, size_t len, const int32_t *ids, size_t n);
/* The ids of the last reply whose text is text[0..len): a malloc'ed copy into
 * *ids, *n. 1 when found, 0 when not, -1 when out of memory. */
int serve_replies_find(serve_replies *r, const char *text, size_t len, int32_t **ids, size_t *n);

#endif
