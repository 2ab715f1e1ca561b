/*
 * listen: bind every address HOST names (or the dual-stack wildcard), accept
 * clients and hand them to the hub. One-shot stops listening after the first
 * client it accepts; keep-open goes on, within --max-conns and the
 * --allow/--deny lists. Near the descriptor limit it stops accepting and
 * lets new clients wait in the kernel's queue until a client leaves, rather
 * than have accept() fail (which makes libuv drop the waiting clients).
 */
#ifndef SOCKCAT_LISTEN_H
#define SOCKCAT_LISTEN_H

#include <stdbool.h>
#include <uv.h>

#include "hub.h"
#include "net.h"

#define SC_MAX_LISTENERS 8

struct sc_listener;

struct sc_listen {
    struct sc_hub *hub;
    const struct sc_opts *opts;
    struct net_lookup *lookup;  /* while resolving HOST */
    struct sc_listener *servers[SC_MAX_LISTENERS];
    size_t count;
    unsigned bound_port;       /* the port the first listener got */
    size_t client_budget;      /* clients that fit under the descriptor limit */
    bool closed;
    uint64_t last_fd_warning_ns;
};

/* Starts listening (maybe after resolving); failures end the hub. */
int listen_start(struct sc_listen *l, struct sc_hub *hub);

/* A client has gone: accept those that waited for a free descriptor. */
void listen_resume(struct sc_listen *l);

/* Stops accepting and closes the listening sockets. */
void listen_close(struct sc_listen *l);

#endif
