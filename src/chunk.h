/*
 * chunk: reference-counted byte buffers, and the pool that reads draw from.
 *
 * A read takes a full-size block from the pool; what the read fills is a
 * chunk that every sink holding it keeps alive. A mostly empty block is
 * copied into a small chunk so that an idle or chatty connection never pins
 * a whole block. Memory is bounded by how many bytes the sinks may queue,
 * never by how many connections there are.
 */
#ifndef SOCKCAT_CHUNK_H
#define SOCKCAT_CHUNK_H

#include <stdbool.h>
#include <stddef.h>

/* Large enough that a busy stream moves a lot per system call (and per
 * thread-pool round trip for files): 256 KiB halved the sender's CPU time
 * against 64 KiB in bench/run. */
#define SC_BLOCK_SIZE (256 * 1024)

/*
 * Smaller read blocks: a conversation whose marks are smaller than a block
 * reads no more than its mark at a time (SC_MID_BLOCK), and when chunks in
 * use pass SC_TIGHT_BYTES every stream read takes at most SC_SMALL_BLOCK,
 * so that many busy connections hold what they queue, not a block each.
 */
#define SC_MID_BLOCK (64 * 1024)
#define SC_SMALL_BLOCK (16 * 1024)
#define SC_TIGHT_BYTES (16 * 1024 * 1024)

struct sc_chunk {
    unsigned refs;
    size_t len;   /* bytes of data in use */
    size_t cap;   /* bytes of data allocated */
    char data[];
};

/* A block of SC_BLOCK_SIZE bytes, len 0, one reference; NULL if out of memory. */
struct sc_chunk *chunk_take_block(void);

/*
 * chunk_take_read()
 * A block for one stream read of at most `want` bytes (0: SC_BLOCK_SIZE),
 * rounded up to a block size, and SC_SMALL_BLOCK while chunk_tight().
 * len 0, one reference; NULL if out of memory.
 */
struct sc_chunk *chunk_take_read(size_t want);

/* True while the chunks in use hold more than SC_TIGHT_BYTES. */
bool chunk_tight(void);

/* A chunk of `cap` bytes outside the pool (len 0, one reference); NULL if out of memory. */
struct sc_chunk *chunk_new(size_t cap);

/* A chunk outside the pool holding a copy of `len` bytes; NULL if out of memory. */
struct sc_chunk *chunk_copy(const void *bytes, size_t len);

/* Turns a filled block into the chunk to pass on: a read that fills less
 * than a quarter of its block is copied into a chunk of its own size, and
 * the block goes back to the pool. */
struct sc_chunk *chunk_trim(struct sc_chunk *block, size_t len);

/* The chunk whose data starts at `data` (a buffer handed to libuv). */
struct sc_chunk *chunk_of(char *data);

void chunk_ref(struct sc_chunk *chunk);

/* Drops a reference; the last one returns the chunk to the pool or frees it. */
void chunk_unref(struct sc_chunk *chunk);

/*
 * The memory held by chunks in use, each counted once however many sinks
 * share it (blocks waiting in the pool for reuse are not counted).
 */
size_t chunk_live_bytes(void);

/* Frees the blocks kept for reuse (at exit, so leak checkers stay quiet). */
void chunk_pool_drain(void);

#endif
