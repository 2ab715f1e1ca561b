/*
 * net: small address helpers shared by connect and listen.
 */
#ifndef SOCKCAT_NET_H
#define SOCKCAT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

/* "ADDR PORT" for a socket address; IPv4-mapped IPv6 shown as IPv4. */
void net_format(const struct sockaddr *sa, char *out, size_t size);

/* The port of a socket address. */
unsigned net_port(const struct sockaddr *sa);

/* Sets the port of an IPv4 or IPv6 socket address. */
void net_set_port(struct sockaddr *sa, unsigned port);

/*
 * net_resolve()
 * Starts looking up a TCP host: `family` from -4/-6, `numeric` from -n,
 * `passive` for addresses to bind. Returns 0 or a libuv error.
 */
int net_resolve(uv_loop_t *loop, uv_getaddrinfo_t *req, uv_getaddrinfo_cb cb,
                const char *host, int family, bool numeric, bool passive);

#endif
