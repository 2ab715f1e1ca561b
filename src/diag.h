/*
 * diag: everything sockcat writes to stderr goes through here, in the
 * `sockcat: what failed: why` shape, plus the exit status convention.
 *
 * Before the loop runs, messages are written at once (usage errors). While
 * it runs, stderr is written without ever blocking the loop: what a stalled
 * reader cannot take waits in a small bounded backlog, what does not fit is
 * counted and the count is told once stderr drains. At exit what is left
 * gets a short, bounded chance to be written.
 */
#ifndef SOCKCAT_DIAG_H
#define SOCKCAT_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum sc_exit {
    SC_EXIT_OK = 0,
    SC_EXIT_RUNTIME = 1,
    SC_EXIT_USAGE = 2,
    SC_EXIT_SIGNAL_BASE = 128,
};

/* Bytes of messages kept while stderr is not being read. */
#define SC_DIAG_BACKLOG (64 * 1024)

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

/*
 * Bytes for stderr as they are (the live progress line, JSON figures):
 * no prefix, no escaping. Written whole, in order with the messages.
 */
void sc_diag_raw(const char *bytes, size_t len);

/* True while earlier output still waits for stderr to take it. */
bool sc_diag_backed_up(void);

/* From now on stderr is written without blocking, waiting on `loop`. */
void sc_diag_attach(uv_loop_t *loop);

/* The loop is ending: stop waiting on it (messages are still kept). */
void sc_diag_detach(void);

/* At exit: writes what is left, giving up after a short time. */
void sc_diag_finish(void);

/*
 * vsnprintf, except that what does not fit is cut from the middle and
 * marked "...": the start (the operation) and the end (a port) both stay.
 */
void sc_vformat_fitting(char *out, size_t size, const char *fmt, va_list ap);

/* The reason text for a libuv error code, capitalised like strerror(3). */
const char *sc_strerror(int uverr);

/* Something to do before each message: erase a live progress line. */
void sc_set_before_message(void (*hook)(void *arg), void *arg);

/*
 * Bytes about to be written to stdout (called where received data is
 * handed to stdout). When stdout is the terminal stderr is, a live line
 * is erased first so the two never write over each other.
 */
void sc_diag_stdout_data(const char *data, size_t len);

/*
 * Before drawing a line of our own on a terminal stdout shares: when the
 * received text stopped mid-line, move to a fresh line so that text stays.
 */
void sc_diag_fresh_line(void);

/* Human units: "312 B", "1.00 KiB", "1.19 GiB". */
void sc_format_bytes(char *out, size_t size, double bytes);

#endif
