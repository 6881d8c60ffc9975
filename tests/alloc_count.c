#include "alloc_count.h"

#include <stdatomic.h>
#include <stddef.h>

#if TD_COUNT_ALLOCS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
static atomic_int counting;
static atomic_long allocs;
void *malloc(size_t n) {
    if (atomic_load(&counting)) atomic_fetch_add(&allocs, 1);
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
    if (atomic_load(&counting)) atomic_fetch_add(&allocs, 1);
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n) {
    if (atomic_load(&counting)) atomic_fetch_add(&allocs, 1);
    return __libc_realloc(p, n);
}

void td_alloc_count_start(void) {
    atomic_store(&allocs, 0);
    atomic_store(&counting, 1);
}

long td_alloc_count_stop(void) {
    atomic_store(&counting, 0);
    return atomic_load(&allocs);
}
#else
void td_alloc_count_start(void) {}
long td_alloc_count_stop(void) { return -1; }
#endif
