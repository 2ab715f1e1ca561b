#define _GNU_SOURCE  /* environ */
#include "exec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "chunk.h"
#include "diag.h"
#include "net.h"
#include "pump.h"

extern char **environ;

/*
 * Each conversation's own marks. Hundreds of programs may run at once, and
 * the kernel already buffers each direction (a pipe holds 64 KiB, a socket
 * more): a queue of about one read per direction keeps both busy without
 * a megabyte per client waiting in sockcat. A read takes no more than the
 * high mark (a pipe gives no more at a time anyway), so that a read the
 * other side cannot take at once holds a block of its own size.
 *
 * Memory shared by all conversations: once the chunks in use pass
 * SC_TIGHT_BYTES (chunk_tight()), reads take small blocks, what an output
 * takes at once is written at once (the block is free again before the
 * next read, pump.h), and a direction reads only while nothing of it is
 * queued; each conversation then holds at most a small block per
 * direction, whatever its clients send.
 */
#define EXEC_HIGH_WATER SC_MID_BLOCK
#define EXEC_LOW_WATER (16 * 1024)

/* The handles a conversation closes before it is freed. */
enum { HANDLES_PER_CONV = 4 };  /* peer, child stdin, child stdout, process */

struct sc_exec_conv {
    struct sc_exec_service *svc;
    struct sc_exec_conv *prev, *next;
    struct sc_endpoint *peer;
    struct sc_stream_endpoint child_in;   /* the child's stdin: written */
    struct sc_stream_endpoint child_out;  /* the child's stdout: read */
    uv_process_t process;
    struct sc_pump to_child, to_peer;
    struct sc_pump_sink child_sink, peer_sink;
    int pid;
    int status;
    unsigned handles_open;
    bool process_inited;      /* uv_spawn was called: the handle needs closing */
    bool spawned;
    bool exited;
    bool peer_read_done;
    bool to_peer_done;        /* the child's stdout has all gone to the peer, or never will */
    bool finishing;
    char name[];
};

/* ---- the command line of the child ---- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

char **exec_split(const char *text)
{
    size_t len = strlen(text), words = 0;
    char **argv;
    char *out;
    const char *p = text;

    /* At most one word per two characters, plus the NULL: room for all. */
    argv = malloc((len / 2 + 2) * sizeof(char *) + len + 1);
    if (!argv)
        return NULL;
    out = (char *)(argv + len / 2 + 2);
    for (;;) {
        while (is_blank(*p))
            p++;
        if (!*p)
            break;
        argv[words++] = out;
        while (*p && !is_blank(*p)) {
            if (*p == '\\' && p[1])
                p++;
            *out++ = *p++;
        }
        *out++ = '\0';
    }
    argv[words] = NULL;
    return argv;
}

static char **shell_argv(const char *cmd)
{
    char **argv = malloc(4 * sizeof(char *));

    if (!argv)
        return NULL;
    argv[0] = "/bin/sh";
    argv[1] = "-c";
    argv[2] = (char *)cmd;
    argv[3] = NULL;
    return argv;
}

/* ---- the child's environment ---- */

#define ENV_VARS 5

static const char *const env_names[ENV_VARS] = {
    "SOCKCAT_REMOTE_ADDR", "SOCKCAT_REMOTE_PORT", "SOCKCAT_LOCAL_ADDR",
    "SOCKCAT_LOCAL_PORT", "SOCKCAT_PROTO",
};

/* A socket address as the child sees it: an address and a port apart, or a
 * socket path (@NAME for an abstract one, empty when unbound). */
