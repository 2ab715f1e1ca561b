#include "dial.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "proxy_dial.h"
#include "tcp.h"
#include "tls.h"
#include "unix.h"

/* One connection attempt to one address. Freed by its connect callback,
 * which always comes (closing the socket cancels the request). */
struct sc_dial_attempt {
    struct sc_dialer *d;
    uv_connect_t request;
    struct sc_endpoint *ep;    /* NULL once cancelled */
    struct sc_dial_attempt *next;
    char name[NET_NAME_SIZE];  /* "ADDR PORT" */
};

static void start_attempts(struct sc_dialer *d);
static void family_mismatch(struct sc_dialer *d);

static void unlink_attempt(struct sc_dialer *d, struct sc_dial_attempt *a)
{
    for (struct sc_dial_attempt **p = &d->attempts; *p; p = &(*p)->next) {
        if (*p == a) {
            *p = a->next;
            return;
        }
    }
}

/* Closes every attempt still in flight; their callbacks free them. */
static void cancel_attempts(struct sc_dialer *d)
{
    while (d->attempts) {
        struct sc_dial_attempt *a = d->attempts;
        d->attempts = a->next;
        endpoint_close(a->ep);
        a->ep = NULL;
    }
}

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
    uv_timer_stop(&d->stagger);
    cancel_attempts(d);
    if (d->lookup) {
        /* getaddrinfo cannot be stopped: leave it behind, never wait for it. */
        net_lookup_abandon(d->lookup);
        d->lookup = NULL;
    }
    free(d->order);
    d->order = NULL;
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

/* TLS messages name the server as it was given, not the address it had. */
static void server_as_given(const struct sc_dialer *d, char *name, size_t size)
{
    const struct sc_opts *o = d->opts;

    if (o->unix_path)
        snprintf(name, size, "%s", o->unix_path);
    else
        net_host_port(name, size, o->host, o->port);
}

/* --ssl: the handshake is the last step; -w still runs. */
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

/* Connected to `name`: the proxy's handshake, then TLS's, then the caller has it. */
static void after_connect(struct sc_dialer *d, struct sc_endpoint *ep, const char *name)
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
    snprintf(d->peer, sizeof(d->peer), "%s", name);
    after_proxy(d, ep);
}

/* "connected to localhost (127.0.0.1) 4000", or "connected to 127.0.0.1 4000"
 * when HOST was the address itself. */
static void say_connected(struct sc_dialer *d, const char *name)
{
    char address[NET_NAME_SIZE];
    const char *port = strrchr(name, ' ');

    snprintf(address, sizeof(address), "%.*s", port ? (int)(port - name) : (int)strlen(name),
             name);
    if (!port || strcmp(address, d->host) == 0)
        sc_verbose(1, "connected to %s", name);
    else
        sc_verbose(1, "connected to %s%s (%s)%s", d->opts->proxy_host ? "proxy " : "", d->host,
                   address, port);
}

/* The winner: every other attempt is cancelled, and the socket goes on to
 * the steps after connecting (a proxy, TLS) or to the caller; -w still runs. */
static void attempt_won(struct sc_dialer *d, struct sc_dial_attempt *a)
{
    struct sc_endpoint *ep = a->ep;
    char name[NET_NAME_SIZE];

    snprintf(name, sizeof(name), "%s", a->name);
    free(a);
    uv_timer_stop(&d->stagger);
    cancel_attempts(d);
    uv_tcp_nodelay(tcp_endpoint_handle(ep), 1);
    say_connected(d, name);
    after_connect(d, ep, name);
}

