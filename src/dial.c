#include "dial.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "tcp.h"
#include "unix.h"

static void try_next_address(struct sc_dialer *d);

static void dialer_finish(struct sc_dialer *d)
{
    d->done = true;
    uv_timer_stop(&d->deadline);
    if (d->lookup) {
        /* getaddrinfo cannot be stopped: leave it behind, never wait for it. */
        net_lookup_abandon(d->lookup);
        d->lookup = NULL;
    }
    if (d->addresses) {
        freeaddrinfo(d->addresses);
        d->addresses = NULL;
    }
}

/* Hands the failure back: `what` failed with `err` (0: `what` says it all). */
static void fail(struct sc_dialer *d, int err)
{
    dialer_finish(d);
    d->on_done(d, NULL, NULL, err, d->what);
}

static void give_up(struct sc_dialer *d, int err)
{
    snprintf(d->what, sizeof(d->what), "connect to %s", d->target);
    fail(d, err);
}

/* -s/-p could not be bound: the options are at fault, not the target. */
static void source_failed(struct sc_dialer *d, int err)
{
    const struct sc_opts *o = d->opts;

    if (o->source_addr && o->source_port >= 0)
        snprintf(d->what, sizeof(d->what), "bind to source address %s port %d (-s, -p)",
                 o->source_addr, o->source_port);
    else if (o->source_addr)
        snprintf(d->what, sizeof(d->what), "bind to source address %s (-s)", o->source_addr);
    else
        snprintf(d->what, sizeof(d->what), "bind to source port %d (-p)", o->source_port);
    fail(d, err);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct sc_dialer *d = req->data;
    struct sc_endpoint *ep = d->attempt;

    if (d->done)
        return;  /* timed out meanwhile: the attempt is already discarded */
    d->attempt = NULL;
    if (status == UV_EADDRINUSE && d->opts->source_port > 0) {
        /* libuv reports a -p port in use when connecting, not when binding. */
        endpoint_close(ep);
        source_failed(d, status);
        return;
    }
    if (status < 0) {
        sc_verbose(1, "connect to %s failed: %s", d->attempt_name, sc_strerror(status));
        d->last_error = status;
        endpoint_close(ep);
        try_next_address(d);
        return;
    }
    dialer_finish(d);
    uv_tcp_nodelay(tcp_endpoint_handle(ep), 1);
    sc_verbose(1, "connected to %s", d->attempt_name);
    d->on_done(d, ep, d->attempt_name, 0, NULL);
}

/* Binds -s/-p if given; cli has checked that -s parses. 0 or a libuv error. */
static int bind_source(struct sc_dialer *d, struct sc_endpoint *ep, int family)
{
    const struct sc_opts *o = d->opts;
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
    return uv_tcp_bind(tcp_endpoint_handle(ep), (struct sockaddr *)&local, 0);
}

/* With -s, only addresses of the source's family can be reached from it. */
static bool reachable_from_source(struct sc_dialer *d, const struct addrinfo *ai)
{
    if (!d->opts->source_addr || ai->ai_family == d->opts->source_family)
        return true;
    d->skipped_family = ai->ai_family;
    return false;
}

/* Every address was of the other family than -s: say so, naming -s. */
static void family_mismatch(struct sc_dialer *d)
{
    const struct sc_opts *o = d->opts;
    char host[NET_HOST_PORT_SIZE];

    net_host_port(host, sizeof(host), o->host, o->port);
    *strrchr(host, ' ') = '\0';  /* the host alone */
    /* Not a system error: the message is the whole reason. */
    snprintf(d->what, sizeof(d->what), "-s %s: source address is %s but %s is %s",
             o->source_addr, net_family_name(o->source_family), host,
             net_family_name(d->skipped_family));
    fail(d, 0);
}

