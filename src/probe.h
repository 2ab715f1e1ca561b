/*
 * probe: the port probe (connect -z). Resolves HOST once, then tries every
 * port of the list, a bounded number at a time, each for at most -w:
 * - TCP: a connection is attempted and, if it succeeds, closed at once
 *   with a normal close (a FIN, never a reset from us); no data is sent.
 *   Accepted: open; refused: closed; no answer within -w: timed out.
 * - UDP (-u): one empty datagram on a connected socket. An ICMP port
 *   unreachable within -w (the socket reads ECONNREFUSED): closed; a
 *   reply: open; silence: open|filtered.
 * Results come out in port order however the probes finish: open ports
 * as "HOST PORT open" on stdout (through the conversation's stdout pump),
 * the others with their reason on stderr under -v. The conversation is
 * then stopped with status 0 if any port is open (or open|filtered), 1 if
 * none is.
 */
#ifndef SOCKCAT_PROBE_H
#define SOCKCAT_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "cli.h"
#include "net.h"

struct sc_conv;
struct sc_probe_slot;

/* Probes in flight at most, whatever the descriptor limit allows. */
#define SC_PROBE_MAX_IN_FLIGHT 256

/* -w for -z when none is given, in seconds. */
#define SC_PROBE_DEFAULT_WAIT 1.0

struct sc_probe {
    uv_loop_t *loop;
    const struct sc_opts *opts;
    struct sc_conv *conv;
    struct net_lookup *lookup;
    struct sockaddr_storage target;
    int32_t *result;              /* by port: 0 pending, else a probe_result value */
    struct sc_probe_slot *slots;
    unsigned slot_count;
    unsigned live_handles;        /* handles not yet closed */
    unsigned next_port;           /* the next port to probe, 0 when all started */
    unsigned print_port;          /* the next port to report, 0 when all reported */
    unsigned in_flight;
    unsigned open_count;
    bool stopped;
    bool closing;
};

/* How many probes may be in flight under the descriptor limit. */
unsigned probe_concurrency(void);

/* Starts probing as `opts` say; the results and the end go to `conv`. */
void probe_start(struct sc_probe *p, uv_loop_t *loop, const struct sc_opts *opts,
                 struct sc_conv *conv);

/* Starts no more probes and abandons those under way. */
void probe_stop(struct sc_probe *p);

/* Closes every handle; the memory goes with the last one. */
void probe_close(struct sc_probe *p);

#endif
