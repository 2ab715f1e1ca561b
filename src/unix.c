#define _GNU_SOURCE  /* struct ucred */
#include "unix.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tcp.h"

int unix_addr_parse(const char *text, struct sc_unix_addr *addr)
{
    size_t len = strlen(text);
    size_t room = sizeof(addr->sun.sun_path);

    memset(addr, 0, sizeof(*addr));
    addr->sun.sun_family = AF_UNIX;
    if (len == 0)
        return UV_EINVAL;
    if (text[0] == '@') {
        /* Abstract: a NUL, then the name's bytes; the length says where it ends. */
        if (len - 1 > room - 1)
            return UV_ENAMETOOLONG;
        addr->abstract = true;
        memcpy(addr->sun.sun_path + 1, text + 1, len - 1);
        addr->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
        return 0;
    }
    if (len + 1 > room)  /* the path and its NUL */
        return UV_ENAMETOOLONG;
    memcpy(addr->sun.sun_path, text, len + 1);
    addr->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    return 0;
}

static int init_pipe(uv_loop_t *loop, struct sc_stream_endpoint *sep)
{
    return uv_pipe_init(loop, &sep->u.pipe, 0);
}

struct sc_endpoint *unix_endpoint_new(uv_loop_t *loop, int *err)
{
    return unowned_stream_new(loop, init_pipe, err);
}

uv_pipe_t *unix_endpoint_handle(struct sc_endpoint *ep)
{
    return &((struct sc_stream_endpoint *)ep)->u.pipe;
}

static int new_socket(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    return fd < 0 ? -errno : fd;
}

/*
 * Connects `fd`. A Unix stream connect completes at once or fails; EAGAIN
 * means the server's queue is full, which a waiting client would see as a
 * hang, so it is reported.
 */
static int connect_now(int fd, const struct sc_unix_addr *addr)
{
    int rc;

    do
        rc = connect(fd, (const struct sockaddr *)&addr->sun, addr->len);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

int unix_connect(uv_loop_t *loop, const struct sc_unix_addr *addr, struct sc_endpoint **out)
{
    struct sc_endpoint *ep = NULL;
    int fd = new_socket(), rc;

    if (fd < 0)
        return fd;
    rc = connect_now(fd, addr);
    if (rc == 0)
        ep = unix_endpoint_new(loop, &rc);
    if (!ep) {
        close(fd);
        return rc < 0 ? rc : UV_ENOMEM;
    }
    rc = uv_pipe_open(unix_endpoint_handle(ep), fd);
    if (rc < 0) {
        close(fd);
        endpoint_close(ep);
        return rc;
    }
    *out = ep;
    return 0;
}

/* The kernel's flag for a listening socket in /proc/net/unix (__SO_ACCEPTCON). */
#define LISTENING_FLAG 0x10000ul

/*
 * Is a socket listening under this path in our network namespace? Asking
 * the kernel's table first spares a live server the probe connection
 * below, which a one-shot server would take for its client.
 */
static bool listed_as_listening(const char *path)
{
    FILE *table = fopen("/proc/net/unix", "re");
    char line[512];
    bool found = false;

    if (!table)
        return false;
    while (!found && fgets(line, sizeof(line), table)) {
        unsigned long flags;
        int path_at = 0;

        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %n", &flags, &path_at) == 1 &&
            path_at > 0 && (flags & LISTENING_FLAG) && strcmp(line + path_at, path) == 0)
            found = true;
    }
    fclose(table);
    return found;
}

/* Does a server accept on the socket file at `addr`? ECONNREFUSED: no one. */
static bool socket_is_stale(const struct sc_unix_addr *addr)
{
    int fd, rc;

    if (listed_as_listening(addr->sun.sun_path))
        return false;
    fd = new_socket();
    if (fd < 0)
        return false;
    rc = connect_now(fd, addr);
    close(fd);
    return rc == UV_ECONNREFUSED;
}

/*
 * bind() found something at the path. Replaces it if it is a socket no one
 * accepts on; says why not otherwise.
 */
