#include "dial.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "proxy_dial.h"
#include "tcp.h"
#include "tls.h"
#include "unix.h"

static void try_next_address(struct sc_dialer *d);

static void dialer_finish(struct sc_dialer *d)
{
    d->done = true;
    if (d->proxy) {
        proxy_dial_abort(d->proxy);
        d->proxy = NULL;
    }
    if (d->handshake) {
        endpoint_close(d->handshake);  /* gives the handshake up, no callback */
        d->handshake = NULL;
    }
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
    snprintf(d->what, sizeof(d->what), "connect to %s%s", d->opts->proxy_host ? "proxy " : "",
             d->target);
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

/* The last step is done: the endpoint is the caller's. */
static void hand_over(struct sc_dialer *d, struct sc_endpoint *ep)
{
    dialer_finish(d);
    d->on_done(d, ep, d->peer, 0, NULL);
}

static void on_tls_ready(void *data, struct sc_endpoint *ep, const char *text)
{
    struct sc_dialer *d = data;

    d->handshake = NULL;
    if (!ep) {
        snprintf(d->what, sizeof(d->what), "%s", text);
        fail(d, 0);
        return;
    }
    hand_over(d, ep);
}

/* --ssl: the handshake is the last step; -w still runs. */
/* TLS messages name the server as it was given, not the address it had. */
static void server_as_given(const struct sc_dialer *d, char *name, size_t size)
{
    const struct sc_opts *o = d->opts;

    if (o->unix_path)
        snprintf(name, size, "%s", o->unix_path);
    else
        net_host_port(name, size, o->host, o->port);
}

static void start_tls(struct sc_dialer *d, struct sc_endpoint *ep)
{
    const struct sc_opts *o = d->opts;
    char name[NET_HOST_PORT_SIZE];

    server_as_given(d, name, sizeof(name));
    d->handshake = tls_start(d->tls, d->loop, ep, name, o->host, on_tls_ready, d);
    if (!d->handshake) {
        snprintf(d->what, sizeof(d->what), "TLS handshake with %s", name);
        fail(d, UV_ENOMEM);
    }
}

static void after_proxy(struct sc_dialer *d, struct sc_endpoint *ep)
{
    if (d->tls)
        start_tls(d, ep);
    else
        hand_over(d, ep);
}

static void on_proxy_done(void *data, struct sc_endpoint *ep, int err, const char *text)
{
    struct sc_dialer *d = data;

    d->proxy = NULL;
    if (!ep) {
        snprintf(d->what, sizeof(d->what), "%s", text);
        fail(d, err);
        return;
    }
    sc_verbose(1, "proxy %s %u: tunnel to %s open", d->host, d->port, d->peer);
    after_proxy(d, ep);
}

/* Connected: the proxy's handshake, then TLS's, then the caller has it. */
static void after_connect(struct sc_dialer *d, struct sc_endpoint *ep)
{
    if (d->opts->proxy_host) {
        net_host_port(d->peer, sizeof(d->peer), d->opts->host, d->opts->port);
        d->proxy = proxy_dial_start(d->loop, d->opts, ep, on_proxy_done, d);
        if (!d->proxy) {
            snprintf(d->what, sizeof(d->what), "proxy %s %u", d->host, d->port);
            fail(d, UV_ENOMEM);
        }
        return;
    }
    snprintf(d->peer, sizeof(d->peer), "%s", d->attempt_name);
    after_proxy(d, ep);
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
    if (d->addresses) {
        freeaddrinfo(d->addresses);
        d->addresses = NULL;
        d->next = NULL;
    }
    uv_tcp_nodelay(tcp_endpoint_handle(ep), 1);
    sc_verbose(1, "connected to %s", d->attempt_name);
    after_connect(d, ep);
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

    net_host_port(host, sizeof(host), d->host, d->port);
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
        net_set_port(ai->ai_addr, d->port);
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

    net_host_port(host, sizeof(host), d->host, d->port);
    *strrchr(host, ' ') = '\0';
    snprintf(d->what, sizeof(d->what), "resolve %s%s", d->opts->proxy_host ? "proxy " : "", host);
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

    if (d->proxy || d->handshake) {
        /* Connected, but a later step did not finish in time. */
        char name[NET_HOST_PORT_SIZE];
        server_as_given(d, name, sizeof(name));
        if (d->proxy)
            snprintf(d->what, sizeof(d->what), "proxy %s", d->target);
        else
            snprintf(d->what, sizeof(d->what), "TLS handshake with %s", name);
        fail(d, UV_ETIMEDOUT);
        return;
    }
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
    sc_verbose(1, "connected to %s", path);
    snprintf(d->peer, sizeof(d->peer), "%s", path);
    after_proxy(d, ep);
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
    d->host = o->proxy_host ? o->proxy_host : o->host;
    d->port = o->proxy_host ? o->proxy_port : o->port;
    if (d->host)  /* -U has a path instead */
        net_host_port(d->target, sizeof(d->target), d->host, d->port);
    uv_timer_init(loop, &d->deadline);
    d->deadline.data = d;
    if (o->wait_seconds > 0) {
        /* Rounded up: a tiny -w still gives the attempt a millisecond. */
        uint64_t ms = (uint64_t)(o->wait_seconds * 1000);
        uv_timer_start(&d->deadline, on_deadline, ms > 0 ? ms : 1, 0);
    }

    if (o->ssl) {
        d->tls = tls_new(o, d->what, sizeof(d->what));
        if (!d->tls) {
            fail(d, 0);
            return;
        }
    }
    if (o->unix_path) {
        dial_unix(d);
        return;
    }
    rc = net_lookup_start(loop, &d->lookup, d->host, o->family, o->numeric, false,
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
    tls_free(d->tls);  /* a TLS endpoint needs it only during its handshake */
    d->tls = NULL;
    if (!uv_is_closing((uv_handle_t *)&d->deadline))
        uv_close((uv_handle_t *)&d->deadline, NULL);
}
