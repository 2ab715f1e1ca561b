/*
 * The proxy handshakes: answers parsed as they arrive, requests built.
 * Input: byte 0 picks what (% 4: HTTP CONNECT answer, SOCKS4 answer,
 * SOCKS5 answers in turn — method, user/password when chosen, connect —
 * or the request builders); byte 1: cuts (% 8); byte 2: room for the HTTP
 * reason; then one byte per cut (piece lengths), then the answer bytes.
 *
 * Every parser call gets exactly the bytes received so far in a buffer of
 * that size, so a read past them is caught. Checked:
 *   - the outcome (result, answer length, code) is the same whatever the
 *     pieces, and the same as for all the bytes at once;
 *   - a success's length is the answer's own (8 for SOCKS4, 2 for a
 *     SOCKS5 method or user/password answer, the address type's length
 *     for a SOCKS5 connect answer, up to the empty line for HTTP), so the
 *     bytes after it are left over for the tunnel; the answer alone gives
 *     the same success, and one byte less of it is not complete;
 *   - the HTTP reason fits its room, NUL-terminated, printable only.
 * The builders' requests fit their room and read back as what was asked.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

enum what { HTTP, SOCKS4, SOCKS5, BUILDERS };

struct outcome {
    int result;       /* of the last parser called */
    size_t consumed;  /* answer bytes of the successful stages */
    int code;
};

static size_t reason_room;

/* A parser call on an exact-size copy: the answer length and the code. */
static int parse(enum what what, int stage, const uint8_t *bytes, size_t len, size_t *used,
                 int *code)
{
    uint8_t *copy = malloc(len ? len : 1);
    char *reason = malloc(reason_room ? reason_room : 1);
    int r;

    CHECK(copy && reason);
    memcpy(copy, bytes, len);
    memset(reason, 'x', reason_room ? reason_room : 1);
    *used = (size_t)-1;
    if (what == HTTP) {
        r = proxy_http_parse((const char *)copy, len, used, code, reason, reason_room);
        if (r == PROXY_OK || r == PROXY_REFUSED) {
            CHECK(*code >= 100 && *code <= 599 && (r == PROXY_OK) == (*code / 100 == 2));
            if (reason_room > 0) {
                size_t n = strnlen(reason, reason_room);
                CHECK(n < reason_room);
                for (size_t i = 0; i < n; i++)
                    CHECK(reason[i] >= 0x20 && reason[i] < 0x7f);
            }
        }
        if (reason_room == 0)
            CHECK(reason[0] == 'x');
    } else if (what == SOCKS4) {
        r = proxy_socks4_parse(copy, len, used, code);
    } else if (stage == 0) {
        r = proxy_socks5_parse_method(copy, len, used, code);
    } else if (stage == 1) {
        r = proxy_socks5_parse_auth(copy, len, used, code);
    } else {
        r = proxy_socks5_parse_connect(copy, len, used, code);
    }
    CHECK(r == PROXY_MORE || r == PROXY_OK || r == PROXY_REFUSED || r == PROXY_MALFORMED);
    if (r == PROXY_OK)
        CHECK(*used >= 1 && *used <= len);
    free(copy);
    free(reason);
    return r;
}

/* The length a successful answer at bytes[0..len) must have. */
static size_t answer_length(enum what what, int stage, const uint8_t *b, size_t len)
{
    if (what == HTTP) {
        for (size_t i = 0; i + 3 < len; i++)
            if (memcmp(b + i, "\r\n\r\n", 4) == 0)
                return i + 4;
        return 0;
    }
    if (what == SOCKS4)
        return 8;
    if (stage < 2)
        return 2;
    CHECK(len >= 5 || (len >= 4 && b[3] != 3));
    return b[3] == 1 ? 10 : b[3] == 4 ? 22 : 7u + b[4];
}

/*
 * Runs the stages on the bytes received so far, from `*stage` on, as the
 * dialer does: a success moves on to the next stage with the rest.
 */
static void advance(enum what what, int *stage, const uint8_t *buf, size_t len,
                    struct outcome *out)
{
    for (;;) {
        const uint8_t *rest = buf + out->consumed;
        size_t rest_len = len - out->consumed, used, used_alone;
        int code = -1, code_alone = -1;

        out->result = parse(what, *stage, rest, rest_len, &used, &code);
        if (out->result != PROXY_OK) {
            if (out->result == PROXY_REFUSED)
                out->code = code;
            return;
        }
        CHECK(used == answer_length(what, *stage, rest, rest_len));
        /* The answer alone is the same success; a byte less is not yet one. */
        CHECK(parse(what, *stage, rest, used, &used_alone, &code_alone) == PROXY_OK);
        CHECK(used_alone == used && code_alone == code);
        CHECK(parse(what, *stage, rest, used - 1, &used_alone, &code_alone) == PROXY_MORE);
        out->consumed += used;
        out->code = code;
        /* The next stage: user/password only when that method was chosen. */
        if (what != SOCKS5 || *stage == 2)
            return;
        *stage = *stage == 0 && code == 2 ? 1 : 2;
    }
}