static void describe_address(const struct sockaddr_storage *ss, socklen_t len, char *addr,
                             size_t addr_size, char *port, size_t port_size)
{
    addr[0] = port[0] = '\0';
    if (len == 0)
        return;
    if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;
        size_t path_len = len > offsetof(struct sockaddr_un, sun_path)
                          ? len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (path_len == 0)
            return;
        if (sun->sun_path[0] == '\0')
            snprintf(addr, addr_size, "@%.*s", (int)(path_len - 1), sun->sun_path + 1);
        else
            snprintf(addr, addr_size, "%.*s", (int)strnlen(sun->sun_path, path_len),
                     sun->sun_path);
        return;
    }
    char text[NET_NAME_SIZE];
    net_format((const struct sockaddr *)ss, text, sizeof(text));
    char *space = strrchr(text, ' ');
    if (space) {
        *space = '\0';
        snprintf(port, port_size, "%s", space + 1);
    }
    snprintf(addr, addr_size, "%s", text);
}

static bool is_ours(const char *entry)
{
    for (size_t i = 0; i < ENV_VARS; i++) {
        size_t n = strlen(env_names[i]);
        if (strncmp(entry, env_names[i], n) == 0 && entry[n] == '=')
            return true;
    }
    return false;
}

static const char *proto_name(const struct sc_opts *opts)
{
    if (opts->unix_path)
        return "unix";
    return opts->udp ? "udp" : "tcp";
}

/*
 * sockcat's environment without any SOCKCAT_ variable of ours, then ours.
 * One allocation (free() it); NULL when out of memory. Variables with no
 * value (a port of a Unix socket) are left out.
 */
static char **child_environment(const struct sc_exec_service *svc, const struct sc_endpoint *peer)
{
    struct sc_endpoint_addresses addrs = { .local_len = 0, .remote_len = 0 };
    char values[ENV_VARS][SC_NAME_MAX];
    size_t count = 0, kept = 0, text = 0;

    if (endpoint_addresses(peer, &addrs) < 0)
        addrs.local_len = addrs.remote_len = 0;
    describe_address(&addrs.remote, addrs.remote_len, values[0], sizeof(values[0]),
                     values[1], sizeof(values[1]));
    describe_address(&addrs.local, addrs.local_len, values[2], sizeof(values[2]),
                     values[3], sizeof(values[3]));
    snprintf(values[4], sizeof(values[4]), "%s", proto_name(svc->opts));

    while (environ && environ[count])
        count++;
    for (size_t i = 0; i < ENV_VARS; i++)
        text += strlen(env_names[i]) + 1 + strlen(values[i]) + 1;
    char **env = malloc((count + ENV_VARS + 1) * sizeof(char *) + text);
    if (!env)
        return NULL;
    char *out = (char *)(env + count + ENV_VARS + 1);
    for (size_t i = 0; i < count; i++)
        if (!is_ours(environ[i]))
            env[kept++] = environ[i];
    for (size_t i = 0; i < ENV_VARS; i++) {
        if (!values[i][0] && i != 0 && i != 2)
            continue;  /* a port or protocol that does not apply */
        env[kept++] = out;
        out += sprintf(out, "%s=%s", env_names[i], values[i]) + 1;
    }
    env[kept] = NULL;
    return env;
}

/* ---- descriptors ---- */

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/*
 * Marks every descriptor above stderr close-on-exec, so that a child
 * inherits only its pipes and stderr: not the listening sockets, other
 * clients' sockets, or anything sockcat itself was handed (--ready-fd).
 * libuv's own descriptors have the flag already; not every one has.
 */
static void hide_descriptors(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
#endif
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *entry;

    if (!dir)
        return;
    while ((entry = readdir(dir)) != NULL) {
        int fd = atoi(entry->d_name);
        if (fd > 2 && fd != dirfd(dir))
            fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
    }
    closedir(dir);
}

/* ---- one conversation ---- */

static void conv_check_over(struct sc_exec_conv *xc);

static void conv_handle_closed(struct sc_exec_conv *xc)
{
    struct sc_exec_service *svc = xc->svc;

    if (--xc->handles_open > 0)
        return;
    if (xc->prev)
        xc->prev->next = xc->next;
    else
        svc->convs = xc->next;
    if (xc->next)
        xc->next->prev = xc->prev;
    svc->count--;
    int status = xc->status;
    free(xc);
    svc->on_done(svc, status);
}

