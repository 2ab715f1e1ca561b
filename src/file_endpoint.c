/*
 * The file endpoint: regular files and character devices (/dev/null,
 * /dev/zero), which libuv cannot open as streams. Reads and writes are
 * chained uv_fs requests at the descriptor's own position, so a file shared
 * with the shell advances as it would under cat(1). One read and one write
 * are in flight at most; queued chunks are written together with writev.
 * A character device (stdio admits only the memory devices, whose writes
 * return at once) is written on the loop itself, from a zero-delay timer:
 * a thread-pool round trip per write would cost more than the write.
 */
#include <stdlib.h>
#include <sys/stat.h>

#include "endpoint.h"
#include "write_queue.h"

#define WRITE_BATCH 16

struct sc_file_endpoint {
    struct sc_endpoint base;
    uv_loop_t *loop;
    uv_file fd;
    uv_fs_t read_req;
    uv_fs_t write_req;
    uv_timer_t notifier;       /* delivers events that must not be synchronous */
    struct sc_chunk *reading_into;
    bool read_busy;
    bool write_busy;
    bool write_on_loop;        /* a character device: see above */
    bool write_due;            /* the notifier is to write on the loop */
    struct sc_write_queue queue;
    int write_error;           /* a write that failed to start, to report */
};

static struct sc_file_endpoint *file_of(struct sc_endpoint *ep)
{
    return (struct sc_file_endpoint *)ep;
}

static void file_on_notifier_closed(uv_handle_t *handle)
{
    struct sc_file_endpoint *fep = handle->data;

    fep->base.events->on_closed(&fep->base);
}

/* Finishes close() once no request is in flight. */
static void file_maybe_closed(struct sc_file_endpoint *fep)
{
    if (fep->base.closing && !fep->read_busy && !fep->write_busy &&
        !uv_is_closing((uv_handle_t *)&fep->notifier))
        uv_close((uv_handle_t *)&fep->notifier, file_on_notifier_closed);
}

static void file_issue_read(struct sc_file_endpoint *fep);

static void file_on_read(uv_fs_t *req)
{
    struct sc_file_endpoint *fep = req->data;
    struct sc_endpoint *ep = &fep->base;
    ssize_t result = req->result;
    struct sc_chunk *chunk = fep->reading_into;

    uv_fs_req_cleanup(req);
    fep->read_busy = false;
    fep->reading_into = NULL;
    if (ep->closing) {
        chunk_unref(chunk);
        file_maybe_closed(fep);
        return;
    }
    if (result > 0) {
        chunk = chunk_trim(chunk, (size_t)result);
        ep->bytes_read += (uint64_t)result;
        ep->events->on_data(ep, chunk);
        if (ep->reading && !ep->closing)
            file_issue_read(fep);
        return;
    }
    chunk_unref(chunk);
    ep->reading = false;
    if (result == 0)
        ep->events->on_eof(ep);
    else
        ep->events->on_read_error(ep, (int)result);
}

static void file_issue_read(struct sc_file_endpoint *fep)
{
    uv_buf_t buf;
    int rc;

    if (fep->read_busy)
        return;
    fep->reading_into = chunk_take_block();
    if (!fep->reading_into) {
        fep->base.reading = false;
        fep->base.events->on_read_error(&fep->base, UV_ENOMEM);
        return;
    }
    buf = uv_buf_init(fep->reading_into->data, (unsigned)fep->reading_into->cap);
    fep->read_req.data = fep;
    rc = uv_fs_read(fep->loop, &fep->read_req, fep->fd, &buf, 1, -1, file_on_read);
    if (rc < 0) {
        chunk_unref(fep->reading_into);
        fep->reading_into = NULL;
        fep->base.reading = false;
        fep->base.events->on_read_error(&fep->base, rc);
        return;
    }
    fep->read_busy = true;
}

static int file_read_start(struct sc_endpoint *ep)
{
    struct sc_file_endpoint *fep = file_of(ep);

    if (ep->reading || ep->closing)
        return 0;
    ep->reading = true;
    /* A read still in flight from before read_stop() carries on the chain. */
    if (!fep->read_busy)
        file_issue_read(fep);
    return 0;
}

static void file_read_stop(struct sc_endpoint *ep)
{
    /* The read in flight completes and is delivered; no new one starts. */
    ep->reading = false;
}

static void file_on_written(uv_fs_t *req);

