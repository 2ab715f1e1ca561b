/*
 * stdio: turns fd 0 and fd 1 into endpoints, whatever they are, and leaves
 * them as they were found.
 *
 * - terminal: uv_tty, which reopens the device so the shell's file
 *   description never turns non-blocking; the mode is reset at exit;
 * - stream socket (TCP, Unix): the shared socket endpoint, which never
 *   changes the description's flags (recv/send with MSG_DONTWAIT);
 * - pipe or FIFO: reopened through /proc/self/fd, with the access mode it
 *   was given, for a private file description (the shell and sibling
 *   processes sharing the pipe never see O_NONBLOCK);
 * - a pipe that cannot be reopened: a duplicate whose shared flags are
 *   saved and put back before sockcat lets go of it, or when SIGHUP,
 *   SIGQUIT, SIGUSR2 or SIGALRM ends it;
 * - regular file, /dev/null and the like: uv_fs requests. Kinds a
 *   thread-pool request could block on for ever (datagram sockets, most
 *   devices) are refused, and so is a directory as stdin.
 * A stream's original descriptor is pointed at /dev/null, so closing the
 * stream really closes it: the reader of stdout then sees EOF at once.
 */
#ifndef SOCKCAT_STDIO_H
#define SOCKCAT_STDIO_H

#include <stdbool.h>
#include <uv.h>

#include "endpoint.h"

/* Opens /dev/null on any of fds 0-2 that is closed, so sockets never land there. */
void stdio_guard(void);

/*
 * stdio_open()
 * An endpoint for `fd` (0 as input, 1 as output), allocated with malloc and
 * freed by the owner after on_closed. Returns NULL with *err set on failure.
 */
struct sc_endpoint *stdio_open(uv_loop_t *loop, int fd, bool input,
                               const struct sc_endpoint_events *events, void *owner,
                               int *err);

/* Resets the terminal; call once the loop is done. */
void stdio_restore(void);

#endif
