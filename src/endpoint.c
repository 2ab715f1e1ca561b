/*
 * The stream endpoint: uv_read_start/uv_write/uv_shutdown on one handle.
 */
#include "endpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

struct write_req {
    uv_write_t req;
    struct sc_chunk *chunk;
};

static struct sc_stream_endpoint *stream_of(struct sc_endpoint *ep)
{
    return (struct sc_stream_endpoint *)ep;
}

static void stream_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct sc_stream_endpoint *sep = handle->data;
    struct sc_chunk *block = chunk_take_read(sep->base.read_size);

    (void)suggested;
    /* A zero-length buffer makes libuv report UV_ENOBUFS to the read callback. */
    *buf = block ? uv_buf_init(block->data, (unsigned)block->cap) : uv_buf_init(NULL, 0);
}

/*
 * libuv reports EOF without reading (no buffer) when a socket hangs up after
 * a short read, whether the peer sent FIN or reset the connection behind its
 * last bytes. Ask the socket: a peeking read returns 0 after a FIN and the
 * error after a reset.
 */
static ssize_t hang_up_reason(uv_stream_t *stream)
{
    uv_os_fd_t fd;
    char byte;
    ssize_t n;

    if (stream->type != UV_TCP || uv_fileno((uv_handle_t *)stream, &fd) < 0)
        return UV_EOF;
    do
        n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        return -errno;
    return UV_EOF;
}

static void stream_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct sc_stream_endpoint *sep = stream->data;
    struct sc_endpoint *ep = &sep->base;

    if (nread > 0) {
        struct sc_chunk *chunk = chunk_trim(chunk_of(buf->base), (size_t)nread);
        ep->bytes_read += (uint64_t)nread;
        ep->events->on_data(ep, chunk);
        return;
    }
    if (buf->base)
        chunk_unref(chunk_of(buf->base));
    if (nread == 0)
        return;  /* EAGAIN: nothing this time, not an EOF */
    uv_read_stop(stream);
    ep->reading = false;
    if (nread == UV_EOF && !buf->base)
        nread = hang_up_reason(stream);
    if (nread == UV_EOF)
        ep->events->on_eof(ep);
    else
        ep->events->on_read_error(ep, (int)nread);
}

static int stream_read_start(struct sc_endpoint *ep)
{
    struct sc_stream_endpoint *sep = stream_of(ep);
    int rc;

    if (ep->reading || ep->closing)
        return 0;
    rc = uv_read_start(&sep->u.stream, stream_on_alloc, stream_on_read);
    if (rc == 0)
        ep->reading = true;
    return rc;
}

static void stream_read_stop(struct sc_endpoint *ep)
{
    if (!ep->reading)
        return;
    uv_read_stop(&stream_of(ep)->u.stream);
    ep->reading = false;
}

static void stream_on_closed(uv_handle_t *handle)
{
    struct sc_stream_endpoint *sep = handle->data;

    /* Every write has had its callback now: what is left of written_at_close
     * went out as part of a chunk the close cut short. */
    sep->base.bytes_written += sep->written_at_close;
    sep->written_at_close = 0;

    if (sep->close_ends) {
        /* SC_END_CLOSE: closing was how this output ended. */
        sep->base.ended = true;
        sep->base.events->on_ended(&sep->base, 0);
    }
    sep->base.events->on_closed(&sep->base);
}

static void stream_close_handle(struct sc_stream_endpoint *sep)
{
    if (uv_is_closing(&sep->u.handle))
        return;
    if (sep->before_close)
        sep->before_close(sep);
    uv_close(&sep->u.handle, stream_on_closed);
}

static void stream_on_shutdown(uv_shutdown_t *req, int status)
{
    struct sc_stream_endpoint *sep = req->data;

    free(req);
    sep->base.ended = true;
    sep->base.events->on_ended(&sep->base, status);
}

/*
 * The shutdown request is taken only now, not kept in every endpoint: an
 * idle client of `listen -k` costs that much less. libuv calls back even
 * when the handle closes first (UV_ECANCELED), and the callback frees it.
 */
static int stream_shutdown(struct sc_stream_endpoint *sep)
{
    uv_shutdown_t *req = malloc(sizeof(*req));
    int rc;

    if (!req)
        return UV_ENOMEM;
    req->data = sep;
    rc = uv_shutdown(req, &sep->u.stream, stream_on_shutdown);
    if (rc < 0)
        free(req);
    return rc;
}

