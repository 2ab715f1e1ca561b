#include "broker.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "conv.h"
#include "diag.h"
#include "hub.h"

static bool broker_running(const struct sc_hub *hub)
{
    return !hub->conv->stopping && !hub->conv->finished;
}

/*
 * Passes a chunk on: to stdout, and to every client but `from` (NULL: to
 * every client). The caller keeps its reference.
 */
static void broker_pass(struct sc_hub *hub, struct sc_peer *from, struct sc_chunk *chunk)
{
    if (hub->out && !hub->out_broken && !hub->out->closing)
        sc_diag_stdout_data(chunk->data, chunk->len);  /* a live line sharing the terminal */
    pump_push(&hub->to_stdout, chunk);
    if (broker_running(hub))
        pump_push_except(&hub->to_peers, chunk, from && from->in_broadcast ? &from->sink : NULL);
}

/* ---- fair reads ---- */

/* A turn of the event loop is over: the peers that had their share read again. */
static void broker_on_check(uv_check_t *check)
{
    struct sc_hub *hub = check->data;
    struct sc_broker *b = &hub->broker;

    b->turn++;
    if (b->yielded == 0)
        return;
    b->yielded = 0;
    for (struct sc_peer *peer = hub->peers; peer; peer = peer->next) {
        if (peer->bp->yielded) {
            peer->bp->yielded = false;
            hub_update_peer_read(peer);
        }
    }
}

/* Counts what a peer read this turn; past its share, it waits for the next. */
static void broker_take_turn(struct sc_peer *peer, size_t len)
{
    struct sc_broker *b = &peer->hub->broker;
    struct sc_broker_peer *bp = peer->bp;

    if (bp->turn != b->turn) {
        bp->turn = b->turn;
        bp->turn_bytes = 0;
    }
    bp->turn_bytes += len;
    if (bp->turn_bytes >= BROKER_TURN_BYTES && !bp->yielded) {
        bp->yielded = true;
        b->yielded++;
        hub_update_peer_read(peer);
    }
}

bool broker_may_read(const struct sc_peer *peer)
{
    const struct sc_pump *bcast = &peer->hub->to_peers;

    return !peer->bp->yielded && !pump_held_back(bcast);
}

/* ---- --chat ---- */

/* Lines of one read, formatted into blocks that go out whole. */
struct chat_out {
    struct sc_hub *hub;
    struct sc_peer *from;
    char prefix[CHAT_PREFIX_MAX];
    struct sc_chunk *block;
};

static void chat_out_flush(struct chat_out *o)
{
    if (!o->block)
        return;
    struct sc_chunk *chunk = chunk_trim(o->block, o->block->len);
    o->block = NULL;
    broker_pass(o->hub, o->from, chunk);
    chunk_unref(chunk);
}

static void chat_out_line(void *ctx, const char *line, size_t len)
{
    struct chat_out *o = ctx;

    if (o->block && o->block->cap - o->block->len < CHAT_FORMATTED_MAX)
        chat_out_flush(o);
    if (!o->block) {
        o->block = chunk_take_block();
        if (!o->block) {
            sc_verbose(1, "out of memory: a chat line was lost");
            return;
        }
    }
    o->block->len += chat_format_line(o->prefix, line, len, o->block->data + o->block->len,
                                      o->block->cap - o->block->len);
}

static void chat_out_init(struct chat_out *o, struct sc_peer *from)
{
    *o = (struct chat_out){ .hub = from->hub, .from = from };
    snprintf(o->prefix, sizeof(o->prefix), "<user %" PRIu64 "> ", from->bp->user);
}

/* A line from sockcat itself, for every client but `from`, and stdout. */
static void chat_announce(struct sc_peer *from, const char *what)
{
    char text[96];
    int len = snprintf(text, sizeof(text), "* user %" PRIu64 " %s\n", from->bp->user, what);
    struct sc_chunk *block = chunk_take_block();

    if (!block || len < 0)
        return;
    memcpy(block->data, text, (size_t)len);
    struct sc_chunk *chunk = chunk_trim(block, (size_t)len);
    broker_pass(from->hub, from, chunk);
    chunk_unref(chunk);
}

/* ---- events ---- */

void broker_on_data(struct sc_peer *peer, struct sc_chunk *chunk)
{
    size_t len = chunk->len;

    if (peer->bp->chat) {
        struct chat_out o;
        chat_out_init(&o, peer);
        chat_feed(peer->bp->chat, chunk->data, chunk->len, chat_out_line, &o);
        chat_out_flush(&o);
    } else {
        broker_pass(peer->hub, peer, chunk);
    }
    chunk_unref(chunk);
    broker_take_turn(peer, len);
}

void broker_peer_joined(struct sc_peer *peer)
{
    struct sc_hub *hub = peer->hub;

    peer->bp->user = hub->counters->connections;
    if (!hub->opts->chat)
        return;
    peer->bp->chat = malloc(sizeof(*peer->bp->chat));
    if (!peer->bp->chat) {
        sc_verbose(1, "out of memory: closing %s", peer->name);
        peer->read_done = peer->write_done = true;
        return;
    }
    chat_framer_init(peer->bp->chat);
    sc_verbose(1, "%s is user %" PRIu64, peer->name, peer->bp->user);
    chat_announce(peer, "joined");
}

/* An unfinished last line is passed on as it is. */
static void chat_flush_peer(struct sc_peer *peer)
{
    struct chat_out o;

    if (!peer->bp->chat || !broker_running(peer->hub))
        return;
    chat_out_init(&o, peer);
    chat_flush(peer->bp->chat, chat_out_line, &o);
    chat_out_flush(&o);
}

void broker_peer_eof(struct sc_peer *peer)
{
    chat_flush_peer(peer);
}

void broker_peer_left(struct sc_peer *peer)
{
    if (!peer->bp->chat)
        return;
    chat_flush_peer(peer);
    if (broker_running(peer->hub))
        chat_announce(peer, "left");
    free(peer->bp->chat);
    peer->bp->chat = NULL;
}

void broker_init(struct sc_hub *hub, uv_loop_t *loop)
{
    struct sc_broker *b = &hub->broker;

    b->on = true;
    /* Clients talk to each other whether or not stdin has more to say. */
    hub->to_peers.eof_ends_sinks = false;
    /* N clients send to N-1 each: a client that keeps up holds nothing,
     * and all the queues together have one budget (pump.h). */
    hub->to_peers.write_now_first = true;
    hub->to_peers.entry_budget = BROKER_QUEUED_CHUNKS;
    uv_check_init(loop, &b->check);
    b->check.data = hub;
    uv_check_start(&b->check, broker_on_check);
    uv_unref((uv_handle_t *)&b->check);  /* it never keeps sockcat running */
    b->check_open = true;
}

void broker_close(struct sc_hub *hub)
{
    struct sc_broker *b = &hub->broker;

    if (!b->check_open)
        return;
    b->check_open = false;
    uv_close((uv_handle_t *)&b->check, NULL);
}
