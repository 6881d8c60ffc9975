/* Stop-string matching on generated text (see stop.h). Plain byte search:
 * the text scanned is a step's piece plus what was held back, a few dozen
 * bytes, against a handful of stop strings. */
#include <string.h>

#include "generate/stop.h"

size_t gf_stop_scan(const char *const *stops, const size_t *lens, int k, const char *text, size_t n,
                    size_t *held) {
    *held = 0;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < k; j++)
            if (lens[j] <= n - i && !memcmp(text + i, stops[j], lens[j])) return i;
    /* longest first: the earliest start whose rest begins some stop string */
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < k; j++)
            if (lens[j] > n - i && !memcmp(text + i, stops[j], n - i)) {
                *held = n - i;
                return n;
            }
    return n;
}
