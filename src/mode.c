#include "mode.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "diag.h"
#include "tls.h"

static void nothing(struct sc_session *s)
{
    (void)s;
}

/* ---- -e and -c: a program talks to each peer instead of stdio ---- */

/* A program's conversation is over: one-shot ends with its status. */
static void exec_on_done(struct sc_exec_service *svc, int status)
{
    struct sc_session *s = svc->data;

    if (s->mode->keep_open) {
        s->mode->on_peer_gone(s);
        return;
    }
    if (!s->conv.stopping && !s->conv.finished)
        s->conv.exit_code = status;
    conv_stop(&s->conv, SC_EXIT_OK);
}

/* False when the run cannot start (the conversation has failed). */
static bool exec_start(struct sc_session *s)
{
    if (!s->opts.exec)
        return true;
    if (exec_service_init(&s->exec, &s->loop, &s->opts, &s->counters, exec_on_done, s) == 0)
        return true;
    conv_fail(&s->conv, UV_ENOMEM, "exec");
    return false;
}

static void exec_close(struct sc_session *s)
{
    if (s->opts.exec)
        exec_service_close(&s->exec);
}

/* A connected endpoint joins the conversation, or gets a program of its own. */
static void take_peer(struct sc_session *s, struct sc_endpoint *ep, const char *name)
{
    if (s->opts.exec)
        exec_service_add(&s->exec, ep, name);
    else
        conv_add_peer(&s->conv, ep, name);
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
    if (exec_start(s))
        dialer_start(&s->dialer, &s->loop, &s->opts, on_dialed, s);
}

static void connect_close(struct sc_session *s)
{
    dialer_close(&s->dialer);
    exec_close(s);
}

/* ---- listen and listen -k ---- */

/* listen --ssl: a client whose TLS handshake runs; it joins once that is done. */
struct sc_tls_accept {
    struct sc_tls_accept *next, *prev;
    struct sc_session *session;
    struct sc_endpoint *ep;
    char name[SC_NAME_MAX];
};

static void tls_accept_unlink(struct sc_tls_accept *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        h->session->tls_accepting = h->next;
    if (h->next)
        h->next->prev = h->prev;
}

static void on_client_tls_ready(void *data, struct sc_endpoint *ep, const char *text)
{
    struct sc_tls_accept *h = data;
    struct sc_session *s = h->session;
    char name[SC_NAME_MAX];

    snprintf(name, sizeof(name), "%s", h->name);
    tls_accept_unlink(h);
    free(h);
    if (ep) {
        s->mode->on_endpoint(s, ep, name);
        return;
    }
    if (s->mode->keep_open) {
        /* One client that cannot speak TLS; the others go on. */
        sc_verbose(1, "%s", text);
        s->mode->on_peer_gone(s);
    } else {
        conv_fail_text(&s->conv, text);
    }
}

/* Handshakes under way are given up when listening stops. */
static void tls_accept_abort_all(struct sc_session *s)
{
    struct sc_tls_accept *list = s->tls_accepting;

    s->tls_accepting = NULL;
    while (list) {
        struct sc_tls_accept *h = list;
        struct sc_endpoint *ep = h->ep;

        list = h->next;
        free(h);
        /* Closing a handshake gives it up: on_client_tls_ready is not called. */
        endpoint_close(ep);
    }
}

static void start_client_tls(struct sc_session *s, struct sc_endpoint *ep, const char *name)
{
    struct sc_tls_accept *h = calloc(1, sizeof(*h));

    if (!s->mode->keep_open)
        acceptor_close(&s->acceptor);  /* one-shot: this client is the one */
    if (!h) {
        endpoint_close(ep);
        s->mode->on_peer_gone(s);
        return;
    }
    h->session = s;
    snprintf(h->name, sizeof(h->name), "%s", name);
    h->ep = tls_start(s->tls, &s->loop, ep, name, NULL, on_client_tls_ready, h);
    if (!h->ep) {
        free(h);
        s->mode->on_peer_gone(s);
        return;
    }
    h->next = s->tls_accepting;
    if (h->next)
        h->next->prev = h;
    s->tls_accepting = h;
}

static void on_client(struct sc_acceptor *a, struct sc_endpoint *ep, const char *name)
{
    struct sc_session *s = a->data;

    if (s->tls)
        start_client_tls(s, ep, name);
    else
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
    if (s->opts.ssl) {
        char err[512];
        s->tls = tls_new(&s->opts, err, sizeof(err));
        if (!s->tls) {
            conv_fail_text(&s->conv, err);
            return;
        }
    }
    if (exec_start(s)) {
        acceptor_start(&s->acceptor, &s->loop, &s->opts, on_client, on_listen_failed, s);
        /* A program's client holds its slot until the program is done. */
        if (!s->opts.exec)
            s->acceptor.slots_held = clients_sending;
    }
}

static void listen_stop(struct sc_session *s)
{
    acceptor_close(&s->acceptor);
    tls_accept_abort_all(s);
}

static void listen_close(struct sc_session *s)
{
    listen_stop(s);
    exec_close(s);
    tls_free(s->tls);
    s->tls = NULL;
}

static void join(struct sc_session *s, struct sc_endpoint *ep, const char *name)
{
    take_peer(s, ep, name);
}

/* One-shot: the first client is the peer; a second one is refused. */
static void listen_once_on_client(struct sc_session *s, struct sc_endpoint *ep, const char *name)
{
    acceptor_close(&s->acceptor);
    take_peer(s, ep, name);
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
    if (exec_start(s))
        udp_dial_start(&s->udp, &s->loop, &s->opts, on_udp_peer, on_udp_failed, s);
}

static void udp_listen_start_mode(struct sc_session *s)
{
    if (exec_start(s))
        udp_listen_start(&s->udp, &s->loop, &s->opts, on_udp_peer, on_udp_failed, s);
}

static void udp_stop(struct sc_session *s)
{
    udp_service_stop(&s->udp);
}

static void udp_close(struct sc_session *s)
{
    udp_service_close(&s->udp);
    exec_close(s);
}

/* ---- the port probe: connect -z, TCP or UDP ---- */

static void probe_start_mode(struct sc_session *s)
{
    probe_start(&s->probe, &s->loop, &s->opts, &s->conv);
}

static void probe_stop_mode(struct sc_session *s)
{
    probe_stop(&s->probe);
}

static void probe_close_mode(struct sc_session *s)
{
    probe_close(&s->probe);
}

/* It dials and never pumps: no endpoint ever joins the conversation. */
static const struct sc_mode_ops probe_mode = {
    "probe", SC_KIND_CONNECT, false, false, probe_start_mode, join, nothing, probe_stop_mode,
    probe_close_mode,
};

static const struct sc_mode_ops modes[] = {
    { "connect", SC_KIND_CONNECT, false, false, connect_start, join, nothing, nothing,
      connect_close },
    { "listen", SC_KIND_LISTEN, false, false, listen_start, listen_once_on_client, nothing,
      listen_stop, listen_close },
    { "listen -k", SC_KIND_LISTEN, true, false, listen_start, join, listen_many_on_peer_gone,
      listen_stop, listen_close },
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
    if (opts->zero_io)
        return &probe_mode;

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (modes[i].kind == kind && modes[i].keep_open == opts->keep_open &&
            modes[i].datagram == opts->udp)
            return &modes[i];
    assert(!"every option combination has a mode");
    return &modes[0];
}