/* Ends the output now that nothing is queued. */
static void stream_finish_end(struct sc_stream_endpoint *sep)
{
    struct sc_endpoint *ep = &sep->base;
    int rc;

    switch (sep->end_style) {
    case SC_END_SHUTDOWN:
        rc = stream_shutdown(sep);
        if (rc < 0) {
            ep->ended = true;
            ep->events->on_ended(ep, rc);
        }
        break;
    case SC_END_CLOSE:
        sep->close_ends = true;
        ep->closing = true;
        stream_read_stop(ep);
        stream_close_handle(sep);
        break;
    case SC_END_NOTHING:
        ep->ended = true;
        ep->events->on_ended(ep, 0);
        break;
    }
}

static void stream_on_written(uv_write_t *req, int status)
{
    struct write_req *wr = (struct write_req *)req;
    struct sc_stream_endpoint *sep = req->handle->data;
    struct sc_endpoint *ep = &sep->base;
    size_t len = wr->chunk->len;

    if (status == 0) {
        ep->bytes_written += len;
        if (ep->closing)  /* it was counted in written_at_close too */
            sep->written_at_close -= len < sep->written_at_close ? len : sep->written_at_close;
    }
    ep->queued -= len;
    ep->queued_chunks--;
    chunk_unref(wr->chunk);
    free(wr);
    if (ep->closing)
        return;
    ep->events->on_written(ep, len, status);
    /* uv_shutdown waits for queued writes itself. on_written may have
     * closed the endpoint, and a closing output does not end. */
    if (ep->ending && !ep->ended && ep->queued == 0 && sep->end_style != SC_END_SHUTDOWN &&
        !ep->closing)
        stream_finish_end(sep);
}

static int stream_write(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct sc_stream_endpoint *sep = stream_of(ep);
    struct write_req *wr;
    uv_buf_t buf = uv_buf_init(chunk->data, (unsigned)chunk->len);
    int rc;

    if (ep->closing || ep->ending)
        return UV_EPIPE;
    wr = malloc(sizeof(*wr));
    if (!wr)
        return UV_ENOMEM;
    chunk_ref(chunk);
    wr->chunk = chunk;
    ep->queued += chunk->len;
    ep->queued_chunks++;
    rc = uv_write(&wr->req, &sep->u.stream, &buf, 1, stream_on_written);
    if (rc < 0) {
        ep->queued -= chunk->len;
        ep->queued_chunks--;
        chunk_unref(chunk);
        free(wr);
    }
    return rc;
}

static void stream_end(struct sc_endpoint *ep)
{
    struct sc_stream_endpoint *sep = stream_of(ep);

    if (ep->ending || ep->closing)
        return;
    ep->ending = true;
    if (sep->end_style == SC_END_SHUTDOWN || ep->queued == 0)
        stream_finish_end(sep);
}

/*
 * What the kernel has taken of the writes whose callbacks have not run yet,
 * just before a close cancels them. libuv keeps a request's unwritten rest
 * in its queue size until that request's callback, and ours counts every
 * such request whole, so the difference is the part that went out: whole
 * requests that completed (their callbacks still come, with status 0) and
 * the head request that was cut short. Only the latter is new information;
 * stream_on_written takes the former back out. A request that fails
 * outside a close is counted as not written: its callback comes after libuv
 * has already forgotten how far it got.
 */
static size_t stream_written_unreported(struct sc_stream_endpoint *sep)
{
    size_t pending = uv_stream_get_write_queue_size(&sep->u.stream);

    return sep->base.queued > pending ? sep->base.queued - pending : 0;
}

static void stream_close(struct sc_endpoint *ep)
{
    struct sc_stream_endpoint *sep = stream_of(ep);

    if (ep->closing)
        return;
    if (!uv_is_closing(&sep->u.handle))
        sep->written_at_close = stream_written_unreported(sep);
    ep->closing = true;
    stream_read_stop(ep);
    stream_close_handle(sep);
}

