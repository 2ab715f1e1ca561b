/*
 * zerocopy: the fast paths of a one-to-one conversation, which move bytes
 * between descriptors inside the kernel and never into sockcat's memory.
 *
 * - a regular file on stdin -> the peer: sendfile(2);
 * - a pipe on stdin -> the peer: splice(2) between the two directly (a pipe
 *   on stdout stays on the copying path: see attach_to_stdout);
 * - the peer -> a regular file or a memory device (/dev/null) on stdout:
 *   splice(2) into a pipe of sockcat's own, then out of it into the file.
 *
 * A path takes over one direction of the hub when it starts: the hub's
 * stream path then leaves that direction alone (hub_update_stdin and the
 * peer's reads step aside) and the other direction stays on the stream
 * path. Readiness comes from uv_poll_t handles on duplicates of the
 * descriptors, since libuv refuses a second watcher on the descriptor a
 * stream handle owns. What a path moves is counted as the stream path
 * counts it (bytes read and written of the endpoints, the pumps' totals),
 * and its endings are handed to the pumps and the conversation as the
 * stream path's would be: EOF of stdin ends the peer's output (a
 * half-close through its stream handle), EOF of the peer ends stdout.
 * A descriptor that the kernel cannot splice (EINVAL before any byte
 * moved) gives the direction back to the stream path.
 */
#ifndef SOCKCAT_ZEROCOPY_H
#define SOCKCAT_ZEROCOPY_H

#include <stdbool.h>

#include "cli.h"
#include "hub.h"

/*
 * zerocopy_allowed()
 * Whether the options leave the conversation one-to-one and untransformed,
 * so that the fast paths may be used at all. Every new transform of the
 * bytes and every new kind of endpoint that the kernel cannot move without
 * sockcat seeing the bytes adds its condition here.
 */
bool zerocopy_allowed(const struct sc_opts *opts);

/* Moves each direction of a new one-shot peer to a fast path where one applies. */
void zerocopy_attach(struct sc_hub *hub, struct sc_peer *peer);

/* True while a fast path reads `peer` (its stream must not read). */
bool zerocopy_reads_peer(const struct sc_hub *hub, const struct sc_peer *peer);

/* Ends the fast paths that involve `peer` (it is closing), or all of them. */
void zerocopy_detach_peer(struct sc_hub *hub, const struct sc_peer *peer);
void zerocopy_stop(struct sc_hub *hub);

#endif
