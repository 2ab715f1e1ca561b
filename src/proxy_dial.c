#include "proxy_dial.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "net.h"
#include "proxy.h"

/* ---- an endpoint that first reads back bytes already taken ---- */

/*
 * The server's first bytes may arrive in the same read as the proxy's
 * answer. This wrapper hands them out first, then reads on from the
 * connection; everything else passes straight through.
 */
struct prefix_endpoint {
    struct sc_endpoint base;
    struct sc_endpoint *inner;
    struct sc_chunk *prefix[2];  /* read back in this order; NULL when done */
    uv_idle_t kick;
    bool inner_closed;
    bool kick_closed;
};

static void prefix_sync(struct prefix_endpoint *p)
{
    p->base.queued = p->inner->queued;
    p->base.queued_chunks = p->inner->queued_chunks;
    p->base.bytes_written = p->inner->bytes_written;
}

static void prefix_on_kick(uv_idle_t *idle)
{
    struct prefix_endpoint *p = idle->data;

    uv_idle_stop(idle);
    for (int i = 0; i < 2; i++) {
        struct sc_chunk *chunk = p->prefix[i];
        if (!chunk)
            continue;
        if (!p->base.reading || p->base.closing)
            return;  /* the rest waits for the next read_start */
        p->prefix[i] = NULL;
        p->base.bytes_read += chunk->len;
        p->base.events->on_data(&p->base, chunk);  /* the owner takes our reference */
    }
    if (p->base.reading && !p->base.closing)
        endpoint_read_start(p->inner);
}

static int prefix_read_start(struct sc_endpoint *ep)
{
    struct prefix_endpoint *p = (struct prefix_endpoint *)ep;

    if (ep->reading || ep->closing)
        return 0;
    ep->reading = true;
    if (p->prefix[0] || p->prefix[1])
        return uv_idle_start(&p->kick, prefix_on_kick);
    return endpoint_read_start(p->inner);
}

static void prefix_read_stop(struct sc_endpoint *ep)
{
    struct prefix_endpoint *p = (struct prefix_endpoint *)ep;

    ep->reading = false;
    uv_idle_stop(&p->kick);
    endpoint_read_stop(p->inner);
}

static int prefix_write(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct prefix_endpoint *p = (struct prefix_endpoint *)ep;
    int rc = endpoint_write(p->inner, chunk);

    prefix_sync(p);
    return rc;
}

static void prefix_end(struct sc_endpoint *ep)
{
    struct prefix_endpoint *p = (struct prefix_endpoint *)ep;

    if (ep->ending || ep->closing)
        return;
    ep->ending = true;
    endpoint_end(p->inner);
}

static void prefix_finish_close(struct prefix_endpoint *p)
{
    if (!p->inner_closed || !p->kick_closed)
        return;
    for (int i = 0; i < 2; i++)
        if (p->prefix[i])
            chunk_unref(p->prefix[i]);
    p->base.events->on_closed(&p->base);  /* the owner frees p */
}

static void prefix_on_kick_closed(uv_handle_t *handle)
{
    struct prefix_endpoint *p = handle->data;

    p->kick_closed = true;
    prefix_finish_close(p);
}

static void prefix_close_with(struct sc_endpoint *ep, bool reset)
{
    struct prefix_endpoint *p = (struct prefix_endpoint *)ep;

    if (ep->closing)
        return;
    ep->closing = true;
    ep->reading = false;
    uv_close((uv_handle_t *)&p->kick, prefix_on_kick_closed);
    if (reset)
        endpoint_close_reset(p->inner);
    else
        endpoint_close(p->inner);
}

static void prefix_close(struct sc_endpoint *ep)
{
    prefix_close_with(ep, false);
}

static void prefix_close_reset(struct sc_endpoint *ep)
{
    prefix_close_with(ep, true);
}

static size_t prefix_unwritten(const struct sc_endpoint *ep)
{
    return endpoint_unwritten(((const struct prefix_endpoint *)ep)->inner);
}

static int prefix_write_now(struct sc_endpoint *ep, const struct sc_chunk *chunk)
{
    struct prefix_endpoint *p = (struct prefix_endpoint *)ep;
    int n = endpoint_write_now(p->inner, chunk);

    prefix_sync(p);
    return n;
}

