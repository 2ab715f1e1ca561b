/*
 * --chat's line framing and escaping. Input: a header, then the text:
 *   byte 0: cuts (% 8), byte 1: prefix length (% 33), bytes 2-3: a run
 *   (when the top bit is set: its length, 13 bits) and byte 4 its byte,
 *   put before the text so that lines reach CHAT_LINE_MAX (without the
 *   bit, none: short inputs stay quick to run); byte 5: room for a short
 *   escape (/255 of the full room); then 2 bytes per cut (piece lengths),
 *   the prefix, the text.
 * Checked:
 *   - escaped text has no control byte but tab, no DEL, no ESC, no C1
 *     control, only well-formed UTF-8, and unescapes to the text exactly;
 *     cut short, it is a prefix of the whole and never ends inside an
 *     escape or a character;
 *   - the framer gives the same lines whatever the pieces, none longer
 *     than CHAT_LINE_MAX, none with a newline; when no line is too long
 *     they are the text's lines, CR LF or LF ended; well-formed UTF-8 text
 *     stays well-formed in every line (a split never cuts a character);
 *   - every line formats into CHAT_FORMATTED_MAX as prefix, escaped line
 *     and one newline.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* Length of the well-formed UTF-8 character at s[0..n), or 0. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (s[0] == 0xe0)
        lo = 0xa0;
    if (s[0] == 0xed)
        hi = 0x9f;
    if (s[0] == 0xf0)
        lo = 0x90;
    if (s[0] == 0xf4)
        hi = 0x8f;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
    for (size_t i = 0, len; i < n; i += len)
        if ((len = utf8_len(s + i, n - i)) == 0)
            return false;
    return true;
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Checks escaped[0..n) is safe for a terminal and unescapes it into out.
 * Returns the unescaped length.
 */
static size_t check_and_unescape(const char *escaped, size_t n, uint8_t *out)
{
    const uint8_t *s = (const uint8_t *)escaped;
    size_t o = 0;

    for (size_t i = 0; i < n;) {
        if (s[i] == '\\') {
            CHECK(i + 1 < n);
            if (s[i + 1] == '\\') {
                out[o++] = '\\';
                i += 2;
                continue;
            }
            CHECK(s[i + 1] == 'x' && i + 3 < n);
            int hi = hex_value(s[i + 2]), lo = hex_value(s[i + 3]);
            CHECK(hi >= 0 && lo >= 0);
            out[o++] = (uint8_t)(hi << 4 | lo);
            i += 4;
            continue;
        }
        CHECK(s[i] == '\t' || (s[i] >= 0x20 && s[i] != 0x7f));
        size_t len = utf8_len(s + i, n - i);
        CHECK(len > 0);
        CHECK(!(s[i] == 0xc2 && s[i + 1] <= 0x9f));  /* C1 controls */
        memcpy(out + o, s + i, len);
        o += len;
        i += len;
    }
    return o;
}

static void check_escape(const uint8_t *text, size_t n, uint8_t room_share)
{
    size_t full_room = n * CHAT_ESCAPE_GROWTH;
    char *full = malloc(full_room + 1), *part;
    uint8_t *back = malloc(n + 1);
    size_t full_len, part_len, back_len, part_room;

    CHECK(full && back);
    full_len = chat_escape((const char *)text, n, full, full_room);
    CHECK(full_len <= full_room);
    back_len = check_and_unescape(full, full_len, back);
    CHECK(back_len == n && memcmp(back, text, n) == 0);

    part_room = full_room * room_share / 255;
    part = malloc(part_room + 1);
    CHECK(part);
    part_len = chat_escape((const char *)text, n, part, part_room);
    CHECK(part_len <= part_room && part_len <= full_len);
    CHECK(memcmp(part, full, part_len) == 0);
    /* Not ended inside an escape: the unescaped part is a prefix of the text. */
    back_len = check_and_unescape(part, part_len, back);
    CHECK(back_len <= n && memcmp(back, text, back_len) == 0);
    /* And nothing more fitted: the next escape would not. */
    CHECK(back_len == n || part_room - part_len < CHAT_ESCAPE_GROWTH);
    free(full);
    free(part);
    free(back);
}

struct lines {
    uint8_t *bytes;
    size_t used;
    size_t *lens;
    size_t count;
};

static void collect(void *ctx, const char *line, size_t len)
{
    struct lines *l = ctx;

    CHECK(len <= CHAT_LINE_MAX);
    CHECK(memchr(line, '\n', len) == NULL);
    memcpy(l->bytes + l->used, line, len);
    l->used += len;
    l->lens[l->count++] = len;
}

