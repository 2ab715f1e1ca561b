#include "probe.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "chunk.h"
#include "conv.h"
#include "diag.h"
#include "portlist.h"

/* What a port came to (besides a negative libuv error: refused, timed out...). */
enum { PROBE_PENDING = 0, PROBE_OPEN = 1, PROBE_OPEN_FILTERED = 2 };

/* Descriptors kept for everything else: stdio, the loop's own, a log file. */
#define FD_RESERVE 32

struct sc_probe_slot {
    struct sc_probe *probe;
    union {
        uv_handle_t handle;
        uv_tcp_t tcp;
        uv_udp_t udp;
    } u;
    uv_connect_t connect_req;
    uv_timer_t timer;
    unsigned port;
    bool busy;        /* a socket handle is open or closing */
    bool decided;     /* the port's result is known */
};

unsigned probe_concurrency(void)
{
    struct rlimit limit;
    rlim_t room = SC_PROBE_MAX_IN_FLIGHT;

    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
        rlim_t cur = limit.rlim_cur;
        room = cur > 2 * FD_RESERVE ? cur - FD_RESERVE : cur / 2;
    }
    if (room > SC_PROBE_MAX_IN_FLIGHT)
        room = SC_PROBE_MAX_IN_FLIGHT;
    return room > 0 ? (unsigned)room : 1;
}

static uint64_t wait_ms(const struct sc_probe *p)
{
    if (p->opts->wait_ms > 0)
        return p->opts->wait_ms;
    return (uint64_t)(SC_PROBE_DEFAULT_WAIT * 1000.0 + 0.5);
}

/* ---- reporting, in port order ---- */

struct out_batch {
    struct sc_chunk *chunk;
};

static void batch_flush(struct sc_probe *p, struct out_batch *b)
{
    if (!b->chunk)
        return;
    struct sc_chunk *c = chunk_trim(b->chunk, b->chunk->len);
    b->chunk = NULL;
    if (p->conv->hub.out && !p->conv->hub.out_broken)
        pump_push(&p->conv->hub.to_stdout, c);
    chunk_unref(c);
}

static void batch_line(struct sc_probe *p, struct out_batch *b, unsigned port, const char *what)
{
    char line[NET_HOST_PORT_SIZE + 32];
    int len = snprintf(line, sizeof(line), "%s %u %s\n", p->opts->host, port, what);

    if (len < 0)
        return;
    if ((size_t)len >= sizeof(line))
        len = (int)sizeof(line) - 1;
    if (b->chunk && b->chunk->len + (size_t)len > SC_BLOCK_SIZE)
        batch_flush(p, b);
    if (!b->chunk && !(b->chunk = chunk_take_block()))
        return;
    memcpy(b->chunk->data + b->chunk->len, line, (size_t)len);
    b->chunk->len += (size_t)len;
}

static void report_port(struct sc_probe *p, struct out_batch *b, unsigned port, int32_t result)
{
    const char *proto = p->opts->udp ? "udp" : "tcp";

    if (result == PROBE_OPEN)
        batch_line(p, b, port, "open");
    else if (result == PROBE_OPEN_FILTERED)
        batch_line(p, b, port, "open|filtered");
    else if (result == UV_ECONNREFUSED)
        sc_verbose(1, "%s %u (%s) closed: %s", p->opts->host, port, proto, sc_strerror(result));
    else if (result == UV_ETIMEDOUT)
        sc_verbose(1, "%s %u (%s) timed out: no answer within %llu ms", p->opts->host, port,
                   proto, (unsigned long long)wait_ms(p));
    else
        sc_verbose(1, "%s %u (%s) failed: %s", p->opts->host, port, proto, sc_strerror(result));
}

/* Reports every decided port from print_port on, up to the first pending one. */
static void report_ready(struct sc_probe *p)
{
    struct out_batch batch = { NULL };

    while (p->print_port && p->result[p->print_port] != PROBE_PENDING) {
        report_port(p, &batch, p->print_port, p->result[p->print_port]);
        p->print_port = portlist_next(p->opts->ports, p->print_port);
    }
    batch_flush(p, &batch);
}

