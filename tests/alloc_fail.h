/* Failing allocations on purpose: the library's malloc, calloc, realloc,
 * aligned_alloc, strdup and mmap calls (and cJSON's, through its hooks) go
 * through tests/alloc_fail.c, linked into test_faults with the linker's
 * --wrap, which works under AddressSanitizer too (alloc_count.c's
 * replacement of malloc cannot: ASan's allocator must own malloc, and its
 * leak check is what catches a leak on an error path). Between
 * td_fail_alloc_start(n) and td_fail_alloc_stop() the n-th allocation
 * (1-based) and every later one return NULL / MAP_FAILED with ENOMEM, as
 * when memory has run out; the blocks handed out meanwhile are tracked so
 * that a leak shows in either build. */
#ifndef TD_ALLOC_FAIL_H
#define TD_ALLOC_FAIL_H

/* n = 0: nothing fails, the allocations are only counted and tracked. */
void td_fail_alloc_start(long n);
typedef struct {
    long allocs;   /* allocation calls in the window, failed ones included */
    long failed;   /* of them, made to fail */
    long live;     /* blocks allocated in the window and not freed: leaks */
    long mappings; /* mmap'ed in the window and not unmapped */
    long first_left; /* the number of the earliest of those (0: none) */
} td_alloc_report;
td_alloc_report td_fail_alloc_stop(void);
/* Routes cJSON's allocations through the wrappers (cJSON_InitHooks). */
void td_fail_alloc_hook_cjson(void);

#endif
