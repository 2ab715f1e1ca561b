/*
 * The lines of -x. Input: one byte of flags (bit 0: direction '<' rather
 * than '>'; bits 1-5: tag length, 0 for no tag; bit 6: a line buffer one
 * byte short of the room promised), 8 bytes of starting offset, the tag,
 * then the data, dumped 16 bytes a line with the offset counting on.
 * Each line must read back: direction, tag, the offset as hex (8 digits,
 * more only when needed), the bytes in hex with hexdump -C's gaps, the
 * printable ones between bars, one newline at the end, NUL after it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hexdump.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;  /* upper case is not what is written */
}

static unsigned offset_digits(uint64_t offset)
{
    unsigned digits = 8;

    while (digits < 16 && (offset >> (4 * digits)) != 0)
        digits++;
    return digits;
}

static void check_line(const char *line, size_t n, char dir, const char *tag, uint64_t offset,
                       const uint8_t *data, size_t len)
{
    const char *p = line;

    CHECK(strlen(line) == n && n > 0 && line[n - 1] == '\n');
    CHECK(memchr(line, '\n', n - 1) == NULL);
    CHECK(*p++ == dir && *p++ == ' ');
    if (tag) {
        size_t tag_len = strlen(tag);
        CHECK(*p++ == '[' && memcmp(p, tag, tag_len) == 0);
        p += tag_len;
        CHECK(*p++ == ']' && *p++ == ' ');
    }
    uint64_t shown = 0;
    for (unsigned d = 0; d < offset_digits(offset); d++) {
        int v = hex_value(*p++);
        CHECK(v >= 0);
        shown = shown << 4 | (unsigned)v;
    }
    CHECK(shown == offset);
    CHECK(*p++ == ' ' && *p++ == ' ');
    for (size_t i = 0; i < SC_HEXDUMP_WIDTH; i++) {
        if (i == SC_HEXDUMP_WIDTH / 2)
            CHECK(*p++ == ' ');
        if (i < len) {
            int hi = hex_value(p[0]), lo = hex_value(p[1]);
            CHECK(hi >= 0 && lo >= 0 && (hi << 4 | lo) == data[i]);
        } else {
            CHECK(p[0] == ' ' && p[1] == ' ');
        }
        p += 2;
        CHECK(*p++ == ' ');
    }
    CHECK(*p++ == ' ' && *p++ == '|');
    for (size_t i = 0; i < len; i++)
        CHECK(*p++ == (data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '.'));
    CHECK(*p++ == '|' && *p++ == '\n' && p == line + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir, tag_buf[32], *tag = NULL;
    size_t tag_len, room, pos;
    uint64_t offset = 0;
    bool short_room;

    if (size < 9)
        return 0;
    dir = data[0] & 1 ? '<' : '>';
    tag_len = (data[0] >> 1) & 31;
    short_room = data[0] & 64;
    for (int i = 1; i <= 8; i++)
        offset = offset << 8 | data[i];
    pos = 9;
    if (tag_len > 0) {
        if (size < pos + tag_len)
            return 0;
        /* A tag is a client's address: printable, no ']'. */
        for (size_t i = 0; i < tag_len; i++) {
            uint8_t c = data[pos + i];
            tag_buf[i] = c >= 0x20 && c < 0x7f && c != ']' ? (char)c : '.';
        }
        tag_buf[tag_len] = '\0';
        tag = tag_buf;
        pos += tag_len;
    }
    room = SC_HEXDUMP_LINE_MAX(tag_len) - (short_room ? 1 : 0);
    char *line = malloc(room);
    CHECK(line);

    if (short_room) {
        /* Too little room: nothing written at all. */
        memset(line, 'x', room);
        CHECK(hexdump_line(line, room, dir, tag, offset, data + pos, size - pos) == 0);
        for (size_t i = 0; i < room; i++)
            CHECK(line[i] == 'x');
        free(line);
        return 0;
    }
    /* At least one line, an empty one when there is no data. */
    do {
        size_t len = size - pos < SC_HEXDUMP_WIDTH ? size - pos : SC_HEXDUMP_WIDTH;
        /* More data than a line holds: it takes 16 and leaves the rest. */
        size_t n = hexdump_line(line, room, dir, tag, offset, data + pos, size - pos);
        CHECK(n > 0 && n < room);
        check_line(line, n, dir, tag, offset, data + pos, len);
        offset += len;
        pos += len;
    } while (pos < size);
    free(line);
    return 0;
}