static void process_on_closed(uv_handle_t *handle)
{
    conv_handle_closed(handle->data);
}

/* Closes everything the conversation holds; it reports done once closed. */
static void conv_close_all(struct sc_exec_conv *xc)
{
    if (xc->finishing)
        return;
    xc->finishing = true;
    endpoint_close(xc->peer);
    endpoint_close(&xc->child_in.base);
    endpoint_close(&xc->child_out.base);
    if (xc->spawned && !xc->exited)
        uv_process_kill(&xc->process, SIGTERM);
    if (xc->process_inited)
        uv_close((uv_handle_t *)&xc->process, process_on_closed);
    else
        conv_handle_closed(xc);  /* the others close later: not freed here */
}

/*
 * The one rule: over once the child has exited, its stdout has all gone to
 * the peer, and the peer has ended its side too (what it sends after the
 * child is gone is read and dropped, so that closing does not reset the
 * connection under the child's last bytes). A datagram peer has no end.
 */
static void conv_check_over(struct sc_exec_conv *xc)
{
    if (!xc->finishing && xc->exited && xc->to_peer_done &&
        (xc->peer_read_done || xc->svc->opts->udp))
        conv_close_all(xc);
}

/* With memory tight, a direction reads only once every write to its output
 * has completed, so that it holds one small block at a time (see
 * EXEC_HIGH_WATER). */
static bool held_by_memory(const struct sc_endpoint *sink)
{
    return chunk_tight() && !sink->closing && sink->queued > 0;
}

/* Nothing is read before the child runs: its pipes are not open yet. */
static void update_peer_read(struct sc_exec_conv *xc)
{
    bool allowed = xc->spawned && !xc->peer_read_done && !xc->finishing &&
                   !held_by_memory(&xc->child_in.base);

    if (pump_source_update(&xc->to_child, xc->peer, allowed) < 0) {
        xc->peer_read_done = true;
        pump_source_eof(&xc->to_child);
    }
}

static void update_child_read(struct sc_exec_conv *xc)
{
    struct sc_endpoint *out = &xc->child_out.base;
    bool allowed = xc->spawned && !xc->to_peer_done && !out->closing && !xc->finishing &&
                   !held_by_memory(xc->peer);
    int rc = pump_source_update(&xc->to_peer, out, allowed);

    if (rc < 0) {
        sc_verbose(1, "read from the program for %s: %s", xc->name, sc_strerror(rc));
        xc->to_peer_done = true;
        conv_check_over(xc);
    }
}

/*
 * The peer is gone (a reset, or a write that failed): the child's stdin is
 * closed (EOF) and so is its stdout, so that it gets EPIPE (or SIGPIPE)
 * rather than write into a pipe no one reads.
 */
static void conv_peer_gone(struct sc_exec_conv *xc, int err, const char *what)
{
    sc_verbose(1, "%s %s: %s", what, xc->name, sc_strerror(err));
    xc->peer_read_done = true;
    xc->to_peer_done = true;
    endpoint_close(&xc->child_in.base);
    endpoint_close(&xc->child_out.base);
    update_peer_read(xc);
    conv_check_over(xc);
}

/* ---- peer events ---- */

static void peer_on_data(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct sc_exec_conv *xc = ep->owner;

    pump_push(&xc->to_child, chunk);
    chunk_unref(chunk);
    update_peer_read(xc);
}

static void peer_on_eof(struct sc_endpoint *ep)
{
    struct sc_exec_conv *xc = ep->owner;

    sc_verbose(2, "end of input from %s", xc->name);
    xc->peer_read_done = true;
    pump_source_eof(&xc->to_child);  /* closes the child's stdin once drained */
    conv_check_over(xc);
}

