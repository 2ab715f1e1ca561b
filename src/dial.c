#include "dial.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "net.h"
#include "tcp.h"
#include "unix.h"

static void try_next_address(struct sc_dialer *d);

static void dialer_finish(struct sc_dialer *d)
{
    d->done = true;
    uv_timer_stop(&d->deadline);
    if (d->addresses) {
        uv_freeaddrinfo(d->addresses);
        d->addresses = NULL;
    }
}

static void fail(struct sc_dialer *d, int err, const char *what)
{
    dialer_finish(d);
    d->on_done(d, NULL, NULL, err, what);
}

static void give_up(struct sc_dialer *d, int err)
{
    snprintf(d->what, sizeof(d->what), "connect to %s %u", d->opts->host, d->opts->port);
    fail(d, err, d->what);
}

static void fail_resolve(struct sc_dialer *d, int err)
{
    snprintf(d->what, sizeof(d->what), "resolve %s", d->opts->host);
    fail(d, err, d->what);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct sc_dialer *d = req->data;
    struct sc_endpoint *ep = d->attempt;

    if (d->done)
        return;  /* timed out meanwhile: the attempt is already closed */
    d->attempt = NULL;
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

/* Binds -s/-p if given; the family of the source must match the target's. */
static int bind_source(struct sc_dialer *d, struct sc_endpoint *ep, int family)
{
    const struct sc_opts *o = d->opts;
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
    return uv_tcp_bind(tcp_endpoint_handle(ep), (struct sockaddr *)&local, 0);
}

static void try_next_address(struct sc_dialer *d)
{
    while (d->next) {
        struct addrinfo *ai = d->next;
        struct sc_endpoint *ep;
        int rc;

        d->next = ai->ai_next;
        net_set_port(ai->ai_addr, d->opts->port);
        net_format(ai->ai_addr, d->attempt_name, sizeof(d->attempt_name));
        ep = tcp_endpoint_new(d->loop, &rc);
        if (!ep) {
            give_up(d, UV_ENOMEM);
            return;
        }
        rc = bind_source(d, ep, ai->ai_family);
        if (rc == 0) {
            d->request.data = d;
            rc = uv_tcp_connect(&d->request, tcp_endpoint_handle(ep), ai->ai_addr, on_connected);
        }
        if (rc == 0) {
            d->attempt = ep;
            return;
        }
        sc_verbose(1, "connect to %s failed: %s", d->attempt_name, sc_strerror(rc));
        d->last_error = rc;
        endpoint_close(ep);
    }
    give_up(d, d->last_error ? d->last_error : UV_EAI_NONAME);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct sc_dialer *d = req->data;

    d->resolving = false;
    if (d->done) {
        uv_freeaddrinfo(res);
        return;
    }
    if (status < 0) {
        fail_resolve(d, status);
        return;
    }
    d->addresses = res;
    d->next = res;
    try_next_address(d);
}

static void on_deadline(uv_timer_t *timer)
{
    struct sc_dialer *d = timer->data;

    if (d->resolving)
        uv_cancel((uv_req_t *)&d->resolver);
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
        fail(d, rc, d->what);
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
    d->resolver.data = d;
    rc = net_resolve(loop, &d->resolver, on_resolved, o->host, o->family, o->numeric, false);
    if (rc < 0) {
        fail_resolve(d, rc);
        return;
    }
    d->resolving = true;
}

void dialer_close(struct sc_dialer *d)
{
    if (d->resolving)
        uv_cancel((uv_req_t *)&d->resolver);
    if (d->attempt) {
        endpoint_close(d->attempt);
        d->attempt = NULL;
    }
    dialer_finish(d);
    if (!uv_is_closing((uv_handle_t *)&d->deadline))
        uv_close((uv_handle_t *)&d->deadline, NULL);
}
