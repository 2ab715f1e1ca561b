/*
 * duration: time values on the command line ("0.25", "250ms", "1.5m").
 * A pure parser: no libuv, no globals, safe on any input.
 */
#ifndef SOCKCAT_DURATION_H
#define SOCKCAT_DURATION_H

#include <stdint.h>

/* The largest time value taken: about 115 days. More is a typo, and the
 * arithmetic (milliseconds in 64 bits, seconds for socket options) stays
 * far from overflowing. */
#define DURATION_MAX_MS UINT64_C(10000000000)

/*
 * duration_parse()
 * Reads a non-negative decimal number with an optional fraction and an
 * optional unit: ms, s (the default), m or h. Nothing else: no sign, no
 * exponent, no spaces, no "inf" or "nan". A fraction of a millisecond is
 * rounded up, so any value above zero is at least 1 ms.
 * Returns 0 with *ms set, or -1 with *why saying what is wrong (a static
 * string, "must be ..."); *ms is untouched on failure.
 */
int duration_parse(const char *s, uint64_t *ms, const char **why);

#endif
