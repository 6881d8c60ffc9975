/* The wrappers of alloc_fail.h. The test's link names them with
 * -Wl,--wrap=malloc,... so that every call of the library (libgriffin.a)
 * and of the test reaches __wrap_X, which counts it, may fail it, tracks
 * the block, and otherwise calls __real_X: glibc's, or ASan's under the
 * sanitizers. */
#include "alloc_fail.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void __real_free(void *p);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_munmap(void *addr, size_t len);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_munmap(void *addr, size_t len);

/* The window's state, under one lock (the library may allocate from its
 * OpenMP threads). */
#define SLOTS (1u << 18)
#define TOMB ((uintptr_t)1)
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int active;
static long fail_from, allocs, failed, live, mappings;
static uintptr_t blocks[SLOTS], maps[SLOTS];
static long seqs[SLOTS], map_seqs[SLOTS]; /* the allocation number of each */
static int overflow; /* a table filled up: no leak verdict */

static size_t slot_of(uintptr_t p) { return (size_t)((p >> 4) * 0x9e3779b97f4a7c15ull >> 46) & (SLOTS - 1); }

static void put(uintptr_t *t, long *seq, uintptr_t p) {
    for (size_t i = slot_of(p), k = 0; k < SLOTS; i = (i + 1) & (SLOTS - 1), k++)
        if (t[i] == 0 || t[i] == TOMB) {
            t[i] = p;
            seq[i] = allocs;
            return;
        }
    overflow = 1;
}

/* Removes p; whether it was there. */
static int take(uintptr_t *t, uintptr_t p) {
    for (size_t i = slot_of(p), k = 0; k < SLOTS && t[i] != 0; i = (i + 1) & (SLOTS - 1), k++)
        if (t[i] == p) {
            t[i] = TOMB;
            return 1;
        }
    return 0;
}

/* Counts an allocation; 1 when it is to fail. */
static int should_fail(void) {
    pthread_mutex_lock(&lock);
    int f = 0;
    if (active) {
        allocs++;
        f = fail_from > 0 && allocs >= fail_from;
        failed += f;
    }
    pthread_mutex_unlock(&lock);
    if (f) errno = ENOMEM;
    return f;
}

static void track(uintptr_t *t, long *seq, long *count, void *p) {
    if (!p) return;
    pthread_mutex_lock(&lock);
    if (active) {
        put(t, seq, (uintptr_t)p);
        (*count)++;
    }
    pthread_mutex_unlock(&lock);
}

static void untrack(uintptr_t *t, long *count, void *p) {
    if (!p) return;
    pthread_mutex_lock(&lock);
    if (active && take(t, (uintptr_t)p)) (*count)--;
    pthread_mutex_unlock(&lock);
}

void *__wrap_malloc(size_t n) {
    if (should_fail()) return NULL;
    void *p = __real_malloc(n);
    track(blocks, seqs, &live, p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size) {
    if (should_fail()) return NULL;
    void *p = __real_calloc(n, size);
    track(blocks, seqs, &live, p);
    return p;
}

void *__wrap_realloc(void *old, size_t n) {
    if (should_fail()) return NULL; /* the old block stays the caller's */
    void *p = __real_realloc(old, n);
    if (p || n == 0) untrack(blocks, &live, old);
    track(blocks, seqs, &live, p);
    return p;
}

void *__wrap_aligned_alloc(size_t align, size_t n) {
    if (should_fail()) return NULL;
    void *p = __real_aligned_alloc(align, n);
    track(blocks, seqs, &live, p);
    return p;
}

void __wrap_free(void *p) {
    untrack(blocks, &live, p);
    __real_free(p);
}

char *__wrap_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = __wrap_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (should_fail()) return MAP_FAILED;
    void *p = __real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED) track(maps, map_seqs, &mappings, p);
    return p;
}

int __wrap_munmap(void *addr, size_t len) {
    untrack(maps, &mappings, addr);
    return __real_munmap(addr, len);
}

void td_fail_alloc_start(long n) {
    pthread_mutex_lock(&lock);
    memset(blocks, 0, sizeof blocks);
    memset(maps, 0, sizeof maps);
    allocs = failed = live = mappings = 0;
    overflow = 0;
    fail_from = n;
    active = 1;
    pthread_mutex_unlock(&lock);
}

td_alloc_report td_fail_alloc_stop(void) {
    pthread_mutex_lock(&lock);
    active = 0;
    td_alloc_report r = {allocs, failed, overflow ? -1 : live, overflow ? -1 : mappings, 0};
    for (size_t i = 0; i < SLOTS; i++) {
        if (blocks[i] > TOMB && (!r.first_left || seqs[i] < r.first_left)) r.first_left = seqs[i];
        if (maps[i] > TOMB && (!r.first_left || map_seqs[i] < r.first_left)) r.first_left = map_seqs[i];
    }
    pthread_mutex_unlock(&lock);
    return r;
}

void td_fail_alloc_hook_cjson(void) {
    cJSON_Hooks h = {__wrap_malloc, __wrap_free};
    cJSON_InitHooks(&h);
}
