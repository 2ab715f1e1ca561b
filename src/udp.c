#include "udp.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "diag.h"
#include "net.h"
#include "tcp.h"
#include "unix.h"

/* ---- the socket, shared by the service and its peers ---- */

struct sc_udp_socket {
    uv_udp_t udp;
    uv_idle_t closer;             /* reports closed peers outside close() */
    uv_timer_t retry;             /* -U: sends the backlog (below) */
    struct send_req *backlog;     /* -U: datagrams not sent yet, in order */
    struct send_req **backlog_tail;
    struct sc_udp_service *svc;
    struct sc_udp_peer *closed_list;
    unsigned refs;                /* the service while it listens, and each peer */
    unsigned handles_open;
    size_t readers;               /* peers reading */
    size_t paused;                /* peers open but not reading */
    struct sc_udp_peer *connected_peer;  /* the socket is connected to it */
    bool accepting;               /* new senders become peers */
    bool receiving;
    bool unix_dgram;              /* -U: sent here, not by libuv (below) */
};

struct sc_udp_peer {
    struct sc_endpoint base;
    struct sc_udp_socket *sock;
    struct sc_udp_service *svc;
    struct sc_udp_peer *bucket_next;   /* listen -k table */
    struct sc_udp_peer *closed_next;
    struct sockaddr_storage addr;
    socklen_t addr_len;    /* -U: an abstract name's length is not in its bytes */
    size_t max_datagram;
    bool connected;        /* the socket is connected to addr */
    bool in_table;
    bool paused;           /* counted in sock->paused */
    bool read_failed;      /* the read error has been reported */
    bool drop_when_full;   /* a -k client: drop what the socket cannot take now */
    bool unreachable;      /* -U: an unbound sender, which nothing can reach */
};

struct send_req {
    uv_udp_send_t req;
    struct sc_udp_peer *peer;
    struct sc_chunk *chunk;
    size_t off, len;
    struct send_req *next;  /* -U: in the socket's backlog */
};

static void sock_update_recv(struct sc_udp_socket *sock);
static void sock_on_recv(uv_udp_t *handle, ssize_t nread, const uv_buf_t *buf,
                         const struct sockaddr *addr, unsigned flags);

static void sock_on_handle_closed(uv_handle_t *handle)
{
    struct sc_udp_socket *sock = handle->data;

    if (--sock->handles_open == 0)
        free(sock);
}

static void sock_release(struct sc_udp_socket *sock)
{
    assert(sock->refs > 0);
    if (--sock->refs > 0)
        return;
    uv_close((uv_handle_t *)&sock->udp, sock_on_handle_closed);
    uv_close((uv_handle_t *)&sock->closer, sock_on_handle_closed);
    uv_close((uv_handle_t *)&sock->retry, sock_on_handle_closed);
}

static void sock_on_idle(uv_idle_t *idle);

static struct sc_udp_socket *sock_new(uv_loop_t *loop, int family, struct sc_udp_service *svc,
                                      int *err)
{
    struct sc_udp_socket *sock = calloc(1, sizeof(*sock));

    if (!sock) {
        *err = UV_ENOMEM;
        return NULL;
    }
    *err = uv_udp_init_ex(loop, &sock->udp, (unsigned)family);
    if (*err < 0) {
        free(sock);
        return NULL;
    }
    uv_idle_init(loop, &sock->closer);
    uv_timer_init(loop, &sock->retry);
    sock->udp.data = sock;
    sock->closer.data = sock;
    sock->retry.data = sock;
    sock->svc = svc;
    sock->refs = 1;
    sock->handles_open = 3;
    sock->backlog_tail = &sock->backlog;
    return sock;
}

static void sock_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct sc_chunk *block = chunk_take_block();

    (void)handle;
    (void)suggested;
    /* A block holds the largest datagram whole; an empty buffer makes libuv
     * report UV_ENOBUFS. */
    *buf = block ? uv_buf_init(block->data, (unsigned)block->cap) : uv_buf_init(NULL, 0);
}

/* Reads while it takes new senders or a peer reads, and no peer is paused:
 * a paused peer (stdout backed up) holds back the one socket it shares. */
static void sock_update_recv(struct sc_udp_socket *sock)
{
    bool want = (sock->accepting || sock->readers > 0) && sock->paused == 0 && sock->refs > 0;

    if (want == sock->receiving)
        return;
    if (want) {
        if (uv_udp_recv_start(&sock->udp, sock_on_alloc, sock_on_recv) < 0)
            return;
    } else {
        uv_udp_recv_stop(&sock->udp);
    }
    sock->receiving = want;
}

/* ---- addresses ---- */

