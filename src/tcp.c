#include "tcp.h"

#include <stdlib.h>

/* Nothing reads or writes an endpoint nobody has taken: no events to handle. */
static void unowned_data(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    (void)ep;
    chunk_unref(chunk);
}

static void unowned_eof(struct sc_endpoint *ep)
{
    (void)ep;
}

static void unowned_status(struct sc_endpoint *ep, int status)
{
    (void)ep, (void)status;
}

static void unowned_written(struct sc_endpoint *ep, size_t len, int status)
{
    (void)ep, (void)len, (void)status;
}

static void unowned_closed(struct sc_endpoint *ep)
{
    free(ep);
}

const struct sc_endpoint_events socket_unowned_events = {
    .on_data = unowned_data,
    .on_eof = unowned_eof,
    .on_read_error = unowned_status,
    .on_written = unowned_written,
    .on_ended = unowned_status,
    .on_closed = unowned_closed,
};

struct sc_endpoint *unowned_stream_new(uv_loop_t *loop, stream_handle_init *init, int *err)
{
    struct sc_stream_endpoint *sep = calloc(1, sizeof(*sep));

    if (!sep) {
        *err = UV_ENOMEM;
        return NULL;
    }
    *err = init(loop, sep);
    if (*err < 0) {
        free(sep);
        return NULL;
    }
    stream_endpoint_setup(sep, SC_END_SHUTDOWN, &socket_unowned_events, NULL);
    return &sep->base;
}

static int init_tcp(uv_loop_t *loop, struct sc_stream_endpoint *sep)
{
    return uv_tcp_init(loop, &sep->u.tcp);
}

struct sc_endpoint *tcp_endpoint_new(uv_loop_t *loop, int *err)
{
    return unowned_stream_new(loop, init_tcp, err);
}

uv_tcp_t *tcp_endpoint_handle(struct sc_endpoint *ep)
{
    return &((struct sc_stream_endpoint *)ep)->u.tcp;
}
