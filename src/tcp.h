/*
 * tcp: the TCP stream endpoint that dial and accept make. Until whoever
 * takes it sets its events and owner, it ignores everything and frees
 * itself when closed, so a failed attempt or a refused client is just
 * endpoint_close()d.
 */
#ifndef SOCKCAT_TCP_H
#define SOCKCAT_TCP_H

#include <uv.h>

#include "endpoint.h"

/* What a socket endpoint nobody has taken yet does with its events:
 * nothing, and frees itself once closed (so the endpoint must be the first
 * member of what was allocated). Every socket kind starts so. */
extern const struct sc_endpoint_events socket_unowned_events;

/* Initialises the handle in `sep->u`; 0 or a libuv error. */
typedef int stream_handle_init(uv_loop_t *loop, struct sc_stream_endpoint *sep);

/* An unowned socket endpoint (ending with shutdown) whose handle `init`
 * initialises; NULL with *err set on failure. */
struct sc_endpoint *unowned_stream_new(uv_loop_t *loop, stream_handle_init *init, int *err);

/* An endpoint with an initialised TCP handle; NULL with *err set on failure. */
struct sc_endpoint *tcp_endpoint_new(uv_loop_t *loop, int *err);

/* The handle inside, for connect, bind, accept and socket options. */
uv_tcp_t *tcp_endpoint_handle(struct sc_endpoint *ep);

#endif
