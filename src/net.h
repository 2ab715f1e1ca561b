/*
 * net: small address helpers shared by connect and listen.
 */
#ifndef SOCKCAT_NET_H
#define SOCKCAT_NET_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

/* Room for "ADDR%ZONE PORT" as net_format writes it. */
#define NET_NAME_SIZE (INET6_ADDRSTRLEN + IF_NAMESIZE + 8)

/*
 * Room for "HOST PORT" as net_host_port writes it: small enough that a
 * message around it keeps its reason, large enough for any real host.
 */
#define NET_HOST_PORT_SIZE 160

/* "ADDR PORT" for a socket address ("ADDR%ZONE PORT" for a scoped IPv6
 * address); IPv4-mapped IPv6 shown as IPv4. */
void net_format(const struct sockaddr *sa, char *out, size_t size);

/* "HOST PORT" for messages; the middle of a very long host is elided as
 * "..." so that the port is never lost. */
void net_host_port(char *out, size_t size, const char *host, unsigned port);

/* The port of a socket address. */
unsigned net_port(const struct sockaddr *sa);

/* Sets the port of an IPv4 or IPv6 socket address. */
void net_set_port(struct sockaddr *sa, unsigned port);

/* True when two socket addresses name the same address, whatever their ports. */
bool net_same_address(const struct sockaddr *a, const struct sockaddr *b);

/* "IPv4" or "IPv6", for messages. */
const char *net_family_name(int family);

/*
 * net_parse_numeric()
 * Parses a numeric IPv4 or IPv6 address, with a zone ("fe80::1%eth0") for
 * link-local IPv6, into `out` with the given port. 0 or a libuv error.
 */
int net_parse_numeric(const char *text, unsigned port, struct sockaddr_storage *out);

/*
 * A name being looked up, in libuv's thread pool. A running getaddrinfo(3)
 * cannot be interrupted: a look-up abandoned then (-w expired, a signal) is
 * "stuck", and must not hold sockcat up. The loop stops waiting for it once
 * nothing else is left (net_lookups_stuck), and the process ends without
 * the thread pool being joined (libuv joins it at exit, which would wait
 * for the look-up).
 */
struct net_lookup;

/* `status` is 0 or a libuv error; `res` is the caller's to free with
 * freeaddrinfo(3) (NULL on error). Never called after net_lookup_abandon. */
typedef void (*net_lookup_cb)(void *data, int status, struct addrinfo *res);

/*
 * net_lookup_start()
 * Starts looking up a TCP host: `family` from -4/-6, `numeric` from -n,
 * `passive` for addresses to bind. Sets *lookup and returns 0, or returns a
 * libuv error. The callback comes from the loop.
 */
int net_lookup_start(uv_loop_t *loop, struct net_lookup **lookup, const char *host,
                     int family, bool numeric, bool passive, net_lookup_cb cb, void *data);

/* Gives up on a look-up whose callback has not come: it never will. */
void net_lookup_abandon(struct net_lookup *lookup);

/* True while an abandoned look-up is still running in the thread pool. */
bool net_lookups_stuck(void);

#endif