static void probe_finish_if_done(struct sc_probe *p)
{
    if (p->stopped || p->in_flight > 0 || p->next_port != 0 || p->print_port != 0)
        return;
    p->stopped = true;
    conv_stop(p->conv, p->open_count > 0 ? SC_EXIT_OK : SC_EXIT_RUNTIME);
}

/* ---- one probe ---- */

static void launch_next(struct sc_probe *p, struct sc_probe_slot *slot);

static void on_slot_closed(uv_handle_t *handle)
{
    struct sc_probe_slot *slot = handle->data;
    struct sc_probe *p = slot->probe;

    slot->busy = false;
    p->in_flight--;
    p->live_handles--;
    if (p->closing) {
        if (p->live_handles == 0)
            probe_close(p);
        return;
    }
    if (!p->stopped)
        launch_next(p, slot);
    probe_finish_if_done(p);
}

static void slot_decide(struct sc_probe_slot *slot, int32_t result)
{
    struct sc_probe *p = slot->probe;

    if (slot->decided)
        return;
    slot->decided = true;
    uv_timer_stop(&slot->timer);
    p->result[slot->port] = result;
    if (result == PROBE_OPEN || result == PROBE_OPEN_FILTERED)
        p->open_count++;
    if (!uv_is_closing(&slot->u.handle))
        uv_close(&slot->u.handle, on_slot_closed);
    report_ready(p);
}

static void on_tcp_connected(uv_connect_t *req, int status)
{
    struct sc_probe_slot *slot = req->data;

    if (status == UV_ECANCELED)
        return;  /* closed on a timeout or a stop: already decided */
    /* Closing right away sends a FIN: nothing was sent or is unread. */
    slot_decide(slot, status == 0 ? PROBE_OPEN : status);
}

static void on_timeout(uv_timer_t *timer)
{
    struct sc_probe_slot *slot = timer->data;

    slot_decide(slot, slot->probe->opts->udp ? PROBE_OPEN_FILTERED : UV_ETIMEDOUT);
}

static void udp_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    /* A reply only tells us the port is open: its bytes are not kept. */
    static char scratch[2048];

    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(scratch, sizeof(scratch));
}

static void on_udp_read(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags)
{
    struct sc_probe_slot *slot = udp->data;

    (void)buf;
    (void)flags;
    if (nread < 0)
        slot_decide(slot, (int32_t)nread);  /* ECONNREFUSED: the ICMP unreachable */
    else if (nread > 0 || addr)
        slot_decide(slot, PROBE_OPEN);      /* a reply */
}

static int start_tcp(struct sc_probe *p, struct sc_probe_slot *slot, const struct sockaddr *sa)
{
    int rc = uv_tcp_init(p->loop, &slot->u.tcp);

    if (rc < 0)
        return rc;
    slot->busy = true;
    p->live_handles++;
    slot->connect_req.data = slot;
    return uv_tcp_connect(&slot->connect_req, &slot->u.tcp, sa, on_tcp_connected);
}

static int start_udp(struct sc_probe *p, struct sc_probe_slot *slot, const struct sockaddr *sa)
{
    int rc = uv_udp_init_ex(p->loop, &slot->u.udp, sa->sa_family);
    uv_buf_t empty = uv_buf_init(NULL, 0);

    if (rc < 0)
        return rc;
    slot->busy = true;
    p->live_handles++;
    if ((rc = uv_udp_connect(&slot->u.udp, sa)) < 0 ||
        (rc = uv_udp_recv_start(&slot->u.udp, udp_alloc, on_udp_read)) < 0)
        return rc;
    rc = uv_udp_try_send(&slot->u.udp, &empty, 1, NULL);
    return rc < 0 ? rc : 0;
}

