/*
 * udp: datagram endpoints, and the dialing and listening that make them.
 *
 * A UDP peer is an endpoint like any other: each chunk written is sent as
 * datagrams of at most the largest size IP allows (65 507 bytes over IPv4,
 * 65 527 over IPv6), each datagram received is one chunk, end() means only
 * "no more to send" (nothing goes on the wire), and an error the socket
 * reports (an ICMP port unreachable: ECONNREFUSED) ends its reading.
 *
 * - connect -u: a socket connected to HOST PORT, one peer;
 * - listen -u: the first sender becomes the peer and the socket is
 *   connected to it; datagrams from anyone else are ignored and counted;
 * - listen -u -k: every sender is a client, found by its address in a hash
 *   table on the one socket; --allow/--deny apply per sender and -m (or a
 *   default cap) bounds the table. A broadcast datagram that the socket
 *   cannot take now is dropped and counted, never queued without bound.
 *
 * - -U -u: the same over a Unix datagram socket made and bound here (PATH,
 *   @NAME, or for connect -s PATH or a kernel-picked abstract name, so that
 *   replies can reach it) and handed to libuv to read; its datagrams are
 *   sent here, with each address's own length. A sender with no address
 *   (unbound) is heard but cannot be answered: what is for it is dropped.
 *
 * Peers share their socket by reference; a listening socket stays open as
 * long as the service or one of its clients uses it.
 */
#ifndef SOCKCAT_UDP_H
#define SOCKCAT_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cli.h"
#include "endpoint.h"
#include "unix.h"

#define SC_UDP_MAX_SOCKETS 8

/* The largest UDP payloads: 65 535 less the IP and UDP headers. */
#define SC_UDP_MAX_PAYLOAD_V4 65507
#define SC_UDP_MAX_PAYLOAD_V6 65527

/* listen -u -k without -m: how many senders are remembered at most. */
#define SC_UDP_DEFAULT_MAX_CLIENTS 4096

/* Bytes a -k broadcast may have waiting for the socket before it drops. */
#define SC_UDP_BROADCAST_QUEUE_MAX (1024 * 1024)

struct sc_udp_socket;
struct sc_udp_peer;
struct sc_udp_service;

/* A peer: `ep` is now the callee's (set its events, close it when done). */
typedef void (*sc_udp_peer_cb)(struct sc_udp_service *svc, struct sc_endpoint *ep,
                               const char *name);

/* Dialing or binding failed: `what` is the failed step. */
typedef void (*sc_udp_fail_cb)(struct sc_udp_service *svc, int err, const char *what);

struct sc_udp_service {
    uv_loop_t *loop;
    const struct sc_opts *opts;
    sc_udp_peer_cb on_peer;
    sc_udp_fail_cb on_failed;
    void *data;
    struct net_lookup *lookup; /* while resolving HOST */
    bool stopped;              /* takes no new peers */
    bool closed;
    bool demux;                /* listen -k: every sender is a client */
    struct sc_udp_socket *socks[SC_UDP_MAX_SOCKETS];
    size_t count;
    unsigned bound_port;
    /* listen -k: the clients by sender address (chained buckets) */
    struct sc_udp_peer **table;
    size_t table_size;
    size_t clients;
    size_t max_clients;
    /* What -v reports at the end. */
    uint64_t ignored;          /* one-shot: datagrams from other senders */
    uint64_t denied;           /* from senders --allow/--deny refuse */
    uint64_t over_cap;         /* from new senders over -m */
    uint64_t send_drops;       /* broadcast datagrams the socket could not take */
    uint64_t unreachable_drops; /* -U: datagrams for unbound senders */
    struct sc_unix_file unix_file; /* -U: the socket file we made, to remove */
    char what[SC_NAME_MAX + 32];
};

/* connect -u: resolve, then connect a UDP socket to the first address that takes it. */
void udp_dial_start(struct sc_udp_service *svc, uv_loop_t *loop, const struct sc_opts *opts,
                    sc_udp_peer_cb on_peer, sc_udp_fail_cb on_failed, void *data);

/* listen -u (and -k): bind every address HOST names, or the dual-stack wildcard. */
void udp_listen_start(struct sc_udp_service *svc, uv_loop_t *loop, const struct sc_opts *opts,
                      sc_udp_peer_cb on_peer, sc_udp_fail_cb on_failed, void *data);

/* Take no new peers; the peers already handed out go on. */
void udp_service_stop(struct sc_udp_service *svc);

/* Stops, reports the counts (-v) and frees what no peer still uses. */
void udp_service_close(struct sc_udp_service *svc);

#endif
