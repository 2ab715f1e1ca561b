/*
 * crlf: -C, line endings for what is sent. Each LF becomes CRLF; an LF
 * already preceded by CR is left alone, also when the CR ended the
 * previous read. Pure: no libuv, no I/O.
 */
#ifndef SOCKCAT_CRLF_H
#define SOCKCAT_CRLF_H

#include <stdbool.h>
#include <stddef.h>

struct sc_crlf {
    bool last_was_cr;   /* the last byte converted was CR */
};

/* Room `out` needs for `len` bytes of input. */
static inline size_t crlf_room(size_t len)
{
    return 2 * len;
}

/*
 * crlf_convert()
 * Converts `len` bytes of `in` into `out` (crlf_room(len) bytes of room),
 * carrying the state across calls. Returns the bytes written to `out`.
 */
size_t crlf_convert(struct sc_crlf *state, const char *in, size_t len, char *out);

#endif
