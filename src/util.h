/* Small helpers shared by the library: error text, checked allocation,
 * checked file I/O. Nothing here keeps state between calls. */
#ifndef GF_UTIL_H
#define GF_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "griffin.h"

#if defined(__GNUC__)
#define GF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GF_PRINTF(a, b)
#endif

/* Fills err (when non-NULL) with a printf-style line and returns -1, so
 * `return gf_fail(err, ...)` reads as "fail with this message". */
int gf_fail(gf_error *err, const char *fmt, ...) GF_PRINTF(2, 3);

/* calloc that reports the size it could not get; NULL on failure. */
void *gf_calloc(size_t n, size_t size, const char *what, gf_error *err);

/* a * b, or SIZE_MAX when it overflows (so a bounds check then fails). */
size_t gf_mul_sat(size_t a, size_t b);

/* Fails unless path names a regular file (so a FIFO never blocks a read). */
int gf_check_regular(const char *path, gf_error *err);

/* Reads a whole (small) file into a NUL-terminated buffer; max_bytes bounds
 * what is accepted. */
char *gf_read_text_file(const char *path, size_t max_bytes, size_t *len_out, gf_error *err);

/* Reads f to its end into a malloc'ed, NUL-terminated *out of at most
 * max_bytes bytes (*len_out): 0, or one of these, with nothing allocated
 * (the callers word their own errors). */
enum { GF_READ_TOO_LARGE = 1, GF_READ_IO_ERROR = 2, GF_READ_NO_MEMORY = 3 };
int gf_read_stream(FILE *f, size_t max_bytes, char **out, size_t *len_out);

/* A read-only memory mapping of a whole file. */
typedef struct {
    void *data;
    size_t size;
} gf_mapping;
int gf_map_file(const char *path, gf_mapping *map, gf_error *err);
void gf_unmap_file(gf_mapping *map);
/* Drops the whole pages inside [p, p + n) of a file mapping from the
 * process (a later read maps them again from the file): for data that was
 * copied elsewhere and is rarely read again. */
void gf_release_pages(const void *p, size_t n);

/* Memory for a large array that every decode step streams through (the
 * packed Q8 / Q4 weights, the copied float ones): aligned to 2 MiB and advised to be backed by transparent
 * huge pages where the kernel allows it, so that the stream takes one TLB
 * entry per 2 MiB instead of one per 4 KiB page: 3-5 % of a Q4 / Q8 decode
 * step on the machine of bench/results. Released with free(); NULL when
 * out of memory. */
void *gf_alloc_huge(size_t bytes);

/* memcpy(dst, src, n) by all threads, in pieces of 2 MiB (a huge page of
 * gf_alloc_huge's each; serial up to 6 MiB): one thread both zeroes fresh
 * pages (the kernel does that at the first touch) and copies, at about
 * 4 GB/s on the machine of bench/results, where a copy of the 1.5 GiB bench
 * model took 0.31-0.33 s on one thread and 0.20-0.26 on two. */
void gf_copy_parallel(void *dst, const void *src, size_t n);

/* Bytes of memory the system could give this process without swapping
 * (MemAvailable of /proc/meminfo: free memory plus the page cache it can
 * drop, or the free pages where that is missing), no more than its memory
 * cgroups' limits leave (a container's); 0 when unknown. */
size_t gf_mem_available(void);
/* Whether `bytes` more can be taken out of `available` (gf_mem_available)
 * leaving at least 1 GiB; an unknown (0) available says yes. */
int gf_mem_fits(size_t bytes, size_t available);

/* Writing files so that a full disk, an I/O error or a crash never leaves a
 * half-written one under its name: the bytes go to PATH.tmp.PID beside it,
 * every write's, the fsync's and the close's result checked, then the
 * temporary is renamed over PATH and the folder fsync'ed. A failure removes
 * the temporary, leaves what PATH held before as it was, and fills err with
 * one line naming PATH and strerror's reason ("write failed: No space left
 * on device"). The library leaves signal dispositions alone: a program that
 * wants EFBIG rather than death by SIGXFSZ past `ulimit -f` ignores that
 * signal (the griffin CLI does). */
int gf_write_file_atomic(const char *path, const void *const *parts, const size_t *lens,
                         int nparts, gf_error *err);

/* Files that belong together (a model's weights and config.json, a data
 * set's tokens and masks): each is written and fsync'ed to its temporary
 * first, and only when all of them are on disk are they renamed over their
 * names, so a failure while writing leaves every earlier file of the set as
 * it was; a failing rename (far rarer) undoes the renames before it, so the
 * set is old or new as a whole. gf_file_set_add writes one file; on failure it discards
 * the whole set. gf_file_set_commit renames them all, in the order added,
 * and empties the set whatever happens; gf_file_set_discard removes the
 * temporaries of a set abandoned for another reason (safe on an empty set). */
#define GF_FILE_SET_MAX 8
typedef struct gf_file_set {
    int n;
    char *tmp[GF_FILE_SET_MAX], *dst[GF_FILE_SET_MAX];
} gf_file_set;
int gf_file_set_add(gf_file_set *set, const char *path, const void *const *parts, const size_t *lens,
                    int nparts, gf_error *err);
int gf_file_set_commit(gf_file_set *set, gf_error *err);
void gf_file_set_discard(gf_file_set *set);

/* Prints a cJSON tree (indented, with a final newline) to path through
 * gf_write_file_atomic, and frees the tree either way. */
struct cJSON;
int gf_write_json_atomic(const char *path, struct cJSON *root, gf_error *err);
/* The same into a set (gf_file_set_add; set NULL: gf_write_json_atomic). */
int gf_write_json_set(gf_file_set *set, const char *path, struct cJSON *root, gf_error *err);

/* Joins dir and name into out (size n). */
int gf_path_join(char *out, size_t n, const char *dir, const char *name, gf_error *err);

/* float <-> half formats. */
float gf_bf16_to_f32(uint16_t h);
uint16_t gf_f32_to_bf16(float f); /* round to nearest even */
float gf_f16_to_f32(uint16_t h);
uint16_t gf_f32_to_f16(float f); /* round to nearest even; overflow to infinity */

/* Creates dir and any missing parents (like mkdir -p). */
int gf_mkdir_p(const char *dir, gf_error *err);

#endif
