/*
 * loadclient: many concurrent TCP clients against one server, for the
 * keep-open tests and bench/run.
 *
 *   loadclient [-c CONNS] [-b BYTES] [-t SECONDS] [-p PENDING] [-H SECONDS] [-r] [-v] HOST PORT
 *   loadclient -P [-c CONNS] [-b BYTES]
 *
 * Opens CONNS connections at once and keeps them all open. When every
 * connect has finished (succeeded or failed), each connected client sends
 * BYTES bytes of its own pattern, half-closes (shutdown of the write side)
 * and waits for the server's EOF. A client is "ok" when its bytes were all
 * written, its half-close went out, the server's EOF came back and the
 * connection then ended cleanly (our FIN acknowledged, no reset). Anything
 * else, including the -t deadline, makes it "failed".
 * -p limits how many connects are in progress at the same time (by default
 * all CONNS are started at once, a burst); the connections that are made
 * still all stay open until the end.
 *
 * The pattern is made of 100-byte lines, each naming its connection and
 * line number, e.g. (filler shortened):
 *   conn 00042 line 00000000 mnopqrstuvwxyz...\n
 * so a receiver can sort the lines it got and compare them with the output
 * of -P, which prints exactly the bytes every connection would send.
 *
 * stdout: one line,
 *   connections=N ok=N failed=N connect_seconds=F total_seconds=F connect_rate=F/s
 * Exit status: 0 all ok, 1 some failed, 2 usage or setup error, 3 the -t
 * deadline fired.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <uv.h>

#define LINE_LEN 100u
#define LINE_HEAD 25u /* "conn 00042 line 00000000 " */
#define MAX_CONNS 99999u
#define FINAL_POLL_MS 2

typedef struct conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    struct conn *next_final; /* waiting for the connection to end */
    unsigned id;
    uint64_t sent;
    uint64_t recvd;
    char *wbuf;
    unsigned inited : 1;
    unsigned connected : 1;
    unsigned eof : 1;
    unsigned shut : 1;
    unsigned done : 1;
    unsigned in_final : 1;
} conn_t;

static uv_loop_t *loop;
static conn_t *conns;
static unsigned nconns = 100;
static uint64_t nbytes = 100;
static double deadline_s = 60.0;
static unsigned max_pending; /* 0: no limit */
static unsigned next_conn, npending;
static struct sockaddr_storage addr;
static int echo_check;
static int receive_only; /* -R: send nothing, take BYTES from the server */
static int verbose;
static uint64_t total_received;

static unsigned nsettled, nconnected, nok, nfailed;
static int timed_out;
static uint64_t t_start, t_connected, t_end;
static uv_timer_t deadline_timer, final_timer;
static conn_t *final_list;
static size_t chunk_size;
static char rbuf[65536];

static void conn_fail(conn_t *c, const char *what, int err);
static void check_all_done(void);

/* ---- the pattern ------------------------------------------------------ */

