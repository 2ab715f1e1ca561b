#include "conv.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

#include "diag.h"
#include "ending.h"
#include "stdio.h"
#include "trim.h"

/*
 * How long a stop on a signal waits for a stuck stdout before giving up on
 * it. No other ending gives up: an error, a reset, the peer closing or the
 * terminal stop write out all that was received, however slow the reader
 * of stdout (a person can still press Ctrl-C, twice to stop at once).
 */
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
    ending_conv_close(conv);
    if (conv->error[0])
        sc_note("%s", conv->error);
    if (conv->abandoned > 0)
        sc_note("stopped on signal %d: %llu B received were not written to stdout",
                conv->stop_signal, (unsigned long long)conv->abandoned);
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
    /* With -e the programs' conversations end sockcat (mode.c), not the hub. */
    if (!keep_open(conv) && !conv->opts->exec && conv->counters->connections > 0 &&
        hub->peer_count == 0 &&
        (!hub->out || hub->out_ended))
        conv_finish(conv);
}

/* A stop on a signal ends now, whatever stdout has not taken yet. */
static void conv_give_up_stdout(struct sc_conv *conv)
{
    const struct sc_hub *hub = &conv->hub;

    if (hub->out && !hub->out_broken && !hub->out->closing)
        conv->abandoned = endpoint_unwritten(hub->out);
    if (conv->abandoned > 0)
        conv->exit_code = SC_EXIT_SIGNAL_BASE + conv->stop_signal;
    conv_finish(conv);
}

static void conv_on_flush_timeout(uv_timer_t *timer)
{
    conv_give_up_stdout(timer->data);
}

void conv_stop(struct sc_conv *conv, int code)
{
    if (conv->finished)
        return;
    if (code > SC_EXIT_SIGNAL_BASE) {
        if (conv->stop_signal) {
            /* A second signal (another Ctrl-C): no more waiting. */
            conv_give_up_stdout(conv);
            return;
        }
        conv->stop_signal = code - SC_EXIT_SIGNAL_BASE;
        uv_timer_start(&conv->flush_timer, conv_on_flush_timeout, FLUSH_LIMIT_MS, 0);
    }
    if (conv->exit_code == 0) {
        conv->exit_code = code;
        if (code > SC_EXIT_SIGNAL_BASE)
            conv->reason = SC_END_SIGNAL;
    }
    if (conv->stopping)
        return;  /* already writing out stdout */
    conv->stopping = true;
    if (conv->on_stopping)
        conv->on_stopping(conv);
    hub_stop_reading(&conv->hub);
    conv_check(conv);
}

void conv_fail(struct sc_conv *conv, int uverr, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    if (!conv->error[0] && !conv->finished) {
        va_start(ap, fmt);
        sc_vformat_fitting(what, sizeof(what), fmt, ap);  /* keeps a long host's port */
        va_end(ap);
        snprintf(conv->error, sizeof(conv->error), "%s: %s", what, sc_strerror(uverr));
        conv->reason = uverr == UV_ETIMEDOUT ? SC_END_TIMEOUT : SC_END_ERROR;
    }
    conv_stop(conv, SC_EXIT_RUNTIME);
}

void conv_fail_text(struct sc_conv *conv, const char *text)
{
    if (!conv->error[0] && !conv->finished) {
        snprintf(conv->error, sizeof(conv->error), "%s", text);
        conv->reason = SC_END_ERROR;
    }
    conv_stop(conv, SC_EXIT_RUNTIME);
}

/*
 * One-shot: stdin could not all be written to the peer. A peer that closed
 * (EPIPE: its FIN came first, then a reset for our bytes) gets a message
 * that says what that means and how much went out; a reset keeps its own.
 */
