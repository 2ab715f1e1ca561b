/*
 * brokerclient: many clients of one `sockcat listen --broker`, each sending
 * numbered lines and checking that it gets every other client's lines, in
 * each sender's order, and never its own.
 *
 *   brokerclient [-c CONNS] [-l LINES] [-w WRITES] [-t SECONDS] HOST PORT
 *
 * Opens CONNS connections and prints "connected CONNS" on stdout. Then each
 * waits for the broker to broadcast "go\n" (from its stdin, once every
 * client has joined), and sends LINES lines "SENDER SEQ\n" in WRITES
 * writes. Every line it receives must come from another sender, with that
 * sender's next SEQ. A client that has all (CONNS-1) x LINES lines
 * half-closes and waits for the broker's end.
 *
 * stdout, at the end, one line:
 *   clients=N ok=N lines=N expected=N own=N out_of_order=N bad=N seconds=F
 * Exit status: 0 every client ok, 1 not, 2 usage or setup error, 3 the -t
 * deadline fired.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE 32

struct client {
    int fd;
    unsigned id;
    int go;              /* "go\n" came */
    int writes_left;
    unsigned next_line;  /* of its own, to send */
    char out[8192];      /* what a short write left */
    size_t out_len, out_off;
    char part[MAX_LINE]; /* an unfinished received line */
    size_t part_len;
    uint64_t lines;
    uint16_t *next_seq;  /* per sender: the SEQ expected next */
    int half_closed, done, failed;
};

static unsigned conns = 100, lines_per = 100, writes_per = 5;
static uint64_t own, out_of_order, bad;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_one(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Fills the output with the next batch of its own lines. */
static void next_batch(struct client *c)
{
    unsigned batch = (lines_per + writes_per - 1) / writes_per;

    c->out_len = c->out_off = 0;
    while (batch-- > 0 && c->next_line < lines_per && c->out_len + MAX_LINE < sizeof(c->out))
        c->out_len += (size_t)snprintf(c->out + c->out_len, sizeof(c->out) - c->out_len,
                                       "%u %u\n", c->id, c->next_line++);
    c->writes_left--;
}

/* One write per turn, so that batches from many clients interleave. */
static void client_send(struct client *c)
{
    if (!c->go || c->failed)
        return;
    if (c->out_off == c->out_len) {
        if (c->next_line >= lines_per)
            return;
        next_batch(c);
    }
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n > 0)
        c->out_off += (size_t)n;
    else if (n < 0 && errno != EAGAIN)
        c->failed = 1;
}

static void take_line(struct client *c, const char *line, size_t len)
{
    unsigned s, q;
    char buf[MAX_LINE + 1];

    memcpy(buf, line, len);
    buf[len] = '\0';
    if (!c->go) {
        if (strcmp(buf, "go") == 0)
            c->go = 1;
        else
            bad++;
        return;
    }
    if (sscanf(buf, "%u %u", &s, &q) != 2 || s >= conns || q >= lines_per) {
        bad++;
        return;
    }
    if (s == c->id) {
        own++;
        return;
    }
    if (c->next_seq[s] != q)
        out_of_order++;
    c->next_seq[s] = (uint16_t)(q + 1);
    c->lines++;
}

static void client_read(struct client *c, char *buf, size_t size)
{
    for (;;) {
        ssize_t n = recv(c->fd, buf, size, 0);
        if (n == 0) {
            c->done = 1;
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN)
                c->failed = c->done = 1;
            return;
        }
        size_t start = 0;
        for (size_t i = 0; i < (size_t)n; i++) {
            if (buf[i] != '\n')
                continue;
            if (c->part_len) {
                size_t more = i - start;
                if (c->part_len + more > MAX_LINE) {
                    bad++;
                } else {
                    memcpy(c->part + c->part_len, buf + start, more);
                    take_line(c, c->part, c->part_len + more);
                }
                c->part_len = 0;
            } else if (i - start <= MAX_LINE) {
                take_line(c, buf + start, i - start);
            } else {
                bad++;
            }
            start = i + 1;
        }
        size_t rest = (size_t)n - start;
        if (rest) {
            if (c->part_len + rest > MAX_LINE) {
                bad++;
                c->part_len = 0;
            } else {
                memcpy(c->part + c->part_len, buf + start, rest);
                c->part_len += rest;
            }
        }
    }
}

int main(int argc, char **argv)
{
    double limit = 300;
    int opt;

    while ((opt = getopt(argc, argv, "c:l:w:t:")) != -1) {
        switch (opt) {
        case 'c': conns = (unsigned)atoi(optarg); break;
        case 'l': lines_per = (unsigned)atoi(optarg); break;
        case 'w': writes_per = (unsigned)atoi(optarg); break;
        case 't': limit = atof(optarg); break;
        default: return 2;
        }
    }
    if (argc - optind != 2 || conns < 2 || conns > 60000 || lines_per < 1 ||
        lines_per > 60000 || writes_per < 1) {
        fprintf(stderr, "usage: brokerclient [-c CONNS] [-l LINES] [-w WRITES] [-t SECS] HOST PORT\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < conns + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
    if (getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai) != 0) {
        fprintf(stderr, "brokerclient: cannot resolve %s %s\n", argv[optind], argv[optind + 1]);
        return 2;
    }
    struct client *cs = calloc(conns, sizeof(*cs));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (unsigned i = 0; i < conns; i++) {
        cs[i].id = i;
        cs[i].writes_left = (int)writes_per;
        cs[i].next_seq = calloc(conns, sizeof(uint16_t));
        cs[i].fd = connect_one(ai);
        if (cs[i].fd < 0) {
            fprintf(stderr, "brokerclient: connect %u: %s\n", i, strerror(errno));
            return 2;
        }
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = i };
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    freeaddrinfo(ai);
    printf("connected %u\n", conns);
    fflush(stdout);

    uint64_t expected = (uint64_t)(conns - 1) * lines_per;
    unsigned finished = 0;
    double start = now(), deadline = start + limit;
    static char buf[1 << 16];
    struct epoll_event evs[256];
    int timed_out = 0;

    while (finished < conns) {
        if (now() > deadline) {
            timed_out = 1;
            break;
        }
        int n = epoll_wait(ep, evs, 256, 10);
        for (int k = 0; k < n; k++) {
            struct client *c = &cs[evs[k].data.u32];
            if (!c->done && (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                client_read(c, buf, sizeof(buf));
        }
        finished = 0;
        for (unsigned i = 0; i < conns; i++) {
            struct client *c = &cs[i];
            if (!c->done) {
                client_send(c);
                if (c->lines == expected && c->next_line >= lines_per &&
                    c->out_off == c->out_len && !c->half_closed) {
                    shutdown(c->fd, SHUT_WR);
                    c->half_closed = 1;
                }
            }
            finished += c->done;
        }
    }
    unsigned ok = 0;
    uint64_t total = 0;
    for (unsigned i = 0; i < conns; i++) {
        total += cs[i].lines;
        ok += cs[i].done && !cs[i].failed && cs[i].lines == expected && cs[i].half_closed;
    }
    printf("clients=%u ok=%u lines=%llu expected=%llu own=%llu out_of_order=%llu bad=%llu "
           "seconds=%.2f\n", conns, ok, (unsigned long long)total,
           (unsigned long long)expected * conns, (unsigned long long)own,
           (unsigned long long)out_of_order, (unsigned long long)bad, now() - start);
    if (timed_out)
        return 3;
    return ok == conns && own == 0 && out_of_order == 0 && bad == 0 ? 0 : 1;
}
