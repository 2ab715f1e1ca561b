#include "hexdump.h"

#include <string.h>

static const char hex_digits[] = "0123456789abcdef";

/* Room for the fixed part: direction, offset (up to 16 digits), bytes, text. */
#define FIXED_MAX 96

size_t hexdump_line(char *out, size_t size, char dir, const char *tag, uint64_t offset,
                    const unsigned char *data, size_t len)
{
    size_t tag_len = tag ? strlen(tag) : 0;
    size_t n = 0;
    int digits = 8;

    /* Formatted by hand: snprintf per line was most of the cost of -x. */
    if (size < FIXED_MAX + tag_len + 4)
        return 0;
    if (len > SC_HEXDUMP_WIDTH)
        len = SC_HEXDUMP_WIDTH;
    out[n++] = dir;
    out[n++] = ' ';
    if (tag) {
        out[n++] = '[';
        memcpy(out + n, tag, tag_len);
        n += tag_len;
        out[n++] = ']';
        out[n++] = ' ';
    }
    while (digits < 16 && (offset >> (4 * digits)) != 0)
        digits++;
    for (int d = digits - 1; d >= 0; d--)
        out[n++] = hex_digits[(offset >> (4 * d)) & 15];
    out[n++] = ' ';
    out[n++] = ' ';
    /* "xx xx xx xx xx xx xx xx  xx ... xx  |ascii|" with hexdump -C's gaps. */
    for (size_t i = 0; i < SC_HEXDUMP_WIDTH; i++) {
        if (i == SC_HEXDUMP_WIDTH / 2)
            out[n++] = ' ';
        if (i < len) {
            out[n++] = hex_digits[data[i] >> 4];
            out[n++] = hex_digits[data[i] & 15];
        } else {
            out[n++] = ' ';
            out[n++] = ' ';
        }
        out[n++] = ' ';
    }
    out[n++] = ' ';
    out[n++] = '|';
    for (size_t i = 0; i < len; i++)
        out[n++] = data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '.';
    out[n++] = '|';
    out[n++] = '\n';
    out[n] = '\0';
    return n;
}
