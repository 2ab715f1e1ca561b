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

/* Chunks handed to one sendmsg, and recv calls per readiness report. */
#define SEND_BATCH 16
#define READS_PER_WAKEUP 4

struct pending {
    struct pending *next;
    struct sc_chunk *chunk;
};

struct sc_socket_endpoint {
    struct sc_endpoint base;
    int fd;                  /* a private descriptor of the shared socket */
    int epfd;                /* private epoll instance watching fd */
    uv_poll_t poll;          /* watches epfd */
    uint32_t watching;       /* the events fd is registered for in epfd */
    bool polling;
    struct pending *head, *tail;
    size_t head_offset;      /* bytes of the head chunk already sent */
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
    if (sep->head)
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

/* Forgets every queued chunk, with no events (closing, or after an error). */
static void socket_drop_queue(struct sc_socket_endpoint *sep)
{
    while (sep->head) {
        struct pending *p = sep->head;
        sep->head = p->next;
        sep->base.queued -= p->chunk->len - sep->head_offset;
        sep->base.queued_chunks--;
        sep->head_offset = 0;
        chunk_unref(p->chunk);
        free(p);
    }
    sep->tail = NULL;
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

/* Advances the queue past `sent` bytes, reporting each finished chunk. */
static void socket_retire(struct sc_socket_endpoint *sep, size_t sent)
{
    struct sc_endpoint *ep = &sep->base;

    while (sep->head && !ep->closing) {
        struct pending *p = sep->head;
        size_t left = p->chunk->len - sep->head_offset;
        if (sent < left) {
            sep->head_offset += sent;
            ep->queued -= sent;
            ep->bytes_written += sent;
            return;
        }
        sent -= left;
        ep->queued -= left;
        ep->queued_chunks--;
        ep->bytes_written += left;
        sep->head = p->next;
        if (!sep->head)
            sep->tail = NULL;
        sep->head_offset = 0;
        size_t len = p->chunk->len;
        chunk_unref(p->chunk);
        free(p);
        ep->events->on_written(ep, len, 0);
    }
}

/* One sendmsg of the queue's head; the bytes sent, 0 for "not now", or -errno. */
static ssize_t socket_send_some(struct sc_socket_endpoint *sep, size_t *asked)
{
    struct iovec iov[SEND_BATCH];
    struct msghdr msg = { .msg_iov = iov };
    size_t count = 0;
    ssize_t n;

    *asked = 0;
    for (struct pending *p = sep->head; p && count < SEND_BATCH; p = p->next) {
        size_t offset = count == 0 ? sep->head_offset : 0;
        iov[count].iov_base = p->chunk->data + offset;
        iov[count].iov_len = p->chunk->len - offset;
        *asked += iov[count].iov_len;
        count++;
    }
    msg.msg_iovlen = count;
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

    while (sep->head && !ep->closing) {
        size_t asked;
        ssize_t n = socket_send_some(sep, &asked);
        if (n < 0) {
            size_t len = sep->head->chunk->len;
            socket_drop_queue(sep);
            ep->events->on_written(ep, len, (int)n);
            return;
        }
        if (n == 0)
            return;
        socket_retire(sep, (size_t)n);
        if ((size_t)n < asked)
            return;  /* the socket is full: wait for room */
    }
    if (!ep->closing && ep->ending && !ep->ended && !sep->head)
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
        if (sep->head) {
            size_t len = sep->head->chunk->len;
            socket_drop_queue(sep);
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
    if (sep->head)
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
    struct pending *p;

    if (ep->closing || ep->ending)
        return UV_EPIPE;
    p = malloc(sizeof(*p));
    if (!p)
        return UV_ENOMEM;
    chunk_ref(chunk);
    p->chunk = chunk;
    p->next = NULL;
    if (sep->tail)
        sep->tail->next = p;
    else
        sep->head = p;
    sep->tail = p;
    ep->queued += chunk->len;
    ep->queued_chunks++;
    return socket_update_interest(sep);
}

static void socket_end(struct sc_endpoint *ep)
{
    struct sc_socket_endpoint *sep = socket_of(ep);

    if (ep->ending || ep->closing)
        return;
    ep->ending = true;
    if (!sep->head)
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
    socket_drop_queue(sep);
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
