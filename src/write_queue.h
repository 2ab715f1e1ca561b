/*
 * write_queue: the chunks an endpoint has accepted but not yet written, in
 * order, for endpoints that write many chunks at once (writev, sendmsg)
 * rather than one libuv write request per chunk. It keeps the endpoint's
 * queued, queued_chunks and bytes_written figures and reports each chunk
 * written through the endpoint's on_written event.
 */
#ifndef SOCKCAT_WRITE_QUEUE_H
#define SOCKCAT_WRITE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "endpoint.h"

struct sc_pending;

struct sc_write_queue {
    struct sc_pending *head, *tail;
    size_t head_offset;      /* bytes of the head chunk already written */
};

static inline bool write_queue_empty(const struct sc_write_queue *q)
{
    return q->head == NULL;
}

/* The whole length of the head chunk, 0 when the queue is empty. */
size_t write_queue_head_len(const struct sc_write_queue *q);

/* Appends `chunk` (taking a reference) and counts it in ep->queued; 0 or UV_ENOMEM. */
int write_queue_push(struct sc_write_queue *q, struct sc_endpoint *ep, struct sc_chunk *chunk);

/*
 * write_queue_fill()
 * Points `bufs` at the unwritten bytes of the first `max` chunks at most, in
 * order. Returns how many buffers were filled; `*bytes`, unless NULL, is
 * their total.
 */
unsigned write_queue_fill(const struct sc_write_queue *q, uv_buf_t *bufs, unsigned max,
                          size_t *bytes);

/* Advances the queue past `written` bytes, reporting each finished chunk;
 * stops early once the endpoint is closing. */
void write_queue_retire(struct sc_write_queue *q, struct sc_endpoint *ep, size_t written);

/* Forgets every queued chunk, with no events (closing, or after an error). */
void write_queue_clear(struct sc_write_queue *q, struct sc_endpoint *ep);

#endif
