/*
 * The shared socket endpoint: a stream socket sockcat shares with others
 * (stdin or stdout handed over by a parent), driven without ever changing
 * the file description's flags, so that no one sharing it sees O_NONBLOCK,
 * during the run or after any way sockcat ends.
 *
 * recv/send with MSG_DONTWAIT never block whatever the flags say. Readiness
 * comes from a private epoll instance holding the socket: libuv's uv_poll
 * would set O_NONBLOCK on the descriptor it watches, so it watches the
 * epoll instance (whose flags are sockcat's own) instead of the socket.
 * Queued chunks go out together with sendmsg once the socket is writable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "endpoint.h"
#include "write_queue.h"

/* Chunks handed to one sendmsg, and recv calls per readiness report. */
#define SEND_BATCH 16
#define READS_PER_WAKEUP 4

struct sc_socket_endpoint {
    struct sc_endpoint base;
    int fd;                  /* a private descriptor of the shared socket */
    int epfd;                /* private epoll instance watching fd */
    uv_poll_t poll;          /* watches epfd */
    uint32_t watching;       /* the events fd is registered for in epfd */
    bool polling;
    struct sc_write_queue queue;
};

static struct sc_socket_endpoint *socket_of(struct sc_endpoint *ep)
{
    return (struct sc_socket_endpoint *)ep;
}

static void socket_on_poll(uv_poll_t *handle, int status, int events);

/* Watches for what is wanted now: reading, or a queue to send. */
static int socket_update_interest(struct sc_socket_endpoint *sep)
{
    struct sc_endpoint *ep = &sep->base;
    uint32_t want = 0;

    if (ep->closing)
        return 0;
    if (ep->reading)
        want |= EPOLLIN;
    if (!write_queue_empty(&sep->queue))
        want |= EPOLLOUT;
    if (want != sep->watching) {
        struct epoll_event ev = { .events = want, .data.fd = sep->fd };
        if (epoll_ctl(sep->epfd, EPOLL_CTL_MOD, sep->fd, &ev) < 0)
            return -errno;
        sep->watching = want;
    }
    /* Hang-ups are reported even for no event: stop watching instead. */
    if (want == 0) {
        if (sep->polling)
            uv_poll_stop(&sep->poll);
        sep->polling = false;
        return 0;
    }
    if (!sep->polling) {
        int rc = uv_poll_start(&sep->poll, UV_READABLE, socket_on_poll);
        if (rc < 0)
            return rc;
        sep->polling = true;
    }
    return 0;
}

/* The queue is empty and end() was called: half-close the socket. */
static void socket_finish_end(struct sc_socket_endpoint *sep)
{
    struct sc_endpoint *ep = &sep->base;
    int rc = shutdown(sep->fd, SHUT_WR) < 0 ? -errno : 0;

    ep->ended = true;
    socket_update_interest(sep);
    ep->events->on_ended(ep, rc);
}

