/* threads.c - see threads.h. */
#include "threads.h"

#include <pthread.h>
#include <stdatomic.h>
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
} par_job;

typedef struct par_worker {
    par_job *job;
    int id;
} par_worker;

static void *par_run(void *arg)
{
    par_worker *w = arg;
    par_job *job = w->job;
    for (;;) {
        int64_t t = atomic_fetch_add(&job->next, 1);
        if (t >= job->ntasks) break;
        job->fn(job->ctx, t, w->id);
    }
    return NULL;
}

#define PAR_MAX_THREADS 256

void par_for(int nthreads, int64_t ntasks, par_task_fn fn, void *ctx)
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
    pthread_t tid[PAR_MAX_THREADS];
    par_worker w[PAR_MAX_THREADS];
    int started[PAR_MAX_THREADS] = {0};
    for (int i = 1; i < nthreads; i++) {
        w[i] = (par_worker){&job, i};
        started[i] = pthread_create(&tid[i], NULL, par_run, &w[i]) == 0;
    }
    w[0] = (par_worker){&job, 0};
    par_run(&w[0]);
    for (int i = 1; i < nthreads; i++)
        if (started[i]) pthread_join(tid[i], NULL);
}
