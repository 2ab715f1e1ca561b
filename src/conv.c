#include "conv.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

#include "diag.h"
#include "stdio.h"

/* How long a stop waits for a stuck stdout before giving up on it. */
#define FLUSH_LIMIT_MS 3000

static bool keep_open(const struct sc_conv *conv)
{
    return conv->opts->keep_open;
}

/* A person is typing on stdin: nothing is queued behind what they see. */
static bool stdin_is_terminal(const struct sc_conv *conv)
{
    return conv->hub.in && conv->hub.in->is_tty;
}

static void conv_finish(struct sc_conv *conv)
{
    if (conv->finished)
        return;
    conv->finished = true;
    if (conv->reason == SC_END_RUNNING)
        conv->reason = conv->exit_code == 0 ? SC_END_EOF : SC_END_ERROR;
    uv_timer_stop(&conv->flush_timer);
    uv_close((uv_handle_t *)&conv->flush_timer, NULL);
    if (conv->error[0])
        sc_note("%s", conv->error);
    hub_close_all(&conv->hub);
    if (conv->on_finished)
        conv->on_finished(conv);
}

/*
 * The one rule. Stopping: done once stdout has written what it holds (or
 * never will). One-shot: done when the peer has come and gone and stdout
 * has had everything. Keep-open: only a stop ends it.
 */
void conv_check(struct sc_conv *conv)
{
    const struct sc_hub *hub = &conv->hub;

    if (conv->finished)
        return;
    /* Every peer counted in the totals took part; those still here are in the hub. */
    assert(hub->peer_count <= conv->counters->connections);
    if (conv->stopping) {
        if (hub_flushed(hub))
            conv_finish(conv);
        return;
    }
    if (!keep_open(conv) && conv->counters->connections > 0 && hub->peer_count == 0 &&
        (!hub->out || hub->out_ended))
        conv_finish(conv);
}

static void conv_on_flush_timeout(uv_timer_t *timer)
{
    struct sc_conv *conv = timer->data;

    sc_verbose(1, "stdout is not draining; giving up on it");
    conv_finish(conv);
}

void conv_stop(struct sc_conv *conv, int code)
{
    if (conv->finished)
        return;
    if (conv->stopping) {
        /* A second request (another Ctrl-C): no more waiting. */
        conv_finish(conv);
        return;
    }
    conv->stopping = true;
    if (conv->exit_code == 0)
        conv->exit_code = code;
    if (code >= SC_EXIT_SIGNAL_BASE)
        conv->reason = SC_END_SIGNAL;
    if (conv->on_stopping)
        conv->on_stopping(conv);
    hub_stop_reading(&conv->hub);
    uv_timer_start(&conv->flush_timer, conv_on_flush_timeout, FLUSH_LIMIT_MS, 0);
    conv_check(conv);
}

void conv_fail(struct sc_conv *conv, int uverr, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    if (!conv->error[0] && !conv->finished) {
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        snprintf(conv->error, sizeof(conv->error), "%s: %s", what, sc_strerror(uverr));
        conv->reason = uverr == UV_ETIMEDOUT ? SC_END_TIMEOUT : SC_END_ERROR;
    }
    conv_stop(conv, SC_EXIT_RUNTIME);
}

void conv_peer_read_ended(struct sc_conv *conv, struct sc_peer *peer, int err)
{
    assert(peer->read_done);
    if (keep_open(conv)) {
        if (err < 0) {
            /* The client is gone; the others go on. */
            sc_verbose(1, "read from %s: %s", peer->name, sc_strerror(err));
            hub_close_peer(peer);
            return;
        }
        /*
         * Its other direction goes on: a client may half-close at once and
         * still want the broadcast. It is closed once that ends too (our
         * stdin's EOF, or a write failing because it has gone for good).
         * From a terminal nothing is queued for it: it is done, as in
         * one-shot mode.
         */
        if (stdin_is_terminal(conv))
            hub_end_peer_writes(peer);
        hub_peer_check_done(peer);
        return;
    }
    if (err < 0) {
        conv_fail(conv, err, "read from %s", peer->name);
        return;
    }
    if (peer->write_error) {
        conv_fail(conv, peer->write_error, "write to %s", peer->name);
        return;
    }
    if (stdin_is_terminal(conv) && !conv->hub.to_peers.eof) {
        /* A person is typing: nothing is queued, so the conversation is over. */
        conv_stop(conv, SC_EXIT_OK);
        return;
    }
    /* The peer's EOF ends stdout once it has written what it holds. */
    pump_source_eof(&conv->hub.to_stdout);
    hub_peer_check_done(peer);
}

