/*
 * threads.h - a parallel for-loop over tasks, on an index's thread pool or on threads created
 * for the call.
 *
 * Tasks are taken dynamically from an atomic counter so uneven tasks (IVF lists of different
 * sizes) balance. `worker` in [0, nthreads) indexes per-thread scratch; the caller is worker 0.
 * Creating and joining two threads costs tens of microseconds, about what a one-query search
 * of a fast index takes, so each index owns a pool (created on its first multi-threaded call,
 * joined by scann_index_free) whose workers sleep between calls. One call uses the pool at a
 * time: a call that finds it busy (another caller thread, or a par_for inside a task) or too
 * small starts threads of its own, so concurrent searches neither wait for each other nor
 * deadlock.
 */
#ifndef SCANN_THREADS_H
#define SCANN_THREADS_H

#include <stdatomic.h>
#include <stdint.h>

typedef void (*par_task_fn)(void *ctx, int64_t task, int worker);

typedef struct par_pool par_pool;

/* Online cores, at least 1. */
int threads_online(void);
/* The pool in *slot, created with nthreads - 1 workers when there is none yet (callers may race:
 * one pool wins). NULL when nthreads <= 1 or no thread could be started: par_for copes. */
par_pool *par_pool_get(_Atomic(par_pool *) *slot, int nthreads);
/* Stops and joins the workers; no par_for may be using the pool. NULL is fine. */
void par_pool_free(par_pool *p);
/* Run fn(ctx, t, worker) for t in [0, ntasks) on up to nthreads threads (the caller included),
 * the pool's when it is free and large enough (pool may be NULL). If a thread cannot be
 * created, the remaining workers do its share. */
void par_for(par_pool *pool, int nthreads, int64_t ntasks, par_task_fn fn, void *ctx);

#endif
