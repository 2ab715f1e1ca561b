/*
 * hub: the conversation. stdin fans out to every peer, every peer fans in
 * to stdout, each direction with its own backpressure, and the policy that
 * ends it all. A one-shot conversation is a hub with a single peer.
 *
 * Backpressure: a sink whose queue passes SC_HIGH_WATER stops its sources
 * reading until it drains below SC_LOW_WATER, so memory is bounded by the
 * marks, never by how much faster one side is than the other.
 */
#ifndef SOCKCAT_HUB_H
#define SOCKCAT_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdint.h>
#include <uv.h>

#include "cli.h"
#include "endpoint.h"
#include "net.h"

#define SC_HIGH_WATER (1024 * 1024)
#define SC_LOW_WATER (256 * 1024)

/* Running totals, read by the -v summary, --stats, --progress and SIGUSR1. */
struct sc_counters {
    uint64_t sent;          /* bytes written to peers */
    uint64_t received;      /* bytes read from peers */
    uint64_t connections;   /* peers that took part */
    uint64_t disconnected;  /* slow clients disconnected (--slow-client disconnect) */
    uint64_t start_ns;
};

struct sc_hub;

struct sc_peer {
    struct sc_stream_endpoint ep;  /* first: the endpoint is the peer */
    struct sc_hub *hub;
    struct sc_peer *prev, *next;
    char name[NET_NAME_SIZE];  /* "ADDR PORT", for messages */
    bool added;            /* part of the conversation (not refused) */
    bool read_done;        /* EOF or error from the peer, or never reading */
    bool writes_stopped;   /* no more broadcast goes to it */
    bool write_done;       /* its output ended, or can never be written */
    bool over_high_water;
    bool done_when_drained;  /* --no-shutdown: output done once its queue drains */
    int write_error;       /* one-shot: stdin could not all be written; reported
                              once the read side has ended */
    uint64_t dropped;      /* broadcast bytes it missed (--slow-client drop) */
    uint64_t sent_counted; /* of ep.base.bytes_written, what counters->sent has */
    uint64_t start_ns;
};

struct sc_hub {
    uv_loop_t *loop;
    const struct sc_opts *opts;
    struct sc_counters *counters;
    struct sc_endpoint *in;   /* stdin, or NULL with --recv-only */
    struct sc_endpoint *out;  /* stdout, or NULL with --send-only */
    struct sc_peer *peers;
    size_t peer_count;
    size_t writable_peers;    /* peers that still take broadcast data */
    size_t peers_over;        /* writable peers above the high-water mark */
    bool in_eof;
    bool out_backed_up;
    bool out_ended;
    bool out_broken;          /* the reader of stdout went away */
    bool stopping;            /* flushing stdout before finishing */
    bool finished;
    int exit_code;
    int stop_signal;          /* the signal that asked to stop, or 0 */
    uint64_t abandoned;       /* received bytes a signal stop did not write */
    char error[512];          /* printed once stdout is flushed */
    uv_timer_t flush_timer;   /* bounds the flush of a stop on a signal */
    /* Called when a peer has closed and its descriptor is free again. */
    void (*on_peer_closed)(struct sc_hub *hub);
    /* Called once when stopping begins: stop feeding the hub (accepting). */
    void (*on_stopping)(struct sc_hub *hub);
    /* Called once when the conversation is over: close what the hub does not own. */
    void (*on_finished)(struct sc_hub *hub);
    void *data;
};

/* Opens stdin and stdout as the options say. 0, or a libuv error. */
int hub_init(struct sc_hub *hub, uv_loop_t *loop, const struct sc_opts *opts,
             struct sc_counters *counters);

/* A peer with an initialised TCP handle, not yet in the conversation. */
struct sc_peer *hub_new_peer(struct sc_hub *hub);

/* Joins a connected peer to the conversation; `name` is "ADDR PORT". */
void hub_add_peer(struct sc_hub *hub, struct sc_peer *peer);

/* Closes and frees a peer that never joined (refused, failed to connect). */
void hub_discard_peer(struct sc_peer *peer);

/*
 * hub_stop()
 * Ends the conversation: stops reading, writes out to stdout all that was
 * received, however slowly its reader takes it, then closes everything.
 * `code` becomes the exit status unless one is set already.
 * A `code` of 128+N is a stop on signal N: only such a stop gives up on a
 * stdout that is not drained within a few seconds (or at once, on a second
 * signal), and then says how many received bytes it dropped.
 */
void hub_stop(struct sc_hub *hub, int code);

/* Like hub_stop(), with a one-line error printed after stdout is flushed. */
void hub_fail(struct sc_hub *hub, int uverr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic nanoseconds, for durations. */
uint64_t hub_now_ns(void);

#endif
