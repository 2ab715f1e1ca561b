#include "hub.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "diag.h"
#include "ending.h"
#include "zerocopy.h"


static bool hub_running(const struct sc_hub *hub)
{
    return !hub->conv->stopping && !hub->conv->finished;
}

/* ---- stdin: the fan-out source ---- */

static void in_on_data(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct sc_hub *hub = ep->owner;

    if (!hub->conv->stopping)
        pump_push(&hub->to_peers, chunk);
    chunk_unref(chunk);
    hub_update_stdin(hub);
}

static void in_on_eof(struct sc_endpoint *ep)
{
    struct sc_hub *hub = ep->owner;

    sc_verbose(2, "end of stdin");
    pump_source_eof(&hub->to_peers);
}

static void in_on_read_error(struct sc_endpoint *ep, int err)
{
    conv_fail(((struct sc_hub *)ep->owner)->conv, err, "read from stdin");
}

static void stdio_on_closed(struct sc_endpoint *ep)
{
    struct sc_hub *hub = ep->owner;

    if (hub->in == ep)
        hub->in = NULL;
    if (hub->out == ep) {
        hub->out = NULL;
        pump_remove_sink(&hub->out_sink);
    }
    free(ep);
    conv_check(hub->conv);
}

/* stdin is never written and stdout never read: those events cannot come. */
static const struct sc_endpoint_events in_events = {
    .on_data = in_on_data,
    .on_eof = in_on_eof,
    .on_read_error = in_on_read_error,
    .on_written = endpoint_ignore_written,
    .on_ended = endpoint_ignore_ended,
    .on_closed = stdio_on_closed,
};

/*
 * stdin is read only while the broadcast flows: some peer takes data and
 * none is above its high-water mark (unless the slow-client policy drops or
 * disconnects instead of waiting). With no peer yet, stdin waits.
 */
void hub_update_stdin(struct sc_hub *hub)
{
    if (!hub->in || hub->fast_in)
        return;
    int rc = pump_source_update(&hub->to_peers, hub->in, !hub->to_peers.eof && hub_running(hub));
    if (rc < 0)
        conv_fail(hub->conv, rc, "read from stdin");
}

/* ---- stdout: the fan-in sink ---- */

static void out_on_written(struct sc_endpoint *ep, size_t len, int status)
{
    struct sc_hub *hub = ep->owner;

    if (status < 0 && hub->out_broken)
        return;
    pump_on_written(&hub->out_sink, len, status);
    if (status >= 0 && hub->conv->stopping)
        conv_check(hub->conv);
}

static void out_on_ended(struct sc_endpoint *ep, int status)
{
    struct sc_hub *hub = ep->owner;

    pump_on_ended(&hub->out_sink, status);
}

static const struct sc_endpoint_events out_events = {
    .on_data = endpoint_ignore_data,
    .on_eof = endpoint_ignore_eof,
    .on_read_error = endpoint_ignore_read_error,
    .on_written = out_on_written,
    .on_ended = out_on_ended,
    .on_closed = stdio_on_closed,
};

/* The fan-in pump's flow changed: every peer starts or stops reading. */
static void to_stdout_on_flow(struct sc_pump *pump)
{
    struct sc_hub *hub = pump->owner;

    for (struct sc_peer *peer = hub->peers; peer; peer = peer->next)
        hub_update_peer_read(peer);
}

static void out_sink_on_ended(struct sc_pump_sink *sink, int status)
{
    struct sc_hub *hub = sink->owner;

    (void)status;
    hub->out_ended = true;
    conv_check(hub->conv);
}

static void out_sink_on_failed(struct sc_pump_sink *sink, int err, bool queued)
{
    struct sc_hub *hub = sink->owner;

    if (hub->out_broken)
        return;
    hub->out_broken = true;
    if (queued && err == UV_EPIPE) {
        /* The reader went away (`| head`): nothing is lost that anyone wants. */
        sc_verbose(1, "stdout closed by its reader");
        conv_stop(hub->conv, SC_EXIT_OK);
    } else {
        conv_fail(hub->conv, err, "write to stdout");
    }
}

static void out_sink_on_slow(struct sc_pump_sink *sink)
{
    /* The fan-in pump always waits for stdout. */
    (void)sink;
    assert(!"stdout is never a slow client");
}

static const struct sc_pump_events to_stdout_events = {
    .on_flow = to_stdout_on_flow,
    .on_sink_ended = out_sink_on_ended,
    .on_sink_failed = out_sink_on_failed,
    .on_sink_slow = out_sink_on_slow,
};

/* ---- peers ---- */

void hub_update_peer_read(struct sc_peer *peer)
{
    struct sc_hub *hub = peer->hub;
    struct sc_endpoint *ep = peer->ep;
    bool allowed = !peer->read_done && !ep->closing && hub_running(hub) &&
                   (!hub->broker.on || broker_may_read(peer));

    if (zerocopy_reads_peer(hub, peer))
        return;
    if (pump_source_update(&hub->to_stdout, ep, allowed) < 0) {
        peer->read_done = true;
        hub_peer_check_done(peer);
    }
}

