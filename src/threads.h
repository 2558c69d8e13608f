/*
 * threads.h - a parallel for-loop over tasks, on threads created for the call.
 *
 * No pool survives a call, so the library owns no threads between calls and never exceeds the
 * count the caller asked for. Tasks are taken dynamically from an atomic counter so uneven
 * tasks (IVF lists of different sizes) balance. `worker` in [0, nthreads) indexes per-thread
 * scratch. Creating two threads costs tens of microseconds, which only batch calls pay:
 * one-thread calls run inline.
 */
#ifndef SCANN_THREADS_H
#define SCANN_THREADS_H

#include <stdint.h>

typedef void (*par_task_fn)(void *ctx, int64_t task, int worker);

/* Online cores, at least 1. */
int threads_online(void);
/* Run fn(ctx, t, worker) for t in [0, ntasks) on up to nthreads threads (the caller included).
 * If a thread cannot be created, the remaining workers do its share. */
void par_for(int nthreads, int64_t ntasks, par_task_fn fn, void *ctx);

#endif