/* Nothing in flight and nothing left to try: say why. */
static void attempts_exhausted(struct sc_dialer *d)
{
    if (!d->last_error && d->skipped_family)
        family_mismatch(d);
    else
        give_up(d, d->last_error ? d->last_error : UV_EAI_NONAME);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct sc_dial_attempt *a = req->data;
    struct sc_dialer *d = a->d;

    if (!a->ep) {
        free(a);  /* cancelled: another won, -w expired, or sockcat is stopping */
        return;
    }
    unlink_attempt(d, a);
    if (status == 0) {
        attempt_won(d, a);
        return;
    }
    endpoint_close(a->ep);
    if (status == UV_EADDRINUSE && d->opts->source_port > 0) {
        /* libuv reports a -p port in use when connecting, not when binding. */
        free(a);
        source_failed(d, status);
        return;
    }
    sc_verbose(1, "connect to %s failed: %s", a->name, sc_strerror(status));
    d->last_error = status;
    free(a);
    /* A failure starts the next attempt at once. */
    start_attempts(d);
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

/*
 * Starts connecting to one address. 0 when the attempt is in flight, 1 when
 * it failed at once (the next may be tried), -1 when the dialer has failed.
 */
static int start_one(struct sc_dialer *d, struct addrinfo *ai)
{
    struct sc_dial_attempt *a = calloc(1, sizeof(*a));
    int rc;

    if (!a || !(a->ep = tcp_endpoint_new(d->loop, &rc))) {
        free(a);
        give_up(d, UV_ENOMEM);
        return -1;
    }
    a->d = d;
    net_set_port(ai->ai_addr, d->port);
    net_format(ai->ai_addr, a->name, sizeof(a->name));
    rc = bind_source(d, a->ep, ai->ai_family);
    if (rc < 0) {
        endpoint_close(a->ep);
        free(a);
        source_failed(d, rc);
        return -1;
    }
    if (d->name_attempts)
        sc_verbose(1, "trying %s", a->name);
    a->request.data = a;
    rc = uv_tcp_connect(&a->request, tcp_endpoint_handle(a->ep), ai->ai_addr, on_connected);
    if (rc < 0) {
        sc_verbose(1, "connect to %s failed: %s", a->name, sc_strerror(rc));
        d->last_error = rc;
        endpoint_close(a->ep);
        free(a);
        return 1;
    }
    a->next = d->attempts;
    d->attempts = a;
    return 0;
}

static void on_stagger(uv_timer_t *timer)
{
    start_attempts(timer->data);
}

/*
 * Starts the next address (skipping those that fail at once). With -p the
 * attempts go one at a time; otherwise the one just started has 250 ms
 * alone before the next joins it.
 */
static void start_attempts(struct sc_dialer *d)
{
    bool overlap = d->opts->source_port <= 0;

    if (d->done || (!overlap && d->attempts))
        return;
    while (d->order_next < d->order_count) {
        int rc = start_one(d, d->order[d->order_next++]);
        if (rc < 0)
            return;
        if (rc == 0) {
            if (overlap && d->order_next < d->order_count)
                uv_timer_start(&d->stagger, on_stagger, SC_DIAL_STAGGER_MS, 0);
            return;
        }
    }
    if (!d->attempts)
        attempts_exhausted(d);
}

/*
 * The order of the attempts: the first address's family first, then the
 * families take turns (RFC 8305 section 4), each in the resolver's order.
 * Addresses -s cannot reach are left out.
 */
static int order_addresses(struct sc_dialer *d)
{
    struct addrinfo *ai, **first, **second;
    size_t n = 0, n1 = 0, n2 = 0;
    int family = AF_UNSPEC;

    for (ai = d->addresses; ai; ai = ai->ai_next)
        n++;
    d->order = calloc(n ? n : 1, sizeof(*d->order));
    second = calloc(n ? n : 1, sizeof(*second));
    if (!d->order || !second) {
        free(second);
        return UV_ENOMEM;
    }
    first = d->order;  /* filled in place: it is never ahead of the merge */
    for (ai = d->addresses; ai; ai = ai->ai_next) {
        if (!reachable_from_source(d, ai))
            continue;
        if (family == AF_UNSPEC)
            family = ai->ai_family;
        if (ai->ai_family == family)
            first[n1++] = ai;
        else
            second[n2++] = ai;
    }
    /* Merge from the back so that the first family's list, which sits in
     * the front of the same array, is read before it is overwritten. */
    d->order_count = n1 + n2;
    for (size_t k = d->order_count; k-- > 0;) {
        /* Position k takes the first family on even turns while both last. */
        size_t pairs = n1 < n2 ? n1 : n2;
        if (k < 2 * pairs)
            d->order[k] = k % 2 == 0 ? first[k / 2] : second[k / 2];
        else if (n1 > n2)
            d->order[k] = first[k - pairs];
        else
            d->order[k] = second[k - pairs];
    }
    free(second);
    d->name_attempts = d->order_count > 1;
    return 0;
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
    if (order_addresses(d) < 0) {
        give_up(d, UV_ENOMEM);
        return;
    }
    start_attempts(d);
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
    uv_timer_init(loop, &d->stagger);
    d->stagger.data = d;
    if (o->wait_ms > 0) {
        /* Rounded up: a tiny -w still gives the attempt a millisecond. */
        uint64_t ms = o->wait_ms;
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
    dialer_finish(d);
    tls_free(d->tls);  /* a TLS endpoint needs it only during its handshake */
    d->tls = NULL;
    if (!uv_is_closing((uv_handle_t *)&d->deadline))
        uv_close((uv_handle_t *)&d->deadline, NULL);
    if (!uv_is_closing((uv_handle_t *)&d->stagger))
        uv_close((uv_handle_t *)&d->stagger, NULL);
}