static int replace_stale(int fd, const struct sc_unix_addr *addr, const char **why)
{
    struct stat st;

    if (lstat(addr->sun.sun_path, &st) < 0)
        return -errno;
    if (!S_ISSOCK(st.st_mode)) {
        *why = "not a socket; left as it is";
        return UV_EEXIST;
    }
    if (!socket_is_stale(addr))
        return UV_EADDRINUSE;
    if (unlink(addr->sun.sun_path) < 0 && errno != ENOENT)
        return -errno;
    return bind(fd, (const struct sockaddr *)&addr->sun, addr->len) < 0 ? -errno : 0;
}

/* Binds `fd`; a stale socket file in the way is replaced. */
static int bind_path(int fd, const struct sc_unix_addr *addr, const char **why)
{
    if (bind(fd, (const struct sockaddr *)&addr->sun, addr->len) == 0)
        return 0;
    if (errno != EADDRINUSE || addr->abstract)
        return -errno;
    return replace_stale(fd, addr, why);
}

/* Notes the file we made so that only it is removed. */
static void remember_file(const struct sc_unix_addr *addr, struct sc_unix_file *file)
{
    struct stat st;

    memset(file, 0, sizeof(*file));
    if (addr->abstract || lstat(addr->sun.sun_path, &st) < 0)
        return;
    snprintf(file->path, sizeof(file->path), "%s", addr->sun.sun_path);
    file->dev = st.st_dev;
    file->ino = st.st_ino;
    file->made = true;
}

int unix_listen(uv_pipe_t *pipe, const struct sc_unix_addr *addr, int backlog,
                struct sc_unix_file *file, const char **why)
{
    int fd = new_socket(), rc;

    memset(file, 0, sizeof(*file));
    *why = NULL;
    if (fd < 0)
        return fd;
    rc = bind_path(fd, addr, why);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    remember_file(addr, file);
    rc = listen(fd, backlog) < 0 ? -errno : 0;
    if (rc == 0)
        rc = uv_pipe_open(pipe, fd);
    if (rc < 0) {
        close(fd);
        unix_file_remove(file);
    }
    return rc;
}

void unix_file_remove(struct sc_unix_file *file)
{
    struct stat st;

    if (!file->made)
        return;
    file->made = false;
    /* Someone may have replaced it since (another server): leave theirs. */
    if (lstat(file->path, &st) == 0 && st.st_dev == file->dev && st.st_ino == file->ino)
        unlink(file->path);
}

void unix_client_name(struct sc_endpoint *ep, const char *path, char *name, size_t size)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    uv_os_fd_t fd;

    if (uv_fileno((uv_handle_t *)unix_endpoint_handle(ep), &fd) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof(cred))
        snprintf(name, size, "pid %ld uid %lu on %s", (long)cred.pid,
                 (unsigned long)cred.uid, path);
    else
        snprintf(name, size, "a client on %s", path);
}

int unix_dgram_socket(const struct sc_unix_addr *local, struct sc_unix_file *file,
                      const char **why)
{
    static const struct sockaddr_un autobind = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), rc;

    memset(file, 0, sizeof(*file));
    *why = NULL;
    if (fd < 0)
        return -errno;
    if (local)
        rc = bind_path(fd, local, why);
    else  /* the family alone: the kernel picks an abstract name */
        rc = bind(fd, (const struct sockaddr *)&autobind, sizeof(sa_family_t)) < 0 ? -errno : 0;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    if (local)
        remember_file(local, file);
    return fd;
}

socklen_t unix_sockaddr_len(const struct sockaddr_un *sun)
{
    size_t room = sizeof(sun->sun_path), n;

    if (sun->sun_path[0] != '\0')
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strnlen(sun->sun_path, room));
    /* Abstract: the name ends at its last non-NUL byte (trailing NULs are not told apart). */
    for (n = room; n > 1 && sun->sun_path[n - 1] == '\0'; n--)
        ;
    if (n == 1)
        return sizeof(sa_family_t);  /* unbound: no address */
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
}

void unix_sockaddr_format(const struct sockaddr_un *sun, char *out, size_t size)
{
    socklen_t len = unix_sockaddr_len(sun);
    size_t n = len - offsetof(struct sockaddr_un, sun_path);

    if (len <= sizeof(sa_family_t))
        snprintf(out, size, "an unbound socket");
    else if (sun->sun_path[0] != '\0')
        snprintf(out, size, "%.*s", (int)n, sun->sun_path);
    else
        snprintf(out, size, "@%.*s", (int)(n - 1), sun->sun_path + 1);
}
