#include "accept.h"

#include <assert.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdint.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "net.h"
#include "tcp.h"
#include "unix.h"

/* The kernel caps this at net.core.somaxconn; ask for all it allows. */
#define BACKLOG 65535

/* Descriptors kept free for everything that is not a client. */
#define SPARE_FDS 16

struct sc_listener {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } u;
    struct sc_acceptor *owner;
    const struct socket_kind *kind;
    bool parked;   /* a connection waits in libuv until a descriptor frees */
};

/* What accepting a client takes for one kind of socket. */
struct socket_kind {
    struct sc_endpoint *(*endpoint_new)(uv_loop_t *loop, int *err);
    /* Names the client and says whether it may stay (--allow/--deny). */
    bool (*admit)(struct sc_acceptor *l, struct sc_endpoint *ep, char *name, size_t size);
    /* Socket options for an accepted client. */
    void (*tune)(struct sc_endpoint *ep);
};

/* How many clients fit: the descriptor limit less those already open. */
static size_t count_client_budget(void)
{
    struct rlimit limit;
    size_t in_use = 0, max;

    if (getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur == RLIM_INFINITY)
        return SIZE_MAX;
    max = limit.rlim_cur > 1048576 ? 1048576 : (size_t)limit.rlim_cur;
    for (size_t fd = 0; fd < max; fd++)
        if (fcntl((int)fd, F_GETFD) >= 0)
            in_use++;
    return max > in_use + SPARE_FDS ? max - in_use - SPARE_FDS : 1;
}

static void on_listener_closed(uv_handle_t *handle)
{
    free(handle->data);
}

/* True at most once a second: descriptor trouble comes in bursts. */
static bool rate_limit_ok(struct sc_acceptor *l)
{
    uint64_t now = uv_hrtime();

    if (l->last_fd_warning_ns != 0 && now - l->last_fd_warning_ns < 1000000000ull)
        return false;
    l->last_fd_warning_ns = now;
    return true;
}

/* Fills `name` and says whether the client's address may stay: ACL. */
static bool tcp_admit(struct sc_acceptor *l, struct sc_endpoint *ep, char *name, size_t size)
{
    struct sockaddr_storage addr;
    int len = sizeof(addr);
    bool checking = l->opts->acl.allow.count || l->opts->acl.deny.count;

    if (uv_tcp_getpeername(tcp_endpoint_handle(ep), (struct sockaddr *)&addr, &len) == 0) {
        net_format((struct sockaddr *)&addr, name, size);
        if (checking && !acl_permits(&l->opts->acl, (struct sockaddr *)&addr)) {
            sc_verbose(1, "refused %s: denied by --allow/--deny", name);
            return false;
        }
    } else {
        /*
         * Reset before we got to it: what it sent may still wait to be read,
         * so it is served, unless addresses are being checked.
         */
        snprintf(name, size, "(a client that reset)");
        if (checking) {
            sc_verbose(1, "refused %s: its address is unknown", name);
            return false;
        }
    }
    return true;
}

static void tcp_tune(struct sc_endpoint *ep)
{
    uv_tcp_nodelay(tcp_endpoint_handle(ep), 1);
}

/* A Unix socket client is named by its credentials; there is no ACL. */
static bool unix_admit(struct sc_acceptor *l, struct sc_endpoint *ep, char *name, size_t size)
{
    unix_client_name(ep, l->opts->unix_path, name, size);
    return true;
}

static void no_tuning(struct sc_endpoint *ep)
{
    (void)ep;
}

static const struct socket_kind tcp_kind = { tcp_endpoint_new, tcp_admit, tcp_tune };
static const struct socket_kind unix_kind = { unix_endpoint_new, unix_admit, no_tuning };

/* Fills `name` and says whether the client may stay: ACL and -m. */
static bool admit(struct sc_acceptor *l, struct sc_listener *listener, struct sc_endpoint *ep,
                  char *name, size_t size)
{
    if (!listener->kind->admit(l, ep, name, size))
        return false;
    size_t held = l->slots_held ? l->slots_held(l) : l->clients;

    if (l->opts->max_conns && held >= l->opts->max_conns) {
        sc_verbose(1, "refused %s: over --max-conns %u", name, l->opts->max_conns);
        return false;
    }
    return true;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct sc_listener *listener = server->data;
    struct sc_acceptor *l = listener->owner;
    struct sc_endpoint *ep;
    char name[SC_NAME_MAX];
    int rc;

    if (status < 0) {
        /* ENFILE and the like: libuv has already shed the waiting clients. */
        if (rate_limit_ok(l))
            sc_verbose(1, "accept: %s", sc_strerror(status));
        return;
    }
    if (l->closed)
        return;
    if (l->clients >= l->client_budget) {
        /* Not accepting now makes libuv stop polling until we do. */
        if (!listener->parked && rate_limit_ok(l))
            sc_verbose(1, "at the descriptor limit with %zu clients: new clients wait",
                       l->clients);
        listener->parked = true;
        return;
    }
    listener->parked = false;
    ep = listener->kind->endpoint_new(l->loop, &rc);
    if (!ep)
        return;
    if (uv_accept(server, &((struct sc_stream_endpoint *)ep)->u.stream) < 0 ||
        !admit(l, listener, ep, name, sizeof(name))) {
        endpoint_close(ep);
        return;
    }
    listener->kind->tune(ep);
    sc_verbose(1, "connection from %s", name);
    l->clients++;
    l->on_client(l, ep, name);
}