/* Starts the probe of the next port in `slot`, if any port is left. */
static void launch_next(struct sc_probe *p, struct sc_probe_slot *slot)
{
    struct sockaddr_storage sa = p->target;
    unsigned port = p->next_port;
    int rc;

    if (port == 0)
        return;
    p->next_port = portlist_next(p->opts->ports, port);
    slot->port = port;
    slot->decided = false;
    slot->u.handle.data = slot;
    net_set_port((struct sockaddr *)&sa, port);
    p->in_flight++;
    rc = p->opts->udp ? start_udp(p, slot, (struct sockaddr *)&sa)
                      : start_tcp(p, slot, (struct sockaddr *)&sa);
    if (rc < 0 && !slot->busy) {
        /* No handle to close: the slot is free again at once. */
        p->in_flight--;
        p->result[port] = rc;
        report_ready(p);
        launch_next(p, slot);
        return;
    }
    uv_timer_start(&slot->timer, on_timeout, wait_ms(p), 0);
    if (rc < 0)
        slot_decide(slot, rc);
}

/* ---- the whole probe ---- */

static int probe_alloc(struct sc_probe *p)
{
    unsigned want = probe_concurrency();

    if (want > p->opts->ports->count)
        want = p->opts->ports->count;
    p->result = calloc(SC_PORT_MAX + 1, sizeof(*p->result));
    p->slots = calloc(want ? want : 1, sizeof(*p->slots));  /* a port list is never empty */
    if (!p->result || !p->slots)
        return UV_ENOMEM;
    p->slot_count = want;
    for (unsigned i = 0; i < want; i++) {
        p->slots[i].probe = p;
        uv_timer_init(p->loop, &p->slots[i].timer);
        p->slots[i].timer.data = &p->slots[i];
        p->live_handles++;
    }
    return 0;
}

static void on_resolved(void *data, int status, struct addrinfo *res)
{
    struct sc_probe *p = data;
    int rc = status;

    p->lookup = NULL;
    if (rc == 0) {
        /* The first address, as the system orders them (gai.conf). */
        memcpy(&p->target, res->ai_addr, res->ai_addrlen);
        freeaddrinfo(res);
        rc = probe_alloc(p);
    }
    if (rc < 0) {
        conv_fail(p->conv, rc, "resolve %s", p->opts->host);
        return;
    }
    sc_verbose(1, "probing %u %s ports of %s, %u at a time, %llu ms each", p->opts->ports->count,
               p->opts->udp ? "UDP" : "TCP", p->opts->host, p->slot_count,
               (unsigned long long)wait_ms(p));
    p->next_port = portlist_next(p->opts->ports, 0);
    p->print_port = p->next_port;
    for (unsigned i = 0; i < p->slot_count && !p->stopped; i++)
        launch_next(p, &p->slots[i]);
    probe_finish_if_done(p);
}

void probe_start(struct sc_probe *p, uv_loop_t *loop, const struct sc_opts *opts,
                 struct sc_conv *conv)
{
    int rc;

    *p = (struct sc_probe){ .loop = loop, .opts = opts, .conv = conv };
    rc = net_lookup_start(loop, &p->lookup, opts->host, opts->family, opts->numeric, false,
                          on_resolved, p);
    if (rc < 0)
        conv_fail(conv, rc, "resolve %s", opts->host);
}

void probe_stop(struct sc_probe *p)
{
    p->stopped = true;
    p->next_port = 0;
    if (p->lookup) {
        net_lookup_abandon(p->lookup);
        p->lookup = NULL;
    }
    for (unsigned i = 0; i < p->slot_count; i++) {
        struct sc_probe_slot *slot = &p->slots[i];
        uv_timer_stop(&slot->timer);
        if (slot->busy && !uv_is_closing(&slot->u.handle))
            uv_close(&slot->u.handle, on_slot_closed);
    }
}

static void on_timer_closed(uv_handle_t *handle)
{
    struct sc_probe_slot *slot = handle->data;
    struct sc_probe *p = slot->probe;

    if (--p->live_handles == 0)
        probe_close(p);
}

void probe_close(struct sc_probe *p)
{
    if (!p->closing) {
        p->closing = true;
        probe_stop(p);
        for (unsigned i = 0; i < p->slot_count; i++)
            uv_close((uv_handle_t *)&p->slots[i].timer, on_timer_closed);
    }
    if (p->live_handles > 0)
        return;
    free(p->slots);
    free(p->result);
    p->slots = NULL;
    p->result = NULL;
    p->slot_count = 0;
}