void hub_peer_check_done(struct sc_peer *peer)
{
    if (peer->read_done && peer->write_done)
        hub_close_peer(peer);
}

void hub_end_peer_writes(struct sc_peer *peer)
{
    if (peer->in_broadcast)
        pump_sink_end(&peer->sink);
}

void hub_close_peer(struct sc_peer *peer)
{
    zerocopy_detach_peer(peer->hub, peer);
    if (peer->in_broadcast)
        pump_sink_stop(&peer->sink);
    endpoint_close(peer->ep);
    hub_update_stdin(peer->hub);
}

/*
 * A peer that has stopped sending holds no -m slot: a half-closed client
 * still gets the broadcast, and one that has gone for good cannot be told
 * from it until a write or a keepalive probe fails.
 */
static void peer_release_slot(struct sc_peer *peer)
{
    if (!peer->holds_slot)
        return;
    peer->holds_slot = false;
    peer->hub->sending--;
}

static void peer_on_data(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct sc_peer *peer = ep->owner;
    struct sc_hub *hub = peer->hub;

    ending_peer_traffic(peer);

    if (hub->broker.on) {
        broker_on_data(peer, chunk);
        return;
    }
    if (hub->out && !hub->out_broken && !hub->out->closing)
        sc_diag_stdout_data(chunk->data, chunk->len);  /* a live line sharing the terminal */
    pump_push_from(&hub->to_stdout, chunk, peer->name);
    chunk_unref(chunk);
}

static void peer_on_eof(struct sc_endpoint *ep)
{
    struct sc_peer *peer = ep->owner;

    peer->read_done = true;
    peer_release_slot(peer);
    sc_verbose(2, "end of input from %s", peer->name);
    if (peer->hub->broker.on)
        broker_peer_eof(peer);
    conv_peer_read_ended(peer->hub->conv, peer, 0);
}

static void peer_on_read_error(struct sc_endpoint *ep, int err)
{
    struct sc_peer *peer = ep->owner;

    peer->read_done = true;
    peer_release_slot(peer);
    conv_peer_read_ended(peer->hub->conv, peer, err);
}

static void peer_on_written(struct sc_endpoint *ep, size_t len, int status)
{
    struct sc_peer *peer = ep->owner;

    assert(peer->in_broadcast);
    if (status >= 0)
        ending_peer_traffic(peer);
    pump_on_written(&peer->sink, len, status);
}

static void peer_on_ended(struct sc_endpoint *ep, int status)
{
    struct sc_peer *peer = ep->owner;

    pump_on_ended(&peer->sink, status);
}

static void peer_on_closed(struct sc_endpoint *ep)
{
    struct sc_peer *peer = ep->owner;
    struct sc_hub *hub = peer->hub;

    if (peer->prev)
        peer->prev->next = peer->next;
    else
        hub->peers = peer->next;
    if (peer->next)
        peer->next->prev = peer->prev;
    assert(hub->peer_count > 0 && hub->counters->connections >= hub->peer_count);
    hub->peer_count--;
    peer_release_slot(peer);
    ending_peer_stop(peer);
    if (peer->in_broadcast)
        pump_remove_sink(&peer->sink);
    hub->counters->dropped += peer->sink.dropped;
    if (hub->broker.on)
        broker_peer_left(peer);
    conv_peer_closed(hub->conv, peer);
    free(peer);
    free(ep);
    if (hub->on_peer_gone)
        hub->on_peer_gone(hub);
    conv_check(hub->conv);
}

static const struct sc_endpoint_events peer_events = {
    .on_data = peer_on_data,
    .on_eof = peer_on_eof,
    .on_read_error = peer_on_read_error,
    .on_written = peer_on_written,
    .on_ended = peer_on_ended,
    .on_closed = peer_on_closed,
};

/* ---- the broadcast of stdin ---- */

static void to_peers_on_flow(struct sc_pump *pump)
{
    struct sc_hub *hub = pump->owner;

    hub_update_stdin(hub);
    if (hub->broker.on)  /* the clients are the broadcast's sources too */
        to_stdout_on_flow(&hub->to_stdout);
}

static void peer_sink_on_ended(struct sc_pump_sink *sink, int status)
{
    struct sc_peer *peer = sink->owner;

    conv_peer_write_ended(peer->hub->conv, peer, status);
}

static void peer_sink_on_failed(struct sc_pump_sink *sink, int err, bool queued)
{
    struct sc_peer *peer = sink->owner;

    assert(peer->in_broadcast && !sink->taking);
    peer->write_done = true;
    if (!queued) {
        hub_peer_check_done(peer);
        return;
    }
    conv_peer_write_failed(peer->hub->conv, peer, err);
}

/*
 * --slow-client disconnect: the connection ends with a reset, not a clean
 * end, so that the client cannot take its truncated copy of the broadcast
 * for all of it.
 */
static void peer_sink_on_slow(struct sc_pump_sink *sink)
{
    struct sc_peer *peer = sink->owner;

    sc_verbose(1, "disconnected slow client %s", peer->name);
    peer->hub->counters->disconnected++;
    endpoint_close_reset(peer->ep);
    hub_update_stdin(peer->hub);
}