/* Tells a script where we listen: --ready-fd, the port (or -U's PATH). */
static void announce_ready(struct sc_acceptor *l, unsigned port)
{
    char line[SC_NAME_MAX + 2];
    int len = l->opts->unix_path ? snprintf(line, sizeof(line), "%s\n", l->opts->unix_path)
                                 : snprintf(line, sizeof(line), "%u\n", port);

    if (l->opts->ready_fd < 0)
        return;
    if (write(l->opts->ready_fd, line, (size_t)len) != len)
        sc_verbose(1, "write to ready fd %d failed", l->opts->ready_fd);
    close(l->opts->ready_fd);
}

/* Binds and listens on one address; 0 or a libuv error. */
static int listen_on(struct sc_acceptor *l, const struct sockaddr *addr, bool v6only,
                     bool dual_stack)
{
    struct sc_listener *listener;
    struct sockaddr_storage bound;
    int len = sizeof(bound), rc;
    char name[NET_NAME_SIZE];

    if (l->count == SC_MAX_LISTENERS)
        return 0;
    listener = calloc(1, sizeof(*listener));
    if (!listener)
        return UV_ENOMEM;
    listener->owner = l;
    listener->kind = &tcp_kind;
    rc = uv_tcp_init_ex(l->loop, &listener->u.tcp, addr->sa_family);
    if (rc < 0) {
        free(listener);
        return rc;
    }
    listener->u.tcp.data = listener;
    if (dual_stack) {
        /* Serve IPv4 too, whatever net.ipv6.bindv6only says. */
        uv_os_fd_t fd;
        int off = 0;
        if (uv_fileno((uv_handle_t *)&listener->u.tcp, &fd) == 0)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    }
    rc = uv_tcp_bind(&listener->u.tcp, addr, v6only ? UV_TCP_IPV6ONLY : 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&listener->u.tcp, BACKLOG, on_connection);
    if (rc == 0)
        rc = uv_tcp_getsockname(&listener->u.tcp, (struct sockaddr *)&bound, &len);
    if (rc < 0) {
        uv_close((uv_handle_t *)&listener->u.tcp, on_listener_closed);
        return rc;
    }
    if (l->count == 0)
        l->bound_port = net_port((struct sockaddr *)&bound);
    l->servers[l->count++] = listener;
    net_format((struct sockaddr *)&bound, name, sizeof(name));
    sc_verbose(1, "listening on %s", name);
    return 0;
}

static void listen_failed(struct sc_acceptor *l, const struct sockaddr *addr, int rc)
{
    char name[NET_HOST_PORT_SIZE];

    if (l->opts->host) {
        net_host_port(name, sizeof(name), l->opts->host, l->opts->port);
    } else {
        net_format(addr, name, sizeof(name));
    }
    acceptor_close(l);
    snprintf(l->what, sizeof(l->what), "listen on %s", name);
    l->on_failed(l, rc, l->what);
}

static void listen_ready(struct sc_acceptor *l)
{
    announce_ready(l, l->bound_port);
}

