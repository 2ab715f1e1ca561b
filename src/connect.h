/*
 * connect: resolve HOST, then try each address in turn until one answers;
 * the connected socket joins the hub as its peer.
 */
#ifndef SOCKCAT_CONNECT_H
#define SOCKCAT_CONNECT_H

#include <stdbool.h>
#include <uv.h>

#include "hub.h"
#include "net.h"

struct sc_connector {
    struct sc_hub *hub;
    const struct sc_opts *opts;
    struct net_lookup *lookup;  /* while resolving */
    uv_connect_t request;
    uv_timer_t deadline;       /* -w */
    struct addrinfo *addresses;
    struct addrinfo *next;
    struct sc_peer *attempt;   /* the socket being connected */
    char attempt_name[NET_NAME_SIZE];
    char target[NET_HOST_PORT_SIZE];  /* "HOST PORT" as given, for messages */
    int last_error;
    int skipped_family;        /* an address -s could not reach, or 0 */
    bool done;
};

/* Starts connecting; failures end the hub with the error. 0 or a libuv error. */
int connector_start(struct sc_connector *c, struct sc_hub *hub);

/* Stops whatever is under way and closes the connector's handles. */
void connector_close(struct sc_connector *c);

#endif
