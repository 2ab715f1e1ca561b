#include "hexdump.h"

#include <stdio.h>

static const char hex_digits[] = "0123456789abcdef";

size_t hexdump_line(char *out, size_t size, char dir, const char *tag, uint64_t offset,
                    const unsigned char *data, size_t len)
{
    char body[SC_HEXDUMP_LINE_MAX(0)];
    size_t n = 0;
    int head;

    if (len > SC_HEXDUMP_WIDTH)
        len = SC_HEXDUMP_WIDTH;
    /* "xx xx xx xx xx xx xx xx  xx ... xx  |ascii|" with hexdump -C's gaps. */
    for (size_t i = 0; i < SC_HEXDUMP_WIDTH; i++) {
        if (i == SC_HEXDUMP_WIDTH / 2)
            body[n++] = ' ';
        if (i < len) {
            body[n++] = hex_digits[data[i] >> 4];
            body[n++] = hex_digits[data[i] & 15];
        } else {
            body[n++] = ' ';
            body[n++] = ' ';
        }
        body[n++] = ' ';
    }
    body[n++] = ' ';
    body[n++] = '|';
    for (size_t i = 0; i < len; i++)
        body[n++] = data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '.';
    body[n++] = '|';
    body[n] = '\0';
    if (tag)
        head = snprintf(out, size, "%c [%s] %08llx  %s\n", dir, tag,
                        (unsigned long long)offset, body);
    else
        head = snprintf(out, size, "%c %08llx  %s\n", dir, (unsigned long long)offset, body);
    if (head < 0)
        return 0;
    return (size_t)head < size ? (size_t)head : size - 1;
}
