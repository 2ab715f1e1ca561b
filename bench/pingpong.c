/*
 * pingpong: latency through a relay's stdin and stdout. Starts an echo
 * server on 127.0.0.1 (a thread), runs CMD with "{PORT}" in its arguments
 * replaced by the server's port, then sends 64 bytes to CMD's stdin and
 * waits for them on its stdout, ROUNDS times. Prints "median_us p99_us".
 *
 *   pingpong ROUNDS CMD [ARGS...]
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 64

static int listener;

static void *echo(void *arg)
{
    char buf[4096];
    ssize_t n;
    int c = accept(listener, NULL, NULL), one = 1;

    (void)arg;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    while ((n = read(c, buf, sizeof(buf))) > 0)
        if (write(c, buf, (size_t)n) != n)
            break;
    close(c);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);
    int to[2], from[2], rounds;
    char port[16], msg[MSG], got[MSG];
    pthread_t thread;

    if (argc < 3 || (rounds = atoi(argv[1])) <= 0) {
        fprintf(stderr, "usage: pingpong ROUNDS CMD [ARGS...]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(listener, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(listener, 1) < 0 ||
        getsockname(listener, (struct sockaddr *)&sin, &len) < 0) {
        perror("pingpong: echo server");
        return 1;
    }
    snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
    for (int i = 2; i < argc; i++) {
        char *at = strstr(argv[i], "{PORT}");
        if (at) {
            char *arg = malloc(strlen(argv[i]) + sizeof(port));
            sprintf(arg, "%.*s%s%s", (int)(at - argv[i]), argv[i], port, at + 6);
            argv[i] = arg;
        }
    }
    pthread_create(&thread, NULL, echo, NULL);
    if (pipe(to) < 0 || pipe(from) < 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]), close(to[1]), close(from[0]), close(from[1]);
        execvp(argv[2], argv + 2);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    double *us = calloc((size_t)rounds, sizeof(double));
    memset(msg, 'x', sizeof(msg));
    for (int r = 0; r < rounds; r++) {
        struct timespec t0, t1;
        size_t have = 0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (write(to[1], msg, sizeof(msg)) != MSG)
            return 1;
        while (have < MSG) {
            ssize_t n = read(from[0], got + have, MSG - have);
            if (n <= 0) {
                fprintf(stderr, "pingpong: the relay ended after %d rounds\n", r);
                return 1;
            }
            have += (size_t)n;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        us[r] = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    }
    close(to[1]);
    waitpid(pid, NULL, 0);
    qsort(us, (size_t)rounds, sizeof(double), cmp);
    printf("%.1f %.1f\n", us[rounds / 2], us[(size_t)((rounds - 1) * 0.99)]);
    return 0;
}
