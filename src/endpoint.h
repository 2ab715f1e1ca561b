/*
 * endpoint: anything bytes come out of or go into, behind one interface.
 *
 * Kinds: libuv streams (TCP sockets, pipes, Unix sockets, terminals) and
 * files or character devices driven by chained uv_fs requests, which libuv
 * cannot turn into a stream. Whoever owns an endpoint sees only these
 * operations and events, so one pump serves every direction.
 *
 * Events are never delivered from inside an operation, with one exception:
 * on_ended may come straight from end() when nothing was queued.
 */
#ifndef SOCKCAT_ENDPOINT_H
#define SOCKCAT_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "chunk.h"

struct sc_endpoint;

/* A connection's two socket addresses (a length of 0: none known). */
struct sc_endpoint_addresses {
    struct sockaddr_storage local, remote;
    socklen_t local_len, remote_len;
};

struct sc_endpoint_events {
    /* A chunk was read; the callee owns one reference to it. */
    void (*on_data)(struct sc_endpoint *ep, struct sc_chunk *chunk);
    /* The source will produce no more (a zero-byte read). */
    void (*on_eof)(struct sc_endpoint *ep);
    void (*on_read_error)(struct sc_endpoint *ep, int err);
    /* One write finished (status < 0: it failed); ep->queued is updated. */
    void (*on_written)(struct sc_endpoint *ep, size_t len, int status);
    /* end() finished: everything queued was written, then the output ended. */
    void (*on_ended)(struct sc_endpoint *ep, int status);
    /* close() finished; the endpoint may be freed now. */
    void (*on_closed)(struct sc_endpoint *ep);
};

/* Handlers for events a direction never uses (stdin is never written, a
 * program's stdin never read): data read anyway is dropped. */
void endpoint_ignore_data(struct sc_endpoint *ep, struct sc_chunk *chunk);
void endpoint_ignore_eof(struct sc_endpoint *ep);
void endpoint_ignore_read_error(struct sc_endpoint *ep, int err);
void endpoint_ignore_written(struct sc_endpoint *ep, size_t len, int status);
void endpoint_ignore_ended(struct sc_endpoint *ep, int status);

struct sc_endpoint_ops {
    int (*read_start)(struct sc_endpoint *ep);
    void (*read_stop)(struct sc_endpoint *ep);
    /* Queues the chunk (takes its own reference); 0 or a libuv error. */
    int (*write)(struct sc_endpoint *ep, struct sc_chunk *chunk);
    /* After the queue drains: half-close a socket, close a pipe, or nothing. */
    void (*end)(struct sc_endpoint *ep);
    /* Releases everything; queued writes are abandoned. */
    void (*close)(struct sc_endpoint *ep);
    /* Bytes accepted by write() not yet taken by the kernel (a queued chunk
     * may be partly written). NULL: `queued` is exact. */
    size_t (*unwritten)(const struct sc_endpoint *ep);
    /* Writes what the kernel takes of the chunk at once, queueing nothing;
     * the bytes written or a libuv error. NULL: nothing can be written so. */
    int (*write_now)(struct sc_endpoint *ep, const struct sc_chunk *chunk);
    /* Like close(), but a connection ends with a reset instead of a clean
     * end. NULL: close() (the kind has no such ending). */
    void (*close_reset)(struct sc_endpoint *ep);
    /* The descriptor the kind reads and writes, for the fast paths
     * (zerocopy.c). NULL: none that another may use. */
    int (*fileno)(const struct sc_endpoint *ep);
    /* The socket addresses of both ends, for a program run for this peer
     * (-e); 0 or a libuv error. NULL: the kind is no socket. */
    int (*addresses)(const struct sc_endpoint *ep, struct sc_endpoint_addresses *out);
};

/* How an output ends once everything queued is written. */
enum sc_end_style {
    SC_END_SHUTDOWN,  /* sockets: shutdown(SHUT_WR), the peer reads EOF */
    SC_END_CLOSE,     /* pipes: close, so the reader sees EOF */
    SC_END_NOTHING,   /* terminals and files: nothing to signal */
};

struct sc_endpoint {
    const struct sc_endpoint_ops *ops;
    const struct sc_endpoint_events *events;
    void *owner;
    size_t queued;            /* bytes accepted by write() not yet written */
    size_t queued_chunks;     /* how many chunks those bytes are in */
    size_t read_size;         /* most bytes one stream read takes: 0 for a
                               * full block (chunk_take_read()) */
    uint64_t bytes_read;
    uint64_t bytes_written;   /* taken by the kernel, a partly written chunk included */
    bool reading;
    bool ending;              /* end() was called */
    bool ended;
    bool closing;             /* close() was called */
    bool is_tty;
};

/* Room for the printable name of an endpoint's other end: "ADDR PORT" or a
 * socket path (sun_path is 108 bytes). */