static bool is_v4_mapped(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static size_t addr_len(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_UNIX)
        return sizeof(struct sockaddr_un);
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* -U: the kernel's address bytes, zero-padded alike on every path. */
static bool same_unix_sender(const struct sockaddr *a, const struct sockaddr *b)
{
    return memcmp(((const struct sockaddr_un *)a)->sun_path,
                  ((const struct sockaddr_un *)b)->sun_path,
                  sizeof(((const struct sockaddr_un *)a)->sun_path)) == 0;
}

static void format_sender(const struct sockaddr *sa, char *out, size_t size)
{
    if (sa->sa_family == AF_UNIX)
        unix_sockaddr_format((const struct sockaddr_un *)sa, out, size);
    else
        net_format(sa, out, size);
}

static bool same_sender(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family || net_port(a) != net_port(b))
        return false;
    if (a->sa_family == AF_UNIX)
        return same_unix_sender(a, b);
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0 &&
               x->sin6_scope_id == y->sin6_scope_id;
    }
    return false;
}

/* FNV-1a over the address and port. */
static size_t sender_hash(const struct sockaddr *sa)
{
    const unsigned char *p;
    size_t n;
    uint64_t h = 1469598103934665603ull;
    unsigned port = net_port(sa);

    if (sa->sa_family == AF_UNIX) {
        p = (const unsigned char *)((const struct sockaddr_un *)sa)->sun_path;
        n = sizeof(((const struct sockaddr_un *)sa)->sun_path);
    } else if (sa->sa_family == AF_INET6) {
        p = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        n = 16;
    } else {
        p = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
        n = 4;
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    h = (h ^ (port & 0xff)) * 1099511628211ull;
    h = (h ^ (port >> 8)) * 1099511628211ull;
    return (size_t)h;
}

/* ---- the peer endpoint ---- */

static struct sc_udp_peer *peer_of(struct sc_endpoint *ep)
{
    return (struct sc_udp_peer *)ep;
}

static void peer_read_fail(struct sc_udp_peer *p, int err);

static void table_remove(struct sc_udp_service *svc, struct sc_udp_peer *p);

static void peer_set_paused(struct sc_udp_peer *p, bool paused)
{
    if (p->paused == paused)
        return;
    p->paused = paused;
    if (paused)
        p->sock->paused++;
    else
        p->sock->paused--;
}

static int peer_read_start(struct sc_endpoint *ep)
{
    struct sc_udp_peer *p = peer_of(ep);

    if (ep->reading || ep->closing || p->read_failed)
        return 0;
    ep->reading = true;
    p->sock->readers++;
    peer_set_paused(p, false);
    sock_update_recv(p->sock);
    return 0;
}

static void peer_read_stop(struct sc_endpoint *ep)
{
    struct sc_udp_peer *p = peer_of(ep);

    if (!ep->reading)
        return;
    ep->reading = false;
    p->sock->readers--;
    peer_set_paused(p, !ep->closing);
    sock_update_recv(p->sock);
}

/* A datagram for this peer: one chunk, whole (an empty one carries nothing). */
static void peer_take(struct sc_udp_peer *p, struct sc_chunk *chunk)
{
    struct sc_endpoint *ep = &p->base;

    if (!ep->reading || ep->closing || chunk->len == 0) {
        chunk_unref(chunk);
        return;
    }
    ep->bytes_read += chunk->len;
    ep->events->on_data(ep, chunk);
}

/* The socket reported an error: reading is over (UDP has one error for both ways). */
static void peer_read_fail(struct sc_udp_peer *p, int err)
{
    struct sc_endpoint *ep = &p->base;

    if (p->read_failed || ep->closing)
        return;
    p->read_failed = true;
    if (ep->reading) {
        ep->reading = false;
        p->sock->readers--;
    }
    /* It will not read again: it holds nothing back. */
    peer_set_paused(p, false);
    sock_update_recv(p->sock);
    ep->events->on_read_error(ep, err);
}

static void peer_report_closed(struct sc_udp_peer *p)
{
    struct sc_udp_socket *sock = p->sock;

    p->base.events->on_closed(&p->base);  /* may free p */
    sock_release(sock);
}

static void sock_on_idle(uv_idle_t *idle)
{
    struct sc_udp_socket *sock = idle->data;

    sock->refs++;  /* the list is walked with the socket alive */
    uv_idle_stop(idle);
    while (sock->closed_list) {
        struct sc_udp_peer *p = sock->closed_list;
        sock->closed_list = p->closed_next;
        peer_report_closed(p);
    }
    sock_release(sock);
}

static void sock_on_retry(uv_timer_t *timer);

static void peer_on_sent(uv_udp_send_t *req, int status)
{
    struct send_req *sr = (struct send_req *)req;
    struct sc_udp_peer *p = sr->peer;
    struct sc_endpoint *ep = &p->base;
    size_t len = sr->len;

    ep->queued -= len;
    ep->queued_chunks--;
    if (status >= 0)
        ep->bytes_written += len;
    chunk_unref(sr->chunk);
    free(sr);
    if (ep->closing) {
        /* close() waited for the sends that were under way. */
        if (ep->queued_chunks == 0)
            peer_report_closed(p);
        return;
    }
    ep->events->on_written(ep, len, status < 0 ? status : 0);
    if (status < 0 && status != UV_ECANCELED)
        peer_read_fail(p, status);
    if (ep->ending && !ep->ended && ep->queued == 0 && !ep->closing) {
        ep->ended = true;
        ep->events->on_ended(ep, 0);
    }
}

/*
 * -U: libuv would send to an AF_UNIX address with the whole structure's
 * length, which names another abstract socket than an autobound sender's:
 * so these datagrams are sent here, with the address's own length. A full
 * receiver (EAGAIN) gives no readiness to wait for on an unconnected
 * socket: the backlog is tried again a millisecond later.
 */
static void sock_send_backlog(struct sc_udp_socket *sock)
{
    uv_os_fd_t fd = -1;

    sock->refs++;  /* the sent callbacks may close peers */
    uv_fileno((uv_handle_t *)&sock->udp, &fd);
    while (sock->backlog) {
        struct send_req *sr = sock->backlog;
        struct sc_udp_peer *p = sr->peer;
        ssize_t n;

        do
            n = sendto(fd, sr->chunk->data + sr->off, sr->len, 0,
                       p->connected ? NULL : (const struct sockaddr *)&p->addr,
                       p->connected ? 0 : p->addr_len);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
            uv_timer_start(&sock->retry, sock_on_retry, 1, 0);
            break;
        }
        sock->backlog = sr->next;
        if (!sock->backlog)
            sock->backlog_tail = &sock->backlog;
        peer_on_sent(&sr->req, n < 0 ? -errno : 0);
    }
    sock_release(sock);
}

