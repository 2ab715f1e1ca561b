/*
 * accept: bind every address HOST names (or the dual-stack wildcard, or
 * -U's socket file, which it removes when it stops listening) and
 * hand each client that passes --allow/--deny and --max-conns to a
 * callback as an endpoint. It knows nothing of what the caller does with
 * it. Near the descriptor limit it stops accepting and lets new clients
 * wait in the kernel's queue until a client leaves, rather than have
 * accept() fail (which makes libuv drop the waiting clients).
 */
#ifndef SOCKCAT_ACCEPT_H
#define SOCKCAT_ACCEPT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cli.h"
#include "endpoint.h"
#include "net.h"
#include "unix.h"

#define SC_MAX_LISTENERS 8

struct sc_listener;
struct sc_acceptor;

/* A client: `ep` is now the callee's (set its events, close it when done);
 * `name` is printable ("ADDR PORT", or "pid P uid U on PATH" with -U). Call acceptor_client_gone() once it
 * has closed, so that its descriptor counts as free again. */
typedef void (*sc_accept_cb)(struct sc_acceptor *a, struct sc_endpoint *ep, const char *name);

/* Listening failed: `what` is the failed step ("listen on HOST PORT"). */
typedef void (*sc_accept_fail_cb)(struct sc_acceptor *a, int err, const char *what);

struct sc_acceptor {
    uv_loop_t *loop;
    const struct sc_opts *opts;
    sc_accept_cb on_client;
    sc_accept_fail_cb on_failed;
    void *data;
    struct net_lookup *lookup;  /* while resolving HOST */
    struct sc_listener *servers[SC_MAX_LISTENERS];
    size_t count;
    unsigned bound_port;       /* the port the first listener got */
    size_t clients;            /* handed out and not yet gone */
    size_t client_budget;      /* clients that fit under the descriptor limit */
    /* What -m counts: clients still sending (set by the caller after
     * acceptor_start); NULL counts every client not yet gone. */
    size_t (*slots_held)(const struct sc_acceptor *a);
    bool closed;
    uint64_t last_fd_warning_ns;
    struct sc_unix_file unix_file;   /* -U: the socket file to remove */
    char what[SC_NAME_MAX + 32];     /* a path (-U) or "HOST PORT" */
};

/* Starts listening (maybe after resolving) as `opts` say. */
void acceptor_start(struct sc_acceptor *a, uv_loop_t *loop, const struct sc_opts *opts,
                    sc_accept_cb on_client, sc_accept_fail_cb on_failed, void *data);

/* A client handed out has closed: accept those that waited for a descriptor. */
void acceptor_client_gone(struct sc_acceptor *a);

/* Stops accepting and closes the listening sockets. */
void acceptor_close(struct sc_acceptor *a);

#endif