static void put_digits(char *at, unsigned width, uint64_t v)
{
    while (width-- > 0) {
        at[width] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Line `line` of connection `id`: "conn NNNNN line LLLLLLLL " + letters + "\n". */
static void pattern_line(unsigned id, uint64_t line, char out[LINE_LEN])
{
    unsigned i;
    memcpy(out, "conn 00000 line 00000000 ", LINE_HEAD);
    put_digits(out + 5, 5, id);
    put_digits(out + 16, 8, line);
    for (i = LINE_HEAD; i < LINE_LEN - 1; i++)
        out[i] = (char)('a' + (id + line + i) % 26);
    out[LINE_LEN - 1] = '\n';
}

/* Fill buf with `len` pattern bytes of connection id starting at offset. */
static void pattern_fill(unsigned id, uint64_t off, char *buf, size_t len)
{
    char line[LINE_LEN];
    uint64_t cur = UINT64_MAX;
    while (len > 0) {
        uint64_t ln = off / LINE_LEN;
        size_t col = (size_t)(off % LINE_LEN), n = LINE_LEN - col;
        if (ln != cur) {
            pattern_line(id, ln, line);
            cur = ln;
        }
        if (n > len)
            n = len;
        memcpy(buf, line + col, n);
        buf += n;
        off += n;
        len -= n;
    }
}

static int pattern_equal(unsigned id, uint64_t off, const char *buf, size_t len)
{
    char tmp[4096];
    while (len > 0) {
        size_t n = len < sizeof tmp ? len : sizeof tmp;
        pattern_fill(id, off, tmp, n);
        if (memcmp(tmp, buf, n) != 0)
            return 0;
        buf += n;
        off += n;
        len -= n;
    }
    return 1;
}

/* ---- helpers ---------------------------------------------------------- */

static double secs(uint64_t a, uint64_t b)
{
    return b > a ? (double)(b - a) / 1e9 : 0.0;
}

static void conn_close(conn_t *c)
{
    if (c->inited && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, NULL);
}

static void conn_fail(conn_t *c, const char *what, int err)
{
    if (c->done)
        return;
    c->done = 1;
    nfailed++;
    if (verbose)
        fprintf(stderr, "loadclient: conn %05u failed: %s: %s\n", c->id, what,
                err ? uv_strerror(err) : "bytes differ from what was sent");
    conn_close(c);
    check_all_done();
}

static void conn_ok(conn_t *c)
{
    if (c->done)
        return;
    c->done = 1;
    nok++;
    conn_close(c);
    check_all_done();
}

static void check_all_done(void)
{
    if (nok + nfailed < nconns)
        return;
    t_end = uv_hrtime();
    if (!uv_is_closing((uv_handle_t *)&deadline_timer))
        uv_close((uv_handle_t *)&deadline_timer, NULL);
    if (!uv_is_closing((uv_handle_t *)&final_timer))
        uv_close((uv_handle_t *)&final_timer, NULL);
}

/*
 * Both directions are finished from libuv's point of view. The connection
 * is over once the kernel has moved the socket to CLOSE: our FIN was
 * acknowledged (then it is clean) or a reset came (then SO_ERROR says so).
 * A server that closed without reading our bytes answers them with a
 * reset, so this is what tells "delivered" from "thrown away".
 * Returns 1 when decided.
 */
static int conn_final_check(conn_t *c)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    uv_os_fd_t fd;
    int err = 0;

    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) {
        conn_fail(c, "fileno", UV_EBADF);
        return 1;
    }
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) {
        conn_fail(c, "getsockopt TCP_INFO", uv_translate_sys_error(errno));
        return 1;
    }
    if (ti.tcpi_state != TCP_CLOSE)
        return 0;
    len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        conn_fail(c, "getsockopt SO_ERROR", uv_translate_sys_error(errno));
        return 1;
    }
    if (err != 0)
        conn_fail(c, "after close", uv_translate_sys_error(err));
    else
        conn_ok(c);
    return 1;
}

static void on_final_timer(uv_timer_t *t)
{
    conn_t **pp = &final_list;
    (void)t;
    while (*pp) {
        conn_t *c = *pp;
        if (c->done || conn_final_check(c)) {
            *pp = c->next_final;
            c->in_final = 0;
        } else {
            pp = &c->next_final;
        }
    }
    if (!final_list)
        uv_timer_stop(&final_timer);
}

static void conn_maybe_finish(conn_t *c)
{
    if (c->done || !c->eof || !c->shut || c->in_final)
        return;
    if (echo_check && c->recvd != nbytes) {
        if (verbose)
            fprintf(stderr, "loadclient: conn %05u: echo ended after %" PRIu64 " of %" PRIu64
                    " bytes\n", c->id, c->recvd, nbytes);
        conn_fail(c, "echo", UV_EPROTO);
        return;
    }
    if (conn_final_check(c))
        return;
    c->in_final = 1;
    c->next_final = final_list;
    final_list = c;
    if (!uv_is_active((uv_handle_t *)&final_timer))
        uv_timer_start(&final_timer, on_final_timer, FINAL_POLL_MS, FINAL_POLL_MS);
}

