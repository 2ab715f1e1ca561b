/*
 * transform: the pump's transform step, set only when -C, -x or -o is
 * given (without them the pumps have none, and cost nothing more).
 * - sent (stdin -> peers): -C converts LF to CRLF; then -x and -o log the
 *   bytes as they go out;
 * - received (peers -> stdout): logged untouched.
 * -x writes hex dump lines (hexdump.h), -o the raw bytes of both
 * directions in the order they passed. Under -k each record names its
 * client: -x puts it on every line ("[ADDR PORT]", or "[all]" for the
 * broadcast of stdin; the offsets count all clients' bytes in a
 * direction), -o writes a header line before each record:
 * "< ADDR PORT LEN" or "> all LEN", then LEN raw bytes.
 *
 * The files are opened before any connection. They are written with
 * buffered blocking writes (256 KiB buffers): a regular file takes them
 * at disk speed without stalling the loop noticeably. A write that fails
 * stops sockcat with status 1 (on_error): a log never silently loses bytes.
 */
#ifndef SOCKCAT_TRANSFORM_H
#define SOCKCAT_TRANSFORM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "chunk.h"
#include "cli.h"
#include "crlf.h"

struct sc_pump;

enum sc_direction { SC_DIR_SENT, SC_DIR_RECEIVED };

struct sc_transform {
    bool crlf;
    struct sc_crlf crlf_state;
    bool tag_clients;           /* -k: records name their client */
    FILE *hex;                  /* -x, or NULL */
    FILE *raw;                  /* -o, or NULL */
    const char *hex_path, *raw_path;
    uint64_t offset[2];         /* bytes logged so far, by direction */
    bool failed;
    /* A log could not be written: the one line is printed already. */
    void (*on_error)(void *ctx);
    void *ctx;
};

/*
 * transform_needed()
 * True when the options ask for a transform step (-C, -x, -o): bytes must
 * then pass through sockcat's own buffers, so a zero-copy path (splice,
 * sendfile) must not be taken.
 */
bool transform_needed(const struct sc_opts *opts);

/*
 * transform_open()
 * Sets up the step and opens -x and -o's files (truncated, or appended to
 * with --append-output). Returns 0, or -1 after printing why.
 */
int transform_open(struct sc_transform *t, const struct sc_opts *opts);

/* Puts the step into the two pumps: stdin -> peers, peers -> stdout. */
void transform_attach(struct sc_transform *t, struct sc_pump *sent, struct sc_pump *received);

/*
 * transform_chunk()
 * The step for one chunk in `dir`, from `origin` (a client's name, or
 * NULL for stdin). Returns the chunk to pass on: `chunk` itself, or a new
 * one (one reference, the caller's) when -C changed the bytes.
 */
struct sc_chunk *transform_chunk(struct sc_transform *t, enum sc_direction dir,
                                 const char *origin, struct sc_chunk *chunk);

/* Flushes and closes the files. Returns 0, or -1 after printing why. */
int transform_close(struct sc_transform *t);

#endif
