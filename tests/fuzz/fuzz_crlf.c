/*
 * -C's LF to CRLF conversion, fed in pieces. Input: one byte N (the count
 * of cuts, N % 8), N bytes of piece lengths, then the text. The text goes
 * through crlf_convert() in those pieces (the last takes the rest) and
 * must come out exactly as the conversion of the whole text by the rule
 * itself: each LF not preceded by CR gets one, nothing else changes, also
 * when the CR ended the previous piece. So no bare LF is ever sent, and
 * an existing CRLF stays one CRLF.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crlf.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* The rule, byte by byte, over the whole text. */
static size_t expected(const uint8_t *in, size_t len, char *out)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
            out[n++] = '\r';
        out[n++] = (char)in[i];
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sc_crlf state = { false };
    const uint8_t *cuts, *text;
    size_t ncuts, len, want_len, got_len = 0;
    char *want, *got;

    if (size < 1)
        return 0;
    ncuts = data[0] % 8;
    if (size < 1 + ncuts)
        return 0;
    cuts = data + 1;
    text = data + 1 + ncuts;
    len = size - 1 - ncuts;
    want = malloc(2 * len + 1);
    got = malloc(2 * len + 1);
    CHECK(want && got);
    want_len = expected(text, len, want);

    for (size_t i = 0, at = 0; i <= ncuts; i++) {
        size_t piece = i < ncuts ? cuts[i] : len - at;
        if (piece > len - at)
            piece = len - at;
        /* Exactly the room promised, so that a write past it is caught. */
        char *out = malloc(crlf_room(piece) + 1);
        CHECK(out);
        size_t n = crlf_convert(&state, (const char *)text + at, piece, out);
        CHECK(n >= piece && n <= crlf_room(piece));
        CHECK(got_len + n <= 2 * len);
        memcpy(got + got_len, out, n);
        got_len += n;
        at += piece;
        free(out);
    }
    CHECK(got_len == want_len && memcmp(got, want, want_len) == 0);
    for (size_t i = 0; i < got_len; i++)
        CHECK(got[i] != '\n' || (i > 0 && got[i - 1] == '\r'));
    free(want);
    free(got);
    return 0;
}
