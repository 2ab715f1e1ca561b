#include "ending.h"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <uv.h>

#include "conv.h"
#include "diag.h"
#include "hub.h"

/* ---- socket queries ---- */

static void set_keepalive(int fd, unsigned idle, unsigned interval, unsigned count)
{
    int on = 1, i = (int)idle, n = (int)interval, c = (int)count;

    /* A Unix socket takes none of these: errors only mean "not TCP". */
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &i, sizeof(i));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &n, sizeof(n));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &c, sizeof(c));
}

/* Has the kernel given up on this TCP connection (probes unanswered, a reset)? */
static bool tcp_connection_dead(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);
    int err = 0;
    socklen_t err_len = sizeof(err);

    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_state == TCP_CLOSE)
        return true;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == 0 && err != 0;
}

/* Bytes sent that the peer has not acknowledged yet (or not read, on a Unix
 * socket); 0 when the kernel cannot say, so that nothing waits forever on
 * a question it cannot answer. */
static int unacknowledged(int fd)
{
    int pending = 0;

    if (fd < 0 || ioctl(fd, SIOCOUTQ, &pending) < 0)
        return 0;
    return pending;
}

void ending_format_seconds(char *out, unsigned long size, uint64_t ms)
{
    snprintf(out, size, "%g", (double)ms / 1000.0);
}

/* ---- a peer's idle clock ---- */

struct sc_peer_ending {
    uv_timer_t idle;
    struct sc_peer *peer;      /* NULL once stopped */
    uint64_t last_traffic;     /* loop time, ms */
};

static void on_idle_check(uv_timer_t *timer)
{
    struct sc_peer_ending *e = timer->data;
    uint64_t idle_ms = e->peer->hub->opts->idle_ms;
    uint64_t quiet = uv_now(timer->loop) - e->last_traffic;

    /* Traffic restarts the clock by moving last_traffic, not the timer. */
    if (quiet < idle_ms) {
        uv_timer_start(timer, on_idle_check, idle_ms - quiet, 0);
        return;
    }
    conv_peer_idle(e->peer->hub->conv, e->peer);
}

static void free_peer_ending(uv_handle_t *handle)
{
    free(handle->data);
}

void ending_peer_start(struct sc_peer *peer)
{
    const struct sc_opts *o = peer->hub->opts;
    struct sc_peer_ending *e;
    int fd = stream_endpoint_fd(peer->ep);

    if (o->keepalive && fd >= 0)
        set_keepalive(fd, o->keepalive_idle, o->keepalive_interval, o->keepalive_count);
    if (!o->idle_ms)
        return;
    e = calloc(1, sizeof(*e));
    if (!e)
        return;  /* no clock: the connection ends as it would without -i */
    e->peer = peer;
    peer->ending = e;
    uv_timer_init(peer->hub->conv->loop, &e->idle);
    e->idle.data = e;
    e->last_traffic = uv_now(e->idle.loop);
    uv_timer_start(&e->idle, on_idle_check, o->idle_ms, 0);
}

void ending_peer_traffic(struct sc_peer *peer)
{
    if (peer->ending)
        peer->ending->last_traffic = uv_now(peer->ending->idle.loop);
}

void ending_peer_stop(struct sc_peer *peer)
{
    struct sc_peer_ending *e = peer->ending;

    if (!e)
        return;
    peer->ending = NULL;
    e->peer = NULL;
    uv_close((uv_handle_t *)&e->idle, free_peer_ending);
}

/* ---- the reaper of dead half-closed clients ---- */

static void on_reap(uv_timer_t *timer)
{
    struct sc_hub *hub = timer->data;
    bool any = false;

    for (struct sc_peer *peer = hub->peers; peer; peer = peer->next) {
        int fd;
        if (!peer->probing || peer->ep->closing)
            continue;
        any = true;
        fd = stream_endpoint_fd(peer->ep);
        if (fd >= 0 && tcp_connection_dead(fd)) {
            sc_verbose(1, "%s is gone (no answer to keepalive probes)", peer->name);
            peer->write_done = true;
            hub_close_peer(peer);
        }
    }
    if (!any)
        uv_timer_stop(timer);
}

