#include "chunk.h"
#include "trim.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Blocks of each size kept for reuse; beyond this, returned blocks are freed. */
#define POOL_KEEP 16

/* The block sizes reads draw from, each with its own pool. */
static const size_t block_sizes[] = { SC_SMALL_BLOCK, SC_MID_BLOCK, SC_BLOCK_SIZE };
#define BLOCK_CLASSES (sizeof(block_sizes) / sizeof(block_sizes[0]))

struct pool {
    struct sc_chunk *kept[POOL_KEEP];
    size_t count;
};

static struct pool pools[BLOCK_CLASSES];

/* Memory of the chunks in use (allocated, not back in the pool). */
static size_t live_bytes;

static size_t footprint(const struct sc_chunk *c)
{
    return sizeof(*c) + c->cap;
}

size_t chunk_live_bytes(void)
{
    return live_bytes;
}

bool chunk_tight(void)
{
    return live_bytes > SC_TIGHT_BYTES;
}

/* The pool of blocks of exactly `cap` bytes, or NULL for any other size. */
static struct pool *pool_for(size_t cap)
{
    for (size_t i = 0; i < BLOCK_CLASSES; i++)
        if (block_sizes[i] == cap)
            return &pools[i];
    return NULL;
}

static struct sc_chunk *chunk_alloc(size_t cap)
{
    struct sc_chunk *c = malloc(sizeof(*c) + cap);

    if (c) {
        c->refs = 1;
        c->len = 0;
        c->cap = cap;
        live_bytes += footprint(c);
    }
    return c;
}

struct sc_chunk *chunk_new(size_t cap)
{
    return chunk_alloc(cap);
}

/* A block of one of the block sizes, from its pool when one is kept. */
static struct sc_chunk *take_block_of(size_t cap)
{
    struct pool *pool = pool_for(cap);

    if (pool && pool->count > 0) {
        struct sc_chunk *c = pool->kept[--pool->count];
        c->refs = 1;
        c->len = 0;
        live_bytes += footprint(c);
        return c;
    }
    return chunk_alloc(cap);
}

struct sc_chunk *chunk_copy(const void *bytes, size_t len)
{
    struct sc_chunk *c = chunk_alloc(len);

    if (c) {
        memcpy(c->data, bytes, len);
        c->len = len;
    }
    return c;
}

struct sc_chunk *chunk_take_block(void)
{
    return take_block_of(SC_BLOCK_SIZE);
}

struct sc_chunk *chunk_take_read(size_t want)
{
    size_t cap = SC_BLOCK_SIZE;

    if (want == 0 || want > SC_BLOCK_SIZE)
        want = SC_BLOCK_SIZE;
    if (chunk_tight() && want > SC_SMALL_BLOCK)
        want = SC_SMALL_BLOCK;
    for (size_t i = 0; i < BLOCK_CLASSES; i++) {
        if (block_sizes[i] >= want) {
            cap = block_sizes[i];
            break;
        }
    }
    return take_block_of(cap);
}

struct sc_chunk *chunk_trim(struct sc_chunk *block, size_t len)
{
    if (len < block->cap / 4 && pool_for(block->cap)) {
        struct sc_chunk *small = chunk_copy(block->data, len);
        if (small) {
            chunk_unref(block);
            return small;
        }
    }
    block->len = len;
    return block;
}

struct sc_chunk *chunk_of(char *data)
{
    return (struct sc_chunk *)(void *)(data - offsetof(struct sc_chunk, data));
}

void chunk_ref(struct sc_chunk *chunk)
{
    chunk->refs++;
}

void chunk_unref(struct sc_chunk *chunk)
{
    struct pool *pool;

    if (--chunk->refs > 0)
        return;
    live_bytes -= footprint(chunk);
    pool = pool_for(chunk->cap);
    if (pool && pool->count < POOL_KEEP)
        pool->kept[pool->count++] = chunk;
    else
        free(chunk);
    if (live_bytes == 0)
        trim_chunks_idle();
}

void chunk_pool_drain(void)
{
    for (size_t i = 0; i < BLOCK_CLASSES; i++)
        while (pools[i].count > 0)
            free(pools[i].kept[--pools[i].count]);
}