static void peer_on_read_error(struct sc_endpoint *ep, int err)
{
    conv_peer_gone(ep->owner, err, "read from");
}

static void peer_on_written(struct sc_endpoint *ep, size_t len, int status)
{
    struct sc_exec_conv *xc = ep->owner;

    pump_on_written(&xc->peer_sink, len, status);
    update_child_read(xc);
}

static void peer_on_ended(struct sc_endpoint *ep, int status)
{
    struct sc_exec_conv *xc = ep->owner;

    pump_on_ended(&xc->peer_sink, status);
}

static void any_on_closed(struct sc_endpoint *ep)
{
    struct sc_exec_conv *xc = ep->owner;

    if (ep == xc->peer) {
        if (xc->peer_sink.pump)
            pump_remove_sink(&xc->peer_sink);
        free(ep);
    } else if (ep == &xc->child_in.base && xc->child_sink.pump) {
        pump_remove_sink(&xc->child_sink);
    }
    conv_handle_closed(xc);
}

static const struct sc_endpoint_events peer_events = {
    .on_data = peer_on_data,
    .on_eof = peer_on_eof,
    .on_read_error = peer_on_read_error,
    .on_written = peer_on_written,
    .on_ended = peer_on_ended,
    .on_closed = any_on_closed,
};

/* ---- the child's pipes ---- */

static void child_out_on_data(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct sc_exec_conv *xc = ep->owner;

    pump_push(&xc->to_peer, chunk);
    chunk_unref(chunk);
    update_child_read(xc);
}

static void child_out_on_eof(struct sc_endpoint *ep)
{
    struct sc_exec_conv *xc = ep->owner;

    sc_verbose(2, "end of output from the program for %s", xc->name);
    pump_source_eof(&xc->to_peer);  /* half-closes the connection once drained */
}

static void child_out_on_read_error(struct sc_endpoint *ep, int err)
{
    struct sc_exec_conv *xc = ep->owner;

    sc_verbose(1, "read from the program for %s: %s", xc->name, sc_strerror(err));
    pump_source_eof(&xc->to_peer);
}

static void child_in_on_written(struct sc_endpoint *ep, size_t len, int status)
{
    struct sc_exec_conv *xc = ep->owner;

    pump_on_written(&xc->child_sink, len, status);
    update_peer_read(xc);
}

static void child_in_on_ended(struct sc_endpoint *ep, int status)
{
    struct sc_exec_conv *xc = ep->owner;

    pump_on_ended(&xc->child_sink, status);
}

static const struct sc_endpoint_events child_in_events = {
    .on_data = endpoint_ignore_data,
    .on_eof = endpoint_ignore_eof,
    .on_read_error = endpoint_ignore_read_error,
    .on_written = child_in_on_written,
    .on_ended = child_in_on_ended,
    .on_closed = any_on_closed,
};

static const struct sc_endpoint_events child_out_events = {
    .on_data = child_out_on_data,
    .on_eof = child_out_on_eof,
    .on_read_error = child_out_on_read_error,
    .on_written = endpoint_ignore_written,
    .on_ended = endpoint_ignore_ended,
    .on_closed = any_on_closed,
};

/* ---- the pumps ---- */

static void to_child_on_flow(struct sc_pump *pump)
{
    update_peer_read(pump->owner);
}

static void to_peer_on_flow(struct sc_pump *pump)
{
    update_child_read(pump->owner);
}

static void child_sink_on_ended(struct sc_pump_sink *sink, int status)
{
    (void)sink, (void)status;  /* the child's stdin is closed: it reads EOF */
}

/* The child stopped reading (it exited, or closed its stdin): what the peer
 * sends from now on is read and dropped, so that the peer is never stuck. */
static void child_sink_on_failed(struct sc_pump_sink *sink, int err, bool queued)
{
    struct sc_exec_conv *xc = sink->owner;

    (void)queued;
    sc_verbose(2, "write to the program for %s: %s", xc->name, sc_strerror(err));
    endpoint_close(&xc->child_in.base);
    update_peer_read(xc);
}