/* ---- I/O -------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(rbuf, sizeof rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (c->done)
        return;
    if (nread > 0) {
        total_received += (uint64_t)nread;
        if (receive_only) {
            c->recvd += (uint64_t)nread;
            if (c->recvd >= nbytes)
                c->recvd == nbytes ? conn_ok(c) : conn_fail(c, "more than expected", UV_EPROTO);
            return;
        }
        if (echo_check) {
            if (c->recvd + (uint64_t)nread > nbytes ||
                !pattern_equal(c->id, c->recvd, buf->base, (size_t)nread)) {
                c->recvd += (uint64_t)nread;
                conn_fail(c, "echo", 0);
                return;
            }
        }
        c->recvd += (uint64_t)nread;
    } else if (nread == UV_EOF && receive_only) {
        conn_fail(c, "EOF before all bytes", UV_EOF);
    } else if (nread == UV_EOF) {
        c->eof = 1;
        conn_maybe_finish(c);
    } else if (nread < 0) {
        conn_fail(c, "read", (int)nread);
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn_t *c = req->data;
    if (c->done)
        return;
    if (status < 0) {
        conn_fail(c, "shutdown", status);
        return;
    }
    c->shut = 1;
    conn_maybe_finish(c);
}

static void conn_shutdown(conn_t *c)
{
    int rc;
    c->sreq.data = c;
    rc = uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown);
    if (rc < 0)
        conn_fail(c, "shutdown", rc);
}

static void conn_send_next(conn_t *c);

static void on_write(uv_write_t *req, int status)
{
    conn_t *c = req->data;
    size_t n = (size_t)(nbytes - c->sent < chunk_size ? nbytes - c->sent : chunk_size);
    if (c->done || status < 0) {
        free(c->wbuf);
        c->wbuf = NULL;
        if (!c->done)
            conn_fail(c, "write", status);
        return;
    }
    c->sent += n;
    if (c->sent < nbytes) {
        conn_send_next(c);
        return;
    }
    free(c->wbuf);
    c->wbuf = NULL;
    conn_shutdown(c);
}

static void conn_send_next(conn_t *c)
{
    size_t n = (size_t)(nbytes - c->sent < chunk_size ? nbytes - c->sent : chunk_size);
    uv_buf_t b;
    int rc;
    if (!c->wbuf) {
        c->wbuf = malloc(chunk_size);
        if (!c->wbuf) {
            conn_fail(c, "malloc", UV_ENOMEM);
            return;
        }
    }
    pattern_fill(c->id, c->sent, c->wbuf, n);
    b = uv_buf_init(c->wbuf, (unsigned)n);
    c->wreq.data = c;
    rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(c->wbuf);
        c->wbuf = NULL;
        conn_fail(c, "write", rc);
    }
}

/* -H: how long all connections stay idle before sending (measuring idle cost). */
static double hold_seconds;
static uv_timer_t hold_timer;

static void start_sending(void)
{
    unsigned i;
    for (i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        if (c->done || !c->connected || receive_only)
            continue;
        if (nbytes == 0)
            conn_shutdown(c);
        else
            conn_send_next(c);
    }
}

static void on_hold_over(uv_timer_t *t)
{
    uv_close((uv_handle_t *)t, NULL);
    start_sending();
}

static void all_settled(void)
{
    t_connected = uv_hrtime();
    if (receive_only) {
        /* Tell a waiting script that the receivers are all in place. */
        fprintf(stderr, "loadclient: %u of %u connected, receiving\n", nconnected, nconns);
        fflush(stderr);
        return;
    }
    if (hold_seconds <= 0) {
        start_sending();
        return;
    }
    /* Tell a waiting script that every connection is up and idle now. */
    fprintf(stderr, "loadclient: holding %u connections idle\n", nconns);
    fflush(stderr);
    uv_timer_init(loop, &hold_timer);
    uv_timer_start(&hold_timer, on_hold_over, (uint64_t)(hold_seconds * 1000), 0);
}