static void try_next_address(struct sc_dialer *d)
{
    while (d->next) {
        struct addrinfo *ai = d->next;
        struct sc_endpoint *ep;
        int rc;

        d->next = ai->ai_next;
        if (!reachable_from_source(d, ai))
            continue;
        net_set_port(ai->ai_addr, d->opts->port);
        net_format(ai->ai_addr, d->attempt_name, sizeof(d->attempt_name));
        ep = tcp_endpoint_new(d->loop, &rc);
        if (!ep) {
            give_up(d, UV_ENOMEM);
            return;
        }
        rc = bind_source(d, ep, ai->ai_family);
        if (rc < 0) {
            endpoint_close(ep);
            source_failed(d, rc);
            return;
        }
        d->request.data = d;
        rc = uv_tcp_connect(&d->request, tcp_endpoint_handle(ep), ai->ai_addr, on_connected);
        if (rc == 0) {
            d->attempt = ep;
            return;
        }
        sc_verbose(1, "connect to %s failed: %s", d->attempt_name, sc_strerror(rc));
        d->last_error = rc;
        endpoint_close(ep);
    }
    if (!d->last_error && d->skipped_family)
        family_mismatch(d);
    else
        give_up(d, d->last_error ? d->last_error : UV_EAI_NONAME);
}

static void resolve_failed(struct sc_dialer *d, int err)
{
    char host[NET_HOST_PORT_SIZE];

    net_host_port(host, sizeof(host), d->opts->host, d->opts->port);
    *strrchr(host, ' ') = '\0';
    snprintf(d->what, sizeof(d->what), "resolve %s", host);
    fail(d, err);
}

static void on_resolved(void *data, int status, struct addrinfo *res)
{
    struct sc_dialer *d = data;

    d->lookup = NULL;  /* its callback has come: nothing left to abandon */
    if (status < 0) {
        resolve_failed(d, status);
        return;
    }
    d->addresses = res;
    d->next = res;
    try_next_address(d);
}

static void on_deadline(uv_timer_t *timer)
{
    struct sc_dialer *d = timer->data;

    if (d->attempt) {
        endpoint_close(d->attempt);
        d->attempt = NULL;
    }
    give_up(d, UV_ETIMEDOUT);
}

/* -U: a Unix stream connect completes (or fails) at once. */
static void dial_unix(struct sc_dialer *d)
{
    const char *path = d->opts->unix_path;
    struct sc_endpoint *ep = NULL;
    struct sc_unix_addr addr;
    int rc = unix_addr_parse(path, &addr);

    if (rc == 0)
        rc = unix_connect(d->loop, &addr, &ep);
    if (rc < 0) {
        snprintf(d->what, sizeof(d->what), "connect to %s", path);
        fail(d, rc);
        return;
    }
    dialer_finish(d);
    sc_verbose(1, "connected to %s", path);
    d->on_done(d, ep, path, 0, NULL);
}

void dialer_start(struct sc_dialer *d, uv_loop_t *loop, const struct sc_opts *o,
                  sc_dial_cb on_done, void *data)
{
    int rc;

    memset(d, 0, sizeof(*d));
    d->loop = loop;
    d->opts = o;
    d->on_done = on_done;
    d->data = data;
    if (o->host)  /* -U has a path instead */
        net_host_port(d->target, sizeof(d->target), o->host, o->port);
    uv_timer_init(loop, &d->deadline);
    d->deadline.data = d;
    if (o->wait_seconds > 0) {
        /* Rounded up: a tiny -w still gives the attempt a millisecond. */
        uint64_t ms = (uint64_t)(o->wait_seconds * 1000);
        uv_timer_start(&d->deadline, on_deadline, ms > 0 ? ms : 1, 0);
    }

    if (o->unix_path) {
        dial_unix(d);
        return;
    }
    rc = net_lookup_start(loop, &d->lookup, o->host, o->family, o->numeric, false,
                          on_resolved, d);
    if (rc < 0) {
        resolve_failed(d, rc);
        return;
    }
}

void dialer_close(struct sc_dialer *d)
{
    if (d->attempt) {
        endpoint_close(d->attempt);
        d->attempt = NULL;
    }
    dialer_finish(d);
    if (!uv_is_closing((uv_handle_t *)&d->deadline))
        uv_close((uv_handle_t *)&d->deadline, NULL);
}