/* Feeds the answer in pieces until the handshake is over or it runs out. */
static struct outcome feed(enum what what, const uint8_t *answer, size_t len,
                           const uint8_t *cuts, size_t ncuts)
{
    struct outcome out = { PROXY_MORE, 0, -1 };
    int stage = 0;
    size_t at = 0;

    for (size_t i = 0; i <= ncuts && out.result == PROXY_MORE; i++) {
        size_t piece = i < ncuts ? cuts[i] : len - at;
        if (piece > len - at)
            piece = len - at;
        at += piece;
        advance(what, &stage, answer, at, &out);
    }
    return out;
}

/* NUL-separated words of the input; missing ones are empty. */
static const char *word(char **at, const char *end)
{
    const char *w = *at;

    if (*at >= end)
        return "";
    *at += strlen(*at) + 1;
    return w;
}

static void builders(const uint8_t *data, size_t size)
{
    char *text, *at, *end, *out;
    const char *host, *auth;
    unsigned port;
    size_t room;
    int n;

    if (size < 4)
        return;
    port = (unsigned)data[0] << 8 | data[1];
    room = (size_t)data[2] * 4 + (data[3] & 3);
    text = malloc(size - 4 + 1);
    out = malloc(room ? room : 1);
    CHECK(text && out);
    memcpy(text, data + 4, size - 4);
    text[size - 4] = '\0';
    at = text;
    end = text + size - 4;
    host = word(&at, end);
    auth = word(&at, end);

    n = proxy_http_request(out, room, host, port, data[3] & 4 ? auth : NULL);
    if (n >= 0) {
        CHECK((size_t)n < room && strlen(out) == (size_t)n);
        CHECK(strncmp(out, "CONNECT ", 8) == 0 && n >= 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0);
        /* Nothing a name could smuggle in: the request ends where it says. */
        CHECK(strstr(out, "\r\n\r\n") == out + n - 4);
    }

    unsigned char ipv4[4] = { data[0], data[1], data[2], data[3] };
    n = proxy_socks4_request((unsigned char *)out, room, data[3] & 8 ? ipv4 : NULL, host, port,
                             data[3] & 16 ? auth : NULL);
    if (n >= 0) {
        size_t user_len = data[3] & 16 ? strcspn(auth, ":") : 0;
        CHECK((size_t)n <= room && n >= 9 && out[0] == 4 && out[1] == 1);
        CHECK((unsigned)((unsigned char)out[2] << 8 | (unsigned char)out[3]) == port);
        CHECK(out[8 + user_len] == 0 && memcmp(out + 8, auth, user_len) == 0);
        if (!(data[3] & 8))
            CHECK(strcmp(out + 9 + user_len, host) == 0 &&
                  (size_t)n == 9 + user_len + strlen(host) + 1);
    }

    n = proxy_socks5_greeting((unsigned char *)out, room, data[3] & 32);
    CHECK(n < 0 || ((size_t)n <= room && out[0] == 5 && out[1] == n - 2));

    n = proxy_socks5_auth_request((unsigned char *)out, room, auth);
    if (n >= 0) {
        size_t user_len = (unsigned char)out[1];
        CHECK((size_t)n <= room && out[0] == 1 && user_len > 0);
        CHECK(memcmp(out + 2, auth, user_len) == 0 && auth[user_len] == ':');
        CHECK((size_t)n == 3 + user_len + (unsigned char)out[2 + user_len]);
        CHECK(strlen(auth + user_len + 1) == (unsigned char)out[2 + user_len] &&
              memcmp(out + 3 + user_len, auth + user_len + 1, (size_t)n - 3 - user_len) == 0);
    }

    /* A connect request has a connect answer's shape: it reads back whole. */
    int family = (data[3] >> 6) == 1 ? 4 : (data[3] >> 6) == 2 ? 6 : 0;
    unsigned char addr[16];
    memset(addr, 0, sizeof(addr));
    memcpy(addr, data, 4);
    n = proxy_socks5_connect_request((unsigned char *)out, room, family, addr, host, port);
    if (n >= 0) {
        size_t used;
        int code;
        CHECK((size_t)n <= room);
        CHECK(proxy_socks5_parse_connect((unsigned char *)out, (size_t)n, &used, &code) ==
              PROXY_REFUSED && used == (size_t)n && code == 1);
        CHECK((unsigned)((unsigned char)out[n - 2] << 8 | (unsigned char)out[n - 1]) == port);
    }
    free(text);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum what what;
    size_t ncuts;

    if (size < 3)
        return 0;
    what = (enum what)(data[0] % 4);
    if (what == BUILDERS) {
        builders(data + 1, size - 1);
        return 0;
    }
    ncuts = data[1] % 8;
    reason_room = data[2];
    if (size < 3 + ncuts)
        return 0;
    const uint8_t *cuts = data + 3, *answer = data + 3 + ncuts;
    size_t len = size - 3 - ncuts;

    struct outcome pieces = feed(what, answer, len, cuts, ncuts);
    struct outcome whole = feed(what, answer, len, NULL, 0);
    CHECK(pieces.result == whole.result && pieces.consumed == whole.consumed);
    if (pieces.result == PROXY_OK || pieces.result == PROXY_REFUSED)
        CHECK(pieces.code == whole.code);
    if (pieces.result == PROXY_OK)
        CHECK(pieces.consumed <= len);  /* the rest is the server's */
    return 0;
}
