#include "trim.h"

#include <stdbool.h>
#include <stdlib.h>  /* first: it tells whether the C library is glibc */

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "chunk.h"

/*
 * Fewer peers than this since the last trim leave too little behind to be
 * worth the walk over the heap. Counting arrivals rather than the most at
 * once catches a crowd that comes in several waves, and clients that come
 * one at a time cost one trim per this many.
 */
#define TRIM_AFTER_PEERS 256

/* The heap is the process's, so is this state. */
static unsigned last;      /* peers at the last call */
static unsigned arrivals;  /* peers that came since the last trim */
static bool pending;       /* they have all gone; their bytes may still be queued */

void trim_chunks_idle(void)
{
    if (!pending || chunk_live_bytes() > 0)
        return;
    pending = false;
    chunk_pool_drain();  /* the blocks kept for reuse are the crowd's too */
#ifdef __GLIBC__
    /* free() keeps what it could not hand back at the top of the heap. */
    malloc_trim(0);
#endif
}

void trim_peers_changed(unsigned peers)
{
    if (peers > last)
        arrivals += peers - last;
    last = peers;
    if (peers > 0 || arrivals < TRIM_AFTER_PEERS)
        return;
    arrivals = 0;
    pending = true;
    trim_chunks_idle();
}
