#include "duration.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define WHY_FORM "must be a number of seconds, or a number with a unit: ms, s, m or h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The unit's length in milliseconds, or 0 when `unit` is none of them. */
static uint64_t unit_ms(const char *unit)
{
    static const struct { const char *name; uint64_t ms; } units[] = {
        { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
    };

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(unit, units[i].name) == 0)
            return units[i].ms;
    return 0;
}

/*
 * ceil(unit * 0.DIGITS) for the fraction digits frac[0..n): worked out
 * from the last digit on, exactly, so that no digit is too far down to
 * count (any value above zero is at least 1 ms, "0.0000000001" too). The
 * carry stays below `unit`, so nothing overflows.
 */
static uint64_t fraction_ms(const char *frac, size_t n, uint64_t unit)
{
    uint64_t carry = 0;
    bool inexact = false;

    while (n-- > 0) {
        uint64_t t = (uint64_t)(frac[n] - '0') * unit + carry;
        inexact |= t % 10 != 0;
        carry = t / 10;
    }
    return carry + (inexact ? 1 : 0);
}

int duration_parse(const char *s, uint64_t *ms, const char **why)
{
    uint64_t whole = 0, unit, total;
    size_t digits = 0, frac_digits = 0;
    const char *p = s, *frac = NULL;

    if (!s || !*s) {
        *why = WHY_FORM;
        return -1;
    }
    if (*p == '-') {
        *why = "must not be negative";
        return -1;
    }
    for (; is_digit(*p); p++, digits++) {
        /* Anything with more than 12 whole digits is above the maximum anyway. */
        if (whole > DURATION_MAX_MS) {
            *why = "too large: at most 10000000 s";
            return -1;
        }
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        frac = p + 1;
        for (p++; is_digit(*p); p++, digits++)
            frac_digits++;
    }
    unit = unit_ms(p);
    if (digits == 0 || unit == 0) {
        *why = WHY_FORM;
        return -1;
    }
    if (whole > DURATION_MAX_MS / unit) {
        *why = "too large: at most 10000000 s";
        return -1;
    }
    /* whole * unit <= DURATION_MAX_MS, and the fraction adds at most unit. */
    total = whole * unit + fraction_ms(frac, frac_digits, unit);
    if (total > DURATION_MAX_MS) {
        *why = "too large: at most 10000000 s";
        return -1;
    }
    *ms = total;
    return 0;
}
