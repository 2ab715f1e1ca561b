/*
 * unix: the Unix stream socket endpoint that dial and accept make for -U,
 * and everything about its address: a path, or @NAME in Linux's abstract
 * namespace. libuv binds and connects paths only, so the sockets are made
 * here and handed to a uv_pipe_t; the stream endpoint does the rest.
 *
 * A listening socket's file is ours to remove, and only while it is still
 * the file we made (same device and inode): a stale file left by a dead
 * server is replaced, a live server's is refused, and a file that is not a
 * socket is never touched.
 */
#ifndef SOCKCAT_UNIX_H
#define SOCKCAT_UNIX_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <uv.h>

#include "endpoint.h"

/* A parsed -U operand. */
struct sc_unix_addr {
    struct sockaddr_un sun;
    socklen_t len;
    bool abstract;
};

/* The socket file a listener made, to remove when it stops. */
struct sc_unix_file {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev;
    ino_t ino;
    bool made;
};

/* Fills `addr` from PATH or @NAME; 0, or UV_ENAMETOOLONG / UV_EINVAL. */
int unix_addr_parse(const char *text, struct sc_unix_addr *addr);

/* An endpoint with an initialised pipe handle; NULL with *err set on failure. */
struct sc_endpoint *unix_endpoint_new(uv_loop_t *loop, int *err);

/* The handle inside, for accept. */
uv_pipe_t *unix_endpoint_handle(struct sc_endpoint *ep);

/*
 * unix_connect()
 * Connects a new endpoint to `addr`. Returns 0 with *out set, or a libuv
 * error (ECONNREFUSED, ENOENT...).
 */
int unix_connect(uv_loop_t *loop, const struct sc_unix_addr *addr, struct sc_endpoint **out);

/*
 * unix_listen()
 * Binds a listening socket on `addr` into the initialised, unopened `pipe`,
 * replacing a stale socket file first. Returns 0, or a libuv error; on
 * failure nothing is left on disk. `file` records a file it made.
 */
int unix_listen(uv_pipe_t *pipe, const struct sc_unix_addr *addr, int backlog,
                struct sc_unix_file *file, const char **why);

/* Removes the file a listener made, if it is still that file. */
void unix_file_remove(struct sc_unix_file *file);

/* "pid 1234 uid 1000 on PATH" for an accepted client, from SO_PEERCRED. */
void unix_client_name(struct sc_endpoint *ep, const char *path, char *name, size_t size);

/*
 * unix_dgram_socket()
 * A datagram socket bound to `local` (a stale socket file in the way is
 * replaced, as for a listener), or to an abstract name the kernel picks
 * when `local` is NULL. Returns the descriptor or a libuv error; `file`
 * records a file it made.
 */
int unix_dgram_socket(const struct sc_unix_addr *local, struct sc_unix_file *file,
                      const char **why);

/* The length of an address a datagram came from: sizeof(sa_family_t) if it is unbound. */
socklen_t unix_sockaddr_len(const struct sockaddr_un *sun);

/* "PATH", "@NAME" or "an unbound socket". */
void unix_sockaddr_format(const struct sockaddr_un *sun, char *out, size_t size);

#endif
