/*
 * broker: --broker and --chat, the hub topology where every client is both
 * a source and a sink. A client's chunk goes whole to stdout and to every
 * other client (never back to its sender); stdin goes to every client.
 *
 * - The broadcast pump (hub->to_peers) carries both stdin and the clients'
 *   chunks, so its marks and --slow-client hold for everything a client is
 *   sent: under block every source waits for a client above its mark, under
 *   drop or disconnect that client pays alone, within the pump's budget.
 * - Stdin's end does not end the clients: they still talk to each other.
 *   A client's end (it half-closed or left) ends it: what is queued for it
 *   is written, then its connection closes.
 * - Memory: what a client's output takes at once is written at once, so
 *   only clients that fall behind queue anything, each up to its mark,
 *   and all queues together up to BROKER_QUEUED_CHUNKS.
 * - Fair reads: a client is read at most BROKER_TURN_BYTES per turn of the
 *   event loop, then waits for the next turn, so that one that floods takes
 *   no more than its share from the others.
 * - --chat frames each client's bytes into lines (chat.c) sent as
 *   "<user N> TEXT", N being the client's number for as long as it stays,
 *   and announces joins and leaves to the others and to stdout.
 */
#ifndef SOCKCAT_BROKER_H
#define SOCKCAT_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "chunk.h"

/*
 * Chunks queued for all clients together (each a write request and its
 * share of the chunk: about SC_CHUNK_COST bytes) before the senders wait:
 * 16 MiB. A client that keeps up queues nothing (write_now_first).
 */
#define BROKER_QUEUED_CHUNKS (64 * 1024)

/* Bytes one client may have read in one turn of the event loop. */
#define BROKER_TURN_BYTES SC_BLOCK_SIZE

struct sc_hub;
struct sc_peer;
struct chat_framer;

/* The broker's part of a peer. */
struct sc_broker_peer {
    uint64_t user;              /* its number in --chat */
    uint64_t turn;              /* the turn turn_bytes counts for */
    size_t turn_bytes;
    bool yielded;               /* read its share of this turn */
    struct chat_framer *chat;   /* its unfinished line, --chat only */
};

/* The broker's part of the hub. */
struct sc_broker {
    bool on;
    bool check_open;
    uv_check_t check;           /* a turn of the loop has ended */
    uint64_t turn;
    size_t yielded;             /* peers waiting for the next turn */
};

/* Makes the hub a broker (the options say --broker). */
void broker_init(struct sc_hub *hub, uv_loop_t *loop);

/* May this peer be read now (fair share, and the broadcast flows)? */
bool broker_may_read(const struct sc_peer *peer);

/* A chunk from a peer (the callee owns the reference). */
void broker_on_data(struct sc_peer *peer, struct sc_chunk *chunk);

/* A peer joined, its input ended, or it left (it is out of the hub). */
void broker_peer_joined(struct sc_peer *peer);
void broker_peer_eof(struct sc_peer *peer);
void broker_peer_left(struct sc_peer *peer);

/* Closes the broker's handle. */
void broker_close(struct sc_hub *hub);

#endif
