/*
 * dial: resolve HOST, then race its addresses the Happy Eyeballs way
 * (RFC 8305): families interleaved, a new attempt every 250 ms while none
 * has answered (at once when one fails), the first to connect wins and
 * the others are cancelled. -s/-p bind the local end first (with -p the
 * attempts go one at a time: one port cannot be bound twice); -w bounds
 * the whole. Or connect to -U's socket path. The
 * connected socket is handed back as an endpoint; dial knows nothing of
 * what the caller does with it. With --proxy the connection goes to the
 * proxy, which is asked for HOST PORT; with --ssl the endpoint handed back
 * speaks TLS, its handshake done. -w bounds all of it.
 */
#ifndef SOCKCAT_DIAL_H
#define SOCKCAT_DIAL_H

#include <stdbool.h>
#include <uv.h>

#include "cli.h"
#include "endpoint.h"
#include "net.h"

struct sc_dialer;
struct sc_dial_attempt;
struct sc_tls;
struct sc_proxy_dial;

/* How long an attempt has alone before the next one starts (RFC 8305). */
#define SC_DIAL_STAGGER_MS 250

/*
 * Called once. Connected: `ep` (now the callee's: set its events, close it
 * when done) and its printable `name`, err 0. Failed: ep NULL, err the
 * libuv error and `what` the failed step ("connect to HOST PORT"), or
 * err 0 and `what` the whole message (a mismatch of -s and HOST).
 */
typedef void (*sc_dial_cb)(struct sc_dialer *d, struct sc_endpoint *ep, const char *name,
                           int err, const char *what);

struct sc_dialer {
    uv_loop_t *loop;
    const struct sc_opts *opts;
    sc_dial_cb on_done;
    void *data;
    struct net_lookup *lookup;  /* while resolving */
    uv_timer_t deadline;       /* -w */
    uv_timer_t stagger;        /* starts the next attempt */
    struct addrinfo *addresses;
    struct addrinfo **order;   /* the addresses, families interleaved */
    size_t order_count;
    size_t order_next;
    struct sc_dial_attempt *attempts;  /* in flight */
    bool name_attempts;        /* -v: several addresses, so name each try */
    char target[NET_HOST_PORT_SIZE];  /* "HOST PORT" as given, for messages */
    char what[NET_HOST_PORT_SIZE + 128];  /* the step that failed */
    int last_error;
    int skipped_family;        /* an address -s could not reach, or 0 */
    bool done;
    /* The steps after connecting: a proxy's handshake, then TLS's. */
    const char *host;          /* what is dialed: HOST, or the proxy */
    unsigned port;
    struct sc_proxy_dial *proxy;   /* while the proxy answers */
    struct sc_tls *tls;            /* --ssl settings */
    struct sc_endpoint *handshake; /* while the TLS handshake runs */
    char peer[SC_NAME_MAX];    /* the name handed on: the address, or HOST PORT via a proxy */
};

/* Starts dialing as `opts` say; the result comes to `on_done`. */
void dialer_start(struct sc_dialer *d, uv_loop_t *loop, const struct sc_opts *opts,
                  sc_dial_cb on_done, void *data);

/* Stops whatever is under way and closes the dialer's handles. */
void dialer_close(struct sc_dialer *d);

#endif
