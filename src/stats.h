/*
 * stats: the figures a person or a script sees: the -v summary line,
 * --stats json, the SIGUSR1 snapshot and the live --progress line.
 */
#ifndef SOCKCAT_STATS_H
#define SOCKCAT_STATS_H

#include <stdbool.h>
#include <uv.h>

#include "cli.h"
#include "counters.h"

struct sc_progress {
    uv_timer_t timer;
    const struct sc_counters *counters;
    uint64_t last_ns;
    uint64_t last_total;
    double rate;          /* smoothed bytes per second */
    bool active;
    bool drawn;           /* a line is on screen and must be erased */
};

/* "sockcat: 1.00 GiB sent, 312 B received in 0.84 s (1.19 GiB/s)". */
void stats_print_summary(const struct sc_counters *counters, const char *suffix);

/* One JSON object on a line of its own. */
void stats_print_json(const struct sc_counters *counters);

/* Starts the live line when stderr is a terminal; otherwise does nothing. */
void progress_start(struct sc_progress *p, uv_loop_t *loop, const struct sc_counters *c);

/* Erases the live line, if any, and closes the timer. */
void progress_stop(struct sc_progress *p);

/* Erases the line before other stderr output would garble it; redrawn later. */
void progress_clear(struct sc_progress *p);

#endif