static void conn_settled(void)
{
    if (++nsettled == nconns)
        all_settled();
}

static void on_connect(uv_connect_t *req, int status);

/* Start connects until -p of them are in progress or all are started. */
static void start_connects(void)
{
    while (next_conn < nconns && (max_pending == 0 || npending < max_pending)) {
        conn_t *c = &conns[next_conn];
        int rc;
        next_conn++;
        if (c->done) { /* the deadline came first */
            conn_settled();
            continue;
        }
        rc = uv_tcp_init(loop, &c->tcp);
        if (rc < 0) {
            conn_fail(c, "init", rc);
            conn_settled();
            continue;
        }
        c->inited = 1;
        c->tcp.data = c;
        c->creq.data = c;
        rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&addr, on_connect);
        if (rc < 0) {
            conn_fail(c, "connect", rc);
            conn_settled();
            continue;
        }
        npending++;
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    conn_t *c = req->data;
    int rc;
    npending--;
    start_connects();
    if (c->done) {
        conn_settled();
        return;
    }
    if (status < 0) {
        conn_fail(c, "connect", status);
        conn_settled();
        return;
    }
    c->connected = 1;
    nconnected++;
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0)
        conn_fail(c, "read", rc);
    conn_settled();
}

static void on_deadline(uv_timer_t *t)
{
    unsigned i, left = nconns - nok - nfailed;
    (void)t;
    timed_out = 1;
    fprintf(stderr, "loadclient: deadline of %g s reached with %u of %u connections unfinished\n",
            deadline_s, left, nconns);
    if (t_connected == 0)
        t_connected = uv_hrtime();
    for (i = 0; i < nconns; i++)
        conn_fail(&conns[i], "deadline", UV_ETIMEDOUT);
}

