/*
 * The file endpoint: regular files and character devices (/dev/null,
 * /dev/zero), which libuv cannot open as streams. Reads and writes are
 * chained uv_fs requests at the descriptor's own position, so a file shared
 * with the shell advances as it would under cat(1). One read and one write
 * are in flight at most; queued chunks are written together with writev.
 */
#include <stdlib.h>

#include "endpoint.h"

#define WRITE_BATCH 16

struct pending {
    struct pending *next;
    struct sc_chunk *chunk;
};

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
    struct pending *head, *tail;
    size_t head_offset;        /* bytes of the head chunk already written */
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

static void file_on_notify(uv_timer_t *timer)
{
    struct sc_file_endpoint *fep = timer->data;

    if (fep->write_error) {
        int rc = fep->write_error;
        fep->write_error = 0;
        fep->base.events->on_written(&fep->base, 0, rc);
        return;
    }
    if (fep->base.ending && !fep->base.ended && !fep->head) {
        fep->base.ended = true;
        fep->base.events->on_ended(&fep->base, 0);
    }
}

static void file_issue_write(struct sc_file_endpoint *fep);

/* Forgets every queued chunk, with no events (closing, or after an error). */
static void file_drop_queue(struct sc_file_endpoint *fep)
{
    while (fep->head) {
        struct pending *p = fep->head;
        fep->head = p->next;
        fep->base.queued -= p->chunk->len - fep->head_offset;
        fep->base.queued_chunks--;
        fep->head_offset = 0;
        chunk_unref(p->chunk);
        free(p);
    }
    fep->tail = NULL;
}

/* Advances the queue past `written` bytes, reporting each finished chunk. */
static void file_retire(struct sc_file_endpoint *fep, size_t written)
{
    struct sc_endpoint *ep = &fep->base;

    while (fep->head && !ep->closing) {
        struct pending *p = fep->head;
        size_t left = p->chunk->len - fep->head_offset;
        if (written < left) {
            /* A short write: the rest of this chunk goes out next time. */
            fep->head_offset += written;
            ep->queued -= written;
            ep->bytes_written += written;
            return;
        }
        written -= left;
        ep->queued -= left;
        ep->queued_chunks--;
        ep->bytes_written += left;
        fep->head = p->next;
        if (!fep->head)
            fep->tail = NULL;
        fep->head_offset = 0;
        size_t len = p->chunk->len;
        chunk_unref(p->chunk);
        free(p);
        ep->events->on_written(ep, len, 0);
    }
}

static void file_on_written(uv_fs_t *req)
{
    struct sc_file_endpoint *fep = req->data;
    struct sc_endpoint *ep = &fep->base;
    ssize_t result = req->result;

    uv_fs_req_cleanup(req);
    fep->write_busy = false;
    if (!ep->closing && result < 0) {
        size_t len = fep->head ? fep->head->chunk->len : 0;
        file_drop_queue(fep);
        ep->events->on_written(ep, len, (int)result);
        return;
    }
    if (!ep->closing)
        file_retire(fep, (size_t)result);
    if (ep->closing) {
        file_drop_queue(fep);
        file_maybe_closed(fep);
        return;
    }
    if (fep->head)
        file_issue_write(fep);
    else if (ep->ending && !ep->ended)
        uv_timer_start(&fep->notifier, file_on_notify, 0, 0);
}

static void file_issue_write(struct sc_file_endpoint *fep)
{
    uv_buf_t bufs[WRITE_BATCH];
    unsigned count = 0;
    int rc;

    for (struct pending *p = fep->head; p && count < WRITE_BATCH; p = p->next) {
        size_t offset = count == 0 ? fep->head_offset : 0;
        bufs[count++] = uv_buf_init(p->chunk->data + offset,
                                    (unsigned)(p->chunk->len - offset));
    }
    fep->write_req.data = fep;
    rc = uv_fs_write(fep->loop, &fep->write_req, fep->fd, bufs, count, -1, file_on_written);
    if (rc < 0) {
        /* Report it from the loop, as a failed request would be. */
        fep->write_error = rc;
        file_drop_queue(fep);
        uv_timer_start(&fep->notifier, file_on_notify, 0, 0);
        return;
    }
    fep->write_busy = true;
}

static int file_write(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct sc_file_endpoint *fep = file_of(ep);
    struct pending *p;

    if (ep->closing || ep->ending)
        return UV_EPIPE;
    p = malloc(sizeof(*p));
    if (!p)
        return UV_ENOMEM;
    chunk_ref(chunk);
    p->chunk = chunk;
    p->next = NULL;
    if (fep->tail)
        fep->tail->next = p;
    else
        fep->head = p;
    fep->tail = p;
    ep->queued += chunk->len;
    ep->queued_chunks++;
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
    if (!fep->head && !fep->write_busy)
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
    /* Chunks not yet handed to the kernel are dropped now. */
    if (!fep->write_busy)
        file_drop_queue(fep);
    file_maybe_closed(fep);
}

static const struct sc_endpoint_ops file_ops = {
    .read_start = file_read_start,
    .read_stop = file_read_stop,
    .write = file_write,
    .end = file_end,
    .close = file_close,
};

struct sc_endpoint *file_endpoint_new(uv_loop_t *loop, uv_file fd,
                                      const struct sc_endpoint_events *events,
                                      void *owner)
{
    struct sc_file_endpoint *fep = calloc(1, sizeof(*fep));

    if (!fep)
        return NULL;
    fep->base = (struct sc_endpoint){ .ops = &file_ops, .events = events, .owner = owner };
    fep->loop = loop;
    fep->fd = fd;
    uv_timer_init(loop, &fep->notifier);
    fep->notifier.data = fep;
    return &fep->base;
}
