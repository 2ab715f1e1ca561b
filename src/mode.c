#include "mode.h"

#include <assert.h>
#include <stddef.h>

static void nothing(struct sc_session *s)
{
    (void)s;
}

/* ---- connect ---- */

static void on_dialed(struct sc_dialer *d, struct sc_endpoint *ep, const char *name, int err,
                      const char *what)
{
    struct sc_session *s = d->data;

    if (!ep && err == 0) {
        conv_fail_text(&s->conv, what);
        return;
    }
    if (!ep) {
        conv_fail(&s->conv, err, "%s", what);
        return;
    }
    s->mode->on_endpoint(s, ep, name);
}

static void connect_start(struct sc_session *s)
{
    dialer_start(&s->dialer, &s->loop, &s->opts, on_dialed, s);
}

static void connect_close(struct sc_session *s)
{
    dialer_close(&s->dialer);
}

/* ---- listen and listen -k ---- */

static void on_client(struct sc_acceptor *a, struct sc_endpoint *ep, const char *name)
{
    struct sc_session *s = a->data;

    s->mode->on_endpoint(s, ep, name);
}

static void on_listen_failed(struct sc_acceptor *a, int err, const char *what)
{
    struct sc_session *s = a->data;

    conv_fail(&s->conv, err, "%s", what);
}

/* -m counts the clients still sending: one that half-closed holds no slot. */
static size_t clients_sending(const struct sc_acceptor *a)
{
    const struct sc_session *s = a->data;

    return s->conv.hub.sending;
}

static void listen_start(struct sc_session *s)
{
    acceptor_start(&s->acceptor, &s->loop, &s->opts, on_client, on_listen_failed, s);
    s->acceptor.slots_held = clients_sending;
}

static void listen_close(struct sc_session *s)
{
    acceptor_close(&s->acceptor);
}

static void join(struct sc_session *s, struct sc_endpoint *ep, const char *name)
{
    conv_add_peer(&s->conv, ep, name);
}

/* One-shot: the first client is the peer; a second one is refused. */
static void listen_once_on_client(struct sc_session *s, struct sc_endpoint *ep, const char *name)
{
    acceptor_close(&s->acceptor);
    conv_add_peer(&s->conv, ep, name);
}

static void listen_many_on_peer_gone(struct sc_session *s)
{
    acceptor_client_gone(&s->acceptor);
}

/* ---- UDP: connect -u, listen -u, listen -u -k ---- */

static void on_udp_peer(struct sc_udp_service *svc, struct sc_endpoint *ep, const char *name)
{
    struct sc_session *s = svc->data;

    s->mode->on_endpoint(s, ep, name);
}

static void on_udp_failed(struct sc_udp_service *svc, int err, const char *what)
{
    struct sc_session *s = svc->data;

    conv_fail(&s->conv, err, "%s", what);
}

static void udp_connect_start(struct sc_session *s)
{
    udp_dial_start(&s->udp, &s->loop, &s->opts, on_udp_peer, on_udp_failed, s);
}

static void udp_listen_start_mode(struct sc_session *s)
{
    udp_listen_start(&s->udp, &s->loop, &s->opts, on_udp_peer, on_udp_failed, s);
}

static void udp_stop(struct sc_session *s)
{
    udp_service_stop(&s->udp);
}

static void udp_close(struct sc_session *s)
{
    udp_service_close(&s->udp);
}

static const struct sc_mode_ops modes[] = {
    { "connect", SC_KIND_CONNECT, false, false, connect_start, join, nothing, nothing,
      connect_close },
    { "listen", SC_KIND_LISTEN, false, false, listen_start, listen_once_on_client, nothing,
      listen_close, listen_close },
    { "listen -k", SC_KIND_LISTEN, true, false, listen_start, join, listen_many_on_peer_gone,
      listen_close, listen_close },
    /* The UDP service takes its one peer, or every sender, by itself. */
    { "connect -u", SC_KIND_CONNECT, false, true, udp_connect_start, join, nothing, udp_stop,
      udp_close },
    { "listen -u", SC_KIND_LISTEN, false, true, udp_listen_start_mode, join, nothing, udp_stop,
      udp_close },
    { "listen -u -k", SC_KIND_LISTEN, true, true, udp_listen_start_mode, join, nothing,
      udp_stop, udp_close },
};

const struct sc_mode_ops *mode_for(const struct sc_opts *opts)
{
    enum sc_mode_kind kind = opts->mode == SC_MODE_CONNECT ? SC_KIND_CONNECT : SC_KIND_LISTEN;

    /* cli accepts -k for listen only. */
    assert(!opts->keep_open || kind == SC_KIND_LISTEN);

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (modes[i].kind == kind && modes[i].keep_open == opts->keep_open &&
            modes[i].datagram == opts->udp)
            return &modes[i];
    assert(!"every option combination has a mode");
    return &modes[0];
}
