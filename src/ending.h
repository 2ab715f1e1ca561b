/*
 * ending: the clocks and kernel checks that end a conversation or a
 * client without anyone being stranded:
 *  - -i: a peer with no traffic either way for the idle time ends
 *    (the conversation decides what that means: conv_peer_idle());
 *  - -q and --send-only: once stdin's end has reached the peer (its
 *    output ended), the conversation stops after the -q time, or as soon
 *    as the kernel says the peer acknowledged every byte sent (SIOCOUTQ
 *    reads 0) with -q 0 or --send-only, never sooner;
 *  - --keepalive on every TCP peer, and keepalive probes on keep-open
 *    clients that half-closed: such a client holds no -m slot, and one
 *    found dead (probes unanswered, a reset) is closed, so its descriptor
 *    comes back within about two minutes even when stdin is silent.
 * The hub and the conversation call in at a few points; the rules of what
 * an ending means stay in conv.c.
 */
#ifndef SOCKCAT_ENDING_H
#define SOCKCAT_ENDING_H

#include <stdint.h>

struct sc_conv;
struct sc_hub;
struct sc_peer;

/* How often the acknowledgement of what was sent is checked. */
#define SC_ACK_POLL_MS 10

/* A peer joined: its idle clock starts, --keepalive is set. */
void ending_peer_start(struct sc_peer *peer);

/* Bytes moved to or from the peer: its idle clock starts again. */
void ending_peer_traffic(struct sc_peer *peer);

/* A keep-open client half-closed: probe it, and reap it once dead. */
void ending_peer_half_closed(struct sc_peer *peer);

/* The peer is closing: its clocks stop (before it is freed). */
void ending_peer_stop(struct sc_peer *peer);

/* The hub closes: so does its reaper. */
void ending_hub_close(struct sc_hub *hub);

/* One-shot: stdin's end reached the peer (its output ended or drained). */
void ending_conv_output_done(struct sc_conv *conv);

/* The conversation is over: its clocks close. */
void ending_conv_close(struct sc_conv *conv);

/* "0.25", "2", "90": a time in milliseconds as seconds, for messages. */
void ending_format_seconds(char *out, unsigned long size, uint64_t ms);

#endif