static const struct sc_pump_events to_peers_events = {
    .on_flow = to_peers_on_flow,
    .on_sink_ended = peer_sink_on_ended,
    .on_sink_failed = peer_sink_on_failed,
    .on_sink_slow = peer_sink_on_slow,
};

/*
 * A peer and its name in one allocation, and under --broker its broker state
 * after the name (aligned): the plain -k client pays for no broker fields.
 */
static struct sc_peer *peer_alloc(const char *name, bool broker)
{
    size_t name_len = strlen(name);
    size_t name_end = sizeof(struct sc_peer) + name_len + 1;
    size_t align = _Alignof(struct sc_broker_peer);
    size_t bp_at = (name_end + align - 1) / align * align;
    struct sc_peer *peer = calloc(1, broker ? bp_at + sizeof(struct sc_broker_peer) : name_end);

    if (!peer)
        return NULL;
    memcpy(peer->name, name, name_len + 1);
    if (broker)
        peer->bp = (struct sc_broker_peer *)((char *)peer + bp_at);
    return peer;
}

void hub_add_peer(struct sc_hub *hub, struct sc_endpoint *ep, const char *name)
{
    struct sc_peer *peer = peer_alloc(name, hub->broker.on);

    if (!peer) {
        endpoint_close(ep);
        return;
    }
    peer->ep = ep;
    peer->hub = hub;
    ep->events = &peer_events;
    ep->owner = peer;
    peer->start_ns = sc_now_ns();
    peer->next = hub->peers;
    if (hub->peers)
        hub->peers->prev = peer;
    hub->peers = peer;
    hub->peer_count++;
    hub->counters->connections++;
    peer->holds_slot = true;
    hub->sending++;
    ending_peer_start(peer);
    /* Before the sink joins the broadcast: that would start reading stdin. */
    zerocopy_attach(hub, peer);

    if (!hub->broker.on && (hub->opts->recv_only || !hub->in)) {
        /* Nothing will ever be sent; the socket closes when the peer is done. */
        peer->write_done = true;
    } else {
        peer->in_broadcast = true;
        pump_add_sink(&hub->to_peers, &peer->sink, ep, peer, hub->opts->no_shutdown);
    }
    if (hub->broker.on)
        broker_peer_joined(peer);
    hub_update_peer_read(peer);
    hub_update_stdin(hub);
    hub_peer_check_done(peer);
}

/* ---- the whole ---- */

void hub_stop_reading(struct sc_hub *hub)
{
    zerocopy_stop(hub);
    if (hub->in && hub->in->reading)
        endpoint_read_stop(hub->in);
    for (struct sc_peer *peer = hub->peers; peer; peer = peer->next)
        hub_update_peer_read(peer);
}

bool hub_flushed(const struct sc_hub *hub)
{
    return !hub->out || hub->out->queued == 0 || hub->out_broken;
}

void hub_close_all(struct sc_hub *hub)
{
    zerocopy_stop(hub);
    broker_close(hub);
    if (hub->in)
        endpoint_close(hub->in);
    if (hub->out)
        endpoint_close(hub->out);
    for (struct sc_peer *peer = hub->peers; peer; peer = peer->next) {
        ending_peer_stop(peer);
        endpoint_close(peer->ep);
    }
    ending_hub_close(hub);
}

void hub_init(struct sc_hub *hub, struct sc_conv *conv, const struct sc_opts *opts,
              struct sc_counters *counters, struct sc_endpoint *in, struct sc_endpoint *out)
{
    /* cli refuses the pair: a conversation that moves nothing at all. */
    assert(!(opts->send_only && opts->recv_only));
    /* --recv-only never opens stdin, --send-only never opens stdout. */
    assert(!(opts->recv_only && in) && !(opts->send_only && out));
    *hub = (struct sc_hub){ .conv = conv, .opts = opts, .counters = counters,
                            .in = in, .out = out };

    pump_init(&hub->to_peers, &to_peers_events, hub);
    /* Only keep-open has a choice about slow clients; one-shot always waits. */
    hub->to_peers.slow = opts->keep_open ? opts->slow_client : SC_SLOW_BLOCK;
    hub->to_peers.wait_for_sink = true;
    hub->to_peers.eof_ends_sinks = true;
    hub->to_peers.count_out = &counters->sent;

    pump_init(&hub->to_stdout, &to_stdout_events, hub);
    /* A peer is read even with nowhere to write (--send-only drains it). */
    hub->to_stdout.wait_for_sink = false;
    /* Keep-open clients come and go: one's EOF never ends stdout. */
    hub->to_stdout.eof_ends_sinks = !opts->keep_open;
    hub->to_stdout.count_in = &counters->received;

    if (opts->broker)
        broker_init(hub, conv->loop);
    if (in) {
        in->events = &in_events;
        in->owner = hub;
    }
    if (out) {
        out->events = &out_events;
        out->owner = hub;
        pump_add_sink(&hub->to_stdout, &hub->out_sink, out, hub, false);
    }
}
