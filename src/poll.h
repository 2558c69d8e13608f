/*
 * poll.h - the caller's progress callback as the long internal steps see it.
 *
 * A step that runs for long (k-means iterations, codebook training, encoding) polls between
 * chunks of work, from the thread that called the library, as scann.h promises. The hook maps
 * the step's own fraction into the part [lo, hi] of the public call it belongs to, so one
 * callback sees a single rising fraction per call. A non-zero answer means cancel: the step
 * returns SCANN_ERR_CANCELLED and its caller discards what it built.
 */
#ifndef SCANN_POLL_H
#define SCANN_POLL_H

#include "error.h"
#include "scann.h"

typedef struct poll_hook {
    scann_progress_fn fn; /* NULL: never cancels */
    void *user;           /* the callback's user data */
    const char *stage;    /* "train", "add" */
    double lo, hi;        /* this step's share of the call's progress */
} poll_hook;

/* SCANN_OK, or SCANN_ERR_CANCELLED (with a message) when the callback asks to stop. h may be
 * NULL. */
static inline scann_status poll_progress(const poll_hook *h, double frac)
{
    if (!h || !h->fn || !h->fn(h->user, h->stage, h->lo + (h->hi - h->lo) * frac)) return SCANN_OK;
    return err_set(SCANN_ERR_CANCELLED, "%s: cancelled by the progress callback", h->stage);
}

/* The part [a, b] of h's share, for a sub-step. */
static inline poll_hook poll_sub(const poll_hook *h, double a, double b)
{
    poll_hook s = *h;
    s.lo = h->lo + (h->hi - h->lo) * a;
    s.hi = h->lo + (h->hi - h->lo) * b;
    return s;
}

#endif
