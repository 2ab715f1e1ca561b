#include "pump.h"

#include <assert.h>

#include "chunk.h"

static size_t high_mark(const struct sc_pump *pump)
{
    return pump->high_water ? pump->high_water : SC_HIGH_WATER;
}

static size_t low_mark(const struct sc_pump *pump)
{
    return pump->low_water ? pump->low_water : SC_LOW_WATER;
}

void pump_init(struct sc_pump *pump, const struct sc_pump_events *events, void *owner)
{
    *pump = (struct sc_pump){ .events = events, .owner = owner, .slow = SC_SLOW_BLOCK };
}

bool pump_held_back(const struct sc_pump *pump)
{
    return (pump->over > 0 || pump->over_entries) && pump->slow == SC_SLOW_BLOCK;
}

bool pump_flowing(const struct sc_pump *pump)
{
    assert(pump->over <= pump->taking && pump->taking <= pump->sink_count);
    return !pump_held_back(pump) && (pump->taking > 0 || !pump->wait_for_sink);
}

/* Tells the owner when the sources should start or stop reading. */
static void pump_notify_flow(struct sc_pump *pump, bool was_flowing)
{
    if (pump_flowing(pump) != was_flowing)
        pump->events->on_flow(pump);
}

int pump_source_update(struct sc_pump *pump, struct sc_endpoint *source, bool allowed)
{
    bool want = allowed && pump_flowing(pump);

    if (want && !source->reading)
        return endpoint_read_start(source);
    if (!want && source->reading)
        endpoint_read_stop(source);
    return 0;
}

static void sink_set_over(struct sc_pump_sink *sink, bool over)
{
    /* Only a sink that takes data can hold its sources back. */
    assert(sink->taking || !over);
    if (sink->over_high_water == over)
        return;
    sink->over_high_water = over;
    if (over)
        sink->pump->over++;
    else
        sink->pump->over--;
}


static void pump_write_sinks(struct sc_pump *pump, struct sc_chunk *chunk,
                             const struct sc_pump_sink *except);

/* Brings count_out up to what the sink's endpoint has written: whole chunks,
 * and the part of one that a failure or a close cut short. */
static void sink_count_out(struct sc_pump_sink *sink)
{
    uint64_t written = sink->ep->bytes_written;

    assert(written >= sink->counted);
    if (sink->pump->count_out)
        *sink->pump->count_out += written - sink->counted;
    sink->counted = written;
}

/* Over the memory budget a policy that does not wait has to act (SC_SLOW_SINK_BUDGET). */
static bool pump_over_budget(const struct sc_pump *pump)
{
    return pump->slow != SC_SLOW_BLOCK &&
           (chunk_live_bytes() > SC_SLOW_SINK_BUDGET || pump->over_entries);
}

/* Brings pump->entries up to the chunks the sink's endpoint queues now
 * (entry_budget); the caller tells the owner if the flow changed. */
static void sink_count_entries(struct sc_pump_sink *sink)
{
    struct sc_pump *pump = sink->pump;
    size_t now = sink->ep->queued_chunks;

    if (pump->entry_budget == 0)
        return;
    pump->entries = pump->entries - sink->entries + now;
    sink->entries = now;
    if (pump->entries > pump->entry_budget)
        pump->over_entries = true;
    else if (pump->entries <= pump->entry_budget / 2)
        pump->over_entries = false;
}

/*
 * A sink above its mark, or behind at all while over the memory budget,
 * under a policy that does not hold the sources back.
 */
static bool pump_skip_slow(struct sc_pump *pump, struct sc_pump_sink *sink, size_t len,
                           bool over_budget)
{
    bool slow = sink->over_high_water || (over_budget && sink->ep->queued > 0);

    if (!slow || pump->slow == SC_SLOW_BLOCK)
        return false;
    if (pump->slow == SC_SLOW_DROP) {
        sink->dropped += len;
        return true;
    }
    pump_sink_stop(sink);
    pump->events->on_sink_slow(sink);
    return true;
}