static const struct sc_endpoint_ops prefix_ops = {
    .read_start = prefix_read_start,
    .read_stop = prefix_read_stop,
    .write = prefix_write,
    .end = prefix_end,
    .close = prefix_close,
    .unwritten = prefix_unwritten,
    .write_now = prefix_write_now,
    .close_reset = prefix_close_reset,
};

static void inner_data(struct sc_endpoint *inner, struct sc_chunk *chunk)
{
    struct prefix_endpoint *p = inner->owner;

    p->base.bytes_read += chunk->len;
    p->base.events->on_data(&p->base, chunk);
}

static void inner_eof(struct sc_endpoint *inner)
{
    struct prefix_endpoint *p = inner->owner;

    p->base.reading = false;
    p->base.events->on_eof(&p->base);
}

static void inner_read_error(struct sc_endpoint *inner, int err)
{
    struct prefix_endpoint *p = inner->owner;

    p->base.reading = false;
    p->base.events->on_read_error(&p->base, err);
}

static void inner_written(struct sc_endpoint *inner, size_t len, int status)
{
    struct prefix_endpoint *p = inner->owner;

    prefix_sync(p);
    p->base.events->on_written(&p->base, len, status);
}

static void inner_ended(struct sc_endpoint *inner, int status)
{
    struct prefix_endpoint *p = inner->owner;

    p->base.ended = true;
    p->base.events->on_ended(&p->base, status);
}

static void inner_closed(struct sc_endpoint *inner)
{
    struct prefix_endpoint *p = inner->owner;

    prefix_sync(p);
    free(inner);
    p->inner_closed = true;
    prefix_finish_close(p);
}

static const struct sc_endpoint_events prefix_inner_events = {
    .on_data = inner_data,
    .on_eof = inner_eof,
    .on_read_error = inner_read_error,
    .on_written = inner_written,
    .on_ended = inner_ended,
    .on_closed = inner_closed,
};

/*
 * `inner` with bytes to be read first: `len` of `bytes`, then `more_len`
 * of `more`. NULL when out of memory.
 */
static struct sc_endpoint *prefix_endpoint_new(uv_loop_t *loop, struct sc_endpoint *inner,
                                               const void *bytes, size_t len,
                                               const void *more, size_t more_len)
{
    struct prefix_endpoint *p = calloc(1, sizeof(*p));

    if (p && len)
        p->prefix[0] = chunk_copy(bytes, len);
    if (p && more_len)
        p->prefix[1] = chunk_copy(more, more_len);
    if (!p || (len && !p->prefix[0]) || (more_len && !p->prefix[1])) {
        if (p && p->prefix[0])
            chunk_unref(p->prefix[0]);
        if (p && p->prefix[1])
            chunk_unref(p->prefix[1]);
        free(p);
        return NULL;
    }
    p->base.ops = &prefix_ops;
    p->inner = inner;
    inner->events = &prefix_inner_events;
    inner->owner = p;
    uv_idle_init(loop, &p->kick);
    p->kick.data = p;
    return &p->base;
}

/* ---- the handshake ---- */

enum stage {
    STAGE_START,
    STAGE_RESOLVING,
    STAGE_HTTP,
    STAGE_SOCKS4,
    STAGE_SOCKS5_METHOD,
    STAGE_SOCKS5_AUTH,
    STAGE_SOCKS5_CONNECT,
};

struct sc_proxy_dial {
    uv_loop_t *loop;
    const struct sc_opts *opts;
    struct sc_endpoint *ep;
    sc_proxy_done_cb on_done;
    void *data;
    struct net_lookup *lookup;
    uv_timer_t kick;            /* the first step runs from the loop */
    enum stage stage;
    int family;                 /* --proxy-dns local: 4 or 6, and the address */
    unsigned char addr[16];
    char addr_text[64];
    char name[NET_HOST_PORT_SIZE + 8];  /* "proxy HOST PORT" */
    unsigned char buf[PROXY_HTTP_MAX_REPLY];
    size_t len;
    const char *more;           /* the part of the last read that did not fit in buf */
    size_t more_len;
    bool ep_closed;
    bool kick_closed;
    bool finished;
};