static void peer_sink_on_ended(struct sc_pump_sink *sink, int status)
{
    struct sc_exec_conv *xc = sink->owner;

    (void)status;
    xc->to_peer_done = true;
    conv_check_over(xc);
}

static void peer_sink_on_failed(struct sc_pump_sink *sink, int err, bool queued)
{
    (void)queued;
    conv_peer_gone(sink->owner, err, "write to");
}

static void never_slow(struct sc_pump_sink *sink)
{
    (void)sink;  /* both pumps wait for their sink */
}

static const struct sc_pump_events to_child_events = {
    .on_flow = to_child_on_flow,
    .on_sink_ended = child_sink_on_ended,
    .on_sink_failed = child_sink_on_failed,
    .on_sink_slow = never_slow,
};

static const struct sc_pump_events to_peer_events = {
    .on_flow = to_peer_on_flow,
    .on_sink_ended = peer_sink_on_ended,
    .on_sink_failed = peer_sink_on_failed,
    .on_sink_slow = never_slow,
};

/* ---- the child ---- */

static void process_on_exit(uv_process_t *process, int64_t exit_status, int term_signal)
{
    struct sc_exec_conv *xc = process->data;

    xc->exited = true;
    if (term_signal) {
        xc->status = SC_EXIT_SIGNAL_BASE + term_signal;
        sc_verbose(1, "program %d for %s killed by signal %d", xc->pid, xc->name, term_signal);
    } else {
        xc->status = (int)exit_status;
        sc_verbose(1, "program %d for %s exited with status %d", xc->pid, xc->name,
                   xc->status);
    }
    conv_check_over(xc);
}

/*
 * The child's stdin and stdout are real pipes, as a shell makes them: when
 * sockcat closes its end, the child reads EOF, or its write fails with
 * EPIPE (SIGPIPE) whatever was left unread (a socketpair would say
 * ECONNRESET). Both ends are close-on-exec; the child gets its ends as
 * fds 0 and 1, sockcat keeps the other two in its handles.
 */
static int conv_open_pipes(struct sc_exec_conv *xc, uv_file child_fds[2])
{
    uv_file in[2], out[2];
    int rc = uv_pipe(in, 0, 0);

    if (rc < 0)
        return rc;
    rc = uv_pipe(out, 0, 0);
    if (rc < 0) {
        close(in[0]);
        close(in[1]);
        return rc;
    }
    child_fds[0] = in[0];
    child_fds[1] = out[1];
    uv_pipe_open(&xc->child_in.u.pipe, in[1]);
    uv_pipe_open(&xc->child_out.u.pipe, out[0]);
    return 0;
}

static int conv_spawn(struct sc_exec_conv *xc)
{
    struct sc_exec_service *svc = xc->svc;
    uv_stdio_container_t stdio[3];
    uv_process_options_t options;
    uv_file child_fds[2];
    char **env = child_environment(svc, xc->peer);
    int rc;

    if (!env)
        return UV_ENOMEM;
    rc = conv_open_pipes(xc, child_fds);
    if (rc < 0) {
        free(env);
        return rc;
    }
    stdio[0].flags = UV_INHERIT_FD;
    stdio[0].data.fd = child_fds[0];
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = child_fds[1];
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    memset(&options, 0, sizeof(options));
    options.exit_cb = process_on_exit;
    options.file = svc->argv[0];
    options.args = svc->argv;
    options.env = env;
    options.stdio = stdio;
    options.stdio_count = 3;
    hide_descriptors();
    xc->process_inited = true;
    rc = uv_spawn(svc->loop, &xc->process, &options);
    close(child_fds[0]);
    close(child_fds[1]);
    free(env);
    return rc;
}

