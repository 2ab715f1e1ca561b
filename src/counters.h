/*
 * counters: the running totals read by the -v summary, --stats,
 * --progress and SIGUSR1.
 */
#ifndef SOCKCAT_COUNTERS_H
#define SOCKCAT_COUNTERS_H

#include <stdint.h>
#include <uv.h>

struct sc_counters {
    uint64_t sent;          /* bytes written to peers */
    uint64_t received;      /* bytes read from peers */
    uint64_t connections;   /* peers that took part */
    uint64_t disconnected;  /* slow clients disconnected (--slow-client disconnect) */
    uint64_t dropped;       /* bytes slow clients missed (--slow-client drop) */
    uint64_t start_ns;
};

/* Monotonic nanoseconds, for durations. */
static inline uint64_t sc_now_ns(void)
{
    return uv_hrtime();
}

#endif
