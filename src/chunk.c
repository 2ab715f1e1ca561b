#include "chunk.h"
#include "trim.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Blocks kept for reuse; beyond this, returned blocks are freed. */
#define POOL_KEEP 16

/* Reads that fill less than this are copied out of their block. */
#define TRIM_BELOW (SC_BLOCK_SIZE / 4)

static struct sc_chunk *pool[POOL_KEEP];
static size_t pool_count;

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

struct sc_chunk *chunk_take_block(void)
{
    if (pool_count > 0) {
        struct sc_chunk *c = pool[--pool_count];
        c->refs = 1;
        c->len = 0;
        live_bytes += footprint(c);
        return c;
    }
    return chunk_alloc(SC_BLOCK_SIZE);
}

struct sc_chunk *chunk_trim(struct sc_chunk *block, size_t len)
{
    if (len < TRIM_BELOW && block->cap == SC_BLOCK_SIZE) {
        struct sc_chunk *small = chunk_alloc(len);
        if (small) {
            memcpy(small->data, block->data, len);
            small->len = len;
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
    if (--chunk->refs > 0)
        return;
    live_bytes -= footprint(chunk);
    if (chunk->cap == SC_BLOCK_SIZE && pool_count < POOL_KEEP)
        pool[pool_count++] = chunk;
    else
        free(chunk);
    if (live_bytes == 0)
        trim_chunks_idle();
}

void chunk_pool_drain(void)
{
    while (pool_count > 0)
        free(pool[--pool_count]);
}
