/*
 * progress.h - a one-line progress bar on stderr for the command-line tools.
 *
 * Drawn only on a terminal and only once a step has run for a second, so quick steps and logs
 * stay clean; redrawn at most ten times a second.
 */
#ifndef SCANN_PROGRESS_H
#define SCANN_PROGRESS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct progress {
    char label[64];
    double start;     /* monotonic seconds at progress_start */
    double last_draw; /* when the bar was last drawn */
    int shown;        /* a bar is on screen and must be cleared */
} progress;

void progress_start(progress *p, const char *label);
void progress_update(progress *p, double frac);
void progress_done(progress *p);
/* Adapter for scann_index_params.progress; user_data is a progress*. Never cancels. */
int progress_callback(void *user_data, const char *stage, double frac);

#ifdef __cplusplus
}
#endif
#endif
