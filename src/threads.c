/* threads.c - see threads.h. */
#include "threads.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int threads_online(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

typedef struct par_job {
    par_task_fn fn;
    void *ctx;
    int64_t ntasks;
    atomic_llong next;
    atomic_int left; /* pool workers still to finish (or to be released) */
} par_job;

static void par_run(par_job *job, int worker)
{
    for (;;) {
        int64_t t = atomic_fetch_add(&job->next, 1);
        if (t >= job->ntasks) break;
        job->fn(job->ctx, t, worker);
    }
}

/* ---- the pool -------------------------------------------------------------------------------
 * Workers wait for a new generation: first spinning for POOL_SPIN_NS, because the par_for calls
 * of one search (probe, scan, rerank) and of a loop of searches follow each other within
 * microseconds, where a sleep and wake-up would cost about as much as the thread creation the
 * pool avoids; then asleep on a condition variable. The job itself lives on the caller's stack:
 * a worker takes it under the mutex (entered), and when the caller has run out of tasks it
 * withdraws the job, so it waits only for workers that really took part, never for one that is
 * still waking up. */

#define POOL_SPIN_NS 50000

typedef struct pool_worker {
    pthread_t tid;
    struct par_pool *pool;
    int id; /* its worker index in par_for, 1..nworkers */
} pool_worker;

struct par_pool {
    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers sleep here between jobs */
    pthread_cond_t done; /* the caller sleeps here for the last worker */
    atomic_int busy;     /* a par_for owns the pool */
    atomic_ullong gen;   /* jobs posted; written under mu, spun on without it */
    par_job *job;        /* under mu: the posted job, NULL once the caller withdrew it */
    int join, entered;   /* under mu: workers 1..join may take the job; how many did */
    int sleeping, stop;  /* under mu */
    int nworkers;
    pool_worker w[];
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spin until *v differs from old (1) or POOL_SPIN_NS pass (0). */
static int spin_while_eq_ull(atomic_ullong *v, unsigned long long old)
{
    double end = now_ns() + POOL_SPIN_NS;
    for (int i = 1;; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) != old) return 1;
        cpu_relax();
        if (i % 64 == 0 && now_ns() > end) return 0;
    }
}

static int spin_while_pos(atomic_int *v)
{
    double end = now_ns() + POOL_SPIN_NS;
    for (int i = 1;; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) <= 0) return 1;
        cpu_relax();
        if (i % 64 == 0 && now_ns() > end) return 0;
    }
}

static void *pool_main(void *arg)
{
    pool_worker *w = arg;
    par_pool *p = w->pool;
    unsigned long long seen = 0;
    for (;;) {
        spin_while_eq_ull(&p->gen, seen);
        pthread_mutex_lock(&p->mu);
        while (!p->stop && atomic_load_explicit(&p->gen, memory_order_relaxed) == seen) {
            p->sleeping++;
            pthread_cond_wait(&p->wake, &p->mu);
            p->sleeping--;
        }
        if (p->stop) break;
        seen = atomic_load_explicit(&p->gen, memory_order_relaxed);
        par_job *job = w->id <= p->join ? p->job : NULL;
        p->entered += job != NULL;
        pthread_mutex_unlock(&p->mu);
        if (!job) continue;
        par_run(job, w->id);
        if (atomic_fetch_sub(&job->left, 1) == 1) { /* the last one out wakes the caller */
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static par_pool *pool_create(int nworkers)
{
    par_pool *p = calloc(1, sizeof *p + (size_t)nworkers * sizeof(pool_worker));
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 0; i < nworkers; i++) {
        p->w[p->nworkers] = (pool_worker){.pool = p, .id = p->nworkers + 1};
        if (pthread_create(&p->w[p->nworkers].tid, NULL, pool_main, &p->w[p->nworkers]) == 0)
            p->nworkers++;
    }
    if (p->nworkers == 0) {
        par_pool_free(p);
        return NULL;
    }
    return p;
}

par_pool *par_pool_get(_Atomic(par_pool *) *slot, int nthreads)
{
    par_pool *p = atomic_load(slot), *none = NULL;
    if (p || nthreads <= 1) return p;
    if ((p = pool_create(nthreads - 1)) && !atomic_compare_exchange_strong(slot, &none, p)) {
        par_pool_free(p); /* another caller's pool won */
        p = none;
    }
    return p;
}

void par_pool_free(par_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++) pthread_join(p->w[i].tid, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static void pool_for(par_pool *p, int nthreads, par_job *job)
{
    atomic_init(&job->left, nthreads - 1);
    pthread_mutex_lock(&p->mu);
    p->job = job;
    p->join = nthreads - 1;
    p->entered = 0;
    atomic_fetch_add(&p->gen, 1);
    if (p->sleeping) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    par_run(job, 0);
    /* Every task is taken: release the workers that have not taken the job. */
    pthread_mutex_lock(&p->mu);
    p->job = NULL;
    int late = p->join - p->entered;
    pthread_mutex_unlock(&p->mu);
    if (late && atomic_fetch_sub(&job->left, late) == late) return;
    if (spin_while_pos(&job->left)) return;
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&job->left) > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* ---- threads for one call ------------------------------------------------------------------ */

typedef struct par_worker {
    par_job *job;
    int id;
} par_worker;

static void *par_main(void *arg)
{
    par_worker *w = arg;
    par_run(w->job, w->id);
    return NULL;
}

#define PAR_MAX_THREADS 256

void par_for(par_pool *pool, int nthreads, int64_t ntasks, par_task_fn fn, void *ctx)
{
    if (ntasks <= 0) return;
    if (nthreads > ntasks) nthreads = (int)ntasks;
    if (nthreads > PAR_MAX_THREADS) nthreads = PAR_MAX_THREADS;
    if (nthreads <= 1) {
        for (int64_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }
    par_job job = {.fn = fn, .ctx = ctx, .ntasks = ntasks};
    atomic_init(&job.next, 0);
    if (pool && nthreads - 1 <= pool->nworkers && !atomic_exchange(&pool->busy, 1)) {
        pool_for(pool, nthreads, &job);
        atomic_store(&pool->busy, 0);
        return;
    }
    pthread_t tid[PAR_MAX_THREADS];
    par_worker w[PAR_MAX_THREADS];
    int started[PAR_MAX_THREADS] = {0};
    for (int i = 1; i < nthreads; i++) {
        w[i] = (par_worker){&job, i};
        started[i] = pthread_create(&tid[i], NULL, par_main, &w[i]) == 0;
    }
    par_run(&job, 0);
    for (int i = 1; i < nthreads; i++)
        if (started[i]) pthread_join(tid[i], NULL);
}
