#include "crlf.h"

size_t crlf_convert(struct sc_crlf *state, const char *in, size_t len, char *out)
{
    size_t n = 0;
    bool cr = state->last_was_cr;

    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '\n' && !cr)
            out[n++] = '\r';
        out[n++] = c;
        cr = c == '\r';
    }
    state->last_was_cr = cr;
    return n;
}
