/*
 * exec: a program on the other end of each connection (-e, -c).
 *
 * A child process is one more endpoint kind: its stdin is an output (what
 * the peer sends is written to it; end() closes it), its stdout is a source
 * (each read is one chunk, so one datagram over -u). Each peer gets a child
 * of its own and a conversation of its own, two pumps on the same rules as
 * the stdio bridge: the peer's EOF closes the child's stdin, the child's
 * stdout EOF half-closes the connection, and the conversation is over once
 * the child has exited (reaped) and all of its stdout has gone to the peer.
 *
 * The child inherits its two pipes and sockcat's stderr and no other
 * descriptor; SOCKCAT_REMOTE_ADDR, SOCKCAT_REMOTE_PORT, SOCKCAT_LOCAL_ADDR,
 * SOCKCAT_LOCAL_PORT and SOCKCAT_PROTO in its environment say who it talks to.
 */
#ifndef SOCKCAT_EXEC_H
#define SOCKCAT_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "cli.h"
#include "counters.h"
#include "endpoint.h"

struct sc_exec_conv;
struct sc_exec_service;

/*
 * A conversation is over and everything it held is closed. `status` is the
 * child's exit status (128+N when signal N killed it), or 1 when the
 * program could not be started (the error is printed already).
 */
typedef void (*sc_exec_done_cb)(struct sc_exec_service *svc, int status);

struct sc_exec_service {
    uv_loop_t *loop;
    const struct sc_opts *opts;
    struct sc_counters *counters;
    char **argv;               /* what each child runs */
    struct sc_exec_conv *convs;
    size_t count;              /* conversations not yet over */
    sc_exec_done_cb on_done;
    void *data;
    bool closed;
};

/*
 * exec_split()
 * Splits -e's text into words on blanks; a backslash takes the next
 * character as it is (a blank, a backslash). Returns a NULL-terminated
 * array in one allocation (free() it), or NULL when out of memory. An
 * all-blank text gives an empty array.
 */
char **exec_split(const char *text);

/* Prepares to run opts->exec for each peer. 0 or UV_ENOMEM. */
int exec_service_init(struct sc_exec_service *svc, uv_loop_t *loop, const struct sc_opts *opts,
                      struct sc_counters *counters, sc_exec_done_cb on_done, void *data);

/*
 * exec_service_add()
 * Starts a child for the peer `ep` (now the service's) named `name`. When
 * the program cannot be started, says so, closes the peer and reports the
 * conversation done with status 1.
 */
void exec_service_add(struct sc_exec_service *svc, struct sc_endpoint *ep, const char *name);

/*
 * exec_service_close()
 * Stopping: closes every conversation (children still running are sent
 * SIGTERM and no longer waited for) and frees the service. Conversations
 * report done as their handles close.
 */
void exec_service_close(struct sc_exec_service *svc);

#endif