/* One sendmsg of the queue's head; the bytes sent, 0 for "not now", or -errno. */
static ssize_t socket_send_some(struct sc_socket_endpoint *sep, size_t *asked)
{
    uv_buf_t bufs[SEND_BATCH];
    /* On Unix a uv_buf_t may be cast to a struct iovec (uv/unix.h). */
    struct msghdr msg = { .msg_iov = (struct iovec *)bufs };
    ssize_t n;

    msg.msg_iovlen = write_queue_fill(&sep->queue, bufs, SEND_BATCH, asked);
    do
        n = sendmsg(sep->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    return n;
}

/* Sends what the socket takes now. */
static void socket_flush(struct sc_socket_endpoint *sep)
{
    struct sc_endpoint *ep = &sep->base;

    while (!write_queue_empty(&sep->queue) && !ep->closing) {
        size_t asked;
        ssize_t n = socket_send_some(sep, &asked);
        if (n < 0) {
            size_t len = write_queue_head_len(&sep->queue);
            write_queue_clear(&sep->queue, ep);
            ep->events->on_written(ep, len, (int)n);
            return;
        }
        if (n == 0)
            return;
        write_queue_retire(&sep->queue, ep, (size_t)n);
        if ((size_t)n < asked)
            return;  /* the socket is full: wait for room */
    }
    if (!ep->closing && ep->ending && !ep->ended && write_queue_empty(&sep->queue))
        socket_finish_end(sep);
}

/* Reads what the socket has now, a few blocks at most. */
static void socket_drain(struct sc_socket_endpoint *sep)
{
    struct sc_endpoint *ep = &sep->base;

    for (int i = 0; i < READS_PER_WAKEUP && ep->reading && !ep->closing; i++) {
        struct sc_chunk *block = chunk_take_block();
        ssize_t n;

        if (!block) {
            ep->reading = false;
            ep->events->on_read_error(ep, UV_ENOMEM);
            return;
        }
        do
            n = recv(sep->fd, block->data, block->cap, MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n > 0) {
            size_t cap = block->cap;
            ep->bytes_read += (uint64_t)n;
            ep->events->on_data(ep, chunk_trim(block, (size_t)n));
            if ((size_t)n < cap)
                return;  /* drained */
            continue;
        }
        chunk_unref(block);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        ep->reading = false;
        if (n == 0)
            ep->events->on_eof(ep);
        else
            ep->events->on_read_error(ep, -errno);
        return;
    }
}

static void socket_on_poll(uv_poll_t *handle, int status, int events)
{
    struct sc_socket_endpoint *sep = handle->data;
    struct sc_endpoint *ep = &sep->base;

    (void)events;
    if (status < 0) {
        /* The epoll instance itself failed: nothing more can move. */
        if (!write_queue_empty(&sep->queue)) {
            size_t len = write_queue_head_len(&sep->queue);
            write_queue_clear(&sep->queue, ep);
            ep->events->on_written(ep, len, status);
        }
        if (ep->reading && !ep->closing) {
            ep->reading = false;
            ep->events->on_read_error(ep, status);
        }
        socket_update_interest(sep);
        return;
    }
    /* Which of the two is ready does not matter: a try that finds nothing
     * costs one system call, and each endpoint mostly moves one way. */
    if (!write_queue_empty(&sep->queue))
        socket_flush(sep);
    if (ep->reading && !ep->closing)
        socket_drain(sep);
    socket_update_interest(sep);
}

static int socket_read_start(struct sc_endpoint *ep)
{
    if (ep->reading || ep->closing)
        return 0;
    ep->reading = true;
    return socket_update_interest(socket_of(ep));
}

static void socket_read_stop(struct sc_endpoint *ep)
{
    if (!ep->reading)
        return;
    ep->reading = false;
    socket_update_interest(socket_of(ep));
}

static int socket_write(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct sc_socket_endpoint *sep = socket_of(ep);
    int rc;

    if (ep->closing || ep->ending)
        return UV_EPIPE;
    rc = write_queue_push(&sep->queue, ep, chunk);
    if (rc < 0)
        return rc;
    return socket_update_interest(sep);
}

static void socket_end(struct sc_endpoint *ep)
{
    struct sc_socket_endpoint *sep = socket_of(ep);

    if (ep->ending || ep->closing)
        return;
    ep->ending = true;
    if (write_queue_empty(&sep->queue))
        socket_finish_end(sep);
}

static void socket_on_closed(uv_handle_t *handle)
{
    struct sc_socket_endpoint *sep = handle->data;

    close(sep->epfd);
    close(sep->fd);
    sep->base.events->on_closed(&sep->base);
}

static void socket_close(struct sc_endpoint *ep)
{
    struct sc_socket_endpoint *sep = socket_of(ep);

    if (ep->closing)
        return;
    ep->closing = true;
    ep->reading = false;
    write_queue_clear(&sep->queue, ep);
    uv_close((uv_handle_t *)&sep->poll, socket_on_closed);
}

static const struct sc_endpoint_ops socket_ops = {
    .read_start = socket_read_start,
    .read_stop = socket_read_stop,
    .write = socket_write,
    .end = socket_end,
    .close = socket_close,
};

struct sc_endpoint *socket_endpoint_new(uv_loop_t *loop, int fd,
                                        const struct sc_endpoint_events *events,
                                        void *owner, int *err)
{
    struct sc_socket_endpoint *sep = calloc(1, sizeof(*sep));
    struct epoll_event ev = { .events = 0 };

    if (!sep) {
        *err = UV_ENOMEM;
        return NULL;
    }
    sep->base = (struct sc_endpoint){ .ops = &socket_ops, .events = events, .owner = owner };
    sep->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    sep->epfd = sep->fd < 0 ? -1 : epoll_create1(EPOLL_CLOEXEC);
    ev.data.fd = sep->fd;
    if (sep->epfd < 0 || epoll_ctl(sep->epfd, EPOLL_CTL_ADD, sep->fd, &ev) < 0) {
        *err = -errno;
        goto fail;
    }
    *err = uv_poll_init(loop, &sep->poll, sep->epfd);
    if (*err < 0)
        goto fail;
    sep->poll.data = sep;
    return &sep->base;
fail:
    if (sep->epfd >= 0)
        close(sep->epfd);
    if (sep->fd >= 0)
        close(sep->fd);
    free(sep);
    return NULL;
}
