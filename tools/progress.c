/* progress.c - see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void progress_start(progress *p, const char *label)
{
    snprintf(p->label, sizeof p->label, "%s", label);
    p->start = now();
    p->last_draw = 0;
    p->shown = 0;
}

void progress_update(progress *p, double frac)
{
    double t = now();
    if (t - p->start < 1.0 || t - p->last_draw < 0.1 || !isatty(2)) return;
    if (frac < 0) frac = 0;
    if (frac > 1) frac = 1;
    char bar[31];
    int fill = (int)(frac * 30);
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(30 - fill));
    bar[30] = '\0';
    fprintf(stderr, "\r%-24s [%s] %3d%% %6.1fs", p->label, bar, (int)(frac * 100), t - p->start);
    fflush(stderr);
    p->last_draw = t;
    p->shown = 1;
}

void progress_done(progress *p)
{
    if (p->shown) fprintf(stderr, "\r%*s\r", 70, "");
    p->shown = 0;
}

int progress_callback(void *user_data, const char *stage, double frac)
{
    progress *p = user_data;
    if (strncmp(p->label, stage, sizeof p->label) != 0) {
        progress_done(p);
        progress_start(p, stage);
    }
    progress_update(p, frac);
    return 0;
}
