#include "hub.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "diag.h"
#include "stdio.h"

/*
 * How long a stop on a signal waits for a stuck stdout before giving up on
 * it. No other ending gives up: an error, a reset, the peer closing or the
 * terminal stop write out all that was received, however slow the reader
 * of stdout (a person can still press Ctrl-C, twice to stop at once).
 */
#define FLUSH_LIMIT_MS 3000

/*
 * The memory that slow clients can pin in total (--slow-client drop or
 * disconnect). The broadcast shares each chunk among all clients by
 * reference, so clients that keep up cost no memory of their own. A client
 * that stops reading keeps the chunks queued for it alive, up to its
 * high-water mark, and clients that stopped at different moments keep
 * different chunks alive: a thousand of them could pin a thousand windows.
 * So the chunk memory in use, each chunk counted once (chunk_live_bytes()),
 * has one budget for the whole process. Beyond it a client that is behind
 * at all (anything still queued) counts as slow: `drop` skips the chunk for
 * it and `disconnect` disconnects it (which frees its queue). With `drop`,
 * a client whose queue is empty gets only what its socket takes at once,
 * and the rest of that chunk is dropped for it, so that no client that may
 * never read pins a new chunk. Peak memory is then about the budget plus
 * one round of reads, however many clients are stuck. `block` needs no
 * budget: stdin waits, and every client queues the same chunks.
 */
#define SLOW_CLIENT_BUDGET (32 * 1024 * 1024)

