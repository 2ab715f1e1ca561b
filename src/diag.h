/*
 * diag: everything sockcat writes to stderr goes through here, in the
 * `sockcat: what failed: why` shape, plus the exit status convention.
 */
#ifndef SOCKCAT_DIAG_H
#define SOCKCAT_DIAG_H

#include <stddef.h>
#include <stdint.h>

enum sc_exit {
    SC_EXIT_OK = 0,
    SC_EXIT_RUNTIME = 1,
    SC_EXIT_USAGE = 2,
    SC_EXIT_SIGNAL_BASE = 128,
};

/* How many -v were given; set once by main. */
extern int sc_verbosity;

/* "sockcat: <formatted>: <reason for uverr>". */
void sc_error(int uverr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "sockcat: <formatted>" then the hint to read --help. */
void sc_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "sockcat: <formatted>" when -v was given at least `level` times. */
void sc_verbose(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "sockcat: <formatted>", unconditionally (reports the user asked for). */
void sc_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The reason text for a libuv error code, capitalised like strerror(3). */
const char *sc_strerror(int uverr);

/* Something to do before each message: erase a live progress line. */
void sc_set_before_message(void (*hook)(void *arg), void *arg);

/* Human units: "312 B", "1.00 KiB", "1.19 GiB". */
void sc_format_bytes(char *out, size_t size, double bytes);

#endif
