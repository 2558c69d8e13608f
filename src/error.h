/*
 * error.h - the per-thread "last error" message behind scann_last_error().
 *
 * Internals report a failure with `return err_set(SCANN_ERR_..., "fmt", ...)`, which records a
 * message naming the bad argument and its value and returns the code, so one line both explains
 * and propagates. The message lives in thread-local storage: no global mutable state, and two
 * threads failing at once never see each other's text.
 */
#ifndef SCANN_ERROR_H
#define SCANN_ERROR_H

#include "scann.h"

#if defined(__GNUC__)
#define SCANN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SCANN_PRINTF(a, b)
#endif

scann_status err_set(scann_status s, const char *fmt, ...) SCANN_PRINTF(2, 3);
void err_clear(void);
/* Out-of-memory is common enough on big builds to deserve a one-word helper. */
scann_status err_nomem(const char *what, size_t bytes);

#endif