static void sock_on_retry(uv_timer_t *timer)
{
    sock_send_backlog(timer->data);
}

static void unix_send_queue(struct sc_udp_socket *sock, struct send_req *sr)
{
    bool idle = !sock->backlog;

    sr->next = NULL;
    *sock->backlog_tail = sr;
    sock->backlog_tail = &sr->next;
    if (idle)  /* sent from the loop, as libuv's sends are */
        uv_timer_start(&sock->retry, sock_on_retry, 0, 0);
}

/* Sends bytes [off, off + len) of the chunk as one datagram. */
static int peer_send_one(struct sc_udp_peer *p, struct sc_chunk *chunk, size_t off, size_t len)
{
    struct sc_endpoint *ep = &p->base;
    struct send_req *sr = malloc(sizeof(*sr));
    uv_buf_t buf = uv_buf_init(chunk->data + off, (unsigned)len);
    int rc;

    if (!sr)
        return UV_ENOMEM;
    chunk_ref(chunk);
    sr->peer = p;
    sr->chunk = chunk;
    sr->off = off;
    sr->len = len;
    ep->queued += len;
    ep->queued_chunks++;
    if (p->sock->unix_dgram) {
        unix_send_queue(p->sock, sr);
        return 0;
    }
    rc = uv_udp_send(&sr->req, &p->sock->udp, &buf, 1,
                     p->connected ? NULL : (const struct sockaddr *)&p->addr, peer_on_sent);
    if (rc < 0) {
        ep->queued -= len;
        ep->queued_chunks--;
        chunk_unref(chunk);
        free(sr);
    }
    return rc;
}

