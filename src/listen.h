/*
 * listen: bind every address HOST names (or the dual-stack wildcard), accept
 * clients and hand them to the hub. One-shot stops listening after the first
 * client it accepts; keep-open goes on, within --max-conns and the
 * --allow/--deny lists, and rides out running out of descriptors.
 */
#ifndef SOCKCAT_LISTEN_H
#define SOCKCAT_LISTEN_H

#include <stdbool.h>
#include <uv.h>

#include "hub.h"

#define SC_MAX_LISTENERS 8

struct sc_listener;

struct sc_listen {
    struct sc_hub *hub;
    const struct sc_opts *opts;
    uv_getaddrinfo_t resolver;
    struct sc_listener *servers[SC_MAX_LISTENERS];
    size_t count;
    bool resolving;
    bool closed;
    uint64_t last_fd_warning_ns;
};

/* Starts listening (maybe after resolving); failures end the hub. */
int listen_start(struct sc_listen *l, struct sc_hub *hub);

/* Stops accepting and closes the listening sockets. */
void listen_close(struct sc_listen *l);

#endif
