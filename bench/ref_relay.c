/*
 * ref_relay: the reference relays bench/run measures sockcat against. One
 * direction only, as fast as the kernel allows, nothing else:
 *
 *   ref_relay plain  connect|listen HOST PORT | -U PATH
 *   ref_relay splice connect|listen HOST PORT | -U PATH
 *
 * connect: stdin -> the socket, then shutdown(SHUT_WR) and wait for the
 * peer's EOF. listen: accept one client, the socket -> stdout until EOF.
 * plain: blocking read/write with a 256 KiB buffer. splice: sendfile from
 * a regular file, splice from a pipe; to stdout splice directly into a pipe
 * or through a pipe of its own into a file or /dev/null.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF (256 * 1024)
#define CHUNK (1024 * 1024)

static void die(const char *what)
{
    fprintf(stderr, "ref_relay: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int open_socket(int listening, int argc, char **argv)
{
    int fd;

    if (argc == 2 && strcmp(argv[0], "-U") == 0) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[1]);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (listening) {
            if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1) < 0)
                die("bind");
            int c = accept(fd, NULL, NULL);
            close(fd);
            unlink(sun.sun_path);
            return c;
        }
        if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
            die("connect");
        return fd;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: ref_relay plain|splice connect|listen HOST PORT | -U PATH\n");
        exit(2);
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
    if (getaddrinfo(argv[0], argv[1], &hints, &ai) != 0)
        die("getaddrinfo");
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (listening) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0)
            die("bind");
        int c = accept(fd, NULL, NULL);
        close(fd);
        fd = c;
    } else if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        die("connect");
    }
    freeaddrinfo(ai);
    return fd;
}

static void copy_plain(int from, int to)
{
    static char buf[BUF];
    ssize_t n;

    while ((n = read(from, buf, sizeof(buf))) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(to, buf + off, (size_t)(n - off));
            if (w < 0)
                die("write");
            off += w;
        }
    if (n < 0)
        die("read");
}

static int is_a(int fd, mode_t type)
{
    struct stat st;

    return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

static void copy_splice(int from, int to)
{
    ssize_t n;

    if (is_a(from, S_IFREG)) {
        while ((n = sendfile(to, from, NULL, CHUNK)) > 0)
            ;
    } else if (is_a(from, S_IFIFO) || is_a(to, S_IFIFO)) {
        while ((n = splice(from, NULL, to, NULL, CHUNK, SPLICE_F_MOVE)) > 0)
            ;
    } else {
        int p[2];
        if (pipe(p) < 0)
            die("pipe");
        fcntl(p[1], F_SETPIPE_SZ, CHUNK);
        while ((n = splice(from, NULL, p[1], NULL, CHUNK, SPLICE_F_MOVE)) > 0)
            for (ssize_t left = n; left > 0;) {
                ssize_t w = splice(p[0], NULL, to, NULL, (size_t)left, SPLICE_F_MOVE);
                if (w <= 0)
                    die("splice out");
                left -= w;
            }
    }
    if (n < 0)
        die("splice");
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: ref_relay plain|splice connect|listen HOST PORT | -U PATH\n");
        return 2;
    }
    int use_splice = strcmp(argv[1], "splice") == 0;
    int listening = strcmp(argv[2], "listen") == 0;
    int sock = open_socket(listening, argc - 3, argv + 3);
    if (sock < 0)
        die("socket");
    if (listening) {
        (use_splice ? copy_splice : copy_plain)(sock, 1);
    } else {
        char byte;
        (use_splice ? copy_splice : copy_plain)(0, sock);
        shutdown(sock, SHUT_WR);
        while (read(sock, &byte, 1) > 0)
            ;
    }
    close(sock);
    return 0;
}
