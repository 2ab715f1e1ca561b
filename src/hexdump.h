/*
 * hexdump: the lines of -x, in the style of `hexdump -C`, each with the
 * direction and the offset in that direction:
 *   > 00000000  68 65 6c 6c 6f 0a                                 |hello.|
 * With a tag (the client, under -k) after the direction:
 *   < [127.0.0.1 40112] 00000010  ...
 * Pure: no libuv, no I/O.
 */
#ifndef SOCKCAT_HEXDUMP_H
#define SOCKCAT_HEXDUMP_H

#include <stddef.h>
#include <stdint.h>

#define SC_HEXDUMP_WIDTH 16

/* Room for one line with a tag of `tag_len` bytes, its newline and a NUL. */
#define SC_HEXDUMP_LINE_MAX(tag_len) (100 + (tag_len))

/*
 * hexdump_line()
 * Formats up to SC_HEXDUMP_WIDTH bytes of `data` as one line ending in a
 * newline: `dir` ('>' sent, '<' received), the tag in brackets when not
 * NULL, the offset (8 hex digits, more when it needs them), the bytes in
 * hex, and the printable ones. Returns the length written (less than
 * `size`), or 0 when `size` is below SC_HEXDUMP_LINE_MAX(strlen(tag)).
 */
size_t hexdump_line(char *out, size_t size, char dir, const char *tag, uint64_t offset,
                    const unsigned char *data, size_t len);

#endif