static void free_handle(uv_handle_t *handle)
{
    free(handle);
}

void ending_peer_half_closed(struct sc_peer *peer)
{
    struct sc_hub *hub = peer->hub;
    const struct sc_opts *o = hub->opts;
    int fd = stream_endpoint_fd(peer->ep);
    uint64_t every = (uint64_t)o->keepalive_interval * 1000;

    if (peer->probing || fd < 0)
        return;
    peer->probing = true;
    /* Its FIN says nothing of whether it is still there: ask the kernel to find out. */
    set_keepalive(fd, o->keepalive_idle, o->keepalive_interval, o->keepalive_count);
    if (!hub->reaper) {
        hub->reaper = malloc(sizeof(*hub->reaper));
        if (!hub->reaper)
            return;
        uv_timer_init(hub->conv->loop, hub->reaper);
        hub->reaper->data = hub;
    }
    if (!uv_is_active((uv_handle_t *)hub->reaper))
        uv_timer_start(hub->reaper, on_reap, every, every);
}

void ending_hub_close(struct sc_hub *hub)
{
    if (!hub->reaper)
        return;
    uv_close((uv_handle_t *)hub->reaper, free_handle);
    hub->reaper = NULL;
}

/* ---- the end of a one-shot conversation after stdin's end ---- */

struct sc_conv_ending {
    uv_timer_t quit;    /* -q SECS */
    uv_timer_t acked;   /* polls SIOCOUTQ */
    struct sc_conv *conv;
    int open_handles;
};

static void on_quit(uv_timer_t *timer)
{
    struct sc_conv_ending *e = timer->data;
    char secs[32];

    ending_format_seconds(secs, sizeof(secs), e->conv->opts->quit_ms);
    sc_verbose(1, "%s s after the end of stdin (-q): done", secs);
    conv_stop(e->conv, SC_EXIT_OK);
}

static void on_acked_check(uv_timer_t *timer)
{
    struct sc_conv_ending *e = timer->data;
    struct sc_peer *peer = e->conv->hub.peers;

    if (!peer) {
        uv_timer_stop(timer);  /* it is gone: the conversation ends by itself */
        return;
    }
    if (unacknowledged(stream_endpoint_fd(peer->ep)) > 0)
        return;
    uv_timer_stop(timer);
    sc_verbose(1, "%s acknowledged everything sent: done", peer->name);
    conv_stop(e->conv, SC_EXIT_OK);
}

void ending_conv_output_done(struct sc_conv *conv)
{
    const struct sc_opts *o = conv->opts;
    bool wait_for_ack = o->send_only || (o->quit_set && o->quit_ms == 0);
    struct sc_conv_ending *e;

    if (conv->ending || conv->stopping || (!wait_for_ack && !o->quit_set))
        return;
    e = calloc(1, sizeof(*e));
    if (!e)
        return;  /* no clocks: it ends when the peer closes, as without them */
    e->conv = conv;
    conv->ending = e;
    uv_timer_init(conv->loop, &e->quit);
    uv_timer_init(conv->loop, &e->acked);
    e->quit.data = e->acked.data = e;
    e->open_handles = 2;
    if (o->quit_set && o->quit_ms > 0)
        uv_timer_start(&e->quit, on_quit, o->quit_ms, 0);
    if (wait_for_ack)
        uv_timer_start(&e->acked, on_acked_check, 0, SC_ACK_POLL_MS);
}

static void conv_ending_closed(uv_handle_t *handle)
{
    struct sc_conv_ending *e = handle->data;

    if (--e->open_handles == 0)
        free(e);
}

void ending_conv_close(struct sc_conv *conv)
{
    struct sc_conv_ending *e = conv->ending;

    if (!e)
        return;
    conv->ending = NULL;
    uv_close((uv_handle_t *)&e->quit, conv_ending_closed);
    uv_close((uv_handle_t *)&e->acked, conv_ending_closed);
}
