/*
 * pump: moves chunks from a source to its sinks, written once and used for
 * every direction (stdin -> peers, peers -> stdout, one-shot or keep-open).
 *
 * One pump is one flow with one set of water marks: one source and many
 * sinks (the broadcast of stdin: fan-out), or many sources and one sink
 * (clients to stdout: fan-in), or one of each (a one-shot direction).
 * - pump_push() passes a chunk through the transform step (none unless
 *   -C, -x or -o asks for one: transform.h) and writes it to every sink
 *   that takes data;
 * - a sink whose backlog (bytes plus a per-chunk cost) passes SC_HIGH_WATER
 *   is "over"; it stops being over once it drains to SC_LOW_WATER. While a
 *   sink is over, the sources stop reading, unless the slow-sink policy
 *   drops its share or disconnects it instead (keep-open --slow-client);
 * - pump_source_eof(): the source has ended, so every sink ends once its
 *   queue has drained (endpoint_end(): shutdown for a socket, close for a
 *   pipe), or with no_end (--no-shutdown) is done once drained;
 * - bytes are counted as they come in, and as the sinks' endpoints report
 *   them written (a chunk that a close cut short counts for what went out).
 *
 * The owner of the endpoints receives their events and hands the pump its
 * part: pump_on_written() for a sink's writes, pump_on_ended() for its end.
 * The pump tells the owner when its sources should start or stop reading
 * (on_flow) and when a sink is finished (on_sink_ended, on_sink_failed).
 */
#ifndef SOCKCAT_PUMP_H
#define SOCKCAT_PUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "endpoint.h"

#define SC_HIGH_WATER (1024 * 1024)
#define SC_LOW_WATER (256 * 1024)

/*
 * The memory that slow sinks can pin in total under the drop and disconnect
 * policies (keep-open --slow-client). The broadcast shares each chunk among
 * all sinks by reference, so sinks that keep up cost no memory of their
 * own. A sink that stops reading keeps the chunks queued for it alive, up
 * to its high-water mark, and sinks that stopped at different moments keep
 * different chunks alive: a thousand of them could pin a thousand windows.
 * So the chunk memory in use, each chunk counted once (chunk_live_bytes()),
 * has one budget for the whole process. Beyond it a sink that is behind at
 * all (anything still queued) counts as slow: `drop` skips the chunk for it
 * and `disconnect` disconnects it (which frees its queue). With `drop`, a
 * sink whose queue is empty gets only what its output takes at once, and
 * the rest of that chunk is dropped for it, so that no sink that may never
 * read pins a new chunk. Peak memory is then about the budget plus one
 * round of reads, however many sinks are stuck. `block` needs no budget:
 * the sources wait, and every sink queues the same chunks.
 */
#define SC_SLOW_SINK_BUDGET (32 * 1024 * 1024)

/* Why a pump, or a whole conversation, ended. */
enum sc_end_reason {
    SC_END_RUNNING,
    SC_END_EOF,      /* every direction finished */
    SC_END_ERROR,
    SC_END_TIMEOUT,
    SC_END_SIGNAL,
};

struct sc_pump;

/* One sink of a pump; embedded in whatever record owns the endpoint. */
struct sc_pump_sink {
    struct sc_endpoint *ep;
    struct sc_pump *pump;
    struct sc_pump_sink *prev, *next;
    void *owner;
    bool taking;            /* still takes data from the pump */
    bool over_high_water;
    bool no_end;            /* --no-shutdown: done once drained, never ended */
    bool done_when_drained;
    bool done;              /* ended, drained under no_end, or failed */
    uint64_t dropped;       /* bytes it missed under the drop policy */
    uint64_t counted;       /* of ep->bytes_written, what count_out has */
    size_t entries;         /* of ep->queued_chunks, what pump->entries has */
};

struct sc_pump_events {
    /* Whether the sources should read may have changed: ask pump_flowing(). */
    void (*on_flow)(struct sc_pump *pump);
    /* A sink's output ended (status of the end), or drained under no_end (0). */
    void (*on_sink_ended)(struct sc_pump_sink *sink, int status);
    /* A write to a sink failed (never UV_ECANCELED); it takes no more data.
     * `queued`: the write was accepted and failed later (not refused at once). */
    void (*on_sink_failed)(struct sc_pump_sink *sink, int err, bool queued);
    /* A sink fell behind under the disconnect policy (its mark, or the
     * memory budget); it takes no more data. */
    void (*on_sink_slow)(struct sc_pump_sink *sink);
};