void conv_peer_write_failed(struct sc_conv *conv, struct sc_peer *peer, int err)
{
    assert(peer->write_done);
    if (keep_open(conv)) {
        /* The client is gone; the others go on. */
        sc_verbose(peer->read_done ? 2 : 1, "write to %s: %s", peer->name, sc_strerror(err));
        peer->read_done = true;
        hub_close_peer(peer);
        return;
    }
    /*
     * One-shot: a peer that sent its EOF and then closed for good makes
     * the write fail quietly, and the kernel says EPIPE for exactly that
     * (a reset after the peer's FIN), whether or not we have read the
     * FIN yet. Anything else is a reset mid-conversation: an error,
     * reported once the read side has ended (its read may fail too).
     */
    if (err != UV_EPIPE) {
        peer->write_error = err;
        if (peer->read_done) {
            conv_fail(conv, err, "write to %s", peer->name);
            return;
        }
    }
    hub_peer_check_done(peer);
    hub_update_stdin(&conv->hub);
}

/* Called with the peer out of the hub but its endpoint not yet freed. */
void conv_peer_closed(struct sc_conv *conv, struct sc_peer *peer)
{
    struct sc_hub *hub = &conv->hub;
    struct sc_endpoint *ep = peer->ep;

    if (keep_open(conv)) {
        char sent[32], received[32];
        sc_format_bytes(sent, sizeof(sent), (double)ep->bytes_written);
        sc_format_bytes(received, sizeof(received), (double)ep->bytes_read);
        if (sc_verbosity >= 2)
            sc_verbose(2, "closed %s: %s sent, %s received in %.2f s", peer->name,
                       sent, received, (double)(sc_now_ns() - peer->start_ns) / 1e9);
        else
            sc_verbose(1, "closed %s", peer->name);
        if (peer->sink.dropped > 0)
            sc_verbose(1, "dropped %llu B of broadcast for %s (slow client)",
                       (unsigned long long)peer->sink.dropped, peer->name);
        return;
    }
    /* One-shot: the peer is gone, so stdout has had everything. */
    if (hub->peer_count == 0 && hub->out && !hub->out->ending)
        endpoint_end(hub->out);
}

void conv_add_peer(struct sc_conv *conv, struct sc_endpoint *ep, const char *name)
{
    hub_add_peer(&conv->hub, ep, name);
}

int conv_open(struct sc_conv *conv, uv_loop_t *loop, const struct sc_opts *opts,
              struct sc_counters *counters)
{
    struct sc_endpoint *in = NULL, *out = NULL;
    int rc = 0;

    *conv = (struct sc_conv){ .loop = loop, .opts = opts, .counters = counters };
    uv_timer_init(loop, &conv->flush_timer);
    conv->flush_timer.data = conv;
    if (!opts->recv_only) {
        in = stdio_open(loop, 0, true, NULL, NULL, &rc);
        if (!in)
            sc_error(rc, "open stdin");
    }
    if (rc == 0 && !opts->send_only) {
        out = stdio_open(loop, 1, false, NULL, NULL, &rc);
        if (!out)
            sc_error(rc, "open stdout");
    }
    hub_init(&conv->hub, conv, opts, counters, in, out);
    if (rc < 0) {
        /* Nothing starts: close what was opened, and end with status 1. */
        conv->exit_code = SC_EXIT_RUNTIME;
        conv->reason = SC_END_ERROR;
        conv_finish(conv);
    }
    return rc;
}
