#include "stdio.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Flags of a file description sockcat shares with others, to put back. */
struct saved_flags {
    dev_t dev;
    ino_t ino;
    int flags;
    int users;
    int fds[2];  /* sockcat's descriptors of it (-1: none), for signals */
};

static struct saved_flags saved[2];
static bool tty_used;

void stdio_guard(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (null >= 0 && null != fd) {
            dup2(null, fd);
            close(null);
        }
    }
}

/* Points `fd` at /dev/null, keeping the number taken. */
static void point_at_null(int fd, bool input)
{
    int null = open("/dev/null", input ? O_RDONLY : O_WRONLY);

    if (null >= 0) {
        dup2(null, fd);
        close(null);
    }
}

/* True when `fd` is a FIFO reader that can see no writer now. */
static bool writers_gone(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };

    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP);
}

/*
 * A private file description of the same pipe, or -1. It is opened with the
 * access mode of `fd`, so that `0<>fifo` keeps the FIFO's only writer (and
 * `1<>fifo` its only reader) open while sockcat reads (writes) it.
 */
static int reopen_pipe(int fd, bool input)
{
    char path[32];
    struct stat before, after;
    int mode = fcntl(fd, F_GETFL);
    int newfd;

    if (mode < 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    /* O_NONBLOCK also keeps open() of a FIFO from waiting for a partner. */
    newfd = open(path, (mode & O_ACCMODE) | O_NONBLOCK | O_CLOEXEC);
    if (newfd < 0)
        return -1;
    if (fstat(fd, &before) < 0 || fstat(newfd, &after) < 0 ||
        before.st_dev != after.st_dev || before.st_ino != after.st_ino) {
        close(newfd);
        return -1;
    }
    /*
     * Linux tells a FIFO reader that all writers left only if a writer was
     * there when it opened, or came later. So ask the old description now,
     * after the open: no writer at this moment, keep the old one, which did
     * see them; otherwise a writer was there at some moment after the open,
     * and the new description will see it leave. (Asking before the open
     * would miss a writer leaving between the two.)
     */
    if (input && writers_gone(fd)) {
        close(newfd);
        return -1;
    }
    return newfd;
}

/* Remembers the flags of a shared description; returns its slot. */
static int save_flags(int fd)
{
    struct stat st;
    int free_slot = -1;

    if (fstat(fd, &st) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (saved[i].users > 0 && saved[i].dev == st.st_dev && saved[i].ino == st.st_ino) {
            saved[i].users++;
            return i;
        }
        if (saved[i].users == 0 && free_slot < 0)
            free_slot = i;
    }
    if (free_slot < 0)
        return -1;
    saved[free_slot] = (struct saved_flags){ st.st_dev, st.st_ino, fcntl(fd, F_GETFL), 1, { -1, -1 } };
    return free_slot;
}

/* Puts the flags back when the last user of the description lets go. */
static void stdio_before_close(struct sc_stream_endpoint *sep)
{
    int slot = sep->hygiene_slot;
    uv_os_fd_t fd;

    if (slot < 0 || uv_fileno(&sep->u.handle, &fd) < 0)
        return;
    sep->hygiene_slot = -1;
    for (int j = 0; j < 2; j++)
        if (saved[slot].fds[j] == fd)
            saved[slot].fds[j] = -1;
    if (--saved[slot].users == 0 && saved[slot].flags >= 0)
        fcntl(fd, F_SETFL, saved[slot].flags);
}

static struct sc_endpoint *open_tty(uv_loop_t *loop, int fd, bool input,
                                    const struct sc_endpoint_events *events, void *owner,
                                    int *err)
{
    /* The handle is the struct's last member, and a uv_tty_t is larger. */
    size_t tty_end = offsetof(struct sc_stream_endpoint, u) + sizeof(uv_tty_t);
    struct sc_stream_endpoint *sep = calloc(1, tty_end > sizeof(*sep) ? tty_end : sizeof(*sep));

    if (!sep) {
        *err = UV_ENOMEM;
        return NULL;
    }
    *err = uv_tty_init(loop, (uv_tty_t *)&sep->u, fd, input);
    if (*err < 0) {
        free(sep);
        return NULL;
    }
    tty_used = true;
    stream_endpoint_setup(sep, SC_END_NOTHING, events, owner);
    sep->base.is_tty = true;
    return &sep->base;
}

static void free_on_close(uv_handle_t *handle)
{
    free(handle->data);
}

static bool is_socket(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* A socket: driven by its own endpoint, which leaves the shared flags alone. */
static struct sc_endpoint *open_socket(uv_loop_t *loop, int fd, bool input,
                                       const struct sc_endpoint_events *events, void *owner,
                                       int *err)
{
    struct sc_endpoint *ep = socket_endpoint_new(loop, fd, events, owner, err);

    if (ep)
        point_at_null(fd, input);
    return ep;
}

/*
 * A signal that ends sockcat by its default action (nothing else watches
 * these) would leave a shared pipe non-blocking: put the flags back first,
 * then let the signal do what it would have done.
 */
static void restore_then_default(int signum)
{
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            if (saved[i].users > 0 && saved[i].fds[j] >= 0)
                fcntl(saved[i].fds[j], F_SETFL, saved[i].flags);
    signal(signum, SIG_DFL);
    raise(signum);
}

static void restore_flags_on_fatal_signals(void)
{
    static const int fatal[] = { SIGHUP, SIGQUIT, SIGUSR2, SIGALRM };
    static bool installed;
    struct sigaction sa = { .sa_handler = restore_then_default };
    struct sigaction old;

    if (installed)
        return;
    installed = true;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        if (sigaction(fatal[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
            sigaction(fatal[i], &sa, NULL);
}

/*
 * A pipe or FIFO: a private description of it when /proc allows (see
 * reopen_pipe), otherwise a duplicate whose shared flags are saved and put
 * back when sockcat lets go of it or a signal ends it.
 */
static struct sc_endpoint *open_stream(uv_loop_t *loop, int fd, bool input,
                                       const struct sc_endpoint_events *events, void *owner,
                                       int *err)
{
    struct sc_stream_endpoint *sep = calloc(1, sizeof(*sep));
    int slot = -1;
    int newfd = reopen_pipe(fd, input);

    if (!sep) {
        if (newfd >= 0)
            close(newfd);
        *err = UV_ENOMEM;
        return NULL;
    }
    if (newfd < 0) {
        slot = save_flags(fd);
        newfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (newfd < 0) {
            *err = -errno;
            if (slot >= 0)
                saved[slot].users--;
            free(sep);
            return NULL;
        }
        if (slot >= 0) {
            saved[slot].fds[input ? 0 : 1] = newfd;
            restore_flags_on_fatal_signals();
        }
    }
    *err = uv_pipe_init(loop, &sep->u.pipe, 0);
    if (*err == 0) {
        *err = uv_pipe_open(&sep->u.pipe, newfd);
        if (*err < 0) {
            /* The loop knows the handle now: free it from its close callback. */
            sep->u.handle.data = sep;
            uv_close(&sep->u.handle, free_on_close);
            sep = NULL;
        }
    }
    if (*err < 0) {
        if (slot >= 0) {
            fcntl(newfd, F_SETFL, saved[slot].flags);
            saved[slot].users--;
        }
        close(newfd);
        free(sep);
        return NULL;
    }
    point_at_null(fd, input);
    stream_endpoint_setup(sep, SC_END_CLOSE, events, owner);
    sep->hygiene_slot = slot;
    sep->before_close = stdio_before_close;
    return &sep->base;
}

/*
 * True unless a read or write of `fd` always returns at once: regular files,
 * directories (a read fails) and the memory devices /dev/null, /dev/zero,
 * /dev/full, /dev/random and /dev/urandom. Anything else (a datagram socket
 * nobody reads, /dev/kmsg, a printer) could block a thread-pool request for
 * ever, and neither it nor sockcat could then be stopped.
 */
static bool may_block(const struct stat *st)
{
    if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode))
        return false;
    if (!S_ISCHR(st->st_mode) || major(st->st_rdev) != 1)
        return true;
    switch (minor(st->st_rdev)) {
    case 3: case 5: case 7: case 8: case 9:
        return false;
    default:
        return true;
    }
}

/* The file endpoint, for what uv_fs requests can always finish on. */
static struct sc_endpoint *open_file(uv_loop_t *loop, int fd, bool input,
                                     const struct sc_endpoint_events *events, void *owner,
                                     int *err)
{
    struct sc_endpoint *ep;
    struct stat st;

    if (fstat(fd, &st) < 0) {
        *err = -errno;
        return NULL;
    }
    /* Fail now rather than at the first client. */
    if (input && S_ISDIR(st.st_mode)) {
        *err = UV_EISDIR;
        return NULL;
    }
    if (may_block(&st)) {
        *err = UV_ENOTSUP;
        return NULL;
    }
    ep = file_endpoint_new(loop, fd, events, owner);
    if (!ep)
        *err = UV_ENOMEM;
    return ep;
}

struct sc_endpoint *stdio_open(uv_loop_t *loop, int fd, bool input,
                               const struct sc_endpoint_events *events, void *owner,
                               int *err)
{
    *err = 0;
    switch (uv_guess_handle(fd)) {
    case UV_TTY:
        return open_tty(loop, fd, input, events, owner, err);
    case UV_NAMED_PIPE:
    case UV_TCP:
        if (is_socket(fd))
            return open_socket(loop, fd, input, events, owner, err);
        return open_stream(loop, fd, input, events, owner, err);
    default:
        return open_file(loop, fd, input, events, owner, err);
    }
}

void stdio_restore(void)
{
    if (tty_used)
        uv_tty_reset_mode();
}
