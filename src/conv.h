/*
 * conv: the conversation. It opens stdin and stdout, puts them and the
 * peers on the hub, and holds the one rule for when sockcat is done and
 * with which exit status: one-shot ends when its peer is gone and stdout
 * has had everything; keep-open runs until a signal or an error; a stop
 * writes out all that stdout holds before everything closes, and only a
 * stop on a signal gives up on a stdout that does not drain.
 */
#ifndef SOCKCAT_CONV_H
#define SOCKCAT_CONV_H

#include <stdbool.h>
#include <uv.h>

#include "cli.h"
#include "counters.h"
#include "hub.h"
#include "pump.h"

struct sc_conv {
    uv_loop_t *loop;
    const struct sc_opts *opts;
    struct sc_counters *counters;
    struct sc_hub hub;
    enum sc_end_reason reason;
    bool stopping;            /* flushing stdout before finishing */
    bool finished;
    int exit_code;
    int stop_signal;          /* the signal that asked to stop, or 0 */
    uint64_t abandoned;       /* received bytes a signal stop did not write */
    char error[512];          /* printed once stdout is flushed */
    uv_timer_t flush_timer;   /* bounds the flush of a stop on a signal */
    struct sc_conv_ending *ending;  /* -q and --send-only clocks (ending.c) */
    /* Called once when stopping begins: stop feeding the conversation. */
    void (*on_stopping)(struct sc_conv *conv);
    /* Called once when the conversation is over: close what it does not own. */
    void (*on_finished)(struct sc_conv *conv);
    void *data;
};

/*
 * conv_open()
 * Opens stdin and stdout as the options say. Returns 0, or a libuv error
 * after printing it; the conversation is then finished with status 1 and
 * closes what it opened once the loop runs.
 */
int conv_open(struct sc_conv *conv, uv_loop_t *loop, const struct sc_opts *opts,
              struct sc_counters *counters);

/* A connected peer joins (the conversation owns `ep` now). */
void conv_add_peer(struct sc_conv *conv, struct sc_endpoint *ep, const char *name);

/*
 * conv_stop()
 * Ends the conversation: stops reading, writes out to stdout all that was
 * received, however slowly its reader takes it, then closes everything.
 * `code` becomes the exit status unless one is set already.
 * A `code` of 128+N is a stop on signal N: only such a stop gives up on a
 * stdout that is not drained within a few seconds (or at once, on a second
 * signal), and then says how many received bytes it dropped (exit 128+N).
 */
void conv_stop(struct sc_conv *conv, int code);

/* Like conv_stop(), with a one-line error printed after stdout is flushed. */
void conv_fail(struct sc_conv *conv, int uverr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like conv_fail(), when the text is the whole reason (no system error). */
void conv_fail_text(struct sc_conv *conv, const char *text);

/* What the hub tells the conversation; the rules live here. */
void conv_peer_read_ended(struct sc_conv *conv, struct sc_peer *peer, int err);
void conv_peer_write_failed(struct sc_conv *conv, struct sc_peer *peer, int err);
void conv_peer_write_ended(struct sc_conv *conv, struct sc_peer *peer, int status);
void conv_peer_closed(struct sc_conv *conv, struct sc_peer *peer);
/* -i: no traffic to or from the peer for the idle time. */
void conv_peer_idle(struct sc_conv *conv, struct sc_peer *peer);

/* Is sockcat done? Finishes the conversation when it is. */
void conv_check(struct sc_conv *conv);

#endif
