/*
 * proxy_dial: the step of dialing that asks a proxy (--proxy) for a tunnel
 * to HOST PORT over a connection to it: HTTP CONNECT, SOCKS4, SOCKS4a or
 * SOCKS5, with --proxy-auth and --proxy-dns. The requests and the parsing
 * of the answers are in proxy.c; this drives them on the loop. Bytes the
 * server sent right behind the proxy's answer are read back first from
 * the endpoint handed on: none is lost.
 */
#ifndef SOCKCAT_PROXY_DIAL_H
#define SOCKCAT_PROXY_DIAL_H

#include <uv.h>

#include "cli.h"
#include "endpoint.h"

struct sc_proxy_dial;

/*
 * Called once. Done: `ep` is the tunnel (owned by nobody: set its events).
 * Failed: ep NULL, `text` the failed step ("proxy 127.0.0.1 3128: HTTP 403
 * Forbidden") and `err` a libuv error or 0 when the text says it all.
 */
typedef void (*sc_proxy_done_cb)(void *data, struct sc_endpoint *ep, int err, const char *text);

/* Starts the handshake over `ep`, connected to the proxy; NULL: out of memory (ep is closed). */
struct sc_proxy_dial *proxy_dial_start(uv_loop_t *loop, const struct sc_opts *opts,
                                       struct sc_endpoint *ep, sc_proxy_done_cb on_done,
                                       void *data);

/* Gives up: closes the connection, no callback. */
void proxy_dial_abort(struct sc_proxy_dial *p);

#endif
