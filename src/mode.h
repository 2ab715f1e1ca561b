/*
 * mode: what sockcat does with its command line, as rows of one table.
 * Each row says how to start (dial or listen), what to do with each
 * endpoint the dialer or acceptor hands back, what to do when a peer has
 * gone, how to stop taking new peers and how to close. A new mode (a
 * broker, a port probe) is a new row, not a new branch in main.c.
 */
#ifndef SOCKCAT_MODE_H
#define SOCKCAT_MODE_H

#include <stdbool.h>
#include <uv.h>

#include "accept.h"
#include "cli.h"
#include "conv.h"
#include "counters.h"
#include "dial.h"
#include "exec.h"
#include "probe.h"
#include "stats.h"
#include "transform.h"
#include "udp.h"

struct sc_tls;
struct sc_tls_accept;

/* Everything one run of sockcat holds. */
struct sc_session {
    uv_loop_t loop;
    struct sc_opts opts;
    struct sc_counters counters;
    struct sc_conv conv;
    struct sc_dialer dialer;
    struct sc_acceptor acceptor;
    struct sc_udp_service udp;
    struct sc_exec_service exec;   /* -e, -c: a program for each peer */
    struct sc_probe probe;          /* connect -z */
    struct sc_transform transform;  /* -C, -x, -o */
    struct sc_progress progress;
    const struct sc_mode_ops *mode;
    struct sc_tls *tls;                   /* listen --ssl */
    struct sc_tls_accept *tls_accepting;  /* clients whose handshake runs */
};

struct sc_mode_ops {
    const char *name;
    enum sc_mode_kind { SC_KIND_CONNECT, SC_KIND_LISTEN } kind;
    bool keep_open;
    bool datagram;            /* -u */
    /* Starts dialing or listening; results come through the conversation. */
    void (*start)(struct sc_session *s);
    /* A connected endpoint: the dialer's or a new client. */
    void (*on_endpoint)(struct sc_session *s, struct sc_endpoint *ep, const char *name);
    /* A peer has closed: its descriptor is free again. */
    void (*on_peer_gone)(struct sc_session *s);
    /* Stopping: take no new peers while stdout is flushed. */
    void (*stop)(struct sc_session *s);
    /* The conversation is over: close the dialer's or acceptor's handles. */
    void (*close)(struct sc_session *s);
};

/* The row for the parsed options. */
const struct sc_mode_ops *mode_for(const struct sc_opts *opts);

#endif
