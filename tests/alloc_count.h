/* Counting the process's allocations (malloc, calloc, realloc, replaced in
 * alloc_count.c through glibc's __libc_* entry points) between
 * td_alloc_count_start and td_alloc_count_stop: the checks that a decode
 * step or a generator round allocates nothing. Linked only into the tests
 * that use it. Not under the sanitizers, whose allocator replaces those
 * functions already: TD_COUNT_ALLOCS is 0 there and the tests skip. */
#ifndef TD_ALLOC_COUNT_H
#define TD_ALLOC_COUNT_H

/* clang's OpenMP runtime (LLVM's libomp) allocates in every parallel
 * region, even one its if clause runs serially: the count holds griffin's
 * own code to zero in the GCC build (libgomp allocates nothing there), and
 * clang's builds skip it. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(__clang__)
#define TD_COUNT_ALLOCS 0
#else
#define TD_COUNT_ALLOCS 1
#endif

void td_alloc_count_start(void);
/* The allocations since td_alloc_count_start. */
long td_alloc_count_stop(void);

#endif
