/*
 * chat: the line framing and escaping of --chat, as pure functions (no
 * libuv, no allocation) so that they can be tested and fuzzed alone.
 *
 * A client's bytes are cut into lines at '\n' (a '\r' before it is part of
 * the line ending). A line longer than CHAT_LINE_MAX bytes is split: the
 * first CHAT_LINE_MAX bytes (less an unfinished UTF-8 character, which goes
 * on to the next part) are a line of their own. So a client holds at most
 * CHAT_LINE_MAX bytes of buffer (and the CR of a line ending), whatever it
 * sends.
 *
 * Each line goes out as PREFIX + escaped text + '\n'. Escaping keeps
 * printable ASCII, tab and well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF) except the C1 controls U+0080 to
 * U+009F, which some terminals obey like ESC. Every other byte becomes
 * \xHH (lower-case hex), and a backslash becomes \\, so the text is
 * unambiguous and nothing a client sends can act on a terminal.
 */
#ifndef SOCKCAT_CHAT_H
#define SOCKCAT_CHAT_H

#include <stddef.h>

/* Input bytes in one line before it is split. */
#define CHAT_LINE_MAX 4096

/* Escaping makes at most this many bytes of one input byte ("\xHH"). */
#define CHAT_ESCAPE_GROWTH 4

/* The longest prefix chat_format_line() is given ("<user 4294967295> "). */
#define CHAT_PREFIX_MAX 32

/* Room that always holds one formatted line. */
#define CHAT_FORMATTED_MAX (CHAT_PREFIX_MAX + CHAT_ESCAPE_GROWTH * CHAT_LINE_MAX + 1)

/* The unfinished line of one client. */
struct chat_framer {
    size_t len;
    char buf[CHAT_LINE_MAX + 1];  /* + the CR of a line at the limit */
};

/* Receives one line, without its line ending. */
typedef void (*chat_line_cb)(void *ctx, const char *line, size_t len);

/*
 * chat_escape()
 * Writes the escaped form of in[0..n) to out, at most out_size bytes, never
 * a part of an escape. Returns the bytes written; n * CHAT_ESCAPE_GROWTH
 * bytes of room always take all of it.
 */
size_t chat_escape(const char *in, size_t n, char *out, size_t out_size);

/*
 * chat_format_line()
 * Writes prefix, the escaped line and '\n' to out. Returns the bytes
 * written, or 0 when they would not fit in out_size (CHAT_FORMATTED_MAX
 * always fits a line of at most CHAT_LINE_MAX bytes and a prefix of at
 * most CHAT_PREFIX_MAX).
 */
size_t chat_format_line(const char *prefix, const char *line, size_t n, char *out,
                        size_t out_size);

/* An empty framer. */
void chat_framer_init(struct chat_framer *f);

/*
 * chat_feed()
 * Takes in[0..n): calls `cb` for every line it completes (or splits off at
 * CHAT_LINE_MAX) and keeps the unfinished rest.
 */
void chat_feed(struct chat_framer *f, const char *in, size_t n, chat_line_cb cb, void *ctx);

/* The input has ended: an unfinished line is passed on as it is. */
void chat_flush(struct chat_framer *f, chat_line_cb cb, void *ctx);

#endif
