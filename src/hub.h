/*
 * hub: the topology of a conversation. stdin fans out to every peer (one
 * pump, one source, a sink per peer) and every peer fans in to stdout (one
 * pump, a source per peer, one sink), both on the pump's rules. A one-shot
 * conversation is the same topology with a single peer. The hub holds
 * endpoints only: dial and accept make them, the conversation opens stdio,
 * and what a peer's end means is the conversation's to decide (conv.c).
 */
#ifndef SOCKCAT_HUB_H
#define SOCKCAT_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "cli.h"
#include "counters.h"
#include "endpoint.h"
#include "pump.h"

struct sc_conv;
struct sc_hub;
struct sc_zc_path;

/* A peer: its endpoint and what the conversation knows of it. */
struct sc_peer {
    struct sc_endpoint *ep;
    struct sc_hub *hub;
    struct sc_peer *prev, *next;
    struct sc_pump_sink sink;  /* its place in the broadcast of stdin */
    struct sc_peer_ending *ending;  /* its -i clock (ending.c), or NULL */
    struct sc_broker_peer *bp; /* --broker: its share and --chat state, or NULL */
    uint64_t start_ns;
    int write_error;           /* a write failed before its EOF (one-shot) */
    bool in_broadcast;         /* sink is in the stdin pump */
    bool read_done;            /* EOF or error from the peer, or never reading */
    bool write_done;           /* its output ended, or can never be written */
    bool holds_slot;           /* still sending: counts against -m */
    bool probing;              /* half-closed, probed by keepalive (ending.c) */
    /* One allocation per client, tens of thousands at once under -k: fields
     * only some modes need live elsewhere, behind a pointer. */
    char name[];               /* for messages: "ADDR PORT", or a path */
};

struct sc_hub {
    struct sc_conv *conv;
    const struct sc_opts *opts;
    struct sc_counters *counters;
    struct sc_endpoint *in;    /* stdin, or NULL with --recv-only */
    struct sc_endpoint *out;   /* stdout, or NULL with --send-only */
    struct sc_pump to_peers;   /* stdin -> every peer */
    struct sc_pump to_stdout;  /* every peer -> stdout */
    struct sc_pump_sink out_sink;
    struct sc_peer *peers;
    size_t peer_count;
    size_t sending;            /* peers still sending: what -m counts */
    uv_timer_t *reaper;        /* checks half-closed clients (ending.c) */
    bool out_ended;
    bool out_broken;           /* the reader of stdout went away */
    struct sc_zc_path *fast_in;   /* stdin -> the peer in the kernel (zerocopy.c), or NULL */
    struct sc_zc_path *fast_out;  /* the peer -> stdout in the kernel, or NULL */
    struct sc_broker broker;   /* --broker: every peer is a source and a sink */
    /* A peer has closed and its descriptor is free again. */
    void (*on_peer_gone)(struct sc_hub *hub);
};

/* Takes stdin and stdout (either may be NULL) as the fan-out source and
 * fan-in sink. */
void hub_init(struct sc_hub *hub, struct sc_conv *conv, const struct sc_opts *opts,
              struct sc_counters *counters, struct sc_endpoint *in, struct sc_endpoint *out);

/* Joins a connected endpoint to the conversation (the hub owns it now). */
void hub_add_peer(struct sc_hub *hub, struct sc_endpoint *ep, const char *name);

/* Stopping: no source reads any more. */
void hub_stop_reading(struct sc_hub *hub);

/* True once stdout has written what it holds, or never will. */
bool hub_flushed(const struct sc_hub *hub);

/* Closes every endpoint. */
void hub_close_all(struct sc_hub *hub);

/* For the conversation's rules: */
void hub_end_peer_writes(struct sc_peer *peer);
void hub_close_peer(struct sc_peer *peer);
void hub_peer_check_done(struct sc_peer *peer);
void hub_update_stdin(struct sc_hub *hub);
/* Starts or stops reading a peer as the flow says (also the broker's fair turns). */
void hub_update_peer_read(struct sc_peer *peer);

#endif
