/* A /v1/chat/completions request body through the server's steps (request.c). */
#include "request.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_request_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fz_request(data, size, 1); }
