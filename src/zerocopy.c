#define _GNU_SOURCE  /* splice, F_SETPIPE_SZ */
#include "zerocopy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "conv.h"
#include "diag.h"
#include "transform.h"

/* Bytes asked of one sendfile or splice call. */
#define MOVE_CHUNK (1024 * 1024)
/* Bytes one readiness callback moves at most, so that the other direction
 * on the same loop gets its turn. */
#define MOVE_BUDGET (16 * 1024 * 1024)
/* The size asked for sockcat's own pipe (the kernel may give less). */
#define RELAY_PIPE_SIZE (1024 * 1024)
/* Bulk receiving: see bulk_wait. */
#define BULK_LOWAT (256 * 1024)
#define BULK_MIN (128 * 1024)
#define BULK_TAIL_MS 1
/* Buffer for a sink that refuses splice, drained by read and write. */
#define COPY_BUFFER (64 * 1024)

enum zc_kind {
    ZC_SENDFILE,        /* regular file -> socket */
    ZC_SPLICE,          /* pipe <-> socket, directly */
    ZC_SPLICE_VIA_PIPE, /* socket -> our pipe -> file or memory device */
    ZC_DISCARD,         /* TCP socket -> /dev/null: the kernel drops the bytes */
};

enum zc_dir { ZC_TO_PEER, ZC_TO_STDOUT };

struct zc_side {
    int fd;             /* what is moved from or to */
    bool owned;         /* fd is our duplicate, closed with the path */
    bool polled;        /* poll is initialised on fd */
    bool armed;         /* poll is started */
    uv_poll_t poll;
};

struct sc_zc_path {
    struct sc_hub *hub;
    struct sc_peer *peer;
    enum zc_dir dir;
    enum zc_kind kind;
    struct zc_side src, dst;
    int relay[2];       /* ZC_SPLICE_VIA_PIPE: our pipe, else -1 */
    size_t relay_size;
    bool copy_drain;    /* the sink refused splice: the relay is drained by copying */
    int deferred_errno; /* the source failed after relay_fill() had bytes: next step */
    uint64_t moved;
    uint64_t run_start; /* `moved` when the latest path_run began */
    bool bulk_able;     /* a TCP source into a sink that never waits */
    bool bulk;          /* SO_RCVLOWAT is BULK_LOWAT, and the tail timer runs while waiting */
    uv_timer_t tail;    /* initialised when bulk_able */
    int handles_open;
};

/* What one step of a path came to. */
enum zc_step {
    STEP_MOVED,         /* some bytes moved: go on */
    STEP_SHORT,         /* fewer than asked: the source is likely empty */
    STEP_EOF,
    STEP_AGAIN,         /* EAGAIN: one side or the other is not ready */
    STEP_SRC_ERROR,
    STEP_DST_ERROR,
    STEP_UNSUPPORTED,   /* the kernel cannot move between these two */
};

bool zerocopy_allowed(const struct sc_opts *opts)
{
    const char *env = getenv("SOCKCAT_NO_ZEROCOPY");

    if (opts->no_zerocopy || (env && env[0] && strcmp(env, "0") != 0))
        return false;
    /* -k: stdin is a broadcast to many, and clients fan in to stdout. */
    if (opts->keep_open)
        return false;
    /* -C, -x, -o: every chunk takes the transform step. */
    if (transform_needed(opts))
        return false;
    /* -i: the idle clock is kept by the bytes passing through sockcat. */
    if (opts->idle_ms)
        return false;
    /* --ssl: the bytes on the wire are not the bytes of stdin and stdout. */
    if (opts->ssl)
        return false;
    /* --proxy: bytes read behind the proxy's answer come before the socket's. */
    if (opts->proxy_host)
        return false;
    /* -e/-c: the program's pipes are the conversation, not stdin and stdout. */
    if (opts->exec)
        return false;
    /* -u: datagram boundaries are kept by reading into sockcat. */
    if (opts->udp)
        return false;
    return true;
}

/* ---- moving ---- */

