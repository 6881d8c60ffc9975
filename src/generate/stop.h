/* Stop strings: where generated text must end, and how much of its tail has
 * to wait because the next piece might complete a stop string. Kept apart
 * from the generator so it can be tested on text pieces directly. */
#ifndef GF_GENERATE_STOP_H
#define GF_GENERATE_STOP_H

#include <stddef.h>

/* Scans text[0..n) for the stop strings stops[0..k) (lens[i] > 0 bytes each).
 * Returns the offset of the earliest occurrence of any of them (the text to
 * emit ends there; of two starting at one offset either gives the same
 * answer), or n when there is none: then *held is the length of the longest
 * suffix of the text that is a proper prefix of one of them, the bytes to
 * hold back until the next piece shows whether a stop string completes. */
size_t gf_stop_scan(const char *const *stops, const size_t *lens, int k, const char *text, size_t n,
                    size_t *held);

#endif
