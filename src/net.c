#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
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
    if (host_len + tail_len < size) {
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

/* ---- look-ups on a thread nothing waits for ---- */

struct net_lookup {
    uv_async_t wake;         /* loop side: the answer is in */
    net_lookup_cb cb;
    void *data;
    char *host;
    struct addrinfo hints;
    /* Under `lookup_lock`: */
    int refs;                /* the loop side and the thread each hold one */
    bool abandoned;
    bool answered;
    int status;
    struct addrinfo *result;
};

/* One lock for every look-up: never freed, so never raced by a free. */
static pthread_mutex_t lookup_lock = PTHREAD_MUTEX_INITIALIZER;

/* getaddrinfo's EAI_ codes as libuv's, so messages read as before. */
static int lookup_error(int eai, int saved_errno)
{
    switch (eai) {
    case 0: return 0;
    case EAI_AGAIN: return UV_EAI_AGAIN;
    case EAI_BADFLAGS: return UV_EAI_BADFLAGS;
    case EAI_FAIL: return UV_EAI_FAIL;
    case EAI_FAMILY: return UV_EAI_FAMILY;
    case EAI_MEMORY: return UV_EAI_MEMORY;
    case EAI_NONAME: return UV_EAI_NONAME;
    case EAI_OVERFLOW: return UV_EAI_OVERFLOW;
    case EAI_SERVICE: return UV_EAI_SERVICE;
    case EAI_SOCKTYPE: return UV_EAI_SOCKTYPE;
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY: return UV_EAI_ADDRFAMILY;
#endif
#ifdef EAI_NODATA
    case EAI_NODATA: return UV_EAI_NODATA;
#endif
    case EAI_SYSTEM: return saved_errno > 0 ? -saved_errno : UV_EAI_FAIL;
    }
    return UV_EAI_FAIL;
}

static void lookup_free(struct net_lookup *l)
{
    if (l->result)
        freeaddrinfo(l->result);
    free(l->host);
    free(l);
}

/* Drops one reference; the last one frees the look-up. */
static void lookup_release(struct net_lookup *l)
{
    bool last;

    pthread_mutex_lock(&lookup_lock);
    last = --l->refs == 0;
    pthread_mutex_unlock(&lookup_lock);
    if (last)
        lookup_free(l);
}

static void *lookup_thread(void *arg)
{
    struct net_lookup *l = arg;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(l->host, NULL, &l->hints, &res);
    int status = lookup_error(rc, errno);

    pthread_mutex_lock(&lookup_lock);
    l->status = status;
    l->result = rc == 0 ? res : NULL;
    l->answered = true;
    /* An abandoned look-up has closed `wake`: it must not be touched. */
    if (!l->abandoned)
        uv_async_send(&l->wake);
    pthread_mutex_unlock(&lookup_lock);
    lookup_release(l);
    return NULL;
}

static void on_wake_closed(uv_handle_t *handle)
{
    lookup_release(handle->data);
}

static void on_wake(uv_async_t *wake)
{
    struct net_lookup *l = wake->data;
    struct addrinfo *res;
    int status;

    pthread_mutex_lock(&lookup_lock);
    if (!l->answered) {
        pthread_mutex_unlock(&lookup_lock);
        return;
    }
    status = l->status;
    res = l->result;
    l->result = NULL;
    pthread_mutex_unlock(&lookup_lock);
    uv_close((uv_handle_t *)&l->wake, on_wake_closed);
    l->cb(l->data, status, res);
}

/* Starts the detached thread with every signal blocked: signals are the loop's. */
static int start_lookup_thread(struct net_lookup *l)
{
    pthread_attr_t attr;
    pthread_t thread;
    sigset_t all, old;
    int rc;

    if (pthread_attr_init(&attr) != 0)
        return UV_ENOMEM;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&thread, &attr, lookup_thread, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return rc == 0 ? 0 : -rc;
}

int net_lookup_start(uv_loop_t *loop, struct net_lookup **lookup, const char *host,
                     int family, bool numeric, bool passive, net_lookup_cb cb, void *data)
{
    struct net_lookup *l = calloc(1, sizeof(*l));
    int rc;

    if (!l || !(l->host = strdup(host))) {
        free(l);
        return UV_ENOMEM;
    }
    l->cb = cb;
    l->data = data;
    l->hints.ai_family = family;
    l->hints.ai_socktype = SOCK_STREAM;
    l->hints.ai_protocol = IPPROTO_TCP;
    l->hints.ai_flags = (numeric ? AI_NUMERICHOST : 0) | (passive ? AI_PASSIVE : 0);
    l->refs = 2;
    rc = uv_async_init(loop, &l->wake, on_wake);
    if (rc < 0) {
        lookup_free(l);
        return rc;
    }
    l->wake.data = l;
    rc = start_lookup_thread(l);
    if (rc < 0) {
        l->refs = 1;  /* no thread holds it */
        uv_close((uv_handle_t *)&l->wake, on_wake_closed);
        return rc;
    }
    *lookup = l;
    return 0;
}

void net_lookup_abandon(struct net_lookup *l)
{
    pthread_mutex_lock(&lookup_lock);
    l->abandoned = true;
    pthread_mutex_unlock(&lookup_lock);
    if (!uv_is_closing((uv_handle_t *)&l->wake))
        uv_close((uv_handle_t *)&l->wake, on_wake_closed);
}