/* Errors that belong to the connection rather than to stdin or stdout. */
static bool is_connection_error(int err)
{
    switch (err) {
    case ECONNRESET: case ECONNABORTED: case ENOTCONN: case ETIMEDOUT:
    case EHOSTUNREACH: case ENETUNREACH: case ENETDOWN: case ENETRESET:
        return true;
    default:
        return false;
    }
}

/* Sorts a failed call's errno into a step; `err` keeps the libuv error. */
static enum zc_step step_of_errno(const struct sc_zc_path *path, int e, int *err)
{
    bool socket_is_src = path->dir == ZC_TO_STDOUT;

    *err = -e;
    if (e == EAGAIN || e == EWOULDBLOCK)
        return STEP_AGAIN;
    if ((e == EINVAL || e == ENOSYS || e == EOPNOTSUPP) && path->moved == 0)
        return STEP_UNSUPPORTED;
    if (e == EPIPE)
        return STEP_DST_ERROR;  /* the peer, or the reader of stdout, went away */
    if (is_connection_error(e))
        return socket_is_src ? STEP_SRC_ERROR : STEP_DST_ERROR;
    return socket_is_src ? STEP_DST_ERROR : STEP_SRC_ERROR;
}

/* Writes out `len` bytes of the relay pipe by copying (a sink that refuses splice). */
static int relay_copy_out(struct sc_zc_path *path, size_t len, size_t *written)
{
    char buf[COPY_BUFFER];

    while (len > 0) {
        ssize_t n = read(path->relay[0], buf, len < sizeof(buf) ? len : sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? UV_EIO : -errno;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(path->dst.fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -errno;
            off += w;
            *written += (size_t)w;
        }
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Empties the relay pipe into the sink: a regular file or a memory device,
 * whose writes never wait. Returns 0 or a libuv error; *written says how
 * much went out either way.
 */
static int relay_drain(struct sc_zc_path *path, size_t len, size_t *written)
{
    *written = 0;
    while (len > 0 && !path->copy_drain) {
        ssize_t n = splice(path->relay[0], NULL, path->dst.fd, NULL, len, SPLICE_F_MOVE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EINVAL) {
            /* An O_APPEND file, or a file system without splice. */
            path->copy_drain = true;
            break;
        }
        if (n <= 0)
            return n == 0 ? UV_EIO : -errno;
        len -= (size_t)n;
        *written += (size_t)n;
    }
    return len > 0 ? relay_copy_out(path, len, written) : 0;
}

/*
 * Fills the relay pipe from the source until the pipe is full or the source
 * has nothing more at this moment. A non-blocking splice takes only what the
 * socket holds when it is called; what arrives meanwhile (the sender runs on
 * the other CPU) waits for the next. Asking again before draining makes each
 * drain larger and the wake-ups fewer. Returns the bytes, or what the first
 * call returned (0 at the end, -1 with errno); a failure after some bytes is
 * kept for the next step, since the kernel reports a socket error only once.
 */
static ssize_t relay_fill(struct sc_zc_path *path)
{
    size_t total = 0;

    if (path->deferred_errno) {
        errno = path->deferred_errno;
        path->deferred_errno = 0;
        return -1;
    }
    for (;;) {
        ssize_t n = splice(path->src.fd, NULL, path->relay[1], NULL, path->relay_size - total,
                           SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (n > 0) {
            total += (size_t)n;
            if (total < path->relay_size)
                continue;
            return (ssize_t)total;
        }
        if (total == 0)
            return n;
        /* EAGAIN: nothing more now, or the pipe is full; 0: the end, which
         * the next step sees again. */
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            path->deferred_errno = errno;
        return (ssize_t)total;
    }
}

/* Counts bytes that left the source. */
static void count_read(struct sc_zc_path *path, size_t n)
{
    struct sc_hub *hub = path->hub;

    if (path->dir == ZC_TO_PEER) {
        hub->in->bytes_read += n;
    } else {
        path->peer->ep->bytes_read += n;
        hub->counters->received += n;  /* what the fan-in pump counts in */
    }
}

/* Counts bytes the sink took, and tells the pump as a finished write would. */
static void count_written(struct sc_zc_path *path, size_t n)
{
    struct sc_hub *hub = path->hub;

    path->moved += n;
    if (path->dir == ZC_TO_PEER) {
        path->peer->ep->bytes_written += n;
        pump_on_written(&path->peer->sink, n, 0);
    } else {
        hub->out->bytes_written += n;
        pump_on_written(&hub->out_sink, n, 0);
    }
}

static enum zc_step move_once(struct sc_zc_path *path, int *err)
{
    ssize_t n;
    size_t written;
    int rc;

    switch (path->kind) {
    case ZC_SENDFILE:
        n = sendfile(path->dst.fd, path->src.fd, NULL, MOVE_CHUNK);
        break;
    case ZC_SPLICE:
        n = splice(path->src.fd, NULL, path->dst.fd, NULL, MOVE_CHUNK,
                   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        break;
    case ZC_DISCARD:
        /* TCP takes MSG_TRUNC as "drop this many bytes": nothing is copied
         * and no buffer is touched, which is all /dev/null would do. */
        n = recv(path->src.fd, NULL, MOVE_CHUNK, MSG_TRUNC | MSG_DONTWAIT);
        break;
    default:
        n = relay_fill(path);
        break;
    }
    if (n < 0)
        return errno == EINTR ? STEP_MOVED : step_of_errno(path, errno, err);
    if (n == 0)
        return STEP_EOF;
    count_read(path, (size_t)n);
    if (path->kind == ZC_SPLICE_VIA_PIPE) {
        rc = relay_drain(path, (size_t)n, &written);
        count_written(path, written);
        if (rc < 0) {
            *err = rc;
            return STEP_DST_ERROR;
        }
        return (size_t)n < path->relay_size ? STEP_SHORT : STEP_MOVED;
    }
    count_written(path, (size_t)n);
    return n < MOVE_CHUNK ? STEP_SHORT : STEP_MOVED;
}

/* ---- readiness ---- */

static void path_on_ready(uv_poll_t *poll, int status, int events);

static void side_arm(struct zc_side *side, int events)
{
    if (!side->polled || side->armed)
        return;
    side->armed = uv_poll_start(&side->poll, events, path_on_ready) == 0;
}

static void side_disarm(struct zc_side *side)
{
    if (side->armed)
        uv_poll_stop(&side->poll);
    side->armed = false;
}

static void path_run(struct sc_zc_path *path);

static void bulk_set(struct sc_zc_path *path, bool on)
{
    int lowat = on ? BULK_LOWAT : 1;

    if (path->bulk == on)
        return;
    if (setsockopt(path->src.fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)) == 0)
        path->bulk = on;
}

static void bulk_on_tail(uv_timer_t *timer)
{
    path_run(timer->data);
}

/*
 * A TCP socket wakes its reader for every segment that arrives: on two
 * CPUs, the sender on one and sockcat on the other, sockcat then moves a
 * little at a time and sleeps in between, and the sender waits for window.
 * Asked to wake only for BULK_LOWAT bytes (SO_RCVLOWAT), each move is a
 * large one: 1 GiB socket -> file, medians of 10 interleaved runs, 2 909 and
 * 3 280 MiB/s against 1 679 and 1 935 waking for every segment (the
 * reference, a blocking splice loop: 2 144 and 2 776). SO_RCVLOWAT would
 * also hold back a last few bytes that never make BULK_LOWAT: while it is
 * set, a timer takes whatever waited BULK_TAIL_MS. A wake-up that moves
 * BULK_MIN or more turns it on, one that moves less (the burst's tail, or
 * nothing) puts it back to 1. Only for sinks nobody watches as bytes come:
 * a file or a memory device, never a pipe or a terminal.
 */
static void bulk_wait(struct sc_zc_path *path)
{
    if (!path->bulk_able)
        return;
    bulk_set(path, path->moved - path->run_start >= BULK_MIN);
    if (path->bulk)
        uv_timer_start(&path->tail, bulk_on_tail, BULK_TAIL_MS, 0);
}

/* Waits for the source to have bytes (a file source never waits). */
static void wait_for_src(struct sc_zc_path *path)
{
    side_disarm(&path->dst);
    side_arm(&path->src, UV_READABLE | UV_DISCONNECT);
    bulk_wait(path);
}

static void wait_for_dst(struct sc_zc_path *path)
{
    side_disarm(&path->src);
    side_arm(&path->dst, UV_WRITABLE | UV_DISCONNECT);
}

/* True when `fd` is ready for `events` at this moment (or it has no poll). */
static bool ready_now(const struct zc_side *side, short events)
{
    struct pollfd pfd = { .fd = side->fd, .events = events };

    if (!side->polled)
        return true;
    return poll(&pfd, 1, 0) == 1 && pfd.revents != 0;
}

/*
 * EAGAIN from splice does not say which end was not ready: ask both. A
 * sink that cannot take more comes first (waiting on the source while it
 * is readable would wake at once, again and again). Returns true when both
 * are ready after all (the state changed meanwhile): try again.
 */
static bool wait_for_the_stuck_side(struct sc_zc_path *path)
{
    if (!ready_now(&path->dst, POLLOUT)) {
        wait_for_dst(path);
        return false;
    }
    if (!ready_now(&path->src, POLLIN)) {
        wait_for_src(path);
        return false;
    }
    return true;
}

/* ---- endings ---- */

static void path_on_handle_closed(uv_handle_t *handle)
{
    struct sc_zc_path *path = handle->data;

    if (--path->handles_open == 0)
        free(path);
}

/* The socket goes back to waking for every byte: the stream path may read it next. */
static void bulk_release(struct sc_zc_path *path)
{
    if (!path->bulk_able)
        return;
    path->bulk_able = false;
    bulk_set(path, false);
    uv_close((uv_handle_t *)&path->tail, path_on_handle_closed);
}

static void side_release(struct zc_side *side)
{
    side_disarm(side);
    if (side->polled) {
        side->polled = false;
        uv_close((uv_handle_t *)&side->poll, path_on_handle_closed);
    }
    if (side->owned && side->fd >= 0)
        close(side->fd);
    side->fd = -1;
}

/* Stops the path and takes it off the hub; freed once its handles close. */
static void path_close(struct sc_zc_path *path)
{
    struct sc_hub *hub = path->hub;

    if (hub->fast_in == path)
        hub->fast_in = NULL;
    if (hub->fast_out == path)
        hub->fast_out = NULL;
    bulk_release(path);
    side_release(&path->src);
    side_release(&path->dst);
    for (int i = 0; i < 2; i++)
        if (path->relay[i] >= 0)
            close(path->relay[i]);
    path->relay[0] = path->relay[1] = -1;
    if (path->handles_open == 0)
        free(path);
}

/* The source ended: hand the end to the hub as the stream path would. */
static void path_on_eof(struct sc_zc_path *path)
{
    struct sc_hub *hub = path->hub;
    struct sc_peer *peer = path->peer;
    enum zc_dir dir = path->dir;

    path_close(path);
    if (dir == ZC_TO_PEER) {
        sc_verbose(2, "end of stdin");
        pump_source_eof(&hub->to_peers);
        return;
    }
    peer->read_done = true;
    sc_verbose(2, "end of input from %s", peer->name);
    conv_peer_read_ended(hub->conv, peer, 0);
}

static void path_on_error(struct sc_zc_path *path, enum zc_step step, int err)
{
    struct sc_hub *hub = path->hub;
    struct sc_peer *peer = path->peer;
    enum zc_dir dir = path->dir;

    path_close(path);
    if (dir == ZC_TO_PEER) {
        if (step == STEP_SRC_ERROR)
            conv_fail(hub->conv, err, "read from stdin");
        else
            pump_on_written(&peer->sink, 0, err);
        return;
    }
    if (step == STEP_SRC_ERROR) {
        peer->read_done = true;
        conv_peer_read_ended(hub->conv, peer, err);
    } else {
        pump_on_written(&hub->out_sink, 0, err);
    }
}

/* Nothing moved yet and the kernel cannot do it: the stream path takes over. */
static void path_fall_back(struct sc_zc_path *path)
{
    struct sc_hub *hub = path->hub;
    struct sc_peer *peer = path->peer;
    enum zc_dir dir = path->dir;

    sc_verbose(2, "zero-copy: not possible here, copying instead");
    path_close(path);
    if (dir == ZC_TO_PEER)
        hub_update_stdin(hub);
    else
        hub_update_peer_read(peer);
}

/* After a full budget: whichever side is armed fires again next turn. */
static void wait_for_either(struct sc_zc_path *path)
{
    if (path->src.armed || path->dst.armed) {
        bulk_wait(path);
        return;
    }
    if (path->src.polled)
        wait_for_src(path);
    else
        wait_for_dst(path);
}

/* Both ends said ready this many times and the move still said EAGAIN:
 * wait for the sink rather than spin. */
#define RETRIES_ON_AGAIN 8

/* Moves what both ends allow now, within the budget, then waits. */
static void path_run(struct sc_zc_path *path)
{
    uint64_t start = path->moved;
    enum zc_step step;
    int err = 0, retries = 0;

    path->run_start = start;
    for (;;) {
        step = move_once(path, &err);
        switch (step) {
        case STEP_MOVED:
            if (path->moved - start < MOVE_BUDGET)
                continue;
            wait_for_either(path);
            return;
        case STEP_SHORT:
            /* Most likely the source is empty; if it was the sink, the
             * next step says EAGAIN and the sides are asked. */
            if (path->src.polled) {
                wait_for_src(path);
                return;
            }
            continue;
        case STEP_AGAIN:
            /* With one end that never waits, the other one is the stuck one. */
            if (!path->src.polled || !path->dst.polled) {
                path->src.polled ? wait_for_src(path) : wait_for_dst(path);
                return;
            }
            if (retries++ < RETRIES_ON_AGAIN && wait_for_the_stuck_side(path))
                continue;
            if (retries > RETRIES_ON_AGAIN)
                wait_for_dst(path);
            return;
        case STEP_EOF:
            path_on_eof(path);
            return;
        case STEP_UNSUPPORTED:
            path_fall_back(path);
            return;
        default:
            path_on_error(path, step, err);
            return;
        }
    }
}

static void path_on_ready(uv_poll_t *poll, int status, int events)
{
    struct sc_zc_path *path = poll->data;
    struct zc_side *side = poll == &path->src.poll ? &path->src : &path->dst;

    (void)events;
    if (path->bulk_able)
        uv_timer_stop(&path->tail);
    /*
     * On POLLERR (a reset, say) libuv stops the handle itself and reports
     * UV_EBADF. The side is no longer watched: say so, or the next wait
     * would take the stale watch for a live one and nothing would ever
     * wake the path again. The error itself comes from a move, after the
     * bytes that arrived before it (the first move may take only those,
     * and the next wait then restarts the poll, which fires at once).
     */
    if (status < 0)
        side->armed = false;
    path_run(path);
}

/* ---- starting ---- */

static int side_setup(uv_loop_t *loop, struct sc_zc_path *path, struct zc_side *side,
                      int fd, bool needs_poll)
{
    side->fd = fd;
    if (!needs_poll)
        return 0;
    side->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (side->fd < 0)
        return -1;
    side->owned = true;
    if (uv_poll_init(loop, &side->poll, side->fd) < 0)
        return -1;
    side->poll.data = path;
    side->polled = true;
    path->handles_open++;
    return 0;
}

static bool fd_is(int fd, mode_t type, struct stat *st)
{
    return fd >= 0 && fstat(fd, st) == 0 && (st->st_mode & S_IFMT) == type;
}

static bool is_stream_socket(int fd)
{
    struct stat st;
    int type = 0;
    socklen_t len = sizeof(type);

    return fd_is(fd, S_IFSOCK, &st) &&
           getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

static bool is_dev_null(int fd)
{
    struct stat st;

    return fd_is(fd, S_IFCHR, &st) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
}

static bool is_tcp(int sock)
{
    int protocol = 0;
    socklen_t len = sizeof(protocol);

    return getsockopt(sock, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 &&
           protocol == IPPROTO_TCP;
}

/*
 * A Unix stream socket has no buffer autotuning: it keeps wmem_default
 * (208 KiB), and a sender that never blocks then moves about 300 KiB per
 * wake-up. Asked for 4 MiB (the kernel caps it at net.core.wmem_max),
 * sendfile of 1 GiB into the reference splice receiver took 0.18-0.21 s and
 * 0.07 CPU s instead of 0.29-0.38 s and 0.13. TCP is left alone: setting
 * SO_SNDBUF there would turn its autotuning off.
 */
#define UNIX_SNDBUF (4 * 1024 * 1024)

static void unix_sndbuf_grow(int sock)
{
    int domain = 0, size = UNIX_SNDBUF;
    socklen_t len = sizeof(domain);

    if (getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX)
        (void)setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

/*
 * A pipe on stdin or stdout is made to hold RELAY_PIPE_SIZE where it holds
 * less (never shrunk; refused above the user's pipe limits, which is fine).
 * With the default 64 KiB, the writer and sockcat take turns every 16 pages
 * on two cores: each splice moves at most what the pipe holds, and each
 * turn is a sleep and a wake-up on both sides. Measured, pipe -> socket
 * at 512 MiB: 1063-1329 MiB/s with 1 MiB against 322-800 with 64 KiB.
 * The only thing the other end sees is a writer that may get further ahead.
 */
static void pipe_grow(int fd)
{
    int size = fcntl(fd, F_GETPIPE_SZ);

    if (size >= 0 && size < RELAY_PIPE_SIZE)
        (void)fcntl(fd, F_SETPIPE_SZ, RELAY_PIPE_SIZE);
}

/* Our pipe for a sink that is not one, as large as the kernel allows us. */
static int relay_open(struct sc_zc_path *path)
{
    int size;

    if (pipe2(path->relay, O_CLOEXEC) < 0) {
        path->relay[0] = path->relay[1] = -1;
        return -1;
    }
    fcntl(path->relay[1], F_SETPIPE_SZ, RELAY_PIPE_SIZE);  /* less is fine */
    size = fcntl(path->relay[1], F_GETPIPE_SZ);
    path->relay_size = size > 0 ? (size_t)size : 65536;
    return 0;
}

static struct sc_zc_path *path_new(struct sc_hub *hub, struct sc_peer *peer, enum zc_dir dir,
                                   enum zc_kind kind, int src, bool poll_src, int dst,
                                   bool poll_dst)
{
    uv_loop_t *loop = hub->conv->loop;
    struct sc_zc_path *path = calloc(1, sizeof(*path));

    if (!path)
        return NULL;
    *path = (struct sc_zc_path){ .hub = hub, .peer = peer, .dir = dir, .kind = kind,
                                 .src.fd = -1, .dst.fd = -1, .relay = { -1, -1 } };
    if (side_setup(loop, path, &path->src, src, poll_src) < 0 ||
        side_setup(loop, path, &path->dst, dst, poll_dst) < 0 ||
        (kind == ZC_SPLICE_VIA_PIPE && relay_open(path) < 0)) {
        path_close(path);
        return NULL;
    }
    return path;
}

/* Which fast path, if any, takes stdin to the peer's socket. */
static void attach_to_peer(struct sc_hub *hub, struct sc_peer *peer, int sock)
{
    struct sc_endpoint *in = hub->in;
    int fd = in ? endpoint_fileno(in) : -1;
    struct stat st;
    struct sc_zc_path *path = NULL;

    if (!in || in->is_tty || hub->opts->recv_only)
        return;
    if (fd_is(fd, S_IFREG, &st))
        path = path_new(hub, peer, ZC_TO_PEER, ZC_SENDFILE, fd, false, sock, true);
    else if (fd_is(fd, S_IFIFO, &st)) {
        pipe_grow(fd);
        path = path_new(hub, peer, ZC_TO_PEER, ZC_SPLICE, fd, true, sock, true);
    }
    if (!path)
        return;
    unix_sndbuf_grow(sock);
    hub->fast_in = path;
    sc_verbose(2, "zero-copy: stdin -> %s by %s", peer->name,
               path->kind == ZC_SENDFILE ? "sendfile" : "splice");
    /* The first move waits for the loop: no event comes from inside hub_add_peer. */
    if (path->src.polled)
        wait_for_src(path);
    else
        wait_for_dst(path);
}

/* A sink that never waits, fed by TCP: see bulk_wait. */
static void bulk_setup(uv_loop_t *loop, struct sc_zc_path *path)
{
    if (uv_timer_init(loop, &path->tail) < 0)
        return;
    path->tail.data = path;
    path->handles_open++;
    path->bulk_able = true;
}

/* Which fast path, if any, takes the peer's socket to stdout. */
static void attach_to_stdout(struct sc_hub *hub, struct sc_peer *peer, int sock)
{
    struct sc_endpoint *out = hub->out;
    int fd = out ? endpoint_fileno(out) : -1;
    struct stat st;
    struct sc_zc_path *path = NULL;
    int flags;

    if (!out || out->is_tty)
        return;
    if (fd_is(fd, S_IFIFO, &st)) {
        pipe_grow(fd);
        path = path_new(hub, peer, ZC_TO_STDOUT, ZC_SPLICE, sock, true, fd, true);
    } else if (is_dev_null(fd) && is_tcp(sock)) {
        path = path_new(hub, peer, ZC_TO_STDOUT, ZC_DISCARD, sock, true, fd, false);
    } else if (fd_is(fd, S_IFREG, &st) || fd_is(fd, S_IFCHR, &st)) {
        /* stdio took only memory devices among character devices. */
        flags = fcntl(fd, F_GETFL);
        if (flags >= 0 && !(flags & O_APPEND))
            path = path_new(hub, peer, ZC_TO_STDOUT, ZC_SPLICE_VIA_PIPE, sock, true, fd, false);
    }
    if (!path)
        return;
    if (path->kind != ZC_SPLICE && is_tcp(sock))
        bulk_setup(hub->conv->loop, path);
    hub->fast_out = path;
    sc_verbose(2, "zero-copy: %s -> stdout %s", peer->name,
               path->kind == ZC_DISCARD ? "(/dev/null) dropped by the kernel"
               : path->kind == ZC_SPLICE_VIA_PIPE ? "by splice through a pipe" : "by splice");
    wait_for_src(path);
}

void zerocopy_attach(struct sc_hub *hub, struct sc_peer *peer)
{
    int sock = endpoint_fileno(peer->ep);

    if (!zerocopy_allowed(hub->opts) || hub->peer_count != 1 || !is_stream_socket(sock))
        return;
    if (!hub->fast_in)
        attach_to_peer(hub, peer, sock);
    if (!hub->fast_out)
        attach_to_stdout(hub, peer, sock);
}

bool zerocopy_reads_peer(const struct sc_hub *hub, const struct sc_peer *peer)
{
    return hub->fast_out && hub->fast_out->peer == peer;
}

void zerocopy_detach_peer(struct sc_hub *hub, const struct sc_peer *peer)
{
    if (hub->fast_in && hub->fast_in->peer == peer)
        path_close(hub->fast_in);
    if (hub->fast_out && hub->fast_out->peer == peer)
        path_close(hub->fast_out);
}

void zerocopy_stop(struct sc_hub *hub)
{
    if (hub->fast_in)
        path_close(hub->fast_in);
    if (hub->fast_out)
        path_close(hub->fast_out);
}
