#include "connect.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "net.h"

static void try_next_address(struct sc_connector *c);

static void connector_finish(struct sc_connector *c)
{
    c->done = true;
    uv_timer_stop(&c->deadline);
    if (c->addresses) {
        uv_freeaddrinfo(c->addresses);
        c->addresses = NULL;
    }
}

static void give_up(struct sc_connector *c, int err)
{
    connector_finish(c);
    hub_fail(c->hub, err, "connect to %s %u", c->opts->host, c->opts->port);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct sc_connector *c = req->data;
    struct sc_peer *peer = c->attempt;

    if (c->done)
        return;  /* timed out meanwhile: the attempt is already discarded */
    c->attempt = NULL;
    if (status < 0) {
        sc_verbose(1, "connect to %s failed: %s", c->attempt_name, sc_strerror(status));
        c->last_error = status;
        hub_discard_peer(peer);
        try_next_address(c);
        return;
    }
    connector_finish(c);
    snprintf(peer->name, sizeof(peer->name), "%s", c->attempt_name);
    sc_verbose(1, "connected to %s", peer->name);
    hub_add_peer(c->hub, peer);
}

/* Binds -s/-p if given; the family of the source must match the target's. */
static int bind_source(struct sc_connector *c, struct sc_peer *peer, int family)
{
    const struct sc_opts *o = c->opts;
    struct sockaddr_storage local;
    const char *addr = o->source_addr;
    int rc;

    if (!addr && o->source_port < 0)
        return 0;
    if (!addr)
        addr = family == AF_INET6 ? "::" : "0.0.0.0";
    unsigned port = o->source_port < 0 ? 0 : (unsigned)o->source_port;
    if (family == AF_INET6)
        rc = uv_ip6_addr(addr, (int)port, (struct sockaddr_in6 *)&local);
    else
        rc = uv_ip4_addr(addr, (int)port, (struct sockaddr_in *)&local);
    if (rc < 0)
        return UV_EAFNOSUPPORT;
    return uv_tcp_bind(&peer->ep.u.tcp, (struct sockaddr *)&local, 0);
}

static void try_next_address(struct sc_connector *c)
{
    while (c->next) {
        struct addrinfo *ai = c->next;
        struct sc_peer *peer;
        int rc;

        c->next = ai->ai_next;
        net_set_port(ai->ai_addr, c->opts->port);
        net_format(ai->ai_addr, c->attempt_name, sizeof(c->attempt_name));
        peer = hub_new_peer(c->hub);
        if (!peer) {
            give_up(c, UV_ENOMEM);
            return;
        }
        rc = bind_source(c, peer, ai->ai_family);
        if (rc == 0) {
            c->request.data = c;
            rc = uv_tcp_connect(&c->request, &peer->ep.u.tcp, ai->ai_addr, on_connected);
        }
        if (rc == 0) {
            c->attempt = peer;
            return;
        }
        sc_verbose(1, "connect to %s failed: %s", c->attempt_name, sc_strerror(rc));
        c->last_error = rc;
        hub_discard_peer(peer);
    }
    give_up(c, c->last_error ? c->last_error : UV_EAI_NONAME);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct sc_connector *c = req->data;

    c->resolving = false;
    if (c->done) {
        uv_freeaddrinfo(res);
        return;
    }
    if (status < 0) {
        connector_finish(c);
        hub_fail(c->hub, status, "resolve %s", c->opts->host);
        return;
    }
    c->addresses = res;
    c->next = res;
    try_next_address(c);
}

static void on_deadline(uv_timer_t *timer)
{
    struct sc_connector *c = timer->data;

    if (c->resolving)
        uv_cancel((uv_req_t *)&c->resolver);
    if (c->attempt) {
        hub_discard_peer(c->attempt);
        c->attempt = NULL;
    }
    give_up(c, UV_ETIMEDOUT);
}

int connector_start(struct sc_connector *c, struct sc_hub *hub)
{
    const struct sc_opts *o = hub->opts;
    int rc;

    memset(c, 0, sizeof(*c));
    c->hub = hub;
    c->opts = o;
    uv_timer_init(hub->loop, &c->deadline);
    c->deadline.data = c;
    if (o->wait_seconds > 0) {
        /* Rounded up: a tiny -w still gives the attempt a millisecond. */
        uint64_t ms = (uint64_t)(o->wait_seconds * 1000);
        uv_timer_start(&c->deadline, on_deadline, ms > 0 ? ms : 1, 0);
    }

    c->resolver.data = c;
    rc = net_resolve(hub->loop, &c->resolver, on_resolved, o->host, o->family, o->numeric, false);
    if (rc < 0) {
        connector_finish(c);
        hub_fail(hub, rc, "resolve %s", o->host);
        return rc;
    }
    c->resolving = true;
    return 0;
}

void connector_close(struct sc_connector *c)
{
    if (c->resolving)
        uv_cancel((uv_req_t *)&c->resolver);
    if (c->attempt) {
        hub_discard_peer(c->attempt);
        c->attempt = NULL;
    }
    connector_finish(c);
    if (!uv_is_closing((uv_handle_t *)&c->deadline))
        uv_close((uv_handle_t *)&c->deadline, NULL);
}
