/* Small pieces the server's files share: a growing byte buffer, UTF-8
 * checking, the clock. */
#ifndef GF_SERVE_UTIL_H
#define GF_SERVE_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A growing byte buffer, NUL-terminated once non-empty (zero-initialise it;
 * free p). */
typedef struct {
    char *p;
    size_t len, cap;
} sv_buf;
/* Appends s[0..n); -1 when out of memory. */
int sv_buf_add(sv_buf *b, const void *s, size_t n);
/* Appends printf-formatted text; -1 when out of memory. */
int sv_buf_printf(sv_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void sv_buf_free(sv_buf *b);

/* Whether s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF) without NUL bytes. */
int sv_utf8_valid(const char *s, size_t n);

/* Seconds on the monotonic clock. */
double sv_now(void);

#endif
