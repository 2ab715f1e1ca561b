#include "connect.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"

static void try_next_address(struct sc_connector *c);

static void connector_finish(struct sc_connector *c)
{
    c->done = true;
    uv_timer_stop(&c->deadline);
    if (c->lookup) {
        /* getaddrinfo cannot be stopped: leave it behind, never wait for it. */
        net_lookup_abandon(c->lookup);
        c->lookup = NULL;
    }
    if (c->addresses) {
        freeaddrinfo(c->addresses);
        c->addresses = NULL;
    }
}

static void give_up(struct sc_connector *c, int err)
{
    connector_finish(c);
    hub_fail(c->hub, err, "connect to %s", c->target);
}

/* -s/-p could not be bound: the options are at fault, not the target. */
static void source_failed(struct sc_connector *c, int err)
{
    const struct sc_opts *o = c->opts;

    connector_finish(c);
    if (o->source_addr && o->source_port >= 0)
        hub_fail(c->hub, err, "bind to source address %s port %d (-s, -p)",
                 o->source_addr, o->source_port);
    else if (o->source_addr)
        hub_fail(c->hub, err, "bind to source address %s (-s)", o->source_addr);
    else
        hub_fail(c->hub, err, "bind to source port %d (-p)", o->source_port);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct sc_connector *c = req->data;
    struct sc_peer *peer = c->attempt;

    if (c->done)
        return;  /* timed out meanwhile: the attempt is already discarded */
    c->attempt = NULL;
    if (status == UV_EADDRINUSE && c->opts->source_port > 0) {
        /* libuv reports a -p port in use when connecting, not when binding. */
        hub_discard_peer(peer);
        source_failed(c, status);
        return;
    }
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

/* Binds -s/-p if given; cli has checked that -s parses. 0 or a libuv error. */
static int bind_source(struct sc_connector *c, struct sc_peer *peer, int family)
{
    const struct sc_opts *o = c->opts;
    struct sockaddr_storage local;
    unsigned port = o->source_port < 0 ? 0 : (unsigned)o->source_port;
    int rc;

    if (!o->source_addr && o->source_port < 0)
        return 0;
    if (o->source_addr)
        rc = net_parse_numeric(o->source_addr, port, &local);
    else
        rc = net_parse_numeric(family == AF_INET6 ? "::" : "0.0.0.0", port, &local);
    if (rc < 0)
        return rc;
    return uv_tcp_bind(&peer->ep.u.tcp, (struct sockaddr *)&local, 0);
}

/* With -s, only addresses of the source's family can be reached from it. */
static bool reachable_from_source(struct sc_connector *c, const struct addrinfo *ai)
{
    if (!c->opts->source_addr || ai->ai_family == c->opts->source_family)
        return true;
    c->skipped_family = ai->ai_family;
    return false;
}

/* Every address was of the other family than -s: say so, naming -s. */
static void family_mismatch(struct sc_connector *c)
{
    const struct sc_opts *o = c->opts;
    char host[NET_HOST_PORT_SIZE];

    connector_finish(c);
    net_host_port(host, sizeof(host), o->host, o->port);
    *strrchr(host, ' ') = '\0';  /* the host alone */
    /* Not a system error: the message is the whole reason. */
    if (!c->hub->error[0] && !c->hub->finished)
        snprintf(c->hub->error, sizeof(c->hub->error),
                 "-s %s: source address is %s but %s is %s", o->source_addr,
                 net_family_name(o->source_family), host, net_family_name(c->skipped_family));
    hub_stop(c->hub, SC_EXIT_RUNTIME);
}

static void try_next_address(struct sc_connector *c)
{
    while (c->next) {
        struct addrinfo *ai = c->next;
        struct sc_peer *peer;
        int rc;

        c->next = ai->ai_next;
        if (!reachable_from_source(c, ai))
            continue;
        net_set_port(ai->ai_addr, c->opts->port);
        net_format(ai->ai_addr, c->attempt_name, sizeof(c->attempt_name));
        peer = hub_new_peer(c->hub);
        if (!peer) {
            give_up(c, UV_ENOMEM);
            return;
        }
        rc = bind_source(c, peer, ai->ai_family);
        if (rc < 0) {
            hub_discard_peer(peer);
            source_failed(c, rc);
            return;
        }
        c->request.data = c;
        rc = uv_tcp_connect(&c->request, &peer->ep.u.tcp, ai->ai_addr, on_connected);
        if (rc == 0) {
            c->attempt = peer;
            return;
        }
        sc_verbose(1, "connect to %s failed: %s", c->attempt_name, sc_strerror(rc));
        c->last_error = rc;
        hub_discard_peer(peer);
    }
    if (!c->last_error && c->skipped_family)
        family_mismatch(c);
    else
        give_up(c, c->last_error ? c->last_error : UV_EAI_NONAME);
}

static void resolve_failed(struct sc_connector *c, int err)
{
    char host[NET_HOST_PORT_SIZE];

    connector_finish(c);
    net_host_port(host, sizeof(host), c->opts->host, c->opts->port);
    *strrchr(host, ' ') = '\0';
    hub_fail(c->hub, err, "resolve %s", host);
}

static void on_resolved(void *data, int status, struct addrinfo *res)
{
    struct sc_connector *c = data;

    c->lookup = NULL;  /* its callback has come: nothing left to abandon */
    if (status < 0) {
        resolve_failed(c, status);
        return;
    }
    c->addresses = res;
    c->next = res;
    try_next_address(c);
}

static void on_deadline(uv_timer_t *timer)
{
    struct sc_connector *c = timer->data;

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
    net_host_port(c->target, sizeof(c->target), o->host, o->port);
    uv_timer_init(hub->loop, &c->deadline);
    c->deadline.data = c;
    if (o->wait_seconds > 0) {
        /* Rounded up: a tiny -w still gives the attempt a millisecond. */
        uint64_t ms = (uint64_t)(o->wait_seconds * 1000);
        uv_timer_start(&c->deadline, on_deadline, ms > 0 ? ms : 1, 0);
    }

    rc = net_lookup_start(hub->loop, &c->lookup, o->host, o->family, o->numeric, false,
                          on_resolved, c);
    if (rc < 0) {
        resolve_failed(c, rc);
        return rc;
    }
    return 0;
}

void connector_close(struct sc_connector *c)
{
    if (c->attempt) {
        hub_discard_peer(c->attempt);
        c->attempt = NULL;
    }
    connector_finish(c);
    if (!uv_is_closing((uv_handle_t *)&c->deadline))
        uv_close((uv_handle_t *)&c->deadline, NULL);
}
