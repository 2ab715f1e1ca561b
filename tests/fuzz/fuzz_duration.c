/*
 * Time values (-w, -i, -q, --keepalive). Input: the text. It is judged
 * here by the grammar — digits, an optional fraction, an optional unit
 * ms/s/m/h, nothing else, at least one digit — and its value worked out in
 * 128 bits, rounded up to a millisecond:
 *   - what the grammar refuses is refused (a sign: "must not be negative";
 *     no NaN, inf, exponent, space), and *ms is left alone;
 *   - what it accepts is taken iff the value, rounded up, is at most
 *     DURATION_MAX_MS, and then *ms is that value exactly (within the
 *     last digit's share when the fraction runs past 18 digits);
 *   - any value above zero is at least 1 ms, zero is 0.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

typedef unsigned __int128 u128;

#define UNTOUCHED UINT64_C(0xdeadbeefdeadbeef)

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

static uint64_t unit_of(const char *u)
{
    if (strcmp(u, "") == 0 || strcmp(u, "s") == 0)
        return 1000;
    if (strcmp(u, "ms") == 0)
        return 1;
    if (strcmp(u, "m") == 0)
        return 60000;
    if (strcmp(u, "h") == 0)
        return 3600000;
    return 0;
}

static u128 ceil_div(u128 a, u128 b)
{
    return (a + b - 1) / b;
}

static void check_refused(int r, uint64_t ms, const char *why, const char *start)
{
    CHECK(r == -1 && ms == UNTOUCHED && why != NULL);
    CHECK(strncmp(why, start, strlen(start)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    const char *why = NULL, *whole, *frac = "", *p;
    size_t whole_len, frac_len = 0;
    uint64_t ms = UNTOUCHED, unit;
    bool any_nonzero = false;

    CHECK(s);
    memcpy(s, data, size);
    s[size] = '\0';
    int r = duration_parse(s, &ms, &why);
    if (r == 0)
        CHECK(ms <= DURATION_MAX_MS);

    /* The grammar. */
    if (s[0] == '-') {
        check_refused(r, ms, why, "must not be negative");
        goto out;
    }
    for (p = whole = s; digit(*p); p++)
        any_nonzero |= *p != '0';
    whole_len = (size_t)(p - whole);
    if (*p == '.') {
        for (frac = ++p; digit(*p); p++)
            any_nonzero |= *p != '0';
        frac_len = (size_t)(p - frac);
    }
    unit = unit_of(p);
    bool has_digit = whole_len + frac_len > 0;
    /* Leading zeros of the whole part, trailing ones of the fraction: nothing. */
    while (whole_len > 0 && *whole == '0')
        whole++, whole_len--;
    while (frac_len > 0 && frac[frac_len - 1] == '0')
        frac_len--;
    if (unit == 0 || !has_digit) {
        /* A whole part far too large may be called that before the rest. */
        if (r == -1 && whole_len > 11 && strncmp(why, "too large", 9) == 0)
            goto out;
        check_refused(r, ms, why, "must be a number of seconds");
        goto out;
    }
    if (whole_len > 11) {
        check_refused(r, ms, why, "too large");
        goto out;
    }

    /* The value: (W + 0.F) * unit ms, with at most 18 digits of F. */
    u128 w = 0, f = 0, scale = 1;
    for (size_t i = 0; i < whole_len; i++)
        w = w * 10 + (u128)(whole[i] - '0');
    size_t exact_len = frac_len < 18 ? frac_len : 18;
    for (size_t i = 0; i < exact_len; i++) {
        f = f * 10 + (u128)(frac[i] - '0');
        scale *= 10;
    }
    u128 num = (w * scale + f) * unit;
    u128 low, high;
    if (frac_len <= 18) {
        low = high = ceil_div(num, scale);
    } else {
        /* More digits, a nonzero one last: strictly above num/scale. */
        low = num / scale + 1;
        high = ceil_div(num + unit, scale);
    }
    if (r == 0) {
        CHECK(ms >= low && ms <= high);
        CHECK((ms > 0) == any_nonzero);
    } else {
        CHECK(high > DURATION_MAX_MS);
        check_refused(r, ms, why, "too large");
        CHECK(frac_len > 18 || low > DURATION_MAX_MS);
    }
out:
    free(s);
    return 0;
}