struct sc_pump {
    const struct sc_pump_events *events;
    void *owner;
    enum sc_slow_policy slow;   /* what a sink above the mark costs the others */
    bool wait_for_sink;         /* sources read only while some sink takes data */
    bool eof_ends_sinks;        /* a source's EOF ends the sinks (one source) */
    bool eof;                   /* the source ended: sinks joining now end at once */
    struct sc_pump_sink *sinks;
    size_t sink_count;
    size_t taking;              /* sinks that take data */
    size_t over;                /* of those, how many are above the mark */
    uint64_t *count_in;         /* bytes pushed, or NULL */
    uint64_t *count_out;        /* bytes the sinks' endpoints wrote, or NULL */
    size_t high_water;          /* a sink's marks; 0: SC_HIGH_WATER and */
    size_t low_water;           /* SC_LOW_WATER */
    /*
     * Many sources and many sinks (the broker): a chunk goes to a sink with
     * nothing queued straight to its output as far as the output takes it,
     * and only the rest is queued (copied when the output took part), so
     * that sinks that keep up hold no write request and no chunk. Each
     * queued chunk of each sink costs memory of its own, so the pump also
     * has a budget for all its sinks' queued chunks together: past it, the
     * sources wait under block, and sinks that are behind count as slow
     * under drop and disconnect (SC_SLOW_SINK_BUDGET).
     */
    bool write_now_first;
    bool write_now_when_tight;  /* the same while chunk_tight() (chunk.h) */
    size_t entries;             /* chunks queued in all its sinks together */
    size_t entry_budget;        /* 0: none; else the most `entries` before */
    bool over_entries;          /* the sources wait, until half of it */
    /* The transform step, or NULL: returns the chunk to pass on (itself,
     * or a new one with one reference); `origin` names the source. */
    struct sc_chunk *(*transform)(void *ctx, struct sc_chunk *chunk, const char *origin);
    void *transform_ctx;
};

void pump_init(struct sc_pump *pump, const struct sc_pump_events *events, void *owner);

/* True when the sources may read: see wait_for_sink and the slow policy. */
bool pump_flowing(const struct sc_pump *pump);

/* Under --slow-client block, a sink above its mark (or all of them above the
 * pump's entry_budget) holds every source back. */
bool pump_held_back(const struct sc_pump *pump);

/*
 * pump_source_update()
 * Starts or stops reading `source` as the pump's flow and the owner's own
 * reasons (`allowed`) say. Returns 0 or the libuv error of read_start.
 */
int pump_source_update(struct sc_pump *pump, struct sc_endpoint *source, bool allowed);

/* Writes a chunk to every sink that takes data (the caller keeps its reference). */
void pump_push(struct sc_pump *pump, struct sc_chunk *chunk);

/* The same, to every sink but `except` (the broker: never back to its sender). */
void pump_push_except(struct sc_pump *pump, struct sc_chunk *chunk,
                      const struct sc_pump_sink *except);
/* Like pump_push(), naming the source (a client) for the transform step. */
void pump_push_from(struct sc_pump *pump, struct sc_chunk *chunk, const char *origin);

/* The (only) source ended: with eof_ends_sinks, end every sink once drained. */
void pump_source_eof(struct sc_pump *pump);

/* Adds a sink that takes data (or ends at once, after the EOF). */
void pump_add_sink(struct sc_pump *pump, struct sc_pump_sink *sink, struct sc_endpoint *ep,
                   void *owner, bool no_end);

/* Removes a sink (its endpoint has closed). */
void pump_remove_sink(struct sc_pump_sink *sink);

/* The sink takes no more data; its marks no longer hold the sources back. */
void pump_sink_stop(struct sc_pump_sink *sink);

/* No more data for this sink: end its output once its queue drains. */
void pump_sink_end(struct sc_pump_sink *sink);

/* The sink endpoint's on_written and on_ended events, handed on by the owner. */
void pump_on_written(struct sc_pump_sink *sink, size_t len, int status);
void pump_on_ended(struct sc_pump_sink *sink, int status);

#endif