static void maybe_free(struct sc_proxy_dial *p)
{
    if (p->kick_closed && (p->ep_closed || !p->ep))
        free(p);
}

static void on_kick_closed(uv_handle_t *handle)
{
    struct sc_proxy_dial *p = handle->data;

    p->kick_closed = true;
    maybe_free(p);
}

/* Ends the dial; `keep_ep`: the endpoint went to the caller. */
static void finish(struct sc_proxy_dial *p, bool keep_ep)
{
    p->finished = true;
    if (p->lookup) {
        net_lookup_abandon(p->lookup);
        p->lookup = NULL;
    }
    uv_close((uv_handle_t *)&p->kick, on_kick_closed);
    if (keep_ep)
        p->ep = NULL;
    else if (p->ep)
        endpoint_close(p->ep);
}

static void failed(struct sc_proxy_dial *p, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void failed(struct sc_proxy_dial *p, int err, const char *fmt, ...)
{
    char why[300], text[sizeof(why) + sizeof(p->name) + 4];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (why[0])
        snprintf(text, sizeof(text), "%s: %s", p->name, why);
    else
        snprintf(text, sizeof(text), "%s", p->name);
    finish(p, false);
    p->on_done(p->data, NULL, err, text);
}

static void send_bytes(struct sc_proxy_dial *p, const void *bytes, int len)
{
    struct sc_chunk *chunk;
    int rc;

    if (len < 0) {
        failed(p, 0, "request too long for the protocol (a name or credentials)");
        return;
    }
    chunk = chunk_copy(bytes, (size_t)len);
    if (!chunk) {
        failed(p, UV_ENOMEM, "%s", "");
        return;
    }
    rc = endpoint_write(p->ep, chunk);
    chunk_unref(chunk);
    if (rc == 0)
        rc = endpoint_read_start(p->ep);
    if (rc < 0)
        failed(p, rc, "%s", "");
}

/* The host the proxy is asked for: the name, or the address we found. */
static const char *target_host(const struct sc_proxy_dial *p)
{
    return p->family ? p->addr_text : p->opts->host;
}

static void send_request(struct sc_proxy_dial *p)
{
    const struct sc_opts *o = p->opts;
    unsigned char req[600];
    int n;

    switch (o->proxy_type) {
    case SC_PROXY_HTTP:
        p->stage = STAGE_HTTP;
        n = proxy_http_request((char *)req, sizeof(req), target_host(p), o->port, o->proxy_auth);
        break;
    case SC_PROXY_SOCKS4:
    case SC_PROXY_SOCKS4A:
        p->stage = STAGE_SOCKS4;
        n = proxy_socks4_request(req, sizeof(req), p->family == 4 ? p->addr : NULL, o->host,
                                 o->port, o->proxy_auth);
        break;
    default:
        p->stage = STAGE_SOCKS5_METHOD;
        n = proxy_socks5_greeting(req, sizeof(req), o->proxy_auth != NULL);
        break;
    }
    send_bytes(p, req, n);
}

static void send_socks5_connect(struct sc_proxy_dial *p)
{
    unsigned char req[300];

    p->stage = STAGE_SOCKS5_CONNECT;
    send_bytes(p, req, proxy_socks5_connect_request(req, sizeof(req), p->family, p->addr,
                                                    p->opts->host, p->opts->port));
}

static void on_resolved(void *data, int status, struct addrinfo *res)
{
    struct sc_proxy_dial *p = data;
    const struct addrinfo *ai = res;

    p->lookup = NULL;
    /* SOCKS4 carries an IPv4 address only. */
    while (ai && p->opts->proxy_type == SC_PROXY_SOCKS4 && ai->ai_family != AF_INET)
        ai = ai->ai_next;
    if (status < 0 || !ai) {
        char host[NET_HOST_PORT_SIZE];
        snprintf(host, sizeof(host), "%s", p->opts->host);
        if (res)
            freeaddrinfo(res);
        failed(p, status < 0 ? status : 0, "resolve %s%s", host,
               status < 0 ? "" : ": no IPv4 address, which SOCKS4 needs");
        return;
    }
    if (ai->ai_family == AF_INET) {
        p->family = 4;
        memcpy(p->addr, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
    } else {
        p->family = 6;
        memcpy(p->addr, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
    }
    inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, p->addr_text, sizeof(p->addr_text));
    freeaddrinfo(res);
    send_request(p);
}

static void on_kick(uv_timer_t *timer)
{
    struct sc_proxy_dial *p = timer->data;
    const struct sc_opts *o = p->opts;
    int rc;

    if (o->proxy_dns_remote) {
        send_request(p);
        return;
    }
    p->stage = STAGE_RESOLVING;
    rc = net_lookup_start(p->loop, &p->lookup, o->host,
                          o->proxy_type == SC_PROXY_SOCKS4 ? AF_INET : o->family, o->numeric,
                          false, on_resolved, p);
    if (rc < 0)
        failed(p, rc, "resolve %s", o->host);
}

/* Success: the rest of the buffer is the server's, read back first. */
static void tunnel_open(struct sc_proxy_dial *p, size_t used)
{
    struct sc_endpoint *ep = p->ep;
    size_t rest = p->len - used;

    endpoint_read_stop(ep);
    /* The conversation's figures start here, not with the proxy's handshake. */
    ep->bytes_read = 0;
    ep->bytes_written = 0;
    if (rest > 0 || p->more_len > 0) {
        struct sc_endpoint *wrapped = prefix_endpoint_new(p->loop, ep, p->buf + used, rest,
                                                          p->more, p->more_len);
        if (!wrapped) {
            failed(p, UV_ENOMEM, "%s", "");
            return;
        }
        sc_verbose(2, "%s: %zu B from the server came with the answer", p->name,
                   rest + p->more_len);
        ep = wrapped;
    }
    finish(p, true);
    p->on_done(p->data, ep, 0, NULL);
}

/* Drops an answer that was handled; what follows it stays. */
static void consume(struct sc_proxy_dial *p, size_t used)
{
    memmove(p->buf, p->buf + used, p->len - used);
    p->len -= used;
}

static void on_http(struct sc_proxy_dial *p)
{
    char reason[128];
    size_t used = 0;
    int status = 0;

    switch (proxy_http_parse((const char *)p->buf, p->len, &used, &status, reason,
                             sizeof(reason))) {
    case PROXY_MORE: return;
    case PROXY_OK: tunnel_open(p, used); return;
    case PROXY_REFUSED: failed(p, 0, "HTTP %s", reason); return;
    default: failed(p, 0, "not an HTTP proxy's answer"); return;
    }
}

static void on_socks4(struct sc_proxy_dial *p)
{
    size_t used = 0;
    int code = 0;

    switch (proxy_socks4_parse(p->buf, p->len, &used, &code)) {
    case PROXY_MORE: return;
    case PROXY_OK: tunnel_open(p, used); return;
    case PROXY_REFUSED: failed(p, 0, "SOCKS4 %d: %s", code, proxy_socks4_text(code)); return;
    default: failed(p, 0, "not a SOCKS4 proxy's answer"); return;
    }
}

static void on_socks5_method(struct sc_proxy_dial *p)
{
    unsigned char req[600];
    size_t used = 0;
    int method = 0;

    switch (proxy_socks5_parse_method(p->buf, p->len, &used, &method)) {
    case PROXY_MORE: return;
    case PROXY_REFUSED:
        failed(p, 0, "SOCKS5: no acceptable authentication method%s",
               p->opts->proxy_auth ? "" : " (does it want --proxy-auth?)");
        return;
    case PROXY_MALFORMED: failed(p, 0, "not a SOCKS5 proxy's answer"); return;
    }
    consume(p, used);
    if (method == 0) {
        send_socks5_connect(p);
        return;
    }
    if (!p->opts->proxy_auth) {
        failed(p, 0, "SOCKS5: the proxy asks for a user and password (--proxy-auth)");
        return;
    }
    p->stage = STAGE_SOCKS5_AUTH;
    send_bytes(p, req, proxy_socks5_auth_request(req, sizeof(req), p->opts->proxy_auth));
}

static void on_socks5_auth(struct sc_proxy_dial *p)
{
    size_t used = 0;
    int status = 0;

    switch (proxy_socks5_parse_auth(p->buf, p->len, &used, &status)) {
    case PROXY_MORE: return;
    case PROXY_REFUSED: failed(p, 0, "SOCKS5: user or password refused"); return;
    case PROXY_MALFORMED: failed(p, 0, "not a SOCKS5 proxy's answer"); return;
    }
    consume(p, used);
    send_socks5_connect(p);
}

static void on_socks5_connect(struct sc_proxy_dial *p)
{
    size_t used = 0;
    int code = 0;

    switch (proxy_socks5_parse_connect(p->buf, p->len, &used, &code)) {
    case PROXY_MORE: return;
    case PROXY_OK: tunnel_open(p, used); return;
    case PROXY_REFUSED: failed(p, 0, "SOCKS5 %d: %s", code, proxy_socks5_text(code)); return;
    default: failed(p, 0, "not a SOCKS5 proxy's answer"); return;
    }
}

static void ep_data(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct sc_proxy_dial *p = ep->owner;
    size_t room = sizeof(p->buf) - p->len;
    size_t got = chunk->len, take = got < room ? got : room;

    memcpy(p->buf + p->len, chunk->data, take);
    p->len += take;
    /* Bytes past buf are the server's once the answer is complete in buf. */
    p->more = chunk->data + take;
    p->more_len = got - take;
    switch (p->stage) {
    case STAGE_HTTP: on_http(p); break;
    case STAGE_SOCKS4: on_socks4(p); break;
    case STAGE_SOCKS5_METHOD: on_socks5_method(p); break;
    case STAGE_SOCKS5_AUTH: on_socks5_auth(p); break;
    case STAGE_SOCKS5_CONNECT: on_socks5_connect(p); break;
    default: failed(p, 0, "spoke before it was asked"); break;
    }
    /* Still waiting for the answer with buf full: it is no proxy's answer. */
    if (!p->finished && p->more_len > 0)
        failed(p, 0, "answer too long");
    p->more = NULL;
    p->more_len = 0;
    chunk_unref(chunk);
}

static void ep_eof(struct sc_endpoint *ep)
{
    failed(ep->owner, 0, "closed the connection before answering");
}

static void ep_read_error(struct sc_endpoint *ep, int err)
{
    failed(ep->owner, err, "%s", "");
}

static void ep_written(struct sc_endpoint *ep, size_t len, int status)
{
    (void)len;
    if (status < 0 && status != UV_ECANCELED)
        failed(ep->owner, status, "%s", "");
}

static void ep_ended(struct sc_endpoint *ep, int status)
{
    (void)ep, (void)status;
}

static void ep_closed(struct sc_endpoint *ep)
{
    struct sc_proxy_dial *p = ep->owner;

    free(ep);
    p->ep_closed = true;
    maybe_free(p);
}

static const struct sc_endpoint_events proxy_events = {
    .on_data = ep_data,
    .on_eof = ep_eof,
    .on_read_error = ep_read_error,
    .on_written = ep_written,
    .on_ended = ep_ended,
    .on_closed = ep_closed,
};

struct sc_proxy_dial *proxy_dial_start(uv_loop_t *loop, const struct sc_opts *opts,
                                       struct sc_endpoint *ep, sc_proxy_done_cb on_done,
                                       void *data)
{
    struct sc_proxy_dial *p = calloc(1, sizeof(*p));

    if (!p) {
        endpoint_close(ep);
        return NULL;
    }
    p->loop = loop;
    p->opts = opts;
    p->ep = ep;
    p->on_done = on_done;
    p->data = data;
    memcpy(p->name, "proxy ", 6);
    net_host_port(p->name + 6, sizeof(p->name) - 6, opts->proxy_host, opts->proxy_port);
    ep->events = &proxy_events;
    ep->owner = p;
    uv_timer_init(loop, &p->kick);
    p->kick.data = p;
    uv_timer_start(&p->kick, on_kick, 0, 0);
    return p;
}

void proxy_dial_abort(struct sc_proxy_dial *p)
{
    if (!p->finished)
        finish(p, false);
}
