/* The server's handling of a /v1/completions or /v1/chat/completions body
 * (fuzz_completions, fuzz_chat): what src/serve/http.c's post_endpoint does
 * with it, without the HTTP side and the scheduler's threads. */
#ifndef GF_FUZZ_REQUEST_H
#define GF_FUZZ_REQUEST_H

#include <stddef.h>
#include <stdint.h>

/* Loads the fixture model and tokenizer (tests/fuzz/data/model). */
void fz_request_init(void);
/* One body; chat: the chat endpoint's. */
int fz_request(const uint8_t *body, size_t n, int chat);

#endif