/* Room for the lines of text[0..n): one per newline, per split, and the rest. */
static void lines_init(struct lines *l, const uint8_t *text, size_t n)
{
    size_t most = 2 + n / (CHAT_LINE_MAX - 3);

    for (size_t i = 0; i < n; i++)
        most += text[i] == '\n';
    l->bytes = malloc(n + 1);
    l->lens = malloc(most * sizeof(*l->lens));
    CHECK(l->bytes && l->lens);
    l->used = l->count = 0;
}

static void lines_free(struct lines *l)
{
    free(l->bytes);
    free(l->lens);
}

static bool lines_equal(const struct lines *a, const struct lines *b)
{
    return a->count == b->count && a->used == b->used &&
           memcmp(a->lens, b->lens, a->count * sizeof(*a->lens)) == 0 &&
           memcmp(a->bytes, b->bytes, a->used) == 0;
}

/* The text's own lines, when none is longer than the limit. */
static bool reference_lines(const uint8_t *text, size_t n, struct lines *ref)
{
    size_t start = 0;

    for (size_t i = 0; i <= n; i++) {
        if (i < n && text[i] != '\n')
            continue;
        size_t len = i - start;
        if (i < n && len > 0 && text[i - 1] == '\r')
            len--;  /* a CR LF ending; an unfinished line keeps its CR */
        if (len > CHAT_LINE_MAX)
            return false;
        if (i < n || len > 0)
            collect(ref, (const char *)text + start, len);
        start = i + 1;
    }
    return true;
}

static void check_format(const char *prefix, const struct lines *l)
{
    static char out[CHAT_FORMATTED_MAX];
    static uint8_t back[CHAT_LINE_MAX];
    size_t plen = strlen(prefix), at = 0;

    for (size_t i = 0; i < l->count; at += l->lens[i++]) {
        size_t n = chat_format_line(prefix, (const char *)l->bytes + at, l->lens[i], out,
                                    sizeof(out));
        CHECK(n > plen && n <= sizeof(out) && memcmp(out, prefix, plen) == 0);
        CHECK(out[n - 1] == '\n');
        size_t back_len = check_and_unescape(out + plen, n - plen - 1, back);
        CHECK(back_len == l->lens[i] && memcmp(back, l->bytes + at, back_len) == 0);
    }
}

static void check_framing(const uint8_t *text, size_t n, const uint8_t *cuts, size_t ncuts,
                          const char *prefix)
{
    struct chat_framer *whole = malloc(sizeof(*whole)), *pieces = malloc(sizeof(*pieces));
    struct lines a, b, ref;

    CHECK(whole && pieces);
    lines_init(&a, text, n);
    lines_init(&b, text, n);
    lines_init(&ref, text, n);
    chat_framer_init(whole);
    chat_feed(whole, (const char *)text, n, collect, &a);
    chat_flush(whole, collect, &a);
    chat_framer_init(pieces);
    for (size_t i = 0, at = 0; i <= ncuts; i++) {
        size_t piece = i < ncuts ? (size_t)(cuts[2 * i] << 8 | cuts[2 * i + 1]) : n - at;
        if (piece > n - at)
            piece = n - at;
        chat_feed(pieces, (const char *)text + at, piece, collect, &b);
        at += piece;
    }
    chat_flush(pieces, collect, &b);
    CHECK(lines_equal(&a, &b));
    if (reference_lines(text, n, &ref))
        CHECK(lines_equal(&a, &ref));
    if (utf8_valid(text, n))
        for (size_t i = 0, at = 0; i < a.count; at += a.lens[i++])
            CHECK(utf8_valid(a.bytes + at, a.lens[i]));
    check_format(prefix, &a);
    lines_free(&a);
    lines_free(&b);
    lines_free(&ref);
    free(whole);
    free(pieces);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char prefix[CHAT_PREFIX_MAX + 1];
    size_t ncuts, plen, run, pos, n;
    uint8_t *text;

    if (size < 6)
        return 0;
    ncuts = data[0] % 8;
    plen = data[1] % (CHAT_PREFIX_MAX + 1);
    run = data[2] & 0x80 ? (size_t)((data[2] & 0x1f) << 8 | data[3]) : 0;
    pos = 6;
    if (size < pos + 2 * ncuts + plen)
        return 0;
    const uint8_t *cuts = data + pos;
    pos += 2 * ncuts;
    memcpy(prefix, data + pos, plen);
    prefix[plen] = '\0';
    pos += plen;
    n = run + size - pos;
    text = malloc(n + 1);
    CHECK(text);
    memset(text, data[4], run);
    memcpy(text + run, data + pos, size - pos);

    check_escape(text, n, data[5]);
    check_framing(text, n, cuts, ncuts, prefix);
    free(text);
    return 0;
}