static void file_on_notify(uv_timer_t *timer)
{
    struct sc_file_endpoint *fep = timer->data;

    if (fep->write_due) {
        uv_buf_t bufs[WRITE_BATCH];
        unsigned count = write_queue_fill(&fep->queue, bufs, WRITE_BATCH, NULL);
        fep->write_due = false;
        /* No callback: uv_fs_write runs the writev here and now. */
        uv_fs_write(fep->loop, &fep->write_req, fep->fd, bufs, count, -1, NULL);
        file_on_written(&fep->write_req);
        return;
    }
    if (fep->write_error) {
        int rc = fep->write_error;
        fep->write_error = 0;
        fep->base.events->on_written(&fep->base, 0, rc);
        return;
    }
    if (fep->base.ending && !fep->base.ended && write_queue_empty(&fep->queue)) {
        fep->base.ended = true;
        fep->base.events->on_ended(&fep->base, 0);
    }
}

static void file_issue_write(struct sc_file_endpoint *fep);

static void file_on_written(uv_fs_t *req)
{
    struct sc_file_endpoint *fep = req->data;
    struct sc_endpoint *ep = &fep->base;
    ssize_t result = req->result;

    uv_fs_req_cleanup(req);
    fep->write_busy = false;
    if (!ep->closing && result < 0) {
        size_t len = write_queue_head_len(&fep->queue);
        write_queue_clear(&fep->queue, ep);
        ep->events->on_written(ep, len, (int)result);
        return;
    }
    if (!ep->closing)
        write_queue_retire(&fep->queue, ep, (size_t)result);
    if (ep->closing) {
        write_queue_clear(&fep->queue, ep);
        file_maybe_closed(fep);
        return;
    }
    if (!write_queue_empty(&fep->queue))
        file_issue_write(fep);
    else if (ep->ending && !ep->ended)
        uv_timer_start(&fep->notifier, file_on_notify, 0, 0);
}

static void file_issue_write(struct sc_file_endpoint *fep)
{
    uv_buf_t bufs[WRITE_BATCH];
    unsigned count;
    int rc;

    fep->write_req.data = fep;
    if (fep->write_on_loop) {
        fep->write_busy = true;
        fep->write_due = true;
        uv_timer_start(&fep->notifier, file_on_notify, 0, 0);
        return;
    }
    count = write_queue_fill(&fep->queue, bufs, WRITE_BATCH, NULL);
    rc = uv_fs_write(fep->loop, &fep->write_req, fep->fd, bufs, count, -1, file_on_written);
    if (rc < 0) {
        /* Report it from the loop, as a failed request would be. */
        fep->write_error = rc;
        write_queue_clear(&fep->queue, &fep->base);
        uv_timer_start(&fep->notifier, file_on_notify, 0, 0);
        return;
    }
    fep->write_busy = true;
}

static int file_write(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct sc_file_endpoint *fep = file_of(ep);
    int rc;

    if (ep->closing || ep->ending)
        return UV_EPIPE;
    rc = write_queue_push(&fep->queue, ep, chunk);
    if (rc < 0)
        return rc;
    if (!fep->write_busy)
        file_issue_write(fep);
    return 0;
}

static void file_end(struct sc_endpoint *ep)
{
    struct sc_file_endpoint *fep = file_of(ep);

    if (ep->ending || ep->closing)
        return;
    ep->ending = true;
    if (write_queue_empty(&fep->queue) && !fep->write_busy)
        uv_timer_start(&fep->notifier, file_on_notify, 0, 0);
}

static void file_close(struct sc_endpoint *ep)
{
    struct sc_file_endpoint *fep = file_of(ep);

    if (ep->closing)
        return;
    ep->closing = true;
    ep->reading = false;
    uv_timer_stop(&fep->notifier);
    if (fep->write_due) {
        /* The write on the loop never began. */
        fep->write_due = false;
        fep->write_busy = false;
    }
    /* Chunks not yet handed to the kernel are dropped now. */
    if (!fep->write_busy)
        write_queue_clear(&fep->queue, ep);
    file_maybe_closed(fep);
}

static int file_fileno(const struct sc_endpoint *ep)
{
    return ((const struct sc_file_endpoint *)ep)->fd;
}

static const struct sc_endpoint_ops file_ops = {
    .read_start = file_read_start,
    .read_stop = file_read_stop,
    .write = file_write,
    .end = file_end,
    .close = file_close,
    .fileno = file_fileno,
};

struct sc_endpoint *file_endpoint_new(uv_loop_t *loop, uv_file fd,
                                      const struct sc_endpoint_events *events,
                                      void *owner)
{
    struct sc_file_endpoint *fep = calloc(1, sizeof(*fep));
    struct stat st;

    if (!fep)
        return NULL;
    fep->base = (struct sc_endpoint){ .ops = &file_ops, .events = events, .owner = owner };
    fep->loop = loop;
    fep->fd = fd;
    fep->write_on_loop = fstat(fd, &st) == 0 && S_ISCHR(st.st_mode);
    uv_timer_init(loop, &fep->notifier);
    fep->notifier.data = fep;
    return &fep->base;
}