static bool is_ipv6_any(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/*
 * True when an earlier result names the same address: glibc repeats one
 * when /etc/hosts lists the name twice (Debian's "::1 localhost" gives
 * 127.0.0.1 twice under -4), and binding it again would clash.
 */
static bool seen_before(const struct addrinfo *first, const struct addrinfo *ai)
{
    for (const struct addrinfo *p = first; p != ai; p = p->ai_next)
        if (net_same_address(p->ai_addr, ai->ai_addr))
            return true;
    return false;
}

static void resolve_failed(struct sc_acceptor *l, int err)
{
    char host[NET_HOST_PORT_SIZE];

    net_host_port(host, sizeof(host), l->opts->host, l->opts->port);
    *strrchr(host, ' ') = '\0';  /* the host alone */
    snprintf(l->what, sizeof(l->what), "resolve %s", host);
    l->on_failed(l, err, l->what);
}

static void on_resolved(void *data, int status, struct addrinfo *res)
{
    struct sc_acceptor *l = data;
    int first_error = 0;
    struct sockaddr_storage failed;

    l->lookup = NULL;  /* its callback has come: nothing left to abandon */
    /* getaddrinfo(3) succeeds with at least one address; if it ever did
     * not, that would be a name with no address. */
    if (status >= 0 && !res)
        status = UV_EAI_NONAME;
    if (status < 0) {
        resolve_failed(l, status);
        return;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        struct sockaddr_storage addr;

        if (seen_before(res, ai))
            continue;
        memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
        /* Later addresses of the same name share the port the first one got. */
        net_set_port((struct sockaddr *)&addr, l->count ? l->bound_port : l->opts->port);
        /* "::" means every address, as no HOST does, unless -6 says otherwise. */
        bool dual = is_ipv6_any(ai->ai_addr) && l->opts->family != AF_INET6;
        int rc = listen_on(l, (struct sockaddr *)&addr, ai->ai_family == AF_INET6 && !dual, dual);
        if (rc < 0 && (!first_error || rc == UV_EADDRINUSE)) {
            first_error = rc;
            failed = addr;
        }
    }
    if (!first_error)
        memcpy(&failed, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    /* An address in use is an error even if another address worked. */
    if (l->count == 0 || first_error == UV_EADDRINUSE) {
        listen_failed(l, (struct sockaddr *)&failed,
                      first_error ? first_error : UV_EADDRNOTAVAIL);
        return;
    }
    listen_ready(l);
}

/* No HOST: the IPv6 wildcard serving IPv4 too, or plain IPv4 without IPv6. */
static void listen_on_wildcard(struct sc_acceptor *l)
{
    struct sockaddr_in6 any6;
    struct sockaddr_in any4;
    int rc = UV_EAFNOSUPPORT;

    uv_ip6_addr("::", (int)l->opts->port, &any6);
    uv_ip4_addr("0.0.0.0", (int)l->opts->port, &any4);
    if (l->opts->family != AF_INET) {
        rc = listen_on(l, (struct sockaddr *)&any6, l->opts->family == AF_INET6,
                       l->opts->family == AF_UNSPEC);
        if (rc == 0 || l->opts->family == AF_INET6 ||
            (rc != UV_EAFNOSUPPORT && rc != UV_EADDRNOTAVAIL)) {
            if (rc < 0)
                listen_failed(l, (struct sockaddr *)&any6, rc);
            else
                listen_ready(l);
            return;
        }
    }
    rc = listen_on(l, (struct sockaddr *)&any4, false, false);
    if (rc < 0)
        listen_failed(l, (struct sockaddr *)&any4, rc);
    else
        listen_ready(l);
}

/* -U: one listener on a socket file or abstract name. */
static void listen_on_unix(struct sc_acceptor *l)
{
    struct sc_listener *listener;
    struct sc_unix_addr addr;
    const char *why = NULL;
    int rc = unix_addr_parse(l->opts->unix_path, &addr);

    listener = rc == 0 ? calloc(1, sizeof(*listener)) : NULL;
    if (rc == 0 && !listener)
        rc = UV_ENOMEM;
    if (rc == 0) {
        listener->owner = l;
        listener->kind = &unix_kind;
        rc = uv_pipe_init(l->loop, &listener->u.pipe, 0);
        if (rc < 0)
            free(listener);
    }
    if (rc == 0) {
        listener->u.pipe.data = listener;
        rc = unix_listen(&listener->u.pipe, &addr, BACKLOG, &l->unix_file, &why);
        if (rc == 0)
            rc = uv_listen(&listener->u.stream, BACKLOG, on_connection);
        if (rc < 0)
            uv_close(&listener->u.handle, on_listener_closed);
    }
    if (rc < 0) {
        unix_file_remove(&l->unix_file);
        snprintf(l->what, sizeof(l->what), "listen on %s%s%s%s", l->opts->unix_path,
                 why ? " (" : "", why ? why : "", why ? ")" : "");
        l->on_failed(l, rc, l->what);
        return;
    }
    l->servers[l->count++] = listener;
    sc_verbose(1, "listening on %s", l->opts->unix_path);
    listen_ready(l);
}

void acceptor_start(struct sc_acceptor *l, uv_loop_t *loop, const struct sc_opts *o,
                    sc_accept_cb on_client, sc_accept_fail_cb on_failed, void *data)
{
    int rc;

    memset(l, 0, sizeof(*l));
    l->loop = loop;
    l->opts = o;
    l->on_client = on_client;
    l->on_failed = on_failed;
    l->data = data;
    l->client_budget = o->keep_open ? count_client_budget() : SIZE_MAX;
    if (o->unix_path) {
        listen_on_unix(l);
        return;
    }
    if (!o->host) {
        listen_on_wildcard(l);
        return;
    }
    rc = net_lookup_start(loop, &l->lookup, o->host, o->family, o->numeric, true,
                          on_resolved, l);
    if (rc < 0)
        resolve_failed(l, rc);
}

void acceptor_client_gone(struct sc_acceptor *l)
{
    assert(l->clients > 0);
    l->clients--;
    for (size_t i = 0; i < l->count; i++)
        if (l->servers[i]->parked && l->clients < l->client_budget)
            on_connection((uv_stream_t *)&l->servers[i]->u.handle, 0);
}

void acceptor_close(struct sc_acceptor *l)
{
    if (l->lookup) {
        /* getaddrinfo cannot be stopped: leave it behind, never wait for it. */
        net_lookup_abandon(l->lookup);
        l->lookup = NULL;
    }
    l->closed = true;
    for (size_t i = 0; i < l->count; i++)
        uv_close(&l->servers[i]->u.handle, on_listener_closed);
    l->count = 0;
    /* Nothing listens any more: the socket file would only mislead. */
    unix_file_remove(&l->unix_file);
}
