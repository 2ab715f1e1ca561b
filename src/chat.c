#include "chat.h"

#include <stdbool.h>
#include <string.h>

/* A continuation byte within [lo, hi]. */
static bool in_range(unsigned char c, unsigned char lo, unsigned char hi)
{
    return c >= lo && c <= hi;
}

/*
 * The length of the well-formed UTF-8 character at in[0..n) that may be
 * shown, or 0 when it is malformed, cut short or a C1 control.
 */
static size_t utf8_printable_len(const unsigned char *in, size_t n)
{
    unsigned char c = in[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;

    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    /* The second byte rules out overlong forms, surrogates and > U+10FFFF. */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (n < len || !in_range(in[1], lo, hi))
        return 0;
    for (size_t i = 2; i < len; i++)
        if (!in_range(in[i], 0x80, 0xbf))
            return 0;
    if (c == 0xc2 && in[1] <= 0x9f)
        return 0;  /* U+0080..U+009F: C1 controls, CSI among them */
    return len;
}

static bool ascii_printable(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c < 0x7f && c != '\\');
}

size_t chat_escape(const char *in, size_t n, char *out, size_t out_size)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0;

    while (i < n) {
        size_t len = s[i] < 0x80 ? (ascii_printable(s[i]) ? 1 : 0)
                                 : utf8_printable_len(s + i, n - i);
        if (len > 0) {
            if (out_size - o < len)
                break;
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else if (s[i] == '\\') {
            if (out_size - o < 2)
                break;
            out[o++] = '\\';
            out[o++] = '\\';
            i++;
        } else {
            if (out_size - o < 4)
                break;
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[s[i] >> 4];
            out[o++] = hex[s[i] & 0xf];
            i++;
        }
    }
    return o;
}

size_t chat_format_line(const char *prefix, const char *line, size_t n, char *out,
                        size_t out_size)
{
    size_t plen = strlen(prefix);

    if (n > (size_t)-1 / CHAT_ESCAPE_GROWTH - plen - 1 ||
        out_size < plen + n * CHAT_ESCAPE_GROWTH + 1)
        return 0;
    memcpy(out, prefix, plen);
    size_t o = plen + chat_escape(line, n, out + plen, out_size - plen - 1);
    out[o++] = '\n';
    return o;
}

void chat_framer_init(struct chat_framer *f)
{
    f->len = 0;
}

/* A line ending "\r\n" ends the line; the '\r' is not part of it. */
static void emit_line(const char *line, size_t len, chat_line_cb cb, void *ctx)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    cb(ctx, line, len);
}

/*
 * Where to split a full buffer: before a UTF-8 character that the buffer
 * holds only the start of, so that it is not cut in two.
 */
static size_t split_point(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;

    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = s[len - back];
        if (c < 0x80 || c >= 0xc0) {
            size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            /* A lead byte whose character runs past the end: split before it. */
            return need > back && back < len ? len - back : len;
        }
    }
    return len;
}

/*
 * The buffer is full (perhaps with a CR after the limit) and holds no line
 * ending: pass on its first part, at most CHAT_LINE_MAX bytes.
 */
static void split_full(struct chat_framer *f, chat_line_cb cb, void *ctx)
{
    size_t cut = split_point(f->buf, CHAT_LINE_MAX);

    cb(ctx, f->buf, cut);
    memmove(f->buf, f->buf + cut, f->len - cut);
    f->len -= cut;
}

void chat_feed(struct chat_framer *f, const char *in, size_t n, chat_line_cb cb, void *ctx)
{
    while (n > 0) {
        const char *nl = memchr(in, '\n', n);
        size_t seg = nl ? (size_t)(nl - in) : n;

        if (f->len == 0 && nl && seg <= CHAT_LINE_MAX) {
            /* A whole line in the input: no copy. */
            emit_line(in, seg, cb, ctx);
            in += seg + 1;
            n -= seg + 1;
            continue;
        }
        if (f->len >= CHAT_LINE_MAX) {
            /* Split only once the line goes on: a line of exactly the
             * limit, then its "\n" or "\r\n" (which may come in two
             * reads: the CR waits in the byte after the limit), stays one
             * line. */
            if (seg == 0) {
                emit_line(f->buf, f->len, cb, ctx);
                f->len = 0;
                in++;
                n--;
            } else if (f->len == CHAT_LINE_MAX && in[0] == '\r') {
                f->buf[f->len++] = '\r';
                in++;
                n--;
            } else {
                split_full(f, cb, ctx);
            }
            continue;
        }
        size_t room = CHAT_LINE_MAX - f->len;
        size_t take = seg < room ? seg : room;
        memcpy(f->buf + f->len, in, take);
        f->len += take;
        in += take;
        n -= take;
        if (take == seg && nl) {
            emit_line(f->buf, f->len, cb, ctx);
            f->len = 0;
            in++;
            n--;
        }
    }
}

void chat_flush(struct chat_framer *f, chat_line_cb cb, void *ctx)
{
    if (f->len > CHAT_LINE_MAX)
        split_full(f, cb, ctx);  /* the limit, then a CR: two parts */
    if (f->len == 0)
        return;
    cb(ctx, f->buf, f->len);
    f->len = 0;
}
