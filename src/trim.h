#ifndef SOCKCAT_TRIM_H
#define SOCKCAT_TRIM_H

/*
 * Once hundreds of peers have come and all gone and the last of
 * their bytes has been written out, the memory they held is given back to
 * the system, so that a keep-open server that weathered a burst does not
 * stay at its peak size for the rest of its life.
 *
 * trim_watch_libuv(): before libuv allocates anything, on the thread that
 *   runs the loop: libuv's memory goes through here (see trim.c for why).
 * trim_peers_changed(): how many peers there are now.
 * trim_chunks_idle(): no chunk memory is in use any more.
 * trim_finish(): at exit, after the loop is closed.
 */
void trim_watch_libuv(void);
void trim_peers_changed(unsigned peers);
void trim_chunks_idle(void);
void trim_finish(void);

#endif