static void hub_check_finished(struct sc_hub *hub);
static void hub_update_stdin(struct sc_hub *hub);
static void peer_update_read(struct sc_peer *peer);
static void peer_close(struct sc_peer *peer);
static void peer_disconnect_slow(struct sc_peer *peer);
static void hub_fail_line(struct sc_hub *hub, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

uint64_t hub_now_ns(void)
{
    return uv_hrtime();
}

static bool keep_open(const struct sc_hub *hub)
{
    return hub->opts->keep_open;
}

/* A person typing: nothing is queued, so stdin has nothing to deliver whole. */
static bool stdin_is_tty(const struct sc_hub *hub)
{
    return hub->in && hub->in->is_tty;
}

/* Brings counters->sent up to what the peer's endpoint has written: whole
 * chunks, and the part of one that a failure or a close cut short. */
static void peer_count_sent(struct sc_peer *peer)
{
    uint64_t written = peer->ep.base.bytes_written;

    peer->hub->counters->sent += written - peer->sent_counted;
    peer->sent_counted = written;
}

/* ---- stdin: the fan-out source ---- */

static void peer_stop_writes(struct sc_peer *peer)
{
    if (peer->writes_stopped)
        return;
    peer->writes_stopped = true;
    peer->hub->writable_peers--;
    if (peer->over_high_water) {
        peer->over_high_water = false;
        peer->hub->peers_over--;
    }
}

static void peer_check_done(struct sc_peer *peer)
{
    if (peer->read_done && peer->write_done)
        peer_close(peer);
}

/* No more data will go to this peer: end its output once its queue drains. */
static void peer_end_writes(struct sc_peer *peer)
{
    struct sc_endpoint *ep = &peer->ep.base;

    peer_stop_writes(peer);
    if (peer->write_done || ep->ending || ep->closing)
        return;
    if (!peer->hub->opts->no_shutdown) {
        endpoint_end(ep);
        return;
    }
    /* --no-shutdown: the output stays open until the peer closes. */
    if (ep->queued == 0) {
        peer->write_done = true;
        peer_check_done(peer);
    } else {
        peer->done_when_drained = true;
    }
}

/*
 * --slow-client drop, over the budget: the chunk goes to the peer only as
 * far as its socket takes it now; nothing stays queued. 0 or a libuv error.
 */
static int peer_write_unqueued(struct sc_peer *peer, struct sc_chunk *chunk)
{
    int n = stream_endpoint_write_now(&peer->ep, chunk);

    if (n < 0)
        return n;
    peer->dropped += chunk->len - (size_t)n;
    peer_count_sent(peer);
    return 0;
}

static void broadcast(struct sc_hub *hub, struct sc_chunk *chunk)
{
    enum sc_slow_policy policy = keep_open(hub) ? hub->opts->slow_client : SC_SLOW_BLOCK;
    bool over_budget = policy != SC_SLOW_BLOCK && chunk_live_bytes() > SLOW_CLIENT_BUDGET;

    for (struct sc_peer *peer = hub->peers; peer; peer = peer->next) {
        struct sc_endpoint *ep = &peer->ep.base;
        if (peer->writes_stopped)
            continue;
        bool slow = peer->over_high_water || (over_budget && ep->queued > 0);
        if (slow && policy == SC_SLOW_DROP) {
            peer->dropped += chunk->len;
            continue;
        }
        if (slow && policy == SC_SLOW_DISCONNECT) {
            peer_disconnect_slow(peer);
            continue;
        }
        int rc = over_budget && policy == SC_SLOW_DROP ? peer_write_unqueued(peer, chunk)
                                                        : endpoint_write(ep, chunk);
        if (rc < 0) {
            peer_stop_writes(peer);
            peer->write_done = true;
            peer_check_done(peer);
            continue;
        }
        if (endpoint_backlog(ep) > SC_HIGH_WATER && !peer->over_high_water) {
            peer->over_high_water = true;
            hub->peers_over++;
        }
    }
}

static void in_on_data(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct sc_hub *hub = ep->owner;

    if (!hub->stopping)
        broadcast(hub, chunk);
    chunk_unref(chunk);
    hub_update_stdin(hub);
}

static void in_on_eof(struct sc_endpoint *ep)
{
    struct sc_hub *hub = ep->owner;

    hub->in_eof = true;
    sc_verbose(2, "end of stdin");
    for (struct sc_peer *peer = hub->peers; peer; peer = peer->next)
        peer_end_writes(peer);
}

static void in_on_read_error(struct sc_endpoint *ep, int err)
{
    hub_fail(ep->owner, err, "read from stdin");
}

static void endpoint_on_closed_free(struct sc_endpoint *ep)
{
    struct sc_hub *hub = ep->owner;

    if (hub->in == ep)
        hub->in = NULL;
    if (hub->out == ep)
        hub->out = NULL;
    free(ep);
    hub_check_finished(hub);
}

/* stdin is never written and stdout never read: those events cannot come. */
static void ignore_written(struct sc_endpoint *ep, size_t len, int status)
{
    (void)ep, (void)len, (void)status;
}

static void ignore_ended(struct sc_endpoint *ep, int status)
{
    (void)ep, (void)status;
}

static const struct sc_endpoint_events in_events = {
    .on_data = in_on_data,
    .on_eof = in_on_eof,
    .on_read_error = in_on_read_error,
    .on_written = ignore_written,
    .on_ended = ignore_ended,
    .on_closed = endpoint_on_closed_free,
};

/*
 * stdin is read only while some peer takes broadcast data and none is
 * above its high-water mark (unless the slow-client policy drops or
 * disconnects instead of waiting). With no peer yet, stdin waits.
 */
static void hub_update_stdin(struct sc_hub *hub)
{
    bool blocked_by_slow = hub->peers_over > 0 &&
        (!keep_open(hub) || hub->opts->slow_client == SC_SLOW_BLOCK);
    bool want = hub->in && !hub->in_eof && !hub->stopping && !hub->finished &&
        hub->writable_peers > 0 && !blocked_by_slow;

    if (!hub->in)
        return;
    if (want && !hub->in->reading) {
        int rc = endpoint_read_start(hub->in);
        if (rc < 0)
            hub_fail(hub, rc, "read from stdin");
    } else if (!want && hub->in->reading) {
        endpoint_read_stop(hub->in);
    }
}

/* ---- stdout: the fan-in sink ---- */

static void set_out_backed_up(struct sc_hub *hub, bool backed_up)
{
    if (hub->out_backed_up == backed_up)
        return;
    hub->out_backed_up = backed_up;
    for (struct sc_peer *peer = hub->peers; peer; peer = peer->next)
        peer_update_read(peer);
}

static void out_on_written(struct sc_endpoint *ep, size_t len, int status)
{
    struct sc_hub *hub = ep->owner;

    (void)len;
    if (status < 0) {
        if (status == UV_ECANCELED || hub->out_broken)
            return;
        hub->out_broken = true;
        if (status == UV_EPIPE) {
            /* The reader went away (`| head`): nothing is lost that anyone wants. */
            sc_verbose(1, "stdout closed by its reader");
            hub_stop(hub, SC_EXIT_OK);
        } else {
            hub_fail(hub, status, "write to stdout");
        }
        return;
    }
    if (hub->out_backed_up && endpoint_backlog(ep) <= SC_LOW_WATER)
        set_out_backed_up(hub, false);
    if (hub->stopping)
        hub_check_finished(hub);
}

static void out_on_ended(struct sc_endpoint *ep, int status)
{
    struct sc_hub *hub = ep->owner;

    (void)status;
    hub->out_ended = true;
    hub_check_finished(hub);
}

static void ignore_data(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    (void)ep;
    chunk_unref(chunk);
}

static void ignore_eof(struct sc_endpoint *ep)
{
    (void)ep;
}

static void ignore_read_error(struct sc_endpoint *ep, int err)
{
    (void)ep, (void)err;
}

static const struct sc_endpoint_events out_events = {
    .on_data = ignore_data,
    .on_eof = ignore_eof,
    .on_read_error = ignore_read_error,
    .on_written = out_on_written,
    .on_ended = out_on_ended,
    .on_closed = endpoint_on_closed_free,
};

/* ---- peers ---- */

static void peer_update_read(struct sc_peer *peer)
{
    struct sc_hub *hub = peer->hub;
    struct sc_endpoint *ep = &peer->ep.base;
    bool want = peer->added && !peer->read_done && !ep->closing && !hub->stopping &&
        !hub->finished && !hub->out_backed_up;

    if (want && !ep->reading) {
        int rc = endpoint_read_start(ep);
        if (rc < 0) {
            peer->read_done = true;
            peer_check_done(peer);
        }
    } else if (!want && ep->reading) {
        endpoint_read_stop(ep);
    }
}

static void peer_on_data(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct sc_peer *peer = (struct sc_peer *)ep;
    struct sc_hub *hub = peer->hub;

    hub->counters->received += chunk->len;
    if (hub->out && !hub->out_broken && !hub->out->closing) {
        sc_diag_stdout_data(chunk->data, chunk->len);  /* a live line sharing the terminal */
        int rc = endpoint_write(hub->out, chunk);
        if (rc < 0 && !hub->out_broken) {
            hub->out_broken = true;
            hub_fail(hub, rc, "write to stdout");
        } else if (endpoint_backlog(hub->out) > SC_HIGH_WATER) {
            set_out_backed_up(hub, true);
        }
    }
    chunk_unref(chunk);
}

/*
 * One-shot: stdin could not all be written to the peer. A peer that closed
 * (EPIPE: its FIN came first, then a reset for our bytes) gets a message
 * that says what that means and how much went out; a reset keeps its own.
 */
static void peer_fail_write(struct sc_peer *peer)
{
    struct sc_hub *hub = peer->hub;
    int err = peer->write_error;

    if (err == UV_EPIPE || err == UV_ENOTCONN) {
        char sent[32];
        peer_count_sent(peer);
        sc_format_bytes(sent, sizeof(sent), (double)peer->ep.base.bytes_written);
        hub_fail_line(hub, "write to %s: peer closed before all of stdin was sent (%s sent)",
                      peer->name, sent);
    } else {
        hub_fail(hub, err, "write to %s", peer->name);
    }
}

static void peer_on_eof(struct sc_endpoint *ep)
{
    struct sc_peer *peer = (struct sc_peer *)ep;
    struct sc_hub *hub = peer->hub;

    peer->read_done = true;
    sc_verbose(2, "end of input from %s", peer->name);
    if (keep_open(hub)) {
        /*
         * Its other direction goes on: a client may half-close at once and
         * still want the broadcast. It is closed once that ends too (our
         * stdin's EOF, or a write failing because it has gone for good).
         * From a terminal nothing is queued for it: it is done, as in
         * one-shot mode.
         */
        if (hub->in && hub->in->is_tty)
            peer_end_writes(peer);
        peer_check_done(peer);
        return;
    }
    if (peer->write_error) {
        peer_fail_write(peer);
        return;
    }
    if (stdin_is_tty(hub) && !hub->in_eof) {
        /* A person is typing: nothing is queued, so the conversation is over. */
        hub_stop(hub, SC_EXIT_OK);
        return;
    }
    if (hub->out)
        endpoint_end(hub->out);
    peer_check_done(peer);
}

static void peer_on_read_error(struct sc_endpoint *ep, int err)
{
    struct sc_peer *peer = (struct sc_peer *)ep;
    struct sc_hub *hub = peer->hub;

    peer->read_done = true;
    if (keep_open(hub)) {
        sc_verbose(1, "read from %s: %s", peer->name, sc_strerror(err));
        peer_stop_writes(peer);
        peer_close(peer);
        return;
    }
    hub_fail(hub, err, "read from %s", peer->name);
}

static void peer_on_written(struct sc_endpoint *ep, size_t len, int status)
{
    struct sc_peer *peer = (struct sc_peer *)ep;
    struct sc_hub *hub = peer->hub;

    if (status == UV_ECANCELED)
        return;
    peer_count_sent(peer);
    if (status < 0) {
        peer_stop_writes(peer);
        peer->write_done = true;
        if (keep_open(hub)) {
            /* The client is gone; the others go on. */
            sc_verbose(peer->read_done ? 2 : 1, "write to %s: %s", peer->name,
                       sc_strerror(status));
            peer->read_done = true;
            peer_close(peer);
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
        if (status != UV_EPIPE || !stdin_is_tty(hub)) {
            peer->write_error = status;
            if (peer->read_done) {
                peer_fail_write(peer);
                return;
            }
        }
        peer_check_done(peer);
        hub_update_stdin(hub);
        return;
    }
    (void)len;  /* counted from the endpoint's bytes_written instead */
    if (peer->over_high_water && endpoint_backlog(ep) <= SC_LOW_WATER) {
        peer->over_high_water = false;
        hub->peers_over--;
        hub_update_stdin(hub);
    }
    if (peer->done_when_drained && ep->queued == 0) {
        peer->write_done = true;
        peer_check_done(peer);
    }
}

static void peer_on_ended(struct sc_endpoint *ep, int status)
{
    struct sc_peer *peer = (struct sc_peer *)ep;
    struct sc_hub *hub = peer->hub;

    if (status < 0 && status != UV_ECANCELED) {
        sc_verbose(2, "shutdown of %s: %s", peer->name, sc_strerror(status));
        /*
         * One-shot: a half-close fails only on a connection the peer reset,
         * which threw away what it had not read of stdin (if stdin had
         * anything).
         */
        if (!keep_open(hub) && !stdin_is_tty(hub) && !peer->write_error &&
            ep->bytes_written > 0) {
            peer->write_error = status;
            if (peer->read_done) {
                peer->write_done = true;
                peer_fail_write(peer);
                return;
            }
        }
    }
    peer->write_done = true;
    peer_check_done(peer);
}

static void peer_on_closed(struct sc_endpoint *ep)
{
    struct sc_peer *peer = (struct sc_peer *)ep;
    struct sc_hub *hub = peer->hub;

    if (peer->added) {
        peer_count_sent(peer);
        if (peer->prev)
            peer->prev->next = peer->next;
        else
            hub->peers = peer->next;
        if (peer->next)
            peer->next->prev = peer->prev;
        hub->peer_count--;
        if (keep_open(hub)) {
            char sent[32], received[32];
            sc_format_bytes(sent, sizeof(sent), (double)ep->bytes_written);
            sc_format_bytes(received, sizeof(received), (double)ep->bytes_read);
            if (sc_verbosity >= 2)
                sc_verbose(2, "closed %s: %s sent, %s received in %.2f s", peer->name,
                           sent, received, (double)(hub_now_ns() - peer->start_ns) / 1e9);
            else
                sc_verbose(1, "closed %s", peer->name);
            if (peer->dropped > 0)
                sc_verbose(1, "dropped %llu B of broadcast for %s (slow client)",
                           (unsigned long long)peer->dropped, peer->name);
        }
    }
    bool was_added = peer->added;
    free(peer);
    /* A refused client or a failed attempt was never part of the conversation. */
    if (was_added && hub->peer_count == 0 && !keep_open(hub) && hub->out && !hub->out->ending)
        endpoint_end(hub->out);
    if (hub->on_peer_closed && !hub->stopping && !hub->finished)
        hub->on_peer_closed(hub);
    hub_check_finished(hub);
}

static const struct sc_endpoint_events peer_events = {
    .on_data = peer_on_data,
    .on_eof = peer_on_eof,
    .on_read_error = peer_on_read_error,
    .on_written = peer_on_written,
    .on_ended = peer_on_ended,
    .on_closed = peer_on_closed,
};

static void peer_close(struct sc_peer *peer)
{
    peer_stop_writes(peer);
    endpoint_close(&peer->ep.base);
    hub_update_stdin(peer->hub);
}

/*
 * --slow-client disconnect: the connection ends with a reset, not a FIN, so
 * that the client cannot take its truncated copy of the broadcast for all
 * of it.
 */
static void peer_disconnect_slow(struct sc_peer *peer)
{
    sc_verbose(1, "disconnected slow client %s", peer->name);
    peer->hub->counters->disconnected++;
    peer_stop_writes(peer);
    stream_endpoint_close_reset(&peer->ep);
    hub_update_stdin(peer->hub);
}

struct sc_peer *hub_new_peer(struct sc_hub *hub)
{
    struct sc_peer *peer = calloc(1, sizeof(*peer));

    if (!peer)
        return NULL;
    if (uv_tcp_init(hub->loop, &peer->ep.u.tcp) < 0) {
        free(peer);
        return NULL;
    }
    stream_endpoint_setup(&peer->ep, SC_END_SHUTDOWN, &peer_events, hub);
    peer->hub = hub;
    peer->writes_stopped = true;  /* counted as writable once added */
    return peer;
}

void hub_discard_peer(struct sc_peer *peer)
{
    endpoint_close(&peer->ep.base);
}

void hub_add_peer(struct sc_hub *hub, struct sc_peer *peer)
{
    const struct sc_opts *o = hub->opts;

    peer->added = true;
    peer->start_ns = hub_now_ns();
    peer->next = hub->peers;
    if (hub->peers)
        hub->peers->prev = peer;
    hub->peers = peer;
    hub->peer_count++;
    hub->counters->connections++;
    uv_tcp_nodelay(&peer->ep.u.tcp, 1);

    if (o->recv_only || !hub->in) {
        /* Nothing will ever be sent; the socket closes when the peer is done. */
        peer->write_done = true;
    } else {
        peer->writes_stopped = false;
        hub->writable_peers++;
        if (hub->in_eof)
            peer_end_writes(peer);
    }
    peer_update_read(peer);
    hub_update_stdin(hub);
    peer_check_done(peer);
}

/* ---- ending ---- */

static void close_everything(struct sc_hub *hub)
{
    if (hub->in)
        endpoint_close(hub->in);
    if (hub->out)
        endpoint_close(hub->out);
    for (struct sc_peer *peer = hub->peers; peer; peer = peer->next)
        endpoint_close(&peer->ep.base);
}

static void hub_finish(struct sc_hub *hub)
{
    if (hub->finished)
        return;
    hub->finished = true;
    uv_timer_stop(&hub->flush_timer);
    uv_close((uv_handle_t *)&hub->flush_timer, NULL);
    if (hub->error[0])
        sc_note("%s", hub->error);
    if (hub->abandoned > 0)
        sc_note("stopped on signal %d: %llu B received were not written to stdout",
                hub->stop_signal, (unsigned long long)hub->abandoned);
    close_everything(hub);
    if (hub->on_finished)
        hub->on_finished(hub);
}

static void hub_check_finished(struct sc_hub *hub)
{
    if (hub->finished)
        return;
    if (hub->stopping) {
        if (!hub->out || hub->out->queued == 0 || hub->out_broken)
            hub_finish(hub);
        return;
    }
    /* One-shot: over when the peer is gone and stdout has had everything. */
    if (!keep_open(hub) && hub->counters->connections > 0 && hub->peer_count == 0 &&
        (!hub->out || hub->out_ended))
        hub_finish(hub);
}

/* A stop on a signal ends now, whatever stdout has not taken yet. */
static void hub_give_up_stdout(struct sc_hub *hub)
{
    if (hub->out && !hub->out_broken && !hub->out->closing)
        hub->abandoned = endpoint_unwritten(hub->out);
    if (hub->abandoned > 0)
        hub->exit_code = SC_EXIT_SIGNAL_BASE + hub->stop_signal;
    hub_finish(hub);
}

static void hub_on_flush_timeout(uv_timer_t *timer)
{
    hub_give_up_stdout(timer->data);
}

void hub_stop(struct sc_hub *hub, int code)
{
    if (hub->finished)
        return;
    if (code > SC_EXIT_SIGNAL_BASE) {
        if (hub->stop_signal) {
            /* A second signal (another Ctrl-C): no more waiting. */
            hub_give_up_stdout(hub);
            return;
        }
        hub->stop_signal = code - SC_EXIT_SIGNAL_BASE;
        uv_timer_start(&hub->flush_timer, hub_on_flush_timeout, FLUSH_LIMIT_MS, 0);
    }
    if (hub->exit_code == 0)
        hub->exit_code = code;
    if (hub->stopping)
        return;  /* already flushing stdout */
    hub->stopping = true;
    if (hub->on_stopping)
        hub->on_stopping(hub);
    if (hub->in && hub->in->reading)
        endpoint_read_stop(hub->in);
    for (struct sc_peer *peer = hub->peers; peer; peer = peer->next)
        peer_update_read(peer);
    hub_check_finished(hub);
}

void hub_fail(struct sc_hub *hub, int uverr, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    if (!hub->error[0] && !hub->finished) {
        va_start(ap, fmt);
        sc_vformat_fitting(what, sizeof(what), fmt, ap);  /* keeps a long host's port */
        va_end(ap);
        snprintf(hub->error, sizeof(hub->error), "%s: %s", what, sc_strerror(uverr));
    }
    hub_stop(hub, SC_EXIT_RUNTIME);
}

/* Like hub_fail(), with the whole line given (the reason is not an errno). */
static void hub_fail_line(struct sc_hub *hub, const char *fmt, ...)
{
    va_list ap;

    if (!hub->error[0] && !hub->finished) {
        va_start(ap, fmt);
        vsnprintf(hub->error, sizeof(hub->error), fmt, ap);
        va_end(ap);
    }
    hub_stop(hub, SC_EXIT_RUNTIME);
}

int hub_init(struct sc_hub *hub, uv_loop_t *loop, const struct sc_opts *opts,
             struct sc_counters *counters)
{
    int rc = 0;

    *hub = (struct sc_hub){ .loop = loop, .opts = opts, .counters = counters };
    uv_timer_init(loop, &hub->flush_timer);
    hub->flush_timer.data = hub;
    if (!opts->recv_only) {
        hub->in = stdio_open(loop, 0, true, &in_events, hub, &rc);
        if (!hub->in) {
            sc_error(rc, "open stdin");
            return rc;
        }
    }
    if (!opts->send_only) {
        hub->out = stdio_open(loop, 1, false, &out_events, hub, &rc);
        if (!hub->out) {
            sc_error(rc, "open stdout");
            return rc;
        }
    }
    return 0;
}