/* ---- setup ------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: loadclient [-c CONNS] [-b BYTES] [-t SECONDS] [-p PENDING] [-H SECONDS] [-r | -R] [-v] HOST PORT\n"
            "       loadclient -P [-c CONNS] [-b BYTES]\n"
            "  -c CONNS    concurrent connections, all kept open (default 100, max %u)\n"
            "  -b BYTES    bytes each connection sends, suffix K, M or G allowed (default 100)\n"
            "  -t SECONDS  overall deadline, exit 3 when it fires (default 60)\n"
            "  -p PENDING  at most PENDING connects in progress at once (default 0: all at once)\n"
            "  -H SECONDS  once all are connected, say so on stderr and stay idle this long\n"
            "  -r          expect the server to echo: verify each client gets its own bytes back\n"
            "  -R          receive only: send nothing; a client is done when BYTES have arrived\n"
            "  -v          one stderr line per failed connection\n"
            "  -P          print the bytes all connections would send, then exit\n",
            MAX_CONNS);
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;
    if (*s == '-' || *s == '\0')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': mul = 1024ull; end++; break;
    case 'm': case 'M': mul = 1024ull * 1024; end++; break;
    case 'g': case 'G': mul = 1024ull * 1024 * 1024; end++; break;
    default: return -1;
    }
    if (*end != '\0' || (v && (uint64_t)v > UINT64_MAX / mul))
        return -1;
    *out = (uint64_t)v * mul;
    return 0;
}

static int resolve(const char *host, const char *port, struct sockaddr_storage *ss)
{
    struct addrinfo hints, *res = NULL;
    char *end;
    long p;
    int rc;

    errno = 0;
    p = strtol(port, &end, 10);
    if (errno || *end || end == port || p < 1 || p > 65535) {
        fprintf(stderr, "loadclient: invalid port '%s'\n", port);
        return -1;
    }
    if (uv_ip4_addr(host, (int)p, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) {
        fprintf(stderr, "loadclient: resolve %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            perror("loadclient: setrlimit RLIMIT_NOFILE");
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (uint64_t)nconns + 16 > (uint64_t)rl.rlim_cur)
        fprintf(stderr, "loadclient: warning: open file limit %llu is below %u connections\n",
                (unsigned long long)rl.rlim_cur, nconns);
}

static int print_pattern(void)
{
    static char buf[65536];
    unsigned id;
    for (id = 0; id < nconns; id++) {
        uint64_t off = 0;
        while (off < nbytes) {
            size_t n = nbytes - off < sizeof buf ? (size_t)(nbytes - off) : sizeof buf;
            pattern_fill(id, off, buf, n);
            if (fwrite(buf, 1, n, stdout) != n)
                return 1;
            off += n;
        }
    }
    return fflush(stdout) != 0;
}

int main(int argc, char **argv)
{
    int opt, print_only = 0;
    unsigned i;
    double conn_s, rate;
    uint64_t v;

    while ((opt = getopt(argc, argv, "c:b:t:p:H:rRvPh")) != -1) {
        switch (opt) {
        case 'c':
            if (parse_size(optarg, &v) != 0 || v < 1 || v > MAX_CONNS) {
                fprintf(stderr, "loadclient: invalid connection count '%s'\n", optarg);
                return 2;
            }
            nconns = (unsigned)v;
            break;
        case 'b':
            if (parse_size(optarg, &v) != 0) {
                fprintf(stderr, "loadclient: invalid byte count '%s'\n", optarg);
                return 2;
            }
            nbytes = v;
            break;
        case 't': {
            char *end;
            errno = 0;
            deadline_s = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(deadline_s > 0) || deadline_s > 86400 * 7) {
                fprintf(stderr, "loadclient: invalid deadline '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case 'p':
            if (parse_size(optarg, &v) != 0 || v > MAX_CONNS) {
                fprintf(stderr, "loadclient: invalid pending count '%s'\n", optarg);
                return 2;
            }
            max_pending = (unsigned)v;
            break;
        case 'H':
            hold_seconds = strtod(optarg, NULL);
            if (hold_seconds < 0 || hold_seconds > 3600) {
                fprintf(stderr, "loadclient: bad -H '%s'\n", optarg);
                return 2;
            }
            break;
        case 'r': echo_check = 1; break;
        case 'R': receive_only = 1; break;
        case 'v': verbose = 1; break;
        case 'P': print_only = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (print_only) {
        if (optind != argc) {
            usage(stderr);
            return 2;
        }
        return print_pattern();
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    if (resolve(argv[optind], argv[optind + 1], &addr) != 0)
        return 2;

    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    /* Keep the memory of many idle-but-sending clients modest. */
    chunk_size = nconns > 1000 ? 4096 : 65536;
    if (nbytes > 0 && nbytes < chunk_size)
        chunk_size = (size_t)nbytes;

    conns = calloc(nconns, sizeof *conns);
    if (!conns) {
        fprintf(stderr, "loadclient: out of memory\n");
        return 2;
    }
    for (i = 0; i < nconns; i++)
        conns[i].id = i;
    loop = uv_default_loop();
    uv_timer_init(loop, &deadline_timer);
    uv_timer_init(loop, &final_timer);
    uv_timer_start(&deadline_timer, on_deadline, (uint64_t)(deadline_s * 1000.0), 0);

    t_start = uv_hrtime();
    start_connects();

    uv_run(loop, UV_RUN_DEFAULT);
    if (t_end == 0)
        t_end = uv_hrtime();
    if (t_connected == 0)
        t_connected = t_end;

    conn_s = secs(t_start, t_connected);
    rate = conn_s > 0 ? nconnected / conn_s : 0.0;
    printf("connections=%u ok=%u failed=%u connect_seconds=%.3f total_seconds=%.3f "
           "connect_rate=%.1f/s received=%" PRIu64 "\n",
           nconns, nok, nfailed, conn_s, secs(t_start, t_end), rate, total_received);
    fflush(stdout);

    if (uv_loop_close(loop) != 0)
        fprintf(stderr, "loadclient: warning: handles left open\n");
    for (i = 0; i < nconns; i++)
        free(conns[i].wbuf);
    free(conns);
    if (timed_out)
        return 3;
    return nfailed ? 1 : 0;
}