#define SC_NAME_MAX 256

/*
 * What a queued chunk costs beyond its bytes (its header, the write request,
 * allocator slack): counted against the high-water mark so that a stream of
 * one-byte chunks is bounded like a stream of big ones.
 */
#define SC_CHUNK_COST 256

/* The memory an output's queue holds, as the backpressure marks see it. */
static inline size_t endpoint_backlog(const struct sc_endpoint *ep)
{
    return ep->queued + ep->queued_chunks * SC_CHUNK_COST;
}

static inline int endpoint_read_start(struct sc_endpoint *ep) { return ep->ops->read_start(ep); }
static inline void endpoint_read_stop(struct sc_endpoint *ep) { ep->ops->read_stop(ep); }
static inline int endpoint_write(struct sc_endpoint *ep, struct sc_chunk *c) { return ep->ops->write(ep, c); }
static inline void endpoint_end(struct sc_endpoint *ep) { ep->ops->end(ep); }
static inline void endpoint_close(struct sc_endpoint *ep) { ep->ops->close(ep); }

/* Bytes accepted by write() that were not written yet: what a close now would lose. */
static inline size_t endpoint_unwritten(const struct sc_endpoint *ep)
{
    return ep->ops->unwritten ? ep->ops->unwritten(ep) : ep->queued;
}

/*
 * endpoint_write_now()
 * Writes what the kernel takes of `chunk` at once and queues nothing, so the
 * chunk is not held afterwards. Only with an empty queue (bytes must not
 * overtake queued ones; then it writes nothing). Returns the bytes written
 * (0 when the output is full, or the kind cannot write so) or a libuv error.
 */
static inline int endpoint_write_now(struct sc_endpoint *ep, const struct sc_chunk *c)
{
    return ep->ops->write_now ? ep->ops->write_now(ep, c) : 0;
}

/* The endpoint's descriptor, or -1 when it has none to share. */
static inline int endpoint_fileno(const struct sc_endpoint *ep)
{
    return ep->ops->fileno ? ep->ops->fileno(ep) : -1;
}

/*
 * endpoint_close_reset()
 * Closes like endpoint_close(), but a TCP connection ends with a reset
 * (SO_LINGER 0) instead of a FIN, so the peer cannot mistake the end for a
 * clean one.
 */
static inline void endpoint_close_reset(struct sc_endpoint *ep)
{
    if (ep->ops->close_reset)
        ep->ops->close_reset(ep);
    else
        ep->ops->close(ep);
}

/* Both ends' addresses; UV_ENOTSUP when the kind is no socket. */
static inline int endpoint_addresses(const struct sc_endpoint *ep,
                                     struct sc_endpoint_addresses *out)
{
    return ep->ops->addresses ? ep->ops->addresses(ep, out) : UV_ENOTSUP;
}

/* A libuv stream. `before_close` runs just before the handle is closed. */
struct sc_stream_endpoint {
    struct sc_endpoint base;
    void (*before_close)(struct sc_stream_endpoint *sep);
    size_t written_at_close;  /* written, not yet in bytes_written, when close() came */
    enum sc_end_style end_style;
    int hygiene_slot;  /* stdio bookkeeping, -1 when unused */
    bool close_ends;   /* the handle is closing because the output ended */
    /*
     * Last: a terminal's uv_tty_t, larger than the others, extends past the
     * end of the struct (stdio.c allocates the room), so that each of the
     * many TCP clients of listen -k does not carry a uv_tty_t's size.
     */
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } u;
};

/* Makes an endpoint of an initialised stream handle in `sep->u`. */
void stream_endpoint_setup(struct sc_stream_endpoint *sep, enum sc_end_style style,
                           const struct sc_endpoint_events *events, void *owner);

/* The descriptor of a stream endpoint's handle (for socket options and
 * queries), or -1 for any other kind or a closing one. */
int stream_endpoint_fd(const struct sc_endpoint *ep);

/* A file or character device read and written with uv_fs requests. */
struct sc_file_endpoint;

/*
 * file_endpoint_new()
 * An endpoint for `fd`, which stays open afterwards (it is the caller's).
 * Returns NULL when out of memory.
 */
struct sc_endpoint *file_endpoint_new(uv_loop_t *loop, uv_file fd,
                                      const struct sc_endpoint_events *events,
                                      void *owner);

/*
 * socket_endpoint_new()
 * An endpoint for a stream socket shared with others: it works on its own
 * duplicate of `fd` (the caller keeps `fd`) and never changes the flags of
 * the file description. Returns NULL with *err set on failure.
 */
struct sc_endpoint *socket_endpoint_new(uv_loop_t *loop, int fd,
                                        const struct sc_endpoint_events *events,
                                        void *owner, int *err);

#endif
