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

int duration_parse(const char *s, uint64_t *ms, const char **why)
{
    uint64_t whole = 0, fraction = 0, scale = 1, unit, total;
    size_t digits = 0;
    const char *p = s;

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
        for (p++; is_digit(*p); p++, digits++) {
            /* Digits beyond the ninth change nothing a millisecond timer sees. */
            if (scale < UINT64_C(1000000000)) {
                fraction = fraction * 10 + (uint64_t)(*p - '0');
                scale *= 10;
            }
        }
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
    /* fraction < 1e9 and unit <= 3.6e6: the product fits in 64 bits. */
    total = whole * unit + (fraction * unit + scale - 1) / scale;
    if (total > DURATION_MAX_MS) {
        *why = "too large: at most 10000000 s";
        return -1;
    }
    *ms = total;
    return 0;
}