/* The sink's output is finished: ended, or drained under no_end. */
static void sink_finish(struct sc_pump_sink *sink, int status)
{
    sink->done = true;
    sink->pump->events->on_sink_ended(sink, status);
}

static void sink_fail(struct sc_pump_sink *sink, int err, bool queued)
{
    pump_sink_stop(sink);
    sink->done = true;
    sink->pump->events->on_sink_failed(sink, err, queued);
}

/*
 * The drop policy over the budget: the chunk goes to the sink only as far as
 * its output takes it now, nothing stays queued. 0 or a libuv error.
 */
static int sink_write_unqueued(struct sc_pump_sink *sink, struct sc_chunk *chunk)
{
    int n = endpoint_write_now(sink->ep, chunk);

    if (n < 0)
        return n;
    sink->dropped += chunk->len - (size_t)n;
    sink_count_out(sink);
    return 0;
}

/*
 * The transform step every chunk takes on its way to the sinks, once for
 * every direction: line endings, a hex dump, a session log (transform.h).
 * Without one, the chunk goes on as it is. `except` is a sink that must not
 * get it (the broker: never back to its sender).
 */
static void pump_push_to(struct sc_pump *pump, struct sc_chunk *chunk, const char *origin,
                         const struct sc_pump_sink *except)
{
    struct sc_chunk *given = chunk;

    if (pump->count_in)
        *pump->count_in += chunk->len;
    if (pump->transform)
        chunk = pump->transform(pump->transform_ctx, chunk, origin);
    pump_write_sinks(pump, chunk, except);
    if (chunk != given)
        chunk_unref(chunk);
}

void pump_push(struct sc_pump *pump, struct sc_chunk *chunk)
{
    pump_push_to(pump, chunk, NULL, NULL);
}

void pump_push_from(struct sc_pump *pump, struct sc_chunk *chunk, const char *origin)
{
    pump_push_to(pump, chunk, origin, NULL);
}

void pump_push_except(struct sc_pump *pump, struct sc_chunk *chunk,
                      const struct sc_pump_sink *except)
{
    pump_push_to(pump, chunk, NULL, except);
}

/*
 * write_now_first: what the output takes at once goes out now, the rest is
 * queued in a chunk of its own size. 0 or a libuv error.
 */
static int sink_write_now_first(struct sc_pump_sink *sink, struct sc_chunk *chunk)
{
    int n = endpoint_write_now(sink->ep, chunk);
    struct sc_chunk *rest;

    if (n <= 0)
        return n < 0 ? n : endpoint_write(sink->ep, chunk);
    sink_count_out(sink);
    if ((size_t)n == chunk->len)
        return 0;
    rest = chunk_copy(chunk->data + n, chunk->len - (size_t)n);
    if (!rest)
        return UV_ENOMEM;
    int rc = endpoint_write(sink->ep, rest);
    chunk_unref(rest);
    return rc;
}

static int sink_write(struct sc_pump *pump, struct sc_pump_sink *sink, struct sc_chunk *chunk,
                      bool over_budget)
{
    if (over_budget && pump->slow == SC_SLOW_DROP)
        return sink_write_unqueued(sink, chunk);
    if (pump->write_now_first || (pump->write_now_when_tight && chunk_tight()))
        return sink_write_now_first(sink, chunk);
    return endpoint_write(sink->ep, chunk);
}

static void pump_write_sinks(struct sc_pump *pump, struct sc_chunk *given,
                             const struct sc_pump_sink *except)
{
    bool was_flowing = pump_flowing(pump);
    bool over_budget = pump_over_budget(pump);
    struct sc_pump_sink *next;
    struct sc_chunk *chunk = given;

    for (struct sc_pump_sink *sink = pump->sinks; sink; sink = next) {
        next = sink->next;
        if (sink == except || !sink->taking || sink->ep->closing ||
            pump_skip_slow(pump, sink, chunk->len, over_budget))
            continue;
        int rc = sink_write(pump, sink, chunk, over_budget);
        if (rc < 0) {
            sink_fail(sink, rc, false);
            continue;
        }
        sink_count_entries(sink);
        if (endpoint_backlog(sink->ep) > high_mark(pump))
            sink_set_over(sink, true);
    }
    pump_notify_flow(pump, was_flowing);
}