/* Bytes handed to write() that the kernel has not taken yet. */
static size_t stream_unwritten(const struct sc_endpoint *ep)
{
    const struct sc_stream_endpoint *sep = (const struct sc_stream_endpoint *)ep;

    return uv_stream_get_write_queue_size(&sep->u.stream);
}

/* --slow-client drop over the memory budget: no queue that may never drain. */
static int stream_write_now(struct sc_endpoint *ep, const struct sc_chunk *chunk)
{
    struct sc_stream_endpoint *sep = stream_of(ep);
    uv_buf_t buf = uv_buf_init((char *)chunk->data, (unsigned)chunk->len);
    int n;

    if (ep->closing || ep->ending)
        return UV_EPIPE;
    if (ep->queued > 0)
        return 0;  /* bytes may not overtake the ones already queued */
    n = uv_try_write(&sep->u.stream, &buf, 1);
    if (n == UV_EAGAIN)
        return 0;
    if (n > 0)
        ep->bytes_written += (uint64_t)n;
    return n;
}

static void stream_close_reset(struct sc_endpoint *ep)
{
    struct sc_stream_endpoint *sep = stream_of(ep);
    struct linger now = { .l_onoff = 1, .l_linger = 0 };
    uv_os_fd_t fd;

    /* uv_tcp_close_reset() refuses a handle that is shutting down; the
     * option itself works in every state. */
    if (sep->u.handle.type == UV_TCP && !sep->base.closing &&
        uv_fileno(&sep->u.handle, &fd) == 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
    stream_close(ep);
}

static int stream_fileno(const struct sc_endpoint *ep)
{
    const struct sc_stream_endpoint *sep = (const struct sc_stream_endpoint *)ep;
    uv_os_fd_t fd;

    return uv_fileno(&sep->u.handle, &fd) == 0 ? fd : -1;
}

/* Sockets only: getsockname and getpeername on the handle's descriptor. */
static int stream_addresses(const struct sc_endpoint *ep, struct sc_endpoint_addresses *out)
{
    const struct sc_stream_endpoint *sep = (const struct sc_stream_endpoint *)ep;
    uv_os_fd_t fd;

    if (uv_fileno(&sep->u.handle, &fd) < 0)
        return UV_EBADF;
    out->local_len = sizeof(out->local);
    out->remote_len = sizeof(out->remote);
    if (getsockname(fd, (struct sockaddr *)&out->local, &out->local_len) < 0)
        return -errno;
    if (getpeername(fd, (struct sockaddr *)&out->remote, &out->remote_len) < 0)
        out->remote_len = 0;
    return 0;
}

static const struct sc_endpoint_ops stream_ops = {
    .read_start = stream_read_start,
    .read_stop = stream_read_stop,
    .write = stream_write,
    .end = stream_end,
    .close = stream_close,
    .unwritten = stream_unwritten,
    .write_now = stream_write_now,
    .close_reset = stream_close_reset,
    .fileno = stream_fileno,
    .addresses = stream_addresses,
};

void stream_endpoint_setup(struct sc_stream_endpoint *sep, enum sc_end_style style,
                           const struct sc_endpoint_events *events, void *owner)
{
    sep->base = (struct sc_endpoint){ .ops = &stream_ops, .events = events, .owner = owner };
    sep->u.handle.data = sep;
    sep->end_style = style;
    sep->close_ends = false;
    sep->before_close = NULL;
    sep->hygiene_slot = -1;
    sep->written_at_close = 0;
}

int stream_endpoint_fd(const struct sc_endpoint *ep)
{
    const struct sc_stream_endpoint *sep = (const struct sc_stream_endpoint *)ep;
    uv_os_fd_t fd;

    if (ep->ops != &stream_ops || ep->closing || uv_fileno(&sep->u.handle, &fd) < 0)
        return -1;
    return fd;
}

void endpoint_ignore_data(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    (void)ep;
    chunk_unref(chunk);
}

void endpoint_ignore_eof(struct sc_endpoint *ep)
{
    (void)ep;
}

void endpoint_ignore_read_error(struct sc_endpoint *ep, int err)
{
    (void)ep, (void)err;
}

void endpoint_ignore_written(struct sc_endpoint *ep, size_t len, int status)
{
    (void)ep, (void)len, (void)status;
}

void endpoint_ignore_ended(struct sc_endpoint *ep, int status)
{
    (void)ep, (void)status;
}