static int peer_write(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct sc_udp_peer *p = peer_of(ep);

    if (ep->closing || ep->ending)
        return UV_EPIPE;
    if (p->unreachable) {
        /* An unbound Unix sender has no address to reply to. */
        p->svc->unreachable_drops++;
        return 0;
    }
    if (p->drop_when_full &&
        uv_udp_get_send_queue_size(&p->sock->udp) + chunk->len > SC_UDP_BROADCAST_QUEUE_MAX) {
        /* A -k client shares the socket: never queue without bound for it. */
        p->svc->send_drops++;
        return 0;
    }
    for (size_t off = 0; off < chunk->len; off += p->max_datagram) {
        size_t len = chunk->len - off < p->max_datagram ? chunk->len - off : p->max_datagram;
        int rc = peer_send_one(p, chunk, off, len);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* No more to send: nothing goes on the wire, the output ends once drained. */
static void peer_end(struct sc_endpoint *ep)
{
    if (ep->ending || ep->closing)
        return;
    ep->ending = true;
    if (ep->queued_chunks == 0) {
        ep->ended = true;
        ep->events->on_ended(ep, 0);
    }
}

static void peer_close(struct sc_endpoint *ep)
{
    struct sc_udp_peer *p = peer_of(ep);
    struct sc_udp_socket *sock = p->sock;

    if (ep->closing)
        return;
    ep->closing = true;
    if (ep->reading) {
        ep->reading = false;
        sock->readers--;
    }
    peer_set_paused(p, false);
    if (sock->connected_peer == p)
        sock->connected_peer = NULL;
    if (p->in_table)
        table_remove(p->svc, p);
    sock_update_recv(sock);
    if (ep->queued_chunks > 0)
        return;  /* the last send's callback reports the close */
    p->closed_next = sock->closed_list;
    sock->closed_list = p;
    uv_idle_start(&sock->closer, sock_on_idle);
}

/* The sender's address, and what the socket is bound to. */
static int peer_addresses(const struct sc_endpoint *ep, struct sc_endpoint_addresses *out)
{
    const struct sc_udp_peer *p = (const struct sc_udp_peer *)ep;
    uv_os_fd_t fd;

    out->remote = p->addr;
    out->remote_len = p->addr.ss_family == AF_UNIX ? p->addr_len
                      : (socklen_t)addr_len((const struct sockaddr *)&p->addr);
    out->local_len = sizeof(out->local);
    if (uv_fileno((const uv_handle_t *)&p->sock->udp, &fd) < 0)
        return UV_EBADF;
    if (getsockname(fd, (struct sockaddr *)&out->local, &out->local_len) < 0)
        return -errno;
    return 0;
}

static const struct sc_endpoint_ops udp_peer_ops = {
    .read_start = peer_read_start,
    .read_stop = peer_read_stop,
    .write = peer_write,
    .end = peer_end,
    .close = peer_close,
    .addresses = peer_addresses,
};

static struct sc_udp_peer *peer_new(struct sc_udp_socket *sock, struct sc_udp_service *svc,
                                    const struct sockaddr *addr, bool connected)
{
    struct sc_udp_peer *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    /* Until someone takes the peer, its events are ignored and close frees
     * it: base is the peer's first member, so freeing the endpoint frees p. */
    p->base = (struct sc_endpoint){ .ops = &udp_peer_ops, .events = &socket_unowned_events };
    p->sock = sock;
    p->svc = svc;
    memcpy(&p->addr, addr, addr_len(addr));
    p->connected = connected;
    if (addr->sa_family == AF_UNIX) {
        p->addr_len = unix_sockaddr_len((const struct sockaddr_un *)addr);
        p->unreachable = p->addr_len <= sizeof(sa_family_t);
    }
    p->max_datagram = addr->sa_family == AF_INET6 && !is_v4_mapped(addr)
                      ? SC_UDP_MAX_PAYLOAD_V6 : SC_UDP_MAX_PAYLOAD_V4;
    sock->refs++;
    peer_set_paused(p, true);  /* not reading until its owner says so */
    return p;
}

/* ---- listen -k: the clients by sender ---- */

static int table_grow(struct sc_udp_service *svc)
{
    size_t size = svc->table_size ? svc->table_size * 2 : 64;
    struct sc_udp_peer **table = calloc(size, sizeof(*table));

    if (!table)
        return UV_ENOMEM;
    for (size_t i = 0; i < svc->table_size; i++) {
        struct sc_udp_peer *p = svc->table[i], *next;
        for (; p; p = next) {
            next = p->bucket_next;
            size_t b = sender_hash((struct sockaddr *)&p->addr) & (size - 1);
            p->bucket_next = table[b];
            table[b] = p;
        }
    }
    free(svc->table);
    svc->table = table;
    svc->table_size = size;
    return 0;
}

static struct sc_udp_peer *table_find(struct sc_udp_service *svc, const struct sockaddr *addr)
{
    if (!svc->table_size)
        return NULL;
    for (struct sc_udp_peer *p = svc->table[sender_hash(addr) & (svc->table_size - 1)]; p;
         p = p->bucket_next)
        if (same_sender((struct sockaddr *)&p->addr, addr))
            return p;
    return NULL;
}

static void table_insert(struct sc_udp_service *svc, struct sc_udp_peer *p)
{
    size_t b = sender_hash((struct sockaddr *)&p->addr) & (svc->table_size - 1);

    p->bucket_next = svc->table[b];
    svc->table[b] = p;
    p->in_table = true;
    svc->clients++;
}

static void table_free_if_unused(struct sc_udp_service *svc)
{
    if (svc->closed && svc->clients == 0) {
        free(svc->table);
        svc->table = NULL;
        svc->table_size = 0;
    }
}

static void table_remove(struct sc_udp_service *svc, struct sc_udp_peer *p)
{
    struct sc_udp_peer **link = &svc->table[sender_hash((struct sockaddr *)&p->addr) &
                                            (svc->table_size - 1)];

    while (*link != p)
        link = &(*link)->bucket_next;
    *link = p->bucket_next;
    p->in_table = false;
    svc->clients--;
    table_free_if_unused(svc);
}

/* Whether a new sender may become a peer: --allow/--deny, then the cap. */
static bool admit(struct sc_udp_service *svc, const struct sockaddr *addr, const char *name)
{
    const struct sc_acl *acl = &svc->opts->acl;

    if ((acl->allow.count || acl->deny.count) && !acl_permits(acl, addr)) {
        if (svc->denied++ == 0)
            sc_verbose(1, "ignoring %s: denied by --allow/--deny", name);
        return false;
    }
    if (svc->demux && svc->clients >= svc->max_clients) {
        if (svc->over_cap++ == 0)
            sc_verbose(1, "ignoring %s: over --max-conns %zu", name, svc->max_clients);
        return false;
    }
    return true;
}

/* ---- receiving ---- */

static void svc_release_sockets(struct sc_udp_service *svc)
{
    for (size_t i = 0; i < svc->count; i++) {
        struct sc_udp_socket *sock = svc->socks[i];
        sock->accepting = false;
        sock_update_recv(sock);
        sock_release(sock);
    }
    svc->count = 0;
}

/* listen -u: the first sender becomes the peer; the socket is connected to it. */
static struct sc_udp_peer *first_sender(struct sc_udp_socket *sock, const struct sockaddr *addr,
                                        const char *name)
{
    struct sc_udp_service *svc = sock->svc;
    struct sc_udp_peer *p;
    /* -U: libuv connects IP sockets only; sends carry the address instead. */
    int rc = sock->unix_dgram ? 0 : uv_udp_connect(&sock->udp, addr);

    if (rc < 0) {
        sc_verbose(1, "connect to %s: %s", name, sc_strerror(rc));
        return NULL;
    }
    p = peer_new(sock, svc, addr, !sock->unix_dgram);
    if (!p)
        return NULL;
    sock->connected_peer = p;
    svc_release_sockets(svc);  /* this one stays: the peer holds it */
    return p;
}

static struct sc_udp_peer *new_client(struct sc_udp_socket *sock, const struct sockaddr *addr)
{
    struct sc_udp_service *svc = sock->svc;
    struct sc_udp_peer *p;

    if (svc->clients >= svc->table_size && table_grow(svc) < 0)
        return NULL;
    p = peer_new(sock, svc, addr, false);
    if (!p)
        return NULL;
    p->drop_when_full = true;
    table_insert(svc, p);
    return p;
}

/* A datagram from a sender that is not a peer yet. */
static void sock_on_new_sender(struct sc_udp_socket *sock, struct sc_chunk *chunk,
                               const struct sockaddr *addr)
{
    struct sc_udp_service *svc = sock->svc;
    struct sc_udp_peer *p;
    char name[SC_NAME_MAX];

    format_sender(addr, name, sizeof(name));
    if (!sock->accepting || !admit(svc, addr, name)) {
        chunk_unref(chunk);
        return;
    }
    p = svc->demux ? new_client(sock, addr) : first_sender(sock, addr, name);
    if (!p) {
        chunk_unref(chunk);
        return;
    }
    sc_verbose(1, "datagram from %s", name);
    svc->on_peer(svc, &p->base, name);
    peer_take(p, chunk);
}

static const struct sockaddr_un unbound_sender = { .sun_family = AF_UNIX };

static void sock_on_recv(uv_udp_t *handle, ssize_t nread, const uv_buf_t *buf,
                         const struct sockaddr *addr, unsigned flags)
{
    struct sc_udp_socket *sock = handle->data;
    struct sc_udp_peer *p = sock->connected_peer;
    struct sc_chunk *chunk;

    (void)flags;
    if (nread < 0 || !addr) {
        if (buf->base)
            chunk_unref(chunk_of(buf->base));
        if (nread < 0 && p)
            peer_read_fail(p, (int)nread);  /* ICMP: ECONNREFUSED and the like */
        else if (nread < 0)
            sc_verbose(2, "receive: %s", sc_strerror((int)nread));
        return;
    }
    chunk = chunk_trim(chunk_of(buf->base), (size_t)nread);
    if (sock->unix_dgram && addr->sa_family != AF_UNIX)
        addr = (const struct sockaddr *)&unbound_sender;  /* no address at all */
    if (p) {
        /* Sent before the socket was connected to the peer: not the peer's.
         * (A connected Unix socket hears its peer only: the kernel sees to it.) */
        if (!(sock->unix_dgram && p->connected) && !same_sender((struct sockaddr *)&p->addr, addr)) {
            p->svc->ignored++;
            chunk_unref(chunk);
            return;
        }
        peer_take(p, chunk);
        return;
    }
    p = sock->svc->demux ? table_find(sock->svc, addr) : NULL;
    if (p) {
        peer_take(p, chunk);
        return;
    }
    sock_on_new_sender(sock, chunk, addr);
}

/* ---- connect -u ---- */

static void svc_fail(struct sc_udp_service *svc, int err, const char *fmt, const char *host,
                     unsigned port)
{
    snprintf(svc->what, sizeof(svc->what), fmt, host, port);
    svc->on_failed(svc, err, svc->what);
}

/* Binds -s/-p if given; the family of the source must match the target's. */
static int bind_source(struct sc_udp_service *svc, struct sc_udp_socket *sock, int family)
{
    const struct sc_opts *o = svc->opts;
    struct sockaddr_storage local;
    const char *addr = o->source_addr;
    unsigned port = o->source_port < 0 ? 0 : (unsigned)o->source_port;
    int rc;

    if (!addr && o->source_port < 0)
        return 0;
    if (!addr)
        addr = family == AF_INET6 ? "::" : "0.0.0.0";
    if (family == AF_INET6)
        rc = uv_ip6_addr(addr, (int)port, (struct sockaddr_in6 *)&local);
    else
        rc = uv_ip4_addr(addr, (int)port, (struct sockaddr_in *)&local);
    if (rc < 0)
        return UV_EAFNOSUPPORT;
    return uv_udp_bind(&sock->udp, (struct sockaddr *)&local, 0);
}

/* Connects a socket to one address; NULL with *err set when it cannot. */
static struct sc_udp_peer *dial_one(struct sc_udp_service *svc, struct addrinfo *ai, int *err)
{
    struct sc_udp_socket *sock = sock_new(svc->loop, ai->ai_family, svc, err);
    struct sc_udp_peer *p = NULL;

    if (!sock)
        return NULL;
    *err = bind_source(svc, sock, ai->ai_family);
    if (*err == 0)
        *err = uv_udp_connect(&sock->udp, ai->ai_addr);
    if (*err == 0) {
        p = peer_new(sock, svc, ai->ai_addr, true);
        if (!p)
            *err = UV_ENOMEM;
    }
    if (p)
        sock->connected_peer = p;
    sock_release(sock);  /* the peer holds it now, or nobody does */
    return p;
}

static void on_dial_resolved(void *data, int status, struct addrinfo *res)
{
    struct sc_udp_service *svc = data;
    const struct sc_opts *o = svc->opts;
    int err = UV_EAI_NONAME;

    svc->lookup = NULL;  /* its callback has come: nothing left to abandon */
    if (svc->stopped) {
        freeaddrinfo(res);
        return;
    }
    if (status < 0) {
        svc_fail(svc, status, "resolve %s", o->host, 0);
        return;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char name[SC_NAME_MAX];
        net_set_port(ai->ai_addr, o->port);
        net_format(ai->ai_addr, name, sizeof(name));
        struct sc_udp_peer *p = dial_one(svc, ai, &err);
        if (p) {
            freeaddrinfo(res);
            svc->stopped = true;
            sc_verbose(1, "sending to %s (UDP)", name);
            svc->on_peer(svc, &p->base, name);
            return;
        }
        sc_verbose(1, "connect to %s failed: %s", name, sc_strerror(err));
    }
    freeaddrinfo(res);
    svc_fail(svc, err, "connect to %s %u", o->host, o->port);
}

static void svc_init(struct sc_udp_service *svc, uv_loop_t *loop, const struct sc_opts *o,
                     sc_udp_peer_cb on_peer, sc_udp_fail_cb on_failed, void *data)
{
    memset(svc, 0, sizeof(*svc));
    svc->loop = loop;
    svc->opts = o;
    svc->on_peer = on_peer;
    svc->on_failed = on_failed;
    svc->data = data;
    svc->demux = o->mode == SC_MODE_LISTEN && o->keep_open;
    svc->max_clients = o->max_conns ? o->max_conns : SC_UDP_DEFAULT_MAX_CLIENTS;
}

/* -U -u: a socket on an address of ours, handed to libuv to read. */
static struct sc_udp_socket *sock_open_unix(struct sc_udp_service *svc, int fd, int *err)
{
    struct sc_udp_socket *sock = sock_new(svc->loop, AF_UNSPEC, svc, err);

    if (!sock) {
        close(fd);
        return NULL;
    }
    *err = uv_udp_open(&sock->udp, fd);
    if (*err < 0) {
        close(fd);
        sock_release(sock);
        return NULL;
    }
    sock->unix_dgram = true;
    return sock;
}

static void unix_fail(struct sc_udp_service *svc, int err, const char *what, const char *path,
                      const char *why)
{
    unix_file_remove(&svc->unix_file);
    snprintf(svc->what, sizeof(svc->what), "%s %s%s%s%s", what, path, why ? " (" : "",
             why ? why : "", why ? ")" : "");
    svc->on_failed(svc, err, svc->what);
}

/*
 * connect -U -u: replies need an address to reach us, so the socket is
 * bound first: to -s PATH (a file we remove at the end), or to an abstract
 * name the kernel picks. Connected, it hears its peer only.
 */
static void dial_unix(struct sc_udp_service *svc)
{
    const struct sc_opts *o = svc->opts;
    struct sc_unix_addr target, local;
    struct sc_udp_socket *sock;
    struct sc_udp_peer *p;
    const char *why = NULL;
    int rc = unix_addr_parse(o->unix_path, &target), fd;

    if (rc < 0) {
        unix_fail(svc, rc, "connect to", o->unix_path, NULL);
        return;
    }
    if (o->source_addr && (rc = unix_addr_parse(o->source_addr, &local)) < 0) {
        unix_fail(svc, rc, "bind to", o->source_addr, NULL);
        return;
    }
    fd = unix_dgram_socket(o->source_addr ? &local : NULL, &svc->unix_file, &why);
    if (fd < 0) {
        unix_fail(svc, fd, "bind to", o->source_addr ? o->source_addr : "an abstract name", why);
        return;
    }
    if (connect(fd, (const struct sockaddr *)&target.sun, target.len) < 0) {
        rc = -errno;
        close(fd);
        unix_fail(svc, rc, "connect to", o->unix_path, NULL);
        return;
    }
    sock = sock_open_unix(svc, fd, &rc);
    p = sock ? peer_new(sock, svc, (const struct sockaddr *)&target.sun, true) : NULL;
    if (sock && !p)
        rc = UV_ENOMEM;
    if (sock) {
        sock->connected_peer = p;
        sock_release(sock);  /* the peer holds it now, or nobody does */
    }
    if (!p) {
        unix_fail(svc, rc, "connect to", o->unix_path, NULL);
        return;
    }
    svc->stopped = true;
    sc_verbose(1, "sending to %s (Unix datagrams)", o->unix_path);
    svc->on_peer(svc, &p->base, o->unix_path);
}

void udp_dial_start(struct sc_udp_service *svc, uv_loop_t *loop, const struct sc_opts *o,
                    sc_udp_peer_cb on_peer, sc_udp_fail_cb on_failed, void *data)
{
    int rc;

    svc_init(svc, loop, o, on_peer, on_failed, data);
    if (o->unix_path) {
        dial_unix(svc);
        return;
    }
    rc = net_lookup_start(loop, &svc->lookup, o->host, o->family, o->numeric, false,
                          on_dial_resolved, svc);
    if (rc < 0)
        svc_fail(svc, rc, "resolve %s", o->host, 0);
}

/* ---- listen -u ---- */

/* Binds one address; 0 or a libuv error. */
static int bind_on(struct sc_udp_service *svc, struct sockaddr *addr, bool v6only, bool dual)
{
    struct sc_udp_socket *sock;
    struct sockaddr_storage bound;
    int len = sizeof(bound), rc;
    char name[SC_NAME_MAX];

    if (svc->count == SC_UDP_MAX_SOCKETS)
        return 0;
    sock = sock_new(svc->loop, addr->sa_family, svc, &rc);
    if (!sock)
        return rc;
    if (dual) {
        /* Serve IPv4 too, whatever net.ipv6.bindv6only says. */
        uv_os_fd_t fd;
        int off = 0;
        if (uv_fileno((uv_handle_t *)&sock->udp, &fd) == 0)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    }
    rc = uv_udp_bind(&sock->udp, addr, v6only ? UV_UDP_IPV6ONLY : 0);
    if (rc == 0)
        rc = uv_udp_getsockname(&sock->udp, (struct sockaddr *)&bound, &len);
    if (rc < 0) {
        sock_release(sock);
        return rc;
    }
    if (svc->count == 0)
        svc->bound_port = net_port((struct sockaddr *)&bound);
    svc->socks[svc->count++] = sock;
    net_format((struct sockaddr *)&bound, name, sizeof(name));
    sc_verbose(1, "listening on %s (UDP)", name);
    /* Later addresses of the same name share the port the first one got. */
    net_set_port(addr, net_port((struct sockaddr *)&bound));
    return 0;
}

/* Tells a script which port we got: --ready-fd. */
static void listen_ready(struct sc_udp_service *svc)
{
    char line[SC_NAME_MAX + 2];
    int len = svc->opts->unix_path ? snprintf(line, sizeof(line), "%s\n", svc->opts->unix_path)
                                   : snprintf(line, sizeof(line), "%u\n", svc->bound_port);

    for (size_t i = 0; i < svc->count; i++) {
        svc->socks[i]->accepting = true;
        sock_update_recv(svc->socks[i]);
    }
    if (svc->opts->ready_fd < 0)
        return;
    if (write(svc->opts->ready_fd, line, (size_t)len) != len)
        sc_verbose(1, "write to ready fd %d failed", svc->opts->ready_fd);
    close(svc->opts->ready_fd);
}

static void listen_failed(struct sc_udp_service *svc, const struct sockaddr *addr, int rc)
{
    char name[SC_NAME_MAX];

    if (svc->opts->host)
        snprintf(name, sizeof(name), "%s %u", svc->opts->host, svc->opts->port);
    else
        net_format(addr, name, sizeof(name));
    svc_release_sockets(svc);
    snprintf(svc->what, sizeof(svc->what), "listen on %s", name);
    svc->on_failed(svc, rc, svc->what);
}

static bool is_ipv6_any(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static bool seen_before(const struct addrinfo *first, const struct addrinfo *ai)
{
    for (const struct addrinfo *p = first; p != ai; p = p->ai_next)
        if (p->ai_addrlen == ai->ai_addrlen && memcmp(p->ai_addr, ai->ai_addr, ai->ai_addrlen) == 0)
            return true;
    return false;
}

static void on_listen_resolved(void *data, int status, struct addrinfo *res)
{
    struct sc_udp_service *svc = data;
    unsigned port = svc->opts->port;
    struct sockaddr_storage failed;
    int first_error = 0;

    svc->lookup = NULL;  /* its callback has come: nothing left to abandon */
    if (svc->stopped) {
        freeaddrinfo(res);
        return;
    }
    if (status < 0) {
        svc_fail(svc, status, "resolve %s", svc->opts->host, 0);
        return;
    }
    memcpy(&failed, res->ai_addr, res->ai_addrlen);
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (seen_before(res, ai))
            continue;
        net_set_port(ai->ai_addr, port);
        bool dual = is_ipv6_any(ai->ai_addr) && svc->opts->family != AF_INET6;
        int rc = bind_on(svc, ai->ai_addr, ai->ai_family == AF_INET6 && !dual, dual);
        if (rc == 0) {
            port = net_port(ai->ai_addr);
        } else if (!first_error || rc == UV_EADDRINUSE) {
            first_error = rc;
            memcpy(&failed, ai->ai_addr, ai->ai_addrlen);
        }
    }
    freeaddrinfo(res);
    /* An address in use is an error even if another address worked. */
    if (svc->count == 0 || first_error == UV_EADDRINUSE) {
        listen_failed(svc, (struct sockaddr *)&failed,
                      first_error ? first_error : UV_EADDRNOTAVAIL);
        return;
    }
    listen_ready(svc);
}

/* No HOST: the IPv6 wildcard serving IPv4 too, or plain IPv4 without IPv6. */
static void listen_on_wildcard(struct sc_udp_service *svc)
{
    const struct sc_opts *o = svc->opts;
    struct sockaddr_in6 any6;
    struct sockaddr_in any4;
    int rc;

    uv_ip6_addr("::", (int)o->port, &any6);
    uv_ip4_addr("0.0.0.0", (int)o->port, &any4);
    if (o->family != AF_INET) {
        rc = bind_on(svc, (struct sockaddr *)&any6, o->family == AF_INET6,
                     o->family == AF_UNSPEC);
        if (rc == 0 || o->family == AF_INET6 ||
            (rc != UV_EAFNOSUPPORT && rc != UV_EADDRNOTAVAIL)) {
            if (rc < 0)
                listen_failed(svc, (struct sockaddr *)&any6, rc);
            else
                listen_ready(svc);
            return;
        }
    }
    rc = bind_on(svc, (struct sockaddr *)&any4, false, false);
    if (rc < 0)
        listen_failed(svc, (struct sockaddr *)&any4, rc);
    else
        listen_ready(svc);
}

/* listen -U -u: PATH (or @NAME) bound as a -U listener's is, file rules and all. */
static void listen_on_unix(struct sc_udp_service *svc)
{
    const char *path = svc->opts->unix_path;
    struct sc_unix_addr addr;
    struct sc_udp_socket *sock;
    const char *why = NULL;
    int rc = unix_addr_parse(path, &addr), fd = rc;

    if (rc == 0)
        fd = unix_dgram_socket(&addr, &svc->unix_file, &why);
    sock = fd >= 0 ? sock_open_unix(svc, fd, &rc) : NULL;
    if (!sock) {
        unix_fail(svc, fd < 0 ? fd : rc, "listen on", path, why);
        return;
    }
    svc->socks[svc->count++] = sock;
    sc_verbose(1, "listening on %s (Unix datagrams)", path);
    listen_ready(svc);
}

void udp_listen_start(struct sc_udp_service *svc, uv_loop_t *loop, const struct sc_opts *o,
                      sc_udp_peer_cb on_peer, sc_udp_fail_cb on_failed, void *data)
{
    int rc;

    svc_init(svc, loop, o, on_peer, on_failed, data);
    if (o->unix_path) {
        listen_on_unix(svc);
        return;
    }
    if (!o->host) {
        listen_on_wildcard(svc);
        return;
    }
    rc = net_lookup_start(loop, &svc->lookup, o->host, o->family, o->numeric, true,
                          on_listen_resolved, svc);
    if (rc < 0)
        svc_fail(svc, rc, "resolve %s", o->host, 0);
}

/* ---- the end ---- */

void udp_service_stop(struct sc_udp_service *svc)
{
    if (svc->lookup) {
        /* getaddrinfo cannot be stopped: leave it behind, never wait for it. */
        net_lookup_abandon(svc->lookup);
        svc->lookup = NULL;
    }
    svc->stopped = true;
    svc_release_sockets(svc);
}

void udp_service_close(struct sc_udp_service *svc)
{
    if (svc->closed)
        return;
    udp_service_stop(svc);
    svc->closed = true;
    if (svc->ignored)
        sc_verbose(1, "ignored %llu datagrams from other senders",
                   (unsigned long long)svc->ignored);
    if (svc->denied)
        sc_verbose(1, "ignored %llu datagrams denied by --allow/--deny",
                   (unsigned long long)svc->denied);
    if (svc->over_cap)
        sc_verbose(1, "ignored %llu datagrams from senders over --max-conns %zu",
                   (unsigned long long)svc->over_cap, svc->max_clients);
    if (svc->send_drops)
        sc_verbose(1, "dropped %llu broadcast datagrams the socket could not take",
                   (unsigned long long)svc->send_drops);
    if (svc->unreachable_drops)
        sc_verbose(1, "dropped %llu datagrams for unbound senders, which cannot be replied to",
                   (unsigned long long)svc->unreachable_drops);
    /* Nothing receives there any more: the socket file would only mislead. */
    unix_file_remove(&svc->unix_file);
    table_free_if_unused(svc);
}