void pump_source_eof(struct sc_pump *pump)
{
    pump->eof = true;
    if (!pump->eof_ends_sinks)
        return;
    for (struct sc_pump_sink *sink = pump->sinks; sink; sink = sink->next)
        pump_sink_end(sink);
}

void pump_add_sink(struct sc_pump *pump, struct sc_pump_sink *sink, struct sc_endpoint *ep,
                   void *owner, bool no_end)
{
    bool was_flowing = pump_flowing(pump);
    *sink = (struct sc_pump_sink){ .ep = ep, .pump = pump, .owner = owner, .no_end = no_end,
                                   .taking = true, .next = pump->sinks };
    if (pump->sinks)
        pump->sinks->prev = sink;
    pump->sinks = sink;
    pump->sink_count++;
    pump->taking++;
    if (pump->eof && pump->eof_ends_sinks)
        pump_sink_end(sink);
    pump_notify_flow(pump, was_flowing);
}

void pump_remove_sink(struct sc_pump_sink *sink)
{
    struct sc_pump *pump = sink->pump;

    sink_count_out(sink);  /* a close may have cut a chunk short */
    pump_sink_stop(sink);
    if (pump->entry_budget) {
        bool was_flowing = pump_flowing(pump);
        pump->entries -= sink->entries;
        sink->entries = 0;
        if (pump->entries <= pump->entry_budget / 2)
            pump->over_entries = false;
        pump_notify_flow(pump, was_flowing);
    }
    if (sink->prev)
        sink->prev->next = sink->next;
    else
        pump->sinks = sink->next;
    if (sink->next)
        sink->next->prev = sink->prev;
    pump->sink_count--;
    sink->pump = NULL;
}

void pump_sink_stop(struct sc_pump_sink *sink)
{
    struct sc_pump *pump = sink->pump;
    bool was_flowing;

    if (!sink->taking)
        return;
    was_flowing = pump_flowing(pump);
    sink_set_over(sink, false);
    sink->taking = false;
    pump->taking--;
    pump_notify_flow(pump, was_flowing);
}


void pump_sink_end(struct sc_pump_sink *sink)
{
    struct sc_endpoint *ep = sink->ep;

    pump_sink_stop(sink);
    if (sink->done || ep->ending || ep->closing)
        return;
    if (!sink->no_end) {
        endpoint_end(ep);
        return;
    }
    /* --no-shutdown: the output stays open until the other side closes. */
    if (ep->queued == 0)
        sink_finish(sink, 0);
    else
        sink->done_when_drained = true;
}

void pump_on_written(struct sc_pump_sink *sink, size_t len, int status)
{
    struct sc_pump *pump = sink->pump;
    struct sc_endpoint *ep = sink->ep;

    assert(pump && ep->queued_chunks >= (ep->queued > 0));
    if (status == UV_ECANCELED)
        return;
    (void)len;  /* counted from the endpoint's bytes_written instead */
    sink_count_out(sink);
    if (pump->entry_budget) {
        bool was_flowing = pump_flowing(pump);
        sink_count_entries(sink);
        pump_notify_flow(pump, was_flowing);
    }
    if (status < 0) {
        sink_fail(sink, status, true);
        return;
    }
    if (sink->over_high_water && endpoint_backlog(ep) <= low_mark(pump)) {
        bool was_flowing = pump_flowing(pump);
        sink_set_over(sink, false);
        pump_notify_flow(pump, was_flowing);
    }
    if (sink->done_when_drained && ep->queued == 0 && !sink->done) {
        sink->done_when_drained = false;
        sink_finish(sink, 0);
    }
}

void pump_on_ended(struct sc_pump_sink *sink, int status)
{
    sink_finish(sink, status);
}
