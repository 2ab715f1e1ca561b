#include "trim.h"

#include <stdbool.h>
#include <stdlib.h>  /* first: it tells whether the C library is glibc */

#ifdef __GLIBC__
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <uv.h>
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

#ifdef __GLIBC__
/*
 * libuv's own memory goes through here (uv_replace_allocator) for two
 * reasons, both about what a keep-open server keeps after a crowd:
 *
 * - Its table of watchers, indexed by descriptor number, grows (by
 *   realloc) to the largest descriptor ever open, 8 bytes a slot, 128 KiB
 *   after 10 000 clients, and never shrinks; once the crowd is gone it is
 *   zeros but for the first page. The large blocks libuv grows by realloc
 *   (its loop's own tables, which the thread pool never touches) are
 *   remembered so that the trim can give back their pages that hold only
 *   zeros: the kernel hands a fresh zero page to whoever touches one next,
 *   so nothing changes for libuv.
 *
 * - The thread pool frees, on its own threads, memory the loop's thread
 *   allocated (the array of buffers of a file write with more than four).
 *   glibc keeps up to seven freed blocks of each size per thread for that
 *   thread's reuse; the pool's threads never reuse them, so up to 28 blocks
 *   a size stayed scattered over the main heap, each keeping a page of it
 *   resident after the trim. Such frees are handed back to the loop's
 *   thread instead, whose cache turns over.
 */
#define LARGE_BLOCK (16 * 1024)  /* 2 048 descriptors' worth */
#define LARGE_KEPT 8

struct large_block {
    void *ptr;
    size_t size;
};

static struct large_block large[LARGE_KEPT];
static pthread_t loop_thread;
static pthread_mutex_t handed_lock = PTHREAD_MUTEX_INITIALIZER;
static void *handed;              /* freed by the pool: a list through the blocks */
static atomic_bool handed_some;   /* cheap check before taking the lock */

static bool on_loop_thread(void)
{
    return pthread_equal(pthread_self(), loop_thread);
}

static void free_handed(void)
{
    void *list;

    if (!atomic_load_explicit(&handed_some, memory_order_relaxed))
        return;
    pthread_mutex_lock(&handed_lock);
    list = handed;
    handed = NULL;
    atomic_store_explicit(&handed_some, false, memory_order_relaxed);
    pthread_mutex_unlock(&handed_lock);
    while (list) {
        void *next = *(void **)list;
        free(list);
        list = next;
    }
}

static void remember(void *ptr, size_t size)
{
    if (!ptr || size < LARGE_BLOCK || !on_loop_thread())
        return;
    for (size_t i = 0; i < LARGE_KEPT; i++)
        if (!large[i].ptr) {
            large[i].ptr = ptr;
            large[i].size = size;
            return;
        }
}

/* Forgets `ptr` if it was remembered; its size then, or 0. */
static size_t forget(void *ptr)
{
    for (size_t i = 0; i < LARGE_KEPT; i++)
        if (large[i].ptr == ptr) {
            large[i].ptr = NULL;
            return large[i].size;
        }
    return 0;
}

/* A block the loop's thread may have allocated, freed on another thread. */
static void hand_back(void *ptr)
{
    pthread_mutex_lock(&handed_lock);
    *(void **)ptr = handed;
    handed = ptr;
    atomic_store_explicit(&handed_some, true, memory_order_relaxed);
    pthread_mutex_unlock(&handed_lock);
}

static void *uv_malloc_hook(size_t size)
{
    if (on_loop_thread())
        free_handed();
    return malloc(size);
}

static void *uv_calloc_hook(size_t count, size_t size)
{
    return calloc(count, size);
}

/*
 * Off the loop's thread the old block is copied and handed back rather than
 * reallocated, so that the blocks remembered (touched by the loop's thread
 * only) are never freed under it.
 */
static void *realloc_elsewhere(void *old, size_t size)
{
    void *ptr = malloc(size);

    if (ptr && old) {
        size_t have = malloc_usable_size(old);
        memcpy(ptr, old, have < size ? have : size);
        hand_back(old);
    }
    return ptr;
}

static void *uv_realloc_hook(void *old, size_t size)
{
    size_t had;
    void *ptr;

    if (!on_loop_thread())
        return realloc_elsewhere(old, size);
    free_handed();
    had = old ? forget(old) : 0;
    ptr = realloc(old, size);
    if (ptr)
        remember(ptr, size);
    else if (had)
        remember(old, had);  /* still there as it was */
    return ptr;
}

static void uv_free_hook(void *ptr)
{
    if (!ptr)
        return;
    if (on_loop_thread()) {
        forget(ptr);
        free_handed();
        free(ptr);
    } else {
        hand_back(ptr);
    }
}

/* True when the `size` bytes at `p` (a whole number of words) are all zero. */
static bool all_zero(const void *p, size_t size)
{
    const uintptr_t *w = p;

    for (size_t i = 0; i < size / sizeof(*w); i++)
        if (w[i])
            return false;
    return true;
}

/* Gives back the resident pages of [start, end) that hold only zeros. */
static void release_zero_pages(char *start, char *end, size_t page)
{
    unsigned char resident[64];
    size_t pages = (size_t)(end - start) / page;

    for (size_t first = 0; first < pages; first += sizeof(resident)) {
        size_t n = pages - first < sizeof(resident) ? pages - first : sizeof(resident);
        char *at = start + first * page;

        if (mincore(at, n * page, resident) < 0)
            return;
        for (size_t i = 0; i < n; i++) {
            /* Reading a page that is not there would bring it in. */
            if ((resident[i] & 1) && all_zero(at + i * page, page))
                madvise(at + i * page, page, MADV_DONTNEED);
        }
    }
}

static void release_large_zeros(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    for (size_t i = 0; i < LARGE_KEPT; i++) {
        uintptr_t lo = (uintptr_t)large[i].ptr, hi = lo + large[i].size;

        if (!large[i].ptr)
            continue;
        /* Whole pages inside the block only: its neighbours share the others. */
        lo = (lo + page - 1) & ~(uintptr_t)(page - 1);
        hi &= ~(uintptr_t)(page - 1);
        if (hi > lo)
            release_zero_pages((char *)lo, (char *)hi, page);
    }
}

void trim_watch_libuv(void)
{
    loop_thread = pthread_self();
    uv_replace_allocator(uv_malloc_hook, uv_realloc_hook, uv_calloc_hook, uv_free_hook);
}

void trim_finish(void)
{
    free_handed();
}
#else
void trim_watch_libuv(void)
{
}

void trim_finish(void)
{
}
#endif

void trim_chunks_idle(void)
{
    if (!pending || chunk_live_bytes() > 0)
        return;
    pending = false;
    chunk_pool_drain();  /* the blocks kept for reuse are the crowd's too */
#ifdef __GLIBC__
    free_handed();
    release_large_zeros();
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