static struct sc_exec_conv *conv_new(struct sc_exec_service *svc, struct sc_endpoint *ep,
                                     const char *name)
{
    size_t name_len = strlen(name);
    struct sc_exec_conv *xc = calloc(1, sizeof(*xc) + name_len + 1);

    if (!xc)
        return NULL;
    memcpy(xc->name, name, name_len + 1);
    xc->svc = svc;
    xc->peer = ep;
    xc->handles_open = HANDLES_PER_CONV;
    ep->events = &peer_events;
    ep->owner = xc;
    ep->read_size = EXEC_HIGH_WATER;
    uv_pipe_init(svc->loop, &xc->child_in.u.pipe, 0);
    uv_pipe_init(svc->loop, &xc->child_out.u.pipe, 0);
    stream_endpoint_setup(&xc->child_in, SC_END_CLOSE, &child_in_events, xc);
    stream_endpoint_setup(&xc->child_out, SC_END_CLOSE, &child_out_events, xc);
    xc->child_out.base.read_size = EXEC_HIGH_WATER;
    xc->process.data = xc;

    pump_init(&xc->to_child, &to_child_events, xc);
    /* The peer is read even when the child no longer takes anything. */
    xc->to_child.wait_for_sink = false;
    xc->to_child.eof_ends_sinks = true;
    xc->to_child.count_in = &svc->counters->received;
    xc->to_child.high_water = EXEC_HIGH_WATER;
    xc->to_child.low_water = EXEC_LOW_WATER;
    xc->to_child.write_now_when_tight = true;
    pump_add_sink(&xc->to_child, &xc->child_sink, &xc->child_in.base, xc, false);

    pump_init(&xc->to_peer, &to_peer_events, xc);
    xc->to_peer.wait_for_sink = true;
    xc->to_peer.eof_ends_sinks = true;
    xc->to_peer.count_out = &svc->counters->sent;
    xc->to_peer.high_water = EXEC_HIGH_WATER;
    xc->to_peer.low_water = EXEC_LOW_WATER;
    xc->to_peer.write_now_when_tight = true;
    pump_add_sink(&xc->to_peer, &xc->peer_sink, ep, xc, svc->opts->no_shutdown);

    xc->next = svc->convs;
    if (svc->convs)
        svc->convs->prev = xc;
    svc->convs = xc;
    svc->count++;
    return xc;
}

void exec_service_add(struct sc_exec_service *svc, struct sc_endpoint *ep, const char *name)
{
    struct sc_exec_conv *xc = svc->closed ? NULL : conv_new(svc, ep, name);
    int rc;

    if (!xc) {
        endpoint_close(ep);
        return;
    }
    svc->counters->connections++;
    rc = conv_spawn(xc);
    if (rc < 0) {
        sc_error(rc, "exec %s", svc->argv[0]);
        xc->status = SC_EXIT_RUNTIME;
        xc->exited = true;
        conv_close_all(xc);
        return;
    }
    xc->spawned = true;
    xc->pid = xc->process.pid;
    sc_verbose(1, "started program %d for %s", xc->pid, xc->name);
    update_peer_read(xc);
    update_child_read(xc);
}

int exec_service_init(struct sc_exec_service *svc, uv_loop_t *loop, const struct sc_opts *opts,
                      struct sc_counters *counters, sc_exec_done_cb on_done, void *data)
{
    *svc = (struct sc_exec_service){ .loop = loop, .opts = opts, .counters = counters,
                                     .on_done = on_done, .data = data };
    svc->argv = opts->exec_shell ? shell_argv(opts->exec) : exec_split(opts->exec);
    return svc->argv ? 0 : UV_ENOMEM;
}

void exec_service_close(struct sc_exec_service *svc)
{
    struct sc_exec_conv *next;

    if (svc->closed)
        return;
    svc->closed = true;
    for (struct sc_exec_conv *xc = svc->convs; xc; xc = next) {
        next = xc->next;
        conv_close_all(xc);
    }
    free(svc->argv);
    svc->argv = NULL;
}
