#include "net.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned net_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

void net_set_port(struct sockaddr *sa, unsigned port)
{
    if (sa->sa_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
    else if (sa->sa_family == AF_INET6)
        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
}

bool net_same_address(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
        const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)b;
        return a6->sin6_scope_id == b6->sin6_scope_id &&
               memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0;
    }
    return false;
}

const char *net_family_name(int family)
{
    return family == AF_INET6 ? "IPv6" : family == AF_INET ? "IPv4" : "unknown";
}

void net_format(const struct sockaddr *sa, char *out, size_t size)
{
    char addr[INET6_ADDRSTRLEN] = "?";
    char zone[IF_NAMESIZE + 1] = "";

    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof(addr));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sa6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&sa6->sin6_addr))
            inet_ntop(AF_INET, &sa6->sin6_addr.s6_addr[12], addr, sizeof(addr));
        else
            inet_ntop(AF_INET6, &sa6->sin6_addr, addr, sizeof(addr));
        /* A link-local address means nothing without its interface. */
        if (sa6->sin6_scope_id != 0) {
            char ifname[IF_NAMESIZE];
            if (if_indextoname(sa6->sin6_scope_id, ifname))
                snprintf(zone, sizeof(zone), "%%%s", ifname);
            else
                snprintf(zone, sizeof(zone), "%%%u", (unsigned)sa6->sin6_scope_id);
        }
    }
    snprintf(out, size, "%s%s %u", addr, zone, net_port(sa));
}

void net_host_port(char *out, size_t size, const char *host, unsigned port)
{
    char tail[8];
    size_t tail_len = (size_t)snprintf(tail, sizeof(tail), " %u", port);
    size_t host_len = strlen(host);

    if (size == 0)
        return;
    /* It fits; or the room is too small even for "..." and the port:
     * then whatever fits of the start (no caller gives so little). */
    if (host_len + tail_len < size || size < tail_len + 4) {
        snprintf(out, size, "%s%s", host, tail);
        return;
    }
    /* Keep both ends of the host, which tell names apart best. */
    size_t room = size - 1 - tail_len - 3;
    size_t head = room / 2, end = room - head;
    snprintf(out, size, "%.*s...%s%s", (int)head, host, host + host_len - end, tail);
}

int net_parse_numeric(const char *text, unsigned port, struct sockaddr_storage *out)
{
    struct addrinfo hints, *res;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    /* getaddrinfo, unlike inet_pton, understands "fe80::1%eth0". */
    rc = getaddrinfo(text, NULL, &hints, &res);
    if (rc != 0)
        return UV_EINVAL;
    memset(out, 0, sizeof(*out));
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    net_set_port((struct sockaddr *)out, port);
    return 0;
}

/* ---- look-ups that sockcat need not wait for ---- */

struct net_lookup {
    uv_getaddrinfo_t req;    /* in libuv's thread pool */
    net_lookup_cb cb;
    void *data;
    bool abandoned;
    bool stuck;              /* abandoned while getaddrinfo was running */
};

/* Abandoned look-ups whose getaddrinfo(3) is still running. */
static unsigned stuck_lookups;

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct net_lookup *l = req->data;

    if (l->abandoned) {
        if (l->stuck)
            stuck_lookups--;
        if (res)
            uv_freeaddrinfo(res);
        free(l);
        return;
    }
    l->cb(l->data, status, res);
    free(l);
}

int net_lookup_start(uv_loop_t *loop, struct net_lookup **lookup, const char *host,
                     int family, bool numeric, bool passive, net_lookup_cb cb, void *data)
{
    struct net_lookup *l = calloc(1, sizeof(*l));
    struct addrinfo hints;
    int rc;

    if (!l)
        return UV_ENOMEM;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = (numeric ? AI_NUMERICHOST : 0) | (passive ? AI_PASSIVE : 0);
    l->cb = cb;
    l->data = data;
    l->req.data = l;
    rc = uv_getaddrinfo(loop, &l->req, on_resolved, host, NULL, &hints);
    if (rc < 0) {
        free(l);
        return rc;
    }
    *lookup = l;
    return 0;
}

void net_lookup_abandon(struct net_lookup *l)
{
    l->abandoned = true;
    /* Not started yet: its callback comes at once with UV_ECANCELED. */
    if (uv_cancel((uv_req_t *)&l->req) == 0)
        return;
    l->stuck = true;
    stuck_lookups++;
}

bool net_lookups_stuck(void)
{
    return stuck_lookups > 0;
}
