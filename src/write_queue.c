#include "write_queue.h"

#include <stdlib.h>

struct sc_pending {
    struct sc_pending *next;
    struct sc_chunk *chunk;
};

size_t write_queue_head_len(const struct sc_write_queue *q)
{
    return q->head ? q->head->chunk->len : 0;
}

int write_queue_push(struct sc_write_queue *q, struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct sc_pending *p = malloc(sizeof(*p));

    if (!p)
        return UV_ENOMEM;
    chunk_ref(chunk);
    p->chunk = chunk;
    p->next = NULL;
    if (q->tail)
        q->tail->next = p;
    else
        q->head = p;
    q->tail = p;
    ep->queued += chunk->len;
    ep->queued_chunks++;
    return 0;
}

unsigned write_queue_fill(const struct sc_write_queue *q, uv_buf_t *bufs, unsigned max,
                          size_t *bytes)
{
    unsigned count = 0;
    size_t total = 0;

    for (struct sc_pending *p = q->head; p && count < max; p = p->next) {
        size_t offset = count == 0 ? q->head_offset : 0;
        bufs[count] = uv_buf_init(p->chunk->data + offset, (unsigned)(p->chunk->len - offset));
        total += bufs[count].len;
        count++;
    }
    if (bytes)
        *bytes = total;
    return count;
}

/* Unlinks and frees the head, whose bytes are all written or abandoned. */
static void drop_head(struct sc_write_queue *q)
{
    struct sc_pending *p = q->head;

    q->head = p->next;
    if (!q->head)
        q->tail = NULL;
    q->head_offset = 0;
    chunk_unref(p->chunk);
    free(p);
}

void write_queue_retire(struct sc_write_queue *q, struct sc_endpoint *ep, size_t written)
{
    while (q->head && !ep->closing) {
        size_t len = q->head->chunk->len;
        size_t left = len - q->head_offset;
        if (written < left) {
            /* A short write: the rest of this chunk goes out next time. */
            q->head_offset += written;
            ep->queued -= written;
            ep->bytes_written += written;
            return;
        }
        written -= left;
        ep->queued -= left;
        ep->queued_chunks--;
        ep->bytes_written += left;
        drop_head(q);
        ep->events->on_written(ep, len, 0);
    }
}

void write_queue_clear(struct sc_write_queue *q, struct sc_endpoint *ep)
{
    while (q->head) {
        ep->queued -= q->head->chunk->len - q->head_offset;
        ep->queued_chunks--;
        drop_head(q);
    }
}