static void conv_fail_peer_write(struct sc_conv *conv, struct sc_peer *peer)
{
    int err = peer->write_error;
    char sent[32], line[512];

    if (err != UV_EPIPE && err != UV_ENOTCONN) {
        conv_fail(conv, err, "write to %s", peer->name);
        return;
    }
    sc_format_bytes(sent, sizeof(sent), (double)peer->ep->bytes_written);
    snprintf(line, sizeof(line), "write to %s: peer closed before all of stdin was sent (%s sent)",
             peer->name, sent);
    conv_fail_text(conv, line);
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
        if (stdin_is_terminal(conv) || conv->opts->broker)
            hub_end_peer_writes(peer);  /* a broker's client leaves when it ends */
        else
            ending_peer_half_closed(peer);
        hub_peer_check_done(peer);
        return;
    }
    if (err < 0) {
        conv_fail(conv, err, "read from %s", peer->name);
        return;
    }
    if (peer->write_error) {
        conv_fail_peer_write(conv, peer);
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
     * One-shot: the peer closed for good before taking all of stdin.
     * The kernel says EPIPE when its FIN came first (a port probe, a
     * server that answers and closes without reading), ECONNRESET for
     * a reset mid-conversation. Either way stdin was not delivered
     * whole: no success. It is reported once the read side has ended,
     * so that the peer's answer is written out in full first (its read
     * may fail too). From a terminal nothing is queued (a person is
     * typing): the peer closing is how such a conversation ends.
     */
    if (err != UV_EPIPE || !stdin_is_terminal(conv)) {
        peer->write_error = err;
        if (peer->read_done) {
            conv_fail_peer_write(conv, peer);
            return;
        }
    }
    hub_peer_check_done(peer);
    hub_update_stdin(&conv->hub);
}

/* The peer's output ended (status of its end), or drained under --no-shutdown. */
void conv_peer_write_ended(struct sc_conv *conv, struct sc_peer *peer, int status)
{
    if (status < 0 && status != UV_ECANCELED) {
        sc_verbose(2, "shutdown of %s: %s", peer->name, sc_strerror(status));
        /*
         * One-shot: a half-close fails only on a connection the peer reset,
         * which threw away what it had not read of stdin (if stdin had
         * anything).
         */
        if (!keep_open(conv) && !stdin_is_terminal(conv) && !peer->write_error &&
            peer->ep->bytes_written > 0) {
            peer->write_error = status;
            if (peer->read_done) {
                peer->write_done = true;
                conv_fail_peer_write(conv, peer);
                return;
            }
        }
    }
    peer->write_done = true;
    /* One-shot: stdin's end has reached the peer; -q and --send-only may end it now. */
    if (!keep_open(conv) && status >= 0)
        ending_conv_output_done(conv);
    hub_peer_check_done(peer);
}

/*
 * -i: one-shot, the conversation times out (status 1); keep-open, that
 * client is closed (-u -k: that sender is forgotten) and the others go on.
 */
void conv_peer_idle(struct sc_conv *conv, struct sc_peer *peer)
{
    char secs[32];

    if (conv->stopping || conv->finished || peer->ep->closing)
        return;
    ending_format_seconds(secs, sizeof(secs), conv->opts->idle_ms);
    if (keep_open(conv)) {
        sc_verbose(1, "%s: idle for %s s", peer->name, secs);
        peer->read_done = peer->write_done = true;
        hub_close_peer(peer);
        return;
    }
    if (!conv->error[0]) {
        snprintf(conv->error, sizeof(conv->error), "idle for %s s", secs);
        conv->reason = SC_END_TIMEOUT;
    }
    conv_stop(conv, SC_EXIT_RUNTIME);
}

/* Called with the peer out of the hub but its endpoint not yet freed. */
void conv_peer_closed(struct sc_conv *conv, struct sc_peer *peer)
{
    struct sc_hub *hub = &conv->hub;
    struct sc_endpoint *ep = peer->ep;

    if (keep_open(conv)) {
        char sent[32], received[32];
        trim_peers_changed(hub->peer_count);
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
    trim_peers_changed(conv->hub.peer_count);
}

int conv_open(struct sc_conv *conv, uv_loop_t *loop, const struct sc_opts *opts,
              struct sc_counters *counters)
{
    struct sc_endpoint *in = NULL, *out = NULL;
    int rc = 0;

    *conv = (struct sc_conv){ .loop = loop, .opts = opts, .counters = counters };
    uv_timer_init(loop, &conv->flush_timer);
    conv->flush_timer.data = conv;
    /* With -e a program for each peer takes the place of stdin and stdout. */
    if (!opts->recv_only && !opts->exec) {
        in = stdio_open(loop, 0, true, NULL, NULL, &rc);
        if (!in)
            sc_error(rc, "open stdin");
    }
    if (rc == 0 && !opts->send_only && !opts->exec) {
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
